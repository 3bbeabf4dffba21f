"""dlext.layers.MaxPool2d computes nn.MaxPool2d's outputs and gradients exactly, in every call form."""
import pytest
import torch
from torch import nn

from dlext.layers import MaxPool2d

SETTINGS = [dict(kernel_size=2), dict(kernel_size=3, stride=2), dict(kernel_size=3, stride=2, padding=1),
            dict(kernel_size=(2, 3), stride=(2, 1)), dict(kernel_size=3, stride=2, ceil_mode=True),
            dict(kernel_size=2, dilation=2), dict(kernel_size=2, return_indices=True)]


@pytest.mark.parametrize("kw", SETTINGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("shape", [(4, 3, 12, 12), (2, 5, 9, 13), (3, 8, 8), (1, 1, 28, 28)])
def test_same_outputs_and_gradients_as_nn_maxpool2d(kw, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()
    x = x.requires_grad_()
    ours, theirs = MaxPool2d(**kw)(x), nn.MaxPool2d(**kw)(x)
    if kw.get("return_indices"):
        torch.testing.assert_close(ours[1], theirs[1], rtol=0, atol=0)
        ours, theirs = ours[0], theirs[0]
    assert ours.shape == theirs.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    weights = torch.randn(ours.shape, generator=torch.Generator().manual_seed(1))  # a gradient that is not all ones
    g_ours, = torch.autograd.grad((ours * weights).sum(), x)
    g_theirs, = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=0)


def test_ties_send_the_gradient_to_the_same_input():
    x = torch.zeros(2, 3, 6, 6, requires_grad=True)  # every window is a tie, as after a ReLU
    g_ours, = torch.autograd.grad(MaxPool2d(2)(x).sum(), x)
    g_theirs, = torch.autograd.grad(nn.MaxPool2d(2)(x).sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=0)


def test_an_input_stored_channels_last_already_gives_the_same_output():
    x = torch.randn(2, 6, 6, 3).permute(0, 3, 1, 2).requires_grad_()  # channels-last storage already
    torch.testing.assert_close(MaxPool2d(2)(x), nn.MaxPool2d(2)(x), rtol=0, atol=0)


def test_a_network_with_it_trains_to_the_same_weights():
    def net(pool):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), pool(2), nn.Flatten(), nn.Linear(4 * 36, 3))

    x, y = torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(2)), torch.arange(16) % 3
    trained = []
    for pool in (nn.MaxPool2d, MaxPool2d):
        model = net(pool)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        trained.append(model.state_dict())
    for k in trained[0]:
        torch.testing.assert_close(trained[0][k], trained[1][k], rtol=0, atol=0)

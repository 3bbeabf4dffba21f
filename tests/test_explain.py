"""dlext.explain against closed forms: linear models, hand-built occlusions, and the model left as found."""
import pytest
import torch
from torch import nn

from dlext import explain


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 3))


def state(model):
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()], \
        [p.grad for p in model.parameters()]


def test_linear_saliency_is_the_weight_row():
    torch.manual_seed(0)
    lin = nn.Linear(5, 3)
    x = torch.randn(4, 5)
    target = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(explain.saliency(lin, x, target), lin.weight.detach()[target])
    torch.testing.assert_close(explain.saliency(lin, x, 1), lin.weight.detach()[[1, 1, 1, 1]])


def test_saliency_matches_autograd_per_example():
    model = small_cnn().eval()
    x = torch.randn(3, 1, 8, 8)
    got = explain.saliency(model, x, [0, 1, 2])
    for i in range(3):
        xi = x[i:i + 1].clone().requires_grad_(True)
        model(xi)[0, i].backward()
        torch.testing.assert_close(got[i], xi.grad[0])


@pytest.mark.parametrize("training", [True, False])
def test_every_function_restores_mode_flags_and_grads(training):
    model = small_cnn().train(training)
    model[0].weight.requires_grad_(False)  # a mixed pattern that must come back exactly
    model[3].train(not training)           # and a submodule whose mode differs from its parent's
    before = state(model)
    x = torch.rand(2, 1, 8, 8)
    explain.saliency(model, x, 1)
    explain.occlusion(model, x, [0, 1], patch=4, stride=2)
    explain.activation_maximization(model, model[2], 1, steps=3, shape=(1, 8, 8))
    explain.deletion_curve(model, x, 0, torch.rand_like(x), steps=4)
    explain.activations(model, model[2], x)
    after = state(model)
    assert after[0] == before[0] and after[1] == before[1]
    assert all(g is None for g in after[2])


def test_mode_restored_even_when_the_call_fails():
    model = small_cnn().train()
    with pytest.raises(ValueError, match="channel"):
        explain.activation_maximization(model, model[2], 99, steps=2, shape=(1, 8, 8))
    assert all(m.training for m in model.modules()) and all(p.requires_grad for p in model.parameters())


def test_occlusion_matches_a_hand_built_copy():
    model = small_cnn().eval()
    x = torch.rand(2, 1, 8, 8)
    heat = explain.occlusion(model, x, [2, 0], patch=4, stride=2, fill=0.3)
    assert heat.shape == (2, 3, 3)
    xc = x[1].clone()
    xc[:, 2:6, 4:8] = 0.3  # patch at row 1, column 2
    with torch.no_grad():
        expected = model(xc[None]).softmax(-1)[0, 0]
    torch.testing.assert_close(heat[1, 1, 2], expected)
    torch.testing.assert_close(explain.occlusion(model, x[0], 2, patch=4, stride=2, fill=0.3), heat[0])


def test_occlusion_of_a_linear_model_on_zero_weights_changes_nothing():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        lin[1].weight.zero_()
        lin[1].bias.zero_()
        lin[1].weight[0, 0] = 5.0  # only the top-left pixel matters
    x = torch.ones(1, 4, 4)
    heat = explain.occlusion(lin, x, 0, patch=2, stride=2, fill=0.0)
    p_clean = torch.softmax(torch.tensor([5.0, 0.0]), 0)[0]
    torch.testing.assert_close(heat[0, 0], torch.tensor(0.5))  # the patch hides the one pixel that matters
    torch.testing.assert_close(heat.flatten()[1:], p_clean.expand(3))


def test_deletion_curve_deletes_in_ranking_order():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        lin[1].weight.copy_(torch.tensor([[4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
    x = torch.ones(1, 1, 2, 2)
    ranking = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # deletes entry 3 (weight 1) first
    curve = explain.deletion_curve(lin, x, 0, ranking, steps=4)
    logits = torch.tensor([10.0, 9.0, 7.0, 4.0, 0.0])  # remaining weight after 0..4 deletions
    torch.testing.assert_close(curve[0], torch.sigmoid(logits))
    auc = explain.deletion_auc(curve)
    torch.testing.assert_close(auc, torch.trapezoid(torch.sigmoid(logits), dx=0.25)[None])


def test_activation_maximization_raises_the_activation():
    model = small_cnn().eval()
    x0 = torch.full((1, 1, 8, 8), 0.5)
    with torch.no_grad():
        start = model(x0)[0, 1]
    x = explain.activation_maximization(model, model[5], 1, steps=50, shape=(1, 8, 8), lr=0.1, l2=0.0, tv=0.0)
    assert x.shape == (1, 8, 8) and 0 <= x.min() and x.max() <= 1
    with torch.no_grad():
        assert model(x[None])[0, 1] > start + 0.5


def test_activations_hook_returns_the_layer_output():
    model = small_cnn().eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        expected = model[2](model[1](model[0](x)))
    torch.testing.assert_close(explain.activations(model, model[2], x, batch_size=2), expected)


def test_gram_matrix_closed_form():
    f = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 6.0], [6.0, 9.0]]]) / 2
    torch.testing.assert_close(explain.gram_matrix(f), expected)
    g = torch.randn(3, 4, 5, 6)
    flat = g.flatten(2)
    torch.testing.assert_close(explain.gram_matrix(g), torch.einsum("bip,bjp->bij", flat, flat) / 30)
    # positions do not matter: a Gram matrix forgets where things are
    torch.testing.assert_close(explain.gram_matrix(g.flip(-1)), explain.gram_matrix(g))


def test_bad_input_raises_clear_errors():
    model = small_cnn()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(TypeError, match="x must be a tensor"):
        explain.saliency(model, [[0.0]], 0)
    with pytest.raises(ValueError, match="target"):
        explain.saliency(model, x, [0, 1, 2])
    with pytest.raises(ValueError, match="target must index"):
        explain.saliency(model, x, 7)
    with pytest.raises(TypeError, match="integer class"):
        explain.saliency(model, x, 0.5)
    with pytest.raises(ValueError, match="drops input pixels"):
        explain.occlusion(model, x, 0, patch=3, stride=2)
    with pytest.raises(ValueError, match="same shape"):
        explain.deletion_curve(model, x, 0, torch.rand(2, 64))
    with pytest.raises(ValueError, match="submodule"):
        explain.activation_maximization(model, nn.ReLU(), 0, steps=2, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="steps"):
        explain.activation_maximization(model, model[2], 0, steps=0, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="features"):
        explain.gram_matrix(torch.rand(2, 3, 4))
    with pytest.raises(TypeError, match="nn.Module"):
        with explain.frozen("model"):
            pass

"""Self-checks for the adversarial-examples chapter's exercises (linear scores, projection, FGSM by hand)."""
import torch

from dlext.homework import expect, expect_close, question


@question("adv.q1", points=1)
def _d_needed(answer):
    """Inputs a linear score needs before an FGSM step of 0.01 moves it by 10 (weights +-0.05)."""
    expect_close(answer, 10 / (0.01 * 0.05), "the number of inputs d", rtol=1e-6, reveal=False)


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)


@question("adv.q2", points=2)
def _project_linf(fn):
    """The L-infinity projection onto the eps-box around x, inside [0, 1]."""
    x = torch.tensor([0.0, 0.5, 0.95, 0.5, 0.3])
    x_adv = torch.tensor([-0.3, 0.9, 1.4, 0.45, 0.1])
    out = fn(x_adv.clone(), x.clone(), 0.1)
    expect(isinstance(out, torch.Tensor) and out.shape == x.shape, "project_linf should return a tensor shaped like x")
    expect(torch.allclose(out, torch.tensor([0.0, 0.6, 1.0, 0.45, 0.2]), atol=1e-6),
           "project_linf([-0.3, 0.9, 1.4, 0.45, 0.1], [0, 0.5, 0.95, 0.5, 0.3], 0.1) should be [0, 0.6, 1, 0.45, 0.2]: "
           "clip to [x - eps, x + eps], then to [0, 1]")
    expect(torch.equal(fn(x_adv.clone(), x.clone(), 0.0), x), "with eps = 0 the projection is x itself")
    gen = torch.Generator().manual_seed(0)
    for eps in (0.03, 0.3):
        x = torch.rand(4, 1, 6, 6, generator=gen)
        x_adv = x + torch.randn(4, 1, 6, 6, generator=gen) * 0.5
        expect(torch.allclose(fn(x_adv.clone(), x.clone(), eps), _project(x_adv, x, eps), atol=1e-6),
               f"project_linf of random (4, 1, 6, 6) images at eps = {eps} is off")


def _fgsm_linear(W, b, x, y, eps):
    p = torch.softmax(x @ W.T + b, dim=1)
    p[torch.arange(len(y)), y] -= 1
    return (x + eps * (p @ W).sign()).clamp(0, 1)


@question("adv.q3", points=3)
def _fgsm_linear_check(fn):
    """FGSM for logits W x + b with cross-entropy, without autograd."""
    W = torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 2.0, 3.0]])
    b = torch.zeros(2)
    x = torch.full((2, 4), 0.5)
    y = torch.tensor([0, 1])
    out = fn(W.clone(), b.clone(), x.clone(), y.clone(), 0.1)
    expect(isinstance(out, torch.Tensor) and out.shape == (2, 4), "fgsm_linear should return a (B, d) tensor")
    step = torch.tensor([-0.1, 0.1, 0.1, 0.1])  # 0.1 sign(w_1 - w_0) for label 0, the opposite for label 1
    expect(torch.allclose(out, torch.stack([0.5 + step, 0.5 - step]), atol=1e-6),
           "for two classes, FGSM moves each pixel by eps in the sign of w_1 - w_0 when y = 0 (and the opposite when y = 1)")
    gen = torch.Generator().manual_seed(1)
    for eps in (0.05, 0.4):
        W = torch.randn(10, 30, generator=gen)
        b = torch.randn(10, generator=gen)
        x = torch.rand(8, 30, generator=gen)
        y = torch.randint(0, 10, (8,), generator=gen)
        expect(torch.allclose(fn(W.clone(), b.clone(), x.clone(), y.clone(), eps), _fgsm_linear(W, b, x, y, eps), atol=1e-6),
               f"fgsm_linear on a random 10-class model with 30 inputs at eps = {eps} is off (check the clipping to [0, 1])")

"""Self-checks for the adversarial-examples chapter's exercises (linear scores, projection, FGSM by hand)."""
import torch

from dlext.exercises._guards import AUTOGRAD, off_limits
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


def _without_autograd(fn, *args):
    """fn(*args) with gradients off and autograd off-limits: "without autograd" is part of the task, so neither a
    solution that turns gradients back on (torch.enable_grad) nor one that calls a helper built on autograd
    (dlext's fgsm) passes."""
    try:
        with off_limits(*AUTOGRAD, why="fgsm_linear calls {name}: compute the gradient W^T (softmax(z) - e_y) by "
                                       "hand, without autograd"), torch.no_grad():
            return fn(*args)
    except RuntimeError as err:
        expect(False, "fgsm_linear should compute the gradient W^T (softmax(z) - e_y) by hand, without autograd: "
                      f"the check calls it with autograd off-limits, and it raised {err}")


@question("adv.q3", points=3)
def _fgsm_linear_check(fn):
    """FGSM for logits W x + b with cross-entropy, without autograd."""
    W = torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 2.0, 3.0]])
    b = torch.zeros(2)
    x = torch.full((2, 4), 0.5)
    y = torch.tensor([0, 1])
    out = _without_autograd(fn, W.clone(), b.clone(), x.clone(), y.clone(), 0.1)
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
        got = _without_autograd(fn, W.clone(), b.clone(), x.clone(), y.clone(), eps)
        expect(torch.allclose(got, _fgsm_linear(W, b, x, y, eps), atol=1e-6),
               f"fgsm_linear on a random 10-class model with 30 inputs at eps = {eps} is off (check the clipping to [0, 1])")


def _after_restarts(correct: torch.Tensor) -> list[float]:
    return correct.cummin(dim=0).values.float().mean(1).tolist()


@question("adv.q4", points=3)
def _restarts(answer):
    """Robust accuracy after each restart (a digit counts only if every restart so far left it correct), and a prediction."""
    expect(isinstance(answer, tuple) and len(answer) == 2,
           "pass the pair (accuracy_after_restarts, prediction) to check")
    fn, prediction = answer
    expect(prediction in ("a", "b", "c"), f"prediction should be 'a', 'b' or 'c', got {prediction!r}")
    # Hand-worked: digits 0 and 3 survive every restart; digit 1 falls at restart 1, digit 2 at restart 0.
    # Last restart alone: 1.0; mean over restarts: 0.75; correct under any restart: 1.0.
    table = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)
    got = fn(table.clone())
    expect(isinstance(got, (list, tuple)) and len(got) == 3,
           "accuracy_after_restarts of a (3, 4) table should return a list of 3 accuracies, one per restart")
    expect(all(abs(float(a) - b) < 1e-6 for a, b in zip(got, [0.75, 0.5, 0.5])),
           "on the table [[1,1,0,1], [1,0,1,1], [1,1,1,1]] (restarts x digits) the accuracies after restarts 0, 1, 2 "
           "are wrong: a digit broken by any restart so far no longer counts, even if a later restart leaves it correct")
    gen = torch.Generator().manual_seed(4)
    for restarts, n, p in ((1, 50, 0.7), (5, 200, 0.9), (8, 64, 0.95)):
        table = torch.rand(restarts, n, generator=gen) < p
        got = fn(table.clone())
        expect(isinstance(got, (list, tuple)) and len(got) == restarts
               and all(abs(float(a) - b) < 1e-6 for a, b in zip(got, _after_restarts(table))),
               f"accuracy_after_restarts on a random ({restarts}, {n}) table is off")
    expect(prediction == "b", "the prediction does not follow from how the robust accuracy counts restarts: "
                              "compare it with your function's output on any table")

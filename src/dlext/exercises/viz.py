"""Self-checks for the exercises of the chapter on seeing what a network learned."""
import torch

from dlext.homework import expect, expect_close, expect_raises, question


@question("viz.q1", points=1)
def _linear_saliency(answer):
    """Saliency of a linear model's class-1 score with respect to the third input."""
    W = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    expect_close(answer, W[1, 2].item(), "the saliency", reveal=False)


def _reference_share(s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    a = s.abs()
    total = a.sum((1, 2))
    return torch.where(total > 0, (a * mask).sum((1, 2)) / total.clamp_min(1e-30), torch.zeros_like(total))


@question("viz.q2", points=2)
def _mass_share(fn):
    """Share of absolute saliency mass inside a mask, per map."""
    s = torch.tensor([[[1.0, -1.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])  # (2, 2, 2)
    mask = torch.tensor([[True, False], [False, False]])
    got = fn(s.clone(), mask.clone())  # private copies: what the function does to them changes nothing here
    expect(isinstance(got, torch.Tensor) and got.shape == (2,), f"mass_share should return a tensor of shape (2,), got {getattr(got, 'shape', type(got).__name__)}")
    expect(torch.allclose(got, torch.tensor([0.25, 0.0])),
           "for the maps [[1, -1], [0, 2]] and all zeros with the top-left pixel masked, the shares should be 0.25 and 0")
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(5, 6, 7, generator=gen)
    mask = torch.rand(6, 7, generator=gen) < 0.3
    expected = _reference_share(s, mask)  # before the call, from the check's own tensors
    got = fn(s.clone(), mask.clone())
    expect(torch.allclose(torch.as_tensor(got, dtype=torch.float32), expected, atol=1e-6),
           "shares of random maps (with negative values: use the absolute saliency) are not right yet")


@question("viz.q3", points=2)
def _deletion_area(fn):
    """Trapezoid area under a deletion curve."""
    expect_close(fn([1.0, 0.0]), 0.5, "deletion_area([1, 0])")
    expect_close(fn([1.0, 1.0, 1.0]), 1.0, "deletion_area([1, 1, 1])")
    expect_close(fn([0.9, 0.5, 0.1, 0.0]), (0.7 + 0.3 + 0.05) / 3, "deletion_area([0.9, 0.5, 0.1, 0.0])")
    probs = [0.8, 0.7, 0.2, 0.2, 0.1, 0.05]
    expected = float(torch.trapezoid(torch.tensor(probs), dx=0.2))
    expect_close(fn(probs), expected, f"deletion_area({probs})", rtol=1e-5)
    expect_raises(lambda: fn([0.5]), ValueError, "deletion_area([0.5])", "one point has no area")


@question("viz.q4", points=1)
def _predicted_area(answer):
    """The deletion area of a curve at 1 up to a quarter deleted, falling linearly to 0 at half, then 0."""
    # 1 * 0.25 (flat part) + 0.25 / 2 (the linear fall) + 0 = 0.375; a number, not a letter to guess
    expect_close(answer, 0.375, "the predicted area", rtol=0, atol=1e-3, reveal=False)

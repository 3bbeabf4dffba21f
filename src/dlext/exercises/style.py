"""Self-checks for the style-transfer chapter's exercises."""
import torch

from dlext.homework import expect, expect_close, expect_raises, question


@question("style.q1", points=1)
def _style_size(answer):
    """Distinct numbers in the 6 symmetric 32x32 Gram matrices of the chapter's random network."""
    expect_close(answer, 6 * 32 * 33 // 2, "n_style_numbers", reveal=False)


@question("style.q2", points=2)
def _gram(fn):
    """Gram matrix of one (C, H, W) feature map, averaged over positions."""
    f = torch.tensor([[[1.0, 2.0]], [[0.0, 3.0]]])  # (2, 1, 2)
    got = fn(f.clone())
    expect(isinstance(got, torch.Tensor) and got.shape == (2, 2),
           f"gram of a (2, 1, 2) map should be a (2, 2) tensor, got {getattr(got, 'shape', type(got).__name__)}")
    expect(torch.allclose(got, torch.tensor([[2.5, 3.0], [3.0, 4.5]])),
           "gram([[[1, 2]], [[0, 3]]]) is not right yet: average the channel products over the 2 positions")
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(4, 5, 6, generator=gen)
    flat = f.reshape(4, 30)
    expected = flat @ flat.T / 30
    got = fn(f.clone())
    expect(torch.allclose(torch.as_tensor(got, dtype=torch.float32), expected, atol=1e-5),
           "gram of a random (4, 5, 6) map does not match the definition (mind the 1/(H W) factor)")
    shuffled = flat[:, torch.randperm(30, generator=gen)].reshape(4, 5, 6)
    expect(torch.allclose(torch.as_tensor(fn(shuffled), dtype=torch.float32), expected, atol=1e-5),
           "the same features at shuffled positions should give the same Gram matrix")


@question("style.q3", points=3)
def _style_loss(fn):
    """Mean over scales of the relative squared Frobenius error between Gram matrices."""
    a = [torch.tensor([[2.0, 0.0], [0.0, 2.0]])]
    s = [torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
    expect_close(fn([t.clone() for t in a], [t.clone() for t in s]), 1.0, "style_loss([2 I], [I]) (error 2, norm 2)")
    expect_close(fn([t.clone() for t in s], [t.clone() for t in s]), 0.0, "style_loss of identical lists", atol=1e-12)
    gen = torch.Generator().manual_seed(5)
    gx = [torch.randn(c, c, generator=gen) for c in (3, 5, 4)]
    gs = [torch.randn(c, c, generator=gen) for c in (3, 5, 4)]
    expected = sum((((x - y) ** 2).sum() / (y ** 2).sum()).item() for x, y in zip(gx, gs)) / 3
    expect_close(fn([t.clone() for t in gx], [t.clone() for t in gs]), expected,
                 "style_loss of three random scales (3, 5 and 4 channels)", rtol=1e-5)
    expect_raises(lambda: fn([t.clone() for t in gx], [t.clone() for t in gs[:2]]), ValueError, "style_loss with 3 and 2 matrices", "the lists must have the same length")

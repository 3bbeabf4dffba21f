"""Self-checks for the style-transfer chapter's exercises."""
import torch

from dlext.homework import expect, question


@question("style.q1", points=2)
def _gram(fn):
    """Gram matrix of one (C, H, W) feature map, averaged over positions."""
    f = torch.tensor([[[1.0, 2.0]], [[0.0, 3.0]]])  # (2, 1, 2)
    got = fn(f)
    expect(isinstance(got, torch.Tensor) and got.shape == (2, 2),
           f"gram of a (2, 1, 2) map should be a (2, 2) tensor, got {getattr(got, 'shape', type(got).__name__)}")
    expect(torch.allclose(got, torch.tensor([[2.5, 3.0], [3.0, 4.5]])),
           "gram([[[1, 2]], [[0, 3]]]) is not right yet: average the channel products over the 2 positions")
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(4, 5, 6, generator=gen)
    flat = f.reshape(4, 30)
    expected = flat @ flat.T / 30
    got = fn(f)
    expect(torch.allclose(torch.as_tensor(got, dtype=torch.float32), expected, atol=1e-5),
           "gram of a random (4, 5, 6) map does not match the definition (mind the 1/(H W) factor)")
    shuffled = flat[:, torch.randperm(30, generator=gen)].reshape(4, 5, 6)
    expect(torch.allclose(torch.as_tensor(fn(shuffled), dtype=torch.float32), expected, atol=1e-5),
           "the same features at shuffled positions should give the same Gram matrix")

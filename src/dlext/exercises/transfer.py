"""Self-checks for the transfer-learning chapter's exercises (trainable parameters, pseudo-labels, shifts)."""
import torch

from dlext.homework import CheckFailure, expect, expect_close, expect_raises, question


@question("transfer.q1", points=1)
def _trainable_params(answer):
    """Parameters updated when conv1 and conv2 are frozen and the head has 5 outputs."""
    fc = 32 * 7 * 7 * 64 + 64  # the fully connected layer of the body
    head = 64 * 5 + 5
    expect_close(answer, fc + head, "the number of trainable parameters", atol=0.5, reveal=False)


@question("transfer.q2", points=2)
def _pseudo_labels(fn):
    """Confident rows of a probability matrix and their argmax labels."""
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.05, 0.05, 0.9], [0.1, 0.8, 0.1]])
    out = fn(probs.clone(), 0.75)  # every call gets a private copy
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailure("select_pseudo_labels should return a pair (indices, labels)")
    idx, labels = out
    expect(torch.equal(torch.as_tensor(idx).long(), torch.tensor([2, 3])),
           "with threshold 0.75 the rows kept should be 2 and 3 (top probabilities 0.9 and 0.8)")
    expect(torch.equal(torch.as_tensor(labels).long(), torch.tensor([2, 1])), "the labels should be the most probable classes")
    idx, _ = fn(probs.clone(), 0.7)
    expect(torch.equal(torch.as_tensor(idx).long(), torch.tensor([0, 2, 3])),
           "a row whose top probability equals the threshold should be kept")
    idx, labels = fn(probs.clone(), 0.0)
    expect(len(idx) == 4 and len(labels) == 4, "threshold 0 should keep every row")
    idx, labels = fn(probs.clone(), 1.01)
    expect(len(idx) == 0 and len(labels) == 0, "a threshold above 1 should keep no row")
    gen = torch.Generator().manual_seed(0)
    probs = torch.randn(200, 5, generator=gen).mul(2).softmax(1)
    confidence, best = probs.max(1)
    keep = (confidence >= 0.6).nonzero().squeeze(1)
    idx, labels = fn(probs.clone(), 0.6)
    expect(torch.equal(torch.as_tensor(idx).long(), keep) and torch.equal(torch.as_tensor(labels).long(), best[keep]),
           "on 200 random rows of 5 probabilities with threshold 0.6 the result is not right")


def _reference_shift(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    H, W = image.shape
    out = torch.zeros_like(image)
    for i in range(H):
        for j in range(W):
            if 0 <= i - dy < H and 0 <= j - dx < W:
                out[i, j] = image[i - dy, j - dx]
    return out


@question("transfer.q3", points=3)
def _shift(fn):
    """Integer shift of an image with zero fill."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(6, 5, generator=gen)
    for dx, dy in [(0, 0), (1, 0), (0, 2), (-2, 1), (3, -4), (-4, -5)]:
        got = fn(image.clone(), dx, dy)
        expect(isinstance(got, torch.Tensor) and got.shape == image.shape,
               f"shift_image(image, {dx}, {dy}) should return a tensor of the image's shape (6, 5)")
        expect(torch.equal(got, _reference_shift(image, dx, dy)),
               f"shift_image(image, {dx}, {dy}) on a random 6x5 image is not right")
    expect_raises(lambda: fn(image.clone(), 5, 0), ValueError, "shift_image(image of width 5, dx=5, dy=0)",
                  "the whole image leaves the frame")
    expect_raises(lambda: fn(image.clone(), 0, -6), ValueError, "shift_image(image of height 6, dx=0, dy=-6)",
                  "the whole image leaves the frame")

"""Time nn.MaxPool2d against dlext.layers.MaxPool2d (forward, and forward + backward) on one CPU thread,
and check that both give the same outputs and gradients.

    OMP_NUM_THREADS=1 python benchmarks/pool_speed.py
"""
import time

import torch
from torch import nn

from dlext.layers import MaxPool2d

torch.set_num_threads(1)


def timed(pool: nn.Module, x: torch.Tensor, reps: int = 50) -> tuple[float, float]:
    """Milliseconds per forward pass, and per forward + backward pass."""
    for _ in range(5):
        pool(x).sum().backward()
    start = time.perf_counter()
    for _ in range(reps):
        pool(x)
    forward = (time.perf_counter() - start) / reps * 1e3
    start = time.perf_counter()
    for _ in range(reps):
        pool(x).sum().backward()
    return forward, (time.perf_counter() - start) / reps * 1e3


for shape in [(128, 8, 28, 28), (128, 16, 28, 28), (128, 32, 14, 14)]:
    x = torch.relu(torch.randn(shape, generator=torch.Generator().manual_seed(0))).requires_grad_()
    (a, ga), (b, gb) = [(p(x), torch.autograd.grad(p(x).square().sum(), x)[0]) for p in (nn.MaxPool2d(2), MaxPool2d(2))]
    assert torch.equal(a, b) and torch.equal(ga, gb) and a.is_contiguous() == b.is_contiguous()
    (f1, fb1), (f2, fb2) = timed(nn.MaxPool2d(2), x), timed(MaxPool2d(2), x)
    print(f"{str(shape):18s} nn.MaxPool2d {f1:5.2f} ms forward, {fb1:5.2f} ms with backward | "
          f"dlext.layers.MaxPool2d {f2:5.2f} / {fb2:5.2f} ms; same outputs and gradients")

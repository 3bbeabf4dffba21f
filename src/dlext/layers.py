"""Layers that compute exactly what a ``torch.nn`` layer computes, faster on a CPU.

``MaxPool2d`` is ``nn.MaxPool2d``: the same outputs and the same gradients (each output takes the largest
value of its window, and its gradient goes back to that one input). On a CPU, PyTorch 2.x's forward max
pooling of an (N, C, H, W) tensor stored channel by channel is several times slower than of the same tensor
stored channels-last (4.1 against 0.7 ms for a (128, 8, 28, 28) batch on one thread), while the backward pass
is fast in the usual layout. So this layer pools a channels-last copy, returns the usual layout, and sends
the gradient back with PyTorch's own backward kernel in the usual layout. ``benchmarks/pool_speed.py`` times
both and checks that outputs and gradients are equal; ``tests/test_layers.py`` checks it on every call form.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dlext import validate as v

__all__ = ["MaxPool2d"]


class _ChannelsLastMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool) -> tuple[Tensor, Tensor]:
        y, idx = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel_size, stride, padding, dilation,
                              ceil_mode=ceil_mode, return_indices=True)
        y, idx = y.contiguous(), idx.contiguous()  # indices count h * W + w within each plane, in either layout
        ctx.save_for_backward(x, idx)
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        ctx.mark_non_differentiable(idx)
        return y, idx

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_idx: Tensor):
        x, idx = ctx.saved_tensors
        kernel_size, stride, padding, dilation, ceil_mode = ctx.args
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, kernel_size, stride, padding,
                                                                 dilation, ceil_mode, idx)
        return grad_x, None, None, None, None, None


def _pair(name: str, a, minimum: int) -> list[int]:
    """An int or a pair of ints (height, width), each at least ``minimum``, as a list of two."""
    if isinstance(a, int) and not isinstance(a, bool):
        return [v.integer(name, a, minimum)] * 2
    if not (isinstance(a, (tuple, list)) and len(a) == 2):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {a!r}")
    return [v.integer(f"{name}[{i}]", b, minimum) for i, b in enumerate(a)]


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` (same arguments, outputs and gradients), pooled in channels-last layout on a CPU."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        kernel, pad = _pair("kernel_size", kernel_size, 1), _pair("padding", padding, 0)
        if any(2 * p > k for p, k in zip(pad, kernel)):
            raise ValueError(f"padding must be at most half the kernel size, got padding {padding} for kernel {kernel_size}")
        if stride is not None:
            _pair("stride", stride, 1)
        _pair("dilation", dilation, 1)
        super().__init__(kernel_size, stride, padding, dilation, v.flag("return_indices", return_indices),
                         v.flag("ceil_mode", ceil_mode))

    def forward(self, x: Tensor):
        v.tensor("x", x, ndim=(3, 4), dtype="float", nonempty=False, finite=False)
        if x.device.type != "cpu" or x.ndim != 4 or not x.is_contiguous():
            return super().forward(x)
        stride = self.stride if self.stride is not None else self.kernel_size
        y, idx = _ChannelsLastMaxPool.apply(x, *(_pair(n, a, 0) for n, a in (("kernel_size", self.kernel_size),
                                            ("stride", stride), ("padding", self.padding), ("dilation", self.dilation))),
                                            self.ceil_mode)
        return (y, idx) if self.return_indices else y

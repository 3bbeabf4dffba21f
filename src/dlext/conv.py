"""Convolution arithmetic: output sizes, parameter counts, receptive fields, and per-layer summaries."""
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from dlext import validate as v

__all__ = ["output_size", "dropped_border", "param_count", "receptive_field", "summary", "Summary", "LayerRow",
           "from_spec", "ALEXNET", "VGG16"]


def _int(name: str, value, minimum: int) -> int:
    """``value`` as a Python int >= minimum, or a TypeError/ValueError naming the argument."""
    return v.integer(name, value, minimum)


def output_size(w: int, f: int, p: int = 0, s: int = 1, d: int = 1, *, strict: bool = False) -> int:
    """Output width of a convolution or pooling window, as PyTorch computes it: ``floor((W + 2P - D(F-1) - 1) / S) + 1``.

    W input width, F filter size, P zero padding per side, S stride, D dilation. The floor drops the columns
    after the filter's last position (see :func:`dropped_border`). ``strict=True`` refuses that with a
    ValueError naming the dropped pixels when they hold input pixels (AlexNet's conv1 on 224 without padding), and
    accepts it when they are zero padding only (a design choice, as in ResNet's stride-2 layers). Its message suggests
    the smallest padding that would drop only zeros, except when S > F: such a filter skips columns between its
    positions as well, so no padding helps.
    """
    v.flag("strict", strict)
    w, f, p = _int("W (input width)", w, 1), _int("F (filter size)", f, 1), _int("P (padding)", p, 0)
    s, d = _int("S (stride)", s, 1), _int("D (dilation)", d, 1)
    span = d * (f - 1) + 1  # the filter's extent on the input; F itself when D = 1
    padded = w + 2 * p
    what = f"F = {f}" if d == 1 else f"the dilated filter, D(F - 1) + 1 = {span}"
    if span > padded:
        raise ValueError(f"the filter is larger than the padded input: {what} > W + 2P = {w} + 2*{p} = {padded}")
    steps, left = divmod(padded - span, s)
    lost = max(0, left - p)  # the trailing columns are the right padding first, then input pixels
    if strict and lost and s > span:
        # a stride longer than the filter skips S - F columns between positions anyway (ResNet's 1x1 stride-2
        # shortcuts do it on purpose): no padding makes the filter read every pixel, so none is suggested
        raise ValueError(
            f"the filter drops input pixels: W + 2P - F = {w} + 2*{p} - {span} = {padded - span} is not a multiple of "
            f"S = {s}, so the last {lost} input column(s) (pixels {w - lost}..{w - 1}) lie beyond the filter's last "
            f"position; and with S = {s} > {what} the filter also skips {s - span} column(s) between its positions, "
            "inside the image, so no padding makes it read every pixel. If skipping is intended (a 1x1 stride-2 "
            "shortcut), drop strict=True to round down as PyTorch does")
    if strict and lost:
        # the smallest padding (from 0) that leaves only zero padding beyond the last position (P + S - 1 always does),
        # and the output size it gives; an expert read found the search from P up named P = 3 where P = 1 would do
        fix = next(q for q in range(0, p + s) if w + 2 * q >= span and (w + 2 * q - span) % s <= q)
        fix_out = (w + 2 * fix - span) // s + 1
        raise ValueError(
            f"the filter drops input pixels: W + 2P - F = {w} + 2*{p} - {span} = {padded - span} is not a multiple of "
            f"S = {s}, so the last {left} column(s) of the padded input lie beyond the filter's last position, "
            f"{lost} input column(s) (pixels {w - lost}..{w - 1})" + (f" and {left - lost} of zero padding" if left > lost else "")
            + f"; with P = {fix} (the smallest such padding; output size {fix_out}) only zero padding would be dropped, "
              "or drop strict=True to round down as PyTorch does")
    return steps + 1


def dropped_border(w: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """Input columns (not padding) after the filter's last position: what the floor in :func:`output_size` drops.

    0 when the filter tiles the padded input, and also when the dropped columns are zero padding only
    (ResNet's 7x7 stride-2 stem on 224, any 3x3 stride-2 padding-1 layer on an even width).
    """
    w_out = output_size(w, f, p, s, d)  # validates the arguments
    end = (w_out - 1) * s + d * (f - 1) + 1  # one past the last padded column the filter reaches
    return max(0, w + p - end)


def param_count(f: int, c_in: int, k: int, bias: bool = True, *, groups: int = 1) -> int:
    """Parameters of a conv layer with K filters of size F x F x (C_in / groups): ``F*F*(C_in/g)*K (+ K biases)``.

    With ``groups=g`` (AlexNet's two-GPU layers) the channels split into g groups and each filter sees only
    its group's C_in/g input channels; both C_in and K must be multiples of g, as in ``nn.Conv2d``.
    """
    f, c_in, k = _int("F (filter size)", f, 1), _int("C_in (input channels)", c_in, 1), _int("K (filters)", k, 1)
    if not isinstance(bias, bool):
        raise TypeError(f"bias must be True or False, got {bias!r}")
    groups = _int("groups", groups, 1)
    if c_in % groups or k % groups:
        raise ValueError(f"groups must divide C_in and K: C_in = {c_in}, K = {k}, groups = {groups}")
    return f * f * (c_in // groups) * k + (k if bias else 0)


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Input pixels (per side) that one output of a stack of ``(f, s)`` layers sees.

    ``r = 1 + sum_l (f_l - 1) * prod_{j<l} s_j``: each layer widens the view by ``f - 1`` steps of its input,
    and one step of layer l's input spans the product of the earlier strides in pixels.
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of (f, s) pairs, got {type(layers).__name__}")
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if not (isinstance(layer, Sequence) and len(layer) == 2):
            raise TypeError(f"layer {i} must be a (f, s) pair (kernel, stride), got {layer!r}")
        f, s = _int(f"f of layer {i}", layer[0], 1), _int(f"s of layer {i}", layer[1], 1)
        r += (f - 1) * jump
        jump *= s
    return r


# A layer spec is a list of tuples, one per layer (ReLUs are added after every conv and hidden fc):
#   ("conv", K, F, S, P[, groups])   ("pool", F, S)   ("norm",)   ("fc", units)   ("dropout",)
# The first "fc" flattens its input. Specs follow the lecture's (single-GPU) tables.
ALEXNET = [("conv", 96, 11, 4, 0), ("pool", 3, 2), ("norm",),
           ("conv", 256, 5, 1, 2), ("pool", 3, 2), ("norm",),
           ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 3, 2),
           ("fc", 4096), ("dropout",), ("fc", 4096), ("dropout",), ("fc", 1000)]
VGG16 = [*[("conv", k, 3, 1, 1) for k in (64, 64)], ("pool", 2, 2),
         *[("conv", k, 3, 1, 1) for k in (128, 128)], ("pool", 2, 2),
         *[("conv", k, 3, 1, 1) for k in (256,) * 3], ("pool", 2, 2),
         *[("conv", k, 3, 1, 1) for k in (512,) * 3], ("pool", 2, 2),
         *[("conv", k, 3, 1, 1) for k in (512,) * 3], ("pool", 2, 2),
         ("fc", 4096), ("dropout",), ("fc", 4096), ("dropout",), ("fc", 1000)]


def from_spec(spec: Sequence[tuple], input_shape: tuple[int, int, int], *, strict: bool = False) -> nn.Sequential:
    """An ``nn.Sequential`` (random weights) for a layer spec and a (C, H, W) input.

    Sizes round down as in PyTorch; ``strict=True`` raises where a layer's floor drops input pixels.
    """
    v.flag("strict", strict)
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise TypeError(f"spec must be a list of layer tuples, got {type(spec).__name__}")
    for i, layer in enumerate(spec):
        if not (isinstance(layer, tuple) and layer and isinstance(layer[0], str)):
            raise TypeError(f"spec[{i}] must be a tuple starting with the layer kind, got {layer!r}")
        arity = {"conv": (5, 6), "pool": (3,), "norm": (1,), "fc": (2,), "dropout": (1,)}.get(layer[0])
        if arity is not None and len(layer) not in arity:
            raise ValueError(f"spec[{i}] = {layer!r}: a {layer[0]!r} layer takes {' or '.join(str(a - 1) for a in arity)} numbers")
        for j, x in enumerate(layer[1:]):
            _int(f"spec[{i}][{j + 1}]", x, 1 if not (layer[0] == "conv" and j == 3) else 0)
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise TypeError(f"input_shape must be a (C, H, W) tuple, got {type(input_shape).__name__}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    c, h, w = (_int(name, v, 1) for name, v in zip(("C", "H", "W"), input_shape))
    layers: list[nn.Module] = []
    last_fc = max((i for i, l in enumerate(spec) if l[0] == "fc"), default=-1)
    features = None  # set once flattened
    for i, (kind, *args) in enumerate(spec):
        if kind == "conv":
            k, f, s, p, *groups = args
            h, w = output_size(h, f, p, s, strict=strict), output_size(w, f, p, s, strict=strict)
            layers += [nn.Conv2d(c, k, f, stride=s, padding=p, groups=groups[0] if groups else 1),
                       nn.ReLU(inplace=True)]
            c = k
        elif kind == "pool":
            f, s = args
            h, w = output_size(h, f, 0, s, strict=strict), output_size(w, f, 0, s, strict=strict)
            layers.append(nn.MaxPool2d(f, s))
        elif kind == "norm":  # AlexNet's local response normalization, the paper's n = 5, k = 2, beta = 0.75
            # and alpha = 1e-4: the paper divides by k + alpha * sum(a^2), PyTorch by k + (alpha / n) * sum(a^2),
            # so the paper's alpha is PyTorch's alpha = n * 1e-4 = 5e-4 (no parameters either way)
            layers.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
        elif kind == "fc":
            if features is None:
                layers.append(nn.Flatten())
                features = c * h * w
            layers.append(nn.Linear(features, args[0]))
            features = args[0]
            if i != last_fc:
                layers.append(nn.ReLU(inplace=True))
        elif kind == "dropout":
            layers.append(nn.Dropout(0.5))
        else:
            raise ValueError(f"layer {i}: unknown kind {kind!r}; use conv, pool, norm, fc or dropout")
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class LayerRow:
    """One layer of a :func:`summary`: what it outputs for one image and what it costs."""

    name: str
    layer: str
    output_shape: tuple[int, ...]  # per image, without the batch dimension
    activations: int  # values this layer adds to memory (0 for in-place layers and views)
    memory_bytes: int
    params: int
    macs: int  # multiply-adds


@dataclass(frozen=True)
class Summary:
    """Per-layer rows and totals; ``str()`` gives a table."""

    rows: list[LayerRow]

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_activations(self) -> int:
        return sum(r.activations for r in self.rows)

    @property
    def total_memory_bytes(self) -> int:
        return sum(r.memory_bytes for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def __str__(self) -> str:
        head = f"{'layer':<34} {'output':>14} {'activations':>12} {'memory':>10} {'params':>12} {'mult-adds':>15}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            shape = "x".join(map(str, r.output_shape))
            lines.append(f"{r.name + ' ' + r.layer:<34.34} {shape:>14} {r.activations:>12,} "
                         f"{_mb(r.memory_bytes):>10} {r.params:>12,} {r.macs:>15,}")
        lines += ["-" * len(head), f"{'total':<34} {'':>14} {self.total_activations:>12,} "
                  f"{_mb(self.total_memory_bytes):>10} {self.total_params:>12,} {self.total_macs:>15,}"]
        return "\n".join(lines)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


def _describe(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return f"conv {kh}x{kw}/{m.stride[0]} {m.out_channels}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"{type(m).__name__[:3].lower()}pool {m.kernel_size}/{m.stride}"
    if isinstance(m, nn.Linear):
        return f"fc {m.out_features}"
    return type(m).__name__.lower()


def _macs(m: nn.Module, out: torch.Tensor) -> int:
    """Multiply-adds for one image: each output value of a conv/fc layer is one dot product."""
    per_image = out[0].numel()
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return per_image * (m.in_channels // m.groups) * kh * kw
    if isinstance(m, nn.Linear):
        return per_image * m.in_features
    return 0  # pooling, activations, normalization: comparisons and cheap element-wise work


def _leaves(model: nn.Module, prefix: str = ""):
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            yield from _leaves(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


@torch.no_grad()
def summary(model: nn.Sequential, input_shape: Sequence[int], *, device: torch.device | str | None = None,
            dtype: torch.dtype = torch.float32) -> Summary:
    """Run one input of shape ``input_shape`` (no batch dimension) through ``model``, layer by layer.

    The input is created on ``device`` (default: where the model's first parameter is, else the CPU).
    Activations count the input plus every layer output that takes new memory; a layer whose output shares
    its input's storage (``ReLU(inplace=True)``, ``Flatten``, ``Dropout`` in eval mode) adds none.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"summary needs an nn.Sequential (layers applied in order), got {type(model).__name__}")
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not input_shape:
        raise TypeError(f"input_shape must be a non-empty tuple of sizes, got {input_shape!r}")
    shape = tuple(_int(f"input_shape[{i}]", n, 1) for i, n in enumerate(input_shape))
    if device is not None:
        device = v.device("device", device)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type == "meta":  # meta tensors have no storage: every layer would look in place, and count no memory
        raise ValueError("summary cannot count activations on the meta device (its tensors have no storage, so a new "
                         "output cannot be told from an in-place one): build the model on the CPU, or pass device='cpu'")
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros((1, *shape), device=device, dtype=dtype)  # (1, *input_shape)
        size = x.element_size()
        rows = [LayerRow("", "input", shape, x[0].numel(), x[0].numel() * size, 0, 0)]
        for name, layer in _leaves(model):
            out = layer(x)
            new = out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
            acts = out[0].numel() if new else 0
            params = sum(p.numel() for p in layer.parameters())
            rows.append(LayerRow(name, _describe(layer), tuple(out.shape[1:]), acts, acts * size, params,
                                 _macs(layer, out)))
            x = out
    finally:
        model.train(was_training)
    return Summary(rows)

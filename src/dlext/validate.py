"""Argument checks shared by every public function of ``dlext``, with one convention for errors.

- ``TypeError``: the argument has the wrong *type* (a string where a number goes, ``True`` where
  an int goes, a list where a tensor goes, a model that is not an ``nn.Module``).
- ``ValueError``: the type is right but the *value* is not allowed: out of range, zero or negative
  sizes, NaN or infinite entries, an empty tensor, a wrong or mismatched shape, a label outside
  ``[0, num_classes)``, tensors on different devices.

Every message starts with the argument's name and shows the value (or its shape) that was refused.
Each check returns the (possibly converted) value, so a function reads ``n = positive_int("n", n)``.
"""
import math
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

__all__ = ["integer", "positive_int", "number", "probability", "flag", "choice", "tensor", "same_length",
           "labels", "module", "device", "generator", "frozen", "evaluating", "batched",
           # checks of an argument against the model, the data or another argument
           "pixels", "probabilities", "logits", "input_dtype", "num_outputs", "class_labels", "optimizer",
           "right_padded"]


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as a Python int in [minimum, maximum]; ``bool`` is refused (``True`` is not a size)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (a size, a count, a number of epochs)."""
    return integer(name, value, 1)


def number(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float in the interval low..high (closed unless ``*_open``); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        allowed = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {allowed}, got {value!r}")
    return value


def probability(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    return number(name, value, 0.0, 1.0)


def flag(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0, 1 or "yes")."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def choice(name: str, value: Any, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(options)}, got {type(value).__name__} {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def tensor(name: str, x: Any, *, ndim: int | Sequence[int] | None = None, shape: Sequence[int | None] | None = None,
           dtype: str | None = None, nonempty: bool = True, finite: bool = True) -> Tensor:
    """Check a tensor argument: its type, dims, shape (``None`` matches any size), kind and values.

    ``dtype``: "float" (floating point), "int" (integer, not bool) or None (any real dtype).
    ``finite`` refuses NaN and +-inf in floating tensors (one reduction, one sync).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or (dtype is not None and x.dtype == torch.bool):
        raise TypeError(f"{name} must be real-valued, got dtype {x.dtype}")
    if dtype == "float" and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if dtype == "int" and x.is_floating_point():
        raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(x.shape)}")
    if shape is not None and (x.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape))):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if finite and x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def same_length(**named: Any) -> int:
    """The common length of the named sequences/tensors, or a ValueError listing every length."""
    lengths = {k: len(v) for k, v in named.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("these must have the same length: " + ", ".join(f"{k} has {n}" for k, n in lengths.items()))
    return next(iter(lengths.values()))


def labels(name: str, y: Any, num_classes: int | None = None, *, length: int | None = None) -> Tensor:
    """Class labels: an integer tensor (N,) with values in [0, num_classes) (>= 0 when num_classes is None).

    A negative label is never a class: -1 ("unlabelled") or -100 (cross-entropy's ignore index) would
    index from the end of a table or be skipped by the loss, so it is refused.
    """
    y = tensor(name, y, ndim=1, dtype="int", nonempty=length != 0)
    if length is not None and len(y) != length:
        raise ValueError(f"{name} must have shape ({length},), got {tuple(y.shape)}")
    if len(y):
        lo, hi = torch.stack([y.min(), y.max()]).tolist()  # one sync
        if lo < 0 or (num_classes is not None and hi >= num_classes):
            allowed = f"[0, {num_classes})" if num_classes is not None else "class indices >= 0"
            raise ValueError(f"{name} must lie in {allowed}, got values from {lo} to {hi}")
    return y


def module(name: str, m: Any) -> nn.Module:
    """``m`` if it is an ``nn.Module``."""
    if not isinstance(m, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    return m


def device(name: str, d: Any) -> torch.device:
    """A ``torch.device`` from a device or its name ("cpu", "cuda:0") that this machine has."""
    if isinstance(d, str):
        try:
            d = torch.device(d)
        except RuntimeError:
            raise ValueError(f"{name} is not a device name: {d!r}") from None
    if not isinstance(d, torch.device):
        raise TypeError(f"{name} must be a torch.device or a string such as 'cpu', got {type(d).__name__} {d!r}")
    if d.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name} is {str(d)!r} but this machine has no CUDA device: use dlext.device() or 'cpu'")
        if d.index is not None and d.index >= count:
            raise ValueError(f"{name} is {str(d)!r} but this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name} is 'mps' but Apple's MPS is not available here: use dlext.device() or 'cpu'")
    return d


def generator(name: str, g: Any) -> torch.Generator | None:
    """``g`` if it is a ``torch.Generator`` or None (a seed such as 0 is not a generator)."""
    if g is not None and not isinstance(g, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None (e.g. torch.Generator().manual_seed(0)), "
                        f"got {type(g).__name__} {g!r}")
    return g


_device = device  # for the functions below, whose argument is called device


def _home(model: nn.Module) -> torch.device | None:
    """Where the model's first parameter (else buffer) lives; None for a model without tensors."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return None


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and ``requires_grad=False`` for every parameter inside the block; both restored after.

    For code that differentiates with respect to the input, not the weights (saliency, adversarial
    attacks): the caller's model leaves the block as it came, whatever happened inside.
    """
    module("model", model)
    modes = [(m, m.training) for m in model.modules()]  # submodules may differ from the top
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def evaluating(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Inside the block ``model`` is on ``device``, in eval mode, without autograd; afterwards its
    train/eval mode (of every submodule) and its device are what they were before."""
    module("model", model)
    device = _device("device", device)
    modes = [(m, m.training) for m in model.modules()]
    home = _home(model)
    model.to(device).eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, mode in modes:
            m.training = mode
        if home is not None:
            model.to(home)


def batched(model: nn.Module, X: Tensor, fn: Callable[[Tensor], Any] | None = None, *,
            device: torch.device, batch_size: int = 1000) -> Any:
    """Apply ``fn(x)`` (default ``model(x)``) to X in batches on ``device`` in eval mode, without gradients.

    Returns the concatenated results on the CPU (a tuple of tensors if ``fn`` returns a tuple), and
    leaves the model's mode and device as it found them.
    """
    module("model", model)
    tensor("X", X, nonempty=False, finite=False)
    batch_size = positive_int("batch_size", batch_size)
    if fn is None:
        input_dtype("X", X, model)
    fn = model if fn is None else fn
    outs: list = []
    with evaluating(model, device):
        for i in range(0, len(X), batch_size):
            out = fn(X[i:i + batch_size].to(device))
            outs.append(tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu())
    if outs and isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)


# --- checks of an argument against the model, the data or another argument -----------------------

def pixels(name: str, x: Tensor) -> Tensor:
    """Images whose pixels lie in [0, 1]: refuses 0..255 bytes and normalized ([-1, 1], mean 0) images."""
    if x.numel():
        lo, hi = torch.stack([x.min(), x.max()]).tolist()  # one sync
        if not (0 <= lo and hi <= 1):  # NaN fails both comparisons
            hint = " (0..255? divide by 255)" if hi > 1 else " (normalized? map back to [0, 1])" if lo < 0 else ""
            raise ValueError(f"{name} must be images with pixels in [0, 1], got values in [{lo:.3g}, {hi:.3g}]{hint}")
    return x


def probabilities(name: str, p: Tensor, *, atol: float = 1e-3) -> Tensor:
    """Rows of class probabilities (N, C): each entry in [0, 1] and each row summing to 1 (not logits)."""
    if p.numel():
        lo, hi, err = torch.stack([p.min(), p.max(), (p.sum(-1) - 1).abs().max()]).tolist()
        if not (0 <= lo and hi <= 1 and err <= atol):
            raise ValueError(f"{name} must be probabilities (each row in [0, 1], summing to 1; apply softmax to "
                             f"logits), got values in [{lo:.3g}, {hi:.3g}] and row sums off 1 by up to {err:.3g}")
    return p


def logits(name: str, out: Tensor, *, atol: float = 1e-5) -> Tensor:
    """A model's outputs (B, C) for a function that applies softmax itself: refuse rows that already sum to 1.

    Softmax of probabilities squeezes them towards uniform (every entry within e^1 of the others).
    """
    if out.ndim == 2 and out.shape[1] > 1 and out.numel():
        lo, err = torch.stack([out.min(), (out.sum(-1) - 1).abs().max()]).tolist()
        if lo >= 0 and err <= atol:
            raise ValueError(f"{name} already outputs probabilities (every row is >= 0 and sums to 1); "
                             "pass a model that returns logits (drop its final softmax)")
    return out


def _dtype(model: nn.Module) -> torch.dtype | None:
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return None


def input_dtype(name: str, x: Tensor, model: nn.Module) -> Tensor:
    """A floating input ``x`` whose dtype is the model's (a float64 model does not take float32 images)."""
    want = _dtype(model)
    if want is not None and x.is_floating_point() and x.dtype != want:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's parameters are {want}: convert one of "
                        f"them (x.to({want}) or model.to({x.dtype}))")
    return x


def num_outputs(model: nn.Module, x: Tensor, *, device: torch.device | None = None) -> int:
    """The number of outputs (classes) of ``model`` on inputs like ``x`` (N, ...): one example is run, in
    eval mode and without gradients; the model's mode and device are restored."""
    module("model", model)
    tensor("x", x, finite=False)
    if device is None:
        device = _home(model) or torch.device("cpu")
    out = batched(model, x[:1], device=device)
    if out.ndim != 2:
        raise ValueError(f"model must output (batch, classes) scores, got shape {tuple(out.shape)}")
    return out.shape[1]


def class_labels(name: str, y: Any, model: nn.Module, x: Tensor, *, device: torch.device | None = None) -> Tensor:
    """Labels (N,) for the inputs x (N, ...) that lie in [0, C), C the number of outputs of ``model``."""
    y = labels(name, y)
    return labels(name, y, num_outputs(model, x, device=device))


def optimizer(name: str, opt: Any, model: nn.Module) -> torch.optim.Optimizer:
    """An optimizer that updates ``model``: it holds at least one of the model's parameters."""
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"{name} must be a torch.optim.Optimizer, got {type(opt).__name__}")
    own = {id(p) for p in model.parameters()}
    held = [p for group in opt.param_groups for p in group["params"]]
    if not any(id(p) in own for p in held):
        raise ValueError(f"{name} holds none of the model's parameters ({len(held)} others): it would train "
                         "another model; build it from this one (e.g. torch.optim.Adam(model.parameters()))")
    return opt


def right_padded(name: str, ids: Tensor, pad_id: int) -> Tensor:
    """Lengths (B,) of right-padded id rows (B, T): every pad comes after the last real token.

    Left padding ``[0, 0, 5]`` or a pad inside a sequence ``[5, 0, 7]`` is refused: counting the
    non-pad ids would read the wrong prefix. A row of padding only is refused too.
    """
    real = ids != pad_id  # (B, T)
    lengths = real.sum(1)  # (B,)
    steps = torch.arange(ids.shape[1], device=ids.device)
    misplaced = real != (steps[None, :] < lengths[:, None])  # a real token after a pad
    bad_rows, empty_rows = torch.stack([misplaced.any(1).sum(), (lengths == 0).sum()]).tolist()  # one sync
    if empty_rows:
        raise ValueError(f"{name}: {empty_rows} sequence(s) are all padding (pad_id {pad_id}): every sequence "
                         "needs at least one token")
    if bad_rows:
        row = int(misplaced.any(1).nonzero()[0])
        raise ValueError(f"{name} must be right-padded with pad_id {pad_id} (tokens first, then padding), but row "
                         f"{row} has a pad before a real token: {ids[row].tolist()[:12]}")
    return lengths

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
           "labels", "module", "device", "frozen", "evaluating", "batched"]


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
    """Class labels: an integer tensor (N,) with values in [0, num_classes)."""
    y = tensor(name, y, ndim=1, dtype="int", nonempty=length != 0)
    if length is not None and len(y) != length:
        raise ValueError(f"{name} must have shape ({length},), got {tuple(y.shape)}")
    if len(y) and num_classes is not None and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got values from {int(y.min())} to {int(y.max())}")
    return y


def module(name: str, m: Any) -> nn.Module:
    """``m`` if it is an ``nn.Module``."""
    if not isinstance(m, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    return m


def device(name: str, d: Any) -> torch.device:
    """A ``torch.device`` from a device or its name ("cpu", "cuda:0")."""
    if isinstance(d, torch.device):
        return d
    if isinstance(d, str):
        try:
            return torch.device(d)
        except RuntimeError:
            raise ValueError(f"{name} is not a device name: {d!r}") from None
    raise TypeError(f"{name} must be a torch.device or a string such as 'cpu', got {type(d).__name__} {d!r}")


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
    batch_size = positive_int("batch_size", batch_size)
    fn = model if fn is None else fn
    outs: list = []
    with evaluating(model, device):
        for i in range(0, len(X), batch_size):
            out = fn(X[i:i + batch_size].to(device))
            outs.append(tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu())
    if outs and isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)

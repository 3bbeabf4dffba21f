"""Look inside a trained network: activations, saliency, occlusion, activation maximization, deletion curves, Gram matrices.

Every function here leaves the caller's model as it found it: its train/eval mode and every
parameter's ``requires_grad`` flag are restored, and parameters' ``.grad`` are never touched
(gradients are taken with ``torch.autograd.grad``). Inputs are moved to the model's device and
results come back on the CPU.
"""
import numpy as np
import torch
from torch import Tensor, nn

from dlext import conv
from dlext import validate as v
from dlext.validate import frozen  # eval mode, frozen weights, both restored

__all__ = ["activations", "saliency", "occlusion", "activation_maximization", "deletion_curve",
           "deletion_auc", "gram_matrix"]


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _images(x, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    v.tensor(name, x, dtype="float")  # TypeError for a non-tensor or integer dtype; ValueError for empty, NaN or inf
    if x.ndim < 2:
        raise ValueError(f"{name} must be a floating-point batch (B, ...), got dtype {x.dtype} and shape {tuple(x.shape)}")
    return x


def _targets(target, n: int) -> Tensor:
    """Class indices (n,) from an int or a tensor/list of n ints."""
    if isinstance(target, bool):
        raise TypeError("target must be an int or a tensor of class indices, got a bool")
    if isinstance(target, (str, bytes)) or not isinstance(target, (int, Tensor, list, tuple, np.integer, np.ndarray)):
        raise TypeError(f"target must be an int or a tensor of integer class indices, got {type(target).__name__} "
                        f"{target!r:.40}")
    try:
        t = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"target must be an int or a tensor of integer class indices, got {target!r:.40}") from err
    if t.is_floating_point() or t.is_complex():
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    t = t.long().reshape(-1)
    if len(t) == 1:
        t = t.expand(n)
    if len(t) != n:
        raise ValueError(f"target must be one class or one per example ({n}), got {len(t)}")
    if len(t) and int(t.min()) < 0:
        raise ValueError(f"target must hold class indices >= 0, got {int(t.min())}")
    return t


def _model(model, x: Tensor) -> nn.Module:
    """The model, checked against the inputs: an nn.Module whose parameters have x's dtype."""
    v.module("model", model)
    v.input_dtype("x", x, model)
    return model


def _softmax(logits: Tensor, first: bool) -> Tensor:
    """Softmax of the model's outputs; on the first batch, refuse a model that already outputs probabilities."""
    if first:
        v.logits("model", logits)
    return logits.softmax(-1)


def _probs_of(p: Tensor, rows: Tensor) -> Tensor:
    """p[i, rows[i]] for probabilities p (b, classes), after checking that rows index the model's outputs."""
    if p.ndim != 2 or int(rows.max()) >= p.shape[1]:
        raise ValueError(f"target must index the model's {p.shape[-1]} outputs, got {int(rows.max())}")
    return p.gather(1, rows[:, None].to(p.device))[:, 0].cpu()


def activations(model: nn.Module, layer: nn.Module, x: Tensor, batch_size: int = 1000) -> Tensor:
    """The output of ``layer`` (a submodule of ``model``) for inputs x (B, ...), on the CPU."""
    v.module("model", model)
    x = _images(x)
    _model(model, x)
    batch_size = v.positive_int("batch_size", batch_size)
    v.module("layer", layer)
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    out: list[Tensor] = []
    hook = layer.register_forward_hook(lambda m, i, o: out.append(o.detach().cpu() if isinstance(o, Tensor) else o))
    try:
        with frozen(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                before = len(out)
                model(x[i:i + batch_size].to(_device(model)))
                _one_output(layer, out[before:])
    finally:
        hook.remove()
    return torch.cat(out)


def _one_output(layer: nn.Module, outs: list) -> None:
    """The layer ran exactly once in this forward pass and returned one tensor."""
    name = type(layer).__name__
    if not outs:
        raise ValueError(f"layer ({name}) never ran in the model's forward pass: pass a submodule that forward uses")
    if len(outs) > 1:
        raise ValueError(f"layer ({name}) ran {len(outs)} times in one forward pass (a module used twice); its "
                         "activations would mix the uses: pass a layer that runs once")
    if not isinstance(outs[0], Tensor):
        raise TypeError(f"layer ({name}) returns a {type(outs[0]).__name__}, not a tensor (an LSTM returns "
                        "(output, state)): pass a layer whose output is one tensor")


def saliency(model: nn.Module, x: Tensor, target) -> Tensor:
    """Gradient of the target class's score (logit) with respect to the input: x (B, ...) -> (B, ...).

    The signed input gradient; for a linear model ``W x + b`` it is the weight row ``W[target]``.
    Simonyan et al.'s (2014) saliency map is its magnitude, max over channels: ``saliency(...).abs().amax(1)``.
    Examples do not interact in eval mode, so one backward pass of the summed scores gives every row.
    """
    v.module("model", model)
    x = _images(x)
    _model(model, x)
    t = _targets(target, len(x)).to(_device(model))
    with frozen(model):
        xd = x.detach().to(_device(model)).requires_grad_(True)
        scores = model(xd)  # (B, classes)
        if scores.ndim != 2 or not (0 <= int(t.min()) and int(t.max()) < scores.shape[1]):
            raise ValueError(f"target must index the model's {scores.shape[-1]} outputs, got {t.tolist()[:5]}...")
        (grad,) = torch.autograd.grad(scores.gather(1, t[:, None]).sum(), xd)
    return grad.cpu()


def occlusion(model: nn.Module, x: Tensor, target, patch: int = 12, stride: int = 2, fill: float = 0.5,
              batch_size: int = 1024) -> Tensor:
    """P(target) with a ``fill``-valued square patch at each position (Zeiler & Fergus, 2014).

    x (C, H, W) with an int target -> (H_out, W_out); x (B, C, H, W) with B targets -> (B, H_out, W_out),
    where H_out = (H - patch) / stride + 1, as for a convolution (the patch must tile the image).
    """
    v.module("model", model)
    x = _images(x)
    patch, stride = v.positive_int("patch", patch), v.positive_int("stride", stride)
    fill, batch_size = v.number("fill", fill), v.positive_int("batch_size", batch_size)
    _model(model, x)
    single = x.ndim == 3
    xb = x[None] if single else x
    if xb.ndim != 4:
        raise ValueError(f"x must be (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    t = _targets(target, len(xb))
    # strict: a patch that never reaches the last rows or columns would leave them untested, so refuse it
    h_out = conv.output_size(xb.shape[-2], patch, 0, stride, strict=True)
    w_out = conv.output_size(xb.shape[-1], patch, 0, stride, strict=True)
    copies = xb.detach().repeat_interleave(h_out * w_out, 0).clone()  # (B * h_out * w_out, C, H, W)
    for i in range(h_out):
        for j in range(w_out):
            copies[i * w_out + j::h_out * w_out, :, i * stride:i * stride + patch, j * stride:j * stride + patch] = fill
    rows = t.repeat_interleave(h_out * w_out)
    probs = []
    with frozen(model), torch.no_grad():
        for k in range(0, len(copies), batch_size):
            p = _softmax(model(copies[k:k + batch_size].to(_device(model))), k == 0)
            probs.append(_probs_of(p, rows[k:k + batch_size]))
    heat = torch.cat(probs).reshape(len(xb), h_out, w_out)
    return heat[0] if single else heat


def activation_maximization(model: nn.Module, layer: nn.Module, channel: int, steps: int = 200, *,
                            shape: tuple[int, ...] = (1, 28, 28), lr: float = 0.05, l2: float = 1e-3,
                            tv: float = 1e-2, clamp: tuple[float, float] | None = (0.0, 1.0),
                            seed: int = 0) -> Tensor:
    """An input (shape) that maximizes the mean activation of ``channel`` at ``layer``, from small noise.

    Maximizes  mean a_c(x) - l2 |x|^2 - tv TV(x)  with Adam; the L2 and total-variation penalties keep
    the image from turning into high-frequency noise (Simonyan et al. 2014; Mahendran & Vedaldi 2015).
    """
    v.module("model", model)
    steps, channel = v.positive_int("steps", steps), v.integer("channel", channel, 0)
    lr, l2, tv = v.number("lr", lr, 0, low_open=True), v.number("l2", l2, 0), v.number("tv", tv, 0)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(f"shape must be a non-empty tuple of sizes, got {type(shape).__name__} {shape!r}")
    shape = tuple(v.positive_int(f"shape[{i}]", n) for i, n in enumerate(shape))
    seed = v.integer("seed", seed, 0)
    if clamp is not None:
        if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
            raise TypeError(f"clamp must be a pair (low, high) or None, got {type(clamp).__name__} {clamp!r}")
        low, high = v.number("clamp[0]", clamp[0]), v.number("clamp[1]", clamp[1])
        if not low < high:
            raise ValueError(f"clamp must be (low, high) with low < high, got {clamp!r}")
        clamp = (low, high)
    v.module("layer", layer)
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    dev = _device(model)
    dtype = v._dtype(model) or torch.float32  # the input in the model's own precision (a float64 model works)
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.01 * torch.randn(1, *shape, generator=gen)).to(dev, dtype).requires_grad_(True)
    out: list[Tensor] = []
    hook = layer.register_forward_hook(lambda m, i, o: out.append(o))
    try:
        with frozen(model):
            opt = torch.optim.Adam([x], lr=lr)
            for step in range(steps):
                out.clear()
                model(x)
                if step == 0:
                    _one_output(layer, out)
                a = out[0]
                if a.ndim < 2 or not 0 <= channel < a.shape[1]:
                    raise ValueError(f"channel must be in [0, {a.shape[1]}), got {channel}")
                img = x[0]
                tv_term = (img[..., 1:, :] - img[..., :-1, :]).abs().mean() + (img[..., :, 1:] - img[..., :, :-1]).abs().mean()
                loss = -a[0, channel].mean() + l2 * (img ** 2).sum() + tv * tv_term
                opt.zero_grad()
                loss.backward()
                opt.step()
                if clamp is not None:
                    with torch.no_grad():
                        x.clamp_(*clamp)
    finally:
        hook.remove()
    return x.detach()[0].cpu()


def deletion_curve(model: nn.Module, x: Tensor, target, ranking: Tensor, steps: int = 20,
                   fill: float = 0.0, batch_size: int = 1024) -> Tensor:
    """P(target) as the highest-ranked input entries are replaced by ``fill``, a share k/steps at a time.

    x (B, ...), ranking (B, ...) of the same shape (larger = deleted earlier; ties broken by position);
    returns (B, steps + 1): column k holds P(target) with the top k/steps of the entries deleted
    (Petsiuk et al. 2018). A faithful explanation's curve falls faster than a random ranking's.
    """
    v.module("model", model)
    x = _images(x)
    if not isinstance(ranking, Tensor):
        raise TypeError(f"ranking must be a tensor of the same shape as x, got {type(ranking).__name__}")
    if ranking.shape != x.shape:
        raise ValueError(f"ranking must be a tensor of the same shape as x {tuple(x.shape)}, got {tuple(ranking.shape)}")
    v.tensor("ranking", ranking)
    _model(model, x)
    flat_rank = ranking.detach().reshape(len(x), -1)
    constant = (flat_rank == flat_rank[:, :1]).all(1)  # (B,)
    if bool(constant.any()):
        raise ValueError(f"ranking is constant for example {int(constant.nonzero()[0])}: it orders no pixel before "
                         "another, so the curve would only show deletion in reading order")
    steps, fill = v.positive_int("steps", steps), v.number("fill", fill)
    batch_size = v.positive_int("batch_size", batch_size)
    t = _targets(target, len(x))
    flat = x.detach().reshape(len(x), -1).cpu()  # (B, D)
    d = flat.shape[1]
    order = ranking.detach().reshape(len(x), -1).cpu().argsort(dim=1, descending=True, stable=True)  # (B, D)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(d).expand(len(x), d))  # rank[b, i] = position of entry i
    counts = torch.tensor([round(k * d / steps) for k in range(steps + 1)])  # (steps + 1,)
    deleted = rank[:, None, :] < counts[None, :, None]  # (B, steps + 1, D)
    copies = torch.where(deleted, torch.as_tensor(fill, dtype=flat.dtype), flat[:, None, :])
    copies = copies.reshape(-1, *x.shape[1:])  # (B * (steps + 1), ...)
    rows = t.repeat_interleave(steps + 1)
    probs = []
    with frozen(model), torch.no_grad():
        for k in range(0, len(copies), batch_size):
            p = _softmax(model(copies[k:k + batch_size].to(_device(model))), k == 0)
            probs.append(_probs_of(p, rows[k:k + batch_size]))
    return torch.cat(probs).reshape(len(x), steps + 1)


def deletion_auc(curve: Tensor) -> Tensor:
    """Area under deletion curves (B, steps + 1) over the deleted share 0..1 (trapezoid rule) -> (B,)."""
    v.tensor("curve", curve, ndim=2, dtype="float")
    if curve.shape[1] < 2:
        raise ValueError(f"curve must be a (B, steps + 1) tensor with steps >= 1, got {getattr(curve, 'shape', curve)}")
    lo, hi = torch.stack([curve.min(), curve.max()]).tolist()
    if lo < 0 or hi > 1:
        raise ValueError(f"curve must hold probabilities in [0, 1] (from deletion_curve), got values in [{lo:.3g}, {hi:.3g}]")
    return torch.trapezoid(curve, dx=1.0 / (curve.shape[1] - 1), dim=1)


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrices of feature maps (B, C, H, W) -> (B, C, C): G_ij = mean over positions of F_i F_j (Gatys et al. 2015)."""
    v.tensor("features", features, ndim=4, dtype="float", finite=False)  # no NaN scan: it runs in optimization loops
    f = features.flatten(2)  # (B, C, H*W)
    return f @ f.transpose(1, 2) / f.shape[-1]

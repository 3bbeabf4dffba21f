"""Entropy, cross-entropy, KL and Jensen-Shannon divergences, and the Gaussian KLs of the VAE.

Every function takes torch tensors (autograd flows through) or NumPy arrays / Python numbers;
it returns a tensor if any input is a tensor, else NumPy (an ``np.float64`` for a single value).
Discrete distributions lie along the **last axis**; the other axes are a batch and broadcast.
Logarithms are natural, so the unit is the nat, and ``0 log 0 = 0``.

Inputs are checked before use, and a bad one raises ``ValueError`` saying what is wrong: NaN,
negative probabilities, rows not summing to 1 (within 1e-6; float32 rows of more than 70
outcomes are allowed their rounding error, eps * sqrt(K)), shapes that do not match, a standard
deviation ``<= 0``. The checks are a few vectorised reductions read back in one go (one
host-device sync per call); ``validate=False`` skips them.
"""
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["entropy", "cross_entropy", "kl_divergence", "js_divergence", "gaussian_kl", "kl_to_standard_normal"]

SUM_TOL = 1e-6  # how far a row of probabilities may sum from 1


def _xlogy(x: Tensor, y: Tensor) -> Tensor:
    """x log y with 0 log y = 0, and gradients 0 (not NaN) where x = 0.

    ``torch.special.xlogy`` has the right value but its gradient with respect to y is x / y, which
    is 0/0 = NaN where x = y = 0: exactly what a float32 softmax gives when it underflows to 0.
    """
    zero = x == 0
    return torch.where(zero, torch.zeros((), dtype=x.dtype, device=x.device),
                       x * torch.log(torch.where(zero, torch.ones((), dtype=y.dtype, device=y.device), y)))


def _check_validate(validate: Any) -> None:
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be True or False, got {type(validate).__name__} {validate!r}")


def _as_tensors(names: str, *xs: Any) -> tuple[list[Tensor], bool]:
    """The inputs as floating tensors on one device; the flag says whether any input was a tensor."""
    any_tensor = any(isinstance(x, Tensor) for x in xs)
    devices = {x.device for x in xs if isinstance(x, Tensor)}
    if len(devices) > 1:
        raise ValueError(f"inputs are on different devices: {sorted(str(d) for d in devices)}")
    device = devices.pop() if devices else torch.device("cpu")
    out = []
    for name, x in zip(names.split(), xs):
        if not isinstance(x, Tensor):
            try:
                arr = np.asarray(x)
            except Exception as err:
                raise TypeError(f"{name}: expected a tensor, an array or numbers, got {type(x).__name__}") from err
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{name}: expected real numbers, got {type(x).__name__} of dtype {arr.dtype}")
            if arr.dtype.kind != "f":
                arr = arr.astype(np.float64)
            x = torch.as_tensor(arr)  # on the CPU; moved (and cast) below, as MPS has no float64
        elif x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name}: expected a real-valued tensor, got dtype {x.dtype}")
        elif not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        out.append(x)
    # Like PyTorch's scalars: arrays and numbers mixed with tensors take the tensors' dtype,
    # so gaussian_kl(mu, sigma, 0.0, 1.0) stays float32 for float32 mu.
    leaders = [t for t, x in zip(out, xs) if isinstance(x, Tensor)] or out
    dtype = leaders[0].dtype
    for x in leaders[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    return [x.to(device=device, dtype=dtype) for x in out], any_tensor


def _result(x: Tensor, as_tensor: bool) -> Any:
    if as_tensor:
        return x
    x = x.detach().cpu().numpy()
    return x[()] if x.ndim == 0 else x  # a 0-d array becomes an np.float64


def _raise_first(flags: Tensor, messages: list[str]) -> None:
    """Read every flag back at once (a single sync) and raise the first that is set."""
    for flag, message in zip(flags.tolist(), messages):
        if flag:
            raise ValueError(message)


def _sum_tolerance(dtype: torch.dtype, k: int) -> float:
    """1e-6, unless the dtype cannot do better: a float32 softmax over k classes rounds its
    normaliser by up to about eps * sqrt(k) (6e-6 measured at k = 50,000), halves by 8 eps.
    So float64 always gets 1e-6, and float32 does for up to 70 classes."""
    return max(SUM_TOL, torch.finfo(dtype).eps * max(8.0, k**0.5))


def _check_distributions(named: dict[str, Tensor]) -> None:
    """Negative entries, NaN and row sums of each distribution: two passes over the data, one sync."""
    for name, x in named.items():
        if x.ndim == 0 or x.shape[-1] == 0:
            raise ValueError(f"{name} must have a non-empty last axis holding the probabilities, got shape {tuple(x.shape)}")
    flags, messages = [], []
    with torch.no_grad():
        for name, x in named.items():
            acc = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
            tol = _sum_tolerance(x.dtype, x.shape[-1])
            row_sums = x.sum(-1, dtype=acc)  # a NaN anywhere in a row makes its sum NaN
            flags += [(x < 0).any(), torch.isnan(row_sums).any(), ((row_sums - 1).abs() > tol).any()]
            messages += [f"{name} has negative entries: probabilities must be >= 0",
                         f"{name} contains NaN",
                         f"{name} does not sum to 1 along the last axis (tolerance {tol:g}): "
                         f"pass probabilities, not counts or logits"]
        _raise_first(torch.stack(flags), messages)


def _pair(p: Any, q: Any, validate: bool) -> tuple[Tensor, Tensor, bool]:
    _check_validate(validate)
    (p, q), as_tensor = _as_tensors("p q", p, q)
    if validate:
        if p.ndim == 0 or q.ndim == 0 or p.shape[-1] != q.shape[-1]:
            raise ValueError(f"p and q must have the same number of outcomes along the last axis, "
                             f"got shapes {tuple(p.shape)} and {tuple(q.shape)}")
        try:
            torch.broadcast_shapes(p.shape, q.shape)
        except RuntimeError:
            raise ValueError(f"the shapes of p {tuple(p.shape)} and q {tuple(q.shape)} do not broadcast") from None
        _check_distributions({"p": p, "q": q})
    return p, q, as_tensor


def entropy(p: Any, *, validate: bool = True) -> Any:
    """H(p) = -sum_k p_k log p_k, in nats, over the last axis (0 log 0 = 0)."""
    _check_validate(validate)
    (p,), as_tensor = _as_tensors("p", p)
    if validate:
        _check_distributions({"p": p})
    return _result(-_xlogy(p, p).sum(-1), as_tensor)


def cross_entropy(p: Any, q: Any, *, validate: bool = True) -> Any:
    """H(p, q) = -sum_k p_k log q_k over the last axis; inf where q_k = 0 < p_k."""
    p, q, as_tensor = _pair(p, q, validate)
    return _result(-_xlogy(p, q).sum(-1), as_tensor)


def kl_divergence(p: Any, q: Any, *, validate: bool = True) -> Any:
    """KL(p || q) = sum_k p_k log(p_k / q_k) over the last axis; inf where q_k = 0 < p_k."""
    p, q, as_tensor = _pair(p, q, validate)
    # _xlogy gives 0 wherever p_k = 0, whatever q_k is, and -inf (so KL = +inf) where q_k = 0 < p_k
    terms = _xlogy(p, p) - _xlogy(p, q)
    return _result(terms.sum(-1), as_tensor)


def js_divergence(p: Any, q: Any, *, validate: bool = True) -> Any:
    """JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2; symmetric, in [0, log 2]."""
    p, q, as_tensor = _pair(p, q, validate)
    m = (p + q) / 2  # m_k > 0 wherever p_k or q_k is, so both KLs are finite
    kl_pm = (_xlogy(p, p) - _xlogy(p, m)).sum(-1)
    kl_qm = (_xlogy(q, q) - _xlogy(q, m)).sum(-1)
    return _result((kl_pm + kl_qm) / 2, as_tensor)


def gaussian_kl(mu_p: Any, sigma_p: Any, mu_q: Any, sigma_q: Any, *, validate: bool = True) -> Any:
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) elementwise (inputs broadcast); sum it for a diagonal Gaussian."""
    _check_validate(validate)
    (mu_p, sigma_p, mu_q, sigma_q), as_tensor = _as_tensors("mu_p sigma_p mu_q sigma_q", mu_p, sigma_p, mu_q, sigma_q)
    if validate:
        try:
            torch.broadcast_shapes(mu_p.shape, sigma_p.shape, mu_q.shape, sigma_q.shape)
        except RuntimeError:
            shapes = ", ".join(str(tuple(x.shape)) for x in (mu_p, sigma_p, mu_q, sigma_q))
            raise ValueError(f"the shapes of mu_p, sigma_p, mu_q, sigma_q do not broadcast: {shapes}") from None
        names = ["mu_p", "sigma_p", "mu_q", "sigma_q"]
        with torch.no_grad():
            flags = [torch.isnan(x).any() for x in (mu_p, sigma_p, mu_q, sigma_q)]
            flags += [(sigma_p <= 0).any(), (sigma_q <= 0).any()]
            messages = [f"{n} contains NaN" for n in names]
            messages += [f"{n} must be > 0 (a standard deviation)" for n in ("sigma_p", "sigma_q")]
            _raise_first(torch.stack(flags), messages)
    # log(sigma_q / sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2
    kl = (torch.log(sigma_q) - torch.log(sigma_p)
          + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5)
    return _result(kl, as_tensor)


def kl_to_standard_normal(mu: Any, logvar: Any, *, validate: bool = True) -> Any:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)), summed over the last axis: the VAE's regularizer.

    mu, logvar: (..., D) -> (...). Equals 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j).
    """
    _check_validate(validate)
    (mu, logvar), as_tensor = _as_tensors("mu logvar", mu, logvar)
    if validate and mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if validate and mu.ndim == 0:
        raise ValueError("mu and logvar need a last axis (the latent dimensions) to sum over")
    kl = 0.5 * (mu**2 + torch.exp(logvar) - 1 - logvar).sum(-1)
    if validate:
        # A NaN input always reaches the result, so checking the (smaller) result costs one
        # reduction; only when it fires do we look for the cause.
        with torch.no_grad():
            if torch.isnan(kl).any():
                for name, x in (("mu", mu), ("logvar", logvar)):
                    if torch.isnan(x).any():
                        raise ValueError(f"{name} contains NaN")
                raise ValueError("logvar contains +inf (an infinite variance): the KL is undefined")
    return _result(kl, as_tensor)


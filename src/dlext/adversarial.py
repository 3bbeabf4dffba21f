"""Adversarial examples: FGSM, PGD and targeted attacks under an L-infinity budget, and accuracy under attack.

For images x in [0, 1] with label y and a classifier with cross-entropy loss L(x, y):

    FGSM (Goodfellow et al., 2014):  x' = clip_[0,1](x + eps sign(grad_x L(x, y)))
    PGD  (Madry et al., 2017):       x_{t+1} = clip_[0,1](proj_eps(x_t + alpha sign(grad_x L(x_t, y))))

where proj_eps clips every pixel to [x - eps, x + eps]. A targeted attack descends L(x, target) instead.
``pgd_l2`` takes steps along g / ||g||_2 and projects onto the L2 ball ||x' - x||_2 <= eps instead.
``cw_l2`` (Carlini & Wagner, 2017) looks for the smallest L2 change that makes the model say the target t:

    minimise_w ||x' - x||_2^2 + c max(max_{j != t} z_j(x') - z_t(x'), -kappa),   x' = (tanh(w) + 1) / 2,

with Adam on w (the tanh keeps x' in [0, 1] without clipping) and a binary search on c per image.
Every attack runs the model in eval mode with its parameters frozen, then restores the model's
train/eval mode and each parameter's ``requires_grad``; no gradient ever reaches the parameters.
"""
from numbers import Real
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlext import validate as v
from dlext.validate import frozen  # eval mode, frozen weights, both restored

__all__ = ["fgsm", "pgd", "targeted", "accuracy_under_attack", "project", "pgd_l2", "cw_l2"]

Attack = Callable[[nn.Module, Tensor, Tensor, float], Tensor]


def _eps(name: str, value, upper: float | None = None) -> float:
    """A finite, non-negative float (at most ``upper``), or a TypeError/ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (value >= 0 and value != float("inf")):
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value}")
    return value


def _images(x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point batch of images (B, ...), got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"x must be a batch of images (B, ...), got shape {tuple(x.shape)}")
    if len(x) == 0 or x.numel() == 0:
        raise ValueError(f"x is an empty batch (shape {tuple(x.shape)}): there is nothing to attack")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must be images with pixels in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
    return x


def _labels(name: str, y, x: Tensor) -> Tensor:
    if isinstance(y, int) and not isinstance(y, bool):
        y = torch.full((len(x),), y, dtype=torch.long, device=x.device)
    if not isinstance(y, Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{name} must be an int or an integer tensor of class indices, got {getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != (len(x),):
        raise ValueError(f"{name} must have shape ({len(x)},) to match x of shape {tuple(x.shape)}, got {tuple(y.shape)}")
    if len(y) and int(y.min()) < 0:  # -1, or -100 (cross-entropy's ignore index: no gradient at all)
        raise ValueError(f"{name} must hold class indices >= 0, got {int(y.min())}")
    return y.to(device=x.device, dtype=torch.long)


def _model(model, x: Tensor) -> nn.Module:
    """The model, checked against the images: an nn.Module whose parameters have x's dtype."""
    v.module("model", model)
    v.input_dtype("x", x, model)
    return model


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """The nearest image to ``x_adv`` within eps of ``x`` in L-infinity and inside [0, 1] (same shape)."""
    eps = _eps("eps", eps)
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv and x must have the same shape, got {tuple(x_adv.shape)} and {tuple(x.shape)}")
    # The box [x - eps, x + eps] and [0, 1] are both per-pixel intervals, so clipping to one and then the
    # other lands in their intersection (never empty, since x itself is in [0, 1]).
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1)


def _grad(model: nn.Module, x: Tensor, labels: Tensor, name: str = "", check: bool = False) -> tuple[Tensor, Tensor]:
    """grad_x of the summed cross-entropy (shape of x) and the logits at x (B, C). Only x asks for a gradient.

    ``check`` (once per attack, not per step): the labels ``name`` must index the model's outputs.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if check:
            _classes(name, labels, logits)
        loss = F.cross_entropy(logits, labels, reduction="sum")  # sum: each image's gradient is its own
        (g,) = torch.autograd.grad(loss, x)
    return g, logits.detach()


def _classes(name: str, labels: Tensor, logits: Tensor) -> None:
    """Labels in [0, C) for logits (B, C), checked before cross-entropy (on CUDA a bad index is a device assert)."""
    if logits.ndim != 2:
        raise ValueError(f"model must output (batch, classes) logits, got shape {tuple(logits.shape)}")
    if len(labels) and int(labels.max()) >= logits.shape[1]:
        raise ValueError(f"{name} must lie in [0, {logits.shape[1]}) (the model's {logits.shape[1]} classes), "
                         f"got {int(labels.max())}")


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """One signed-gradient step of size eps up the loss of the true labels y; images (B, ...) in [0, 1]."""
    eps = _eps("eps", eps)
    x, y = _images(x), _labels("y", y, x)
    _model(model, x)
    with frozen(model):
        g, _ = _grad(model, x, y, "y", check=True)  # (B, ...)
    return (x + eps * g.sign()).clamp(0, 1).detach()


def _pgd(model: nn.Module, x: Tensor, labels: Tensor, eps: float, alpha: float, steps: int,
         random_start: bool, direction: float, generator: torch.Generator | None, early_stop: bool,
         name: str) -> Tensor:
    """Projected sign-gradient steps; direction +1 climbs the loss (untargeted), -1 descends it (targeted).

    With ``early_stop``, an image leaves the loop at the first iterate that already succeeds (another class
    than its label; or its target), read off the logits of the gradient pass, so stopping costs no extra pass.
    """
    steps = v.integer("steps", steps, 0)
    early_stop, random_start = _flag("early_stop", early_stop), _flag("random_start", random_start)
    generator = v.generator("generator", generator)
    _model(model, x)
    x_adv = x.clone()
    if random_start and eps > 0:  # a uniform point of the eps-box, so the first gradient is not taken at x
        noise = torch.rand(x.shape, generator=generator, device="cpu" if generator is None else generator.device)
        x_adv = project(x + eps * (2 * noise.to(x.device) - 1), x, eps)
    active = torch.arange(len(x), device=x.device)  # images still being attacked (all, without early_stop)
    with frozen(model):
        for step in range(steps):
            x_a, labels_a = x_adv[active], labels[active]
            g, logits = _grad(model, x_a, labels_a, name, check=step == 0)
            if early_stop:
                hit = logits.argmax(1) == labels_a if direction < 0 else logits.argmax(1) != labels_a
                if hit.all():
                    break
                keep = ~hit  # the others stay where they first succeeded
                active, x_a, g = active[keep], x_a[keep], g[keep]
            x_adv[active] = project(x_a + direction * alpha * g.sign(), x[active], eps)
    return x_adv.detach()


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, generator: torch.Generator | None = None, early_stop: bool = False) -> Tensor:
    """``steps`` FGSM steps of size alpha, each projected back into the eps-box around x and into [0, 1].

    ``early_stop=True`` keeps each image at its first iterate the model misclassifies (and skips its later
    steps): at least as many images end up misclassified, for fewer forward and backward passes.
    """
    eps, alpha = _eps("eps", eps), _eps("alpha", alpha)
    x, y = _images(x), _labels("y", y, x)
    return _pgd(model, x, y, eps, alpha, steps, random_start, +1.0, generator, early_stop, "y")


def targeted(model: nn.Module, x: Tensor, target: Tensor | int, eps: float = 0.2, alpha: float | None = None,
             steps: int = 20, random_start: bool = False, generator: torch.Generator | None = None,
             early_stop: bool = False) -> Tensor:
    """PGD that descends the cross-entropy of ``target`` (an int or (B,) classes): x' within eps of x, in [0, 1].

    ``alpha`` defaults to 2.5 eps / steps, so the steps can cross the box and come back (a rule of thumb of the
    ``robustness`` library, Engstrom et al. 2019; Madry et al. used fixed steps of 0.01 on MNIST).
    ``early_stop=True`` keeps each image at its first iterate classified as its target.
    """
    eps = _eps("eps", eps)
    steps = v.integer("steps", steps, 0)
    alpha = 2.5 * eps / max(steps, 1) if alpha is None else _eps("alpha", alpha)
    x = _images(x)
    target = _labels("target", target, x)
    return _pgd(model, x, target, eps, alpha, steps, random_start, -1.0, generator, early_stop, "target")


def accuracy_under_attack(model: nn.Module, x: Tensor, y: Tensor, attack: Attack, eps: float,
                          batch_size: int = 500, device: torch.device | str | None = None) -> float:
    """Fraction of x (N, ...) still classified as y after ``attack(model, x_batch, y_batch, eps)``.

    Batches move to ``device`` (default: where the model's first parameter is); eps = 0 skips the attack.
    """
    eps = _eps("eps", eps)
    if not callable(attack):
        raise TypeError(f"attack must be a function (model, x, y, eps) -> x_adv, got {type(attack).__name__}")
    batch_size = v.positive_int("batch_size", batch_size)
    x = _images(x)
    y = _labels("y", y, x)
    _model(model, x)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = v.device("device", device)
    correct = 0
    with frozen(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            if i == 0:  # once per call: the labels must be the model's classes (else eps = 0 counts garbage)
                with torch.no_grad():
                    _classes("y", y, model(xb[:1]))
            x_adv = attack(model, xb, yb, eps) if eps > 0 else xb
            if not isinstance(x_adv, Tensor):
                raise TypeError(f"attack must return a tensor of images, got {type(x_adv).__name__}")
            if x_adv.shape != xb.shape:
                raise ValueError(f"attack returned shape {tuple(x_adv.shape)} for a batch of shape {tuple(xb.shape)}")
            if eps > 0:
                # an "attack" that leaves the eps-ball or [0, 1] measures something else than robustness at eps
                dist, lo, hi = torch.stack([(x_adv - xb).abs().max(), x_adv.min(), x_adv.max()]).tolist()
                tol = 1e-5 * max(1.0, eps)  # float rounding of x + eps * sign(g)
                if dist > eps + tol or lo < -tol or hi > 1 + tol:
                    raise ValueError(f"attack returned images {dist:.4g} from x in L-infinity (eps is {eps}) with "
                                     f"pixels in [{lo:.3g}, {hi:.3g}]: an attack must stay within eps of x and in "
                                     "[0, 1] (use adversarial.project)")
            with torch.no_grad():
                correct += (model(x_adv).argmax(-1) == yb).sum().item()
    return correct / len(x)


def _count(name: str, value, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def _radius(eps, x: Tensor) -> Tensor:
    """eps as a (B, 1, ..., 1) tensor of non-negative finite radii: one float for all images, or one per image."""
    if isinstance(eps, Tensor):
        if eps.shape != (len(x),) or not eps.is_floating_point():
            raise ValueError(f"eps must be a float or a float tensor of shape ({len(x)},), got {eps.dtype} {tuple(eps.shape)}")
        if not (torch.isfinite(eps).all() and (eps >= 0).all()):
            raise ValueError("eps must be finite and >= 0 for every image")
        r = eps.to(device=x.device, dtype=x.dtype)
    else:
        r = torch.full((len(x),), _eps("eps", eps), device=x.device, dtype=x.dtype)
    return r.view(-1, *[1] * (x.ndim - 1))


def _l2(v: Tensor) -> Tensor:
    """The L2 norm of each image of v (B, ...) as (B, 1, ..., 1)."""
    return v.flatten(1).norm(dim=1).view(-1, *[1] * (v.ndim - 1))


def pgd_l2(model: nn.Module, x: Tensor, y: Tensor | int, eps: float | Tensor, alpha: float | None = None,
           steps: int = 20, targeted: bool = False, early_stop: bool = False) -> Tensor:
    """PGD under an L2 budget: steps of length alpha along grad / ||grad||_2, projected into ||x' - x||_2 <= eps, [0, 1].

    ``eps`` is one radius or one per image, (B,). ``targeted=True`` descends the loss of the classes ``y``
    instead of climbing it; ``early_stop=True`` keeps each image at its first successful iterate.
    ``alpha`` defaults to 2.5 eps / steps. No random start: the first step is from x itself.
    """
    x, y = _images(x), _labels("y", y, x)
    _model(model, x)
    steps = _count("steps", steps)
    if not isinstance(targeted, bool) or not isinstance(early_stop, bool):
        raise TypeError(f"targeted and early_stop must be True or False, got {targeted!r} and {early_stop!r}")
    radius = _radius(eps, x)  # (B, 1, ..., 1)
    step = 2.5 * radius / max(steps, 1) if alpha is None else torch.full_like(radius, _eps("alpha", alpha))
    direction = -1.0 if targeted else 1.0
    x_adv = x.clone()
    active = torch.arange(len(x), device=x.device)
    with frozen(model):
        for i in range(steps):
            x_a, y_a = x_adv[active], y[active]
            g, logits = _grad(model, x_a, y_a, "y", check=i == 0)
            if early_stop:
                hit = logits.argmax(1) == y_a if targeted else logits.argmax(1) != y_a
                keep = ~hit
                active, x_a, g = active[keep], x_a[keep], g[keep]
                if len(active) == 0:
                    break
            x_new = x_a + direction * step[active] * g / _l2(g).clamp_min(1e-12)
            delta = x_new - x[active]  # project onto the ball, then into [0, 1]: clipping to [0, 1]
            delta = delta * (radius[active] / _l2(delta).clamp_min(1e-12)).clamp(max=1)  # moves no pixel away from x
            x_adv[active] = (x[active] + delta).clamp(0, 1)
    return x_adv.detach()


def cw_l2(model: nn.Module, x: Tensor, target: Tensor | int, kappa: float = 0.0, c: float = 1.0,
          search_steps: int = 6, steps: int = 100, lr: float = 0.05) -> tuple[Tensor, Tensor]:
    """Carlini-Wagner L2 attack towards ``target``: the smallest successful x' found, and which images succeeded.

    For each of ``search_steps`` values of the constant c (per image: start at ``c``, halve towards the
    last failure after a success, multiply by 10 until the first success), ``steps`` Adam steps of size
    ``lr`` on w minimise ||x' - x||^2 + c max(max_{j != t} z_j - z_t, -kappa) with x' = (tanh(w) + 1) / 2.
    Returns x' (B, ...) where an iterate was classified as its target by a logit margin of at least
    max(kappa, 1e-3) (the one closest to x in L2) and x itself elsewhere, and a (B,) bool tensor of the successes.
    """
    x = _images(x)
    target = _labels("target", target, x)
    _model(model, x)
    kappa, c = _eps("kappa", kappa), _eps("c", c)
    if c == 0:
        raise ValueError("c must be > 0: with c = 0 the objective is the distance alone")
    search_steps, steps = _count("search_steps", search_steps, 1), _count("steps", steps, 1)
    lr = _eps("lr", lr)
    if lr == 0:
        raise ValueError("lr must be > 0")
    b = len(x)
    const = torch.full((b,), c, device=x.device)
    lo, hi = torch.zeros_like(const), torch.full_like(const, float("inf"))
    best = x.clone()
    best_l2 = torch.full((b,), float("inf"), device=x.device)
    w0 = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))  # x' = x at the start (up to 1e-6)
    onehot = None  # (B, C) True at the target, made once the number of classes C is known
    with frozen(model), torch.enable_grad():
        for _ in range(search_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=lr)
            won = torch.zeros(b, dtype=torch.bool, device=x.device)
            for _ in range(steps):
                x_new = (torch.tanh(w) + 1) / 2
                z = model(x_new)  # (B, C)
                if onehot is None:
                    if target.numel() and target.max() >= z.shape[1]:
                        raise ValueError(f"target must be classes below {z.shape[1]}, got {target.max().item()}")
                    onehot = F.one_hot(target, num_classes=z.shape[1]).bool()
                z_t = z[onehot]  # (B,)
                z_other = z.masked_fill(onehot, float("-inf")).amax(1)  # max_{j != t} z_j
                l2sq = (x_new - x).flatten(1).pow(2).sum(1)
                with torch.no_grad():  # keep the closest iterate classified as the target
                    # success: the target wins by at least max(kappa, 1e-3), so that the same image
                    # scored again (in another batch, rounded differently) is still the target
                    hit = (z_t - z_other) >= max(kappa, 1e-3)
                    better = hit & (l2sq.sqrt() < best_l2)
                    best[better], best_l2[better] = x_new[better].detach(), l2sq.sqrt()[better]
                    won |= hit
                loss = l2sq + const * (z_other - z_t).clamp(min=-kappa)
                opt.zero_grad()
                loss.sum().backward()  # sum: each image's w gets its own gradient
                opt.step()
            # binary search on c, per image: a success bounds c from above, a failure from below
            hi = torch.where(won, torch.minimum(hi, const), hi)
            lo = torch.where(won, lo, torch.maximum(lo, const))
            const = torch.where(torch.isinf(hi), const * 10, (lo + hi) / 2)
    return best.detach(), torch.isfinite(best_l2)

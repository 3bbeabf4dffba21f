"""Generative adversarial networks: toy and MNIST models, the losses, one training step, and helpers.

The discriminators return *logits* ``l`` (shape ``(B,)``), so ``D(x) = sigmoid(l)`` and every
log-probability below is a numerically safe ``softplus``: ``-log D = softplus(-l)`` and
``-log(1 - D) = softplus(l)``.
"""
import copy
import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dlext import validate as v

__all__ = ["Generator", "Discriminator", "DCGenerator", "DCDiscriminator", "ConditionalDCGenerator",
           "ConditionalDCDiscriminator", "discriminator_loss", "generator_loss", "train_step",
           "train_step_conditional", "ema_copy", "ema_update", "refresh_batchnorm", "sample", "ring_of_gaussians",
           "modes_covered", "grad_reverse"]

GENERATOR_LOSSES = ("non-saturating", "saturating")


class Generator(nn.Module):
    """MLP generator for 2-D toys: noise (B, latent_dim) -> points (B, data_dim)."""

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 64):
        super().__init__()
        for name, n in (("latent_dim", latent_dim), ("data_dim", data_dim), ("hidden", hidden)):
            v.positive_int(name, n)
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, data_dim))

    def forward(self, z: Tensor) -> Tensor:
        v.tensor("z", z, shape=(None, self.latent_dim), dtype="float", nonempty=False, finite=False)
        return self.net(z)


class Discriminator(nn.Module):
    """MLP discriminator for 2-D toys: points (B, data_dim) -> logits (B,)."""

    def __init__(self, data_dim: int = 2, hidden: int = 64):
        super().__init__()
        v.positive_int("data_dim", data_dim)
        v.positive_int("hidden", hidden)
        self.data_dim = data_dim
        self.net = nn.Sequential(nn.Linear(data_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        v.tensor("x", x, shape=(None, self.data_dim), dtype="float", nonempty=False, finite=False)
        return self.net(x).squeeze(-1)


class DCGenerator(nn.Module):
    """DCGAN generator: noise (B, latent_dim) -> images (B, 1, 28, 28) in [0, 1].

    A linear layer makes a (2w, 7, 7) map, two stride-2 transposed convolutions double it to 14 and
    28 pixels; BatchNorm after the hidden layers (Radford et al., 2016) and a sigmoid at the end.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, num_classes: int = 0):
        super().__init__()
        v.positive_int("latent_dim", latent_dim)
        v.positive_int("width", width)
        v.integer("num_classes", num_classes, 0)
        self.latent_dim, self.width, self.num_classes = latent_dim, width, num_classes
        self.project = nn.Sequential(nn.Linear(latent_dim + num_classes, 2 * width * 49, bias=False),
                                     nn.BatchNorm1d(2 * width * 49), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # (B, w, 14, 14)
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
            nn.Sigmoid())

    def forward(self, z: Tensor) -> Tensor:
        v.tensor("z", z, dtype="float", nonempty=False, finite=False)
        if z.ndim != 2 or z.shape[1] != self.latent_dim + self.num_classes:
            raise ValueError(f"expected noise of shape (B, {self.latent_dim + self.num_classes}), got {tuple(z.shape)}")
        h = self.project(z).view(-1, 2 * self.width, 7, 7)  # (B, 2w, 7, 7)
        return self.up(h)


class DCDiscriminator(nn.Module):
    """DCGAN discriminator: images (B, 1, 28, 28) -> logits (B,); ``features`` gives the (B, 2w*49) code."""

    def __init__(self, width: int = 32):
        super().__init__()
        v.positive_int("width", width)
        self.width = width
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (B, 2w, 7, 7)
            nn.Flatten())
        self.head = nn.Linear(2 * width * 49, 1)

    def features(self, x: Tensor) -> Tensor:
        """Images (B, 1, 28, 28) -> features (B, 2w*49)."""
        v.tensor("x", x, dtype="float", nonempty=False, finite=False)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(-1)


class ConditionalDCGenerator(DCGenerator):
    """Conditional DCGAN generator: (noise (B, latent_dim), labels (B,)) -> images (B, 1, 28, 28).

    The label enters as a one-hot vector appended to the noise (the simplest form of Mirza & Osindero's 2014 conditioning,
    who embedded the noise and the label separately and joined the two hidden layers).
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, num_classes: int = 10):
        super().__init__(latent_dim, width, v.positive_int("num_classes", num_classes))

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        v.tensor("z", z, shape=(None, self.latent_dim), dtype="float", nonempty=False, finite=False)
        v.labels("labels", labels, self.num_classes, length=len(z))
        return super().forward(torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1))


class ConditionalDCDiscriminator(DCDiscriminator):
    """Projection discriminator (Miyato & Koyama, 2018): logit = w·h + embed(y)·h for features h."""

    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__(width)
        self.num_classes = v.positive_int("num_classes", num_classes)
        self.embed = nn.Embedding(num_classes, 2 * width * 49)
        nn.init.zeros_(self.embed.weight)  # starts as the unconditional discriminator

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = self.features(x)  # (B, 2w*49)
        v.labels("labels", labels, self.num_classes, length=len(x))
        return self.head(h).squeeze(-1) + (self.embed(labels) * h).sum(dim=1)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's cross-entropy, -log D(x) - log(1 - D(G(z))), averaged over the batch."""
    v.tensor("real_logits", real_logits, dtype="float")
    v.tensor("fake_logits", fake_logits, dtype="float")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor, kind: str = "non-saturating") -> Tensor:
    """Generator loss: "saturating" minimises log(1 - D(G(z))), "non-saturating" minimises -log D(G(z))."""
    v.tensor("fake_logits", fake_logits, dtype="float")
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {GENERATOR_LOSSES}, got {type(kind).__name__} {kind!r}")
    if kind == "saturating":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    if kind == "non-saturating":
        return F.softplus(-fake_logits).mean()  # -log sigmoid(l) = softplus(-l)
    raise ValueError(f"kind must be one of {GENERATOR_LOSSES}, got {kind!r}")


def _check_steps(k: int, m: int) -> None:
    v.positive_int("d_steps", k)
    v.positive_int("g_steps", m)


def train_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               real: Tensor, *, d_steps: int = 1, g_steps: int = 1, loss: str = "non-saturating",
               labels: Tensor | None = None) -> dict[str, float]:
    """One round of the GAN algorithm: ``d_steps`` discriminator updates, then ``g_steps`` generator updates.

    Every step draws fresh noise for a batch the size of ``real`` (which is already on the models'
    device). With ``labels`` (B,), G and D are called as ``G(z, labels)`` and ``D(x, labels)``.
    Returns the last losses and D's mean output on real and generated data.
    """
    v.module("G", G)
    v.module("D", D)
    if not isinstance(getattr(G, "latent_dim", None), int):
        raise TypeError(f"G must have an int attribute latent_dim (the noise width), got {type(G).__name__}")
    for name, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"{name} must be a torch.optim.Optimizer, got {type(opt).__name__}")
    v.tensor("real", real, dtype="float")
    _check_steps(d_steps, g_steps)
    v.choice("loss", loss, GENERATOR_LOSSES)
    if labels is not None:
        v.labels("labels", labels, getattr(G, "num_classes", None) or None, length=len(real))
    cond = () if labels is None else (labels,)
    z_shape = (len(real), G.latent_dim)
    for _ in range(d_steps):  # K discriminator steps: ascend V(D, G)
        with torch.no_grad():
            fake = G(torch.randn(z_shape, device=real.device), *cond)
        real_logits, fake_logits = D(real, *cond), D(fake, *cond)
        d_loss = discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    for _ in range(g_steps):  # M generator steps: fool the (now fixed) discriminator
        fake_logits_g = D(G(torch.randn(z_shape, device=real.device), *cond), *cond)
        g_loss = generator_loss(fake_logits_g, loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()  # also fills D's gradients; opt_d.zero_grad clears them before D's next step
        opt_g.step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}


def train_step_conditional(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                           real: Tensor, labels: Tensor, **kwargs) -> dict[str, float]:
    """:func:`train_step` for a conditional GAN: both networks also see the class ``labels`` (B,)."""
    v.tensor("real", real, nonempty=False, finite=False)
    v.tensor("labels", labels, dtype="int", nonempty=False)
    if labels.shape != (len(real),):
        raise ValueError(f"labels must have shape ({len(real)},), got {tuple(labels.shape)}")
    return train_step(G, D, opt_g, opt_d, real, labels=labels, **kwargs)


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` to hold an exponential moving average of its weights."""
    v.module("model", model)
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float = 0.999) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta; buffers (BatchNorm statistics) are copied."""
    v.module("ema", ema)
    v.module("model", model)
    decay = v.number("decay", decay, 0.0, 1.0, high_open=True)
    for kind, a, b in (("parameters", ema.named_parameters(), model.named_parameters()),
                       ("buffers", ema.named_buffers(), model.named_buffers())):
        shapes_a = [(n, tuple(t.shape)) for n, t in a]
        shapes_b = [(n, tuple(t.shape)) for n, t in b]
        if shapes_a != shapes_b:  # zip would silently pair the wrong tensors, or stop early
            diff = next(((x, y) for x, y in zip(shapes_a, shapes_b) if x != y), (len(shapes_a), len(shapes_b)))
            raise ValueError(f"ema and model must have the same architecture; their {kind} differ: {diff}")
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.to(p_ema.device), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _check_generator(G: nn.Module) -> nn.Module:
    v.module("G", G)
    if isinstance(getattr(G, "latent_dim", None), bool) or not isinstance(getattr(G, "latent_dim", None), int):
        raise TypeError(f"G must have an int attribute latent_dim (the noise width), got {type(G).__name__}")
    return G


def refresh_batchnorm(G: nn.Module, *, device: torch.device, batches: int = 4, batch_size: int = 500) -> None:
    """Recompute G's BatchNorm statistics for its current weights (after :func:`ema_update`), from fresh noise.

    Every BatchNorm's momentum, G's train/eval mode and G's device are as they were afterwards.
    """
    _check_generator(G)
    device = v.device("device", device)
    batches, batch_size = v.positive_int("batches", batches), v.positive_int("batch_size", batch_size)
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    modes = [(m, m.training) for m in G.modules()]
    home = next((t.device for t in (*G.parameters(), *G.buffers())), None)
    try:
        with torch.no_grad():
            G.to(device).train()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # a plain average over the batches below
            for _ in range(batches):
                z = torch.randn(batch_size, G.latent_dim, device=device)
                if isinstance(G, ConditionalDCGenerator):
                    G(z, torch.randint(G.num_classes, (batch_size,), device=device))
                else:
                    G(z)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, mode in modes:
            m.training = mode
        if home is not None:
            G.to(home)


def sample(G: nn.Module, n: int, *, device: torch.device, labels: Tensor | None = None,
           z: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """``n`` samples of G in eval mode, returned on the CPU; ``labels`` (n,) for a conditional G.

    G's train/eval mode and device are restored afterwards.
    """
    _check_generator(G)
    n = v.positive_int("n", n)
    device = v.device("device", device)
    z = torch.randn(n, G.latent_dim) if z is None else v.tensor("z", z, shape=(n, G.latent_dim), dtype="float")
    if labels is not None:
        v.labels("labels", labels, getattr(G, "num_classes", None) or None, length=n)
    elif isinstance(G, ConditionalDCGenerator):
        raise ValueError("labels must be given for a conditional generator, got None")

    def generate(idx: Tensor) -> Tensor:  # idx: (b,) row numbers of this batch
        idx = idx.cpu()
        cond = () if labels is None else (labels[idx.to(labels.device)].to(device),)
        return G(z[idx.to(z.device)].to(device), *cond)

    return v.batched(G, torch.arange(n), generate, device=device, batch_size=batch_size)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points (n, 2) from ``modes`` Gaussians evenly spaced on a circle, and the centres (modes, 2)."""
    n, modes = v.positive_int("n", n), v.positive_int("modes", modes)
    radius, std = v.number("radius", radius, 0.0), v.number("std", std, 0.0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    angles = torch.arange(modes) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (modes, 2)
    which = torch.randint(modes, (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator), centres


def modes_covered(points: Tensor, centres: Tensor, std: float = 0.05, min_share: float = 0.02) -> int:
    """How many centres have at least ``min_share`` of the points within 3 std of them (points (n, d), centres (m, d))."""
    points = v.tensor("points", points, ndim=2, dtype="float")  # no points cover no mode
    centres = v.tensor("centres", centres, ndim=2, dtype="float")
    if points.shape[1] != centres.shape[1]:
        raise ValueError(f"points and centres must have the same width, got {tuple(points.shape)} and {tuple(centres.shape)}")
    if points.device != centres.device:
        raise ValueError(f"points and centres must be on one device, got {points.device} and {centres.device}")
    std = v.number("std", std, 0.0, low_open=True)
    min_share = v.number("min_share", min_share, 0.0, 1.0, low_open=True)
    dist = torch.cdist(points, centres)  # (n, modes)
    near, idx = dist.min(dim=1)
    counts = torch.bincount(idx[near < 3 * std], minlength=len(centres))
    return int((counts >= min_share * len(points)).sum())


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.scale * grad, None


def grad_reverse(x: Tensor, scale: float = 1.0) -> Tensor:
    """Identity on the way forward, gradient times -scale on the way back (Ganin & Lempitsky, 2015)."""
    v.tensor("x", x, nonempty=False, finite=False)
    scale = v.number("scale", scale)
    return _GradReverse.apply(x, scale)


# --- Telling mode collapse from samples that are simply off the ring (the toy of the GAN chapter) ---

__all__ += ["ring_diagnostics"]


def ring_diagnostics(points: Tensor, centres: Tensor, std: float = 0.05, min_share: float = 0.02,
                     ring_width: float = 0.25) -> dict[str, float | int | bool]:
    """Where a toy generator's samples (n, 2) lie relative to a ring of modes (modes, 2) centred at 0.

    Returns ``modes`` (``modes_covered``), ``on_ring`` (share of points whose radius is within
    ``ring_width`` of the ring's), ``sectors`` (how many of the modes' equal angular sectors hold at
    least ``min_share`` of the points, whatever their radius), ``collapsed`` (the points occupy at most
    a quarter of the sectors: the mass sits in few directions) and ``off_ring`` (not collapsed, and
    fewer than half of the points near the ring: spread out but not where the data is).
    """
    if not (isinstance(points, Tensor) and points.ndim == 2 and points.shape[1] == 2 and len(points)):
        raise ValueError(f"points must be a non-empty (n, 2) tensor, got {getattr(points, 'shape', type(points))}")
    if not (isinstance(centres, Tensor) and centres.ndim == 2 and centres.shape[1] == 2 and len(centres) >= 2):
        raise ValueError(f"centres must be a (modes, 2) tensor with modes >= 2, got {getattr(centres, 'shape', type(centres))}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    if not ring_width > 0:
        raise ValueError(f"ring_width must be positive, got {ring_width!r}")
    points, centres = points.float().cpu(), centres.float().cpu()
    radius = centres.norm(dim=1).mean()
    on_ring = ((points.norm(dim=1) - radius).abs() < ring_width).float().mean().item()
    # the sector of a point is the mode whose direction is nearest to its own (angle only)
    cos = nn.functional.normalize(points, dim=1) @ nn.functional.normalize(centres, dim=1).T  # (n, modes)
    counts = torch.bincount(cos.argmax(dim=1), minlength=len(centres))
    sectors = int((counts >= min_share * len(points)).sum())
    collapsed = sectors <= len(centres) // 4
    return {"modes": modes_covered(points, centres, std=std, min_share=min_share), "on_ring": on_ring,
            "sectors": sectors, "collapsed": collapsed, "off_ring": (not collapsed) and on_ring < 0.5}

"""Autoencoders for 28x28 images: MLP and convolutional autoencoders, a VAE, and their losses.

Images are (B, 1, 28, 28) or flat (B, 784) tensors with values in [0, 1]; every model returns
its reconstruction (or logits) with the shape of its input.
"""
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from dlext import kl
from dlext import validate as v
from dlext.train import fit

__all__ = ["MLPAutoencoder", "ConvAutoencoder", "VAE", "vae_loss", "train_autoencoder", "train_vae",
           "reconstruct", "reconstruction_mse", "negative_elbo", "precision_at_k"]

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


def _check_images(x: Tensor, name: str = "x") -> Tensor:
    """Images (B, 1, 28, 28) or (B, 784), floating point; only their type and shape (cheap, per batch)."""
    v.tensor(name, x, dtype="float", nonempty=False, finite=False)
    if tuple(x.shape[1:]) not in (IMAGE_SHAPE, (N_PIXELS,)):
        raise ValueError(f"{name}: expected images shaped (B, 1, 28, 28) or (B, 784), got {tuple(x.shape)}")
    return x


def _check_dataset(X: Tensor) -> Tensor:
    """A whole image set: images, not empty, finite."""
    _check_images(X, "X")
    return v.tensor("X", X)


def _check_dim(name: str, value: int) -> None:
    v.positive_int(name, value)


class MLPAutoencoder(nn.Module):
    """Images (B, 784) or (B, 1, 28, 28) -> codes (B, code_dim) -> reconstructions in [0, 1].

    ``hidden`` lists the encoder's hidden widths (the decoder mirrors them). ``linear=True``
    drops every nonlinearity, the output sigmoid included: the linear autoencoder that PCA solves.
    """

    def __init__(self, code_dim: int, hidden: Sequence[int] = (512, 128), linear: bool = False):
        super().__init__()
        _check_dim("code_dim", code_dim)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden must be a sequence of widths, got {type(hidden).__name__} {hidden!r}")
        for h in hidden:
            _check_dim("every hidden width", h)
        v.flag("linear", linear)
        self.code_dim, self.linear = code_dim, linear
        widths = [N_PIXELS, *hidden, code_dim]

        def stack(sizes: list[int]) -> list[nn.Module]:
            layers: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
                layers.append(nn.Linear(a, b))
                if not linear and i < len(sizes) - 2:  # no activation on the code or output layer
                    layers.append(nn.ReLU())
            return layers

        self.encoder = nn.Sequential(*stack(widths))
        self.decoder = nn.Sequential(*stack(widths[::-1]), *([] if linear else [nn.Sigmoid()]))

    def encode(self, x: Tensor) -> Tensor:
        """(B, 784) or (B, 1, 28, 28) -> (B, code_dim)."""
        _check_images(x)
        return self.encoder(x.reshape(len(x), N_PIXELS))

    def decode(self, z: Tensor) -> Tensor:
        """(B, code_dim) -> (B, 1, 28, 28)."""
        v.tensor("z", z, shape=(None, self.code_dim), dtype="float", nonempty=False, finite=False)
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


class ConvAutoencoder(nn.Module):
    """Images (B, 1, 28, 28) -> two stride-2 convolutions -> codes (B, code_dim) -> transposed convolutions."""

    def __init__(self, code_dim: int, channels: tuple[int, int] = (16, 32)):
        super().__init__()
        _check_dim("code_dim", code_dim)
        if not (isinstance(channels, Sequence) and len(channels) == 2):
            raise TypeError(f"channels must be a pair of ints, got {channels!r}")
        c1, c2 = (v.positive_int(f"channels[{i}]", c) for i, c in enumerate(channels))
        self.code_dim = code_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),   # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # (B, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 7 * 7, code_dim))          # (B, code_dim)
        self.decoder = nn.Sequential(
            nn.Linear(code_dim, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())  # (B, 1, 28, 28)

    def encode(self, x: Tensor) -> Tensor:
        """(B, 784) or (B, 1, 28, 28) -> (B, code_dim)."""
        _check_images(x)
        return self.encoder(x.reshape(len(x), *IMAGE_SHAPE))

    def decode(self, z: Tensor) -> Tensor:
        """(B, code_dim) -> (B, 1, 28, 28)."""
        v.tensor("z", z, shape=(None, self.code_dim), dtype="float", nonempty=False, finite=False)
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


class VAE(nn.Module):
    """A Bernoulli-decoder MLP VAE: 784 -> hidden -> (mu, logvar) in R^latent_dim -> hidden -> 784 logits."""

    def __init__(self, latent_dim: int = 20, hidden: int = 400):
        super().__init__()
        _check_dim("latent_dim", latent_dim)
        _check_dim("hidden", hidden)
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(N_PIXELS, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, N_PIXELS))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 784) or (B, 1, 28, 28) -> mu, logvar, each (B, latent_dim): q(z|x) = N(mu, diag(exp(logvar)))."""
        _check_images(x)
        h = self.encoder(x.reshape(len(x), N_PIXELS))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_dim) -> Bernoulli logits (B, 1, 28, 28); ``.sigmoid()`` gives pixel means."""
        v.tensor("z", z, shape=(None, self.latent_dim), dtype="float", nonempty=False, finite=False)
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x -> (x_logits shaped like x, mu, logvar), with z = mu + sigma * eps (the reparameterization)."""
        mu, logvar = self.encode(x)
        # The noise comes from the CPU's generator and moves to mu's device: a run on a GPU draws the same noise as
        # one on a CPU with the same seed (on a CPU this is exactly randn_like(mu)).
        eps = torch.randn(mu.shape, dtype=mu.dtype).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps  # gradients reach mu and logvar through z
        return self.decode(z).reshape(x.shape), mu, logvar


def vae_loss(x: Tensor, x_logits: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Negative ELBO in nats: Bernoulli cross-entropy summed over pixels + KL(q(z|x) || N(0, I)), batch mean."""
    v.tensor("x", x, dtype="float")
    for name, t in (("x_logits", x_logits), ("mu", mu), ("logvar", logvar)):
        v.tensor(name, t, dtype="float", finite=False)  # diverged logits give an inf loss; kl checks mu, logvar
    if x.shape != x_logits.shape:
        raise ValueError(f"x and x_logits must have the same shape, got {tuple(x.shape)} and {tuple(x_logits.shape)}")
    if mu.shape != logvar.shape or len(mu) != len(x):
        raise ValueError(f"mu and logvar must both be (B, D) with B = {len(x)}, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    # -E_q[log p(x|z)], estimated with one sample of z: BCE summed over every pixel of each image
    rec = nn.functional.binary_cross_entropy_with_logits(x_logits, x, reduction="none").reshape(len(x), -1).sum(1)
    return (rec + kl.kl_to_standard_normal(mu, logvar)).mean()


def train_autoencoder(model: nn.Module, X: Tensor, *, device: torch.device, epochs: int = 1,
                      batch_size: int = 128, lr: float = 1e-3,
                      corrupt: Callable[[Tensor], Tensor] | None = None, l1: float = 0.0,
                      progress: bool = True, desc: str = "autoencoder") -> list[float]:
    """Minimise the mean squared reconstruction error of X with Adam; returns every batch's loss.

    ``corrupt`` (a denoising autoencoder) maps a clean batch to the input the model sees; the target
    stays clean. ``l1`` adds ``l1 * mean |code|`` (a sparse autoencoder's penalty on its code).
    """
    v.module("model", model)
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"model must have encode and decode methods (an autoencoder), got {type(model).__name__}")
    X = _check_dataset(X)
    device = v.device("device", device)
    if corrupt is not None and not callable(corrupt):
        raise TypeError(f"corrupt must be callable or None, got {type(corrupt).__name__}")
    l1 = v.number("l1", l1, 0.0)
    model.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        x = X[idx].to(device)
        code = model.encode(corrupt(x) if corrupt is not None else x)
        loss = nn.functional.mse_loss(model.decode(code).reshape(x.shape), x)
        return loss + l1 * code.abs().mean() if l1 else loss

    return fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size, lr=lr,
               progress=progress, desc=desc)


def train_vae(model: VAE, X: Tensor, *, device: torch.device, epochs: int = 1, batch_size: int = 128,
              lr: float = 1e-3, progress: bool = True, desc: str = "VAE") -> list[float]:
    """Minimise ``vae_loss`` on X with Adam; returns every batch's negative ELBO (nats per image)."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a dlext.autoencoders.VAE, got {type(model).__name__}")
    X = _check_dataset(X)
    device = v.device("device", device)
    model.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        x = X[idx].to(device)
        return vae_loss(x, *model(x))

    return fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size, lr=lr,
               progress=progress, desc=desc)


def _reconstruction(model: nn.Module, x: Tensor) -> Tensor:
    """The model's reconstruction of x, shaped like x: a VAE's forward returns (logits, mu, logvar),
    so for a VAE it is the Bernoulli mean of the decoder at z = mu (the deterministic reconstruction)."""
    if isinstance(model, VAE):
        mu, _ = model.encode(x)
        return model.decode(mu).sigmoid().reshape(x.shape)
    out = model(x)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        got = type(out).__name__ if not isinstance(out, Tensor) else tuple(out.shape)
        raise ValueError(f"model must return a reconstruction shaped like its input {tuple(x.shape)}, got {got}")
    return out


def reconstruct(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> Tensor:
    """The model's reconstructions of X, in eval mode, on the CPU (for a VAE: sigmoid(decode(mu)))."""
    v.module("model", model)
    X = _check_dataset(X)
    device = v.device("device", device)
    return v.batched(model, X, lambda x: _reconstruction(model, x), device=device, batch_size=batch_size)


def reconstruction_mse(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> float:
    """Mean squared error per pixel of the model's reconstructions of X."""
    X_hat = reconstruct(model, X, device=device, batch_size=batch_size)  # on the CPU
    return nn.functional.mse_loss(X_hat, X.cpu()).item()


def negative_elbo(model: VAE, X: Tensor, *, device: torch.device, batch_size: int = 1000,
                  generator: torch.Generator | None = None) -> float:
    """The VAE's negative ELBO on X in nats per image (one z sample per image), in eval mode.

    The model's mode and device are restored afterwards; ``generator`` (a CPU generator) draws the noise.
    """
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a dlext.autoencoders.VAE, got {type(model).__name__}")
    X = _check_dataset(X)
    device = v.device("device", device)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    def batch_total(x: Tensor) -> Tensor:
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=generator).to(device)
        x_logits = model.decode(mu + torch.exp(0.5 * logvar) * eps).reshape(x.shape)
        # float64 on the CPU (Apple's MPS has no float64): (1,), this batch's sum
        return (vae_loss(x, x_logits, mu, logvar).cpu().double() * len(x)).reshape(1)

    return v.batched(model, X, batch_total, device=device, batch_size=batch_size).sum().item() / len(X)


def precision_at_k(queries: Tensor, query_labels: Tensor, database: Tensor, database_labels: Tensor,
                   k: int = 10, metric: str = "euclidean", batch_size: int = 1000) -> float:
    """Mean fraction of each query's k nearest database items that share its label.

    ``metric``: "euclidean" for real vectors, "hamming" for 0/1 codes (ties broken by database index).
    """
    v.choice("metric", metric, ("euclidean", "hamming"))
    queries, database = v.tensor("queries", queries, ndim=2), v.tensor("database", database, ndim=2)
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"queries and database must have the same width, got {tuple(queries.shape)} and {tuple(database.shape)}")
    if queries.device != database.device:
        raise ValueError(f"queries and database must be on one device, got {queries.device} and {database.device}")
    query_labels, database_labels = v.labels("query_labels", query_labels), v.labels("database_labels", database_labels)
    v.same_length(queries=queries, query_labels=query_labels)
    v.same_length(database=database, database_labels=database_labels)
    k = v.integer("k", k, 1, len(database))
    batch_size = v.positive_int("batch_size", batch_size)
    if metric == "hamming" and not all(bool(((t == 0) | (t == 1)).all()) for t in (queries, database)):
        raise ValueError("metric='hamming' needs 0/1 codes in queries and database (threshold real codes first)")
    query_labels, database_labels = query_labels.to(queries.device), database_labels.to(queries.device)
    database = database.float()
    hits = 0.0
    for i in range(0, len(queries), batch_size):
        q = queries[i:i + batch_size].float()
        if metric == "hamming":  # bits that differ = |q| + |d| - 2 q.d for 0/1 vectors
            d = q.sum(1, keepdim=True) + database.sum(1) - 2 * q @ database.T  # (b, N), whole numbers
            # distance * N + index orders by distance, then by index: ties broken the same way every run
            # (exact in float64), and a top-k selection is much cheaper than sorting every row
            d = d.round().double() * len(database) + torch.arange(len(database), device=d.device)
        else:
            d = torch.cdist(q, database)  # (b, N)
        nearest = d.topk(k, dim=1, largest=False, sorted=False).indices  # (b, k)
        hits += (database_labels[nearest] == query_labels[i:i + batch_size, None]).float().sum().item()
    return hits / (len(queries) * k)


# --- Binarized MNIST and an importance-weighted likelihood bound (for the VAE chapter) ---------------

__all__ += ["binarize", "importance_weighted_nll"]


def binarize(X: Tensor, seed: int) -> Tensor:
    """A fixed, seeded binarization: each pixel is 1 with probability its grey level (same shape, 0/1 floats)."""
    if not isinstance(X, Tensor) or not X.is_floating_point():
        raise TypeError(f"X must be a float tensor of grey levels, got {type(X).__name__}")
    if X.numel() and (X.min() < 0 or X.max() > 1):
        raise ValueError(f"X must hold grey levels in [0, 1], got values in [{X.min().item():.3g}, {X.max().item():.3g}]")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return torch.bernoulli(X.cpu(), generator=torch.Generator().manual_seed(seed)).to(X.device)


@torch.no_grad()
def importance_weighted_nll(model: VAE, X: Tensor, *, k: int, device: torch.device, batch_size: int = 100,
                            generator: torch.Generator | None = None) -> float:
    """Importance-weighted estimate of -log p(x) in nats per image, with k samples of q(z|x) per image.

    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x): an upper bound on -log p(x) in
    expectation that tightens as k grows; k = 1 is the negative ELBO. The model's mode is restored.
    """
    X = _check_dataset(X)  # non-empty, finite images
    _check_dim("k", k)
    _check_dim("batch_size", batch_size)
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a dlext.autoencoders.VAE, got {type(model).__name__}")
    log2pi = torch.log(torch.tensor(2 * torch.pi))
    total = 0.0
    with v.evaluating(model, device):  # eval mode, no autograd; mode and device restored after
        for i in range(0, len(X), batch_size):
            x = X[i:i + batch_size].to(device).reshape(-1, N_PIXELS)  # (B, 784)
            mu, logvar = model.encode(x)  # (B, D) each
            eps = torch.randn((k, *mu.shape), generator=generator).to(device)  # (k, B, D)
            z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, D)
            logits = model.decode(z.reshape(-1, mu.shape[1])).reshape(k, len(x), N_PIXELS)  # (k, B, 784)
            log_px_z = -nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none").sum(2)  # (k, B)
            log_pz = -0.5 * (z**2 + log2pi.to(z.device)).sum(2)  # (k, B)
            log_qz = -0.5 * (eps**2 + logvar + log2pi.to(z.device)).sum(2)  # (k, B)
            log_w = log_px_z + log_pz - log_qz  # (k, B)
            log_px = torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(k)))  # (B,)
            total += -log_px.sum().item()
    return total / len(X)

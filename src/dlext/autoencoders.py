"""Autoencoders for 28x28 images: MLP and convolutional autoencoders, a VAE, and their losses.

Images are (B, 1, 28, 28) or flat (B, 784) tensors with values in [0, 1]; every model returns
its reconstruction (or logits) with the shape of its input.
"""
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from dlext import kl
from dlext.train import fit

__all__ = ["MLPAutoencoder", "ConvAutoencoder", "VAE", "vae_loss", "train_autoencoder", "train_vae",
           "reconstruct", "reconstruction_mse", "negative_elbo", "precision_at_k"]

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


def _check_images(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a tensor of images, got {type(x).__name__}")
    if tuple(x.shape[1:]) not in (IMAGE_SHAPE, (N_PIXELS,)):
        raise ValueError(f"expected images shaped (B, 1, 28, 28) or (B, 784), got {tuple(x.shape)}")


def _check_dim(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class MLPAutoencoder(nn.Module):
    """Images (B, 784) or (B, 1, 28, 28) -> codes (B, code_dim) -> reconstructions in [0, 1].

    ``hidden`` lists the encoder's hidden widths (the decoder mirrors them). ``linear=True``
    drops every nonlinearity, the output sigmoid included: the linear autoencoder that PCA solves.
    """

    def __init__(self, code_dim: int, hidden: Sequence[int] = (512, 128), linear: bool = False):
        super().__init__()
        _check_dim("code_dim", code_dim)
        for h in hidden:
            _check_dim("every hidden width", h)
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
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


class ConvAutoencoder(nn.Module):
    """Images (B, 1, 28, 28) -> two stride-2 convolutions -> codes (B, code_dim) -> transposed convolutions."""

    def __init__(self, code_dim: int, channels: tuple[int, int] = (16, 32)):
        super().__init__()
        _check_dim("code_dim", code_dim)
        c1, c2 = channels
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
        return self.decoder(z).reshape(len(z), *IMAGE_SHAPE)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x -> (x_logits shaped like x, mu, logvar), with z = mu + sigma * eps (the reparameterization)."""
        mu, logvar = self.encode(x)
        eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps  # gradients reach mu and logvar through z
        return self.decode(z).reshape(x.shape), mu, logvar


def vae_loss(x: Tensor, x_logits: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Negative ELBO in nats: Bernoulli cross-entropy summed over pixels + KL(q(z|x) || N(0, I)), batch mean."""
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
    model.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        x = X[idx].to(device)
        return vae_loss(x, *model(x))

    return fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size, lr=lr,
               progress=progress, desc=desc)


@torch.no_grad()
def reconstruct(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> Tensor:
    """The model's reconstructions of X, in eval mode, on the CPU."""
    model.to(device).eval()
    return torch.cat([model(X[i:i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)])


def reconstruction_mse(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> float:
    """Mean squared error per pixel of the model's reconstructions of X."""
    return nn.functional.mse_loss(reconstruct(model, X, device=device, batch_size=batch_size), X).item()


@torch.no_grad()
def negative_elbo(model: VAE, X: Tensor, *, device: torch.device, batch_size: int = 1000,
                  generator: torch.Generator | None = None) -> float:
    """The VAE's negative ELBO on X in nats per image (one z sample per image), in eval mode."""
    model.to(device).eval()
    total = 0.0
    for i in range(0, len(X), batch_size):
        x = X[i:i + batch_size].to(device)
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=generator).to(device)
        x_logits = model.decode(mu + torch.exp(0.5 * logvar) * eps).reshape(x.shape)
        total += vae_loss(x, x_logits, mu, logvar).item() * len(x)
    return total / len(X)


def precision_at_k(queries: Tensor, query_labels: Tensor, database: Tensor, database_labels: Tensor,
                   k: int = 10, metric: str = "euclidean", batch_size: int = 1000) -> float:
    """Mean fraction of each query's k nearest database items that share its label.

    ``metric``: "euclidean" for real vectors, "hamming" for 0/1 codes (ties broken by index).
    """
    if metric not in ("euclidean", "hamming"):
        raise ValueError(f"metric must be 'euclidean' or 'hamming', got {metric!r}")
    if len(queries) != len(query_labels) or len(database) != len(database_labels):
        raise ValueError("each set of vectors needs one label per row")
    if not 0 < k <= len(database):
        raise ValueError(f"k must be in [1, {len(database)}], got {k}")
    database = database.float()
    hits = 0.0
    for i in range(0, len(queries), batch_size):
        q = queries[i:i + batch_size].float()
        if metric == "hamming":  # bits that differ = |q| + |d| - 2 q.d for 0/1 vectors
            d = q.sum(1, keepdim=True) + database.sum(1) - 2 * q @ database.T
        else:
            d = torch.cdist(q, database)
        # a stable sort keeps equal distances in database order, so ties are broken the same way every run
        nearest = d.argsort(dim=1, stable=True)[:, :k]
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
    _check_images(X)
    _check_dim("k", k)
    _check_dim("batch_size", batch_size)
    was_training = model.training
    model.to(device).eval()
    log2pi = torch.log(torch.tensor(2 * torch.pi))
    total = 0.0
    try:
        for i in range(0, len(X), batch_size):
            x = X[i:i + batch_size].to(device).reshape(-1, N_PIXELS)  # (B, 784)
            mu, logvar = model.encode(x)  # (B, D) each
            eps = torch.randn((k, *mu.shape), generator=generator).to(device)  # (k, B, D)
            z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, D)
            logits = model.decode(z.reshape(-1, mu.shape[1])).reshape(k, len(x), N_PIXELS)  # (k, B, 784)
            log_px_z = -nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none").sum(2)  # (k, B)
            log_pz = -0.5 * (z**2 + log2pi).sum(2)  # (k, B)
            log_qz = -0.5 * (eps**2 + logvar + log2pi).sum(2)  # (k, B)
            log_w = log_px_z + log_pz - log_qz  # (k, B)
            log_px = torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(k)))  # (B,)
            total += -log_px.sum().item()
    finally:
        model.train(was_training)
    return total / len(X)

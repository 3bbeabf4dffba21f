"""A plain mini-batch training loop, and accuracy for classifiers, shared by several chapters."""
from typing import Callable, Iterator

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm


def batches(n: int, batch_size: int, shuffle: bool = True,
            generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Index tensors that split ``range(n)`` into mini-batches (the last one may be smaller)."""
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)


def fit(model: nn.Module, n: int, batch_loss: Callable[[Tensor], Tensor], *, epochs: int = 1,
        batch_size: int = 128, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
        progress: bool = True, desc: str = "training") -> list[float]:
    """Mini-batch training of ``model`` on examples ``0..n-1``; returns the loss of every mini-batch.

    ``batch_loss(idx)`` computes the loss of the examples ``idx`` (it moves them to the device);
    each epoch visits the examples in a new random order. Uses Adam(lr) unless an optimizer is given.
    """
    if not (isinstance(epochs, int) and epochs > 0):
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    model.train()
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    with tqdm(total=epochs * -(-n // batch_size), desc=desc, disable=not progress) as bar:
        for _ in range(epochs):
            for idx in batches(n, batch_size):
                loss = batch_loss(idx)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return losses


def train_classifier(model: nn.Module, X: Tensor, y: Tensor, *, device: torch.device,
                     epochs: int = 1, batch_size: int = 128, lr: float = 1e-3,
                     optimizer: torch.optim.Optimizer | None = None,
                     progress: bool = True, desc: str = "training") -> list[float]:
    """Train ``model`` with cross-entropy on (X, y); returns the loss of every mini-batch.

    Uses Adam(lr) unless an optimizer is given. X and y stay where they are; each batch is moved
    to ``device``, so a CPU dataset can feed a GPU model.
    """
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    model.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        return nn.functional.cross_entropy(model(X[idx].to(device)), y[idx].to(device))

    return fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size, lr=lr,
               optimizer=optimizer, progress=progress, desc=desc)


@torch.no_grad()
def predict_proba(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> Tensor:
    """Softmax class probabilities (N, C) for X, computed in eval mode, returned on the CPU."""
    model.to(device).eval()
    return torch.cat([model(X[i:i + batch_size].to(device)).softmax(-1).cpu()
                      for i in range(0, len(X), batch_size)])


def accuracy(model: nn.Module, X: Tensor, y: Tensor, *, device: torch.device, batch_size: int = 1000) -> float:
    """Fraction of X whose most probable class equals y."""
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    return (predict_proba(model, X, device=device, batch_size=batch_size).argmax(-1) == y.cpu()).float().mean().item()

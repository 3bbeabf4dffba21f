"""A plain mini-batch training loop, and accuracy for classifiers, shared by several chapters."""
from typing import Callable, Iterator

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dlext import validate as v


def batches(n: int, batch_size: int, shuffle: bool = True,
            generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Index tensors that split ``range(n)`` into mini-batches (the last one may be smaller).

    Arguments are checked at the call, not at the first ``next`` (this is not a generator function).
    """
    n, batch_size = v.integer("n", n, 0), v.positive_int("batch_size", batch_size)
    v.flag("shuffle", shuffle)
    v.generator("generator", generator)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return iter(order.split(batch_size))


def fit(model: nn.Module, n: int, batch_loss: Callable[[Tensor], Tensor], *, epochs: int = 1,
        batch_size: int = 128, lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
        progress: bool = True, desc: str = "training", clip_norm: float | None = None) -> list[float]:
    """Mini-batch training of ``model`` on examples ``0..n-1``; returns the loss of every mini-batch.

    ``batch_loss(idx)`` computes the loss of the examples ``idx`` (it moves them to the device);
    each epoch visits the examples in a new random order. Uses Adam(lr) unless an optimizer is given.
    With ``clip_norm``, each step's gradient is rescaled to at most that norm (over all parameters) first.
    The model is left in train mode (training is what the caller asked for).
    """
    v.module("model", model)
    n = v.positive_int("n (the number of training examples)", n)
    if not callable(batch_loss):
        raise TypeError(f"batch_loss must be callable, got {type(batch_loss).__name__}")
    epochs, batch_size = v.positive_int("epochs", epochs), v.positive_int("batch_size", batch_size)
    lr = v.number("lr", lr, 0.0, low_open=True)
    if optimizer is not None:
        v.optimizer("optimizer", optimizer, model)  # an optimizer over another model would train nothing here
    v.flag("progress", progress)
    if clip_norm is not None:
        clip_norm = v.number("clip_norm", clip_norm, 0.0, low_open=True)
    model.train()
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    with tqdm(total=epochs * -(-n // batch_size), desc=desc, disable=not progress) as bar:
        for _ in range(epochs):
            for idx in batches(n, batch_size):
                loss = batch_loss(idx)
                opt.zero_grad()
                loss.backward()
                if clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                opt.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return losses


def train_classifier(model: nn.Module, X: Tensor, y: Tensor, *, device: torch.device,
                     epochs: int = 1, batch_size: int = 128, lr: float = 1e-3,
                     optimizer: torch.optim.Optimizer | None = None,
                     progress: bool = True, desc: str = "training", clip_norm: float | None = None) -> list[float]:
    """Train ``model`` with cross-entropy on (X, y); returns the loss of every mini-batch.

    Uses Adam(lr) unless an optimizer is given; ``clip_norm`` as in :func:`fit`. X and y stay where they are; each batch is moved
    to ``device``, so a CPU dataset can feed a GPU model (which stays on ``device``, in train mode).
    """
    v.module("model", model)
    X = v.tensor("X", X)
    v.input_dtype("X", X, model)
    y = v.labels("y", y)
    v.same_length(X=X, y=y)
    device = v.device("device", device)
    if optimizer is not None:
        v.optimizer("optimizer", optimizer, model)
    v.class_labels("y", y, model, X, device=device)  # labels against the model's outputs (one example run)
    model.to(device)

    def batch_loss(idx: Tensor) -> Tensor:
        return nn.functional.cross_entropy(model(X[idx].to(device)), y[idx].to(device))

    return fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size, lr=lr,
               optimizer=optimizer, progress=progress, desc=desc, clip_norm=clip_norm)


def predict_proba(model: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> Tensor:
    """Softmax class probabilities (N, C) for X, computed in eval mode, returned on the CPU.

    The model's train/eval mode and device are restored afterwards.
    """
    v.module("model", model)
    X = v.tensor("X", X)
    v.input_dtype("X", X, model)
    device = v.device("device", device)
    first = [True]

    def proba(x: Tensor) -> Tensor:
        logits = model(x)
        if first[0]:  # once per call: a model that already ends in softmax would be squeezed twice
            v.logits("model", logits)
            first[0] = False
        return logits.softmax(-1)

    return v.batched(model, X, proba, device=device, batch_size=batch_size)


def accuracy(model: nn.Module, X: Tensor, y: Tensor, *, device: torch.device, batch_size: int = 1000) -> float:
    """Fraction of X whose most probable class equals y (labels shaped (N,))."""
    X = v.tensor("X", X)
    y = v.labels("y", y)  # (N, 1) labels would broadcast against (N,) predictions to an (N, N) table
    v.same_length(X=X, y=y)
    probs = predict_proba(model, X, device=device, batch_size=batch_size)  # (N, C)
    v.labels("y", y, probs.shape[1])  # a label beyond the model's classes would count as a silent error
    return (probs.argmax(-1) == y.cpu()).float().mean().item()

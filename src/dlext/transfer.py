"""Learning from little data: reuse a pretrained CNN on new classes, pseudo-label, augment.

The network is the course's small MNIST CNN (``sample_quality.MNISTClassifier``); its body has
three weight layers, ``LAYERS`` in order, and transfer replaces its head with a new one.
"""
import copy
import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dlext import train
from dlext import validate as v
from dlext.sample_quality import MNISTClassifier

__all__ = ["LAYERS", "digit_subset", "per_class_sample", "make_model", "make_optimizer", "fit_steps",
           "random_affine", "add_noise", "rotate180", "pseudo_labels", "balanced_pseudo_labels", "confusion_rate"]

LAYERS = ("conv1", "conv2", "fc")  # the weight layers of MNISTClassifier.body, input to output
_BODY_INDEX = {"conv1": 0, "conv2": 3, "fc": 7}  # where each sits in the nn.Sequential body


def digit_subset(X: Tensor, y: Tensor, digits: list[int]) -> tuple[Tensor, Tensor]:
    """The examples whose label is in ``digits``, relabelled 0..len(digits)-1 in that order."""
    v.tensor("X", X, finite=False)
    v.labels("y", y)  # class indices >= 0: -1 ("unlabelled") would index the lookup table from its end
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not isinstance(digits, (list, tuple)):
        raise TypeError(f"digits must be a list of ints, got {type(digits).__name__} {digits!r}")
    digits = [v.integer(f"digits[{i}]", d, 0) for i, d in enumerate(digits)]
    if not digits or len(set(digits)) != len(digits):
        raise ValueError(f"digits must be a non-empty list without repeats, got {digits!r}")
    lookup = torch.full((int(max(max(digits), y.max())) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(digits)] = torch.arange(len(digits))
    new = lookup[y]  # (N,), -1 for digits not asked for
    keep = new >= 0
    return X[keep], new[keep]


def per_class_sample(y: Tensor, n_per_class: int, generator: torch.Generator | None = None) -> Tensor:
    """Indices (C * n_per_class,) of ``n_per_class`` examples of each class in y, drawn without repeats."""
    v.labels("y", y)
    n_per_class = v.positive_int("n_per_class", n_per_class)
    generator = v.generator("generator", generator)
    picks = []
    for c in y.unique():
        members = (y == c).nonzero().squeeze(1)
        if len(members) < n_per_class:
            raise ValueError(f"class {int(c)} has only {len(members)} examples, fewer than n_per_class={n_per_class}")
        picks.append(members[torch.randperm(len(members), generator=generator)[:n_per_class]])
    return torch.cat(picks)


def make_model(num_classes: int, pretrained: MNISTClassifier | None = None, freeze_up_to: int = 0) -> MNISTClassifier:
    """A copy of ``pretrained`` (or a freshly initialised CNN) with a new head of ``num_classes`` outputs.

    The first ``freeze_up_to`` weight layers of the body (``LAYERS``) get ``requires_grad=False``;
    ``pretrained`` itself is never changed.
    """
    num_classes = v.integer("num_classes", num_classes, 2)
    freeze_up_to = v.integer("freeze_up_to", freeze_up_to, 0, len(LAYERS))
    if pretrained is None:
        if freeze_up_to:
            raise ValueError("freezing layers of a randomly initialised network makes no sense; pass pretrained")
        model = MNISTClassifier()
    elif isinstance(pretrained, MNISTClassifier):
        model = copy.deepcopy(pretrained).cpu()
    else:
        raise TypeError(f"pretrained must be an MNISTClassifier or None, got {type(pretrained).__name__}")
    # the new head in the body's precision: a float64 pretrained network stays float64 throughout
    model.head = nn.Linear(model.head.in_features, num_classes, dtype=model.head.weight.dtype)
    for p in model.parameters():
        p.requires_grad_(True)
    for name in LAYERS[:freeze_up_to]:
        model.body[_BODY_INDEX[name]].requires_grad_(False)
    return model


def make_optimizer(model: MNISTClassifier, lr: float, body_lr: float | None = None) -> torch.optim.Adam:
    """Adam over the trainable parameters: the head at ``lr``, the body at ``body_lr`` (default ``lr``)."""
    if not (isinstance(model, nn.Module) and hasattr(model, "body") and hasattr(model, "head")):
        raise TypeError(f"model must be an MNISTClassifier (a module with body and head), got {type(model).__name__}")
    lr = v.number("lr (a positive learning rate)", lr, 0, low_open=True)
    if body_lr is not None:
        body_lr = v.number("body_lr (a positive learning rate)", body_lr, 0, low_open=True)
    body = [p for p in model.body.parameters() if p.requires_grad]
    groups = [{"params": list(model.head.parameters()), "lr": lr}]
    if body:
        groups.append({"params": body, "lr": lr if body_lr is None else body_lr})
    return torch.optim.Adam(groups, lr=lr)


def fit_steps(model: nn.Module, X: Tensor, y: Tensor, *, steps: int, batch_size: int,
              optimizer: torch.optim.Optimizer, device: torch.device,
              augment: Callable[[Tensor], Tensor] | None = None,
              weight: Tensor | None = None) -> list[float]:
    """Train with cross-entropy for about ``steps`` mini-batches (whole epochs, at least ``steps``).

    ``augment`` maps a batch of inputs (B, ...) on ``device`` to a perturbed batch of the same shape;
    it runs afresh on every batch. ``weight`` (N,), if given, multiplies each example's loss (the batch
    loss is the mean of the weighted losses), e.g. a smaller weight for pseudo-labelled examples.
    Uses ``train.fit``, so each epoch sees the examples in a new order.
    """
    v.module("model", model)
    v.tensor("X", X)
    v.input_dtype("X", X, model)
    v.labels("y", y)
    v.same_length(X=X, y=y)
    steps, batch_size = v.positive_int("steps", steps), v.positive_int("batch_size", batch_size)
    v.optimizer("optimizer", optimizer, model)
    device = v.device("device", device)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a function of a batch or None, got {type(augment).__name__}")
    if weight is not None:
        v.tensor("weight", weight, ndim=1, dtype="float")
        if len(weight) != len(X):
            raise ValueError(f"weight must have one entry per example ({len(X)}), got {len(weight)}")
        if (weight < 0).any():
            raise ValueError("weight must be >= 0 for every example (a negative weight would maximise that loss)")
    v.class_labels("y", y, model, X, device=device)  # labels against the model's outputs (one example run)
    model.to(device)
    epochs = math.ceil(steps / math.ceil(len(X) / batch_size))

    def batch_loss(idx: Tensor) -> Tensor:
        xb = X[idx].to(device)
        if augment is not None:
            xb = augment(xb)
        if weight is None:
            return F.cross_entropy(model(xb), y[idx].to(device))
        losses = F.cross_entropy(model(xb), y[idx].to(device), reduction="none")  # (B,)
        return (weight[idx].to(device=device, dtype=losses.dtype) * losses).mean()

    return train.fit(model, len(X), batch_loss, epochs=epochs, batch_size=batch_size,
                     optimizer=optimizer, progress=False)


def random_affine(x: Tensor, max_degrees: float = 0.0, max_shift: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """Rotate each image (B, C, H, W) by a uniform angle in +-max_degrees and shift it by up to max_shift pixels."""
    max_degrees, max_shift = v.number("max_degrees", max_degrees, 0), v.number("max_shift", max_shift, 0)
    v.tensor("x (images B, C, H, W)", x, ndim=4, dtype="float", finite=False)
    generator = v.generator("generator", generator)
    B, _, H, W = x.shape
    u = torch.rand(B, 3, generator=generator).to(x.device) * 2 - 1  # (B, 3) uniform in [-1, 1]
    angle = u[:, 0] * math.radians(max_degrees)
    cos, sin = angle.cos(), angle.sin()
    # affine_grid maps output to input coordinates in [-1, 1], x scaled by W / 2 and y by H / 2: a rotation
    # by `angle` in pixels is D R D^-1 there, D = diag(2 / W, 2 / H) (R itself would shear a non-square
    # image), and a shift of s pixels is 2 s / size
    theta = torch.stack([torch.stack([cos, -sin * H / W, u[:, 1] * 2 * max_shift / W], 1),
                         torch.stack([sin * W / H, cos, u[:, 2] * 2 * max_shift / H], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def add_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """Add Gaussian pixel noise of standard deviation ``std`` to images in [0, 1] and clip to [0, 1].

    Pixels outside [0, 1] (0..255 bytes, normalized images) are refused for a CPU ``x``; on another device
    the range is not read back (this runs on every training batch), so check the data once beforehand.
    """
    std = v.number("std", std, 0)
    v.tensor("x", x, dtype="float", finite=False)
    generator = v.generator("generator", generator)
    if x.device.type == "cpu":
        v.pixels("x", x)
    return (x + std * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)


def rotate180(x: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Turn each image (B, C, H, W) upside down (a 180-degree rotation) with probability p."""
    p = v.probability("p (a probability)", p)
    v.tensor("x", x, ndim=4, finite=False)
    generator = v.generator("generator", generator)
    flip = (torch.rand(len(x), generator=generator) < p).to(x.device)  # (B,)
    return torch.where(flip[:, None, None, None], x.flip(-2, -1), x)


def pseudo_labels(probs: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Rows of ``probs`` (N, C) whose top probability is at least ``threshold``: their indices and argmax labels."""
    v.tensor("probs", probs, ndim=2, dtype="float", nonempty=False)
    threshold = v.probability("threshold", threshold)
    v.probabilities("probs", probs)  # logits would be thresholded as if they were confidences
    confidence, labels = probs.max(1)
    keep = (confidence >= threshold).nonzero().squeeze(1)
    return keep, labels[keep]


def balanced_pseudo_labels(probs: Tensor, per_class: int) -> tuple[Tensor, Tensor]:
    """For each class, the ``per_class`` rows of ``probs`` (N, C) predicted as it with the highest confidence.

    Returns their indices (sorted) and argmax labels; a class predicted for fewer rows keeps them all.
    """
    v.tensor("probs", probs, ndim=2, dtype="float", nonempty=False)
    per_class = v.positive_int("per_class", per_class)
    v.probabilities("probs", probs)
    confidence, labels = probs.max(1)
    picks = []
    for c in range(probs.shape[1]):
        members = (labels == c).nonzero().squeeze(1)  # rows predicted as class c
        picks.append(members[confidence[members].argsort(descending=True, stable=True)[:per_class]])
    keep = torch.cat(picks).sort().values
    return keep, labels[keep]


def confusion_rate(pred: Tensor, y: Tensor, a: int, b: int) -> float:
    """Share of the examples of classes a and b that are predicted as the other one of the two."""
    v.tensor("pred", pred, ndim=1, dtype="int")
    v.tensor("y", y, ndim=1, dtype="int")
    a, b = v.integer("a", a, 0), v.integer("b", b, 0)
    if a == b:
        raise ValueError(f"a and b must be two different classes, got a = b = {a} (that would be class {a}'s accuracy)")
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {tuple(pred.shape)} and {tuple(y.shape)}")
    pair = (y == a) | (y == b)
    if not pair.any():
        raise ValueError(f"y holds no example of class {a} or {b}")
    swapped = ((y == a) & (pred == b)) | ((y == b) & (pred == a))
    return swapped.sum().item() / pair.sum().item()

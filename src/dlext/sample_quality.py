"""Measure a generator of MNIST digits with a classifier: class coverage, confidence, Frechet distance.

The Frechet distance between two Gaussians N(mu1, S1) and N(mu2, S2) is

    d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)

and FID (Heusel et al., 2017) evaluates it on Inception features of samples and real images.
Here the features are the penultimate layer of a small MNIST classifier trained in the chapter,
so numbers are comparable only between runs that use the same classifier.
"""
import numpy as np
import torch
from torch import Tensor, nn

from dlext import validate as v
from dlext.layers import MaxPool2d

__all__ = ["MNISTClassifier", "gaussian_frechet", "frechet_rounding_bound", "frechet_distance", "features", "sample_quality"]


class MNISTClassifier(nn.Module):
    """A small CNN: images (B, 1, 28, 28) -> logits (B, 10); ``features`` is the (B, feature_dim) layer before.

    Its pooling is :class:`dlext.layers.MaxPool2d`: ``nn.MaxPool2d``'s numbers, computed faster on a CPU.
    """

    def __init__(self, feature_dim: int = 64):
        super().__init__()
        v.positive_int("feature_dim", feature_dim)
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), MaxPool2d(2),  # (B, 32, 7, 7)
            nn.Flatten(), nn.Linear(32 * 49, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: Tensor) -> Tensor:
        """Images (B, 1, 28, 28) -> features (B, feature_dim)."""
        v.tensor("x", x, dtype="float", nonempty=False, finite=False)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must be images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _array(name: str, a, ndim: int) -> np.ndarray:
    """``a`` (an array, a tensor, nested numbers) as a float64 array of at least ``ndim`` dimensions."""
    if isinstance(a, Tensor):
        a = a.detach().cpu()
    try:
        arr = np.asarray(a)
    except Exception as err:
        raise TypeError(f"{name} must be an array of real numbers, got {type(a).__name__}") from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got {type(a).__name__} of dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    return np.atleast_2d(arr) if ndim == 2 else np.atleast_1d(arr)


def _sqrt_psd(S: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def _check_covariance(name: str, S: np.ndarray) -> None:
    """A covariance is symmetric positive semi-definite, up to float64 rounding relative to its size."""
    scale = max(np.abs(S).max(), np.finfo(np.float64).tiny)
    if not np.allclose(S, S.T, rtol=0, atol=1e-10 * scale):
        raise ValueError(f"{name} must be a symmetric covariance matrix")
    lowest = np.linalg.eigvalsh(S).min()
    if lowest < -1e-10 * scale * len(S):
        raise ValueError(f"{name} must be positive semi-definite; its smallest eigenvalue is {lowest:.3g}")


def frechet_rounding_bound(S1: np.ndarray, S2: np.ndarray) -> float:
    """How far float64 rounding can move ``gaussian_frechet`` for these covariances (d, d).

    An eigenvalue of S1^1/2 S2 S1^1/2 that should be 0 comes out as about +-(d eps |M|), with
    |M| <= |S1| |S2| (spectral norms), and its square root as sqrt(d eps |M|): with d such
    eigenvalues (covariances of features that copy each other are singular) the cross term moves by
    up to 2 d sqrt(d eps |M|). The traces themselves are exact to about eps times their size.
    """
    S1, S2 = _array("S1", S1, 2), _array("S2", S2, 2)
    if S1.ndim != 2 or S1.shape != S2.shape or S1.shape[0] != S1.shape[1]:
        raise ValueError(f"S1 and S2 must be square matrices of one size, got {S1.shape} and {S2.shape}")
    for name, S in (("S1", S1), ("S2", S2)):
        if S.size == 0:
            raise ValueError(f"{name} is empty (shape {S.shape}): a covariance of at least one feature is needed")
        if not np.isfinite(S).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        _check_covariance(name, S)
    d, eps = len(S1), np.finfo(np.float64).eps
    m = np.linalg.norm(S1, 2) * np.linalg.norm(S2, 2)
    return float(2 * d * np.sqrt(d * eps * m) + 1e3 * eps * (abs(np.trace(S1)) + abs(np.trace(S2))))


def gaussian_frechet(mu1: np.ndarray, S1: np.ndarray, mu2: np.ndarray, S2: np.ndarray) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2); never negative.

    The formula subtracts two nearly equal traces when the Gaussians are close, and the square roots
    of eigenvalues that should be zero turn float64 rounding eps into sqrt(eps), so the result can
    fall slightly below zero (-1.9e-9 was seen for identical, singular 2-D covariances). A squared
    distance is never negative: within ``frechet_rounding_bound`` it is returned as 0, and below it
    ``ArithmeticError`` is raised. Covariances that are not symmetric positive semi-definite, and
    non-finite inputs, raise ``ValueError``.
    """
    mu1, mu2 = _array("mu1", mu1, 1), _array("mu2", mu2, 1)
    S1, S2 = _array("S1", S1, 2), _array("S2", S2, 2)
    if mu1.ndim != 1 or mu1.shape != mu2.shape or S1.shape != S2.shape or S1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; covariances {S1.shape}, {S2.shape}")
    if len(mu1) == 0:
        raise ValueError("mu1 is empty: the Gaussians need at least one dimension")
    for name, a in (("mu1", mu1), ("S1", S1), ("mu2", mu2), ("S2", S2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    _check_covariance("S1", S1)
    _check_covariance("S2", S2)
    # tr((S1^1/2 S2 S1^1/2)^1/2): the middle matrix is symmetric PSD, so its square root's trace is
    # the sum of the square roots of its eigenvalues (the same as scipy.linalg.sqrtm(S1 @ S2), but stable).
    r1 = _sqrt_psd(S1)
    eig = np.linalg.eigvalsh(r1 @ S2 @ r1)
    cross = np.sqrt(np.clip(eig, 0, None)).sum()
    d2 = float(((mu1 - mu2) ** 2).sum() + np.trace(S1) + np.trace(S2) - 2 * cross)
    rounding = frechet_rounding_bound(S1, S2)
    if d2 < -rounding:
        raise ArithmeticError(f"Frechet distance came out at {d2:.3g}, below its rounding bound -{rounding:.3g}")
    return max(d2, 0.0)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, d) and (M, d)."""
    v.tensor("feats_a", feats_a, dtype="float", nonempty=False)
    v.tensor("feats_b", feats_b, dtype="float", nonempty=False)
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"expected (N, d) and (M, d) features, got {tuple(feats_a.shape)} and {tuple(feats_b.shape)}")
    if min(len(feats_a), len(feats_b)) < 2:
        raise ValueError("need at least 2 rows in each feature set to estimate a covariance")
    a, b = feats_a.detach().double().cpu().numpy(), feats_b.detach().double().cpu().numpy()
    return gaussian_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _check_classifier(classifier: nn.Module) -> nn.Module:
    v.module("classifier", classifier)
    if not (callable(getattr(classifier, "features", None)) and callable(getattr(classifier, "head", None))):
        raise TypeError(f"classifier must have features and head (like MNISTClassifier), got {type(classifier).__name__}")
    return classifier


def features(classifier: nn.Module, X: Tensor, *, device: torch.device, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """The classifier's penultimate features (N, d) and softmax probabilities (N, 10), on the CPU.

    Computed in eval mode; the classifier's mode and device are restored afterwards.
    """
    _check_classifier(classifier)
    X = v.tensor("X", X, dtype="float")
    v.input_dtype("X", X, classifier)
    device = v.device("device", device)

    first = [True]

    def both(x: Tensor) -> tuple[Tensor, Tensor]:
        h = classifier.features(x)  # (B, d)
        logits = classifier.head(h)
        if first[0]:  # once per call: a head that already ends in softmax would be squeezed twice
            v.logits("classifier", logits)
            first[0] = False
        return h, logits.softmax(-1)  # (B, d), (B, 10)

    return v.batched(classifier, X, both, device=device, batch_size=batch_size)


def sample_quality(samples: Tensor, classifier: nn.Module, *, device: torch.device, real: Tensor | None = None,
                   labels: Tensor | None = None, min_share: float = 0.05) -> dict:
    """Judge generated digits (N, 1, 28, 28) with a classifier that has ``features`` and ``head``.

    Returns ``coverage`` (classes predicted for at least ``min_share`` of the samples), ``max_share``
    (the largest class's share), ``confidence`` (mean top softmax probability), ``counts`` (10,),
    ``frechet`` (to ``real`` images, if given) and ``label_acc`` (agreement with requested ``labels``).
    """
    v.tensor("samples", samples, dtype="float")
    v.pixels("samples", samples)  # the classifier was trained on [0, 1] digits: [-1, 1] or 0..255 misjudge silently
    _check_classifier(classifier)
    min_share = v.number("min_share", min_share, 0.0, 1.0, low_open=True)
    if real is not None:
        v.tensor("real", real, dtype="float")
        v.pixels("real", real)
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, 28, 28):
        raise ValueError(f"expected samples of shape (N, 1, 28, 28), got {tuple(samples.shape)}")
    if labels is not None:
        v.tensor("labels", labels, dtype="int", nonempty=False)
    if labels is not None and labels.shape != (len(samples),):
        raise ValueError(f"labels must have shape ({len(samples)},), got {tuple(labels.shape)}")
    feats, probs = features(classifier, samples, device=device)
    if labels is not None:
        v.labels("labels", labels, probs.shape[1])  # against the classifier's classes
    confidence, predicted = probs.max(dim=1)
    counts = torch.bincount(predicted, minlength=probs.shape[1])
    share = counts.float() / len(samples)
    out = {"coverage": int((share >= min_share).sum()), "max_share": share.max().item(),
           "confidence": confidence.mean().item(), "counts": counts}
    if real is not None:
        out["frechet"] = frechet_distance(feats, features(classifier, real, device=device)[0])
    if labels is not None:
        out["label_acc"] = (predicted == labels.cpu()).float().mean().item()
    return out

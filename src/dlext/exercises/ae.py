"""Self-checks for the autoencoder chapter's exercises."""
import secrets

import numpy as np
import torch
from sklearn.decomposition import PCA

from dlext.exercises._guards import count_torch_calls, off_limits
from dlext.homework import CheckFailure, expect, expect_close, question

# Exercise 2 asks for PCA from scratch; scikit-learn's has it done (an expert read passed with it)
_PCA_DONE_FOR_YOU = ((PCA, "fit"), (PCA, "fit_transform"), (PCA, "_fit"))  # _fit: an expert read passed with it


@question("ae.q1", points=1)
def _linear_ae_error(answer):
    """Error of the best 1-D linear autoencoder, from the covariance eigenvalues."""
    # eigenvalues 4, 1, 0.25: a 1-D code keeps the top direction and loses the other two variances
    expect_close(answer, (1 + 0.25) / 3, "the mean squared error per coordinate", rtol=1e-3, reveal=False)


def _pca_reference(X: np.ndarray, k: int) -> np.ndarray:
    mean = X.mean(0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    V = Vt[:k].T  # (D, k) top principal directions
    return (X - mean) @ V @ V.T + mean


@question("ae.q2", points=2)
def _pca_reconstruct(fn):
    """PCA reconstruction from the top-k principal components."""
    rng = np.random.default_rng(7)
    for n, d, k in [(50, 6, 2), (200, 10, 3), (30, 5, 1)]:
        X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)  # correlated, not centred
        expected = _pca_reference(X, k)  # before the call, from the check's own array
        with off_limits(*_PCA_DONE_FOR_YOU, why="pca_reconstruct calls scikit-learn's PCA.{name}: centre X and find the "
                                               "principal directions yourself (np.linalg.svd or an eigendecomposition)"):
            got = np.asarray(fn(X.copy(), k), dtype=float)
        expect(got.shape == X.shape, f"pca_reconstruct(X, {k}) for X of shape {X.shape} should return that shape, got {got.shape}")
        expect(np.allclose(got, expected, atol=1e-6),
               f"pca_reconstruct(X, {k}) does not match the projection onto the top {k} principal components "
               f"(did you centre X and add the mean back?)")
    X = rng.normal(size=(20, 4))
    expect(np.allclose(np.asarray(fn(X.copy(), 4), dtype=float), X, atol=1e-6),
           "with k = D every point should come back unchanged")


def _gain(variance: float, noise_std: float) -> float:
    """The optimal linear denoiser's gain along a direction: variance / (variance + noise variance)."""
    return variance / (variance + noise_std**2)


@question("ae.q3", points=1)
def _predicted_gains(answer):
    """Predict the optimal linear denoiser's gains along a strong and a weak direction."""
    try:
        strong, weak = answer
    except (TypeError, ValueError):
        raise CheckFailure("set predicted_gains to a pair of numbers (gain along a strong direction, "
                           "gain along a weak one)") from None
    # strong: std 2 (variance 4), weak: std 0.1 (variance 0.01), noise_std 0.5 (variance 0.25)
    expect_close(strong, _gain(4.0, 0.5), "the gain along a strong direction (std 2)", rtol=1e-3, reveal=False)
    expect_close(weak, _gain(0.01, 0.5), "the gain along a weak direction (std 0.1)", rtol=1e-3, reveal=False)


def _random_directions(basis: torch.Tensor, columns: slice, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random unit vectors (rows) in the span of ``basis[:, columns]``."""
    c = torch.randn(n, basis[:, columns].shape[1], generator=gen)
    return (c / c.norm(dim=1, keepdim=True)) @ basis[:, columns].T  # (n, 10)


@question("ae.q4", points=2)
def _denoising_gain(fn):
    """An over-complete linear autoencoder, plain and denoising, on data near a 2-D subspace."""
    g = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(10, 10, generator=g))[0]  # orthonormal columns
    # strong signal (std 2) along basis[:, :2], weak (std 0.1) along the other 8 directions
    X = (torch.randn(1000, 10, generator=g) * torch.tensor([2.0, 2.0] + [0.1] * 8)) @ basis.T
    # The model is probed along random directions of each subspace, drawn afresh for every check: a model
    # that recognises the basis vectors (or any inputs fixed in advance) cannot answer them. For a linear
    # map M, the mean of v^T M v over random unit v in a subspace is the mean gain along its basis vectors.
    probe = torch.Generator().manual_seed(secrets.randbits(62))
    directions = {"strong": _random_directions(basis, slice(0, 2), 32, probe),
                  "weak": _random_directions(basis, slice(2, 10), 64, probe)}
    gains, images = {}, {}
    # The prompt asks for 2,000 Adam steps, each a gradient: a re-read passed with the closed form plus random jitter.
    gradients = count_torch_calls(names=("backward", "grad"))
    for noise_std, seed in ((0.0, 0), (0.5, 0), (0.5, 1)):
        torch.manual_seed(seed)
        with gradients:
            model = fn(X.clone(), 20, noise_std)  # a private copy of the data
        gains[noise_std, seed] = {}
        with torch.no_grad():
            for name, v in directions.items():
                out = model(v.clone()) - model(torch.zeros(1, 10))  # the image of each direction, bias removed
                images[noise_std, seed, name] = torch.as_tensor(out).detach().clone()
                gains[noise_std, seed][name] = float((images[noise_std, seed, name] * v).sum(1).mean())
    plain, denoise = gains[0.0, 0], gains[0.5, 0]
    # Trained with fresh noise each step, two seeds end at slightly different weights; a model written down in closed
    # form (the optimal linear denoiser, which an expert read loaded into the two layers) is the same for every seed.
    expect(not torch.equal(images[0.5, 0, "weak"], images[0.5, 1, "weak"]),
           "with noise_std = 0.5, train_linear_ae returned exactly the same model under two different random seeds: "
           "the prompt asks you to train it, by Adam on inputs with fresh noise each step, not to write the answer down")
    expect(gradients.calls >= 3 * 1000,
           f"train_linear_ae computed {gradients.calls} gradient(s) in its three calls: train each model, by full-batch "
           "Adam for 2,000 steps (a loss.backward() each), as the prompt says, rather than writing the weights down")
    expect(plain["weak"] > 0.7, f"the plain over-complete autoencoder should pass weak directions almost unchanged "
                                f"(gain near 1), got a mean gain of {plain['weak']:.2f}; train longer?")
    # the optimal linear denoiser's gains are variance / (variance + 0.25): 0.038 (weak), 0.94 (strong). 2,000 Adam
    # steps got within 0.002 (weak) and 0.02 (strong) of them on the solution (seeds 0 and 1). The tolerances, 0.02 and
    # 0.04, stay well clear of that and still refuse a clean-input autoencoder squeezed to the strong directions (gains
    # 0 and 1: an expert read passed 0.1 with it, a model that never denoises)
    expect(abs(denoise["weak"] - _gain(0.01, 0.5)) < 0.02,
           f"with noise_std = 0.5 the weak directions should be damped to the optimal linear denoiser's gain, "
           f"got a mean gain of {denoise['weak']:.2f}")
    expect(abs(denoise["strong"] - _gain(4.0, 0.5)) < 0.04,
           f"with noise_std = 0.5 the strong directions should mostly pass, at the optimal linear denoiser's gain, "
           f"got a mean gain of {denoise['strong']:.2f}")

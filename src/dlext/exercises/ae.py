"""Self-checks for the autoencoder chapter's exercises."""
import numpy as np
import torch

from dlext.homework import CheckFailure, expect, expect_close, question


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
        got = np.asarray(fn(X, k), dtype=float)
        expect(got.shape == X.shape, f"pca_reconstruct(X, {k}) for X of shape {X.shape} should return that shape, got {got.shape}")
        expect(np.allclose(got, _pca_reference(X, k), atol=1e-6),
               f"pca_reconstruct(X, {k}) does not match the projection onto the top {k} principal components "
               f"(did you centre X and add the mean back?)")
    X = rng.normal(size=(20, 4))
    expect(np.allclose(np.asarray(fn(X, 4), dtype=float), X, atol=1e-6), "with k = D every point should come back unchanged")


@question("ae.q3", points=3)
def _denoising_gain(answer):
    """An over-complete linear autoencoder, plain and denoising, on data near a 2-D subspace."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise CheckFailure("pass (train_linear_ae, interpretation) to check")
    fn, interpretation = answer
    g = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(10, 10, generator=g))[0]  # orthonormal columns
    # strong signal (std 2) along basis[:, :2], weak (std 0.1) along the other 8 directions
    X = (torch.randn(1000, 10, generator=g) * torch.tensor([2.0, 2.0] + [0.1] * 8)) @ basis.T
    gains = {}
    for noise_std in (0.0, 0.5):
        torch.manual_seed(0)
        model = fn(X, 20, noise_std)
        with torch.no_grad():
            out = model(basis.T)  # the image of each basis direction
        gains[noise_std] = (out * basis.T).sum(1)  # how much of each direction comes back
    plain, denoise = gains[0.0], gains[0.5]
    expect(plain[2:].mean() > 0.7, f"the plain over-complete autoencoder should pass weak directions almost unchanged "
                                   f"(gain near 1), got a mean gain of {plain[2:].mean():.2f}; train longer?")
    expect(denoise[2:].mean() < 0.3, f"with noise_std = 0.5 the weak directions should be damped (gain near "
                                     f"0.01 / (0.01 + 0.25) = 0.04), got {denoise[2:].mean():.2f}")
    expect(denoise[:2].mean() > 0.8, f"with noise_std = 0.5 the strong directions should mostly pass "
                                     f"(gain near 4 / 4.25 = 0.94), got {denoise[:2].mean():.2f}")
    expect(interpretation in ("a", "b", "c"), f"interpretation should be 'a', 'b' or 'c', got {interpretation!r}")
    expect(interpretation == "b", "the interpretation does not match what your gains show; compare them again")

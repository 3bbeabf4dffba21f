"""dlext.sample_quality: the Frechet distance against closed forms and SciPy, and the sample report."""
import numpy as np
import pytest
import scipy.linalg
import torch

from dlext.sample_quality import (MNISTClassifier, frechet_distance, frechet_rounding_bound, gaussian_frechet,
                                  sample_quality)


def _random_cov(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T + 0.1 * np.eye(d)


def test_gaussian_frechet_diagonal_closed_form():
    # For diagonal covariances the distance is |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert gaussian_frechet(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


def test_gaussian_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for d in (2, 5, 20):
        mu1, mu2, S1, S2 = rng.standard_normal(d), rng.standard_normal(d), _random_cov(rng, d), _random_cov(rng, d)
        reference = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2 - 2 * scipy.linalg.sqrtm(S1 @ S2).real)
        assert gaussian_frechet(mu1, S1, mu2, S2) == pytest.approx(reference, rel=1e-7)
        # identical Gaussians: 0 up to the rounding the formula allows, which scales with the covariances
        assert 0.0 <= gaussian_frechet(mu1, S1, mu1, S1) <= frechet_rounding_bound(S1, S1)


def test_frechet_distance_of_samples():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5000, 8, generator=gen)
    S = np.cov(a.double().numpy(), rowvar=False)
    assert 0.0 <= frechet_distance(a, a) <= frechet_rounding_bound(S, S)
    noisy = [frechet_distance(a, a + s * torch.randn(5000, 8, generator=gen)) for s in (0.1, 0.5, 1.0)]
    assert 0 < noisy[0] < noisy[1] < noisy[2]  # grows with the added noise
    # Adding independent N(0, s^2 I) noise to N(0, I) gives N(0, (1 + s^2) I): d * (sqrt(1 + s^2) - 1)^2.
    # With 5,000 samples in 8-D the estimate is within 0.05 of that (its sampling error, measured over seeds).
    assert noisy[2] == pytest.approx(8 * (np.sqrt(2) - 1) ** 2, abs=0.05)
    # a shifted mean adds |shift|^2
    assert frechet_distance(a, a + 2.0) == pytest.approx(8 * 4.0, rel=1e-9)
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        frechet_distance(a, a[:, :4])


class _ByBrightness(torch.nn.Module):
    """A fake classifier: the class is the mean brightness in tenths, features are the pixel means."""

    def features(self, x):
        return torch.stack([x.mean((1, 2, 3)), x[:, :, :14].mean((1, 2, 3))], dim=1)

    def head(self, h):
        return 50 * -(h[:, :1] - (torch.arange(10) + 0.5) / 10).abs()


def test_sample_quality_report():
    cpu = torch.device("cpu")
    levels = torch.arange(10).repeat_interleave(100) / 10 + 0.05  # 100 images at each of 10 brightnesses
    images = levels.view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    q = sample_quality(images, _ByBrightness(), device=cpu, real=images, labels=torch.arange(10).repeat_interleave(100))
    assert q["coverage"] == 10 and q["max_share"] == pytest.approx(0.1)
    # The two fake features are equal for uniform images, so the covariance is singular: the distance
    # of the set to itself is 0 up to the rounding bound (it was -1.9e-9 here before negatives were clamped).
    feats = _ByBrightness().features(images).double().numpy()
    S = np.cov(feats, rowvar=False)
    assert q["label_acc"] == 1.0 and 0.0 <= q["frechet"] <= frechet_rounding_bound(S, S)
    assert q["counts"].tolist() == [100] * 10
    collapsed = sample_quality(images[:100].repeat(10, 1, 1, 1), _ByBrightness(), device=cpu)
    assert collapsed["coverage"] == 1 and collapsed["max_share"] == 1.0 and "frechet" not in collapsed
    with pytest.raises(ValueError, match="samples of shape"):
        sample_quality(images[:, 0], _ByBrightness(), device=cpu)


def test_classifier_shapes():
    clf = MNISTClassifier(feature_dim=32)
    x = torch.rand(4, 1, 28, 28)
    assert clf.features(x).shape == (4, 32) and clf(x).shape == (4, 10)


def test_gaussian_frechet_is_never_negative_for_singular_covariances():
    # Regression (issue 20): identical singular covariances gave -1.9e-9 on some BLAS kernels.
    rng = np.random.default_rng(1)
    for d in (2, 8, 64):
        for rank in (1, d // 2):
            A = rng.standard_normal((d, rank)) * rng.uniform(0.1, 10)
            S = A @ A.T
            mu = rng.standard_normal(d)
            value = gaussian_frechet(mu, S, mu, S)
            assert 0.0 <= value <= frechet_rounding_bound(S, S), (d, rank, value)


def test_gaussian_frechet_rejects_invalid_covariances_and_non_finite_input():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussian_frechet(np.zeros(3), -eye, np.zeros(3), -eye)  # was 0.0: eigenvalues clipped silently
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_frechet(np.zeros(3), eye + np.triu(np.ones((3, 3)), 1), np.zeros(3), eye)
    with pytest.raises(ValueError, match="NaN"):
        gaussian_frechet(np.array([0.0, np.nan, 0.0]), eye, np.zeros(3), eye)  # was nan
    with pytest.raises(ValueError, match="NaN"):
        gaussian_frechet(np.zeros(3), eye * np.inf, np.zeros(3), eye)

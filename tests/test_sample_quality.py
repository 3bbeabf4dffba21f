"""dlext.sample_quality: the Frechet distance against closed forms and SciPy, and the sample report."""
import numpy as np
import pytest
import scipy.linalg
import torch

from dlext.sample_quality import MNISTClassifier, frechet_distance, gaussian_frechet, sample_quality


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
        assert gaussian_frechet(mu1, S1, mu1, S1) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_samples():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5000, 8, generator=gen)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
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
    assert q["label_acc"] == 1.0 and q["frechet"] == pytest.approx(0.0, abs=1e-9)
    assert q["counts"].tolist() == [100] * 10
    collapsed = sample_quality(images[:100].repeat(10, 1, 1, 1), _ByBrightness(), device=cpu)
    assert collapsed["coverage"] == 1 and collapsed["max_share"] == 1.0 and "frechet" not in collapsed
    with pytest.raises(ValueError, match="samples of shape"):
        sample_quality(images[:, 0], _ByBrightness(), device=cpu)


def test_classifier_shapes():
    clf = MNISTClassifier(feature_dim=32)
    x = torch.rand(4, 1, 28, 28)
    assert clf.features(x).shape == (4, 32) and clf(x).shape == (4, 10)

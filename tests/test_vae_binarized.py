"""Binarized MNIST and the importance-weighted likelihood estimate of the VAE chapter."""
import math

import pytest
import torch

from dlext import autoencoders as ae


def test_binarize_is_fixed_and_binary():
    X = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a, b = ae.binarize(X, seed=3), ae.binarize(X, seed=3)
    assert torch.equal(a, b) and a.shape == X.shape and a.dtype == X.dtype
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, ae.binarize(X, seed=4))
    # each pixel is Bernoulli(grey level): 156,800 draws, so the mean is within 0.005 of X's (> 4 standard errors)
    assert abs(a.mean().item() - X.mean().item()) < 0.005
    assert torch.equal(ae.binarize(torch.zeros(2, 784), seed=0), torch.zeros(2, 784))
    assert torch.equal(ae.binarize(torch.ones(2, 784), seed=0), torch.ones(2, 784))


@pytest.mark.parametrize("X, seed, error", [(torch.full((1, 784), 1.5), 0, ValueError),
                                             (torch.zeros(1, 784, dtype=torch.uint8), 0, TypeError),
                                             (torch.zeros(1, 784), 0.5, TypeError)])
def test_binarize_rejects_bad_input(X, seed, error):
    with pytest.raises(error):
        ae.binarize(X, seed=seed)


def _exact_neg_log_px(model: ae.VAE, X: torch.Tensor) -> float:
    """-log p(x) for a 1-D latent by quadrature: p(x) = int p(x|z) N(z; 0, 1) dz on a fine grid."""
    z = torch.linspace(-12, 12, 24001).unsqueeze(1)  # (G, 1)
    dz = 24 / 24000
    with torch.no_grad():
        logits = model.decode(z).reshape(len(z), -1)  # (G, 784)
        log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits[:, None, :].expand(-1, len(X), -1), X.reshape(1, len(X), -1).expand(len(z), -1, -1),
            reduction="none").sum(2)  # (G, N)
    log_pz = -0.5 * (z**2 + math.log(2 * math.pi))  # (G, 1)
    log_px = torch.logsumexp(log_px_z.double() + log_pz.double(), 0) + math.log(dz)  # (N,)
    return -log_px.mean().item()


def test_importance_weighted_nll_approaches_the_exact_likelihood():
    torch.manual_seed(0)
    model = ae.VAE(latent_dim=1, hidden=16)
    X = ae.binarize(torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1)), seed=0)
    exact = _exact_neg_log_px(model, X)
    dev = torch.device("cpu")
    estimates = {k: ae.importance_weighted_nll(model, X, k=k, device=dev, generator=torch.Generator().manual_seed(0))
                 for k in (1, 10, 2000)}
    assert model.training  # importance_weighted_nll restores the mode it found
    neg_elbo = ae.negative_elbo(model, X, device=dev, generator=torch.Generator().manual_seed(0))
    # The bound tightens with k and approaches the exact value from above (measured gap at k=2000: 0.015 nats).
    assert estimates[1] >= estimates[10] >= estimates[2000] >= exact - 0.05
    assert estimates[2000] - exact < 0.5
    assert neg_elbo > exact  # the ELBO is a bound too


def test_importance_weighted_nll_restores_eval_mode_and_rejects_bad_k():
    model = ae.VAE(latent_dim=2, hidden=8).eval()
    X = torch.zeros(3, 784)
    value = ae.importance_weighted_nll(model, X, k=5, device=torch.device("cpu"))
    assert math.isfinite(value) and not model.training
    with pytest.raises(ValueError, match="k"):
        ae.importance_weighted_nll(model, X, k=0, device=torch.device("cpu"))

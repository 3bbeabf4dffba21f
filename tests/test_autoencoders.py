"""dlext.autoencoders: shapes, the negative ELBO against its definition, and that training lowers it."""
import math

import pytest
import torch
from torch import nn

from dlext import autoencoders as ae

CPU = torch.device("cpu")


@pytest.mark.parametrize("make", [lambda: ae.MLPAutoencoder(8), lambda: ae.MLPAutoencoder(8, hidden=(), linear=True),
                                  lambda: ae.ConvAutoencoder(8)])
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (5, 784)])
def test_autoencoder_shapes(make, shape):
    torch.manual_seed(0)
    model = make()
    x = torch.rand(shape)
    assert model.encode(x).shape == (5, 8)
    assert model.decode(model.encode(x)).shape == (5, 1, 28, 28)
    assert model(x).shape == shape


def test_linear_autoencoder_is_linear():
    torch.manual_seed(0)
    model = ae.MLPAutoencoder(4, hidden=(16,), linear=True)
    a, b = torch.rand(3, 784), torch.rand(3, 784)
    bias = model(torch.zeros(1, 784))
    torch.testing.assert_close(model(a + b) - bias, (model(a) - bias) + (model(b) - bias), atol=1e-5, rtol=1e-5)


def test_vae_shapes():
    torch.manual_seed(0)
    model = ae.VAE()
    x = torch.rand(6, 1, 28, 28)
    x_logits, mu, logvar = model(x)
    assert x_logits.shape == x.shape and mu.shape == logvar.shape == (6, 20)
    assert model(x.reshape(6, 784))[0].shape == (6, 784)


def test_vae_loss_matches_definition():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    x_logits, mu, logvar = torch.randn(4, 1, 28, 28), torch.randn(4, 3), torch.randn(4, 3)
    p = torch.sigmoid(x_logits).double()
    xd = x.double()
    # -log p(x|z) for Bernoulli pixel means p, written out, summed over pixels
    rec = -(xd * p.log() + (1 - xd) * (1 - p).log()).sum(dim=(1, 2, 3))
    # KL(N(mu, sigma^2) || N(0, 1)) from torch.distributions, summed over latent dims
    q = torch.distributions.Normal(mu.double(), (0.5 * logvar.double()).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    expected = (rec + kl).mean()
    torch.testing.assert_close(ae.vae_loss(x, x_logits, mu, logvar).double(), expected, rtol=1e-5, atol=1e-3)


def test_vae_loss_rejects_bad_shapes():
    x = torch.rand(2, 784)
    with pytest.raises(ValueError, match="same shape"):
        ae.vae_loss(x, torch.zeros(2, 1, 28, 28), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="mu and logvar"):
        ae.vae_loss(x, torch.zeros(2, 784), torch.zeros(2, 3), torch.zeros(2, 4))


def test_a_few_steps_lower_the_vae_loss():
    torch.manual_seed(0)
    X = (torch.rand(256, 784) < torch.linspace(0.05, 0.6, 784)).float()  # a simple data set with structure
    model = ae.VAE(latent_dim=4, hidden=32)
    before = ae.negative_elbo(model, X, device=CPU, generator=torch.Generator().manual_seed(0))
    ae.train_vae(model, X, device=CPU, epochs=5, batch_size=64, progress=False)
    after = ae.negative_elbo(model, X, device=CPU, generator=torch.Generator().manual_seed(0))
    assert after < before - 20  # starts near 784 ln 2 ~ 543 nats; the pixel means alone save far more than 20


def test_train_autoencoder_lowers_mse_and_supports_corruption_and_l1():
    torch.manual_seed(0)
    X = torch.rand(200, 1, 28, 28)
    model = ae.MLPAutoencoder(8, hidden=(32,))
    before = ae.reconstruction_mse(model, X, device=CPU)
    losses = ae.train_autoencoder(model, X, device=CPU, epochs=3, batch_size=50, lr=1e-2, l1=1e-3,
                                  corrupt=lambda x: x * (torch.rand_like(x) > 0.2), progress=False)
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses)
    assert ae.reconstruction_mse(model, X, device=CPU) < before


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="code_dim"):
        ae.MLPAutoencoder(0)
    with pytest.raises(TypeError, match="latent_dim"):  # a wrong type is a TypeError (dlext.validate)
        ae.VAE(latent_dim=2.5)
    with pytest.raises(ValueError, match="28, 28"):
        ae.ConvAutoencoder(4).encode(torch.zeros(2, 3, 32, 32))


def test_precision_at_k_against_brute_force():
    torch.manual_seed(0)
    db, q = torch.rand(50, 6), torch.rand(7, 6)
    db_y, q_y = torch.randint(0, 3, (50,)), torch.randint(0, 3, (7,))
    d = ((q[:, None] - db[None]) ** 2).sum(-1)
    expected = sum((db_y[d[i].argsort()[:5]] == q_y[i]).float().mean().item() for i in range(7)) / 7
    assert ae.precision_at_k(q, q_y, db, db_y, k=5, batch_size=3) == pytest.approx(expected)
    bits, qbits = (db > 0.5).float(), (q > 0.5).float()
    hamming = (qbits[:, None] != bits[None]).sum(-1)
    expected = sum((db_y[hamming[i].argsort(stable=True)[:5]] == q_y[i]).float().mean().item() for i in range(7)) / 7
    assert ae.precision_at_k(qbits, q_y, bits, db_y, k=5, metric="hamming") == pytest.approx(expected)
    with pytest.raises(ValueError, match="metric"):
        ae.precision_at_k(q, q_y, db, db_y, metric="cosine")


def test_vae_q3_wants_the_measurement_and_exactly_n_samples():
    from dlext.homework import evaluate

    def mc_kl(mu, logvar, n, generator):  # the exercise's solution
        sigma = torch.exp(0.5 * logvar)
        z = mu + sigma * torch.randn(n, len(mu), generator=generator)
        normal = torch.distributions.Normal
        return (normal(mu, sigma).log_prob(z).sum(1) - normal(0.0, 1.0).log_prob(z).sum(1)).mean()

    mu, logvar = torch.tensor([1.0, -0.5]), torch.tensor([0.3, -1.0])
    spread = torch.stack([mc_kl(mu, logvar, 10, torch.Generator().manual_seed(s)) for s in range(400)]).std().item()
    assert evaluate("vae.q3", (mc_kl, round(10 * (spread / 0.01) ** 2))).passed
    # An expert read passed with the closed form (1.7028 / 0.01^2) in place of the measurement, and with estimators
    # that draw 2n or n/2 samples; all three fail now.
    assert not evaluate("vae.q3", (mc_kl, 17_028)).passed
    for wrong_n in (lambda n: 2 * n, lambda n: max(1, n // 2)):
        assert not evaluate("vae.q3", (lambda m, lv, n, g, f=wrong_n: mc_kl(m, lv, f(n), g), 17_028)).passed

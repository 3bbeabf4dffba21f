"""dlext.gan: shapes, the losses against their closed forms, a training step, EMA, gradient reversal."""
import math

import pytest
import torch

from dlext import gan


def test_toy_shapes():
    G, D = gan.Generator(), gan.Discriminator()
    x = G(torch.randn(16, G.latent_dim))
    assert x.shape == (16, 2) and D(x).shape == (16,)


def test_dcgan_shapes_and_range():
    torch.manual_seed(0)
    G, D = gan.DCGenerator(), gan.DCDiscriminator()
    x = G(torch.randn(8, G.latent_dim))
    assert x.shape == (8, 1, 28, 28)  # (its range is a sigmoid's, [0, 1] by construction: nothing to test)
    assert D(x).shape == (8,)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        D(torch.rand(8, 28, 28))
    with pytest.raises(ValueError, match="noise of shape"):
        G(torch.randn(8, 3))


def test_conditional_shapes():
    G, D = gan.ConditionalDCGenerator(), gan.ConditionalDCDiscriminator()
    labels = torch.arange(10)
    x = G(torch.randn(10, G.latent_dim), labels)
    assert x.shape == (10, 1, 28, 28) and D(x, labels).shape == (10,)


def test_losses_match_their_formulas():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    d = torch.sigmoid(logits)
    torch.testing.assert_close(gan.generator_loss(logits, "saturating"), torch.log(1 - d).mean())
    torch.testing.assert_close(gan.generator_loss(logits, "non-saturating"), -torch.log(d).mean())
    real = torch.tensor([1.0, -0.5])
    expected = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - d).mean()
    torch.testing.assert_close(gan.discriminator_loss(real, logits), expected)
    # at D = 1/2 everywhere the discriminator's loss is 2 log 2 (the value log 4 of the game)
    assert math.isclose(gan.discriminator_loss(torch.zeros(4), torch.zeros(4)).item(), 2 * math.log(2), rel_tol=1e-6)
    with pytest.raises(ValueError, match="non-saturating"):
        gan.generator_loss(logits, "hinge")


def _changed(before, model):
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("conditional", [False, True])
def test_train_step_changes_both_networks(conditional):
    torch.manual_seed(0)
    G = gan.ConditionalDCGenerator() if conditional else gan.DCGenerator()
    D = gan.ConditionalDCDiscriminator() if conditional else gan.DCDiscriminator()
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    g0, d0 = [p.clone() for p in G.parameters()], [p.clone() for p in D.parameters()]
    real = torch.rand(8, 1, 28, 28)
    if conditional:
        out = gan.train_step_conditional(G, D, opt_g, opt_d, real, torch.arange(8), d_steps=2)
    else:
        out = gan.train_step(G, D, opt_g, opt_d, real, d_steps=2, g_steps=1)
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(math.isfinite(v) for v in out.values())
    assert _changed(g0, G) and _changed(d0, D)


def test_train_step_rejects_bad_arguments():
    G, D = gan.Generator(), gan.Discriminator()
    opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
    with pytest.raises(ValueError, match="d_steps"):
        gan.train_step(G, D, opt_g, opt_d, torch.randn(4, 2), d_steps=0)
    with pytest.raises(ValueError, match="loss"):
        gan.train_step(G, D, opt_g, opt_d, torch.randn(4, 2), loss="wasserstein")


def test_toy_gan_learns_to_move_towards_the_data():
    # 300 steps on one Gaussian at (2, 2) with std 0.1: G starts near the origin and must end up on it.
    torch.manual_seed(0)
    G, D = gan.Generator(), gan.Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.9))
    near = lambda: ((G(torch.randn(512, 2)).detach() - 2).norm(dim=1) < 0.5).float().mean()  # noqa: E731
    assert near() == 0
    for _ in range(300):
        gan.train_step(G, D, opt_g, opt_d, torch.tensor([2.0, 2.0]) + 0.1 * torch.randn(64, 2))
    assert near() > 0.9  # seeds 0-2 all give over 0.99


def test_ema_update_is_a_moving_average():
    model = torch.nn.Linear(3, 2)
    ema = gan.ema_copy(model)
    assert not any(p.requires_grad for p in ema.parameters())
    w0 = ema.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    gan.ema_update(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, 0.9 * w0 + 0.1 * model.weight)
    with pytest.raises(ValueError, match="decay"):
        gan.ema_update(ema, model, decay=1.0)


def test_sample_runs_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    G = gan.ConditionalDCGenerator()
    z, labels = torch.randn(12, G.latent_dim), torch.arange(12) % 10
    x = gan.sample(G, 12, device=torch.device("cpu"), labels=labels, z=z, batch_size=5)
    assert x.shape == (12, 1, 28, 28)
    assert G.training  # the caller's mode is back (it used to be left in eval mode)
    with torch.no_grad():
        expected = G.eval()(z, labels)  # BatchNorm with running statistics: batches of 5 give the same
    torch.testing.assert_close(x, expected)


def test_ring_and_modes_covered():
    gen = torch.Generator().manual_seed(0)
    points, centres = gan.ring_of_gaussians(2000, modes=8, generator=gen)
    assert points.shape == (2000, 2) and centres.shape == (8, 2)
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0))
    assert gan.modes_covered(points, centres) == 8
    assert gan.modes_covered(points[points[:, 0] > 0.5], centres) == 3  # the modes at 0 and +-45 degrees
    assert gan.modes_covered(torch.zeros(100, 2), centres) == 0  # the centre of the ring is no mode


def test_grad_reverse():
    x = torch.randn(5, requires_grad=True)
    y = gan.grad_reverse(x, 0.5)
    torch.testing.assert_close(y, x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full((5,), -0.5))


def test_refresh_batchnorm_matches_the_statistics_of_fresh_samples():
    torch.manual_seed(0)
    plain = gan.DCGenerator()
    gan.refresh_batchnorm(plain, device=torch.device("cpu"), batches=1, batch_size=50)
    assert int(plain.project[1].num_batches_tracked) == 1
    G = gan.ConditionalDCGenerator()
    bn = G.project[1]
    bn.momentum = 0.3  # the caller's setting, which refresh_batchnorm used to overwrite with 0.1
    G.eval()
    gan.refresh_batchnorm(G, device=torch.device("cpu"), batches=2, batch_size=200)
    assert not G.training and not bn.training and bn.momentum == 0.3 and int(bn.num_batches_tracked) == 2
    G.train()
    gan.refresh_batchnorm(G, device=torch.device("cpu"), batches=2, batch_size=200)
    assert G.training and bn.training and bn.momentum == 0.3  # the mode is restored too
    # the running variance is the average of the two batches' variances (about 1/3 with PyTorch's
    # default init, far from the reset value 1): within 40 % of that of 2,000 fresh inputs in every one
    # of the 3,136 channels (a variance from 400 samples has a relative error of sqrt(2/400) = 7 %)
    with torch.no_grad():
        z = torch.cat([torch.randn(2000, 64), torch.nn.functional.one_hot(torch.randint(10, (2000,)), 10).float()], 1)
        fresh = G.project[0](z).var(0)
    assert fresh.mean() < 0.5
    torch.testing.assert_close(bn.running_var, fresh, rtol=0.4, atol=0)


def test_the_slerp_check_accepts_the_formula_and_rejects_a_straight_line_beyond_the_limit():
    from dlext.homework import evaluate

    def slerp(z0, z1, t, fallback_below=1e-6):
        omega = torch.arccos(((z0 / z0.norm()) @ (z1 / z1.norm())).clamp(-1, 1))
        if omega < fallback_below:  # the straight line: the formula's limit as Omega -> 0
            return (1 - t) * z0 + t * z1
        return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)

    assert evaluate("cgan.q2", slerp).passed
    # the straight line up to half a radian: random 64-D pairs (all nearly orthogonal) did not catch it
    assert not evaluate("cgan.q2", lambda z0, z1, t: slerp(z0, z1, t, fallback_below=0.5)).passed
    # the straight line below a tenth of a radian (an expert read: Omega >= 0.2 alone passed it)
    assert not evaluate("cgan.q2", lambda z0, z1, t: slerp(z0, z1, t, fallback_below=0.1)).passed
    # the straight line everywhere
    assert not evaluate("cgan.q2", lambda z0, z1, t: (1 - t) * z0 + t * z1).passed
    # the midpoint exercise: a quarter of the way, (3/4)^2 + (1/4)^2; the midpoint's 0.5 and the norm ratio fail
    assert evaluate("cgan.q1", 0.625).passed
    assert not evaluate("cgan.q1", 0.5).passed and not evaluate("cgan.q1", 0.625 ** 0.5).passed

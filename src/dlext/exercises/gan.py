"""Self-checks for the GAN chapters' exercises (``gan.q*``: basics and DCGAN; ``cgan.q*``: conditional GANs)."""
import math

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

from dlext.homework import CheckFailure, expect, expect_close, question


@question("gan.q1", points=1)
def _value_at_equilibrium(answer):
    """V(D*, G) when p_g = p_data."""
    expect_close(answer, -math.log(4), "V(D*, G) at p_g = p_data", atol=1e-4, reveal=False)


@question("gan.q2", points=2)
def _js_divergence(fn):
    """The Jensen-Shannon divergence of two discrete distributions."""
    cases = [([0.5, 0.5], [0.5, 0.5]), ([1.0, 0.0], [0.0, 1.0]), ([0.1, 0.4, 0.5], [0.3, 0.3, 0.4]),
             ([0.2, 0.8, 0.0], [0.0, 0.5, 0.5])]
    rng = np.random.default_rng(0)
    cases += [tuple(rng.dirichlet(np.ones(6), size=2).tolist()) for _ in range(3)]
    for p, q in cases:
        got = fn(torch.tensor(p), torch.tensor(q))
        expect(isinstance(got, float), f"js_divergence should return a Python float, got {type(got).__name__}")
        expected = jensenshannon(p, q) ** 2  # SciPy returns the square root of JS, in nats by default
        expect_close(got, expected, f"js_divergence({p}, {q})", rtol=1e-4, atol=1e-6)


@question("gan.q3", points=3)
def _frechet_1d(answer):
    """The 1-D Frechet distance, and what it says about a collapsed generator."""
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise CheckFailure("pass (frechet_1d, interpretation) to check")
    fn, interpretation = answer
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(500, generator=gen), 2 + 3 * torch.randn(300, generator=gen)
    expected = ((a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2).item()
    expect_close(fn(a, b), expected, "frechet_1d on two random samples", rtol=1e-4)
    expect_close(fn(a, a), 0.0, "frechet_1d of a sample to itself", atol=1e-9)
    expect_close(fn(a, a + 1.5), 2.25, "frechet_1d after shifting by 1.5", rtol=1e-4)
    expect(interpretation in ("a", "b", "c"), f"interpretation should be 'a', 'b' or 'c', got {interpretation!r}")
    # N(0, 1) vs N(0, 0.1^2): (1 - 0.1)^2 = 0.81; vs N(0.5, 1): 0.5^2 = 0.25
    expect(interpretation == "a", "the interpretation does not match the two distances; print them and compare")


@question("cgan.q1", points=1)
def _midpoint_norm(answer):
    """Squared norm of the midpoint of two independent Gaussian noise vectors, relative to one of them."""
    expect_close(answer, 0.5, "E|(z0 + z1) / 2|^2 / E|z0|^2", atol=1e-3, reveal=False)


@question("cgan.q2", points=2)
def _slerp(fn):
    """Spherical interpolation between two noise vectors."""
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = fn(e0, e1, 0.5)
    expect(isinstance(mid, torch.Tensor) and mid.shape == (2,), "slerp(z0, z1, t) should return a tensor shaped like z0")
    expect(torch.allclose(mid, torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-5),
           "slerp of two orthogonal unit vectors at t = 0.5 should be their normalised sum")
    gen = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    expect(torch.allclose(fn(z0, z1, 0.0), z0, atol=1e-5) and torch.allclose(fn(z0, z1, 1.0), z1, atol=1e-5),
           "slerp should return z0 at t = 0 and z1 at t = 1")
    omega = torch.arccos((z0 / z0.norm()) @ (z1 / z1.norm()))
    for t in (0.25, 0.6):
        expected = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
        expect(torch.allclose(fn(z0, z1, t), expected, atol=1e-4), f"slerp of two random 64-D vectors at t = {t} is off")


@question("cgan.q3", points=3)
def _grad_reverse(answer):
    """A gradient-reversal layer, and what scale 0 means."""
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise CheckFailure("pass (reverse_gradient, interpretation) to check")
    fn, interpretation = answer
    x = torch.randn(6, requires_grad=True)
    y = fn(x, 0.3)
    expect(isinstance(y, torch.Tensor) and torch.equal(y.detach(), x.detach()),
           "reverse_gradient should return its input unchanged on the way forward")
    (y * torch.arange(6.0)).sum().backward()
    expect(x.grad is not None and torch.allclose(x.grad, -0.3 * torch.arange(6.0)),
           "on the way back the gradient should be multiplied by -scale")
    expect(interpretation in ("a", "b", "c"), f"interpretation should be 'a', 'b' or 'c', got {interpretation!r}")
    expect(interpretation == "a", "the interpretation is not right: what reaches the features when the scale is 0?")

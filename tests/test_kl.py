"""dlext.kl against torch.distributions and SciPy on random inputs, its special cases, and every error."""
import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from torch.distributions import Categorical, Independent, Normal

from dlext import kl

SHAPES = [(5,), (7, 3), (4, 2, 6)]


def _random_dist(shape, seed, zeros=False):
    """Random probability vectors along the last axis (float64), optionally with some exact zeros."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.01
    if zeros:
        x[..., 0] = 0.0
    return x / x.sum(-1, keepdim=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torch_distributions(shape, seed):
    p, q = _random_dist(shape, seed), _random_dist(shape, seed + 100)
    P, Q = Categorical(probs=p), Categorical(probs=q)
    torch.testing.assert_close(kl.entropy(p), P.entropy())
    torch.testing.assert_close(kl.kl_divergence(p, q), torch.distributions.kl_divergence(P, Q))
    # cross-entropy with probability targets: -sum p log q = F.cross_entropy(log q, p)
    flat_p, flat_q = p.reshape(-1, shape[-1]), q.reshape(-1, shape[-1])
    expected = torch.nn.functional.cross_entropy(flat_q.log(), flat_p, reduction="none").reshape(shape[:-1])
    torch.testing.assert_close(kl.cross_entropy(p, q), expected)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("zeros", [False, True])
def test_matches_scipy(shape, zeros):
    p, q = _random_dist(shape, 3, zeros).numpy(), _random_dist(shape, 4).numpy()
    np.testing.assert_allclose(kl.entropy(p), scipy.stats.entropy(p, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(kl.kl_divergence(p, q), scipy.stats.entropy(p, q, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(kl.cross_entropy(p, q), scipy.stats.entropy(p, axis=-1)
                               + scipy.stats.entropy(p, q, axis=-1), rtol=1e-12)
    # SciPy's Jensen-Shannon *distance* is the square root of the divergence
    js = scipy.spatial.distance.jensenshannon(p, q, axis=-1) ** 2
    np.testing.assert_allclose(kl.js_divergence(p, q), js, rtol=1e-9, atol=1e-15)


def test_identities_and_bounds():
    p, q = _random_dist((200, 6), 5), _random_dist((200, 6), 6)
    d = kl.kl_divergence(p, q)
    assert (d >= 0).all()  # Gibbs' inequality
    assert (kl.kl_divergence(p, p) == 0).all()
    assert not torch.allclose(d, kl.kl_divergence(q, p))  # not symmetric
    torch.testing.assert_close(kl.cross_entropy(p, q), kl.entropy(p) + d)
    js = kl.js_divergence(p, q)
    torch.testing.assert_close(js, kl.js_divergence(q, p))  # symmetric
    assert ((js >= 0) & (js <= np.log(2))).all()
    disjoint = kl.js_divergence([0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.3, 0.7])
    assert disjoint == pytest.approx(np.log(2), rel=1e-12)


def test_zeros_and_infinity():
    assert kl.entropy([1.0, 0.0, 0.0]) == 0.0  # 0 log 0 = 0
    assert kl.entropy([0.25] * 4) == pytest.approx(np.log(4), rel=1e-12)
    assert kl.kl_divergence([0.5, 0.5, 0.0], [0.5, 0.25, 0.25]) == pytest.approx(0.5 * np.log(2), rel=1e-12)
    assert kl.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf  # q misses support that p has
    assert kl.cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert np.isfinite(kl.kl_divergence([1.0, 0.0], [0.5, 0.5]))  # the other way round is finite


def test_types_in_types_out():
    p, q = [0.2, 0.8], [0.5, 0.5]
    assert isinstance(kl.kl_divergence(p, q), np.float64)
    assert isinstance(kl.entropy(np.array([[0.2, 0.8], [1, 0]])), np.ndarray)
    t = kl.kl_divergence(torch.tensor(p, dtype=torch.float32), q)  # one tensor makes the result a tensor
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert kl.entropy(np.array([0, 1])) == 0.0  # integer arrays are fine (a one-hot label)
    out = kl.gaussian_kl(torch.zeros(3), torch.ones(3), 0.0, 2.0)
    assert out.dtype == torch.float32 and out.shape == (3,)
    # a batch of distributions against one distribution broadcasts over the batch axes
    batch = _random_dist((4, 3), 7)
    torch.testing.assert_close(kl.kl_divergence(batch, batch[0]), kl.kl_divergence(batch, batch[0].expand(4, 3)))


def test_empty_batch():
    assert kl.kl_divergence(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)


def test_float32_softmax_passes_validation():
    logits = torch.randn(64, 50_000, generator=torch.Generator().manual_seed(0)) * 5
    p = logits.softmax(-1)  # float32 rows sum to 1 only up to rounding
    assert torch.isfinite(kl.entropy(p)).all()
    # ... but float32 is held to 1e-6 where it can reach it: few outcomes, an error of 2e-6
    with pytest.raises(ValueError, match="does not sum to 1"):
        kl.entropy(torch.tensor([0.25, 0.25, 0.5 + 2e-6], dtype=torch.float32))
    # and the relaxation (eps * sqrt(K)) still catches rows that are off by more than rounding
    with pytest.raises(ValueError, match="does not sum to 1"):
        kl.entropy(p * (1 + 1e-4))


@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_kl_matches_torch(seed):
    gen = torch.Generator().manual_seed(seed)
    mu_p, mu_q = torch.randn(2, 8, 5, generator=gen, dtype=torch.float64)
    sigma_p, sigma_q = torch.rand(2, 8, 5, generator=gen, dtype=torch.float64) * 3 + 0.05
    expected = torch.distributions.kl_divergence(Normal(mu_p, sigma_p), Normal(mu_q, sigma_q))
    torch.testing.assert_close(kl.gaussian_kl(mu_p, sigma_p, mu_q, sigma_q), expected)
    np.testing.assert_allclose(kl.gaussian_kl(mu_p.numpy(), sigma_p.numpy(), mu_q.numpy(), sigma_q.numpy()),
                               expected.numpy(), rtol=1e-12)
    assert kl.gaussian_kl(1.5, 0.7, 1.5, 0.7) == 0.0


@pytest.mark.parametrize("shape", [(6,), (16, 10), (3, 4, 2)])
def test_kl_to_standard_normal_matches_torch(shape):
    gen = torch.Generator().manual_seed(len(shape))
    mu, logvar = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)  # diagonal Gaussian over the last axis
    prior = Independent(Normal(torch.zeros(shape), torch.ones(shape)), 1)
    got = kl.kl_to_standard_normal(mu, logvar)
    assert got.shape == shape[:-1]
    torch.testing.assert_close(got, torch.distributions.kl_divergence(q, prior))
    torch.testing.assert_close(got, kl.gaussian_kl(mu, torch.exp(0.5 * logvar), 0.0, 1.0).sum(-1))


def test_gradients():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, lv: kl.kl_to_standard_normal(m, lv), (mu, logvar))
    sigma = torch.rand(4, 3, generator=gen, dtype=torch.float64).add(0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda m, s: kl.gaussian_kl(m, s, 0.3, 1.7), (mu, sigma))
    # d KL / d mu = mu and d KL / d logvar = (exp(logvar) - 1) / 2, from the closed form
    kl.kl_to_standard_normal(mu, logvar).sum().backward()
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, (logvar.detach().exp() - 1) / 2)
    # through a softmax, so the input stays a distribution while gradcheck perturbs the logits
    logits = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    target = _random_dist((3, 5), 9)
    for fn in (kl.kl_divergence, kl.cross_entropy, kl.js_divergence):
        # gradcheck's perturbations (1e-6) shift row sums by far less than the 1e-6 tolerance
        assert torch.autograd.gradcheck(lambda z, fn=fn: fn(target, z.softmax(-1)), (logits,))


BAD_DISTRIBUTIONS = [
    ([0.5, float("nan")], "p contains NaN"),
    ([1.2, -0.2], "p has negative entries"),
    ([0.5, 0.6], "p does not sum to 1"),
    ([0.5, 0.5 + 2e-6], "p does not sum to 1"),
    ([3.0, 1.0], "p does not sum to 1"),  # counts, not probabilities
    ([1.0, float("inf")], "p does not sum to 1"),
]


@pytest.mark.parametrize("bad, message", BAD_DISTRIBUTIONS)
def test_bad_distributions_raise(bad, message):
    good = [0.5, 0.5]
    with pytest.raises(ValueError, match=message):
        kl.entropy(bad)
    for fn in (kl.cross_entropy, kl.kl_divergence, kl.js_divergence):
        with pytest.raises(ValueError, match=message):
            fn(bad, good)
        with pytest.raises(ValueError, match=message.replace("p ", "q ", 1)):
            fn(good, bad)
        with pytest.raises(ValueError, match=message):  # tensors are checked the same way
            fn(torch.tensor(bad), torch.tensor(good))


def test_bad_shapes_raise():
    for fn in (kl.cross_entropy, kl.kl_divergence, kl.js_divergence):
        with pytest.raises(ValueError, match="same number of outcomes"):
            fn([0.5, 0.5], [0.2, 0.3, 0.5])
        with pytest.raises(ValueError, match="do not broadcast"):
            fn(_random_dist((2, 3), 0), _random_dist((4, 3), 1))
        with pytest.raises(ValueError, match="same number of outcomes"):
            fn(1.0, 1.0)
    with pytest.raises(ValueError, match="non-empty last axis"):
        kl.entropy(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="same shape"):
        kl.kl_to_standard_normal(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="need a last axis"):
        kl.kl_to_standard_normal(torch.tensor(0.0), torch.tensor(0.0))
    with pytest.raises(ValueError, match="do not broadcast"):
        kl.gaussian_kl(np.zeros(3), np.ones(4), 0.0, 1.0)


@pytest.mark.parametrize("args, message", [
    ((0.0, 0.0, 0.0, 1.0), "sigma_p must be > 0"),
    ((0.0, 1.0, 0.0, -1.0), "sigma_q must be > 0"),
    ((float("nan"), 1.0, 0.0, 1.0), "mu_p contains NaN"),
    ((0.0, 1.0, 0.0, float("nan")), "sigma_q contains NaN"),
])
def test_bad_gaussians_raise(args, message):
    with pytest.raises(ValueError, match=message):
        kl.gaussian_kl(*args)


def test_kl_to_standard_normal_nan_raises():
    with pytest.raises(ValueError, match="mu contains NaN"):
        kl.kl_to_standard_normal(torch.tensor([0.0, float("nan")]), torch.zeros(2))
    with pytest.raises(ValueError, match="logvar contains NaN"):
        kl.kl_to_standard_normal(torch.zeros(2), torch.tensor([float("nan"), 0.0]))
    with pytest.raises(ValueError, match=r"logvar contains \+inf"):
        kl.kl_to_standard_normal(torch.zeros(2), torch.tensor([float("inf"), 0.0]))
    # logvar = -inf is a zero variance: the KL is genuinely infinite, not an error
    assert kl.kl_to_standard_normal([0.0], [float("-inf")]) == np.inf


def test_validate_false_skips_the_checks():
    assert kl.kl_divergence([2.0, 1.0], [1.0, 1.0], validate=False) == pytest.approx(2 * np.log(2))
    assert np.isnan(kl.kl_to_standard_normal([float("nan")], [0.0], validate=False))


def test_bad_types_raise():
    with pytest.raises(TypeError, match="real"):
        kl.entropy(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="real-valued"):
        kl.entropy(torch.tensor([True, False]))


def _reference_fit_gaussian(x, log_p, direction, mu0, sigma0):
    """The chapter's solution to exercise 3: Adam on (mu, log sigma), trapezoid integrals on the grid."""
    mu = torch.tensor(float(mu0), dtype=torch.float64, requires_grad=True)
    log_sigma = torch.tensor(float(np.log(sigma0)), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([mu, log_sigma], lr=0.05)
    for _ in range(400):
        log_q = -0.5 * ((x - mu) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi)
        if direction == "forward":
            loss = torch.trapezoid(log_p.exp() * (log_p - log_q), x)
        else:
            loss = torch.trapezoid(log_q.exp() * (log_q - log_p), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return mu.item(), log_sigma.exp().item()


def test_exercise_3_compares_the_prediction_with_the_students_own_fits():
    import dlext.exercises.kl  # noqa: F401  (registers the checks)
    from dlext.homework import evaluate

    calls = []

    def recording_fit(x, log_p, direction, mu0, sigma0):
        calls.append((direction, mu0))
        return _reference_fit_gaussian(x, log_p, direction, mu0, sigma0)

    assert evaluate("kl.q3", (recording_fit, np.log(4))).passed
    assert ("reverse", 1.5) in calls and ("reverse", -1.5) in calls  # both starts the prompt names are run
    assert not evaluate("kl.q3", (_reference_fit_gaussian, np.log(5))).passed  # the small mode's own KL
    assert not evaluate("kl.q3", (_reference_fit_gaussian, 0.6)).passed  # 0.8 - 0.2


def test_bernoulli_exercise_refuses_the_chapters_functions():
    # an expert read passed kl.q2 with dlext.kl.kl_divergence and with torch.distributions; both must fail now
    from dlext.homework import evaluate

    def by_hand(a, b):
        out = torch.xlogy(a, a) - torch.xlogy(a, b) + torch.xlogy(1 - a, 1 - a) - torch.xlogy(1 - a, 1 - b)
        return torch.where(((b == 0) & (a > 0)) | ((b == 1) & (a < 1)), torch.full_like(out, float("inf")), out)

    def via_dlext(a, b):
        return kl.kl_divergence(torch.stack([a, 1 - a], -1), torch.stack([b, 1 - b], -1))

    def via_torch(a, b):
        B = torch.distributions.Bernoulli
        return torch.distributions.kl_divergence(B(probs=a), B(probs=b))

    assert evaluate("kl.q2", by_hand).passed
    assert not evaluate("kl.q2", via_dlext).passed
    result = evaluate("kl.q2", via_torch)
    assert not result.passed

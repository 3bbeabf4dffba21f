"""Self-checks for the GAN chapter's exercises (the game, divergences, measuring a generator)."""
import inspect
import math
import types

import numpy as np
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
import torch.distributions.kl
import torch.nn.functional
from scipy.spatial.distance import jensenshannon

from dlext.exercises._guards import TO_OTHER_LIBRARIES, off_limits
from dlext.homework import CheckFailure, expect, expect_close, question

# Exercise 2 asks for the two KL terms written with torch: library divergences are refused while the answer runs, and
# so are the ways a tensor's numbers leave torch in bulk (an expert read passed it with scipy.stats.entropy, which
# reads the tensors through NumPy).
_JS_DONE_FOR_YOU = ((scipy.spatial.distance, "jensenshannon"), (scipy.special, "rel_entr"), (scipy.special, "kl_div"),
                    (scipy.special, "entr"), (scipy.stats, "entropy"), (torch.distributions, "kl_divergence"),
                    (torch.distributions.kl, "kl_divergence"), (torch.nn.functional, "kl_div"))


@question("gan.q1", points=1)
def _value_at_equilibrium(answer):
    """V(D*, G) when p_g = p_data."""
    # 5e-4 admits the 3-decimal answer the quiz asks for (-1.386; -log 4 = -1.3863), not a wrong sign or log 2.
    expect_close(answer, -math.log(4), "V(D*, G) at p_g = p_data", atol=5e-4, reveal=False)


@question("gan.q2", points=2)
def _js_divergence(fn):
    """The Jensen-Shannon divergence of two discrete distributions."""
    if _calls_scipy_jensenshannon(fn):
        raise CheckFailure("js_divergence calls SciPy's jensenshannon, which this exercise rules out: "
                           "write the two KL terms yourself with torch")
    cases = [([0.5, 0.5], [0.5, 0.5]), ([1.0, 0.0], [0.0, 1.0]), ([0.1, 0.4, 0.5], [0.3, 0.3, 0.4]),
             ([0.2, 0.8, 0.0], [0.0, 0.5, 0.5])]
    rng = np.random.default_rng(0)
    cases += [tuple(rng.dirichlet(np.ones(6), size=2).tolist()) for _ in range(3)]
    why = "js_divergence should compute the two KL terms itself, with torch operations; {name} is ruled out here"
    for p, q in cases:
        with off_limits(*_JS_DONE_FOR_YOU, *TO_OTHER_LIBRARIES, why=why):
            got = fn(torch.tensor(p), torch.tensor(q))
        expect(isinstance(got, float), f"js_divergence should return a Python float, got {type(got).__name__}")
        expected = jensenshannon(p, q) ** 2  # SciPy returns the square root of JS, in nats by default
        expect_close(got, expected, f"js_divergence({p}, {q})", rtol=1e-4, atol=1e-6)


def _reads_frechet_distance(fn) -> bool:
    """Whether ``fn`` (or a function defined inside it) reads dlext's frechet_distance or gaussian_frechet, by a
    global name or through the module."""
    from dlext import sample_quality
    return _reads_any(fn, (sample_quality.frechet_distance, sample_quality.gaussian_frechet, sample_quality))


def _reads_any(fn, objects) -> bool:
    code, globs = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None:
        return False
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return any(globs.get(name) is obj for name in names for obj in objects)


def _calls_scipy_jensenshannon(fn) -> bool:
    """Whether ``fn`` uses SciPy's jensenshannon: by name in its source, or through a global it reads."""
    try:
        if "jensenshannon" in inspect.getsource(fn):
            return True
    except (OSError, TypeError):  # no source to read (built in a string, say): fall back on the globals
        pass
    code, globs = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None:
        return False
    names, stack = set(), [code]
    while stack:  # the function's own names and those of functions defined inside it
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    for name in names:
        obj = globs.get(name)
        if obj is scipy.spatial.distance.jensenshannon or obj is scipy.spatial.distance:
            return True
    return False


@question("gan.q3", points=3)
def _frechet_1d(answer):
    """The 1-D Frechet distance, and a predicted comparison of a collapsed and a shifted generator."""
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise CheckFailure("pass (frechet_1d, predicted) to check")
    fn, predicted = answer
    if _reads_frechet_distance(fn):  # an expert read passed it with a lambda over the chapter's own function
        raise CheckFailure("frechet_1d calls dlext's frechet_distance, which is ruled out here: compute the two means "
                           "and standard deviations yourself")
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(500, generator=gen), 2 + 3 * torch.randn(300, generator=gen)
    expected = ((a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2).item()
    # the chapter's frechet_distance reads gaussian_frechet from its module when it runs: refused there, it fails
    # also where a global name bound before the check reaches it, and (while grading) in the submission's process
    from dlext import sample_quality
    with off_limits((sample_quality, "frechet_distance"), (sample_quality, "gaussian_frechet"),
                    why="frechet_1d should compute the distance itself; dlext's {name} is ruled out here"):
        got = [fn(a.clone(), b.clone()), fn(a.clone(), a.clone()), fn(a.clone(), a + 1.5)]
    expect_close(got[0], expected, "frechet_1d on two random samples", rtol=1e-4)
    expect_close(got[1], 0.0, "frechet_1d of a sample to itself", atol=1e-9)
    expect_close(got[2], 2.25, "frechet_1d after shifting by 1.5", rtol=1e-4)
    if not isinstance(predicted, (tuple, list)) or len(predicted) != 2:
        raise CheckFailure(f"predicted should be a pair of numbers (collapsed, shifted), got {predicted!r}")
    # Population values: N(0, 1) vs N(0, 0.1^2) is (1 - 0.1)^2 = 0.81; vs N(0.5, 1) it is 0.5^2 = 0.25.
    # The prediction is graded against these at 0.005, room for rounding to 2 decimals; the 10,000-sample
    # estimates frechet_experiment() prints (0.812 and 0.239) do not both meet it, so pasting them fails.
    expect_close(predicted[0], 0.81, "your predicted distance of the collapsed generator", atol=0.005, reveal=False)
    expect_close(predicted[1], 0.25, "your predicted distance of the shifted generator", atol=0.005, reveal=False)

"""Self-checks for the word2vec chapter's exercises."""
import math

import torch

from dlext.exercises._guards import AUTOGRAD, TO_OTHER_LIBRARIES, count_torch_calls, off_limits
from dlext.homework import CheckFailure, expect, expect_close, question


@question("w2v.q1", points=1)
def _pair_count(answer):
    """Expected skip-gram pairs of one 10-word sentence with word2vec's dynamic window of 2."""
    # ordered pairs at distance 1 (9 each way, always in reach) and 2 (8 each way, in reach half the time);
    # the fixed-window count, 2 * (9 + 8) = 34, is asserted in the chapter and is refused
    expect(not (isinstance(answer, (int, float)) and abs(answer - 34) < 0.5),
           "34 counts every pair within a fixed window of 2; with the dynamic window a centre reaches distance 2 "
           "only when it draws 2")
    expect_close(answer, 2 * (9 + 8 / 2), "the expected number of (centre, context) pairs", rtol=0, atol=0.01,
                 reveal=False)


@question("w2v.q2", points=1)
def _always_kept(answer):
    """The share f below which subsampling keeps every occurrence, for t = 1e-3."""
    # keep(f) = (sqrt(f / t) + 1) t / f >= 1  <=>  x^2 - x - 1 <= 0 for x = sqrt(f / t)  <=>  x <= golden ratio
    t = 1e-3
    expect_close(answer, ((1 + math.sqrt(5)) / 2) ** 2 * t, "the share below which every occurrence is kept",
                 rtol=1e-3, reveal=False)


# The formulas of eq. (nsgrad) take a few dozen tensor operations for any size (a loop over the K noise words
# included: about 10 per word); finite differences evaluate the loss twice per coordinate of v, u_pos and u_neg,
# (2 + K) D coordinates, so for D = 8 and K = 10 about 200 losses of several operations each.
_MAX_CALLS = 400


@question("w2v.q3", points=2)
def _ns_loss_and_grad(fn):
    """Negative-sampling loss of one pair and its gradients with respect to v, u_pos and u_neg, without autograd."""
    g = torch.Generator().manual_seed(11)
    cases = []
    for dim, k in [(3, 1), (5, 4), (8, 10)]:
        cases.append((f"{k} negatives in {dim} dimensions", torch.randn(dim, generator=g), torch.randn(dim, generator=g),
                      torch.randn(k, dim, generator=g)))
    # a large case: (2 + K) D = 100,000 coordinates, where the formulas cost a few hundred thousand multiply-adds and
    # finite differences, even batched into one call (an expert read passed the small cases that way), need 2 losses
    # per coordinate: about 10^10 numbers
    dim = 20_000
    cases.append(("3 negatives in 20,000 dimensions", torch.randn(dim, generator=g) / dim ** 0.5,
                  torch.randn(dim, generator=g) / dim ** 0.5, torch.randn(3, dim, generator=g) / dim ** 0.5))
    v, u_pos = torch.randn(6, generator=g), torch.randn(6, generator=g)  # a noise word equal to the context word
    cases.append(("a noise word equal to the context word", v, u_pos, torch.stack([torch.randn(6, generator=g), u_pos])))
    v = torch.randn(6, generator=g)  # scores near -120 and +120: log(sigmoid) and log(1 - sigmoid) in float32 give -inf
    far = 120 * v / v.dot(v)
    cases.append(("scores of about -120 and +120", v, -far, torch.stack([far, far + 0.01 * torch.randn(6, generator=g)])))
    for name, v, u_pos, u_neg in cases:
        # the gradients must be written by hand: autograd records nothing, and turning it back on does not help
        counter = count_torch_calls()
        with off_limits(*AUTOGRAD, why="your function calls {name}: write the gradients of eq. (nsgrad) by hand"), \
                off_limits(*TO_OTHER_LIBRARIES, why="your function calls tensor.{name}: write eq. (nsgrad) with tensor "
                                                    "operations (the check counts them: numbers estimated elsewhere, "
                                                    "by finite differences, are not a derivation)"), \
                torch.inference_mode(), counter:
            out = fn(v.clone(), u_pos.clone(), u_neg.clone())
        expect(counter.calls <= _MAX_CALLS,
               f"with {name} your function made {counter.calls} tensor operations, where the formulas of eq. (nsgrad) "
               f"need a few dozen: are you estimating the gradients numerically (finite differences)? Derive them")
        expect(isinstance(out, tuple) and len(out) == 4,
               "return a tuple (loss, grad_v, grad_u_pos, grad_u_neg)")
        loss, grads = out[0], out[1:]
        refs = [x.double().clone().requires_grad_() for x in (v, u_pos, u_neg)]
        ref = (-torch.nn.functional.logsigmoid(refs[1] @ refs[0])
               - torch.nn.functional.logsigmoid(-(refs[2] @ refs[0])).sum())
        ref.backward()
        ref = ref.item()
        expect(math.isfinite(float(loss)) and abs(float(loss) - ref) < 1e-4 * max(1.0, abs(ref)),
               f"with {name} the loss is {float(loss):.6g}, expected {ref:.6g}"
               + (" (use logsigmoid, which stays finite for large scores)" if not math.isfinite(float(loss)) else ""))
        for label, got, want in zip(("v", "u_pos", "u_neg"), grads, (r.grad for r in refs)):
            got = torch.as_tensor(got).double()
            expect(got.shape == want.shape, f"the gradient with respect to {label} should have shape "
                                            f"{tuple(want.shape)}, got {tuple(got.shape)}")
            expect(bool(torch.isfinite(got).all()) and torch.allclose(got, want, rtol=1e-4, atol=1e-4),
                   f"with {name} the gradient with respect to {label} differs from the exact one "
                   f"(max difference {float((got - want).abs().max()):.3g})")


def _cos_mul_reference(vectors, words, a, b, c, eps=1e-3):
    unit = vectors.double() / vectors.double().norm(dim=1, keepdim=True)
    index = {w: i for i, w in enumerate(words)}
    cos = (unit @ unit[[index[a], index[b], index[c]]].T + 1) / 2  # (V, 3), cos' in [0, 1]
    score = cos[:, 1] * cos[:, 2] / (cos[:, 0] + eps)
    score[[index[a], index[b], index[c]]] = -float("inf")
    return words[int(score.argmax())]


def _cos_add_reference(vectors, words, a, b, c):
    unit = vectors.double() / vectors.double().norm(dim=1, keepdim=True)
    index = {w: i for i, w in enumerate(words)}
    score = unit @ (unit[index[b]] - unit[index[a]] + unit[index[c]])
    score[[index[a], index[b], index[c]]] = -float("inf")
    return words[int(score.argmax())]


@question("w2v.q4", points=3)
def _solve_analogy(fn):
    """'a is to b as c is to ?' by 3CosMul (Levy and Goldberg, 2014), the three input words excluded."""
    words = ["man", "king", "woman", "queen", "apple", "crown"]
    # here 3CosAdd answers 'crown' and 3CosMul 'queen'
    case = torch.tensor([[2.0, 2, 1], [3, 1, 3], [1, -3, 2], [-3, -2, -1], [3, 3, 1], [-1, -2, 3]])
    assert _cos_add_reference(case, words, "man", "king", "woman") == "crown"
    assert _cos_mul_reference(case, words, "man", "king", "woman") == "queen"
    got = fn(case.clone(), list(words), "man", "king", "woman")
    expect(got != "crown", "man : king = woman : ? returned 'crown', which is 3CosAdd's answer (the nearest word to "
                           "b - a + c); 3CosMul multiplies and divides the shifted cosines instead")
    expect(got == "queen", f"man : king = woman : ? should be 'queen' by 3CosMul, got {got!r}")
    vectors = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, 1, 1.1], [0.2, 3, 0.2]])
    cases = [("the first hand-made set", vectors, list(words), ("man", "king", "woman")),
             ("a query whose best match is an input word", vectors, list(words), ("woman", "king", "woman")),
             ("a very long vector added (use cosines, not dot products)",
              torch.cat([vectors, torch.tensor([[10.0, 10, 0]])]), words + ["giant"], ("man", "king", "woman")),
             ("vectors of different lengths", torch.tensor([[-3.0, 0, -3], [0, 2, 0], [0, 2, 1], [-2, 0, 2], [-3, 1, -1],
                                                           [3, -2, 2]]), list(words), ("man", "king", "woman")),
             # "opposite" is -a: its shifted cosine to a is 0, and without the epsilon it scores infinity
             ("a word pointing exactly away from a (keep the epsilon in the denominator)",
              torch.tensor([[1.0, 0, 0], [1, 0.2, 0], [1, 0, 0.2], [-1, 0, 0], [1, 0.2, 0.2], [0, 1, -1]]),
              ["north", "northeast", "northwest", "opposite", "near", "far"], ("north", "northeast", "northwest")),
             # a is nearest to both b and c, so an answer that forgets to exclude a returns a (an expert read passed
             # the check excluding only b and c)
             ("a query whose best match is a itself", torch.tensor([[1.0, 0, 0], [1, 0.1, 0], [1, 0, 0.1], [0, 1, 0],
                                                                   [0, 0, 1], [-1, 0, 0]]),
              ["north", "northeast", "northwest", "east", "up", "south"], ("north", "northeast", "northwest"))]
    for name, vecs, names, (a, b, c) in cases:
        want = _cos_mul_reference(vecs, names, a, b, c)
        got = fn(vecs.clone(), list(names), a, b, c)
        expect(got not in (a, b, c), f"with {name}, {a} : {b} = {c} : ? returned the input word {got!r} "
                                     f"(exclude all three of a, b and c)")
        expect(got == want, f"with {name}, {a} : {b} = {c} : ? should be {want!r} by 3CosMul, got {got!r}")
    try:
        fn(vectors.clone(), list(words), "man", "prince", "woman")
    except KeyError:
        return
    except Exception as err:
        raise CheckFailure(f"an unknown word should raise KeyError, got {type(err).__name__}") from None
    raise CheckFailure("an unknown word ('prince') should raise KeyError, but nothing was raised")

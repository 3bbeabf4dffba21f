"""Self-checks for the word2vec chapter's exercises."""
import math

import torch

from dlext.homework import CheckFailure, expect, expect_close, question


@question("w2v.q1", points=1)
def _pair_count(answer):
    """Skip-gram pairs of one 10-word sentence with a fixed window of 2."""
    # every ordered pair at distance 1 (9 of them each way) or 2 (8 each way): 2 * (9 + 8)
    expect_close(answer, 34, "the number of (centre, context) pairs", rtol=0, atol=0.5, reveal=False)


@question("w2v.q2", points=1)
def _keep_the(answer):
    """The share of 'the' that subsampling keeps, for f = 0.07 and t = 1e-3."""
    f, t = 0.07, 1e-3
    expect_close(answer, (math.sqrt(f / t) + 1) * t / f, "the keep probability of 'the'", rtol=1e-3, reveal=False)


@question("w2v.q3", points=2)
def _ns_loss_and_grad(fn):
    """Negative-sampling loss of one pair and its gradient with respect to the centre vector."""
    g = torch.Generator().manual_seed(11)
    for dim, k in [(3, 1), (5, 4), (8, 10)]:
        v, u_pos, u_neg = torch.randn(dim, generator=g), torch.randn(dim, generator=g), torch.randn(k, dim, generator=g)
        loss, grad = fn(v.clone(), u_pos.clone(), u_neg.clone())
        v_ref = v.clone().requires_grad_()
        ref = -torch.nn.functional.logsigmoid(u_pos @ v_ref) - torch.nn.functional.logsigmoid(-(u_neg @ v_ref)).sum()
        ref.backward()
        ref = ref.item()  # a plain float: float() of a tensor that requires grad warns in the student's output
        expect(abs(float(loss) - ref) < 1e-4,
               f"with {k} negatives in {dim} dimensions the loss is off by {abs(float(loss) - ref):.3g}")
        grad = torch.as_tensor(grad, dtype=torch.float32)
        expect(grad.shape == (dim,), f"the gradient should have shape ({dim},), got {tuple(grad.shape)}")
        expect(torch.allclose(grad, v_ref.grad, atol=1e-4),
               f"with {k} negatives in {dim} dimensions the gradient differs from autograd's "
               f"(max difference {float((grad - v_ref.grad).abs().max()):.3g})")


@question("w2v.q4", points=3)
def _solve_analogy(fn):
    """'a is to b as c is to ?' by cosine similarity, the three input words excluded."""
    words = ["man", "king", "woman", "queen", "apple", "crown"]
    vectors = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, 1, 1.1], [0.2, 3, 0.2]])
    got = fn(vectors.clone(), list(words), "man", "king", "woman")
    expect(got == "queen", f"man : king = woman : ? should be 'queen', got {got!r}")
    # here b - a + c points almost exactly at 'king' itself; an answer must never be an input word
    got = fn(vectors.clone(), list(words), "woman", "king", "woman")
    expect(got not in ("woman", "king"), f"woman : king = woman : ? returned the input word {got!r}")
    expect(got == "apple", f"woman : king = woman : ? should be the nearest non-input word 'apple', got {got!r}")
    # cosine, not dot product: a long vector must not win by its length
    long = torch.cat([vectors, torch.tensor([[10.0, 10, 0]])])
    got = fn(long.clone(), words + ["giant"], "man", "king", "woman")
    expect(got == "queen", f"with a long vector 'giant' added the answer should still be 'queen' (use cosine "
                           f"similarity, not dot products), got {got!r}")
    # a and c must be excluded too, not only b: here, after king, the nearest word to the query is 'woman' (c),
    # and the query must be built from unit vectors: from the raw (unequal-length) vectors the answer is 'crown'
    case = torch.tensor([[-3.0, 0, -3], [0, 2, 0], [0, 2, 1], [-2, 0, 2], [-3, 1, -1], [3, -2, 2]])
    got = fn(case.clone(), list(words), "man", "king", "woman")
    expect(got not in ("man", "king", "woman"), f"man : king = woman : ? returned the input word {got!r} "
                                                f"(exclude all three of a, b and c)")
    expect(got == "queen", f"with vectors of different lengths, man : king = woman : ? should be 'queen', got {got!r} "
                           f"(build the query from unit vectors: unit(b) - unit(a) + unit(c))")
    # here, after king, the nearest word is 'man' (a)
    case = torch.tensor([[-2.0, 0, -1], [-2, 1, 0], [-2, -3, -3], [-3, -3, 2], [-2, -2, 3], [0, -3, 1]])
    got = fn(case.clone(), list(words), "man", "king", "woman")
    expect(got == "queen", f"man : king = woman : ? should be 'queen', got {got!r} (exclude a as well as b and c)")
    try:
        fn(vectors.clone(), list(words), "man", "prince", "woman")
    except KeyError:
        return
    except Exception as err:
        raise CheckFailure(f"an unknown word should raise KeyError, got {type(err).__name__}") from None
    raise CheckFailure("an unknown word ('prince') should raise KeyError, but nothing was raised")

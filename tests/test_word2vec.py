"""dlext.word2vec: pairs and vocabularies on tiny corpora, the loss against a hand computation, evaluation against gensim."""
import numpy as np
import pytest
import torch
from torch import nn

from dlext import word2vec as w


def test_build_vocab_orders_by_count_and_drops_rare_words():
    vocab, counts = w.build_vocab([["b", "a", "b"], ["c", "b", "a", "d"]], min_count=2)
    assert vocab == {"b": 0, "a": 1} and counts.tolist() == [3, 2]
    with pytest.raises(ValueError, match="min_count"):
        w.build_vocab([["a"]], min_count=0)


def test_skipgram_pairs_stay_inside_sentences_and_windows():
    ids, sent = torch.arange(6), torch.tensor([0, 0, 0, 1, 1, 1])
    c, o = w.skipgram_pairs(ids, sent, window=1)
    assert len(w.skipgram_pairs(ids, sent, window=2, shrink=False)[0]) == 12  # 2 * (2 + 1) per sentence
    pairs = set(zip(c.tolist(), o.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3), (4, 5), (5, 4)}  # never (2, 3)
    # window 2: each centre draws a reach of 1 or 2, so distance-2 pairs appear about half the time
    n = 20_000
    c, o = w.skipgram_pairs(torch.arange(n), torch.zeros(n, dtype=torch.long), window=2,
                            generator=torch.Generator().manual_seed(0))
    dist = (c - o).abs()
    assert set(dist.tolist()) == {1, 2}
    assert abs((dist == 2).sum().item() / (2 * n) - 0.5) < 0.02  # binomial sd 0.0035 for 2n draws
    with pytest.raises(ValueError, match="window"):
        w.skipgram_pairs(ids, sent, window=0)


def test_keep_probability_and_noise_distribution():
    counts = np.array([1000, 10, 1])
    keep = w.keep_probability(counts, sample=1e-2)
    f = counts / counts.sum()
    torch.testing.assert_close(keep, torch.tensor(np.minimum((np.sqrt(f / 1e-2) + 1) * 1e-2 / f, 1.0)))
    p = w.noise_distribution(counts)
    torch.testing.assert_close(p, torch.tensor(counts ** 0.75 / (counts ** 0.75).sum()))
    assert p[2] > counts[2] / counts.sum()  # the power lifts rare words


def test_skipgram_loss_matches_the_formula_and_autograd():
    torch.manual_seed(0)
    model = w.SkipGramNS(7, 4)
    nn_init = torch.randn(7, 4)
    model.out.weight.data.copy_(nn_init)
    c, o, neg = torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6], [0, 6]])
    v, u = model.inp.weight.detach(), model.out.weight.detach()
    expected = sum(-torch.log(torch.sigmoid(u[o[b]] @ v[c[b]])) - sum(torch.log(torch.sigmoid(-u[k] @ v[c[b]]))
                   for k in neg[b]) for b in range(2))
    torch.testing.assert_close(model(c, o, neg), expected)
    model(c, o, neg).backward()
    grad = model.inp.weight.grad.to_dense()
    # d loss / d v_c = (s(u_o.v_c) - 1) u_o + sum_k s(u_k.v_c) u_k, for centre 1 (row 1)
    g1 = (torch.sigmoid(u[3] @ v[1]) - 1) * u[3] + sum(torch.sigmoid(u[k] @ v[1]) * u[k] for k in (5, 6))
    torch.testing.assert_close(grad[1], g1)


def _toy_corpus(seed: int = 0) -> list[list[str]]:
    """Two topics whose words never share a sentence: animals and vehicles."""
    rng = np.random.default_rng(seed)
    topics = [["cat", "dog", "horse", "cow"], ["car", "bus", "train", "truck"]]
    return [list(rng.choice(topics[k % 2], size=8)) for k in range(600)]


@pytest.mark.parametrize("kind", [w.SkipGramNS, w.CBOWNS])
def test_training_separates_two_topics(kind):
    sentences = _toy_corpus()
    vocab, counts = w.build_vocab(sentences, 1)
    ids, sent = w.encode(sentences, vocab)
    torch.manual_seed(0)
    model = kind(len(vocab), 10).eval()
    losses = w.train(model, ids, sent, counts, device=torch.device("cpu"), epochs=3, window=2, negatives=3,
                     sample=1.0, lr=0.05, batch_size=64, progress=False)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert not model.training  # the caller's mode is restored
    for word, friends in [("cat", {"dog", "horse", "cow"}), ("bus", {"car", "train", "truck"})]:
        assert {x for x, _ in w.most_similar(model.vectors, vocab, word, 3)} == friends


@pytest.mark.parametrize("kind", [w.SkipGramNS, w.CBOWNS])
def test_learning_rate_decays_to_almost_zero_over_the_batches_formed(kind, monkeypatch):
    # an expert read found the rate stopping at 0.18 lr: the schedule counted window + 1 contexts per centre, and
    # sentence ends give fewer; the word2vec C code decays to lr * 1e-4 over the words actually processed (gensim to an absolute min_alpha)
    sentences = _toy_corpus()
    vocab, counts = w.build_vocab(sentences, 1)
    ids, sent = w.encode(sentences, vocab)
    rates, update = [], w._sgd_update
    monkeypatch.setattr(w, "_sgd_update", lambda out, h, t, n, lr: (rates.append(lr), update(out, h, t, n, lr))[1])
    w.train(kind(len(vocab), 10), ids, sent, counts, device=torch.device("cpu"), epochs=2, window=5, negatives=3,
            sample=1.0, lr=0.05, batch_size=64, progress=False)
    assert rates[0] == 0.05 and all(a >= b for a, b in zip(rates, rates[1:]))
    assert rates[-1] <= 1.05 * 0.05 / len(rates)  # the last batch: about lr / (number of batches; epochs differ a little)


def test_train_rejects_bad_arguments():
    ids, sent, counts = torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), np.array([4])
    with pytest.raises(TypeError, match="SkipGramNS"):
        w.train(torch.nn.Linear(2, 2), ids, sent, counts, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="epochs"):
        w.train(w.SkipGramNS(1, 2), ids, sent, counts, device=torch.device("cpu"), epochs=0)
    with pytest.raises(ValueError, match="counts"):
        w.train(w.SkipGramNS(3, 2), ids, sent, counts, device=torch.device("cpu"))


def test_analogy_excludes_inputs_and_unknown_words_raise():
    vocab = {"man": 0, "king": 1, "woman": 2, "queen": 3, "apple": 4}
    vectors = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, 1, 1.1]])
    # b - a + c = (0, 1, 1) = queen exactly; apple is close but second
    assert [x for x, _ in w.analogy(vectors, vocab, "man", "king", "woman", 2)] == ["queen", "apple"]
    assert "king" not in [x for x, _ in w.analogy(vectors, vocab, "man", "king", "man", 4)]
    with pytest.raises(KeyError, match="prince"):
        w.analogy(vectors, vocab, "man", "prince", "woman")
    with pytest.raises(KeyError, match="prince"):
        w.most_similar(vectors, vocab, "prince")
    questions = [("man", "king", "woman", "queen"), ("man", "king", "woman", "apple"), ("man", "prince", "x", "y")]
    assert w.analogy_coverage(vocab, questions) == (2, 1)
    assert w.evaluate_analogies(vectors, vocab, questions) == 0.5  # the OOV question is skipped, not wrong


@pytest.fixture(scope="module")
def gensim_model(shared_data):
    import gensim  # a direct pin in requirements.txt: missing, these tests must fail, not skip
    from dlext import data
    sentences = data.load_brown()[:8000]
    model = gensim.models.Word2Vec(sentences, vector_size=30, window=5, min_count=3, sg=1, epochs=2,
                                   workers=1, seed=0)
    vocab = {word: i for i, word in enumerate(model.wv.index_to_key)}
    return model, vocab, torch.tensor(model.wv.vectors)


def test_evaluate_analogies_matches_gensim(gensim_model):
    from dlext import data
    model, vocab, vectors = gensim_model
    questions = data.load_analogies()
    gensim_score, sections = model.wv.evaluate_word_analogies(str(data.fetch("word2vec-eval/questions-words.txt")))
    ours = w.evaluate_analogies(vectors, vocab, [q for sec in questions.values() for q in sec])
    assert ours == pytest.approx(gensim_score, abs=1e-12)
    for sec in sections[:-1]:  # per section too; the last entry is gensim's total
        n = len(sec["correct"]) + len(sec["incorrect"])
        assert w.analogy_coverage(vocab, questions[sec["section"]])[0] == n
        if n:
            assert w.evaluate_analogies(vectors, vocab, questions[sec["section"]]) == pytest.approx(len(sec["correct"]) / n)


def test_wordsim_spearman_matches_gensim(gensim_model):
    from dlext import data
    model, vocab, vectors = gensim_model
    _, spearman, _ = model.wv.evaluate_word_pairs(str(data.fetch("word2vec-eval/wordsim353.tsv")))
    assert w.wordsim_spearman(vectors, vocab, data.load_wordsim353()) == pytest.approx(spearman.statistic, abs=1e-6)


def test_hand_written_sgd_step_matches_autograd():
    """train's update: skip-gram is SGD on forward's autograd gradients; CBOW gives each context word the full gradient of h."""
    torch.manual_seed(0)
    c, o, neg = torch.tensor([1, 2, 1]), torch.tensor([3, 4, 3]), torch.tensor([[5, 6], [0, 6], [5, 5]])  # repeated rows
    model = w.SkipGramNS(7, 4)
    model.out.weight.data.normal_()
    inp, out = model.inp.weight.detach().clone(), model.out.weight.detach().clone()
    model(c, o, neg).backward()
    lr = 0.1
    loss, grad_h = w._sgd_update(out, inp[c], o, neg, lr)
    inp.index_add_(0, c, grad_h, alpha=-lr)
    torch.testing.assert_close(loss, model(c, o, neg).detach())
    torch.testing.assert_close(out, model.out.weight.detach() - lr * model.out.weight.grad.to_dense())
    torch.testing.assert_close(inp, model.inp.weight.detach() - lr * model.inp.weight.grad.to_dense())

    cbow = w.CBOWNS(7, 4)
    cbow.out.weight.data.normal_()
    context, offsets, centre = torch.tensor([0, 2, 3, 4, 5]), torch.tensor([0, 3]), torch.tensor([1, 6])  # bags of 3 and 2
    inp, out = cbow.inp.weight.detach().clone(), cbow.out.weight.detach().clone()
    cbow(context, offsets, centre, neg[:2]).backward()
    h = torch.nn.functional.embedding_bag(context, inp, offsets, mode="mean")
    _, grad_h = w._sgd_update(out, h, centre, neg[:2], lr)
    torch.testing.assert_close(out, cbow.out.weight.detach() - lr * cbow.out.weight.grad.to_dense())
    # autograd gives each context word 1/|C| of dloss/dh; word2vec's uncorrected CBOW (the C code's; Irsoy et al.'s correction divides by |C|) gives it all of it
    share = cbow.inp.weight.grad.to_dense()
    torch.testing.assert_close(share[[0, 2, 3]], grad_h[0].expand(3, 4) / 3)
    torch.testing.assert_close(share[[4, 5]], grad_h[1].expand(2, 4) / 2)


def test_forward_checks_ids_without_reading_gpu_tensors_back():
    model = w.SkipGramNS(5, 3)
    with pytest.raises(ValueError, match="centre"):
        model(torch.tensor([0, 5]), torch.tensor([0, 1]), torch.zeros(2, 1, dtype=torch.long))
    if torch.cuda.is_available():  # the range check is skipped there (no sync); shapes are still checked
        model.cuda()
        with pytest.raises(ValueError, match="context"):
            model(torch.tensor([0, 1]).cuda(), torch.tensor([0]).cuda(), torch.zeros(2, 1, dtype=torch.long).cuda())


def test_negsampling_gradient_exercise_refuses_lazy_answers():
    # an expert read passed the check with log(sigmoid(.)) and with autograd turned back on; both must fail now
    from dlext.homework import evaluate

    F = torch.nn.functional

    def by_hand(v, u_pos, u_neg):
        sp, sn = u_pos @ v, u_neg @ v
        gp, gn = torch.sigmoid(sp) - 1, torch.sigmoid(sn)  # dloss/dscore of the positive and the negatives
        loss = -(F.logsigmoid(sp) + F.logsigmoid(-sn).sum())
        return float(loss), gp * u_pos + gn @ u_neg, gp * v, gn[:, None] * v[None, :]

    def naive_log(v, u_pos, u_neg):
        loss, *grads = by_hand(v, u_pos, u_neg)
        sp, sn = u_pos @ v, u_neg @ v
        return (float(-(torch.log(torch.sigmoid(sp)) + torch.log(1 - torch.sigmoid(sn)).sum())), *grads)

    def autograd_back_on(v, u_pos, u_neg):
        with torch.inference_mode(False), torch.enable_grad():
            xs = [x.clone().requires_grad_() for x in (v, u_pos, u_neg)]
            loss = -(F.logsigmoid(xs[1] @ xs[0]) + F.logsigmoid(-(xs[2] @ xs[0])).sum())
            loss.backward()
            return float(loss), *(x.grad for x in xs)

    assert evaluate("w2v.q3", by_hand).passed
    assert not evaluate("w2v.q3", naive_log).passed
    assert not evaluate("w2v.q3", autograd_back_on).passed


def test_the_3cosmul_check_needs_the_epsilon():
    import dlext.exercises.w2v  # noqa: F401  (registers the checks)
    from dlext.homework import evaluate

    def solve_analogy(vectors, words, a, b, c, eps=1e-3):  # the chapter's solution
        index = {word: i for i, word in enumerate(words)}
        for word in (a, b, c):
            if word not in index:
                raise KeyError(word)
        unit = vectors / vectors.norm(dim=1, keepdim=True)
        cos_a, cos_b, cos_c = ((unit @ unit[index[w]] + 1) / 2 for w in (a, b, c))
        score = cos_b * cos_c / (cos_a + eps)
        score[[index[a], index[b], index[c]]] = -float("inf")
        return words[int(score.argmax())]

    assert evaluate("w2v.q4", solve_analogy).passed
    assert not evaluate("w2v.q4", lambda *args: solve_analogy(*args, eps=0.0)).passed  # an expert read's lazy answer


def test_the_gradient_check_refuses_finite_differences():
    import dlext.exercises.w2v  # noqa: F401
    from dlext.homework import evaluate

    def ns_loss_and_grad(v, u_pos, u_neg):  # the chapter's solution
        pos, neg = u_pos @ v, u_neg @ v
        loss = -nn.functional.logsigmoid(pos) - nn.functional.logsigmoid(-neg).sum()
        g_pos, g_neg = torch.sigmoid(pos) - 1, torch.sigmoid(neg)
        return float(loss), g_pos * u_pos + (g_neg[:, None] * u_neg).sum(0), g_pos * v, g_neg[:, None] * v

    def looped(v, u_pos, u_neg):  # the same formulas with a Python loop over the noise words
        g_pos = torch.sigmoid(u_pos @ v) - 1
        loss, grad_v, grad_neg = -nn.functional.logsigmoid(u_pos @ v), g_pos * u_pos, []
        for u in u_neg:
            g = torch.sigmoid(u @ v)
            loss = loss - nn.functional.logsigmoid(-(u @ v))
            grad_v = grad_v + g * u
            grad_neg.append(g * v)
        return float(loss), grad_v, g_pos * v, torch.stack(grad_neg)

    def finite_differences(v, u_pos, u_neg, h=1e-5):  # an expert read's answer: no derivation, full marks before
        def loss(v, u_pos, u_neg):
            return float(-nn.functional.logsigmoid(u_pos @ v) - nn.functional.logsigmoid(-(u_neg @ v)).sum())
        xs = [v.double(), u_pos.double(), u_neg.double()]
        grads = []
        for i, x in enumerate(xs):
            g = torch.zeros_like(x).flatten()
            for j in range(x.numel()):
                step = torch.zeros_like(x).flatten()
                step[j] = h
                up = [y + step.view_as(y) if k == i else y for k, y in enumerate(xs)]
                down = [y - step.view_as(y) if k == i else y for k, y in enumerate(xs)]
                g[j] = (loss(*up) - loss(*down)) / (2 * h)
            grads.append(g.view_as(x))
        return (loss(*xs), *grads)

    def batched_finite_differences(v, u_pos, u_neg, h=1e-6):  # a later read's answer: every perturbation in one call
        D, K = len(v), len(u_neg)
        x = torch.cat([v, u_pos, u_neg.flatten()]).double()
        steps = h * torch.eye(len(x), dtype=torch.float64)  # the 20,000-dimension case asks for 80 GB here, and fails
        X = torch.cat([x + steps, x - steps])
        vv, up, un = X[:, :D], X[:, D:2 * D], X[:, 2 * D:].reshape(-1, K, D)
        losses = (-nn.functional.logsigmoid((up * vv).sum(1))
                  - nn.functional.logsigmoid(-(un @ vv.unsqueeze(-1)).squeeze(-1)).sum(1))
        g = (losses[:len(x)] - losses[len(x):]) / (2 * h)
        loss = -nn.functional.logsigmoid(u_pos @ v) - nn.functional.logsigmoid(-(u_neg @ v)).sum()
        return float(loss), g[:D], g[D:2 * D], g[2 * D:].reshape(K, D)

    def numpy_finite_differences(v, u_pos, u_neg, h=1e-6):  # a fifth read's answer: the numbers leave torch, uncounted
        import numpy as np
        xs = [np.array(t.tolist(), dtype=np.float64) for t in (v, u_pos, u_neg)]

        def loss(v, u_pos, u_neg):
            return float(np.logaddexp(0, -(u_pos @ v)) + np.logaddexp(0, u_neg @ v).sum())
        grads = []
        for i, x in enumerate(xs):
            g = np.zeros(x.size)
            for j in range(x.size):
                step = np.zeros(x.size)
                step[j] = h
                up = [y + step.reshape(y.shape) if k == i else y for k, y in enumerate(xs)]
                down = [y - step.reshape(y.shape) if k == i else y for k, y in enumerate(xs)]
                g[j] = (loss(*up) - loss(*down)) / (2 * h)
            grads.append(torch.from_numpy(g.reshape(x.shape)))
        return (loss(*xs), *grads)

    assert evaluate("w2v.q3", ns_loss_and_grad).passed
    assert evaluate("w2v.q3", looped).passed
    assert not evaluate("w2v.q3", finite_differences).passed
    assert not evaluate("w2v.q3", batched_finite_differences).passed
    for leave in ("tolist", "numpy", "asarray"):  # every way out to NumPy is refused, and saying so
        def out(v, u_pos, u_neg, leave=leave):
            import numpy as np
            convert = {"tolist": lambda t: np.array(t.tolist()), "numpy": lambda t: t.numpy(), "asarray": np.asarray}[leave]
            return numpy_finite_differences(*[torch.from_numpy(np.array(convert(t), dtype=np.float64))
                                              for t in (v, u_pos, u_neg)])
        result = evaluate("w2v.q3", out)
        assert not result.passed and "finite differences" in result.message, (leave, result)
    assert not hasattr(torch.Tensor, "__dict__") or "numpy" not in vars(torch.Tensor)  # restored as it was
    assert torch.ones(2).numpy().tolist() == [1.0, 1.0]


def test_the_gradient_check_refuses_every_door_to_autograd():
    import dlext.exercises.w2v  # noqa: F401
    from dlext.homework import evaluate

    def through_autograd_backward(v, u_pos, u_neg):  # an expert read's way around the Tensor.backward guard
        with torch.inference_mode(False):
            xs = [x.clone().requires_grad_() for x in (v, u_pos, u_neg)]
            loss = -nn.functional.logsigmoid(xs[1] @ xs[0]) - nn.functional.logsigmoid(-(xs[2] @ xs[0])).sum()
            torch.autograd.backward(loss)
        return float(loss), *(x.grad for x in xs)

    assert not evaluate("w2v.q3", through_autograd_backward).passed


def test_the_first_two_checks_want_what_the_page_does_not_print():
    import math

    import dlext.exercises.w2v  # noqa: F401
    from dlext.homework import evaluate

    assert evaluate("w2v.q1", 26).passed and not evaluate("w2v.q1", 34).passed  # 34: the fixed window the chapter asserts
    assert evaluate("w2v.q2", ((1 + math.sqrt(5)) / 2) ** 2 * 1e-3).passed
    assert not evaluate("w2v.q2", 1e-3).passed and not evaluate("w2v.q2", (math.sqrt(70) + 1) / 70).passed

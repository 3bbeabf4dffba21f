"""Regression tests for issue 27: inputs that are wrong relative to the model, the data or each other.

Each test failed on the code before the fix (a wrong answer, garbage accepted, torch's or Python's own
exception, or a message that did not name the argument). The bad-input battery (test_bad_input.py)
checks the same classes of input for every function by design; these pin the reported cases.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dlext import adversarial, book, data, explain, interactive, metrics, rnn, train, transfer, validate
from dlext import sample_quality as sq
from dlext import word2vec as w2v

CPU = torch.device("cpu")
IMG = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # (B, 1, 28, 28) in [0, 1]
IMG_Y = torch.tensor([0, 1, 2, 0])
ADV_MODEL = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # (B, 1, 4, 4) -> 3 classes
ADV_X, ADV_Y = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0])


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 28 * 28, 3))


# --- wrong answers, no error ------------------------------------------------------------------------

def test_most_similar_and_analogy_name_rows_by_value_not_by_insertion_order():
    vecs = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    vocab = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    shuffled = {"d": 3, "a": 0, "e": 4, "c": 2, "b": 1}  # the same word -> row map, another order
    assert w2v.most_similar(vecs, shuffled, "a", 4) == w2v.most_similar(vecs, vocab, "a", 4)
    assert w2v.analogy(vecs, shuffled, "a", "b", "c", 2) == w2v.analogy(vecs, vocab, "a", "b", "c", 2)
    for bad in ({"a": 0, "b": 1, "c": 2, "d": 3, "e": 7},  # a row beyond the vectors
                {"a": 0, "b": 1, "c": 2, "d": 3, "e": 3}):  # two words on one row
        with pytest.raises(ValueError, match="vocab"):
            w2v.most_similar(vecs, bad, "a")
        with pytest.raises(ValueError, match="vocab"):
            w2v.analogy(vecs, bad, "a", "b", "c")
    with pytest.raises(TypeError, match="vocab"):
        w2v.most_similar(vecs, {"a": 0.0, "b": 1, "c": 2, "d": 3, "e": 4}, "a")


def test_recurrent_classifier_refuses_left_padding_and_a_pad_inside_a_sequence():
    torch.manual_seed(0)
    model = rnn.RecurrentClassifier(10, emb_dim=4, hidden_size=4)
    model(torch.tensor([[5, 7, 0]]))  # right padding is fine
    for ids in ([[0, 0, 5]], [[5, 0, 7]]):  # read as [0, 0, 7] / [5] before the fix
        with pytest.raises(ValueError, match="ids.*right-padded"):
            model(torch.tensor(ids))


def test_recurrent_classifier_pad_id_must_not_be_the_unknown_id_nor_differ_from_the_vocab():
    vocab = rnn.Vocab(["a b c", "a b"])
    with pytest.raises(ValueError, match="pad_id"):
        rnn.RecurrentClassifier(len(vocab), pad_id=vocab.unk_id)
    with pytest.raises(ValueError, match="pad_id"):
        rnn.RecurrentClassifier(vocab, pad_id=2)
    with pytest.raises(ValueError, match="pad_id"):
        rnn.RecurrentClassifier(len(vocab), pad_id=2, vocab=vocab)
    model = rnn.RecurrentClassifier(vocab)  # the Vocab itself: its size and its pad id
    assert model.vocab_size == len(vocab) and model.pad_id == vocab.pad_id
    assert rnn.RecurrentClassifier(len(vocab), vocab=vocab).pad_id == vocab.pad_id
    with pytest.raises(ValueError, match="vocab"):
        rnn.RecurrentClassifier(len(vocab) + 1, vocab=vocab)
    with pytest.raises(ValueError, match="pad_id"):
        rnn.pad_batch([[2, 0, 3]])  # a sequence holding the pad id itself
    with pytest.raises(ValueError, match="pad_id"):
        rnn.pad_batch([[2, 3], [4]], pad_id=vocab.unk_id)  # unknown words would read as padding


def test_activations_refuses_a_layer_used_twice_per_forward():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), relu, nn.Linear(4, 4), relu)
    with pytest.raises(ValueError, match="layer.*2 times"):  # returned 2B rows before
        explain.activations(model, relu, ADV_X)


def test_digit_subset_refuses_unlabelled_minus_one():
    y = torch.tensor([0, 1, -1, 2])
    with pytest.raises(ValueError, match="y"):  # returned the -1 row as the highest digit before
        transfer.digit_subset(IMG[:4], y, [0, 1, 2])


def test_explore_counts_the_base64_page_with_the_first_frame_twice():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draw(k):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(np.random.default_rng(k).normal(size=50))
        return fig

    raw = 0
    for k in (0, 1):
        fig = draw(k)
        raw += len(interactive._png(fig, 72))
        plt.close(fig)
    # the raw PNGs fit (this limit was accepted before); the page holds 4/3 of them, and the first twice
    with pytest.raises(ValueError, match="max_bytes|exceed"):
        interactive.explore(draw, static=True, max_bytes=raw + 100, k=[0, 1])
    page = interactive.explore(draw, static=True, max_bytes=10 * raw, show=False, k=[0, 1]).html
    assert len(page.encode()) <= 10 * raw
    with pytest.raises(ValueError, match="max_bytes"):
        interactive.explore(draw, static=True, max_bytes=len(page.encode()) - 1, k=[0, 1])


def test_training_refuses_an_optimizer_over_another_models_parameters():
    X, y = torch.randn(8, 2), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    model, other = nn.Linear(2, 3), nn.Linear(2, 3)
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="optimizer"):
        train.train_classifier(model, X, y, device=CPU, optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(model, 8, lambda idx: model(X[idx]).sum(), optimizer=opt, progress=False)
    net = transfer.make_model(3)
    with pytest.raises(ValueError, match="optimizer"):
        transfer.fit_steps(net, IMG, IMG_Y, steps=1, batch_size=2, device=CPU,
                           optimizer=transfer.make_optimizer(transfer.make_model(3), 1e-3))


def test_word2vec_train_refuses_a_corpus_without_pairs():
    model = w2v.SkipGramNS(3, 2)
    ids, sentence = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])  # every word alone in its sentence
    with pytest.raises(ValueError, match="pair"):  # returned [] before
        w2v.train(model, ids, sentence, np.array([1, 1, 1]), device=CPU, epochs=1, progress=False)


def test_accuracy_under_attack_refuses_labels_outside_the_models_classes():
    y = torch.tensor([0, 1, 5, 7])  # the model has 3 classes
    with pytest.raises(ValueError, match="y"):  # eps = 0 returned a number before
        adversarial.accuracy_under_attack(ADV_MODEL, ADV_X, y, adversarial.fgsm, 0.0)
    with pytest.raises(ValueError, match="y"):
        adversarial.accuracy_under_attack(ADV_MODEL, ADV_X, y, adversarial.fgsm, 0.1)


def test_noise_distribution_is_finite_for_large_powers_and_refuses_zero_counts_with_negative_powers():
    p = w2v.noise_distribution(np.array([5, 4, 3, 0]), power=1000)
    assert torch.isfinite(p).all()  # NaN before (inf / inf)
    torch.testing.assert_close(p, torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=p.dtype), atol=1e-12, rtol=0)
    torch.testing.assert_close(w2v.noise_distribution(np.array([1, 3]), 0.75),
                               torch.tensor([1.0, 3 ** 0.75], dtype=torch.float64) / (1 + 3 ** 0.75))
    with pytest.raises(ValueError, match="power"):
        w2v.noise_distribution(np.array([5, 0, 3]), power=-0.5)


def test_wordsim_spearman_refuses_constant_vectors_or_scores():
    vocab = {"a": 0, "b": 1, "c": 2, "d": 3}
    pairs = [("a", "b", 1.0), ("b", "c", 2.0), ("c", "d", 3.0), ("a", "d", 4.0)]
    with pytest.raises(ValueError, match="vectors"):  # NaN before
        w2v.wordsim_spearman(torch.ones(4, 3), vocab, pairs)
    with pytest.raises(ValueError, match="pairs"):
        w2v.wordsim_spearman(torch.randn(4, 3), vocab, [(a, b, 5.0) for a, b, _ in pairs])


def test_cbow_refuses_offsets_that_leave_a_bag_empty():
    cbow = w2v.CBOWNS(5, 3)
    with pytest.raises(ValueError, match="offsets"):  # a loss from two empty bags before
        cbow(torch.tensor([1, 2, 3, 4]), torch.tensor([0, 3, 1]), torch.tensor([0, 1, 2]),
             torch.tensor([[1], [2], [3]]))


def test_skipgram_pairs_refuses_a_sentence_id_that_comes_back():
    with pytest.raises(ValueError, match="sentence"):  # paired words 0 and 2 across sentences before
        w2v.skipgram_pairs(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 0]), 2, shrink=False)


def test_confusion_rate_refuses_one_class_twice():
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="a and b"):
        transfer.confusion_rate(y, y, 1, 1)


def test_random_affine_rotates_a_non_square_image_without_shearing_it():
    H, W = 21, 61
    x = torch.zeros(8, 1, H, W)
    x[:, 0, 10, 40] = 1.0  # a dot 10 pixels right of the centre (10, 30)
    out = transfer.random_affine(x, max_degrees=90, generator=torch.Generator().manual_seed(0))
    rows, cols = torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32)
    for img in out[:, 0]:
        mass = img.sum()
        r, c = (img.sum(1) * rows).sum() / mass, (img.sum(0) * cols).sum() / mass
        assert math.hypot(float(r) - 10, float(c) - 30) == pytest.approx(10, abs=0.5)  # a rotation keeps distances


# --- accepted garbage ---------------------------------------------------------------------------------

def test_add_noise_refuses_images_outside_zero_one():
    with pytest.raises(ValueError, match="x.*255"):
        transfer.add_noise(IMG * 255, 0.1)
    with pytest.raises(ValueError, match="x.*normalized"):
        transfer.add_noise(IMG * 2 - 1, 0.1)


def test_pseudo_labels_refuses_logits():
    with pytest.raises(ValueError, match="probs"):
        transfer.pseudo_labels(torch.tensor([[2.0, -1.0], [0.5, 0.7]]), 0.9)


def test_occlusion_and_deletion_curve_refuse_a_model_that_already_outputs_probabilities():
    probs_model = nn.Sequential(_cnn(), nn.Softmax(-1))
    with pytest.raises(ValueError, match="model.*probabilities"):
        explain.occlusion(probs_model, IMG, IMG_Y, patch=14, stride=14)
    with pytest.raises(ValueError, match="model.*probabilities"):
        explain.deletion_curve(probs_model, IMG, IMG_Y, torch.rand(IMG.shape), steps=2)


def test_deletion_auc_refuses_a_curve_outside_zero_one():
    with pytest.raises(ValueError, match="curve"):
        explain.deletion_auc(torch.tensor([[2.0, 1.5, -0.5]]))


def test_deletion_curve_refuses_a_constant_ranking():
    with pytest.raises(ValueError, match="ranking"):
        explain.deletion_curve(_cnn(), IMG, IMG_Y, torch.ones(IMG.shape), steps=2)


def test_sample_quality_refuses_pixels_outside_zero_one_and_labels_beyond_the_classes():
    clf = sq.MNISTClassifier(feature_dim=8)
    with pytest.raises(ValueError, match="samples"):
        sq.sample_quality(IMG * 2 - 1, clf, device=CPU)
    with pytest.raises(ValueError, match="samples"):
        sq.sample_quality(IMG * 255, clf, device=CPU)
    with pytest.raises(ValueError, match="labels"):
        sq.sample_quality(IMG, clf, device=CPU, labels=torch.tensor([0, 1, 10, 12]))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float64("nan"), torch.tensor(math.inf)])
def test_glue_refuses_nan_and_infinity(value):
    with pytest.raises(ValueError, match="finite"):
        book.glue("x", value)


def test_accuracy_under_attack_refuses_an_attack_that_leaves_the_eps_ball():
    def too_far(model, x, y, eps):
        return (x + 3 * eps).clamp(0, 1)

    with pytest.raises(ValueError, match="attack"):
        adversarial.accuracy_under_attack(ADV_MODEL, ADV_X * 0.5, ADV_Y, too_far, 0.1)
    adversarial.accuracy_under_attack(ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1)  # a real one passes


@pytest.mark.parametrize("attack", [
    lambda y: adversarial.fgsm(ADV_MODEL, ADV_X, y, 0.1),
    lambda y: adversarial.pgd(ADV_MODEL, ADV_X, y, 0.1, 0.05, 2),
    lambda y: adversarial.targeted(ADV_MODEL, ADV_X, y, steps=2)])
def test_attacks_refuse_ignore_index_labels_and_labels_beyond_the_classes(attack):
    for y in (torch.tensor([0, -100, 1, 2]), torch.tensor([0, 1, 2, 3]), -1, 3):
        with pytest.raises(ValueError, match="y|target"):
            attack(y)


@pytest.mark.parametrize("attack", [
    lambda: adversarial.fgsm(ADV_MODEL, ADV_X[:0], ADV_Y[:0], 0.1),
    lambda: adversarial.pgd(ADV_MODEL, ADV_X[:0], ADV_Y[:0], 0.1, 0.05, 2),
    lambda: adversarial.targeted(ADV_MODEL, ADV_X[:0], ADV_Y[:0], steps=2)])
def test_attacks_refuse_an_empty_batch(attack):
    with pytest.raises(ValueError, match="x"):
        attack()


@pytest.mark.parametrize("clamp, error", [((1.0, 0.0), ValueError), ((float("nan"), 1.0), ValueError),
                                          ((0.0, 1.0, 2.0), TypeError), ("0,1", TypeError)])
def test_activation_maximization_refuses_a_bad_clamp(clamp, error):
    cnn = _cnn()
    with pytest.raises(error, match="clamp"):
        explain.activation_maximization(cnn, cnn[0], 0, steps=1, clamp=clamp)


def test_pad_batch_refuses_float_ids_and_a_non_int_pad_id():
    with pytest.raises(TypeError, match="seqs"):
        rnn.pad_batch([[1.0, 2.0]])
    for pad_id in (1.5, True):
        with pytest.raises(TypeError, match="pad_id"):
            rnn.pad_batch([[1, 2]], pad_id=pad_id)


def test_recurrent_classifier_refuses_wrong_types_with_type_errors():
    with pytest.raises(TypeError, match="hidden_size"):
        rnn.RecurrentClassifier(10, hidden_size=True)
    with pytest.raises(TypeError, match="vocab_size"):
        rnn.RecurrentClassifier(2.5)
    with pytest.raises(TypeError, match="kind"):
        rnn.RecurrentClassifier(10, kind=["lstm"])
    with pytest.raises(TypeError, match="pad_id"):
        rnn.RecurrentClassifier(10, pad_id=0.5)
    with pytest.raises(TypeError, match="dropout"):
        rnn.RecurrentClassifier(10, dropout="0.1")


def test_metrics_record_refuses_a_bool():
    with pytest.raises(TypeError, match="a.b"):
        metrics.record("a.b", True)


# --- state, exceptions, messages ----------------------------------------------------------------------

class _Failing(w2v.SkipGramNS):
    def forward(self, *args):
        raise RuntimeError("boom")


def test_word2vec_train_restores_the_mode_when_the_model_raises(monkeypatch):
    # the training step is written out by hand (no forward call): make that step fail
    def boom(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(w2v, "_sgd_update", boom)
    model = _Failing(5, 3).eval()
    with pytest.raises(RuntimeError, match="boom"):
        w2v.train(model, torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([0, 0, 0, 1, 1, 1]),
                  np.array([5, 4, 3, 2, 1]), device=CPU, epochs=1, sample=1.0, progress=False)
    assert not model.training


def test_fit_steps_refuses_labels_outside_the_models_classes():
    net = transfer.make_model(3)
    for y in (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, -1, 2])):  # torch's IndexError before
        with pytest.raises(ValueError, match="y"):
            transfer.fit_steps(net, IMG, y, steps=1, batch_size=2, device=CPU, optimizer=transfer.make_optimizer(net, 1e-3))


def test_train_classifier_refuses_labels_beyond_the_models_classes():
    with pytest.raises(ValueError, match="y"):
        train.train_classifier(nn.Linear(2, 3), torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), device=CPU,
                               progress=False)


def test_float64_model_with_float32_input_is_refused_or_handled():
    model = _cnn().double()
    for call in (lambda: adversarial.fgsm(model, IMG, IMG_Y, 0.1),
                 lambda: explain.saliency(model, IMG, IMG_Y),
                 lambda: train.predict_proba(model, IMG, device=CPU)):
        with pytest.raises(TypeError, match="x|X"):  # torch's dtype RuntimeError before
            call()
    img = explain.activation_maximization(model, model[0], 0, steps=2)  # builds its input in the model's dtype
    assert img.dtype == torch.float64
    pretrained = sq.MNISTClassifier().double()
    net = transfer.make_model(3, pretrained)
    assert net(IMG.double()).shape == (4, 3)


@pytest.mark.parametrize("name", ["cuda", "cuda:99", "mps"])
def test_unavailable_device_is_a_value_error_naming_device(name):
    if name == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    mps = getattr(torch.backends, "mps", None)
    if name == "mps" and mps is not None and mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(ValueError, match="device"):
        validate.device("device", name)
    with pytest.raises(ValueError, match="device"):
        train.predict_proba(nn.Linear(2, 3), torch.randn(4, 2), device=name)
    with pytest.raises(ValueError, match="device"):
        adversarial.accuracy_under_attack(ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1, device=name)


def test_truthy_strings_are_not_flags():
    with pytest.raises(TypeError, match="random_start"):
        adversarial.pgd(ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.05, 2, random_start="no")
    with pytest.raises(TypeError, match="static"):
        interactive.explore(lambda a: None, static="yes", a=[1, 2])


@pytest.mark.parametrize("call, name", [
    (lambda: rnn.Vocab(["a"], min_count=1.5), "min_count"),
    (lambda: rnn.pad_batch([[1]], max_len=1.5), "max_len"),
    (lambda: interactive.explore(lambda a: None, static=True, dpi=1.5, a=[1]), "dpi"),
    (lambda: adversarial.pgd(ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.05, "20"), "steps"),
    (lambda: adversarial.targeted(ADV_MODEL, ADV_X, 1, steps="20"), "steps"),
    (lambda: adversarial.accuracy_under_attack(ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1, batch_size=2.0),
     "batch_size"),
    (lambda: interactive.load_quiz(3), "quiz name"),
    (lambda: interactive.quiz(3), "quiz name"),
    (lambda: adversarial.fgsm(ADV_MODEL, ADV_X.long(), ADV_Y, 0.1), "x"),
])
def test_wrong_types_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()


@pytest.mark.parametrize("call, name, error", [
    (lambda: rnn.Vocab(None), "texts", TypeError),
    (lambda: rnn.Vocab([1, 2]), r"texts\[0\]", TypeError),
    (lambda: adversarial.pgd(ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.05, 2, generator=0), "generator", TypeError),
    (lambda: transfer.random_affine(IMG, 10.0, generator=0), "generator", TypeError),
    (lambda: transfer.add_noise(IMG, 0.1, generator=0), "generator", TypeError),
    (lambda: transfer.rotate180(IMG, generator=0), "generator", TypeError),
    (lambda: transfer.per_class_sample(IMG_Y, 1, generator=0), "generator", TypeError),
    (lambda: w2v.skipgram_pairs(torch.tensor([0, 1]), torch.tensor([0, 0]), 2, generator=0), "generator", TypeError),
    (lambda: explain.saliency(_cnn(), IMG, "1"), "target", TypeError),
    (lambda: validate.batched(nn.Linear(2, 3), [[0.0, 1.0]], device=CPU), "X", TypeError),
    (lambda: explain.activations(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), nn.Linear(2, 2), ADV_X),
     "layer", ValueError),
])
def test_messages_name_the_argument(call, name, error):
    with pytest.raises(error, match=name):
        call()


def test_activations_on_a_layer_that_never_runs_or_returns_a_tuple():
    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(16, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x.flatten(1))

    model = Skips()
    with pytest.raises(ValueError, match="layer.*never ran"):
        explain.activations(model, model.unused, ADV_X)

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 3, batch_first=True)

        def forward(self, x):
            return self.lstm(x[:, 0])[0][:, -1]

    model = Recurrent()
    with pytest.raises(TypeError, match="layer.*tuple"):
        explain.activations(model, model.lstm, ADV_X)


def test_wordsim_spearman_takes_a_parameter_like_most_similar():
    model = w2v.SkipGramNS(4, 3)
    vocab = {"a": 0, "b": 1, "c": 2, "d": 3}
    pairs = [("a", "b", 1.0), ("b", "c", 2.0), ("c", "d", 3.0), ("a", "d", 4.0)]
    w2v.most_similar(model.inp.weight, vocab, "a")
    assert w2v.wordsim_spearman(model.inp.weight, vocab, pairs) == w2v.wordsim_spearman(model.vectors, vocab, pairs)


@pytest.mark.parametrize("S1", [np.array([[np.nan]]), np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros((0, 0))])
def test_frechet_rounding_bound_refuses_nan_non_symmetric_and_empty(S1):
    with pytest.raises(ValueError, match="S1"):
        sq.frechet_rounding_bound(S1, np.eye(len(S1)) if len(S1) else np.zeros((0, 0)))


def test_gaussian_frechet_refuses_empty_input():
    with pytest.raises(ValueError, match="mu1"):
        sq.gaussian_frechet(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)))


def test_fetch_lists_the_urls_when_the_cache_cannot_be_created(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(data.ENV_DIR, str(blocker / "cache"))
    monkeypatch.delenv(data.ENV_MIRROR, raising=False)
    relpath = "word2vec-eval/wordsim353.tsv"
    with pytest.raises(data.DataError) as info:
        data.fetch(relpath)
    for url in data.urls(relpath):
        assert url in str(info.value)

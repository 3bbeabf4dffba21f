"""dlext.train: the shared loop learns, and rejects bad input."""
import pytest
import torch
from torch import nn

import dlext
from dlext import train


def _blobs(n=400):
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=gen)
    X = torch.randn(n, 2, generator=gen) + 3 * y[:, None].float()  # two separable clusters
    return X, y


def test_train_classifier_learns_a_separable_problem():
    dlext.seed(0)
    X, y = _blobs()
    model = nn.Linear(2, 2)
    before = train.accuracy(model, X, y, device=torch.device("cpu"))
    losses = train.train_classifier(model, X, y, device=torch.device("cpu"), epochs=20, batch_size=32,
                                    lr=0.05, progress=False)
    assert len(losses) == 20 * 13
    assert sum(losses[-13:]) < 0.3 * sum(losses[:13])
    assert train.accuracy(model, X, y, device=torch.device("cpu")) > max(before, 0.95)


def test_clip_norm_bounds_every_step():
    """With clip_norm, SGD's step is lr times a gradient of norm at most clip_norm (and unclipped steps are larger)."""
    X, y = _blobs()
    for clip in (None, 0.01):
        dlext.seed(0)
        model = nn.Linear(2, 2)
        with torch.no_grad():
            model.weight.mul_(50)  # large logits: large gradients
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        train.train_classifier(model, X, y, device=torch.device("cpu"), epochs=1, batch_size=len(X), progress=False,
                               optimizer=torch.optim.SGD(model.parameters(), lr=1.0), clip_norm=clip)
        step = (torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm().item()
        if clip is None:
            assert step > 0.1
        else:
            assert step <= clip * (1 + 1e-3)  # float32 rounding of the rescaled gradient


def test_batches_cover_every_index_once():
    idx = torch.cat(list(train.batches(10, 3, generator=torch.Generator().manual_seed(0))))
    assert sorted(idx.tolist()) == list(range(10))
    assert [len(b) for b in train.batches(10, 3, shuffle=False)] == [3, 3, 3, 1]


def test_predict_proba_is_the_softmax_of_the_eval_mode_model():
    torch.manual_seed(0)
    X, _ = _blobs(50)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    p = train.predict_proba(model, X, device=torch.device("cpu"), batch_size=7)  # 8 batches, the last of 1
    with torch.no_grad():
        expected = model.eval()(X).softmax(-1)  # (50, 3); dropout would make a train-mode answer differ
    torch.testing.assert_close(p, expected)


def test_bad_input_raises():
    X, y = _blobs(10)
    with pytest.raises(ValueError, match="same length"):
        train.train_classifier(nn.Linear(2, 2), X, y[:5], device=torch.device("cpu"))
    with pytest.raises(ValueError, match="epochs"):
        train.train_classifier(nn.Linear(2, 2), X, y, device=torch.device("cpu"), epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        list(train.batches(10, 0))


def test_getting_started_baseline_checks():
    """Exercise 3 grades the function alone (older releases' (function, letter) pairs as before); exercise 4 the number."""
    from dlext.homework import evaluate

    def nearest_mean_accuracy(X_train, y_train, X_test, y_test):
        means = torch.stack([X_train[y_train == k].mean(0) for k in range(10)]).flatten(1)
        return (torch.cdist(X_test.flatten(1), means).argmin(1) == y_test).float().mean().item()

    assert evaluate("getting_started.q3", nearest_mean_accuracy).passed
    assert not evaluate("getting_started.q3", lambda *args: 0.8).passed
    assert evaluate("getting_started.q3", (nearest_mean_accuracy, "b")).passed
    assert not evaluate("getting_started.q3", (nearest_mean_accuracy, "c")).passed
    assert evaluate("getting_started.q4", 76.55).passed  # means of the first 1,000 training images
    assert evaluate("getting_started.q4", 76.5).passed and evaluate("getting_started.q4", 76.6).passed  # one decimal
    assert not evaluate("getting_started.q4", 76.7).passed and not evaluate("getting_started.q4", 0.7655).passed
    assert not evaluate("getting_started.q4", 82.06).passed  # the 55,000-image baseline the chapter prints below

"""dlext.zoo: a cached model is the one training gives, and anything that changes the weights trains again.

A small recipe stands in for the MNIST judge (which takes about 20 s to train): the mechanism is the same,
and the chapters that use the judge (08, 09) run the real one under nbval.
"""
import pytest
import torch
from torch import nn

import dlext
from dlext import zoo


def _build() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))


def _train(seed: int, device: torch.device) -> nn.Module:
    dlext.seed(seed)
    model = _build().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):  # draws from torch's generator, like a shuffled epoch
        x = torch.randn(16, 3, device=device)
        loss = nn.functional.cross_entropy(model(x), (x[:, 0] > 0).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _train_longer(seed: int, device: torch.device) -> nn.Module:
    model = _train(seed, device)
    model.eval()
    return model


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setenv(zoo.ENV_DIR, str(tmp_path / "models"))
    monkeypatch.setitem(zoo.RECIPES, "tiny", zoo.Recipe(_build, _train, "a test recipe"))
    return tmp_path / "models"


CPU = torch.device("cpu")


def test_a_loaded_model_and_the_random_state_after_it_equal_a_fresh_training(tiny):
    fresh, how = zoo.get("tiny", seed=3, device=CPU)
    after_fresh = torch.rand(5)
    assert how.startswith("trained in") and len(list(tiny.glob("tiny-seed3-*.pt"))) == 1
    loaded, how = zoo.get("tiny", seed=3, device=CPU)
    after_load = torch.rand(5)
    assert how.startswith("loaded from the model cache") and "retrain=True" in how
    assert loaded is not fresh
    for (k, a), (_, b) in zip(fresh.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert torch.equal(after_fresh, after_load)  # the cells after it see the same random numbers
    assert loaded.training == fresh.training


def test_a_changed_seed_recipe_or_retrain_trains_again(tiny, monkeypatch):
    zoo.get("tiny", seed=0, device=CPU)
    assert zoo.get("tiny", seed=1, device=CPU)[1].startswith("trained")
    assert zoo.get("tiny", seed=0, device=CPU, retrain=True)[1].startswith("trained")
    key = zoo.recipe_key("tiny", 0, CPU)
    monkeypatch.setitem(zoo.RECIPES, "tiny", zoo.Recipe(_build, _train_longer, "changed"))
    changed = zoo.recipe_key("tiny", 0, CPU)
    assert changed != key
    model, how = zoo.get("tiny", seed=0, device=CPU)
    assert how.startswith("trained") and not model.training
    monkeypatch.setattr(torch, "__version__", "0.0.0")  # another torch
    assert zoo.recipe_key("tiny", 0, CPU) != changed


def test_a_corrupted_cache_file_is_trained_again_and_said_so(tiny):
    zoo.get("tiny", seed=0, device=CPU)
    (path,) = tiny.glob("tiny-seed0-*.pt")
    path.write_bytes(b"not a model")
    model, how = zoo.get("tiny", seed=0, device=CPU)
    assert "did not load" in how and "trained in" in how
    assert zoo.get("tiny", seed=0, device=CPU)[1].startswith("loaded")  # the good file replaced the bad one
    assert not list(tiny.glob(".*.tmp"))


def test_the_key_covers_the_dlext_source(tiny, monkeypatch):
    key = zoo.recipe_key("tiny", 0, CPU)
    monkeypatch.setattr(zoo, "_package_digest", lambda: "another dlext")
    assert zoo.recipe_key("tiny", 0, CPU) != key


def test_the_judge_recipe_is_what_chapters_08_and_09_train():
    """The chapters call zoo.get("mnist_judge", seed=0, ...): the recipe holds the settings they describe."""
    import inspect
    source = inspect.getsource(zoo._train_judge)
    assert "epochs=1, lr=2e-3" in source and "MNISTClassifier()" in source
    assert "batches of 128" in zoo.RECIPES["mnist_judge"].about
    from dlext import train
    assert inspect.signature(train.train_classifier).parameters["batch_size"].default == 128

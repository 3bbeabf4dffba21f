"""dlext core: device choice, seeding, metrics."""
import json
import random

import numpy as np
import pytest
import torch

import dlext
from dlext import metrics


def test_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dlext.device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dlext.device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dlext.device() == torch.device("cpu")


def test_device_matches_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dlext.device().type in (expected, "mps")


def _draw():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), torch.randn(2, 2).tolist()


def test_seed_makes_every_generator_repeat():
    dlext.seed(123)
    first = _draw()
    dlext.seed(123)
    assert _draw() == first
    dlext.seed(124)
    assert _draw() != first


@pytest.mark.parametrize("bad, error", [(1.5, TypeError), ("0", TypeError), (True, TypeError), (-1, ValueError), (2**32, ValueError)])
def test_seed_rejects_bad_input(bad, error):
    with pytest.raises(error, match="seed"):
        dlext.seed(bad)


def test_import_has_no_side_effects():
    import subprocess
    import sys
    code = ("import random, torch; s = torch.initial_seed(); r = random.getstate(); import dlext, dlext.data, dlext.metrics, "
            "dlext.train, dlext.homework; assert torch.initial_seed() == s and random.getstate() == r")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_metrics_record_appends_json_lines(tmp_path, monkeypatch):
    out = tmp_path / "m.jsonl"
    monkeypatch.setenv("DLEXT_METRICS", str(out))
    monkeypatch.setenv("DLEXT_NOTEBOOK", "00_getting_started.ipynb")
    metrics.record("a.b", 0.5)
    metrics.record("a.c", np.float32(2.0))
    metrics.record("a.d", torch.tensor(3))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"notebook": "00_getting_started.ipynb", "key": "a.b", "value": 0.5},
                     {"notebook": "00_getting_started.ipynb", "key": "a.c", "value": 2.0},
                     {"notebook": "00_getting_started.ipynb", "key": "a.d", "value": 3.0}]


def test_metrics_record_does_nothing_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("DLEXT_METRICS", raising=False)
    monkeypatch.chdir(tmp_path)
    metrics.record("a.b", 1.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key, value, error", [("", 1.0, ValueError), (3, 1.0, TypeError),
                                                ("a", "x", TypeError), ("a", float("nan"), ValueError),
                                                ("a", torch.ones(2), TypeError)])
def test_metrics_record_rejects_bad_input(key, value, error):
    with pytest.raises(error):
        metrics.record(key, value)

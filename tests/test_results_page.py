"""tools/results_page.py: reading targets, checking metrics against them, reading the build's metrics file."""
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import results_page  # noqa: E402


@pytest.mark.parametrize("target, value, expected", [
    (">= 0.99", 0.995, True), (">= 0.99", 0.98, False), ("<= 1e-5", 3e-6, True), ("== 138357544", 138357544, True),
    ("< 0.6", 0.6, False), ("between 0.98 1.02", 1.01, True), ("between 0.98 1.02", 0.97, False),
    (">= 0.8 * w2v.gensim_analogy_acc", 0.03, True), (">= 0.8 * w2v.gensim_analogy_acc", 0.02, False),
    ("> adv.robust_acc_plain + 0.2", 0.55, True), ("> adv.robust_acc_plain + 0.2", 0.45, False),
    ("< viz.deletion_auc_random", 0.1, True), ("<= 0.7 * missing.key", 0.1, None),
])
def test_check_target(target, value, expected):
    metrics = {"w2v.gensim_analogy_acc": 0.035, "adv.robust_acc_plain": 0.3, "viz.deletion_auc_random": 0.4}
    assert results_page.check_target(target, value, metrics) is expected


@pytest.mark.parametrize("bad", ["0.9", "=> 0.9", ">= ", "between 1", "about 0.9", ">= 0.9 * "])
def test_malformed_targets_are_refused(bad):
    with pytest.raises(ValueError, match="cannot read the target"):
        results_page.check_target(bad, 1.0, {})


def test_targets_file_names_real_chapters_and_metrics_they_record():
    targets = results_page.load_targets()
    chapters = {p.stem: p for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")}
    assert set(targets["budgets"]) == set(chapters), "every chapter has a time budget, and only chapters do"
    for chapter, keys in targets["metrics"].items():
        assert chapter in chapters, f"targets.yml lists metrics of {chapter}, which is not in book/"
        source = "\n".join(c.source for c in nbformat.read(chapters[chapter], as_version=4).cells
                           if c.cell_type == "code")
        recorded = re.findall(r"""record\(\s*f?["']([\w.]+)""", source)  # f"ae.conv_mse.{k}" gives "ae.conv_mse."
        for key in keys:
            assert key in recorded or any(r.endswith(".") and key.startswith(r) for r in recorded), \
                f"targets.yml holds {key} for {chapter}, but that chapter never records it"


def test_timings_name_metrics_with_targets(tmp_path):
    targets = results_page.load_targets()
    assert targets["timing"] and all(any(k in t for t in targets["metrics"].values()) for k in targets["timing"])
    bad = tmp_path / "targets.yml"
    bad.write_text("budgets: {}\ntiming: [w2v.no_such_key]\nmetrics:\n  05_word2vec:\n    w2v.train_seconds: '<= 40'\n")
    with pytest.raises(ValueError, match="timing must list metric keys"):
        results_page.load_targets(bad)


def test_metrics_file_is_read_per_chapter(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"notebook": "03_cnn_arithmetic", "key": "cnn.a", "value": 1.0},
             {"notebook": "03_cnn_arithmetic.ipynb", "key": "cnn.a", "value": 2.0},
             {"notebook": "04_rnn_lstm", "key": "rnn.b", "value": 3.0}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert results_page.read_metrics(path) == {"03_cnn_arithmetic": {"cnn.a": 2.0}, "04_rnn_lstm": {"rnn.b": 3.0}}
    assert results_page.read_metrics(tmp_path / "absent.jsonl") == {}


def test_a_chapter_is_over_budget_by_its_kernel_cpu_time_not_its_wall_clock_time():
    # a loaded machine: 4x the wall-clock time, the same CPU time; only CPU time counts against the budget
    cell, over = results_page.run_time_cell({"cpu_seconds": 100.0, "wall_seconds": 400.0}, 120)
    assert cell == "100.0" and not over
    cell, over = results_page.run_time_cell({"cpu_seconds": 130.0, "wall_seconds": 131.0}, 120)
    assert over
    cell, over = results_page.run_time_cell({"cpu_seconds": 50.0, "cached": True, "executed": "2026-01-02 03:04 UTC"}, 60)
    assert cell.startswith("50.0 ") and "cached run of 2026-01-02 03:04 UTC" in cell and not over
    assert results_page.run_time_cell(None, 60) == ("not executed in this build", False)
    assert results_page.run_time_cell({"cpu_seconds": None, "cached": True}, 60)[0].startswith("not measured")


def test_the_nbval_budget_check_counts_kernel_cpu_time_where_known_and_fails_past_twice_the_budget(tmp_path):
    import json
    import time

    import conftest

    budgets = {"08_gans": 180, "10_adversarial": 150}
    # CI's 08_gans: 385 s wall-clock under make test's two workers; its kernel's CPU time is what counts
    rows = conftest.budget_rows({"08_gans": 385.0, "10_adversarial": 120.0}, {"08_gans": 300.0}, budgets)
    assert rows == [("08_gans", 385.0, 300.0, 180, "over budget"), ("10_adversarial", 120.0, None, 150, "")]
    rows = conftest.budget_rows({"08_gans": 300.0, "10_adversarial": 301.0}, {"08_gans": 361.0}, budgets)
    assert [r[-1] for r in rows] == ["more than 2x the budget: fails the run"] * 2  # CPU 361 > 360; wall 301 > 300
    assert conftest.budget_rows({"99_new": 500.0}, {}, budgets) == [("99_new", 500.0, None, None, "")]
    # the run records staged in $DLEXT_NBVAL_OUT during this session; an older record does not count
    (tmp_path / "08_gans.run.json").write_text(json.dumps({"cpu_seconds": 290.5, "wall_seconds": 380.0}))
    (tmp_path / "09_conditional_gans.run.json").write_text(json.dumps({"cpu_seconds": None}))
    old = tmp_path / "10_adversarial.run.json"
    old.write_text(json.dumps({"cpu_seconds": 100.0}))
    import os
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert conftest._kernel_cpu_seconds(str(tmp_path), time.time() - 60) == {"08_gans": 290.5}
    assert conftest._kernel_cpu_seconds(None, 0) == {}

"""The benchmark runner times a notebook in a fresh kernel and collects what it recorded."""
import json
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import run as bench  # noqa: E402


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_runner_collects_metrics_and_times(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "import os\nfrom dlext import metrics\n"
                     "assert os.environ['OMP_NUM_THREADS'] == '1'\nmetrics.record('demo.answer', 42)")
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('boom')")
    code = bench.main([str(good), str(bad), "--out", str(tmp_path / "out")])
    assert code == 1  # one notebook failed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    good_r, bad_r = summary["results"]
    assert good_r["ok"] and good_r["metrics"] == {"demo.answer": 42.0} and good_r["seconds"] > 0
    assert not bad_r["ok"] and "boom" in bad_r["error"]
    assert "| good |" in bench.table(summary["results"]) and "demo.answer" in bench.table(summary["results"])


def test_default_notebooks_follow_the_toc():
    chapters = bench.chapters_in_toc()
    assert chapters and chapters[0].name == "00_getting_started.ipynb"


def test_a_notebook_that_hangs_is_reported_not_waited_for(tmp_path):
    import time
    hang = _notebook(tmp_path / "hang.ipynb", "import time\ntime.sleep(600)")
    start = time.perf_counter()
    assert bench.main([str(hang), "--timeout", "10", "--out", str(tmp_path / "out")]) == 1
    result = json.loads((tmp_path / "out" / "summary.json").read_text())["results"][0]
    assert not result["ok"] and time.perf_counter() - start < 60


def _gpu_check():
    import gpu_check
    return gpu_check


def test_gpu_check_dry_run_times_checks_targets_and_names_cpu_only_asserts(tmp_path, monkeypatch):
    """Issue 35: the prepared GPU command, run on the CPU as CI does: chapter timed, metrics against
    targets and the CPU reference with a tolerance, CPU-only asserts named, one JSON."""
    gc = _gpu_check()
    nb = _notebook(tmp_path / "toy.ipynb", "import torch\nfrom dlext import metrics\ndevice = torch.device('cpu')\n"
                   "metrics.record('toy.acc', 0.5)\nmetrics.record('toy.loss', 2.0)\n"
                   "assert device.type != 'cpu' or 1 + 1 == 2")
    targets = tmp_path / "targets.yml"
    targets.write_text("metrics:\n  toy:\n    toy.acc: '>= 0.9'\ngpu_tolerances:\n  toy.loss: 0.5\n")
    reference = tmp_path / "ref.json"
    reference.write_text(json.dumps({"command": "x", "machine": "y", "metrics": {"toy": {"toy.acc": 0.6, "toy.loss": 1.5}}}))
    monkeypatch.setattr(gc, "TARGETS", targets)
    monkeypatch.setattr(gc, "REFERENCE", reference)
    code = gc.main([str(nb), "--dry-run", "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert code == 1 and summary["failed"] == ["toy"]  # toy.acc = 0.5 misses '>= 0.9'
    (chapter,) = summary["chapters"]
    assert chapter["ok"] and chapter["seconds"] > 0
    rows = {m["metric"]: m for m in chapter["metrics"]}
    assert rows["toy.acc"]["meets_target"] is False and rows["toy.acc"]["cpu"] == 0.6
    assert abs(rows["toy.acc"]["rel_diff"] - 1 / 6) < 1e-9 and rows["toy.acc"]["within_tolerance"] is False
    assert rows["toy.loss"]["tolerance"] == 0.5 and rows["toy.loss"]["within_tolerance"] is True
    assert len(chapter["cpu_only_asserts"]) == 1 and "device.type != 'cpu'" in chapter["cpu_only_asserts"][0]
    assert "MISSED" in gc.table(summary)


def test_gpu_check_refuses_without_cuda_unless_dry_run(capsys):
    import torch
    if torch.cuda.is_available():
        import pytest
        pytest.skip("this machine has CUDA")
    assert _gpu_check().main(["--out", "/nonexistent/never-written"]) == 2
    assert "--dry-run" in capsys.readouterr().err


def test_gpu_check_spends_no_more_than_its_budget(tmp_path):
    gc = _gpu_check()
    nbs = [_notebook(tmp_path / f"n{i}.ipynb", "import time\ntime.sleep(3)") for i in range(2)]
    code = gc.main([str(p) for p in nbs] + ["--dry-run", "--budget", "6", "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert code == 1 and summary["chapters"][1]["error"] == "not run: the budget was spent"

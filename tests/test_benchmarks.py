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

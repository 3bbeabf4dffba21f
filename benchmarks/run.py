"""Time every chapter in a fresh kernel and collect the metrics it records.

    python benchmarks/run.py [NOTEBOOK ...] [--out _build/bench] [--timeout 900]

Without notebooks, runs every chapter in `_toc.yml` order. Each notebook runs in a fresh process
and kernel with OMP_NUM_THREADS=1, an empty model cache (DLEXT_MODEL_CACHE), and DLEXT_METRICS
pointing at a scratch file, so
`dlext.metrics.record` calls land in the results; a notebook that hangs past its time limit is
reported as failed and the others still run. Prints a table and writes `OUT/<chapter>.json` and
`OUT/summary.json`.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def chapters_in_toc() -> list[Path]:
    """Every notebook the table of contents lists, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc.get("parts", []) for ch in part["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def run_notebook(path: Path, timeout: int) -> dict:
    """Execute one notebook in a fresh kernel; return its wall time, status and recorded metrics."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        metrics_file = Path(tmp) / "metrics.jsonl"
        # an empty model cache (dlext.zoo): each chapter is timed as on a fresh machine, training what it needs
        env = {"OMP_NUM_THREADS": "1", "DLEXT_METRICS": str(metrics_file), "DLEXT_NOTEBOOK": path.name,
               "DLEXT_MODEL_CACHE": str(Path(tmp) / "models")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the kernel inherits this process's environment
        start = time.perf_counter()
        error = None
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except Exception as err:  # report the failure in the table; keep benchmarking the others
            error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
        seconds = time.perf_counter() - start
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        lines = metrics_file.read_text().splitlines() if metrics_file.exists() else []
    metrics = {}
    for line in lines:
        entry = json.loads(line)
        metrics[entry["key"]] = entry["value"]
    return {"chapter": path.stem, "seconds": round(seconds, 1), "ok": error is None, "error": error,
            "metrics": metrics}


def table(results: list[dict]) -> str:
    """A plain-text table: chapter, seconds, status, then one row per metric."""
    rows = ["| chapter | seconds | status | metric | value |", "|---|---:|---|---|---:|"]
    for r in results:
        status = "ok" if r["ok"] else f"FAILED ({r['error']})"
        items = sorted(r["metrics"].items()) or [("", None)]
        for i, (key, value) in enumerate(items):
            head = f"| {r['chapter']} | {r['seconds']:.1f} | {status} |" if i == 0 else "| | | |"
            shown = "" if value is None else f"{value:.4g}"
            rows.append(f"{head} {key} | {shown} |")
    return "\n".join(rows)


def run_isolated(path: Path, timeout: int, out: Path) -> dict:
    """``run_notebook`` in a child process, killed (with its kernel) if the whole notebook runs past
    ``timeout`` seconds: a lost kernel message must not stall the benchmark."""
    result_file = out / f"{path.stem}.json"
    result_file.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, __file__, "--single", str(path), "--out", str(out),
                              "--timeout", str(timeout)], start_new_session=True)
    start = time.perf_counter()
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return {"chapter": path.stem, "seconds": round(time.perf_counter() - start, 1), "ok": False,
                "error": f"killed after {timeout} s", "metrics": {}}
    if not result_file.exists():
        return {"chapter": path.stem, "seconds": round(time.perf_counter() - start, 1), "ok": False,
                "error": f"runner exited with code {child.returncode}", "metrics": {}}
    return json.loads(result_file.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: the table of contents)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench", help="where to write the JSON results")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per notebook")
    parser.add_argument("--single", type=Path, help=argparse.SUPPRESS)  # internal: one notebook, in this process
    args = parser.parse_args(argv)
    if args.single:
        result = run_notebook(args.single.resolve(), args.timeout)
        (args.out / f"{args.single.stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    notebooks = args.notebooks or chapters_in_toc()
    for nb in notebooks:
        if not nb.is_file():
            parser.error(f"no such notebook: {nb}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for nb in notebooks:
        print(f"running {nb.name} ...", flush=True)
        results.append(run_isolated(nb.resolve(), args.timeout, args.out))
    summary = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
               "device": "cuda" if torch.cuda.is_available() else "cpu", "results": results,
               "total_seconds": round(sum(r["seconds"] for r in results), 1)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table(results))
    print(f"total: {summary['total_seconds']:.1f} s on {summary['cpus']} CPUs ({summary['device']})")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

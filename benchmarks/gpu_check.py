"""One prepared command for the first machine with a GPU: every chapter on CUDA, timed, its metrics checked.

    python benchmarks/gpu_check.py [NOTEBOOK ...] [--out _build/gpu-check] [--budget 480]
    python benchmarks/gpu_check.py --dry-run      # the same on the CPU, one short chapter (CI runs this)

Each chapter runs in a fresh kernel (benchmarks/run.py) with the device the chapter picks itself
(``dlext.device()``: CUDA first). For every chapter the result has its wall time, whether it ran, and
each metric it recorded, checked two ways:

- against its target in ``benchmarks/targets.yml``: a target is the course's promise and must hold on
  every device;
- against the same metric measured on a CPU (``benchmarks/cpu_reference.json``, written by
  ``--write-reference`` from a CPU build's ``_build/results/metrics.jsonl``), within a stated tolerance:
  ``TOLERANCE`` below, relative, unless ``gpu_tolerances`` in targets.yml names a metric's own.
  A GPU changes the arithmetic (cuDNN algorithms, TF32, atomics), so trained models differ in their
  last digits and chaotic runs differ more; a metric further from the CPU than its tolerance is
  reported, and fails the check only when it also misses its target.

It also lists the asserts that a chapter makes only on a CPU (``device.type == "cpu"`` guards), so that
what the GPU run did not check is named. Everything lands in ``OUT/gpu_check.json`` and a table.
Chapters run in ``_toc.yml`` order until ``--budget`` seconds are spent; those left are reported as
not run (the check then fails): the whole run must fit one device call.
"""
import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "benchmarks" / "cpu_reference.json"
TARGETS = ROOT / "benchmarks" / "targets.yml"
TOLERANCE = 0.10  # relative, for metrics without their own entry in targets.yml's gpu_tolerances
DRY_RUN_CHAPTERS = ["01_kl_divergence"]  # the shortest chapter: the dry run checks the machinery, not results
_CPU_ONLY = re.compile(r"device\.type\s*(==\s*[\"']cpu[\"']|!=\s*[\"']cpu[\"']\s*or)")


def _check_target(target: str, value: float, metrics: dict) -> bool | None:
    sys.path.insert(0, str(ROOT / "tools"))
    from results_page import check_target  # one reading of the target syntax, shared with the Results page

    return check_target(target, value, metrics)


def cpu_only_asserts(path: Path) -> list[str]:
    """The lines of a chapter whose checks hold (or run) only on a CPU, as 'cell N: line'."""
    found = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if _CPU_ONLY.search(line):
                found.append(f"cell {i}: {line.strip()[:120]}")
    return found


def compare(chapter: str, metrics: dict, targets: dict, reference: dict, tolerances: dict) -> list[dict]:
    """One row per recorded metric: value, CPU value, relative difference, tolerance, target verdict."""
    rows = []
    chapter_targets = targets.get(chapter, {})
    for key, value in sorted(metrics.items()):
        target = chapter_targets.get(key)
        meets = None if target is None else _check_target(str(target), value, metrics)
        cpu = reference.get(chapter, {}).get(key)
        tol = float(tolerances.get(key, TOLERANCE))
        rel = None if cpu is None else abs(value - cpu) / max(abs(cpu), 1e-12)
        rows.append({"metric": key, "value": value, "cpu": cpu, "rel_diff": rel, "tolerance": tol,
                     "within_tolerance": None if rel is None else rel <= tol, "target": target, "meets_target": meets})
    return rows


def write_reference(metrics_jsonl: Path, machine: str) -> dict:
    """benchmarks/cpu_reference.json from a CPU build's metrics file (last value of each key wins)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from results_page import read_metrics

    values = read_metrics(metrics_jsonl)
    if not values:
        raise SystemExit(f"{metrics_jsonl} holds no metrics: build the book on a CPU first (make book)")
    record = {"command": "make book on a CPU, then python benchmarks/gpu_check.py --write-reference "
                         "_build/results/metrics.jsonl --machine '...'",
              "machine": machine, "metrics": values}
    REFERENCE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to run (default: every chapter in _toc.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu-check")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run (one device call)")
    parser.add_argument("--dry-run", action="store_true", help="run on the CPU, by default one short chapter")
    parser.add_argument("--write-reference", type=Path, metavar="METRICS_JSONL",
                        help="write benchmarks/cpu_reference.json from a CPU build's metrics file, then stop")
    parser.add_argument("--machine", default=platform.processor() or platform.machine(),
                        help="with --write-reference: the CPU the reference was measured on")
    args = parser.parse_args(argv)
    if args.write_reference:
        write_reference(args.write_reference, args.machine)
        print(f"wrote {REFERENCE}")
        return 0
    if args.budget <= 0:
        parser.error(f"--budget must be positive seconds, got {args.budget}")

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False). "
              "Run it on a GPU machine, or pass --dry-run to exercise it on the CPU.", file=sys.stderr)
        return 2
    if args.notebooks:
        notebooks = args.notebooks
    elif args.dry_run:
        notebooks = [ROOT / "book" / f"{name}.ipynb" for name in DRY_RUN_CHAPTERS]
    else:
        notebooks = bench.chapters_in_toc()
    for nb in notebooks:
        if not nb.is_file():
            parser.error(f"no such notebook: {nb}")
    raw = yaml.safe_load(TARGETS.read_text()) or {}
    targets = {ch: dict(t or {}) for ch, t in (raw.get("metrics") or {}).items()}
    tolerances = dict(raw.get("gpu_tolerances") or {})
    reference = json.loads(REFERENCE.read_text())["metrics"] if REFERENCE.exists() else {}

    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or platform.machine())
    start, chapters = time.perf_counter(), []
    for nb in notebooks:
        left = args.budget - (time.perf_counter() - start)
        chapter = nb.stem
        if left < 5:
            chapters.append({"chapter": chapter, "ok": False, "error": "not run: the budget was spent",
                             "seconds": 0.0, "metrics": [], "cpu_only_asserts": cpu_only_asserts(nb)})
            continue
        print(f"running {nb.name} on {device} ({left:.0f} s of the budget left) ...", flush=True)
        result = bench.run_isolated(nb.resolve(), int(left), args.out)
        chapters.append({"chapter": chapter, "ok": result["ok"], "error": result["error"],
                         "seconds": result["seconds"],
                         "metrics": compare(chapter, result["metrics"], targets, reference, tolerances),
                         "cpu_only_asserts": cpu_only_asserts(nb)})
    failed = [c["chapter"] for c in chapters
              if not c["ok"] or any(m["meets_target"] is False for m in c["metrics"])]
    summary = {"device": device, "device_name": name, "torch": torch.__version__, "python": platform.python_version(),
               "dry_run": args.dry_run, "budget_seconds": args.budget,
               "total_seconds": round(time.perf_counter() - start, 1), "reference": str(REFERENCE.name)
               if reference else None, "failed": failed, "chapters": chapters}
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(table(summary))
    return 1 if failed else 0


def table(summary: dict) -> str:
    """Chapter, seconds, status, then each metric with its CPU value and target verdict."""
    rows = [f"{summary['device_name']} ({summary['device']}), {summary['total_seconds']} s of {summary['budget_seconds']:.0f}",
            "| chapter | seconds | status | metric | value | CPU | rel. diff (tol.) | target |",
            "|---|---:|---|---|---:|---:|---:|---|"]
    for c in summary["chapters"]:
        status = "ok" if c["ok"] else f"FAILED ({c['error']})"
        items = c["metrics"] or [None]
        for i, m in enumerate(items):
            head = f"| {c['chapter']} | {c['seconds']:.1f} | {status} |" if i == 0 else "| | | |"
            if m is None:
                rows.append(f"{head} | | | | |")
                continue
            cpu = "" if m["cpu"] is None else f"{m['cpu']:.4g}"
            rel = "" if m["rel_diff"] is None else f"{m['rel_diff']:.1%} ({m['tolerance']:.0%})" + (
                "" if m["within_tolerance"] else " !")
            verdict = "" if m["target"] is None else f"{m['target']} {'ok' if m['meets_target'] else 'MISSED'}"
            rows.append(f"{head} {m['metric']} | {m['value']:.4g} | {cpu} | {rel} | {verdict} |")
        if c["cpu_only_asserts"]:
            rows.append(f"| | | | CPU-only checks not run here: {'; '.join(c['cpu_only_asserts'])} | | | | |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())

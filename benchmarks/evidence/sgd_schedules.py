"""Chapter 02's learning-rate schedules on ten seeds: how often each decaying schedule ends below the constant rate.

    OMP_NUM_THREADS=1 DLEXT_DATA_DIR=... PYTHONPATH=src python benchmarks/evidence/sgd_schedules.py

Runs the chapter's own code, read from book/02_sgd_optimizers.ipynb: its setup cell, its data cell, its mlp() and fit(),
and its schedule cell (Adam at 0.01 for 3 epochs of batches of 64 under each schedule) with the seeds 0-9 in place of
the chapter's 0-2. Records each run's last training loss (the chapter's measure) and the mean of its last three
evaluations (a less noisy one), and its test accuracy. Writes src/dlext/evidence/sgd_schedules.json, which the
chapter reads; on a CPU its seeds 0-2 are the chapter's own runs, and the chapter checks that they agree.
"""
import json
import time
from pathlib import Path

from _chapter import chapter_namespace, cpu_name

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "book" / "02_sgd_optimizers.ipynb"
DATA_CELL, MLP_CELL, SCHEDULE_CELL = "1b58a372", "03e8e150", "4c426354"
CHAPTER_SEEDS = "sched_seeds = [0, 1, 2]"
SEEDS = list(range(10))


def main() -> None:
    import nbformat

    ns = chapter_namespace(NOTEBOOK, [(DATA_CELL, None), (MLP_CELL, "throughput_sizes = ")])
    import torch

    source = next(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.get("id") == SCHEDULE_CELL)
    if CHAPTER_SEEDS not in source:
        raise SystemExit(f"the schedule cell no longer contains {CHAPTER_SEEDS!r}; update this script")
    # every seed's full history, not only seed 0's (evals_per_epoch=3 for all, as for the chapter's seed 0)
    source = source.replace(CHAPTER_SEEDS, f"sched_seeds = {SEEDS}").replace("evals_per_epoch=3 if seed == 0 else 1",
                                                                               "evals_per_epoch=3")
    source = source.replace("        if seed == 0:\n            sched_hist[name] = hist",
                            "        sched_hist[name, seed] = hist")
    start = time.time()
    exec(source, ns)
    names = list(ns["schedules"])
    values = {"seeds": SEEDS, "schedules": names,
              "final_loss": {n: [float(ns["sched_final"][n, s]) for s in SEEDS] for n in names},
              "last3_mean_loss": {n: [float(ns["sched_hist"][n, s][-3:, 2].mean()) for s in SEEDS] for n in names},
              "test_acc": {n: [float(ns["sched_acc"][n, s]) for s in SEEDS] for n in names}}
    out = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/sgd_schedules.py (the chapter's own "
                      f"schedule cell, seeds 0-9; {time.time() - start:.0f} s)",
           "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, {ns['device'].type}",
           "values": values}
    path = ROOT / "src" / "dlext" / "evidence" / "sgd_schedules.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(values["final_loss"], indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

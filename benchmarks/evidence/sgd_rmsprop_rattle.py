"""Evidence for the optimizers chapter: RMSprop at lr 0.1 on Rosenbrock from 40 starts 1e-12 apart.

The chapter runs five such starts; this records what 40 give, so its thresholds (f stays above 0.1, swings by
more than 1.2x over the last 100 steps) rest on more than the five it can afford. Writes
src/dlext/evidence/sgd_optimizers.json.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/evidence/sgd_rmsprop_rattle.py
"""
import json
import platform
from pathlib import Path

import numpy as np
import torch

from dlext import optim

STARTS, CAP = 40, 3000


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def last_100(k: int) -> tuple[float, float, int]:
    """(min f, max f) over the last 100 steps, and the steps taken, from start (-1.2 + k 1e-12, 1)."""
    w = torch.tensor((-1.2 + k * 1e-12, 1.0), dtype=torch.float64, requires_grad=True)
    opt = optim.RMSprop([w], lr=0.1)
    fs = []
    for step in range(CAP):  # the chapter's descend(): stop once f < 1e-3
        loss = rosenbrock(w)
        if loss.item() < 1e-3:
            return float("nan"), float("nan"), step
        opt.zero_grad()
        loss.backward()
        opt.step()
        fs.append(rosenbrock(w.detach()).item())
    return min(fs[-100:]), max(fs[-100:]), CAP


if __name__ == "__main__":
    runs = [last_100(k) for k in range(STARTS)]
    f_min = [r[0] for r in runs]
    swing = [r[1] / r[0] for r in runs]
    record = {
        "command": "PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/evidence/sgd_rmsprop_rattle.py",
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, float64 on the CPU",
        "values": {"rmsprop_0.1_starts": STARTS, "rmsprop_0.1_reached_tol": sum(r[2] < CAP for r in runs),
                   "rmsprop_0.1_f_min": [round(x, 4) for x in f_min],
                   "rmsprop_0.1_swing": [round(x, 3) for x in swing]},
    }
    out = Path(__file__).resolve().parents[2] / "src" / "dlext" / "evidence" / "sgd_optimizers.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{STARTS} starts: lowest f_min {min(f_min):.3f}, swing {min(swing):.2f}..{max(swing):.0f}; wrote {out}")

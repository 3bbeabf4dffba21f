"""Each optimizer's learning rate for chapter 02's MNIST race, chosen on held-out images.

    OMP_NUM_THREADS=1 DLEXT_DATA_DIR=... PYTHONPATH=src python benchmarks/evidence/optimizer_rates.py

Runs the chapter's own code, read from book/02_sgd_optimizers.ipynb: its setup cell, its data cell (the 10,000 training
images and the 2,000 held-out ones, X_val), its mlp() and fit(), and the race cell up to where it reads this file (the
common settings, mnist_defaults, and the factors of the grid, RATE_FACTORS). Every optimizer is trained as in the race
(2 epochs, batches of 64) at its common rate times each factor, with seeds 10 and 11, which the race does not use; the
factor with the lowest mean cross-entropy on the held-out images is chosen (ties to the first in grid order). No test
image is read. Writes src/dlext/evidence/optimizer_rates.json, which the chapter reads.
"""
import json
import time
from pathlib import Path

from _chapter import chapter_namespace, cpu_name

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "book" / "02_sgd_optimizers.ipynb"
DATA_CELL, MLP_CELL, RACE_CELL = "1b58a372", "03e8e150", "bce76f63"
STOP = 'rate_record = evidence("optimizer_rates")'
SEEDS = (10, 11)


def main() -> None:
    ns = chapter_namespace(NOTEBOOK, [(DATA_CELL, None), (MLP_CELL, "throughput_sizes = "), (RACE_CELL, STOP)])
    import numpy as np
    import torch

    rows, start = [], time.time()
    for name, (cls, kwargs) in ns["mnist_defaults"].items():
        for factor in ns["RATE_FACTORS"]:
            losses, accs = [], []
            for seed in SEEDS:
                model = ns["mlp"](seed)
                opt = cls(model.parameters(), **{**kwargs, "lr": kwargs["lr"] * factor})
                ns["fit"](model, opt, 64, 2, evals_per_epoch=1, seed=seed, desc=f"{name} x{factor:g}, seed {seed}")
                loss = ns["full_loss"](model, ns["X_val"], ns["y_val"])
                losses.append(round(loss, 6) if np.isfinite(loss) else float("inf"))
                accs.append(round(ns["test_accuracy"](model, ns["X_val"], ns["y_val"]), 6))
            rows.append({"optimizer": name, "factor": factor, "lr": kwargs["lr"] * factor, "val_loss": losses,
                         "val_acc": accs})
            print(f"{name:9s} lr {kwargs['lr'] * factor:g}: held-out loss {losses}, accuracy {accs} "
                  f"({time.time() - start:.0f} s)", flush=True)
    chosen = {}
    for name in ns["mnist_defaults"]:
        mine = [r for r in rows if r["optimizer"] == name]
        chosen[name] = min(mine, key=lambda r: np.mean(r["val_loss"]))["factor"]  # min keeps the first among ties
    out = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/optimizer_rates.py (the chapter's own "
                      "mlp, fit and held-out images, read from book/02_sgd_optimizers.ipynb; no test image)",
           "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, {ns['device'].type}",
           "seeds": list(SEEDS),
           "values": {"factors": list(ns["RATE_FACTORS"]), "grid": rows, "chosen": chosen}}
    path = ROOT / "src" / "dlext" / "evidence" / "optimizer_rates.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: chosen factors {chosen}")


if __name__ == "__main__":
    main()

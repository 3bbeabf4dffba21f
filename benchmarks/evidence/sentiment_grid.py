"""The sentiment LSTM's learning rate and dropout, chosen on chapter 04_rnn_text's validation split.

    OMP_NUM_THREADS=1 DLEXT_DATA_DIR=... PYTHONPATH=src python benchmarks/evidence/sentiment_grid.py

Runs the chapter's own code, read from book/04_rnn_text.ipynb: its setup cell, its data cell (the seeded split) and
its fit_lstm (early stopping on the validation split; it reads no test snippet). Every learning rate x dropout pair of
the grid is trained with seeds 10 and 11, which no other run of the chapter uses; the pair with the best mean
validation accuracy (of each run's best epoch) is chosen, ties to the first in grid order. No test accuracy is
computed. Writes src/dlext/evidence/sentiment_grid.json, which the chapter reads for its LR and DROPOUT. With
--resume, the settings already in that file (run with the same seeds, cap and patience) are kept, not rerun.
"""
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

from _chapter import chapter_namespace, cpu_name

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "book" / "04_rnn_text.ipynb"
DATA_CELL, LSTM_CELL = "7d48d432", "6b988541"
STOP = 'grid_record = evidence("sentiment_grid")'  # where fit_lstm's definition ends and the chapter's runs begin
LRS, DROPOUTS, SEEDS = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2), (0.2, 0.4, 0.6), (10, 11)


def main() -> None:
    resume = "--resume" in sys.argv[1:]
    ns = chapter_namespace(NOTEBOOK, [(DATA_CELL, None), (LSTM_CELL, STOP)])
    import numpy as np
    import torch

    path = ROOT / "src" / "dlext" / "evidence" / "sentiment_grid.json"
    # which snippets the validation split holds: rows recorded on another split are not kept by --resume
    split_sha = hashlib.sha256(json.dumps(sorted(ns["val_idx"].tolist())).encode()).hexdigest()
    done = {}
    if resume and path.exists():
        old = json.loads(path.read_text())
        same = (old["seeds"] == list(SEEDS) and old["values"]["max_epochs"] == ns["MAX_EPOCHS"]
                and old["values"]["patience"] == ns["PATIENCE"] and old["values"].get("clip_norm") == ns["CLIP"]
                and old["values"].get("val_split_sha256") == split_sha)
        done = {(r["lr"], r["dropout"]): r for r in old["values"]["grid"]} if same else {}
    rows, start = [], time.time()
    for lr, dropout in itertools.product(LRS, DROPOUTS):
        if (lr, dropout) in done:
            rows.append(done[lr, dropout])
            continue
        vals, epochs = [], []
        for seed in SEEDS:
            _, val = ns["fit_lstm"](seed, lr, dropout)
            vals.append(round(max(val), 6))
            epochs.append(int(np.argmax(val)) + 1)
        rows.append({"lr": lr, "dropout": dropout, "val_acc": vals, "best_epoch": epochs})
        print(f"lr {lr:g}, dropout {dropout:g}: validation {vals}, best epochs {epochs} ({time.time() - start:.0f} s)",
              flush=True)
    best = max(rows, key=lambda r: np.mean(r["val_acc"]))  # max keeps the first in grid order among ties
    capped = [r for r in rows if max(r["best_epoch"]) > ns["MAX_EPOCHS"] - ns["PATIENCE"]]
    if capped:
        print(f"warning: patience had not stopped {len(capped)} setting(s) before the cap of {ns['MAX_EPOCHS']} epochs")
    out = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/sentiment_grid.py"
                      + (" --resume (settings already recorded were kept from the earlier run)" if resume and done else "")
                      + " (the chapter's own fit_lstm and split, read from book/04_rnn_text.ipynb; validation split only)",
           "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, {ns['device'].type}",
           "seeds": list(SEEDS),
           "values": {"grid": rows, "chosen": {"lr": best["lr"], "dropout": best["dropout"]},
                      "max_epochs": ns["MAX_EPOCHS"], "patience": ns["PATIENCE"], "clip_norm": ns["CLIP"],
                      "val_split_sha256": split_sha,
                      "settings_not_stopped_by_patience": len(capped)}}
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: chosen {out['values']['chosen']}")


if __name__ == "__main__":
    main()

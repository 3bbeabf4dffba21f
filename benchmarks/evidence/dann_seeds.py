"""Chapter 09's domain-adaptation runs for more seeds: the chapter's own code, read from the notebook.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/dann_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9

Executes book/09_conditional_gans.ipynb's setup cell, its MNIST loading lines and the definitions of its
domain-adaptation cell (everything before the chapter's own loop over seeds), then trains the four models for each
seed and scores them exactly as the chapter does. Seeds 0-2 are the chapter's own; on the same CPU, single-threaded,
they reproduce its numbers. Writes src/dlext/evidence/domain_adaptation.json.
"""
import argparse
import json
import time
from pathlib import Path

from _chapter import chapter_namespace, cpu_name

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "book" / "09_conditional_gans.ipynb"
CELL_ID = "31a5138d"  # the domain-adaptation cell
STOP = "da_seeds = (0, 1, 2)"  # where its definitions end and its own loop begins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    args = parser.parse_args()
    ns = chapter_namespace(NOTEBOOK, [(CELL_ID, STOP)], before="X_train, y_train = data.load_mnist(train=True)\n"
                                                                "X_test, y_test = data.load_mnist(train=False)")
    import torch

    values = {f"{key}_{kind.replace(' ', '_')}": [] for kind in ns["KINDS"] for key in ("acc", "probe", "head")}
    start = time.time()
    for seed in args.seeds:
        for kind in ns["KINDS"]:
            r = ns["train_domain_classifier"](kind, seed)
            for key in ("acc", "probe", "head"):
                values[f"{key}_{kind.replace(' ', '_')}"].append(round(r[key], 6))
        print(f"seed {seed} done after {time.time() - start:.0f} s", flush=True)
    values = {k: v for k, v in values.items() if not k.startswith("head_") or k == "head_adversarial"}
    out = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/dann_seeds.py --seeds "
                      + " ".join(map(str, args.seeds))
                      + " (book/09_conditional_gans.ipynb's own domain-adaptation code, read from the notebook)",
           "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), "
                      f"torch {torch.__version__}, {ns['device'].type}",
           "seeds": args.seeds, "values": values}
    path = ROOT / "src" / "dlext" / "evidence" / "domain_adaptation.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

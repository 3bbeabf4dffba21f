"""Chapter 04_rnn_text's character LSTM trained past its one pass, stopped on validation perplexity.

    OMP_NUM_THREADS=1 DLEXT_DATA_DIR=... PYTHONPATH=src python benchmarks/evidence/charlm_passes.py

Runs the chapter's own code, read from book/04_rnn_text.ipynb: its setup cell, the Brown split and the n-gram counts,
the CharLM class with its chunked training streams, and lm_ppl. From dlext.seed(0) (so the first pass is the chapter's
seed-0 run) it trains pass after pass over the training text with the chapter's optimizer, clipping and truncated BPTT,
measures validation perplexity after each pass, and stops when it has not improved for PATIENCE passes (at most
MAX_PASSES). The test text is read once, for the best pass's weights. Writes src/dlext/evidence/charlm_passes.json,
which the chapter reads to say how the comparison with the n-gram counts changes with the budget.
"""
import copy
import json
import time
from pathlib import Path

from _chapter import chapter_namespace, cpu_name

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "book" / "04_rnn_text.ipynb"
BROWN_CELL, LM_CELL, TRAIN_CELL = "dd0d2b0f", "7fdcb383", "6b53facf"
STOP = "lm_runs = {"  # where the chapter's own three one-pass runs begin
MAX_PASSES, PATIENCE, SEED = 40, 2, 0


def main() -> None:
    ns = chapter_namespace(NOTEBOOK, [(BROWN_CELL, None), (LM_CELL, None), (TRAIN_CELL, STOP)],
                           before="SEEDS = (0, 1, 2)\n")
    import torch
    from torch import nn

    dlext, CharLM, V_LM, chunk, starts = ns["dlext"], ns["CharLM"], ns["V_LM"], ns["chunk"], ns["starts"]
    dlext.seed(SEED)
    model = CharLM(V_LM).to(ns["device"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)  # as train_charlm
    val, best_state, start = [], None, time.time()
    for p in range(1, MAX_PASSES + 1):
        state = None
        for i in starts:
            x, y = chunk(i)
            if state is not None:
                state = tuple(s.detach() for s in state)
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, V_LM), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        val.append(round(ns["lm_ppl"](model, ns["lm_val"]), 4))
        print(f"pass {p}: validation perplexity {val[-1]} ({time.time() - start:.0f} s)", flush=True)
        if val[-1] == min(val):
            best_state = copy.deepcopy(model.state_dict())
        elif p - 1 - val.index(min(val)) >= PATIENCE:
            break
    best_pass = val.index(min(val)) + 1
    model.load_state_dict(best_state)
    test_ppl = round(ns["lm_ppl"](model, ns["lm_test"]), 4)  # the test text, once
    ngram_val = {n: round(ns["ngram_ppl"](n, ns["ngram_k"][n], ns["lm_val"]), 4) for n in ns["ORDERS"]}
    out = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/charlm_passes.py (the chapter's own "
                      "split, CharLM, chunks and lm_ppl, read from book/04_rnn_text.ipynb)",
           "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, {ns['device'].type}",
           "seeds": [SEED],
           "values": {"val_ppl_by_pass": val, "best_pass": best_pass, "max_passes": MAX_PASSES, "patience": PATIENCE,
                      "stopped_by_patience": len(val) < MAX_PASSES or best_pass <= MAX_PASSES - PATIENCE,
                      "test_ppl_at_best_pass": test_ppl,
                      "ngram_val_ppl": {str(n): v for n, v in ngram_val.items()},
                      "ngram_test_ppl": {str(n): round(v, 4) for n, v in ns["ngram_test"].items()}}}
    path = ROOT / "src" / "dlext" / "evidence" / "charlm_passes.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}: best pass {best_pass}, test perplexity {test_ppl}")


if __name__ == "__main__":
    main()

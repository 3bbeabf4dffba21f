"""Chapter 05's skip-gram, ours and gensim's, trained for 2, 5 and 10 epochs: how the results depend on the budget.

    OMP_NUM_THREADS=1 DLEXT_DATA_DIR=... PYTHONPATH=src python benchmarks/evidence/word2vec_epochs.py

The chapter's settings (dimension 100, window 5, 5 negatives, sample 1e-3, min_count 5, lr 0.025, batches of 4,096;
gensim with workers=1), seeds 0-2, one CPU thread. For each run: the analogy accuracy (3CosAdd, every answerable
question), WordSim-353's Spearman rho, both again with the mean vector removed, and the mean vector's length over the
average vector length. Prints JSON; the chapter reads it from src/dlext/evidence/word2vec.json ("epochs").
"""
import json
import time

import torch
from gensim.models import Word2Vec

from _chapter import cpu_name
from dlext import data
from dlext import word2vec as w2v

torch.set_num_threads(1)
SEEDS, EPOCHS = (0, 1, 2), (2, 5, 10)
sentences = data.load_brown()
vocab, counts = w2v.build_vocab(sentences, 5)
words = list(vocab)
ids, sentence_of = w2v.encode(sentences, vocab)
analogies = data.load_analogies()
questions = [q for qs in analogies.values() for q in qs]
wordsim = data.load_wordsim353()


def measure(vectors: torch.Tensor) -> dict:
    centred = vectors - vectors.mean(0)
    return {"analogy": w2v.evaluate_analogies(vectors, vocab, questions),
            "rho": w2v.wordsim_spearman(vectors, vocab, wordsim),
            "analogy_centred": w2v.evaluate_analogies(centred, vocab, questions),
            "rho_centred": w2v.wordsim_spearman(centred, vocab, wordsim),
            "shared": float(vectors.mean(0).norm() / vectors.norm(dim=1).mean())}


results = {"ours": {}, "gensim": {}}
start = time.time()
for epochs in EPOCHS:
    for impl in results:
        rows = []
        for seed in SEEDS:
            if impl == "ours":
                torch.manual_seed(seed)
                model = w2v.SkipGramNS(len(vocab), 100)
                w2v.train(model, ids, sentence_of, counts, device=torch.device("cpu"), epochs=epochs, window=5,
                          negatives=5, sample=1e-3, lr=0.025, batch_size=4096, seed=seed, progress=False)
                vectors = model.vectors
            else:
                ref = Word2Vec(sentences, vector_size=100, window=5, min_count=5, sg=1, negative=5, sample=1e-3,
                               epochs=epochs, workers=1, seed=seed)
                vectors = torch.tensor(ref.wv.vectors[[ref.wv.key_to_index[x] for x in words]])
            rows.append(measure(vectors))
            print(f"{impl} {epochs} epochs seed {seed}: {rows[-1]} ({time.time() - start:.0f} s)", flush=True)
        results[impl][str(epochs)] = {k: [round(r[k], 6) for r in rows] for k in rows[0]}
print(json.dumps({"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/word2vec_epochs.py",
                  "machine": f"{cpu_name()}, 1 thread, torch {torch.__version__}",
                  "seeds": list(SEEDS), "values": results}, indent=1))

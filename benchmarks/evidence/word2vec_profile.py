"""One epoch of dlext.word2vec.train on Brown (skip-gram, the chapter's settings), CPU time plain and under cProfile.

Run from a checkout, once per version of the training loop, e.g. the autograd one of commit e6ef785 and the
hand-written one after it:
    git archive e6ef785 src | tar -x -C /tmp/old && PYTHONPATH=/tmp/old/src python benchmarks/evidence/word2vec_profile.py
    PYTHONPATH=src python benchmarks/evidence/word2vec_profile.py
(OMP_NUM_THREADS=1, DLEXT_DATA_DIR set). Prints JSON: the plain CPU seconds and the profile's top functions.
"""
import cProfile
import json
import pstats
import time

import torch

from dlext import data
from dlext import word2vec as w2v

torch.set_num_threads(1)
sentences = data.load_brown()
vocab, counts = w2v.build_vocab(sentences, 5)
ids, sentence_of = w2v.encode(sentences, vocab)


def one_epoch():
    torch.manual_seed(0)
    model = w2v.SkipGramNS(len(vocab), 100)
    w2v.train(model, ids, sentence_of, counts, device=torch.device("cpu"), epochs=1, batch_size=4096, progress=False)


cpu = time.process_time()
one_epoch()
cpu = time.process_time() - cpu
profile = cProfile.Profile(time.process_time)
profile.runcall(one_epoch)
stats = pstats.Stats(profile).stats
top = sorted(((v[2], f"{k[2]}") for k, v in stats.items()), reverse=True)[:8]  # (own time, function)
print(json.dumps({"cpu_s": round(cpu, 2), "profiled_total_s": round(sum(v[2] for v in stats.values()), 2),
                  "top_own_time_s": {name: round(t, 2) for t, name in top}}, indent=1))

"""Seeds 1 and 2 of chapter 11's MNIST CNN pipeline: label purity of top images and the deletion AUCs.

The chapter runs seed 0; this repeats its steps (one epoch, lr 2e-3; the same 2,000 probe and 300 deletion
digits; the same rankings) on other seeds and prints JSON for src/dlext/evidence/visualizing.json.
Usage: PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/evidence/visualizing_seeds.py 1 2
"""
import json
import sys

import torch

import dlext
from dlext import data, explain, train
from dlext.sample_quality import MNISTClassifier


def top_purity(peak_acts: torch.Tensor, labels: torch.Tensor, k: int = 20) -> torch.Tensor:
    top = peak_acts.topk(k, dim=0).indices
    counts = torch.stack([torch.bincount(labels[top[:, c]], minlength=10) for c in range(top.shape[1])])
    return counts.amax(1).float() / k


def run(seed: int, X_train, y_train, X_test, y_test) -> dict:
    dlext.seed(seed)
    cnn = MNISTClassifier()
    train.train_classifier(cnn, X_train, y_train, device="cpu", epochs=1, lr=2e-3, progress=False)
    out = {"seed": seed, "test_acc": round(train.accuracy(cnn, X_test, y_test, device="cpu"), 4)}
    X_probe, y_probe = X_test[:2000], y_test[:2000]
    purity = []
    for layer in (cnn.body[1], cnn.body[4], cnn.body[8]):
        a = explain.activations(cnn, layer, X_probe)
        p = a.flatten(2).amax(2) if a.ndim == 4 else a
        purity.append(round(top_purity(p[:, p.amax(0) > 0], y_probe).mean().item(), 4))
    out["purity"] = purity
    X_del, y_del = X_test[1000:1300], y_test[1000:1300]
    S = explain.saliency(cnn, X_del, y_del)
    noise = torch.rand(X_del.shape, generator=torch.Generator().manual_seed(seed))
    dlext.seed(100 + seed)
    S_untrained = explain.saliency(MNISTClassifier(), X_del, y_del)
    total = torch.zeros_like(X_del)
    for k in range(32):
        total += explain.saliency(cnn, (k + 0.5) / 32 * X_del, y_del)
    rankings = {"gradient x input": S * X_del, "gradient": S, "|gradient|": S.abs(), "random": noise,
                "integrated gradients": X_del * total / 32,
                "brightness": X_del + 1e-3 * noise, "ink, random order": (X_del > 0).float() + 0.5 * noise,
                "grad x input, random CNN": S_untrained * X_del,
                "|grad x input|, random CNN": (S_untrained * X_del).abs() + 1e-6 * noise}
    auc = {name: explain.deletion_auc(explain.deletion_curve(cnn, X_del, y_del, r, steps=20)) for name, r in rankings.items()}
    out["deletion_auc"] = {name: round(a.mean().item(), 4) for name, a in auc.items()}
    out["win_vs_gxi"] = {name: round((auc["gradient x input"] < a).float().mean().item(), 4) for name, a in auc.items()
                         if name in ("brightness", "ink, random order", "|grad x input|, random CNN")}
    return out


if __name__ == "__main__":
    X_train, y_train = data.load_mnist(train=True)
    X_test, y_test = data.load_mnist(train=False)
    print(json.dumps([run(int(s), X_train, y_train, X_test, y_test) for s in sys.argv[1:]], indent=1))

"""Seed runs behind the GAN chapters' tolerances: the chapters' own training code, for several seeds.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/gans.py gans [--seeds 0 1 2]
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/gans.py conditional_gans [--seeds 0 1 2]

Each run repeats the chapter's cells exactly (same step counts, seeding, judge and evaluation noise),
with ``dlext.seed(seed)`` for the GAN instead of ``dlext.seed(0)``; seed 0 therefore reproduces the
chapter's own numbers on the same machine. Writes ``src/dlext/evidence/<topic>.json``.

The chapters' generator and discriminator keep their weights in the channels_last layout (faster on a CPU; the
same function, rounded differently), and so does this script.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from _chapter import cpu_name

import dlext
from dlext import data, gan, train
from dlext.sample_quality import MNISTClassifier, sample_quality

ROOT = Path(__file__).resolve().parents[2]


def judge(X_train, y_train, device):
    """The chapters' judge: same architecture, seed and settings."""
    dlext.seed(0)
    classifier = MNISTClassifier()
    train.train_classifier(classifier, X_train, y_train, device=device, epochs=1, lr=2e-3, desc="judge classifier")
    return classifier


def dcgan(seed, X_train, X_test, classifier, device):
    """08_gans: the DCGAN cell and the measuring cell, with dlext.seed(seed)."""
    dlext.seed(seed)
    G = gan.DCGenerator(latent_dim=64).to(device, memory_format=torch.channels_last)
    D = gan.DCDiscriminator().to(device, memory_format=torch.channels_last)
    G_ema = gan.ema_copy(G)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    torch.randn(32, 64)  # the chapter's z_fixed: drawn before training, so it shifts the batches' random stream
    for _ in range(2600):
        G.train()
        real = X_train[torch.randint(len(X_train), (64,))].to(device)
        gan.train_step(G, D, opt_g, opt_d, real)
        gan.ema_update(G_ema, G, decay=0.995)
    gan.refresh_batchnorm(G_ema, device=device)
    z_eval = torch.randn(1000, 64, generator=torch.Generator().manual_seed(1))
    real_a, real_b = X_test[:1000], X_test[1000:2000]
    ema = sample_quality(gan.sample(G_ema, 1000, device=device, z=z_eval), classifier, device=device, real=real_a)
    raw = sample_quality(gan.sample(G, 1000, device=device, z=z_eval), classifier, device=device, real=real_a)
    floor = sample_quality(real_b, classifier, device=device, real=real_a)
    return {"coverage": ema["coverage"], "max_share": ema["max_share"], "confidence": ema["confidence"],
            "frechet": ema["frechet"], "frechet_raw": raw["frechet"], "frechet_floor": floor["frechet"],
            "frechet_ratio": ema["frechet"] / floor["frechet"]}


def cgan(seed, X_train, y_train, X_test, classifier, device):
    """09_conditional_gans: the conditional DCGAN cell and its measuring cell, with dlext.seed(seed)."""
    dlext.seed(seed)
    G = gan.ConditionalDCGenerator(latent_dim=64).to(device, memory_format=torch.channels_last)
    D = gan.ConditionalDCDiscriminator().to(device, memory_format=torch.channels_last)
    G_ema = gan.ema_copy(G)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(1800):
        G.train()
        idx = torch.randint(len(X_train), (64,))
        gan.train_step_conditional(G, D, opt_g, opt_d, X_train[idx].to(device), y_train[idx].to(device))
        gan.ema_update(G_ema, G, decay=0.995)
    gan.refresh_batchnorm(G_ema, device=device)
    z_eval = torch.randn(1000, 64, generator=torch.Generator().manual_seed(1))
    asked = torch.arange(10).repeat(100)
    out = {}
    for name, model in (("ema", G_ema), ("raw", G)):
        q = sample_quality(gan.sample(model, 1000, device=device, z=z_eval, labels=asked), classifier,
                           device=device, real=X_test[:1000], labels=asked)
        out.update({f"label_acc_{name}": q["label_acc"], f"frechet_{name}": q["frechet"],
                    f"confidence_{name}": q["confidence"], f"coverage_{name}": q["coverage"]})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("topic", choices=["gans", "conditional_gans"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    device = dlext.device()
    X_train, y_train = data.load_mnist(train=True)
    X_test, _ = data.load_mnist(train=False)
    classifier = judge(X_train, y_train, device)
    values: dict[str, list] = {}
    for seed in args.seeds:
        if args.topic == "gans":
            r = dcgan(seed, X_train, X_test, classifier, device)
        else:
            r = cgan(seed, X_train, y_train, X_test, classifier, device)
        print(seed, r, flush=True)
        for k, val in r.items():
            values.setdefault(k, []).append(val)
    record = {"command": "OMP_NUM_THREADS=1 PYTHONPATH=src python " + " ".join(["benchmarks/evidence/gans.py", *sys.argv[1:]]),
              "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s), "
                         f"torch {torch.__version__}, device {device}",
              "seeds": args.seeds, "values": values}
    path = ROOT / "src" / "dlext" / "evidence" / f"{args.topic}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print("wrote", path)


if __name__ == "__main__":
    main()

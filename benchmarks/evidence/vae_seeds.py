"""Rerun the VAE chapter's random experiments with other seeds; print JSON of the results.

Each seed s replaces the chapter's seed 0 for training (the VAEs, and the judge: dlext.zoo's "mnist_judge" with
seed s); the binarization and the evaluation noise stay as in the chapter: `python benchmarks/evidence/vae_seeds.py 0 1 2`.
The protocol matches book/07_vae.ipynb; the chapter asserts against the stored results
(src/dlext/evidence/vae.json).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

import dlext
from dlext import autoencoders as ae
from dlext import data, train, zoo
from dlext.sample_quality import features

EPOCHS = 10


def confident_share(judge, images, device, level=0.9):
    """Fraction of images the judge gives a top probability above ``level``."""
    _, probs = features(judge, images, device=device)
    return (probs.max(1).values > level).float().mean().item()


def run(seed, device):
    t0 = time.process_time()
    res = {}
    X_train, y_train = data.load_mnist(train=True)
    X_test, y_test = data.load_mnist(train=False)
    Xb_train, Xb_test = ae.binarize(X_train, seed=0), ae.binarize(X_test, seed=1)
    dlext.seed(seed)
    vae = ae.VAE(latent_dim=20, hidden=400)
    ae.train_vae(vae, Xb_train, device=device, epochs=EPOCHS, batch_size=128, lr=1e-3, progress=False)
    res["train_cpu_s"] = time.process_time() - t0
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    res["test_neg_elbo"] = ae.negative_elbo(vae, Xb_test, device=device, generator=g())
    res["train_neg_elbo"] = ae.negative_elbo(vae, Xb_train[:10000], device=device, generator=g())
    res["test_nll_iw"] = ae.importance_weighted_nll(vae, Xb_test, k=100, device=device, generator=g())
    with torch.no_grad():
        vae.eval()
        mu, logvar = vae.encode(Xb_test.to(device))
        eps = torch.randn(mu.shape, generator=g()).to(device)
        logits = vae.decode(mu + torch.exp(0.5 * logvar) * eps)
        res["rec"] = (F.binary_cross_entropy_with_logits(logits, Xb_test.to(device), reduction="sum") / len(Xb_test)).item()
        kl_per_dim = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)
    res["kl_per_dim"] = kl_per_dim.tolist()
    res["kl_total"] = kl_per_dim.sum().item()
    res["test_minus_train"] = res["test_neg_elbo"] - res["train_neg_elbo"]
    res["iw_gap"] = res["test_neg_elbo"] - res["test_nll_iw"]
    res["active"] = int((kl_per_dim > 0.1).sum())

    # judge: prior samples vs real digits vs noise; the GAN chapters' judge (one epoch on all 60,000 training digits),
    # trained with this seed (or loaded from the model cache, $DLEXT_MODEL_CACHE)
    judge, _ = zoo.get("mnist_judge", seed=seed, device=device)
    res["judge_acc"] = train.accuracy(judge, X_test, y_test, device=device)
    with torch.no_grad():
        z = torch.randn(1000, 20, generator=torch.Generator().manual_seed(1))
        samples = vae.decode(z.to(device)).sigmoid().cpu()
    real = X_test[:1000]
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    shuffled = real.flatten(1)[:, torch.randperm(784, generator=torch.Generator().manual_seed(3))].reshape(real.shape)
    for name, imgs in [("prior", samples), ("real", real), ("noise", noise), ("shuffled", shuffled)]:
        res[f"confident_{name}"] = confident_share(judge, imgs, device)

    # 2-D VAE, same epochs
    dlext.seed(seed)
    vae2 = ae.VAE(latent_dim=2, hidden=400)
    ae.train_vae(vae2, Xb_train, device=device, epochs=EPOCHS, batch_size=128, lr=1e-3, progress=False)
    res["neg_elbo_2d"] = ae.negative_elbo(vae2, Xb_test, device=device, generator=g())
    res["gap_2d"] = res["neg_elbo_2d"] - res["test_neg_elbo"]
    with torch.no_grad():
        mu2, logvar2 = vae2.eval().encode(Xb_test.to(device))
        eps2 = torch.randn(mu2.shape, generator=g()).to(device)
        logits2 = vae2.decode(mu2 + torch.exp(0.5 * logvar2) * eps2)
        res["rec_2d"] = (F.binary_cross_entropy_with_logits(logits2, Xb_test.to(device), reduction="sum") / len(Xb_test)).item()
        res["kl_2d"] = (0.5 * (mu2**2 + logvar2.exp() - 1 - logvar2).sum(1).mean()).item()
    res["rec_20d"] = res["rec"]
    res["kl_20d"] = res["kl_total"]
    mu2, logvar2 = mu2.cpu(), logvar2.cpu()
    # aggregate posterior: one draw z ~ q(z|x) per test digit (means alone are under-dispersed)
    zq = mu2 + torch.exp(0.5 * logvar2) * torch.randn(mu2.shape, generator=torch.Generator().manual_seed(4))
    res["mean_var_2d"] = mu2.var(0).tolist()
    res["agg_var_2d"] = zq.var(0).tolist()
    res["inside_samples"] = (zq.abs() < 3).all(1).float().mean().item()
    res["inside"] = (mu2.abs() < 3).all(1).float().mean().item()
    prior_draws = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    res["nearest_q99"] = torch.quantile(torch.cdist(prior_draws, mu2).min(1).values, 0.99).item()
    res["nearest_q99_samples"] = torch.quantile(torch.cdist(prior_draws, zq).min(1).values, 0.99).item()
    ref = torch.randn(10000, 2, generator=torch.Generator().manual_seed(5))
    res["nearest_q99_prior"] = torch.quantile(torch.cdist(prior_draws, ref).min(1).values, 0.99).item()
    with torch.no_grad():
        s2 = vae2.decode(torch.randn(1000, 2, generator=torch.Generator().manual_seed(1)).to(device)).sigmoid().cpu()
    res["confident_prior_2d"] = confident_share(judge, s2, device)
    res["time_total"] = time.process_time() - t0
    return res


KEYS = ["test_neg_elbo", "train_neg_elbo", "test_minus_train", "test_nll_iw", "iw_gap", "rec", "kl_total", "active",
        "judge_acc", "confident_prior", "confident_real", "confident_noise", "confident_shuffled",
        "neg_elbo_2d", "gap_2d", "rec_2d", "kl_2d", "mean_var_2d", "agg_var_2d", "inside", "inside_samples",
        "nearest_q99", "nearest_q99_samples", "nearest_q99_prior", "confident_prior_2d", "train_cpu_s", "time_total"]


def evidence_values(runs):
    """Per-seed results {seed: {key: value}} as the evidence file's {"seeds": [...], key: [one value per seed]}."""
    seeds = sorted(runs, key=int)
    return {"seeds": [int(s) for s in seeds], **{k: [runs[s][k] for s in seeds] for k in KEYS}}


if __name__ == "__main__":
    # python benchmarks/evidence/vae_seeds.py 0 1 2 [--write]: --write stores the values in src/dlext/evidence/vae.json
    # (its "command" and "machine" fields are then edited by hand to say where and when it ran).
    torch.set_num_threads(1)
    device = dlext.device()
    write = "--write" in sys.argv
    out = {}
    for s in (int(a) for a in sys.argv[1:] if a != "--write"):
        out[s] = run(s, device)
        print(json.dumps({s: out[s]}), flush=True)
        seeds = "-".join(a for a in sys.argv[1:] if a != "--write")
        with open(f"/tmp/vae_seeds_{device}_{seeds}.json", "w") as fh:  # partial results survive an interrupted run
            json.dump(out, fh)
    print(json.dumps(out))
    if write:
        path = "src/dlext/evidence/vae.json"
        with open(path) as fh:
            doc = json.load(fh)
        doc["values"] = evidence_values({str(k): v for k, v in out.items()})
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")

"""Seed runs and validation grids behind the adversarial chapter's choices and tolerances.

    PYTHONPATH=src OMP_NUM_THREADS=1 DLEXT_DATA_DIR=../shared/data python benchmarks/evidence/adversarial.py grid
    PYTHONPATH=src OMP_NUM_THREADS=1 DLEXT_DATA_DIR=../shared/data python benchmarks/evidence/adversarial.py gridone EPS LR
    PYTHONPATH=src OMP_NUM_THREADS=1 DLEXT_DATA_DIR=../shared/data python benchmarks/evidence/adversarial.py seeds 0.15 0.003 1 2

``grid`` trains the chapter's plain CNN (seed 0, the first 55,000 training digits) and chooses, on the
held-out training digits 55,000-59,999 (never the test set), the adversarial-training eps and learning
rate and the penalty attack's lambda. ``gridone`` runs one pair of the grid alone (so the pairs can run in
parallel). ``seeds EPS LR SEED...`` repeats the chapter's pipeline for each seed with the chosen settings and
prints the numbers the chapter asserts. Set $ADV_CACHE to a folder to keep the plain models between runs.
Output: one JSON object per line.
"""
import copy
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import dlext
from dlext import adversarial as adv
from dlext import data, train
from dlext.sample_quality import MNISTClassifier

torch.set_num_threads(1)
device = dlext.device()
X_train, y_train = data.load_mnist(train=True)
X_test, y_test = data.load_mnist(train=False)
N_FIT = 55_000  # the chapter trains on these; 55,000-59,999 is the validation split
X_val, y_val = X_train[N_FIT:].to(device), y_train[N_FIT:].to(device)


def fit_classifier(model, epochs, lr=3e-3, batch_size=128, n=N_FIT, perturb=None):
    """The chapter's recipe: Adam, one-cycle learning rate, the first n training digits."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total, step = epochs * -(-n // batch_size), 0

    def batch_loss(idx):
        nonlocal step
        t, step = step / total, step + 1
        for group in opt.param_groups:
            group["lr"] = lr * min(t / 0.15, (1 - t) / 0.85) + 1e-5
        x, y = X_train[idx].to(device), y_train[idx].to(device)
        if perturb is not None:
            x = perturb(model, x, y)
        return F.cross_entropy(model(x), y)

    return train.fit(model, n, batch_loss, epochs=epochs, batch_size=batch_size, optimizer=opt, progress=False)


def fgsm_rs(eps):
    return lambda m, x, y: adv.pgd(m, x, y, eps, alpha=1.25 * eps, steps=1)


def noise(eps):
    return lambda m, x, y: adv.pgd(m, x, y, eps, alpha=0.0, steps=0)  # the random start alone


def pgd_acc(model, x, y, eps, steps=10, restarts=1, seed=0):
    """Digits correct under every one of ``restarts`` PGD runs (each from its own random start)."""
    alive = torch.arange(len(x), device=x.device)
    for r in range(restarts):
        x_a = adv.pgd(model, x[alive], y[alive], eps, alpha=2.5 * eps / steps, steps=steps,
                      generator=torch.Generator().manual_seed(seed + r), early_stop=True)
        with torch.no_grad():
            alive = alive[model(x_a).argmax(1) == y[alive]]
    return len(alive) / len(x)


def penalty_attack(model, x, target, lam, steps=100, lr=0.01):
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    with adv.frozen(model):
        for _ in range(steps):
            score = model((x + delta).clamp(0, 1)).gather(1, target[:, None]).squeeze(1)
            opt.zero_grad()
            (-(score - lam * delta.pow(2).flatten(1).sum(1)).sum()).backward()
            opt.step()
    return (x + delta).clamp(0, 1).detach()


def plain_model(seed):
    """The chapter's plain CNN for this seed (kept under $ADV_CACHE, if set, to reuse across runs)."""
    import os
    path = os.path.join(os.environ["ADV_CACHE"], f"plain{seed}.pt") if os.environ.get("ADV_CACHE") else None
    dlext.seed(seed)
    model = MNISTClassifier().to(device)
    if path and os.path.exists(path):
        model.load_state_dict(torch.load(path))
    else:
        fit_classifier(model, epochs=3)
        if path:
            torch.save(model.state_dict(), path)
    return model.eval()


def emit(**kw):
    print(json.dumps(kw), flush=True)


def grid():
    model = plain_model(0)
    emit(what="plain", seed=0, val_acc=train.accuracy(model, X_val, y_val, device=device))
    # lambda of the penalty attack: 20 validation digits, pushed to the next class
    x20, y20 = X_val[:20], y_val[:20]
    for lam in (0.01, 0.05, 0.2, 1.0):
        x_opt = penalty_attack(model, x20, (y20 + 1) % 10, lam)
        with torch.no_grad():
            ok = model(x_opt).argmax(1) == (y20 + 1) % 10
        l2 = (x_opt - x20).flatten(1).norm(dim=1)
        emit(what="lambda", lam=lam, success=ok.float().mean().item(), median_l2=l2[ok].median().item() if ok.any() else None)
    # adversarial fine-tuning: eps_train x lr (each pair also runs alone: `gridone EPS LR`)
    for eps_train in EPS_GRID:
        for lr in LR_GRID:
            grid_one(model, eps_train, lr)


EPS_GRID, LR_GRID = (0.1, 0.15, 0.2), (1e-3, 3e-3)


def grid_one(model, eps_train, lr):
    """Fine-tune a copy for half an epoch; score by PGD-10 accuracy at eps 0.1 on 1,000 validation digits."""
    robust = copy.deepcopy(model).train()
    dlext.seed(0)
    fit_classifier(robust, epochs=1, lr=lr, n=30_000, perturb=fgsm_rs(eps_train))
    robust.eval()
    emit(what="adv_grid", eps_train=eps_train, lr=lr,
         val_clean=train.accuracy(robust, X_val, y_val, device=device),
         val_pgd10_01=pgd_acc(robust, X_val[:1000], y_val[:1000], 0.1))


def seeds(seed_list, eps_train, lr, n_strong):
    x_eval, y_eval = X_test[:500].to(device), y_test[:500].to(device)
    for seed in seed_list:
        t0 = time.process_time()
        model = plain_model(seed)
        out = dict(what="seed", seed=seed, eps_train=eps_train, lr=lr,
                   clean_acc=train.accuracy(model, X_test, y_test, device=device),
                   plain_pgd10_01=pgd_acc(model, x_eval, y_eval, 0.1))
        # the targeted attack of the chapter: 40 digits of other classes per target, eps 0.2, 100 steps
        sources = torch.cat([torch.nonzero(y_eval != t).squeeze(1)[:40] for t in range(10)])
        targets = torch.arange(10, device=device).repeat_interleave(40)
        x_t = adv.targeted(model, x_eval[sources], targets, eps=0.2, steps=100, early_stop=True)
        with torch.no_grad():
            out["targeted_success"] = (model(x_t).argmax(1) == targets).float().mean().item()
        for name, perturb in (("robust", fgsm_rs(eps_train)), ("control", noise(eps_train))):
            m = copy.deepcopy(model).train()
            dlext.seed(seed)
            fit_classifier(m, epochs=1, lr=lr, n=30_000, perturb=perturb)
            m.eval()
            out[f"{name}_clean_acc"] = train.accuracy(m, X_test, y_test, device=device)
            out[f"{name}_pgd10_01"] = pgd_acc(m, x_eval, y_eval, 0.1)
            if name == "robust":
                robust = m
        out["robust_pgd10_02"] = pgd_acc(robust, x_eval, y_eval, 0.2)
        # as in the chapter: restarts use generator seeds 1, 2, ...; PGD-10 on the same digits uses seed 1
        out["robust_strong_01"] = pgd_acc(robust, x_eval[:n_strong], y_eval[:n_strong], 0.1, steps=50, restarts=5, seed=1)
        out["robust_pgd10_01_strongsubset"] = pgd_acc(robust, x_eval[:n_strong], y_eval[:n_strong], 0.1, seed=1)
        for eps in (0.3, 0.4, 0.5):
            out[f"robust_pgd10_{eps}"] = pgd_acc(robust, x_eval, y_eval, eps)
        x_tr = adv.pgd(model, x_eval, y_eval, 0.1, alpha=0.025, steps=10, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out["robust_transfer_01"] = (robust(x_tr).argmax(1) == y_eval).float().mean().item()
        out["cpu_s"] = time.process_time() - t0
        emit(**out)


if __name__ == "__main__":
    if sys.argv[1] == "grid":
        grid()
    elif sys.argv[1] == "gridone":
        grid_one(plain_model(0), float(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == "plain":
        plain_model(int(sys.argv[2]))
    else:
        # seeds EPS_TRAIN LR SEED...: the chapter's pipeline with the settings the grid chose
        seeds([int(s) for s in sys.argv[4:]], eps_train=float(sys.argv[2]), lr=float(sys.argv[3]), n_strong=100)

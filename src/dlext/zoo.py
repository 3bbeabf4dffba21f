"""Train a model once, load it afterwards: a per-user cache of trained weights, keyed by the recipe.

Chapters 08 and 09 train the same MNIST classifier (their judge) the same way. ``get("mnist_judge", seed=0,
device=device)`` trains it the first time and saves its weights; later calls, in this notebook or another,
load them. The file's name holds a key over everything that decides the weights: the recipe's code, every
module of ``dlext`` (their source), the seed, the torch version and the kind of device. Change any of them
and the next call trains again; a file that does not load is trained again too; ``retrain=True`` always
trains. The second value returned says which happened, so a chapter can print it.

After a load, the random state is the one the training left behind (NumPy and Python's ``random`` are
reseeded as the recipe does, torch's CPU generator, and on CUDA the device's, restored from the file), so the
cells that follow run as if the model had just been trained.

The cache is ``$DLEXT_MODEL_CACHE`` if set, else ``dlext-models`` in the per-user cache folder.
"""
from __future__ import annotations

import datetime
import hashlib
import inspect
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pooch
import torch
from torch import nn

from dlext import validate as v

__all__ = ["get", "cache_dir", "recipe_key", "RECIPES"]

ENV_DIR = "DLEXT_MODEL_CACHE"
_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    """How to make one trained model: ``build()`` gives the untrained architecture (to load weights into),
    ``train(seed, device)`` seeds, builds and trains it and returns it."""
    build: Callable[[], nn.Module]
    train: Callable[[int, torch.device], nn.Module]
    about: str


def _build_judge() -> nn.Module:
    from dlext.sample_quality import MNISTClassifier

    return MNISTClassifier()


def _train_judge(seed: int, device: torch.device) -> nn.Module:
    import dlext
    from dlext import data, train
    from dlext.sample_quality import MNISTClassifier

    X, y = data.load_mnist(train=True)
    dlext.seed(seed)
    model = MNISTClassifier()
    train.train_classifier(model, X, y, device=device, epochs=1, lr=2e-3, desc="judge classifier")
    return model


RECIPES: dict[str, Recipe] = {
    "mnist_judge": Recipe(_build_judge, _train_judge,
                          "sample_quality.MNISTClassifier, one epoch of Adam (lr 2e-3, batches of 128) on the "
                          "60,000 MNIST training digits"),
}


def cache_dir() -> Path:
    """Where trained models are kept: ``$DLEXT_MODEL_CACHE`` if set, else the per-user cache."""
    env = os.environ.get(ENV_DIR)
    return Path(env).expanduser() if env else Path(pooch.os_cache("dlext-models"))


def _package_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def recipe_key(name: str, seed: int, device: torch.device) -> str:
    """sha256 over what decides the weights: the recipe's code, dlext's source, seed, torch version, device kind."""
    v.choice("name", name, tuple(RECIPES))
    seed = v.integer("seed", seed, 0, 2**32 - 1)
    device = v.device("device", device)
    recipe = RECIPES[name]
    h = hashlib.sha256()
    for part in (name, inspect.getsource(recipe.build), inspect.getsource(recipe.train), _package_digest(),
                 str(seed), torch.__version__, device.type):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def get(name: str, *, seed: int, device: torch.device, retrain: bool = False) -> tuple[nn.Module, str]:
    """The model of recipe ``name`` trained with ``seed`` on ``device``: loaded if cached, else trained and saved.

    Returns the model (on ``device``, in the mode its training left it) and a sentence saying whether it
    was trained or loaded, and from which file.
    """
    key = recipe_key(name, seed, device)
    device = v.device("device", device)
    v.flag("retrain", retrain)
    recipe = RECIPES[name]
    path = cache_dir() / f"{name}-seed{seed}-{key[:16]}.pt"
    problem = ""
    if path.is_file() and not retrain:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model = recipe.build()
            model.load_state_dict(saved["state_dict"])
        except Exception as err:  # a cache file is disposable: train again, and say why
            problem = f"the cached file {path.name} did not load ({type(err).__name__}), so it was trained again: "
        else:
            import dlext

            dlext.seed(seed)  # NumPy and random as the recipe left them; torch's generator as the training left it
            torch.set_rng_state(saved["rng"])
            if "cuda_rng" in saved and device.type == "cuda":
                torch.cuda.set_rng_state(saved["cuda_rng"], device)
            model.to(device).train(bool(saved["training"]))
            return model, (f"loaded from the model cache ({path.name} in zoo.cache_dir()), where this recipe saved "
                           f"it after {float(saved['seconds']):.0f} s of training; zoo.get(..., retrain=True) trains it again")
    start = time.perf_counter()
    model = recipe.train(seed, device)
    seconds = time.perf_counter() - start
    saved = {"state_dict": {k: t.detach().cpu() for k, t in model.state_dict().items()},
             "rng": torch.get_rng_state(), "training": model.training, "seconds": seconds,
             "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if device.type == "cuda":
        saved["cuda_rng"] = torch.cuda.get_rng_state(device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(saved, tmp)
    os.replace(tmp, path)  # whole or absent, also when two notebooks train it at once
    return model, f"{problem}trained in {seconds:.0f} s and saved to the model cache ({path.name} in zoo.cache_dir())"

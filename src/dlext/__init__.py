"""Helpers for the Deep Learning Extensions course.

Importing the package does nothing but define names: no seeding, no downloads, no
global settings. Submodules are imported explicitly (``from dlext import data``).
"""
import random

import numpy as np
import torch

__version__ = "0.1.0"
__all__ = ["device", "seed", "__version__"]


def device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed(n: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (every CUDA device too) with ``n``.

    ``PYTHONHASHSEED`` is left alone: string hashing is fixed when Python starts, so setting it in a
    running process changes nothing here (start Python with it set to make ``set`` order repeat).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(n).__name__}")
    if not 0 <= n < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {n}")
    n = int(n)
    random.seed(n)
    np.random.seed(n)
    torch.manual_seed(n)  # also seeds every CUDA device

"""Chapter 08's ring-of-Gaussians toy on seeds 0-9: modes covered every 100 rounds with M = 1 (1,000 rounds) and
M = 5 generator steps per round (600 rounds), the chapter's own settings (an expert read found seeds 0-2, the
chapter's, were 3 of only 4 seeds of 10 on which M = 1 covered the ring at the end).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/gans_toy_seeds.py > /tmp/toy.json
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/evidence/gans_toy_seeds.py --m5-slow > /tmp/toy_slow.json

Prints JSON {"m1_modes": {seed: [...]}, "m1_collapsed_any": {...}, "m5_modes": {...}}; its values go into
src/dlext/evidence/gans_toy.json with the command and the machine. With --m5-slow it runs only the control an expert
read asked for, M = 5 with the generator's learning rate divided by 5 (2e-4; the discriminator's stays 1e-3), so that
G moves about as far per discriminator step as with M = 1: {"m5_slow_modes": {seed: [...]}}.
"""
import json
import sys

import torch

import dlext
from dlext import gan

torch.set_num_threads(1)
ring, centres = gan.ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))


def run(seed: int, steps: int, g_steps: int, g_lr: float = 1e-3) -> list[dict]:
    dlext.seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = gan.Generator(), gan.Discriminator()
    og = torch.optim.Adam(G.parameters(), lr=g_lr, betas=(0.5, 0.9))
    od = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    z = torch.randn(2000, 2, generator=gen)
    diag = []
    for s in range(steps + 1):
        if s % 100 == 0:
            diag.append(gan.ring_diagnostics(G(z).detach(), centres))
        if s < steps:
            real, _ = gan.ring_of_gaussians(256, generator=gen)
            gan.train_step(G, D, og, od, real, g_steps=g_steps)
    return diag


slow = "--m5-slow" in sys.argv
seeds = [int(s) for s in sys.argv[1:] if s != "--m5-slow"] or list(range(10))
if slow:
    out = {"m5_slow_modes": {}}
    for seed in seeds:
        out["m5_slow_modes"][seed] = [int(d["modes"]) for d in run(seed, 600, 5, g_lr=1e-3 / 5)]
        print(seed, out["m5_slow_modes"][seed], file=sys.stderr, flush=True)
    print(json.dumps(out))
    sys.exit(0)
out = {"m1_modes": {}, "m1_collapsed_any": {}, "m5_modes": {}}
for seed in seeds:
    d1, d5 = run(seed, 1000, 1), run(seed, 600, 5)
    out["m1_modes"][seed] = [int(d["modes"]) for d in d1]
    out["m1_collapsed_any"][seed] = bool(any(d["collapsed"] for d in d1))
    out["m5_modes"][seed] = [int(d["modes"]) for d in d5]
    print(seed, out["m1_modes"][seed], out["m5_modes"][seed], file=sys.stderr, flush=True)
print(json.dumps(out))

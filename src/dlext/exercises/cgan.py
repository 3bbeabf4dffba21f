"""Self-checks for the conditional-GAN chapter's exercises (interpolation, gradient reversal)."""
import math

import torch

from dlext.exercises._guards import own_function_output
from dlext.homework import expect, expect_close, question


@question("cgan.q1", points=1)
def _quarter_norm(answer):
    """Expected squared norm a quarter of the way between two independent Gaussian noise vectors, relative to one."""
    expect_close(answer, (3 / 4) ** 2 + (1 / 4) ** 2, "E|(3/4) z0 + (1/4) z1|^2 / E|z0|^2", atol=1e-3, reveal=False)


@question("cgan.q2", points=2)
def _slerp(fn):
    """Spherical interpolation between two noise vectors, including the parallel case (Omega = 0)."""
    gen = torch.Generator().manual_seed(0)
    # exactly parallel (the normalised dot product is exactly 1, so Omega = 0), and nearly parallel
    parallel = [(torch.full((64,), 0.5), 2.0, "z1 = 2 z0"), (torch.full((64,), 0.5), 1.0, "z1 = z0"),
                (torch.eye(64)[3] * 3, 1.0, "z1 = z0"), (torch.randn(64, generator=gen), 2.5, "z1 = 2.5 z0")]
    for z, factor, what in parallel:
        z1 = factor * z
        for t in (0.3, 0.5):
            got = fn(z.clone(), z1.clone(), t)
            expect(isinstance(got, torch.Tensor) and got.shape == z.shape,
                   "slerp(z0, z1, t) should return a tensor shaped like z0")
            expect(bool(torch.isfinite(got).all()), f"slerp of parallel vectors ({what}) returned NaN or inf: "
                   "the formula is 0/0 there; return its limit as Omega -> 0")
            expect(torch.allclose(got, (1 - t) * z + t * z1, atol=1e-4),
                   f"slerp of parallel vectors ({what}) at t = {t} is not the formula's limit as Omega -> 0 "
                   "(what do sin((1 - t) Omega) / sin(Omega) and sin(t Omega) / sin(Omega) tend to?)")
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = fn(e0.clone(), e1.clone(), 0.5)
    expect(isinstance(mid, torch.Tensor) and mid.shape == (2,), "slerp(z0, z1, t) should return a tensor shaped like z0")
    expect(torch.allclose(mid, torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-5),
           "slerp of two orthogonal unit vectors at t = 0.5 should be their normalised sum")
    # moderate angles (random 64-D pairs are all nearly orthogonal): a solution that falls back to the straight line
    # for anything but a right angle, or below too large an Omega, is caught here; unequal norms on purpose
    z0 = torch.randn(64, generator=gen)
    u = torch.randn(64, generator=gen)
    u = u - (u @ z0) / (z0 @ z0) * z0  # orthogonal to z0
    for omega in (0.01, 0.05, 0.2, 0.7, 1.2, 2.0, 2.6):  # 0.05: a straight-line fallback below 0.1 is off by ~1e-3
        z1 = 1.7 * z0.norm() * (math.cos(omega) * z0 / z0.norm() + math.sin(omega) * u / u.norm())
        for t in (0.25, 0.6):
            a, b = z0.double(), z1.double()
            expected = ((math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)).float()
            got = fn(z0.clone(), z1.clone(), t)
            expect(isinstance(got, torch.Tensor) and got.shape == z0.shape,
                   "slerp(z0, z1, t) should return a tensor shaped like z0")
            expect(torch.allclose(got, expected, atol=1e-4),
                   f"slerp of two vectors {omega} rad apart (|z1| = 1.7 |z0|) at t = {t} is off: is Omega the angle "
                   "between z0 and z1, and is the straight line used only in the limit Omega -> 0?")
    for _ in range(5):  # random 64-D pairs, compared with the formula; every call gets private copies
        z0, z1 = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
        expect(torch.allclose(fn(z0.clone(), z1.clone(), 0.0), z0, atol=1e-5)
               and torch.allclose(fn(z0.clone(), z1.clone(), 1.0), z1, atol=1e-5),
               "slerp should return z0 at t = 0 and z1 at t = 1")
        omega = torch.arccos((z0 / z0.norm()) @ (z1 / z1.norm()))
        t = torch.rand((), generator=gen).item()
        expected = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
        expect(torch.allclose(fn(z0.clone(), z1.clone(), t), expected, atol=1e-4),
               f"slerp of two random 64-D vectors at t = {t:.3f} is off")


@question("cgan.q3", points=2)
def _grad_reverse(fn):
    """A gradient-reversal layer, written as one's own torch.autograd.Function."""
    for scale in (0.3, 2.0):
        x = torch.randn(6, generator=torch.Generator().manual_seed(0), requires_grad=True)
        # the gradient must come from the student's own autograd.Function, applied to x itself: its backward node
        # knows the class, and its one input edge leads to x (an identity Function wrapped around gan.grad_reverse,
        # or around an expression built from detach(), passed a check of the class alone). While grading, the call
        # runs in the submission's process and the guard looks at the output there, where its graph lives.
        with own_function_output("reverse_gradient should return the output of your own torch.autograd.Function "
                                 "(its .apply) called on x, not gan.grad_reverse or an expression built from "
                                 "detach()") as own:
            y = fn(x, scale)
        expect(isinstance(y, torch.Tensor) and torch.equal(y.detach(), x.detach()),
               "reverse_gradient should return its input unchanged on the way forward")
        own.verify((x, scale), y)
        (y * torch.arange(6.0)).sum().backward()
        expect(x.grad is not None and torch.allclose(x.grad, -scale * torch.arange(6.0)),
               f"on the way back the gradient should be multiplied by -scale (checked at scale {scale})")


# The domain head of the chapter's train_domain_classifier: Linear(64, 64), ReLU, Linear(64, 1).
_DOMAIN_HEAD_PARAMETERS = 64 * 64 + 64 + 64 + 1


@question("cgan.q4", points=1)
def _zero_scale(answer):
    """How many parameters the domain loss can still change when the reversal's scale is 0."""
    expect_close(answer, _DOMAIN_HEAD_PARAMETERS,
                 "the number of parameters the domain loss can change at scale 0 (which parameters does it reach "
                 "at all, and what arrives at the features through a reversal with scale 0?)", atol=0.5, reveal=False)

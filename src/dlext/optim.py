"""Gradient-descent optimizers written from their update equations, as ``torch.optim.Optimizer``s.

Each class takes the same hyper-parameters, with the same defaults, as the ``torch.optim`` class of
the same name (``AdaGrad`` is ``torch.optim.Adagrad``), and gives the same parameters step for step.
PyTorch's implementation switches (``foreach``, ``fused``, ``capturable``, ``differentiable``) are
left out: there is one plain loop here, written for reading. Notation, per parameter tensor:
``g`` its gradient, ``theta`` its value, ``t`` the step number, ``lr`` the learning rate.
"""
import math
from typing import Callable, Iterable

import torch
from torch import Tensor

from dlext import validate as v

__all__ = ["SGD", "AdaGrad", "RMSprop", "Adadelta", "Adam"]


def _check(name: str, value: float, low: float, high: float = math.inf, *,
           low_open: bool = False, high_open: bool = True) -> None:
    """TypeError unless a real number, ValueError unless finite and ``low <= value < high`` (brackets as asked)."""
    v.number(name, value, low, high, low_open=low_open, high_open=high_open)


def _check_flag(name: str, value: bool) -> None:
    v.flag(name, value)


class _Base(torch.optim.Optimizer):
    """The loop every optimizer here shares: closure, ``maximize``, then ``_update`` per parameter."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError(f"{type(self).__name__} does not support sparse gradients")
                g = -p.grad if group["maximize"] else p.grad  # ascend instead of descend
                self._update(p, g, self.state[p], group)
        return loss

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class SGD(_Base):
    """Stochastic gradient descent with (Nesterov) momentum and L2 weight decay."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        _check("lr", lr, 0)
        _check("momentum", momentum, 0)
        _check("dampening", dampening, 0, 1, high_open=False)
        _check("weight_decay", weight_decay, 0)
        _check_flag("nesterov", nesterov)
        _check_flag("maximize", maximize)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _update(self, p, g, state, group):
        lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if wd:
            g = g.add(p, alpha=wd)  # g <- g + lambda * theta  (L2 penalty lambda/2 ||theta||^2)
        if mu:
            if "momentum_buffer" not in state:
                buf = state["momentum_buffer"] = g.clone()  # b_1 = g_1
            else:
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(g, alpha=1 - tau)  # b_t = mu * b_{t-1} + (1 - tau) * g_t
            g = g.add(buf, alpha=mu) if group["nesterov"] else buf  # Nesterov: g_t + mu * b_t; else b_t
        p.add_(g, alpha=-lr)  # theta_t = theta_{t-1} - lr * g


class AdaGrad(_Base):
    """AdaGrad: per-coordinate step sizes lr / sqrt(sum of all past squared gradients)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        _check("lr", lr, 0)
        _check("lr_decay", lr_decay, 0)
        _check("weight_decay", weight_decay, 0)
        _check("initial_accumulator_value", initial_accumulator_value, 0)
        _check("eps", eps, 0, low_open=True)
        _check_flag("maximize", maximize)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])  # G_0
        state["step"] += 1
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])  # g <- g + lambda * theta
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])  # lr_t = lr / (1 + (t-1) * decay)
        state["sum"].addcmul_(g, g)  # G_t = G_{t-1} + g_t^2
        p.addcdiv_(g, state["sum"].sqrt().add_(group["eps"]), value=-lr_t)  # theta -= lr_t * g / (sqrt(G_t) + eps)


class RMSprop(_Base):
    """RMSprop: divide by a running root-mean-square of the gradient (optionally centred, with momentum)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        _check("lr", lr, 0)
        _check("alpha", alpha, 0, 1)
        _check("eps", eps, 0, low_open=True)
        _check("weight_decay", weight_decay, 0)
        _check("momentum", momentum, 0)
        _check_flag("centered", centered)
        _check_flag("maximize", maximize)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, g, state, group):
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)  # v_0 = 0
            if mu:
                state["momentum_buffer"] = torch.zeros_like(p)  # b_0 = 0
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p)  # m_0 = 0
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])  # g <- g + lambda * theta
        v = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)  # v_t = alpha v_{t-1} + (1-alpha) g^2
        if group["centered"]:
            m = state["grad_avg"].lerp_(g, 1 - alpha)  # m_t = alpha m_{t-1} + (1-alpha) g
            denom = v.addcmul(m, m, value=-1).sqrt_().add_(group["eps"])  # sqrt(v_t - m_t^2) + eps
        else:
            denom = v.sqrt().add_(group["eps"])  # sqrt(v_t) + eps
        if mu:
            buf = state["momentum_buffer"].mul_(mu).addcdiv_(g, denom)  # b_t = mu b_{t-1} + g / denom
            p.add_(buf, alpha=-group["lr"])  # theta -= lr * b_t
        else:
            p.addcdiv_(g, denom, value=-group["lr"])  # theta -= lr * g / denom


class Adadelta(_Base):
    """Adadelta: the step is RMS(past updates) / RMS(gradients) * g, so it carries the parameter's units."""

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False):
        _check("lr", lr, 0)
        _check("rho", rho, 0, 1)
        _check("eps", eps, 0, low_open=True)
        _check("weight_decay", weight_decay, 0)
        _check_flag("maximize", maximize)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _update(self, p, g, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)  # E[g^2]_0 = 0
            state["acc_delta"] = torch.zeros_like(p)  # E[dx^2]_0 = 0
        if group["weight_decay"]:
            g = g.add(p, alpha=group["weight_decay"])  # g <- g + lambda * theta
        v = state["square_avg"].mul_(rho).addcmul_(g, g, value=1 - rho)  # E[g^2]_t = rho E[g^2]_{t-1} + (1-rho) g^2
        delta = state["acc_delta"].add(eps).sqrt_().div_(v.add(eps).sqrt_()).mul_(g)  # dx = RMS[dx]_{t-1} / RMS[g]_t * g
        state["acc_delta"].mul_(rho).addcmul_(delta, delta, value=1 - rho)  # E[dx^2]_t = rho E[dx^2] + (1-rho) dx^2
        p.add_(delta, alpha=-group["lr"])  # theta -= lr * dx


class Adam(_Base):
    """Adam: momentum on g and RMSprop on g^2, both bias-corrected; AMSGrad and AdamW as options."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False):
        _check("lr", lr, 0)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check("betas[0]", betas[0], 0, 1)
        _check("betas[1]", betas[1], 0, 1)
        _check("eps", eps, 0, low_open=True)
        _check("weight_decay", weight_decay, 0)
        _check_flag("amsgrad", amsgrad)
        _check_flag("maximize", maximize)
        _check_flag("decoupled_weight_decay", decoupled_weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, g, state, group):
        (beta1, beta2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)  # m_0 = 0
            state["exp_avg_sq"] = torch.zeros_like(p)  # v_0 = 0
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p)  # v^max_0 = 0
        state["step"] += 1
        t = state["step"]
        if wd and group["decoupled_weight_decay"]:
            p.mul_(1 - lr * wd)  # AdamW: theta <- (1 - lr * lambda) theta, outside the adaptive scaling
        elif wd:
            g = g.add(p, alpha=wd)  # g <- g + lambda * theta
        m = state["exp_avg"].lerp_(g, 1 - beta1)  # m_t = beta1 m_{t-1} + (1 - beta1) g
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v_t = beta2 v_{t-1} + (1-beta2) g^2
        if group["amsgrad"]:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # v^max_t = max(v^max, v_t)
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t  # E[m_t] = (1 - beta1^t) E[g]: undo the pull towards 0
        denom = (v.sqrt() / math.sqrt(bias2)).add_(group["eps"])  # sqrt(v_t / (1 - beta2^t)) + eps
        p.addcdiv_(m, denom, value=-lr / bias1)  # theta -= lr * (m_t / (1 - beta1^t)) / denom

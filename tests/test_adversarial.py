"""dlext.adversarial: FGSM against a hand-computed linear model; budgets, [0, 1], model state left alone."""
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dlext import adversarial as adv


def _linear_two_class() -> nn.Module:
    """logits = W x + b for 4-pixel images, with known weights."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 2.0, 3.0]]))
        model[1].bias.zero_()
    return model


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 10))


def _images(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_fgsm_matches_the_hand_computed_linear_model():
    # For two classes, d CE / d x = W^T (p - e_y) = p_1 (w_1 - w_0) when y = 0 (and p_0 (w_0 - w_1) when y = 1),
    # so FGSM moves every pixel by eps in the sign of w_1 - w_0 = (-2, 3, 1.5, 3) for y = 0, the opposite for y = 1.
    model = _linear_two_class()
    x = torch.full((2, 1, 2, 2), 0.5)
    y = torch.tensor([0, 1])
    out = adv.fgsm(model, x, y, 0.1)
    step = torch.tensor([-1.0, 1.0, 1.0, 1.0]).reshape(1, 2, 2) * 0.1
    torch.testing.assert_close(out, torch.stack([0.5 + step, 0.5 - step]))
    # The logit margin z_1 - z_0 changes by exactly eps * |w_1 - w_0|_1 = 0.1 * 9.5 (the linear explanation).
    margin = lambda v: (model(v)[:, 1] - model(v)[:, 0]).detach()
    torch.testing.assert_close(margin(out) - margin(x), torch.tensor([0.95, -0.95]))


def test_fgsm_zero_weight_pixel_does_not_move_and_clipping_holds():
    model = _linear_two_class()
    with torch.no_grad():
        model[1].weight[:, 3] = 0.0
    x = torch.tensor([[0.0, 1.0, 0.98, 0.3]]).reshape(1, 1, 2, 2)
    out = adv.fgsm(model, x, torch.tensor([0]), 0.1)
    # signs (-1, +1, +1, 0): pixel 0 stays at 0, pixel 1 at 1, pixel 2 clips to 1, pixel 3 does not move
    torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 1.0, 1.0, 0.3]))


@pytest.mark.parametrize("eps", [0.0, 0.03, 0.3, 1.0])
@pytest.mark.parametrize("name", ["fgsm", "pgd", "targeted"])
def test_outputs_stay_in_the_box_and_the_budget(name, eps):
    model, (x, y) = _small_cnn(), _images()
    if name == "fgsm":
        out = adv.fgsm(model, x, y, eps)
    elif name == "pgd":
        out = adv.pgd(model, x, y, eps, alpha=eps / 3, steps=5)
    else:
        out = adv.targeted(model, x, (y + 1) % 10, eps=eps, steps=5)
    assert out.shape == x.shape and not out.requires_grad
    assert out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().max() <= eps + 1e-6


def test_pgd_is_at_least_as_strong_as_fgsm_and_targeted_reaches_its_target():
    model, (x, y) = _small_cnn(), _images(64)
    with torch.no_grad():
        y = model(x).argmax(-1)  # start from images the model gets "right"
    loss = lambda v: nn.functional.cross_entropy(model.eval()(v), y, reduction="none").detach()
    eps = 0.05
    x_fgsm = adv.fgsm(model, x, y, eps)
    x_pgd = adv.pgd(model, x, y, eps, alpha=eps / 4, steps=20, random_start=False)
    assert loss(x_pgd).mean() > loss(x_fgsm).mean() > loss(x).mean()
    target = (y + 1) % 10
    x_t = adv.targeted(model, x, target, eps=0.5, steps=40)
    with torch.no_grad():
        assert (model(x_t).argmax(-1) == target).float().mean() > 0.9


@pytest.mark.parametrize("name", ["pgd", "targeted"])
def test_early_stop_keeps_each_image_at_its_first_success(name):
    model, (x, y) = _small_cnn(), _images(64)
    model.eval()
    with torch.no_grad():
        y = model(x).argmax(-1)  # images the model gets "right"
    goal = y if name == "pgd" else (y + 1) % 10
    if name == "pgd":
        attack = partial(adv.pgd, model, x, y, 0.03, alpha=0.01, steps=12, random_start=False)
    else:
        attack = partial(adv.targeted, model, x, goal, eps=0.03, steps=12)
    full, early = attack(), attack(early_stop=True)
    with torch.no_grad():
        hit = lambda v: model(v).argmax(-1) != goal if name == "pgd" else model(v).argmax(-1) == goal
        hit_full, hit_early = hit(full), hit(early)
    assert 0 < hit_full.sum() <= hit_early.sum() < len(x)  # stopping at the first success loses none
    assert hit_early[hit_full].all()
    # an image that never succeeded followed the same path as without early stopping
    torch.testing.assert_close(early[~hit_early], full[~hit_early])
    assert (early - x).abs().max() <= 0.03 + 1e-6 and early.min() >= 0 and early.max() <= 1
    with pytest.raises(TypeError, match="early_stop"):
        attack(early_stop=1)


def test_pgd_with_zero_steps_is_the_random_start_or_the_input():
    model, (x, y) = _small_cnn(), _images()
    assert torch.equal(adv.pgd(model, x, y, 0.1, 0.01, 0, random_start=False), x)
    g = torch.Generator().manual_seed(3)
    start = adv.pgd(model, x, y, 0.1, 0.01, 0, generator=g)
    assert 0 < (start - x).abs().max() <= 0.1 + 1e-6
    assert torch.equal(start, adv.pgd(model, x, y, 0.1, 0.01, 0, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("attack", [
    lambda m, x, y: adv.fgsm(m, x, y, 0.1),
    lambda m, x, y: adv.pgd(m, x, y, 0.1, 0.02, 3),
    lambda m, x, y: adv.targeted(m, x, 3, eps=0.1, steps=3),
    lambda m, x, y: adv.accuracy_under_attack(m, x, y, adv.fgsm, 0.1, batch_size=5),
])
@pytest.mark.parametrize("training", [True, False])
def test_attacks_restore_the_model_and_leave_no_gradient(attack, training):
    model, (x, y) = _small_cnn(), _images()
    model.train(training)
    model[2].eval()  # one submodule in a different mode from the rest: restored as it was
    model[0].bias.requires_grad_(False)
    model[4].weight.grad = torch.ones_like(model[4].weight)  # a gradient the caller already had
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack(model, x, y)
    assert model.training == training and not model[2].training and model[4].training == training
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True]
    assert model[0].weight.grad is None and model[4].bias.grad is None
    assert torch.equal(model[4].weight.grad, torch.ones_like(model[4].weight))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_attacks_restore_the_model_after_an_error():
    model, (x, y) = _small_cnn(), _images()
    model.train()

    def broken(m, xb, yb, eps):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        adv.accuracy_under_attack(model, x, y, broken, 0.1)
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_attacks_are_batch_independent():
    model, (x, y) = _small_cnn(), _images(10)
    whole = adv.fgsm(model, x, y, 0.1)
    one_by_one = torch.cat([adv.fgsm(model, x[i:i + 1], y[i:i + 1], 0.1) for i in range(10)])
    torch.testing.assert_close(whole, one_by_one)


def test_accuracy_under_attack_agrees_with_attacking_by_hand():
    model, (x, y) = _small_cnn(), _images(30)
    model.eval()
    attack = partial(adv.pgd, alpha=0.02, steps=3, random_start=False)
    got = adv.accuracy_under_attack(model, x, y, attack, 0.1, batch_size=7)
    with torch.no_grad():
        expected = (model(attack(model, x, y, 0.1)).argmax(-1) == y).float().mean().item()
        clean = (model(x).argmax(-1) == y).float().mean().item()
    assert got == pytest.approx(expected)
    assert adv.accuracy_under_attack(model, x, y, attack, 0.0) == pytest.approx(clean)


def test_project_clips_to_the_intersection_of_the_box_and_the_ball():
    x = torch.tensor([0.0, 0.5, 0.95, 0.5])
    out = adv.project(torch.tensor([-0.3, 0.9, 1.4, 0.45]), x, 0.1)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.6, 1.0, 0.45]))


@pytest.mark.parametrize("call, error, words", [
    (lambda m, x, y: adv.fgsm(m, x, y, -0.1), ValueError, "eps"),
    (lambda m, x, y: adv.fgsm(m, x, y, float("nan")), ValueError, "eps"),
    (lambda m, x, y: adv.fgsm(m, x, y, float("inf")), ValueError, "eps"),
    (lambda m, x, y: adv.fgsm(m, x, y, "0.1"), TypeError, "eps"),
    (lambda m, x, y: adv.pgd(m, x, y, 0.1, -1.0, 3), ValueError, "alpha"),
    (lambda m, x, y: adv.pgd(m, x, y, 0.1, 0.01, -2), ValueError, "steps"),
    (lambda m, x, y: adv.fgsm(m, x, y[:-1], 0.1), ValueError, "shape"),
    (lambda m, x, y: adv.fgsm(m, x, y.float(), 0.1), TypeError, "integer"),
    (lambda m, x, y: adv.targeted(m, x, y[:3], eps=0.1), ValueError, "target"),
    (lambda m, x, y: adv.fgsm(m, x * float("nan"), y, 0.1), ValueError, "NaN"),
    (lambda m, x, y: adv.fgsm(m, x + 1.5, y, 0.1), ValueError, r"\[0, 1\]"),
    (lambda m, x, y: adv.fgsm("model", x, y, 0.1), TypeError, "nn.Module"),
    (lambda m, x, y: adv.accuracy_under_attack(m, x, y, "fgsm", 0.1), TypeError, "attack"),
    (lambda m, x, y: adv.accuracy_under_attack(m, x, y, adv.fgsm, 0.1, batch_size=0), ValueError, "batch_size"),
    (lambda m, x, y: adv.project(x[:2], x, 0.1), ValueError, "same shape"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    model, (x, y) = _small_cnn(), _images()
    with pytest.raises(error, match=words):
        call(model, x, y)


def _penalty_attack(model, x, target, lam=0.05, steps=100, lr=0.01):
    """The chapter's old optimization attack: Adam on f_target(clip(x + delta)) - lam |delta|^2."""
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    for p in model.parameters():
        p.requires_grad_(False)
    for _ in range(steps):
        score = model((x + delta).clamp(0, 1)).gather(1, target[:, None]).squeeze(1)
        opt.zero_grad()
        (-(score - lam * delta.pow(2).flatten(1).sum(1)).sum()).backward()
        opt.step()
    for p in model.parameters():
        p.requires_grad_(True)
    return (x + delta).clamp(0, 1).detach()


def test_cw_l2_reaches_every_target_with_smaller_changes_than_the_penalty_attack():
    model, (x, y) = _small_cnn(), _images(32)
    model.eval()
    target = (y + 3) % 10
    x_cw, ok = adv.cw_l2(model, x, target, steps=40, search_steps=5, lr=0.05)
    assert ok.all()
    with torch.no_grad():
        z = model(x_cw)
    assert (z.argmax(1) == target).all()  # every returned example is classified as its target
    assert x_cw.min() >= 0 and x_cw.max() <= 1
    x_pen = _penalty_attack(model, x, target)
    with torch.no_grad():
        pen_ok = model(x_pen).argmax(1) == target
    assert pen_ok.sum() >= 16  # the comparison below is over enough images to mean something
    l2_cw, l2_pen = (x_cw - x).flatten(1).norm(dim=1), (x_pen - x).flatten(1).norm(dim=1)
    assert (l2_cw[pen_ok] <= l2_pen[pen_ok]).all()


def test_cw_l2_matches_the_closed_form_distance_for_a_linear_model():
    # Two classes, logits W x: the smallest L2 change giving z_0 - z_1 = m is (m + z_1 - z_0) / ||w_0 - w_1||_2,
    # along w_0 - w_1 (here at most 0.4 per pixel from 0.5, so the box [0, 1] does not bind).
    model = _linear_two_class()
    x = torch.full((3, 1, 2, 2), 0.5) + torch.tensor([0.0, 0.02, -0.02]).view(3, 1, 1, 1)
    with torch.no_grad():
        gap = model(x)[:, 1] - model(x)[:, 0]  # > 0: class 1 wins; the target is 0
    assert (gap > 0).all()
    w = model[1].weight[0] - model[1].weight[1]
    for kappa in (0.0, 0.5):
        x_cw, ok = adv.cw_l2(model, x, 0, kappa=kappa, steps=100, search_steps=6, lr=0.02)
        assert ok.all()
        expected = (gap + max(kappa, 1e-3)) / w.norm()
        torch.testing.assert_close((x_cw - x).flatten(1).norm(dim=1), expected, rtol=0.03, atol=1e-3)
        with torch.no_grad():
            assert (model(x_cw)[:, 0] - model(x_cw)[:, 1] >= max(kappa, 1e-3)).all()


def test_cw_l2_returns_the_input_where_it_fails_and_leaves_the_model_alone():
    model, (x, y) = _small_cnn(), _images(8)
    model.train()
    x_cw, ok = adv.cw_l2(model, x, (y + 1) % 10, c=1e-6, search_steps=1, steps=3)  # far too weak to succeed
    assert not ok.any() and torch.equal(x_cw, x)
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_l2_stays_in_the_ball_and_the_box(targeted):
    model, (x, y) = _small_cnn(), _images(16)
    eps = torch.linspace(0.0, 2.0, 16)  # one radius per image
    out = adv.pgd_l2(model, x, (y + 1) % 10 if targeted else y, eps, steps=8, targeted=targeted)
    assert out.min() >= 0 and out.max() <= 1 and not out.requires_grad
    assert ((out - x).flatten(1).norm(dim=1) <= eps + 1e-5).all()
    assert torch.equal(out[0], x[0])  # eps = 0 moves nothing


def test_pgd_l2_first_step_is_the_normalised_gradient():
    model = _linear_two_class()
    x, y = torch.full((2, 1, 2, 2), 0.5), torch.tensor([0, 1])
    out = adv.pgd_l2(model, x, y, eps=1.0, alpha=0.1, steps=1)
    d = torch.tensor([-2.0, 3.0, 1.5, 3.0])  # grad of CE for y = 0 is along w_1 - w_0; for y = 1 the opposite
    step = (0.1 * d / d.norm()).view(1, 2, 2)
    torch.testing.assert_close(out, torch.stack([0.5 + step, 0.5 - step]))


def test_pgd_l2_targeted_with_a_large_budget_reaches_the_target():
    model, (x, y) = _small_cnn(), _images(32)
    model.eval()
    target = (y + 1) % 10
    out = adv.pgd_l2(model, x, target, 4.0, steps=40, targeted=True, early_stop=True)
    with torch.no_grad():
        assert (model(out).argmax(1) == target).float().mean() > 0.9


@pytest.mark.parametrize("call, error, words", [
    (lambda m, x, y: adv.cw_l2(m, x, y, c=0.0), ValueError, "c must"),
    (lambda m, x, y: adv.cw_l2(m, x, y, kappa=-1.0), ValueError, "kappa"),
    (lambda m, x, y: adv.cw_l2(m, x, y, steps=0), ValueError, "steps"),
    (lambda m, x, y: adv.cw_l2(m, x, y, search_steps=2.5), TypeError, "search_steps"),
    (lambda m, x, y: adv.cw_l2(m, x, y + 10), ValueError, "target"),
    (lambda m, x, y: adv.pgd_l2(m, x, y, -1.0), ValueError, "eps"),
    (lambda m, x, y: adv.pgd_l2(m, x, y, torch.ones(3)), ValueError, "eps"),
    (lambda m, x, y: adv.pgd_l2(m, x, y, 1.0, targeted=1), TypeError, "targeted"),
])
def test_new_attacks_reject_bad_input(call, error, words):
    model, (x, y) = _small_cnn(), _images()
    with pytest.raises(error, match=words):
        call(model, x, y)


def test_fgsm_linear_exercise_rejects_autograd():
    from dlext.homework import evaluate

    def by_hand(W, b, x, y, eps):
        p = torch.softmax(x @ W.T + b, dim=1)
        p[torch.arange(len(y)), y] -= 1
        return (x + eps * (p @ W).sign()).clamp(0, 1)

    def with_autograd(W, b, x, y, eps):
        x = x.clone().requires_grad_(True)
        F.cross_entropy(x @ W.T + b, y, reduction="sum").backward()
        return (x + eps * x.grad.sign()).clamp(0, 1).detach()

    def autograd_reenabled(W, b, x, y, eps):  # the expert read's lazy answer: gradients turned back on
        with torch.enable_grad():
            return with_autograd(W, b, x, y, eps)

    def package_fgsm(W, b, x, y, eps):  # the other one: dlext's own FGSM on a linear model with these weights
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(W), lin.bias.copy_(b)
        return adv.fgsm(lin.eval(), x, y, eps)

    assert evaluate("adv.q3", by_hand).passed
    for lazy in (with_autograd, autograd_reenabled, package_fgsm):
        assert not evaluate("adv.q3", lazy).passed, lazy.__name__
    assert torch.autograd.grad is not None and torch.Tensor.backward.__name__ == "backward"  # restored afterwards

"""dlext.transfer: subsets and label draws, frozen layers, learning rates, augmentations, pseudo-labels."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dlext import transfer
from dlext.sample_quality import MNISTClassifier
from dlext.homework import evaluate


def test_digit_subset_keeps_and_relabels():
    X = torch.arange(8.0).reshape(8, 1, 1, 1)
    y = torch.tensor([5, 0, 9, 6, 5, 3, 9, 7])
    Xs, ys = transfer.digit_subset(X, y, [5, 6, 7, 8, 9])
    assert Xs.flatten().tolist() == [0, 2, 3, 4, 6, 7]
    assert ys.tolist() == [0, 4, 1, 0, 4, 2]
    with pytest.raises(ValueError, match="digits"):
        transfer.digit_subset(X, y, [5, 5])
    with pytest.raises(ValueError, match="same length"):
        transfer.digit_subset(X, y[:3], [5])


def test_per_class_sample_is_balanced_without_repeats_and_seeded():
    y = torch.arange(5).repeat_interleave(30)[torch.randperm(150, generator=torch.Generator().manual_seed(0))]
    idx = transfer.per_class_sample(y, 7, torch.Generator().manual_seed(1))
    assert len(idx) == 35 and len(set(idx.tolist())) == 35
    assert torch.bincount(y[idx], minlength=5).tolist() == [7] * 5
    again = transfer.per_class_sample(y, 7, torch.Generator().manual_seed(1))
    other = transfer.per_class_sample(y, 7, torch.Generator().manual_seed(2))
    assert torch.equal(idx, again) and not torch.equal(idx, other)
    with pytest.raises(ValueError, match="fewer than"):
        transfer.per_class_sample(y, 31)
    with pytest.raises(ValueError, match="n_per_class"):
        transfer.per_class_sample(y, 0)


def test_make_model_freezes_layers_in_order_and_leaves_the_original_alone():
    torch.manual_seed(0)
    pretrained = MNISTClassifier()
    pretrained.eval()
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    counts = []
    for k in range(4):
        model = transfer.make_model(5, pretrained, freeze_up_to=k)
        assert model.head.out_features == 5 and model is not pretrained
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
        counts.append(sum(p.numel() for p in model.parameters() if p.requires_grad))
        assert len(frozen) == 2 * k  # a weight and a bias per frozen layer
        assert all(name.startswith("body.") for name in frozen)
        # the copy starts from the pretrained body
        assert torch.equal(model.body[0].weight, pretrained.body[0].weight)
    # conv1: 16*25+16, conv2: 32*16*25+32, fc: 1568*64+64, head: 64*5+5
    assert counts == [416 + 12832 + 100416 + 325, 12832 + 100416 + 325, 100416 + 325, 325]
    assert not pretrained.training and all(p.requires_grad for p in pretrained.parameters())
    assert all(torch.equal(v, before[k]) for k, v in pretrained.state_dict().items())
    assert pretrained.head.out_features == 10
    with pytest.raises(ValueError, match="freeze_up_to"):
        transfer.make_model(5, pretrained, freeze_up_to=4)
    with pytest.raises(ValueError, match="pretrained"):
        transfer.make_model(5, None, freeze_up_to=1)
    with pytest.raises(TypeError, match="pretrained"):
        transfer.make_model(5, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="num_classes"):
        transfer.make_model(1)


def test_make_optimizer_uses_the_smaller_rate_for_the_body_and_skips_frozen_layers():
    torch.manual_seed(0)
    model = transfer.make_model(5, MNISTClassifier(), freeze_up_to=2)
    opt = transfer.make_optimizer(model, 3e-3, 3e-4)
    head_group, body_group = opt.param_groups
    assert head_group["lr"] == 3e-3 and body_group["lr"] == 3e-4
    assert {id(p) for p in head_group["params"]} == {id(p) for p in model.head.parameters()}
    assert {id(p) for p in body_group["params"]} == {id(p) for p in model.body[7].parameters()}
    frozen = transfer.make_model(5, MNISTClassifier(), freeze_up_to=3)
    assert len(transfer.make_optimizer(frozen, 1e-2).param_groups) == 1
    with pytest.raises(ValueError, match="positive"):
        transfer.make_optimizer(model, 1e-3, -1.0)


def test_fit_steps_learns_a_separable_problem_and_runs_whole_epochs():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(100, 2, generator=gen)
    y = (X[:, 0] > 0).long()
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    seen = []

    def augment(xb):
        seen.append(len(xb))
        return xb

    losses = transfer.fit_steps(model, X, y, steps=25, batch_size=32, device=torch.device("cpu"),
                                optimizer=torch.optim.Adam(model.parameters(), lr=0.1), augment=augment)
    assert len(losses) == 28 and sum(seen) == 700  # 25 steps -> 7 epochs of 4 batches
    assert (model(X).argmax(1) == y).float().mean() > 0.95
    with pytest.raises(ValueError, match="steps"):
        transfer.fit_steps(model, X, y, steps=0, batch_size=32, device=torch.device("cpu"),
                           optimizer=torch.optim.Adam(model.parameters()))


def test_frozen_network_equals_a_head_on_cached_features():
    torch.manual_seed(0)
    pretrained = MNISTClassifier()
    gen = torch.Generator().manual_seed(1)
    X, y = torch.rand(40, 1, 28, 28, generator=gen), torch.randint(0, 5, (40,), generator=gen)
    cpu = torch.device("cpu")
    torch.manual_seed(3)
    net = transfer.make_model(5, pretrained, freeze_up_to=3)
    transfer.fit_steps(net, X, y, steps=10, batch_size=16, device=cpu, optimizer=transfer.make_optimizer(net, 1e-2))
    with torch.no_grad():
        feats = pretrained.features(X)
    torch.manual_seed(3)
    head = nn.Linear(64, 5)
    transfer.fit_steps(head, feats, y, steps=10, batch_size=16, device=cpu,
                       optimizer=torch.optim.Adam(head.parameters(), lr=1e-2))
    torch.testing.assert_close(head.weight, net.head.weight, atol=1e-5, rtol=1e-5)


def test_random_affine_zero_is_identity_and_shift_matches_roll():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(3, 1, 28, 28)
    x[:, :, 10:18, 10:18] = torch.rand(3, 1, 8, 8, generator=gen)  # content away from the border
    torch.testing.assert_close(transfer.random_affine(x), x, atol=1e-5, rtol=0)
    # a shift of exactly +-1 pixel in x and y (u = +-1) is an integer translation: compare with torch.roll
    theta = torch.tensor([[1.0, 0, 2 / 28], [0, 1.0, -2 / 28]]).expand(3, 2, 3)
    moved = F.grid_sample(x, F.affine_grid(theta, [3, 1, 28, 28], align_corners=False), align_corners=False)
    torch.testing.assert_close(moved, torch.roll(x, shifts=(1, -1), dims=(2, 3)), atol=1e-5, rtol=0)
    out = transfer.random_affine(x, max_degrees=15, max_shift=2, generator=gen)
    assert out.shape == x.shape and not torch.allclose(out, x)
    # the sum of ink changes little under a small rotation and shift (bilinear resampling blurs a bit)
    assert torch.allclose(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.1)
    with pytest.raises(ValueError, match="max_degrees"):
        transfer.random_affine(x, max_degrees=-1)
    with pytest.raises(ValueError, match="B, C, H, W"):
        transfer.random_affine(x[0])


def test_rotation_by_90_degrees_matches_rot90():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    angle = math.radians(90)
    theta = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0]])
    # the same grid random_affine builds for a 90-degree angle; with a square image it is a pixel permutation
    out = F.grid_sample(x, F.affine_grid(theta.expand(4, 2, 3), [4, 1, 28, 28], align_corners=False), align_corners=False)
    assert any(torch.allclose(out, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))


def test_rotate180_and_noise():
    x = torch.rand(200, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    out = transfer.rotate180(x, p=0.5, generator=torch.Generator().manual_seed(1))
    turned = torch.tensor([torch.equal(o, xi.flip(-2, -1)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert (turned | kept).all() and 70 < turned.sum() < 130  # about half, each image either turned or not
    assert torch.equal(transfer.rotate180(x, p=1.0), x.flip(-2, -1)) and torch.equal(transfer.rotate180(x, p=0.0), x)
    with pytest.raises(ValueError, match="probability"):
        transfer.rotate180(x, p=1.5)
    noisy = transfer.add_noise(torch.full((10000,), 0.5), std=0.1, generator=torch.Generator().manual_seed(0))
    assert abs(noisy.std().item() - 0.1) < 0.005 and noisy.min() >= 0 and noisy.max() <= 1
    assert torch.equal(transfer.add_noise(x, std=0.0), x)
    with pytest.raises(ValueError, match="std"):
        transfer.add_noise(x, std=-0.1)


def test_pseudo_labels_and_confusion_rate():
    probs = torch.tensor([[0.7, 0.3], [0.45, 0.55], [0.1, 0.9]])
    keep, labels = transfer.pseudo_labels(probs, 0.6)
    assert keep.tolist() == [0, 2] and labels.tolist() == [0, 1]
    assert len(transfer.pseudo_labels(probs, 0.0)[0]) == 3 and len(transfer.pseudo_labels(probs, 1.0)[0]) == 0
    with pytest.raises(ValueError, match="threshold"):
        transfer.pseudo_labels(probs, 1.5)
    y = torch.tensor([1, 1, 4, 4, 0, 2])
    pred = torch.tensor([4, 1, 1, 4, 4, 2])
    assert transfer.confusion_rate(pred, y, 1, 4) == pytest.approx(2 / 4)  # a 0 called 4 does not count
    with pytest.raises(ValueError, match="no example"):
        transfer.confusion_rate(pred, y, 3, 5)


def test_exercise_checks_reject_wrong_answers():
    assert evaluate("transfer.q1", 100741).passed and not evaluate("transfer.q1", 325).passed
    assert not evaluate("transfer.q2", lambda p, t: (torch.arange(len(p)), p.argmax(1))).passed

    def select(probs, threshold):  # the package version, but a threshold above 1 keeps nothing
        return transfer.pseudo_labels(probs, min(threshold, 1.0)) if threshold <= 1 else (torch.tensor([]), torch.tensor([]))

    assert evaluate("transfer.q2", select).passed

    def rolled(image, dx, dy):  # wraps around instead of filling with zeros
        return torch.roll(image, shifts=(dy, dx), dims=(0, 1))

    assert not evaluate("transfer.q3", rolled).passed


def test_balanced_pseudo_labels_takes_the_most_confident_per_predicted_class():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.7, 0.3]])
    keep, labels = transfer.balanced_pseudo_labels(probs, 2)
    # class 0 is predicted for rows 0, 1, 2, 5 (confidence 0.9, 0.6, 0.8, 0.7): the top two are 0 and 2;
    # class 1 for rows 3 and 4 only, so both are kept
    assert keep.tolist() == [0, 2, 3, 4] and labels.tolist() == [0, 0, 1, 1]
    gen = torch.Generator().manual_seed(0)
    probs = torch.randn(300, 4, generator=gen).mul(2).softmax(1)
    keep, labels = transfer.balanced_pseudo_labels(probs, 10)
    assert torch.bincount(labels, minlength=4).tolist() == [10] * 4
    conf, pred = probs.max(1)
    for c in range(4):  # every kept row of class c is at least as confident as every dropped one
        kept_c = keep[labels == c]
        dropped = [i for i in (pred == c).nonzero().squeeze(1).tolist() if i not in set(kept_c.tolist())]
        assert conf[kept_c].min() >= conf[dropped].max()
    with pytest.raises(ValueError, match="per_class"):
        transfer.balanced_pseudo_labels(probs, 0)


def test_fit_steps_weight_scales_each_examples_loss():
    torch.manual_seed(0)
    X, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    cpu = torch.device("cpu")

    def one_step(weight):
        torch.manual_seed(1)
        model = nn.Linear(3, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        transfer.fit_steps(model, X, y, steps=1, batch_size=8, device=cpu, optimizer=opt, weight=weight)
        return model.weight.detach().clone()

    torch.manual_seed(1)
    ref = nn.Linear(3, 2)
    w = torch.tensor([1.0, 0.5, 0.0, 2.0, 1.0, 1.0, 0.3, 0.0])
    loss = (w * F.cross_entropy(ref(X), y, reduction="none")).mean()
    loss.backward()
    torch.testing.assert_close(one_step(w), ref.weight.detach() - 0.1 * ref.weight.grad)
    torch.testing.assert_close(one_step(torch.ones(8)), one_step(None))
    with pytest.raises(ValueError, match="weight"):
        one_step(torch.ones(5))
    with pytest.raises(ValueError, match="weight"):
        one_step(-torch.ones(8))

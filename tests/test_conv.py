"""dlext.conv against what PyTorch's layers actually produce."""
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlext import conv

N_CONFIGS = 5000  # random (N, F, P, S, D) configurations per reference; well under 1 s each


def _configs(seed: int, n: int = N_CONFIGS, pool: bool = False):
    rng = random.Random(seed)
    for _ in range(n):
        f = rng.randint(1, 7)
        p = rng.randint(0, f // 2) if pool else rng.randint(0, 4)  # PyTorch pooling needs P <= F/2
        yield rng.randint(1, 20), f, p, rng.randint(1, 4), rng.randint(1, 3)


def _torch_size(op, n: int):
    """PyTorch's output width for a (1, 1, n, n) input, or None if PyTorch refuses the configuration."""
    try:
        out = op(torch.zeros(1, 1, n, n))
    except RuntimeError:
        return None
    assert out.shape[-1] == out.shape[-2]
    return out.shape[-1]


def _ours(n, f, p, s, d, strict):
    try:
        return conv.output_size(n, f, p, s, d, strict=strict)
    except ValueError:
        return None


def test_output_size_matches_f_conv2d_on_random_configs():
    torch.manual_seed(0)
    exact = fitted = 0
    for n, f, p, s, d in _configs(0):
        weight = torch.ones(1, 1, f, f)
        expected = _torch_size(lambda x: F.conv2d(x, weight, stride=s, padding=p, dilation=d), n)
        assert _ours(n, f, p, s, d, strict=False) == expected, (n, f, p, s, d)
        # strict: the same number unless the floor drops input pixels (not only zero padding), else a ValueError
        tiles = expected is not None and (n + 2 * p - d * (f - 1) - 1) % s == 0
        drops_pixels = expected is not None and conv.dropped_border(n, f, p, s, d) > 0
        assert _ours(n, f, p, s, d, strict=True) == (None if drops_pixels else expected), (n, f, p, s, d)
        assert not (tiles and drops_pixels)
        exact += tiles
        fitted += expected is not None
    # the random draw exercises all three outcomes often: fits exactly, rounds down, does not fit
    assert exact > 500 and fitted - exact > 500 and N_CONFIGS - fitted > 100


def test_output_size_matches_nn_layers_on_random_configs():
    for i, (n, f, p, s, d) in enumerate(_configs(1, n=1000)):
        layer = nn.Conv2d(1, 1, f, stride=s, padding=p, dilation=d, bias=False)
        assert _ours(n, f, p, s, d, strict=False) == _torch_size(layer, n), (n, f, p, s, d)
    for n, f, p, s, d in _configs(2, pool=True):
        pool = nn.MaxPool2d(f, stride=s, padding=p, dilation=d)
        assert _ours(n, f, p, s, d, strict=False) == _torch_size(pool, n), (n, f, p, s, d)


def test_output_size_lecture_examples():
    assert [conv.output_size(7, 3, 0, s) for s in (1, 2)] == [5, 3]
    assert conv.output_size(7, 3, 0, 3) == 2  # floors, as PyTorch does
    with pytest.raises(ValueError, match=r"drops input pixels.*S = 3.*1 input column\(s\) \(pixels 6..6\); with P = 1"):
        conv.output_size(7, 3, 0, 3, strict=True)
    assert conv.output_size(32, 5, 2, 1, strict=True) == 32  # "same" padding (F - 1) / 2
    assert conv.output_size(227, 11, 0, 4, strict=True) == 55  # AlexNet conv1
    assert conv.output_size(224, 11, 0, 4) == 54  # ... and the paper's 224, which does not give its 55
    assert conv.output_size(4, 2, 0, 2) == 2
    assert conv.output_size(7, 3, 0, 1, 2) == 3  # dilation 2: a 3x3 filter spans 5 pixels


def test_floor_is_what_standard_networks_rely_on():
    # ResNet's 7x7 stride-2 stem and 3x3 stride-2 max pool, and any 3x3 stride-2 padding-1 layer on an even width
    assert conv.output_size(224, 7, 3, 2) == 112 and conv.output_size(112, 3, 1, 2) == 56
    for w in range(2, 200, 2):
        assert conv.output_size(w, 3, 1, 2) == w // 2
        assert conv.dropped_border(w, 3, 1, 2) == 0  # the floor drops a column of zero padding, no pixel
        assert conv.output_size(w, 3, 1, 2, strict=True) == w // 2  # ... so strict accepts it: a choice, not a slip
    assert conv.output_size(224, 7, 3, 2, strict=True) == 112  # ResNet's stem passes strict
    assert conv.dropped_border(224, 7, 3, 2) == 0
    assert conv.dropped_border(224, 11, 0, 4) == 1  # AlexNet at 224 loses pixel column 223
    assert conv.dropped_border(227, 11, 0, 4) == 0 and conv.dropped_border(7, 3, 0, 3) == 1


def test_strict_suggests_no_padding_when_the_stride_exceeds_the_filter():
    # ResNet's 1x1 stride-2 shortcut on 56 skips every second column on purpose, the last one included: padding
    # would not make it read every pixel (P = 1 gives 29 outputs, not 28), so strict names the skipping instead
    assert conv.output_size(56, 1, 0, 2) == 28
    for w, f, s in ((56, 1, 2), (8, 1, 2), (9, 2, 3)):
        with pytest.raises(ValueError, match=r"also skips \d+ column\(s\) between its positions") as err:
            conv.output_size(w, f, 0, s, strict=True)
        assert "with P =" not in str(err.value), (w, f, s)


def test_dropped_border_matches_the_columns_a_convolution_never_reads():
    for w, f, p, s, d in _configs(5, n=1500):
        if _ours(w, f, p, s, d, strict=False) is None:
            continue
        x = torch.ones(1, 1, 1, w, requires_grad=True)
        F.conv2d(x, torch.ones(1, 1, 1, f), stride=(1, s), padding=(0, p), dilation=(1, d)).sum().backward()
        read = x.grad[0, 0, 0].nonzero()
        last = int(read.max()) if len(read) else -1  # the last input column any filter tap reads
        if d == 1 and s <= f:  # no gaps between taps or between positions: all up to the last are read
            assert conv.dropped_border(w, f, p, s, d) == w - 1 - last, (w, f, p, s, d)
        else:  # gaps (a stride longer than the filter, dilation) can hide columns before the border too
            assert conv.dropped_border(w, f, p, s, d) <= w - 1 - last, (w, f, p, s, d)


def test_param_count_matches_nn_conv2d():
    rng = random.Random(3)
    for _ in range(200):
        f, d_in, k, bias = rng.randint(1, 7), rng.randint(1, 16), rng.randint(1, 16), rng.random() < 0.5
        layer = nn.Conv2d(d_in, k, f, bias=bias)
        assert conv.param_count(f, d_in, k, bias) == sum(p.numel() for p in layer.parameters())
    assert conv.param_count(5, 3, 10) == 760  # the lecture's 32x32x3 input, ten 5x5 filters
    for f, c_in, k, g in [(5, 96, 256, 2), (3, 384, 384, 2), (3, 32, 32, 32), (1, 6, 9, 3)]:  # grouped convolutions
        layer = nn.Conv2d(c_in, k, f, groups=g)
        assert conv.param_count(f, c_in, k, groups=g) == sum(p.numel() for p in layer.parameters())
    with pytest.raises(ValueError, match="groups must divide"):
        conv.param_count(3, 96, 10, groups=4)
    with pytest.raises(TypeError):
        conv.param_count(3, 96, 10, groups=2.0)
    with pytest.raises(ValueError):
        conv.param_count(0, 3, 10)
    with pytest.raises(TypeError):
        conv.param_count(5, 3, 10, bias="yes")


def _empirical_receptive_field(layers, n: int = 96) -> int:
    """Width of the input region whose pixels change the centre output (gradient of all-ones convs)."""
    x = torch.ones(1, 1, n, n, requires_grad=True)
    y = x
    for f, s in layers:
        y = F.conv2d(y, torch.ones(1, 1, f, f), stride=s)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    cols = (x.grad[0, 0] != 0).any(0).nonzero()
    return int(cols.max() - cols.min() + 1)


def test_receptive_field_matches_gradients():
    rng = random.Random(4)
    assert conv.receptive_field([(3, 1), (3, 1)]) == conv.receptive_field([(5, 1)]) == 5
    assert conv.receptive_field([]) == 1
    for _ in range(40):
        layers = [(rng.randint(1, 5), rng.randint(1, 2)) for _ in range(rng.randint(1, 5))]
        assert conv.receptive_field(layers) == _empirical_receptive_field(layers), layers
    with pytest.raises(TypeError):
        conv.receptive_field([(3, 1, 1)])
    with pytest.raises(ValueError):
        conv.receptive_field([(3, 0)])


def test_summary_matches_pytorch_on_a_small_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Sequential(nn.Conv2d(8, 4, 5, stride=2, groups=4), nn.ReLU(inplace=True)),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 10))
    model.train()
    s = conv.summary(model, (3, 14, 14))
    assert model.training  # summary restores the mode it found
    assert s.total_params == sum(p.numel() for p in model.parameters())
    # shapes: the same as a real forward pass, layer by layer
    x, shapes = torch.zeros(1, 3, 14, 14), []
    for layer in [*model[:3], *model[3], *model[4:]]:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert [r.output_shape for r in s.rows[1:]] == shapes
    assert [r.name for r in s.rows[1:]] == ["0", "1", "2", "3.0", "3.1", "4", "5"]
    # activations: the input, conv, out-of-place ReLU, pool, grouped conv, fc; in-place ReLU and flatten add none
    assert [r.activations for r in s.rows] == [588, 1568, 1568, 392, 16, 0, 0, 10]
    assert s.total_memory_bytes == 4 * s.total_activations
    # multiply-adds: one dot product of length (C_in / groups) * F * F per conv output, in_features per fc output
    assert [r.macs for r in s.rows if r.macs] == [8 * 196 * 27, 16 * 2 * 25, 10 * 16]
    assert "total" in str(s) and f"{s.total_params:,}" in str(s)
    with pytest.raises(TypeError, match="nn.Sequential"):
        conv.summary(nn.Linear(3, 4), (3,))


def _uninitialised(spec, shape) -> nn.Sequential:
    """The model of a spec with allocated but uninitialised weights: counting needs no random init (~2 s for VGG16)."""
    with torch.device("meta"):
        model = conv.from_spec(spec, shape)
    return model.to_empty(device="cpu")


def test_vgg16_and_alexnet_specs_match_published_figures():
    vgg = _uninitialised(conv.VGG16, (3, 224, 224))
    s = conv.summary(vgg, (3, 224, 224))
    assert s.total_params == sum(p.numel() for p in vgg.parameters()) == 138_357_544  # Simonyan & Zisserman
    # input + one output per conv, pool and fc layer (ReLUs are in place): the lecture's per-layer rows
    assert s.total_activations == 15_237_608
    assert s.rows[-1].output_shape == (1000,)
    assert round(s.total_macs / 1e9, 1) == 15.5  # the usual "15.5 G multiply-adds" for VGG16
    alex = _uninitialised(conv.ALEXNET, (3, 227, 227))
    assert sum(p.numel() for p in alex.parameters()) == 62_378_344  # single-tower AlexNet
    spatial = [r.output_shape[1] for r in conv.summary(alex, (3, 227, 227)).rows if len(r.output_shape) == 3]
    assert sorted(set(spatial), reverse=True) == [227, 55, 27, 13, 6]
    with pytest.raises(ValueError, match="drops input pixels.*1 input column"):
        conv.from_spec(conv.ALEXNET, (3, 224, 224), strict=True)  # the paper's famous 224 does not fit conv1
    with torch.device("meta"):  # floor (the default): 54, 26, 12, 5, so fc6 reads 256*5*5 values, not 256*6*6
        alex224 = conv.from_spec(conv.ALEXNET, (3, 224, 224))
    assert [m.in_features for m in alex224 if isinstance(m, nn.Linear)][0] == 256 * 5 * 5


def test_exercise_checks_accept_the_reference_and_reject_wrong_answers():
    from dlext.homework import evaluate

    assert evaluate("cnn.q1", (4_640, 64 * 64 * 16 * 64 * 64 * 32 + 64 * 64 * 32)).passed
    assert not evaluate("cnn.q1", (4_608, 64 * 64 * 16 * 64 * 64 * 32)).passed  # biases forgotten
    def own_output_size(w, f, p, s, strict=False):  # the exercise's solution, written out
        if f > w + 2 * p:
            raise ValueError("the filter is larger than the padded input")
        left = (w - f + 2 * p) % s
        if strict and left > p:
            raise ValueError("the floor drops input pixels")
        return (w - f + 2 * p) // s + 1

    assert evaluate("cnn.q2", own_output_size).passed
    # handing in, or calling, dlext.conv's own function is refused
    assert not evaluate("cnn.q2", conv.output_size).passed
    assert not evaluate("cnn.q2", lambda w, f, p, s, strict=False: conv.output_size(w, f, p, s, strict=strict)).passed
    assert not evaluate("cnn.q4", conv.receptive_field).passed
    assert not evaluate("cnn.q4", lambda layers: conv.receptive_field(layers)).passed
    assert conv.output_size(7, 3, 0, 1) == 5 and conv.receptive_field([(3, 1)]) == 3  # restored after the checks
    strict_always = lambda w, f, p, s, strict=False: conv.output_size(w, f, p, s, strict=True)  # noqa: E731
    assert not evaluate("cnn.q2", strict_always).passed  # refuses what PyTorch accepts
    assert not evaluate("cnn.q2", lambda w, f, p, s, strict=False: (w - f + 2 * p) // s + 1).passed  # never says no

    def tiles_only(w, f, p, s, strict=False):  # the old strict: refuses every non-tiling layer, ResNet's stem too
        if f > w + 2 * p or strict and (w - f + 2 * p) % s:
            raise ValueError("does not tile")
        return (w - f + 2 * p) // s + 1

    assert not evaluate("cnn.q2", tiles_only).passed
    assert not evaluate("cnn.q2", lambda w, f, p, s, strict=False: (w - f + 2 * p) / s + 1).passed  # a float

    def says_nothing(w, f, p, s, strict=False):  # right sizes and refusals, but a ValueError without a message
        try:
            return own_output_size(w, f, p, s, strict)
        except ValueError:
            raise ValueError() from None

    assert not evaluate("cnn.q2", says_nothing).passed
    assert evaluate("cnn.q3", (0, 1, 0, 2)).passed
    assert not evaluate("cnn.q3", (1, 1, 1, 2)).passed  # counts the dropped padding column as a pixel
    def own_field(layers):
        r, jump = 1, 1
        for f, s in layers:
            r, jump = r + (f - 1) * jump, jump * s
        return r

    assert evaluate("cnn.q4", own_field).passed
    assert not evaluate("cnn.q4", lambda layers: 1 + sum(f - 1 for f, _ in layers)).passed  # ignores strides
    def measured(layers, column):  # the exercise's solution, written out
        x = torch.ones(1, 1, 32, requires_grad=True)
        y = x
        for f, s, p in layers:
            y = F.conv1d(y, torch.ones(1, 1, f), stride=s, padding=p)
        y[0, 0, column].backward()
        seen = x.grad[0, 0].nonzero()
        return int(seen.max() - seen.min() + 1)

    assert evaluate("cnn.q5", measured).passed
    from dlext.exercises import cnn

    assert not hasattr(cnn, "measure") and not hasattr(cnn, "VGG_BLOCKS")  # the reference is not importable by name
    formula = lambda layers, column: conv.receptive_field([(f, s) for f, s, _ in layers])  # noqa: E731
    assert not evaluate("cnn.q5", formula).passed  # the formula is not a measurement: wrong at the border

    def interval(layers, column, width=32):  # an expert read's closed form: the window tracked back, clipped; no gradient
        sizes = [width]
        for f, s, p in layers:
            sizes.append((sizes[-1] + 2 * p - f) // s + 1)
        lo = hi = column % sizes[-1]
        for (f, s, p), size in zip(reversed(layers), reversed(sizes[:-1])):
            lo, hi = max(lo * s - p, 0), min(hi * s - p + f - 1, size - 1)
        return hi - lo + 1

    assert [interval(layers, c) for layers, c in [([(3, 1, 1)] * 3, 0), ([(3, 1, 0)], 15)]] == [4, 3]
    assert not evaluate("cnn.q5", interval).passed  # right numbers, no measurement

    def interval_and_a_dummy_gradient(layers, column):  # a re-read's answer: one backward() that measures nothing
        torch.ones(1, requires_grad=True).sum().backward()
        return interval(layers, column)

    assert not evaluate("cnn.q5", interval_and_a_dummy_gradient).passed
    assert evaluate("cnn.q6", (14, 14, 8)).passed
    assert not evaluate("cnn.q6", (14, 14, 14)).passed


def test_summary_refuses_the_meta_device():
    # its tensors have no storage: every layer looked in place and AlexNet's activations came out as 154,587
    with torch.device("meta"):
        model = conv.from_spec(conv.ALEXNET, (3, 227, 227))
    with pytest.raises(ValueError, match="meta device"):
        conv.summary(model, (3, 227, 227))

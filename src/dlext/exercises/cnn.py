"""Self-checks for the CNN-arithmetic chapter's exercises."""
import torch
import torch.nn.functional as F

from dlext import conv
from dlext.exercises._guards import count_torch_calls, off_limits
from dlext.homework import CheckFailure, expect, expect_close, expect_raises, question


def _own_work(*names: str):
    """While the student's function runs, ``dlext.conv``'s functions ``names`` raise: the exercise is to write them."""
    return off_limits(*[(conv, name) for name in names],
                      why="your function calls dlext.conv.{name}: the exercise is to compute it yourself")


def _not_the_library(fn, name: str) -> None:
    """Refuse dlext.conv's own function handed in as the answer."""
    try:
        module = getattr(fn, "__module__", None)
    except Exception:  # a stand-in for the student's function (grading) may not answer
        module = None
    expect(not (isinstance(module, str) and module == "dlext.conv"),
           f"that is dlext.conv.{name} itself: the exercise is to write it yourself")


@question("cnn.q1", points=1)
def _conv_vs_fc_params(answer):
    """Parameters of a 3x3 conv layer and of a fully connected layer with the same input and output."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise CheckFailure("set layer_params to a pair (conv_params, fc_params)")
    conv_params, fc_params = answer
    # 32 filters of 3x3x16 plus 32 biases; every one of the 64*64*32 outputs sees all 64*64*16 inputs (+1 bias)
    # counts are whole numbers: compared exactly (an expert read passed 4640.004 and an fc count off by thousands)
    expect_close(conv_params, 3 * 3 * 16 * 32 + 32, "conv_params", rtol=0, reveal=False)
    n_in, n_out = 64 * 64 * 16, 64 * 64 * 32
    expect_close(fc_params, n_in * n_out + n_out, "fc_params", rtol=0, reveal=False)


@question("cnn.q2", points=2)
def _output_size(fn):
    """Output size of a convolution: PyTorch's floor by default; strict refuses a floor that drops input pixels."""
    cases = [(7, 3, 0, 1), (7, 3, 0, 2), (32, 5, 2, 1), (227, 11, 0, 4), (9, 3, 1, 2), (28, 2, 0, 2),
             (7, 3, 0, 3), (224, 11, 0, 4), (224, 7, 3, 2), (112, 3, 1, 2), (10, 4, 0, 4), (64, 4, 1, 2), (5, 5, 0, 1),
             (3, 5, 1, 1)]  # the last: a filter wider than the input fits once the padding is counted
    _not_the_library(fn, "output_size")
    expected = {c: (conv.output_size(*c), bool(conv.dropped_border(*c) or (c[0] + 2 * c[2] - c[1]) % c[3])) for c in cases}
    tiling = [(7, 3, 0, 1, "that filter tiles the input"), (227, 11, 0, 4, "that filter tiles the input"),
              (8, 3, 1, 3, "the floor drops only zero padding there"), (10, 3, 1, 4, "the floor drops only zero padding there"),
              (32, 5, 2, 1, "that filter tiles the input"),
              (224, 7, 3, 2, "the floor drops only zero padding there (ResNet's stem)"),
              (112, 3, 1, 2, "the floor drops only zero padding there")]
    strict_expected = [conv.output_size(w, f, p, s) for w, f, p, s, _ in tiling]
    with _own_work("output_size", "dropped_border"):
        for (w, f, p, s), (want, floors) in expected.items():
            got = fn(w, f, p, s)
            expect(isinstance(got, int) and not isinstance(got, bool),
                   f"output_size({w}, {f}, {p}, {s}) should return an int, got {type(got).__name__} {got!r}")
            expect(got == want, f"output_size({w}, {f}, {p}, {s}) should be {want}"
                                f"{' (round down, as PyTorch does)' if floors else ''}")
        for (w, f, p, s, why), want in zip(tiling, strict_expected):
            expect(fn(w, f, p, s, strict=True) == want,
                   f"output_size({w}, {f}, {p}, {s}, strict=True) should be {want}: {why}")
        for w, f, p, s in [(7, 3, 0, 3), (224, 11, 0, 4), (10, 5, 1, 4), (9, 3, 1, 3), (8, 3, 0, 2), (10, 3, 2, 4)]:
            err = expect_raises(lambda: fn(w, f, p, s, strict=True), ValueError,
                                f"output_size({w}, {f}, {p}, {s}, strict=True)", "the floor drops input pixels there")
            # the prompt asks for an error that says why: a bare ValueError() tells the reader nothing
            expect(len(str(err).strip()) >= 10, f"output_size({w}, {f}, {p}, {s}, strict=True) raised a ValueError "
                   f"with the message {str(err)!r}: say what is wrong (which input pixels the floor drops)")
        expect_raises(lambda: fn(3, 5, 0, 1), ValueError, "output_size(3, 5, 0, 1)",
                      "a 5x5 filter does not fit in a 3x3 input, with or without strict")


# Exercise 3: input columns (not padding) the floor drops, for four layers the prompt names
DROPPED_CASES = [(224, 7, 3, 2), (224, 11, 0, 4), (56, 3, 1, 2), (33, 3, 0, 4)]


@question("cnn.q3", points=1)
def _dropped_columns(answer):
    """How many input pixels (per row) the floor drops: a choice where only padding goes, a slip where pixels do."""
    if not (isinstance(answer, tuple) and len(answer) == len(DROPPED_CASES)):
        raise CheckFailure(f"set dropped = a tuple of {len(DROPPED_CASES)} numbers, one per layer, in the prompt's order")
    for got in answer:
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailure(f"each count should be a number, got {got!r}")
    # One verdict for the four: the counts are small, so naming the wrong one would let guessing find them all
    # (an expert read noted that about 16 tries would do it), and so would saying how many are wrong
    wrong = sum(got != conv.dropped_border(*case) for got, case in zip(answer, DROPPED_CASES))
    expect(wrong == 0, f"at least one of the {len(DROPPED_CASES)} counts is wrong (the check does not say which): for each "
                       "layer, find the filter's last position and count the input pixels, not padding, after it")


@question("cnn.q4", points=3)
def _receptive_field(fn):
    """Receptive field of a stack of (kernel, stride) layers."""
    cases = [([(3, 1)], 3), ([(3, 1), (3, 1)], 5), ([(3, 1)] * 3, 7), ([(2, 2), (2, 2)], 4),
             ([(3, 2), (3, 1)], 7), ([(11, 4), (3, 2), (5, 1)], 51), ([], 1)]
    _not_the_library(fn, "receptive_field")
    with _own_work("receptive_field"):
        results = [(layers, expected, fn(layers)) for layers, expected in cases]
    for layers, expected, got in results:
        expect(got == expected, f"receptive_field({layers}) should be {expected}, got {got!r}")


def _measurer():
    """The reference measurement, built when a check runs (so a notebook cannot import it by name):
    input columns whose gradient reaches output ``column`` of a Conv1d stack of ones."""
    def measure(layers: list[tuple[int, int, int]], column: int, width: int = 32) -> int:
        x = torch.ones(1, 1, width, requires_grad=True)
        y = x
        for f, s, p in layers:
            y = F.conv1d(y, torch.ones(1, 1, f), stride=s, padding=p)
        y[0, 0, column].backward()
        seen = x.grad[0, 0].nonzero()
        return int(seen.max() - seen.min() + 1)
    return measure


@question("cnn.q5", points=3)
def _measured_receptive_field(fn):
    """Measure a receptive field with gradients, including at the border, where the formula overstates it."""
    cases = [([(3, 1, 0)], 15), ([(3, 1, 0), (3, 1, 0)], 14), ([(5, 2, 0), (3, 1, 0)], 5), ([(7, 3, 0)], 4),
             ([(3, 1, 1)] * 3, 16),  # the centre: the formula holds
             ([(3, 1, 1)] * 3, 0), ([(3, 1, 1)] * 3, -1), ([(3, 2, 1), (3, 1, 1)], 0), ([(7, 2, 3)], -1),
             ([(3, 1, 1), (2, 2, 0), (3, 1, 1)], 0)]  # at the border: clipped by the image edge
    measure = _measurer()
    expected_all = [measure(layers, column) for layers, column in cases]
    # The prompt asks for a measurement: back-propagate from the output and read which inputs got a gradient. An expert
    # read passed with interval arithmetic (the input window tracked backwards through the layers, then clipped).
    # A re-read then passed with the closed form plus one dummy backward() per call: the convolutions are counted too.
    gradients, convolutions = count_torch_calls(names=("backward", "grad")), count_torch_calls(names=("conv1d",))
    with _own_work("receptive_field"), gradients, convolutions:
        got_all = [fn(list(layers), column) for layers, column in cases]
    expect(gradients.calls >= len(cases),
           f"measured_receptive_field computed {gradients.calls} gradient(s) for {len(cases)} cases: measure each one, "
           "by calling backward() (or torch.autograd.grad) on the output column and reading which input columns got a "
           "non-zero gradient, rather than computing the field from the layer sizes")
    n_layers = sum(len(layers) for layers, _ in cases)
    expect(convolutions.calls >= n_layers,
           f"measured_receptive_field ran F.conv1d {convolutions.calls} times for {len(cases)} cases of {n_layers} layers "
           "in all: build each stack from F.conv1d layers, as the prompt says, and back-propagate through it")
    for (layers, column), expected, got in zip(cases, expected_all, got_all):
        expect(got == expected, f"measured_receptive_field({layers}, {column}) should find {expected} input columns, "
                                f"got {got!r}")


@question("cnn.q6", points=1)
def _formula_against_measurement(answer):
    """Formula against measurement for VGG16's first five layers: a centre output and the corner output."""
    if not (isinstance(answer, tuple) and len(answer) == 3):
        raise CheckFailure("set fields = (formula, measured_centre, measured_corner), three numbers")
    blocks = [(3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1)]  # VGG16's first five layers, as the prompt says
    measure = _measurer()
    formula = conv.receptive_field([(f, s) for f, s, _ in blocks])
    expected = (formula, measure(blocks, 8), measure(blocks, 0))
    for got in answer:
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailure(f"each field should be a number, got {got!r}")
    # one verdict for the three (naming the wrong one would let guessing find them)
    wrong = sum(got != want for got, want in zip(answer, expected))
    expect(wrong == 0, "at least one of the 3 numbers is wrong (the check does not say which): the formula's field, then "
                       "the fields your measured_receptive_field finds for output column 8 and for column 0")

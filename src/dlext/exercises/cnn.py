"""Self-checks for the CNN-arithmetic chapter's exercises."""
from dlext import conv
from dlext.homework import CheckFailure, expect, expect_close, expect_raises, question


@question("cnn.q1", points=1)
def _conv_vs_fc_params(answer):
    """Parameters of a 3x3 conv layer and of a fully connected layer with the same input and output."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise CheckFailure("set layer_params to a pair (conv_params, fc_params)")
    conv_params, fc_params = answer
    # 32 filters of 3x3x16 plus 32 biases; every one of the 64*64*32 outputs sees all 64*64*16 inputs (+1 bias)
    expect_close(conv_params, 3 * 3 * 16 * 32 + 32, "conv_params", reveal=False)
    n_in, n_out = 64 * 64 * 16, 64 * 64 * 32
    expect_close(fc_params, n_in * n_out + n_out, "fc_params", reveal=False)


@question("cnn.q2", points=2)
def _output_size(fn):
    """Output size of a convolution, refusing filters that do not tile the input."""
    expect(fn(7, 3, 0, 1) == 5, "output_size(7, 3, 0, 1) should be 5 (7x7 input, 3x3 filter, stride 1)")
    expect(fn(7, 3, 0, 2) == 3, "output_size(7, 3, 0, 2) should be 3 (7x7 input, 3x3 filter, stride 2)")
    expect(fn(32, 5, 2, 1) == 32, "output_size(32, 5, 2, 1) should be 32: padding (F-1)/2 keeps the size")
    expect(fn(227, 11, 0, 4) == 55, "output_size(227, 11, 0, 4) should be 55 (AlexNet's first layer)")
    got = fn(7, 3, 1, 2)
    expect(isinstance(got, int) and not isinstance(got, bool),
           f"output_size should return an int, got {type(got).__name__} {got!r}")
    expect_raises(lambda: fn(7, 3, 0, 3), ValueError, "output_size(7, 3, 0, 3)", "the filter does not tile the input")
    expect_raises(lambda: fn(10, 4, 0, 4), ValueError, "output_size(10, 4, 0, 4)",
                  "the filter does not tile the input")
    expect_raises(lambda: fn(3, 5, 0, 1), ValueError, "output_size(3, 5, 0, 1)",
                  "a 5x5 filter does not fit in a 3x3 input")
    for n, f, p, s in [(9, 3, 1, 2), (11, 5, 0, 3), (28, 2, 0, 2), (15, 7, 3, 1), (64, 4, 1, 2)]:
        expected = conv.output_size(n, f, p, s)
        expect(fn(n, f, p, s) == expected, f"output_size({n}, {f}, {p}, {s}) should be {expected}")


@question("cnn.q3", points=3)
def _receptive_field(fn):
    """Receptive field of a stack of (kernel, stride) layers."""
    cases = [([(3, 1)], 3), ([(3, 1), (3, 1)], 5), ([(3, 1)] * 3, 7), ([(2, 2), (2, 2)], 4),
             ([(3, 2), (3, 1)], 7), ([(11, 4), (3, 2), (5, 1)], 51), ([], 1)]
    for layers, expected in cases:
        got = fn(layers)
        expect(got == expected, f"receptive_field({layers}) should be {expected}, got {got!r}")


@question("cnn.q4", points=3)
def _measured_receptive_field(answer):
    """Measure a receptive field with gradients, and compare two stacks."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise CheckFailure("pass (measured_receptive_field, interpretation) to check")
    fn, interpretation = answer
    for layers in [[(3, 1)], [(3, 1), (3, 1)], [(5, 2), (3, 1)], [(2, 2), (3, 1), (3, 2), (3, 1)], [(7, 3)]]:
        expected = conv.receptive_field(layers)
        got = fn(layers)
        expect(got == expected, f"measured_receptive_field({layers}) should find {expected} pixels, got {got!r}")
    expect(interpretation in ("a", "b", "c"), f"interpretation should be 'a', 'b' or 'c', got {interpretation!r}")
    # stack A: three 3x3 stride-1 convs (7 pixels); stack B: a 3x3 stride-2 conv then two 3x3 convs (9 pixels)
    expect(interpretation == "b", "the interpretation does not match what your measurements show; compare them again")

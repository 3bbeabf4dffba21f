"""Self-checks for the recurrent-networks chapter's exercises."""
import math

import torch
from torch import nn

from dlext.homework import CheckFailure, expect, expect_close, question


@question("rnn.q1", points=1)
def _lstm_gru_params(answer):
    """Parameters of an LSTM and a GRU layer with input size 50 and hidden size 100 (PyTorch's two biases)."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise CheckFailure("set layer_params to a pair (lstm_params, gru_params)")
    lstm_params, gru_params = answer
    per_gate = 100 * 50 + 100 * 100 + 2 * 100  # W_ih rows, W_hh rows, b_ih and b_hh for one gate
    expect_close(lstm_params, 4 * per_gate, "lstm_params", reveal=False)  # gates i, f, g, o
    expect_close(gru_params, 3 * per_gate, "gru_params", reveal=False)  # gates r, z, n


@question("rnn.q2", points=2)
def _gru_cell(fn):
    """One GRU step from its equations, against nn.GRUCell with random weights."""
    gen = torch.Generator().manual_seed(12)
    for batch, n_in, n_hidden in [(1, 1, 1), (3, 4, 5), (2, 7, 3)]:
        ref = nn.GRUCell(n_in, n_hidden).double()
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        x = torch.randn(batch, n_in, generator=gen, dtype=torch.float64)
        h = torch.randn(batch, n_hidden, generator=gen, dtype=torch.float64)
        args = [t.detach().clone() for t in (x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)]
        got = fn(*args)
        expect(isinstance(got, torch.Tensor), f"gru_cell should return a tensor, got {type(got).__name__}")
        expect(tuple(got.shape) == (batch, n_hidden),
               f"gru_cell with a batch of {batch} and hidden size {n_hidden} should return shape "
               f"{(batch, n_hidden)}, got {tuple(got.shape)}")
        with torch.no_grad():
            want = ref(x, h)
        err = (got.detach().double() - want).abs().max().item()
        expect(err < 1e-8, f"gru_cell differs from nn.GRUCell by up to {err:.2g} "
                           f"(batch {batch}, input {n_in}, hidden {n_hidden}); check the gate order r, z, n "
                           "and where the reset gate multiplies")


@question("rnn.q3", points=2)
def _bptt_gradient(fn):
    """Measure dL/dh_0 through a tanh RNN at rest: it must equal rho^T."""
    for rho, steps, hidden in [(0.9, 10, 8), (1.0, 30, 4), (1.2, 25, 6), (0.5, 5, 3), (1.1, 1, 2)]:
        got = fn(rho, steps, hidden)
        expect_close(got, rho ** steps, f"bptt_grad_norm({rho}, {steps}, {hidden})", rtol=1e-3)


@question("rnn.q4", points=1)
def _vanishing_length(t_vanish):
    """Predict the smallest T at which rho^T, for rho = 0.9, falls below 1e-6."""
    expect(isinstance(t_vanish, int) and not isinstance(t_vanish, bool),
           f"t_vanish should be an int (a number of time steps), got {type(t_vanish).__name__}")
    expect_close(t_vanish, math.ceil(math.log(1e-6) / math.log(0.9)), "t_vanish", reveal=False)

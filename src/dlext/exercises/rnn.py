"""Self-checks for the recurrent-networks chapter's exercises."""
import math

import torch
from torch import nn

from dlext.exercises._guards import refuse_torch_functions
from dlext.homework import CheckFailure, expect, expect_close, question


def _builtin_gru_refused():
    """PyTorch's own GRU step raises instead of answering for the student's gru_cell: a torch-function guard sees
    every way in (torch.gru_cell, torch._VF.gru_cell, torch.ops.aten.gru_cell: an expert read passed an earlier
    check, which replaced the first two attributes, with the third; nn.GRUCell, nn.GRU)."""
    return refuse_torch_functions(("gru_cell", "gru", "_thnn_fused_gru_cell"),
                                  why="gru_cell calls PyTorch's built-in GRU step (torch.gru_cell, torch.ops.aten.gru_cell, "
                                      "nn.GRUCell or nn.GRU): write the gate equations yourself")


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
        with torch.no_grad():
            want = ref(x, h)
        with _builtin_gru_refused():
            got = fn(*args)
        expect(isinstance(got, torch.Tensor), f"gru_cell should return a tensor, got {type(got).__name__}")
        expect(tuple(got.shape) == (batch, n_hidden),
               f"gru_cell with a batch of {batch} and hidden size {n_hidden} should return shape "
               f"{(batch, n_hidden)}, got {tuple(got.shape)}")
        err = (got.detach().double() - want).abs().max().item()
        expect(err < 1e-8, f"gru_cell differs from nn.GRUCell by up to {err:.2g} "
                           f"(batch {batch}, input {n_in}, hidden {n_hidden}); check the gate order r, z, n "
                           "and where the reset gate multiplies")


@question("rnn.q3", points=2)
def _bptt_gradient(fn):
    """Measure ||dL/dh_0|| for L = u.h_T through h_t = tanh(a_t + W_hh h_{t-1}), against autograd here."""
    gen = torch.Generator().manual_seed(3)
    # at rest (a_t = 0) the answer is rho^T; with non-zero inputs there is no closed form: the check measures it
    for rho, steps, hidden, scale in [(0.9, 10, 8, 0.0), (1.2, 25, 6, 0.0), (1.0, 30, 4, 0.5), (1.5, 20, 6, 1.0),
                                      (0.8, 1, 2, 2.0)]:
        q, _ = torch.linalg.qr(torch.randn(hidden, hidden, generator=gen, dtype=torch.float64))
        weight_hh = rho * q
        inputs = scale * torch.randn(steps, hidden, generator=gen, dtype=torch.float64)
        u = torch.randn(hidden, generator=gen, dtype=torch.float64)
        u = u / u.norm()
        h0 = torch.zeros(hidden, dtype=torch.float64, requires_grad=True)
        h = h0
        for a in inputs:
            h = torch.tanh(a + weight_hh @ h)
        (g,) = torch.autograd.grad(u @ h, h0)
        want = g.norm().item()
        if scale == 0.0:
            assert math.isclose(want, rho ** steps, rel_tol=1e-9)  # the at-rest case is rho^T exactly
        got = fn(weight_hh.clone(), inputs.clone(), u.clone())
        expect(isinstance(got, float), f"bptt_grad_norm should return a float, got {type(got).__name__}")
        where = "at rest (inputs all zero)" if scale == 0.0 else "with non-zero inputs"
        expect_close(got, want, f"bptt_grad_norm for rho = {rho}, T = {steps}, hidden size {hidden}, {where},",
                     rtol=1e-6, reveal=False)


@question("rnn.q4", points=1)
def _vanishing_length(t_vanish):
    """Predict the smallest T at which rho^T, for rho = 0.9, falls below 1e-6."""
    expect(isinstance(t_vanish, int) and not isinstance(t_vanish, bool),
           f"t_vanish should be an int (a number of time steps), got {type(t_vanish).__name__}")
    expect_close(t_vanish, math.ceil(math.log(1e-6) / math.log(0.9)), "t_vanish", reveal=False)


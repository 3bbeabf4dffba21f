"""Self-checks for the exercises of the chapter on recurrent networks for text (04_rnn_text)."""
import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlext.homework import expect, expect_close, question


@question("rnn_text.q1", points=2)
def _last_states(fn):
    """Each sequence's output at its last real token of a right-padded batch, against a packed LSTM's final state."""
    gen = torch.Generator().manual_seed(5)
    for steps, hidden, lengths in [(6, 4, [6, 2, 4]), (1, 2, [1]), (9, 3, [1, 9, 9, 5]), (5, 2, [3, 3])]:
        lstm = nn.LSTM(2, hidden, batch_first=True).double()
        with torch.no_grad():
            for p in lstm.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
        lens = torch.tensor(lengths)
        x = torch.randn(len(lengths), steps, 2, generator=gen, dtype=torch.float64)
        x = x * (torch.arange(steps)[None, :] < lens[:, None])[..., None]  # right-padded with zeros
        with torch.no_grad():
            outputs, _ = lstm(x)  # (B, T, H), padding steps read too
            _, (h_n, _) = lstm(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
        got = fn(outputs.clone(), lens.clone())
        expect(isinstance(got, torch.Tensor), f"last_states should return a tensor, got {type(got).__name__}")
        expect(tuple(got.shape) == (len(lengths), hidden),
               f"for outputs of shape {tuple(outputs.shape)} last_states should return shape {(len(lengths), hidden)}, "
               f"got {tuple(got.shape)}")
        err = (got.detach().double() - h_n[0]).abs().max().item()
        expect(err < 1e-9, f"last_states differs from the packed LSTM's final states by up to {err:.2g} for lengths "
                           f"{lengths} (T = {steps}): the state to keep is the one after each sequence's own last token")


def _markov_text(n: int, V: int, gen: torch.Generator) -> torch.Tensor:
    """n character ids from a random Markov chain over V symbols, so bigram counts differ from unigram ones."""
    transition = torch.softmax(3 * torch.randn(V, V, generator=gen, dtype=torch.float64), dim=1)  # (V, V), rows sum to 1
    ids = [int(torch.randint(V, (1,), generator=gen))]
    for _ in range(n - 1):
        ids.append(int(torch.multinomial(transition[ids[-1]], 1, generator=gen)))
    return torch.tensor(ids)


@question("rnn_text.q2", points=2)
def _bigram_perplexity(fn):
    """Perplexity of an add-k bigram model of one text on another, against counts made here."""
    gen = torch.Generator().manual_seed(6)
    # the last case's training text never uses the symbol V - 1, so the test text has contexts never seen in training
    for V, n_train, n_test, k, unseen in [(3, 400, 80, 0.5, False), (6, 1500, 300, 0.1, False), (4, 60, 50, 1.0, False),
                                          (5, 300, 200, 0.2, True)]:
        train_ids, test_ids = _markov_text(n_train, V - unseen, gen), _markov_text(n_test, V, gen)
        pair = torch.zeros(V, V, dtype=torch.float64)
        pair.index_put_((train_ids[:-1], train_ids[1:]), torch.ones(n_train - 1, dtype=torch.float64), accumulate=True)
        p = (pair[test_ids[:-1], test_ids[1:]] + k) / (pair.sum(1)[test_ids[:-1]] + k * V)  # p(x_{t+1} | x_t)
        want = math.exp(-p.log().mean().item())
        got = fn(train_ids.clone(), test_ids.clone(), V, k)
        expect(isinstance(got, float), f"bigram_perplexity should return a float, got {type(got).__name__}")
        expect_close(got, want, f"bigram_perplexity with V = {V}, k = {k} on a {n_train}-character training text"
                     + (" that never contains the symbol V - 1" if unseen else ""),
                     rtol=1e-6, reveal=False)


@question("rnn_text.q3", points=1)
def _streams(fn):
    """B contiguous streams of equal length cut from a 1-D tensor, the remainder dropped."""
    for n, B in [(10, 2), (103, 4), (64, 8), (7, 7), (9, 1)]:
        ids = torch.arange(100, 100 + n)
        got = fn(ids.clone(), B)
        want = ids[: n // B * B].reshape(B, -1)
        expect(isinstance(got, torch.Tensor), f"to_streams should return a tensor, got {type(got).__name__}")
        expect(tuple(got.shape) == tuple(want.shape),
               f"to_streams of {n} ids into {B} streams should have shape {tuple(want.shape)}, got {tuple(got.shape)}")
        expect(torch.equal(got, want), f"to_streams of {n} ids into {B} streams: each row should be one contiguous "
                                       "stretch of the text, row 0 its beginning (are the rows interleaved?)")

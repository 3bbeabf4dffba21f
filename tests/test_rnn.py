"""dlext.rnn against PyTorch's cells, and the vocabulary, padding and classifier on edge cases."""
import re

import pytest
import torch
from torch import nn

from dlext import rnn


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnn_cell_matches_torch(dtype, tol, seed):
    torch.manual_seed(seed)
    ours, ref = rnn.RNNCell(5, 7).to(dtype), nn.RNNCell(5, 7).to(dtype)
    ours.load_state_dict(ref.state_dict())  # same parameter names and shapes
    x, h = torch.randn(4, 5, dtype=dtype), torch.randn(4, 7, dtype=dtype)
    torch.testing.assert_close(ours(x, h), ref(x, h), atol=tol, rtol=tol)
    torch.testing.assert_close(ours(x), ref(x), atol=tol, rtol=tol)  # zero initial state


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lstm_cell_matches_torch_over_a_sequence(dtype, tol, seed):
    torch.manual_seed(seed)
    ours, ref = rnn.LSTMCell(3, 6).to(dtype), nn.LSTMCell(3, 6).to(dtype)
    ours.load_state_dict(ref.state_dict())
    xs = torch.randn(20, 2, 3, dtype=dtype)
    state_ours = state_ref = (torch.randn(2, 6, dtype=dtype), torch.randn(2, 6, dtype=dtype))
    for x in xs:  # errors would compound over 20 steps
        state_ours, state_ref = ours(x, state_ours), ref(x, state_ref)
        torch.testing.assert_close(state_ours, state_ref, atol=tol, rtol=tol)


def test_lstm_cell_gradients_match_torch():
    torch.manual_seed(0)
    ours, ref = rnn.LSTMCell(3, 4).double(), nn.LSTMCell(3, 4).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64)
    ours(x)[0].sum().backward()
    ref(x)[0].sum().backward()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-10, rtol=1e-10, msg=name)


@pytest.mark.parametrize("cell", [rnn.RNNCell(3, 4), rnn.LSTMCell(3, 4)], ids=["rnn", "lstm"])
def test_cells_reject_bad_input(cell):
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        cell([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"shape \(batch, 3\), got \(2, 5\)"):
        cell(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"shape \(batch, 3\), got \(3,\)"):
        cell(torch.zeros(3))
    with pytest.raises(ValueError, match="empty batch"):
        cell(torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"h must have shape \(batch, 4\), got \(2, 3\)"):
        cell(torch.zeros(2, 3), torch.zeros(2, 3) if isinstance(cell, rnn.RNNCell) else (torch.zeros(2, 3),) * 2)
    with pytest.raises(ValueError, match="batch size"):
        cell(torch.zeros(2, 3), torch.zeros(5, 4) if isinstance(cell, rnn.RNNCell) else (torch.zeros(5, 4),) * 2)


@pytest.mark.parametrize("size, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_cells_reject_bad_sizes(size, error):
    # dlext.validate's convention: TypeError for a non-int (True included), ValueError for an int below 1
    with pytest.raises(error, match=f"hidden_size .*{re.escape(repr(size))}"):
        rnn.LSTMCell(3, size)
    with pytest.raises(error, match=f"input_size .*{re.escape(repr(size))}"):
        rnn.RNNCell(size, 3)


def test_lstm_state_must_be_a_pair():
    with pytest.raises(TypeError, match="pair"):
        rnn.LSTMCell(2, 2)(torch.zeros(1, 2), torch.zeros(1, 2))


def test_tokenize():
    assert rnn.tokenize("It isn't GOOD, at all!") == ["it", "isn't", "good", ",", "at", "all", "!"]
    assert rnn.tokenize("") == [] and rnn.tokenize("   ") == []
    with pytest.raises(TypeError, match="text must be a str, got int"):
        rnn.tokenize(3)


def test_vocab_ids_order_and_round_trip():
    vocab = rnn.Vocab(["a good film", "a bad film", "a film"], min_count=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "film"]  # most frequent first, ties alphabetical
    assert (vocab.pad_id, vocab.unk_id, len(vocab)) == (0, 1, 4)
    assert vocab.encode("A film") == [2, 3]
    assert vocab.encode("a good film") == [2, 1, 3]  # "good" occurs once: below min_count, so unknown
    assert vocab.encode("") == []  # an empty text encodes to nothing
    assert vocab.decode([2, 1, 3, 0, 0]) == "a <unk> film"  # padding is dropped
    assert vocab.decode(torch.tensor([3, 2])) == "film a"
    assert vocab.decode([]) == ""


def test_vocab_of_no_texts_has_only_the_special_tokens():
    vocab = rnn.Vocab([])
    assert len(vocab) == 2 and vocab.encode("anything at all") == [1, 1, 1]


def test_vocab_rejects_bad_input():
    vocab = rnn.Vocab(["x y"])
    with pytest.raises(ValueError, match="id 4 is out of range for a vocabulary of 4"):
        vocab.decode([2, 4])
    with pytest.raises(ValueError, match="id -1 is out of range"):
        vocab.decode([-1])
    with pytest.raises(TypeError, match=r"ids must be ints, got 2.0"):
        vocab.decode([2.0])
    with pytest.raises(ValueError, match="min_count must be >= 1, got 0"):
        rnn.Vocab(["x"], min_count=0)
    with pytest.raises(TypeError, match="single str"):
        rnn.Vocab("x y")


def test_pad_batch():
    ids, lengths = rnn.pad_batch([[5, 6, 7], [8], [9, 10]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]] and lengths.tolist() == [3, 1, 2]
    assert ids.dtype == torch.long
    ids, lengths = rnn.pad_batch([[5, 6, 7], [8]], pad_id=9, max_len=2)
    assert ids.tolist() == [[5, 6], [8, 9]] and lengths.tolist() == [2, 1]


def test_pad_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="empty batch"):
        rnn.pad_batch([])
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        rnn.pad_batch([[1], []])
    with pytest.raises(ValueError, match=r"max_len \(a positive int or None\) must be >= 1, got 0"):
        rnn.pad_batch([[1]], max_len=0)
    with pytest.raises(TypeError, match="seqs must be a list"):
        rnn.pad_batch(torch.ones(2, 3))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_classifier_uses_each_sequence_up_to_its_length(kind):
    torch.manual_seed(0)
    model = rnn.RecurrentClassifier(20, num_classes=3, emb_dim=5, hidden_size=6, kind=kind).eval()
    ids, _ = rnn.pad_batch([[3, 4, 5], [6, 7], [8]])
    logits = model(ids)  # (3, 3)
    assert logits.shape == (3, 3)
    for k, seq in enumerate([[3, 4, 5], [6, 7], [8]]):  # alone, unpadded: the same logits
        torch.testing.assert_close(model(torch.tensor([seq]))[0], logits[k])


def test_classifier_rejects_bad_input():
    model = rnn.RecurrentClassifier(10, emb_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="ids contain 10, out of range for a vocabulary of 10"):
        model(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match="ids contain -1"):
        model(torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match=r"shape \(batch, time\) with both > 0, got \(0, 3\)"):
        model(torch.zeros(0, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="all padding"):
        model(torch.tensor([[1, 2], [0, 0]]))
    with pytest.raises(TypeError, match="integer tensor, got torch.float32"):
        model(torch.ones(1, 3))
    with pytest.raises(ValueError, match="kind must be one of .*got 'transformer'"):
        rnn.RecurrentClassifier(10, kind="transformer")
    with pytest.raises(ValueError, match=r"dropout must be a finite number in \[0, 1\)"):
        rnn.RecurrentClassifier(10, dropout=1.5)
    with pytest.raises(ValueError, match="vocab_size must be >= 1, got 0"):
        rnn.RecurrentClassifier(0)


def test_gru_exercise_check_refuses_the_builtin_and_restores_it():
    import dlext.exercises.rnn  # noqa: F401  (registers the checks)
    from dlext.homework import evaluate

    def by_hand(x, h, w_ih, w_hh, b_ih, b_hh):
        i_r, i_z, i_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return (1 - z) * torch.tanh(i_n + r * h_n) + z * h

    assert evaluate("rnn.q2", by_hand).points == 2
    assert evaluate("rnn.q2", lambda x, h, *w: torch.gru_cell(x, h, *w)).points == 0
    assert evaluate("rnn.q2", lambda x, h, *w: torch._VF.gru_cell(x, h, *w)).points == 0
    assert evaluate("rnn.q2", lambda x, h, *w: torch.ops.aten.gru_cell(x, h, *w)).points == 0  # an expert read's bypass
    assert evaluate("rnn.q2", lambda x, h, *w: torch.ops.aten.gru_cell.default(x, h, *w)).points == 0
    assert evaluate("rnn.q2", lambda x, h, *w: torch._C._VariableFunctions.gru_cell(x, h, *w)).points == 0

    def module(x, h, w_ih, w_hh, b_ih, b_hh):
        cell = nn.GRUCell(x.shape[1], h.shape[1]).double()
        with torch.no_grad():
            for p, w in zip(cell.parameters(), (w_ih, w_hh, b_ih, b_hh)):
                p.copy_(w)
        return cell(x, h)

    assert evaluate("rnn.q2", module).points == 0
    assert nn.GRUCell(2, 3)(torch.zeros(1, 2)).shape == (1, 3)  # the built-in works again afterwards


def test_bptt_exercise_check_is_not_fooled_by_the_closed_form():
    import dlext.exercises.rnn  # noqa: F401
    from dlext.homework import evaluate

    def measured(weight_hh, inputs, u):
        h0 = torch.zeros(weight_hh.shape[0], dtype=weight_hh.dtype, requires_grad=True)
        h = h0
        for a in inputs:
            h = torch.tanh(a + weight_hh @ h)
        (g,) = torch.autograd.grad(u @ h, h0)
        return g.norm().item()

    assert evaluate("rnn.q3", measured).points == 2
    closed_form = lambda weight_hh, inputs, u: torch.linalg.matrix_norm(weight_hh, 2).item() ** len(inputs)
    assert evaluate("rnn.q3", closed_form).points == 0  # right only at rest: the check has non-zero inputs too


def test_last_states_check_wants_each_sequences_own_last_step():
    import dlext.exercises.rnn_text  # noqa: F401  (registers the checks)
    from dlext.homework import evaluate

    assert evaluate("rnn_text.q1", lambda outputs, lengths: outputs[torch.arange(len(lengths)), lengths - 1]).points == 2
    assert evaluate("rnn_text.q1", lambda outputs, lengths: outputs[:, -1]).points == 0  # the padded batch's last step
    assert evaluate("rnn_text.q1", lambda outputs, lengths: outputs[torch.arange(len(lengths)), lengths]).points == 0
    assert evaluate("rnn_text.q1", lambda outputs, lengths: outputs.mean(1)).points == 0


def test_bigram_and_stream_checks_refuse_the_near_misses():
    import math

    import dlext.exercises.rnn_text  # noqa: F401  (registers the checks)
    from dlext.homework import evaluate

    def bigram(train_ids, test_ids, V, k, add_kv=True):
        pair = torch.zeros(V, V, dtype=torch.float64)
        for a, b in zip(train_ids[:-1].tolist(), train_ids[1:].tolist()):
            pair[a, b] += 1
        context = pair.sum(1)
        logs = [math.log((pair[a, b] + k) / (context[a] + (k * V if add_kv else k)))
                for a, b in zip(test_ids[:-1].tolist(), test_ids[1:].tolist())]
        return math.exp(-sum(logs) / len(logs))

    assert evaluate("rnn_text.q2", bigram).points == 2
    assert evaluate("rnn_text.q2", lambda *a: bigram(*a, add_kv=False)).points == 0  # not normalised: k, not kV
    unigram = lambda tr, te, V, k: math.exp(-((torch.bincount(tr, minlength=V)[te].double() + k)
                                              / (len(tr) + k * V)).log().mean().item())
    assert evaluate("rnn_text.q2", unigram).points == 0
    assert evaluate("rnn_text.q3", lambda ids, B: ids[: len(ids) // B * B].reshape(B, -1)).points == 1
    assert evaluate("rnn_text.q3", lambda ids, B: ids[: len(ids) // B * B].reshape(-1, B).T).points == 0  # interleaved
    assert evaluate("rnn_text.q3", lambda ids, B: ids.reshape(B, -1) if len(ids) % B == 0 else ids[:B]).points == 0

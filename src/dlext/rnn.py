"""Recurrent cells from their equations, a word vocabulary, padding, and a recurrent sequence classifier."""
import math
import re
from collections import Counter
from typing import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlext import validate

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[\w']+|[^\w\s]")  # words (with inner apostrophes: "isn't") or single punctuation marks


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of ``text``: "Not good!" -> ["not", "good", "!"]."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def _check_input(x: Tensor, size: int, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != size:
        raise ValueError(f"{name} must have shape (batch, {size}), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")


def _check_sizes(input_size: int, hidden_size: int) -> None:
    validate.positive_int("input_size", input_size)  # TypeError for a non-int, ValueError below 1
    validate.positive_int("hidden_size", hidden_size)


class RNNCell(nn.Module):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh): x (B, I), h (B, H) -> (B, H); nn.RNNCell's layout."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        bound = 1 / math.sqrt(hidden_size)  # PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) for every parameter
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        _check_input(x, self.input_size)
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        _check_input(h, self.hidden_size, "h")
        if h.shape[0] != x.shape[0]:
            raise ValueError(f"h has batch size {h.shape[0]} but x has {x.shape[0]}")
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)  # (B, H)


class LSTMCell(nn.Module):
    """One LSTM step from the four gate equations: x (B, I), (h, c) (B, H) each -> (h, c); nn.LSTMCell's layout.

    The rows of ``weight_ih`` (4H, I), ``weight_hh`` (4H, H) and the biases (4H,) are stacked in PyTorch's
    order: input gate i, forget gate f, candidate g, output gate o.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        _check_input(x, self.input_size)
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        if not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError(f"state must be a pair (h, c) of tensors, got {type(state).__name__}")
        h, c = state
        _check_input(h, self.hidden_size, "h")
        _check_input(c, self.hidden_size, "c")
        if not h.shape[0] == c.shape[0] == x.shape[0]:
            raise ValueError(f"x, h and c must have the same batch size, got {x.shape[0]}, {h.shape[0]}, {c.shape[0]}")
        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        i, f, g, o = z.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)  # gates, candidate
        c = f * c + i * g  # cell state: forget part of the old, add part of the new
        h = o * torch.tanh(c)  # (B, H)
        return h, c


class Vocab:
    """Token <-> id maps built from texts: id 0 pads, id 1 stands for every unknown token."""

    PAD_ID, UNK_ID = 0, 1

    def __init__(self, texts: Iterable[str], min_count: int = 1):
        min_count = validate.positive_int("min_count", min_count)
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, got a single str")
        if isinstance(texts, bytes) or not isinstance(texts, Iterable):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        texts = list(texts)
        for k, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{k}] must be a str, got {type(text).__name__} {text!r:.40}")
        counts = Counter(t for text in texts for t in tokenize(text))
        kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        self.itos = [PAD, UNK, *kept]  # most frequent first; ties in alphabetical order
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.unk_id = self.PAD_ID, self.UNK_ID

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s tokens; tokens not in the vocabulary get ``unk_id``; an empty text gives []."""
        return [self.stoi.get(t, self.unk_id) for t in tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The tokens of ``ids`` joined by spaces, padding dropped; unknown ids raise ValueError."""
        tokens = []
        for i in (ids.tolist() if isinstance(ids, Tensor) else ids):
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"ids must be ints, got {i!r} ({type(i).__name__})")
            if not 0 <= i < len(self):
                raise ValueError(f"id {i} is out of range for a vocabulary of {len(self)} tokens")
            if i != self.pad_id:
                tokens.append(self.itos[i])
        return " ".join(tokens)


def pad_batch(seqs: list[list[int]], pad_id: int = 0, max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into ids (B, T) and lengths (B,), cutting each to its first ``max_len`` ids.

    A sequence that contains ``pad_id`` itself is refused: the model would read it as the end of the text.
    """
    if not isinstance(seqs, (list, tuple)):
        raise TypeError(f"seqs must be a list of id lists, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("seqs is an empty batch: pass at least one sequence")
    pad_id = validate.integer("pad_id", pad_id, 0)
    if pad_id == Vocab.UNK_ID:
        raise ValueError(f"pad_id must not be {Vocab.UNK_ID}, the Vocab's unknown id: the model would read every "
                         f"unknown word as padding (Vocab pads with {Vocab.PAD_ID})")
    if max_len is not None:
        max_len = validate.positive_int("max_len (a positive int or None)", max_len)
    for k, s in enumerate(seqs):
        if isinstance(s, (str, bytes)) or not isinstance(s, (list, tuple, Tensor)):
            raise TypeError(f"seqs[{k}] must be a list of int ids, got {type(s).__name__}")
    seqs = [s.tolist() if isinstance(s, Tensor) else list(s) for s in seqs]
    for k, s in enumerate(seqs):
        for i in s:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"seqs[{k}] must hold int ids, got {type(i).__name__} {i!r}")
            if i < 0:
                raise ValueError(f"seqs[{k}] holds the negative id {i}; ids are >= 0")
            if i == pad_id:
                raise ValueError(f"seqs[{k}] contains pad_id {pad_id} as a token; the model would read it as padding")
    seqs = [s[:max_len] for s in seqs]
    for k, s in enumerate(seqs):
        if len(s) == 0:
            raise ValueError(f"sequence {k} is empty: a recurrent model needs at least one token "
                             "(encode an empty text as [unk_id])")
    lengths = torch.tensor([len(s) for s in seqs])  # (B,)
    ids = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for k, s in enumerate(seqs):
        ids[k, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return ids, lengths


class RecurrentClassifier(nn.Module):
    """Embedding -> RNN/LSTM/GRU -> linear layer on the last real step: ids (B, T) -> logits (B, C).

    Used for sentiment (many-to-one). Sequences are right-padded with ``pad_id`` (tokens first, then
    padding; left padding or a pad inside a sequence is refused); each one's length is the number of
    non-padding ids, and ``pack_padded_sequence`` makes the recurrence stop there.

    ``vocab_size`` may be the ``Vocab`` itself (or pass it as ``vocab=``); then ``pad_id`` must be the
    Vocab's. ``pad_id`` is never the unknown id (``Vocab``'s id 1): every unknown word would be read as padding.
    """

    KINDS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, vocab_size: "int | Vocab", num_classes: int = 2, emb_dim: int = 64, hidden_size: int = 64,
                 kind: str = "lstm", pad_id: int = 0, dropout: float = 0.0, *, vocab: "Vocab | None" = None):
        super().__init__()
        kind = validate.choice("kind", kind, tuple(self.KINDS))
        if vocab is not None and not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be an rnn.Vocab or None, got {type(vocab).__name__}")
        if isinstance(vocab_size, Vocab):
            if vocab is not None and vocab is not vocab_size:
                raise ValueError("pass the Vocab once: as vocab_size or as vocab=, not two different ones")
            vocab, vocab_size = vocab_size, len(vocab_size)
        vocab_size = validate.positive_int("vocab_size", vocab_size)
        if vocab is not None and vocab_size != len(vocab):
            raise ValueError(f"vocab_size {vocab_size} differs from the size of vocab, {len(vocab)}")
        num_classes, emb_dim = validate.positive_int("num_classes", num_classes), validate.positive_int("emb_dim", emb_dim)
        hidden_size = validate.positive_int("hidden_size", hidden_size)
        pad_id = validate.integer("pad_id", pad_id, 0, vocab_size - 1)
        unk_id = vocab.unk_id if vocab is not None else Vocab.UNK_ID
        if vocab is not None and pad_id != vocab.pad_id:
            raise ValueError(f"pad_id must be the Vocab's pad_id {vocab.pad_id}, got {pad_id}")
        if pad_id == unk_id:
            raise ValueError(f"pad_id must not be the vocabulary's unknown id {unk_id}: every unknown word "
                             f"would be read as padding (Vocab pads with {Vocab.PAD_ID})")
        dropout = validate.number("dropout", dropout, 0.0, 1.0, high_open=True)
        self.vocab_size, self.pad_id, self.kind = vocab_size, pad_id, kind
        self.dropout = nn.Dropout(dropout)  # on the embeddings and on the last state, active in train mode only
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = self.KINDS[kind](emb_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        if not isinstance(ids, Tensor) or ids.dtype not in (torch.long, torch.int):
            raise TypeError(f"ids must be an integer tensor, got {getattr(ids, 'dtype', type(ids).__name__)}")
        if ids.dim() != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"ids must have shape (batch, time) with both > 0, got {tuple(ids.shape)}")
        lo, hi = torch.stack([ids.min(), ids.max()]).tolist()
        if lo < 0 or hi >= self.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"ids contain {bad}, out of range for a vocabulary of {self.vocab_size}")
        lengths = validate.right_padded("ids", ids, self.pad_id)  # (B,): real tokens first, then padding
        x = self.dropout(self.embedding(ids))  # (B, T, E)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if self.kind == "lstm" else state  # (1, B, H): the state after each sequence's last token
        return self.head(self.dropout(h[-1]))  # (B, C)

"""word2vec from scratch: vocabulary, skip-gram pairs, skip-gram with negative sampling, and evaluation."""
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn
from tqdm.auto import tqdm

from dlext import validate as check

Vocab = dict[str, int]  # word -> row of the embedding matrix, most frequent word first


def _sentences(sentences) -> list:
    """The corpus as a list of token sequences; a bare string (which would count characters) is refused."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Iterable):
        raise TypeError(f"sentences must be an iterable of token lists, got {type(sentences).__name__}")
    sentences = list(sentences)
    for k, s in enumerate(sentences):
        if isinstance(s, (str, bytes)) or not isinstance(s, Sequence):
            raise TypeError(f"sentences[{k}] must be a list of tokens, got {type(s).__name__} {s!r:.40}")
    return sentences


def _vocab(vocab) -> Vocab:
    """A word -> row dict whose rows are exactly 0..V-1 (each row named by one word, none beyond)."""
    if not isinstance(vocab, dict):
        raise TypeError(f"vocab must be a dict of word -> row, got {type(vocab).__name__}")
    rows = list(vocab.values())
    bad = next((r for r in rows if isinstance(r, bool) or not isinstance(r, (int, np.integer))), None)
    if bad is not None:
        raise TypeError(f"vocab's rows must be ints, got {type(bad).__name__} {bad!r}")
    if sorted(rows) != list(range(len(rows))):
        raise ValueError(f"vocab's rows must be exactly 0..{len(rows) - 1}, one per word; got rows from "
                         f"{min(rows, default=None)} to {max(rows, default=None)} with {len(rows) - len(set(rows))} repeated")
    return vocab


def _words(vocab: Vocab) -> list[str]:
    """The word of each row: words[vocab[w]] == w, whatever the dict's insertion order."""
    words = [""] * len(vocab)
    for w, i in vocab.items():
        words[int(i)] = w
    return words


def _counts(counts) -> Tensor:
    """Word counts (V,) as float64: finite, >= 0, not all zero."""
    if not isinstance(counts, (np.ndarray, Tensor, list, tuple)):
        raise TypeError(f"counts must be an array of word counts, got {type(counts).__name__}")
    c = check.tensor("counts", torch.as_tensor(np.asarray(counts), dtype=torch.float64), ndim=1)
    if bool((c < 0).any()) or not bool((c > 0).any()):
        raise ValueError("counts must be >= 0 with a positive total")
    return c


def build_vocab(sentences: Iterable[Sequence[str]], min_count: int = 5) -> tuple[Vocab, np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first (ties alphabetical), and their counts."""
    min_count = check.positive_int("min_count", min_count)
    sentences = _sentences(sentences)
    counter = Counter(w for s in sentences for w in s)
    kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    vocab = {w: i for i, (w, _) in enumerate(kept)}
    return vocab, np.array([c for _, c in kept], dtype=np.int64)


def encode(sentences: Iterable[Sequence[str]], vocab: Vocab) -> tuple[Tensor, Tensor]:
    """The corpus as one stream of word ids (out-of-vocabulary words dropped) and each token's sentence number."""
    sentences, vocab = _sentences(sentences), _vocab(vocab)
    ids, sent = [], []
    for k, s in enumerate(sentences):
        row = [vocab[w] for w in s if w in vocab]
        ids += row
        sent += [k] * len(row)
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(sent, dtype=torch.int64)  # (N,), (N,)


def keep_probability(counts: np.ndarray, sample: float = 1e-3) -> Tensor:
    """word2vec's subsampling: keep a word of frequency f with probability (sqrt(f / s) + 1) * s / f, at most 1."""
    sample = check.number("sample", sample, 0, low_open=True)
    c = _counts(counts)
    f = c / c.sum()
    return ((f / sample).sqrt() + 1).mul(sample / f).clamp(max=1.0)  # (V,)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> Tensor:
    """The negative-sampling distribution: unigram counts raised to ``power``, normalised."""
    power = check.number("power", power)
    c = _counts(counts)
    seen = c > 0
    if power < 0 and not bool(seen.all()):
        raise ValueError(f"power {power} < 0 would give the {int((~seen).sum())} words of count 0 infinite weight: "
                         "use power >= 0 or drop those words")
    p = c ** power  # 0^0 = 1: power 0 is uniform over every word
    if bool(torch.isfinite(p).all()) and 0 < float(p.sum()) < torch.inf:
        return p / p.sum()  # (V,)
    # c^p overflowed (or underflowed to 0): the same in log space, relative to the largest term, c^p / max c^p
    logp = torch.where(seen, power * c.clamp(min=1e-300).log(), torch.tensor(-torch.inf, dtype=c.dtype))
    p = (logp - logp.max()).exp()
    return p / p.sum()  # (V,)


def _sentence_ids(sentence: Tensor) -> Tensor:
    """Sentence numbers (N,) in which each sentence's tokens are one run: [0, 0, 1, 1], never [0, 1, 0]."""
    if len(sentence) > 1:
        runs = int((sentence[1:] != sentence[:-1]).sum()) + 1
        distinct = len(torch.unique(sentence))
        if runs != distinct:
            raise ValueError(f"sentence must number each sentence's tokens as one consecutive run (as encode does), "
                             f"but {runs - distinct} sentence id(s) come back after another sentence, e.g. "
                             f"{sentence[:12].tolist()}: pairs would join words of different sentences")
    return sentence


def skipgram_pairs(ids: Tensor, sentence: Tensor, window: int, shrink: bool = True,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """All (centre, context) word-id pairs within ``window`` of each other in the same sentence.

    As in word2vec, each centre draws its own window size uniformly from 1..window, so a context
    word at distance d is used with probability (window - d + 1) / window; ``shrink=False`` keeps
    every pair up to distance ``window``. Pass a seeded ``generator`` for reproducible pairs.
    """
    window = check.positive_int("window", window)
    check.tensor("ids", ids, dtype="int", nonempty=False)
    check.tensor("sentence", sentence, dtype="int", nonempty=False)
    shrink = check.flag("shrink", shrink)
    generator = check.generator("generator", generator)
    if ids.shape != sentence.shape or ids.dim() != 1:
        raise ValueError(f"ids and sentence must be 1-D of the same length, got {tuple(ids.shape)} and {tuple(sentence.shape)}")
    _sentence_ids(sentence)
    n = len(ids)
    reach = torch.randint(1, window + 1, (n,), generator=generator) if shrink else torch.full((n,), window)  # (N,)
    centres, contexts = [], []
    for d in range(1, window + 1):
        same = sentence[d:] == sentence[:-d]  # (N-d,) positions i with i and i+d in one sentence
        left = same & (reach[:-d] >= d)  # centre i sees i+d
        right = same & (reach[d:] >= d)  # centre i+d sees i
        centres += [ids[:-d][left], ids[d:][right]]
        contexts += [ids[d:][left], ids[:-d][right]]
    return torch.cat(centres), torch.cat(contexts)  # (P,), (P,)


class SkipGramNS(nn.Module):
    """Skip-gram with negative sampling: input vectors for centres, output vectors for contexts (V, dim) each."""

    def __init__(self, vocab_size: int, dim: int = 100):
        super().__init__()
        vocab_size, dim = check.positive_int("vocab_size", vocab_size), check.positive_int("dim", dim)
        self.inp = nn.Embedding(vocab_size, dim, sparse=True)
        self.out = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)  # word2vec's initialisation
        nn.init.zeros_(self.out.weight)

    def forward(self, centre: Tensor, context: Tensor, negatives: Tensor) -> Tensor:
        """Summed loss -log s(u_o . v_c) - sum_k log s(-u_k . v_c) of B pairs (B,), (B,) and negatives (B, K)."""
        V = self.inp.num_embeddings
        b = len(_word_ids("centre", centre, V, None, ndim=1))  # no host-device sync on a GPU (see _word_ids)
        _word_ids("context", context, V, b, ndim=1)
        _word_ids("negatives", negatives, V, b)
        v = self.inp(centre)  # (B, D)
        pos = (self.out(context) * v).sum(-1)  # (B,)
        neg = torch.bmm(self.out(negatives), v.unsqueeze(-1)).squeeze(-1)  # (B, K)
        return -(nn.functional.logsigmoid(pos).sum() + nn.functional.logsigmoid(-neg).sum())

    @property
    def vectors(self) -> Tensor:
        """The word vectors (the input embeddings), detached, on the CPU: (V, dim)."""
        return self.inp.weight.detach().cpu()


class CBOWNS(nn.Module):
    """CBOW with negative sampling: the mean of the context's input vectors predicts the centre word."""

    def __init__(self, vocab_size: int, dim: int = 100):
        super().__init__()
        vocab_size, dim = check.positive_int("vocab_size", vocab_size), check.positive_int("dim", dim)
        self.inp = nn.EmbeddingBag(vocab_size, dim, mode="mean", sparse=True)
        self.out = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out.weight)

    def forward(self, context: Tensor, offsets: Tensor, centre: Tensor, negatives: Tensor) -> Tensor:
        """Summed loss of B windows: bags of context ids (flat, with offsets (B,)), centres (B,), negatives (B, K)."""
        V = self.inp.num_embeddings
        b = len(check.labels("centre", centre, V))
        check.labels("context", context, V)
        check.labels("offsets", offsets, len(context), length=b)
        _word_ids("negatives", negatives, V, b)
        if offsets.device.type == "cpu":  # no host-device sync on the training hot path (train builds valid bags)
            _offsets(offsets, len(context))
        h = self.inp(context, offsets)  # (B, D) mean context vector
        pos = (self.out(centre) * h).sum(-1)  # (B,)
        neg = torch.bmm(self.out(negatives), h.unsqueeze(-1)).squeeze(-1)  # (B, K)
        return -(nn.functional.logsigmoid(pos).sum() + nn.functional.logsigmoid(-neg).sum())

    @property
    def vectors(self) -> Tensor:
        """The word vectors (the input embeddings), detached, on the CPU: (V, dim)."""
        return self.inp.weight.detach().cpu()


def _offsets(offsets: Tensor, n: int) -> Tensor:
    """Bag starts (B,) into n context ids: 0 first, strictly increasing, so that no bag is empty.

    Checked only for CPU tensors, like the ids: on a GPU the check would wait for the device every call.
    """
    if offsets.device.type == "cpu" and (int(offsets[0]) != 0 or (len(offsets) > 1 and not bool((offsets[1:] > offsets[:-1]).all()))):
        raise ValueError(f"offsets must start at 0 and increase strictly (each bag holds at least one context id), "
                         f"got {offsets[:12].tolist()}")
    return offsets


def _word_ids(name: str, ids: Tensor, vocab_size: int, rows: int | None, ndim: int = 2) -> Tensor:
    """Word ids of shape (rows,) (ndim 1) or (rows, K) (ndim 2) in [0, vocab_size); rows None: any length.

    The range is checked only for CPU tensors: on a GPU, reading min and max back would make every
    call wait for the device; an id out of range there fails inside the embedding lookup instead.
    """
    check.tensor(name, ids, ndim=ndim, dtype="int")
    if rows is not None and len(ids) != rows:
        raise ValueError(f"{name} must have {rows} rows (one per example), got shape {tuple(ids.shape)}")
    if ids.device.type == "cpu" and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got values from {int(ids.min())} to {int(ids.max())}")
    return ids


def _noise_table(noise: Tensor, size: int = 10_000_000) -> Tensor:
    """word2vec's trick: a long table in which word w fills a share noise[w] of the slots; uniform slots sample noise."""
    return torch.repeat_interleave(torch.arange(len(noise)), (noise * size).round().long().clamp(min=1))


@torch.no_grad()
def _sgd_update(out: Tensor, h: Tensor, target: Tensor, negatives: Tensor, lr: float) -> tuple[Tensor, Tensor]:
    """One SGD step of loss (negsampling) on the output vectors for B hidden vectors h (B, D); returns (loss, dloss/dh).

    With s_j = u_j . h for the target (label 1) and the K noise words (label 0), dloss/ds_j = sigma(s_j) - label_j,
    so dloss/du_j = (sigma(s_j) - label_j) h and dloss/dh = sum_j (sigma(s_j) - label_j) u_j. The output rows are
    updated in place; a row that occurs several times in the batch gets the sum of its updates.
    """
    rows = torch.cat([target[:, None], negatives], 1)  # (B, 1 + K): the target word, then the noise words
    u = nn.functional.embedding(rows, out)  # (B, 1 + K, D); a plain gather, faster than out[rows] on a CPU
    s = (u * h[:, None, :]).sum(-1)  # (B, 1 + K) scores u_j . h
    g = torch.sigmoid(s)
    g[:, 0] -= 1  # dloss/ds = sigma(s) - label
    loss = -(nn.functional.logsigmoid(s[:, 0]).sum() + nn.functional.logsigmoid(-s[:, 1:]).sum())
    grad_h = torch.bmm(g[:, None, :], u).squeeze(1)  # (B, D), from u before its update, as word2vec does
    step = (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]).mul_(-lr)  # (B (1 + K), D) each row's update
    out.index_add_(0, rows.reshape(-1), step)  # scaled beforehand: index_add_ with alpha is slower on a CPU (evidence/word2vec.json)
    return loss, grad_h


def train(model: nn.Module, ids: Tensor, sentence: Tensor, counts: np.ndarray, *, device: torch.device,
          epochs: int = 5, window: int = 5, negatives: int = 5, sample: float = 1e-3, lr: float = 0.025,
          batch_size: int = 1024, seed: int = 0, progress: bool = True) -> list[float]:
    """Train a SkipGramNS or CBOWNS with SGD whose rate decays linearly towards 0 (floored at 1e-4 of ``lr``, as in the
    word2vec C code) over the batches of the run; returns each batch's mean loss.

    Each epoch subsamples frequent words afresh, forms the pairs (or windows), shuffles them and
    draws ``negatives`` noise words per pair from the unigram^0.75 distribution. Each batch takes one
    SGD step on the loss summed over its pairs, written out by hand (the gradients of ``forward``,
    checked against autograd in the tests) and applied to the touched rows only. CBOW adds the full
    gradient of the mean context vector to every context word, as word2vec's C code and gensim do and
    as their CBOW learning rate (0.05) assumes, not the 1/|C| share of the true gradient (which
    Irsoy, Benton and Stratos, 2020, argue for, with a learning rate tuned for it).
    """
    if not isinstance(model, (SkipGramNS, CBOWNS)):
        raise TypeError(f"model must be a SkipGramNS or CBOWNS, got {type(model).__name__}")
    epochs, window = check.positive_int("epochs", epochs), check.positive_int("window", window)
    negatives, batch_size = check.positive_int("negatives", negatives), check.positive_int("batch_size", batch_size)
    sample, lr = check.number("sample", sample, 0, low_open=True), check.number("lr", lr, 0, low_open=True)
    seed, progress, device = check.integer("seed", seed, 0), check.flag("progress", progress), check.device("device", device)
    check.labels("ids", ids, model.out.num_embeddings)
    check.tensor("sentence", sentence, shape=(len(ids),), dtype="int")
    _sentence_ids(sentence)
    if not bool((sentence[1:] == sentence[:-1]).any()):
        raise ValueError(f"ids and sentence hold no (centre, context) pair: each of the {len(ids)} tokens is "
                         "alone in its sentence, so there is nothing to train on")
    _counts(counts)
    if len(counts) != model.out.num_embeddings:
        raise ValueError(f"counts has {len(counts)} words but the model's vocabulary has {model.out.num_embeddings}")
    g = torch.Generator().manual_seed(seed)
    keep_p = keep_probability(counts, sample)
    table = _noise_table(noise_distribution(counts)).to(device)
    gd = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.to(device).train()
    try:
        return _train(model, ids, sentence, keep_p, table, gd, g, device, epochs, window, negatives, lr,
                      batch_size, progress, sample)
    finally:
        model.train(was_training)  # leave the mode as the caller had it, also when training raised


def _train(model, ids, sentence, keep_p, table, gd, g, device, epochs, window, negatives, lr, batch_size,
           progress, sample) -> list[float]:
    inp, out = model.inp.weight.data, model.out.weight.data  # updated in place, no autograd
    # the number of pairs varies a little per epoch; estimate it once for the progress bar and the lr schedule
    cbow = isinstance(model, CBOWNS)
    kept = len(ids) * float(keep_p[ids].mean())  # tokens left after subsampling, on average
    # the progress bar's length, an estimate (a skip-gram centre has up to window + 1 contexts on average, fewer at
    # sentence ends); the learning rate follows the batches actually formed, below
    total = int(epochs * kept * (1 if cbow else window + 1) / batch_size) + 1
    losses = []
    with tqdm(total=total, desc=type(model).__name__, disable=not progress) as bar:
        for epoch in range(epochs):
            keep = torch.rand(len(ids), generator=g, dtype=torch.float64) < keep_p[ids]
            if cbow:
                batches = list(_cbow_batches(ids[keep], sentence[keep], window, batch_size, g))
            else:
                c, o = skipgram_pairs(ids[keep], sentence[keep], window, generator=g)  # (P,), (P,)
                perm = torch.randperm(len(c), generator=g)
                c, o = c[perm].to(device), o[perm].to(device)
                batches = [(c[i:i + batch_size], o[i:i + batch_size]) for i in range(0, len(c), batch_size)]
            if epoch == 0:
                bar.total = epochs * len(batches)  # the estimate above, now from the batches of the first epoch
                bar.refresh()
            for j, batch in enumerate(batches):
                batch = [t.to(device) for t in batch]
                b = len(batch[-1]) if cbow else len(batch[0])
                slots = torch.randint(len(table), (b * negatives,), device=device, generator=gd)
                neg = table.index_select(0, slots).view(b, negatives)  # (B, K) noise words
                done = (epoch + j / len(batches)) / epochs  # share of the training done, by the batches of this run
                rate = lr * max(1e-4, 1 - done)  # the C code's linear decay, floored at lr * 1e-4 (gensim's min_alpha is an absolute 1e-4)
                if cbow:
                    context, offsets, centre = batch
                    h = nn.functional.embedding_bag(context, inp, offsets, mode="mean")  # (B, D) mean context vector
                    loss, grad_h = _sgd_update(out, h, centre, neg, rate)
                    sizes = torch.diff(offsets, append=offsets.new_tensor([len(context)]))  # (B,) words per window
                    inp.index_add_(0, context, grad_h.mul_(-rate).repeat_interleave(sizes, 0))  # the full gradient to each
                else:
                    centre, context = batch
                    loss, grad_h = _sgd_update(out, nn.functional.embedding(centre, inp), context, neg, rate)
                    inp.index_add_(0, centre, grad_h.mul_(-rate))
                losses.append(loss / b)
                bar.update(1)
    if not losses:
        raise ValueError(f"subsampling (sample={sample}) left no (centre, context) pair in any epoch: "
                         "use a larger sample or a longer corpus")
    return torch.stack(losses).tolist()  # one transfer at the end: no host-device sync per step on a GPU


def _cbow_batches(ids: Tensor, sentence: Tensor, window: int, batch_size: int, g: torch.Generator):
    """CBOW batches (flat context ids, offsets, centres): each centre with its window's words as one bag."""
    n = len(ids)
    reach = torch.randint(1, window + 1, (n,), generator=g)
    pos = torch.arange(n)
    ctx_pos, ctr_pos = [], []
    for d in range(1, window + 1):
        same = sentence[d:] == sentence[:-d]
        left, right = same & (reach[:-d] >= d), same & (reach[d:] >= d)
        ctr_pos += [pos[:-d][left], pos[d:][right]]
        ctx_pos += [pos[d:][left], pos[:-d][right]]
    ctr_pos, ctx_pos = torch.cat(ctr_pos), torch.cat(ctx_pos)
    order = torch.argsort(ctr_pos, stable=True)
    ctr_pos, ctx_pos = ctr_pos[order], ctx_pos[order]
    centres, sizes = torch.unique_consecutive(ctr_pos, return_counts=True)  # centres with >= 1 context
    starts = torch.cumsum(sizes, 0) - sizes
    perm = torch.randperm(len(centres), generator=g)
    for i in range(0, len(centres), batch_size):
        sel = perm[i:i + batch_size]
        s, z = starts[sel], sizes[sel]
        flat = torch.repeat_interleave(s - torch.cumsum(z, 0) + z, z) + torch.arange(int(z.sum()))
        yield ids[ctx_pos[flat]], torch.cumsum(z, 0) - z, ids[centres[sel]]


def _index(vocab: Vocab, word: str) -> int:
    """The row of ``word``; an unknown word is a KeyError that names it (a dict lookup's own convention)."""
    if not isinstance(word, str):
        raise TypeError(f"word must be a str, got {type(word).__name__} {word!r}")
    if word not in vocab:
        raise KeyError(f"word {word!r} is not in the vocabulary")
    return vocab[word]


def _unit(vectors: Tensor) -> Tensor:
    if not isinstance(vectors, (Tensor, np.ndarray)):
        raise TypeError(f"vectors must be a (V, dim) tensor or array, got {type(vectors).__name__}")
    if isinstance(vectors, Tensor):
        vectors = vectors.detach().cpu()  # an nn.Parameter (model.inp.weight) works like .vectors
    x = check.tensor("vectors", torch.as_tensor(vectors, dtype=torch.float32), ndim=2)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)  # (V, D)


def _top(unit: Tensor, query: Tensor, exclude: list[int], k: int, words: list[str]) -> list[tuple[str, float]]:
    k = check.positive_int("k", k)
    if len(unit) != len(words):
        raise ValueError(f"vectors has {len(unit)} rows but vocab has {len(words)} words")
    sims = unit @ (query / query.norm().clamp(min=1e-12))  # (V,) cosine similarities
    sims[exclude] = -float("inf")
    top = sims.topk(min(k, len(words) - len(set(exclude))))
    return [(words[i], float(s)) for s, i in zip(top.values, top.indices)]


def most_similar(vectors: Tensor, vocab: Vocab, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words whose vectors (V, dim) have the highest cosine similarity to ``word``'s, itself excluded."""
    unit, vocab = _unit(vectors), _vocab(vocab)
    i = _index(vocab, word)
    return _top(unit, unit[i], [i], k, _words(vocab))


def analogy(vectors: Tensor, vocab: Vocab, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """Answers to "a is to b as c is to ?": the k words nearest to unit(b) - unit(a) + unit(c), never a, b or c."""
    unit, vocab = _unit(vectors), _vocab(vocab)
    ia, ib, ic = _index(vocab, a), _index(vocab, b), _index(vocab, c)
    return _top(unit, unit[ib] - unit[ia] + unit[ic], [ia, ib, ic], k, _words(vocab))


def _questions(questions) -> list:
    """Analogy questions as a list of 4-tuples of words."""
    if isinstance(questions, (str, bytes)) or not isinstance(questions, Sequence):
        raise TypeError(f"questions must be a list of (a, b, c, d) word tuples, got {type(questions).__name__}")
    for k, q in enumerate(questions):
        if isinstance(q, (str, bytes)) or not isinstance(q, Sequence):
            raise TypeError(f"questions[{k}] must be a tuple of four words (a, b, c, d), got {type(q).__name__} {q!r:.60}")
        if len(q) != 4:
            raise ValueError(f"questions[{k}] must be four words (a, b, c, d), got {q!r:.60}")
    return list(questions)


def analogy_coverage(vocab: Vocab, questions: Sequence[tuple[str, str, str, str]]) -> tuple[int, int]:
    """How many analogy questions have all four words in the vocabulary, and how many are skipped."""
    vocab, questions = _vocab(vocab), _questions(questions)
    used = sum(all(w in vocab for w in q) for q in questions)
    return used, len(questions) - used


def evaluate_analogies(vectors: Tensor, vocab: Vocab, questions: Sequence[tuple[str, str, str, str]]) -> float:
    """Accuracy on (a, b, c, d) questions whose words are all in the vocabulary: is d the top answer of analogy(a, b, c)?"""
    unit, vocab, questions = _unit(vectors), _vocab(vocab), _questions(questions)
    if len(unit) != len(vocab):
        raise ValueError(f"vectors has {len(unit)} rows but vocab has {len(vocab)} words")
    q = torch.tensor([[vocab[w] for w in x] for x in questions if all(w in vocab for w in x)],
                     dtype=torch.int64).reshape(-1, 4)  # (Q, 4)
    if len(q) == 0:
        raise ValueError(f"none of the {len(questions)} questions has all four words in the vocabulary")
    correct = 0
    for chunk in q.split(1024):
        query = unit[chunk[:, 1]] - unit[chunk[:, 0]] + unit[chunk[:, 2]]  # (q, D), eq. b - a + c
        sims = query @ unit.T  # (q, V); the query's norm does not change the argmax
        sims.scatter_(1, chunk[:, :3], -float("inf"))  # the input words are never the answer
        correct += int((sims.argmax(1) == chunk[:, 3]).sum())
    return correct / len(q)


def wordsim_spearman(vectors: Tensor, vocab: Vocab, pairs: Sequence[tuple[str, str, float]]) -> float:
    """Spearman correlation between human similarity scores and cosine similarity, over in-vocabulary pairs."""
    unit, vocab = _unit(vectors), _vocab(vocab)
    if len(unit) != len(vocab):
        raise ValueError(f"vectors has {len(unit)} rows but vocab has {len(vocab)} words")
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a list of (word, word, score) tuples, got {type(pairs).__name__}")
    for k, x in enumerate(pairs):
        if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
            raise TypeError(f"pairs[{k}] must be a tuple (word, word, score), got {type(x).__name__} {x!r:.60}")
        if len(x) != 3:
            raise ValueError(f"pairs[{k}] must be (word, word, score), got {x!r:.60}")
        check.number(f"pairs[{k}] score", x[2])
    kept = [(vocab[a], vocab[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(kept) < 3:
        raise ValueError(f"only {len(kept)} of the {len(pairs)} pairs are in the vocabulary; need at least 3")
    ia, ib, human = zip(*kept)
    cos = (unit[list(ia)] * unit[list(ib)]).sum(1)  # (P,)
    if len(set(human)) == 1:
        raise ValueError(f"pairs: the {len(kept)} in-vocabulary pairs all have the score {human[0]}; "
                         "a rank correlation with a constant is undefined")
    if bool((cos == cos[0]).all()):
        raise ValueError(f"vectors give every one of the {len(kept)} pairs the same cosine {float(cos[0]):.3g} "
                         "(constant or collinear vectors); a rank correlation with a constant is undefined")
    return float(spearmanr(np.asarray(human), cos.numpy()).statistic)

"""Real datasets, downloaded once from their canonical URLs, sha256-checked and cached.

Files live in a cache directory laid out like ``mnist/…``, ``nltk/…``, ``word2vec-eval/…``:
``$DLEXT_DATA_DIR`` when set (CI points it at a read-only copy), else a per-user cache.
Downloads go through ``pooch``, which writes to a temporary file and moves it into place
only once its checksum matches, so an interrupted or corrupted download never leaves a
file behind that looks complete.

Settings (environment variables):

- ``DLEXT_DATA_DIR``: the cache directory (see above).
- ``DLEXT_DATA_MIRROR``: one or more base URLs (separated by spaces) that replace every canonical
  URL. A mirror serves each file at ``<base>/<relpath>``, the cache layout, so a plain web server
  over a filled cache is a mirror: ``python -m http.server -d ../shared/data 8000`` and
  ``DLEXT_DATA_MIRROR=http://127.0.0.1:8000``. Mirrors are tried in the order given.
- ``DLEXT_DATA_TIMEOUT``: seconds to wait for a server to connect or to send the next bytes
  (default 30); a server that stalls longer counts as failed and the next URL is tried. It does
  not bound a transfer that is slow but steady.

Two processes that need the same missing file (two notebooks started together) take turns: the
download holds an exclusive lock (``flock``) on the file's directory, and the second process finds
the verified file when its turn comes. Under that lock, temporary files that a killed download left
behind are removed. (Without ``fcntl``, on Windows, there is no lock; pooch's atomic move still keeps
a partial file from ever being used.)
"""
import contextlib
import gzip
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch
import torch

ENV_DIR = "DLEXT_DATA_DIR"
ENV_MIRROR = "DLEXT_DATA_MIRROR"
ENV_TIMEOUT = "DLEXT_DATA_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_NLTK = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it goes in the cache, its sha256, and its URLs."""

    relpath: str
    sha256: str
    urls: tuple[str, ...]


FILES = {
    f.relpath: f
    for f in [
        RemoteFile("mnist/train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                   tuple(m + "train-images-idx3-ubyte.gz" for m in _MNIST_MIRRORS)),
        RemoteFile("mnist/train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                   tuple(m + "train-labels-idx1-ubyte.gz" for m in _MNIST_MIRRORS)),
        RemoteFile("mnist/t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                   tuple(m + "t10k-images-idx3-ubyte.gz" for m in _MNIST_MIRRORS)),
        RemoteFile("mnist/t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                   tuple(m + "t10k-labels-idx1-ubyte.gz" for m in _MNIST_MIRRORS)),
        RemoteFile("nltk/brown.zip",
                   "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",
                   (_NLTK + "brown.zip",)),
        RemoteFile("nltk/sentence_polarity.zip",
                   "6e1ed4405b65c7eabf1d199a7f7c437091ac21da0ea7467b410a74062574566b",
                   (_NLTK + "sentence_polarity.zip",)),
        RemoteFile("word2vec-eval/questions-words.txt",
                   "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
                   ("https://raw.githubusercontent.com/tmikolov/word2vec/master/questions-words.txt",)),
        RemoteFile("word2vec-eval/wordsim353.tsv",
                   "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
                   ("https://raw.githubusercontent.com/piskvorky/gensim/develop/gensim/test/test_data/wordsim353.tsv",)),
    ]
}


class DataError(RuntimeError):
    """A dataset file is missing, corrupted, or could not be downloaded."""


def data_dir() -> Path:
    """The cache directory: ``$DLEXT_DATA_DIR`` if set, else the per-user cache."""
    env = os.environ.get(ENV_DIR)
    return Path(env).expanduser() if env else Path(pooch.os_cache("dlext"))


def urls(relpath: str) -> tuple[str, ...]:
    """The URLs tried for one file, in order: the ``$DLEXT_DATA_MIRROR`` mirrors if set, else the canonical ones."""
    if not isinstance(relpath, str):
        raise TypeError(f"relpath must be a data file's path (str), got {type(relpath).__name__} {relpath!r}")
    if relpath not in FILES:
        raise ValueError(f"unknown data file {relpath!r}; known files: {', '.join(sorted(FILES))}")
    mirrors = os.environ.get(ENV_MIRROR, "").split()
    return tuple(f"{m.rstrip('/')}/{relpath}" for m in mirrors) or FILES[relpath].urls


def _timeout() -> float:
    raw = os.environ.get(ENV_TIMEOUT, "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{ENV_TIMEOUT} must be a positive number of seconds, got {raw!r}")
    return value


_POOCH_TEMP = re.compile(r"tmp[a-z0-9_]{8}")  # tempfile.NamedTemporaryFile's names, which pooch uses


@contextlib.contextmanager
def _exclusive(directory: Path):
    """Hold an exclusive lock on ``directory`` (one download at a time per dataset folder)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, pooch's atomic move still protects readers
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _verified(target: Path, sha256: str) -> bool:
    return target.is_file() and pooch.file_hash(str(target)) == sha256


def fetch(relpath: str) -> Path:
    """Path to a verified local copy of one dataset file, downloading it if needed."""
    sources = urls(relpath)  # validates relpath
    spec = FILES[relpath]
    target = data_dir() / spec.relpath
    if _verified(target, spec.sha256):
        return target  # the common, offline path: nothing is written, no network is touched
    timeout = _timeout()
    problem = "is missing"
    if target.is_file():
        problem = f"is corrupted (its sha256 is {pooch.file_hash(str(target))}, expected {spec.sha256})"
    errors = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a read-only cache
        errors.append(f"  cannot create {target.parent}: {type(err).__name__}: {err}")
    if not errors:
        with _exclusive(target.parent):
            if _verified(target, spec.sha256):
                return target  # another process downloaded it while we waited for the lock
            for stale in target.parent.iterdir():  # left by a download that was killed mid-transfer
                if _POOCH_TEMP.fullmatch(stale.name) and stale.is_file():
                    stale.unlink()
            downloader = pooch.HTTPDownloader(progressbar=True, timeout=timeout)
            for url in sources:  # try each mirror in turn
                try:
                    return Path(pooch.retrieve(url, known_hash=f"sha256:{spec.sha256}", fname=target.name,
                                               path=target.parent, downloader=downloader))
                except Exception as err:  # network down, timeout, HTTP error, checksum mismatch, read-only dir
                    errors.append(f"  {url}: {type(err).__name__}: {err}")
    via = f" ({ENV_MIRROR} is set)" if os.environ.get(ENV_MIRROR, "").split() else ""
    tried = {e.split(": ", 1)[0].strip() for e in errors}
    untried = [u for u in sources if u not in tried]  # listed, so "the URLs above" are on the page
    if untried:
        errors.append("  not tried: " + ", ".join(untried))
    raise DataError(
        f"{target} {problem} and could not be downloaded{via}:\n" + "\n".join(errors) + "\n"
        f"Download {target.name} from one of the URLs above (sha256 {spec.sha256}) and put it at "
        f"{target}, or set {ENV_DIR} to a directory that holds {spec.relpath}."
    )


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format): a magic number, the dimensions, then raw uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {data.size} values, but its header promises shape {shape}")
    return data.reshape(shape)


def load_mnist(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits: X float32 (N, 1, 28, 28) in [0, 1] and y int64 (N,); N = 60,000 or 10,000."""
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    prefix = "train" if train else "t10k"
    images = _read_idx(fetch(f"mnist/{prefix}-images-idx3-ubyte.gz"))  # (N, 28, 28) uint8
    labels = _read_idx(fetch(f"mnist/{prefix}-labels-idx1-ubyte.gz"))  # (N,) uint8
    X = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))  # (N,)
    return X, y


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def load_brown() -> list[list[str]]:
    """The Brown corpus as sentences of lowercased word tokens (letters and apostrophes only)."""
    sentences = []
    with zipfile.ZipFile(fetch("nltk/brown.zip")) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"brown/c[a-r]\d\d", n))
        for name in names:
            for line in z.read(name).decode("ascii", errors="replace").splitlines():
                # Each non-blank line is one sentence of word/tag pairs: "The/at jury/nn ..."
                words = (pair.rsplit("/", 1)[0].lower() for pair in line.split())
                tokens = [t for w in words for t in _WORD.findall(w)]
                if tokens:
                    sentences.append(tokens)
    return sentences


def load_sentence_polarity() -> tuple[list[str], list[int]]:
    """Pang & Lee's 10,662 movie-review snippets and their labels (1 = positive, 0 = negative)."""
    texts, labels = [], []
    with zipfile.ZipFile(fetch("nltk/sentence_polarity.zip")) as z:
        for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
            raw = z.read(f"sentence_polarity/{name}").decode("latin-1")
            lines = [s.strip() for s in raw.splitlines() if s.strip()]
            texts += lines
            labels += [label] * len(lines)
    return texts, labels


def load_analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """word2vec's analogy questions, lowercased: section name -> list of (a, b, c, d), "a is to b as c is to d"."""
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for lineno, line in enumerate(fetch("word2vec-eval/questions-words.txt").read_text().splitlines(), 1):
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip():
            words = tuple(line.lower().split())
            if current is None or len(words) != 4:
                raise DataError(f"questions-words.txt line {lineno} is not a 4-word question: {line!r}")
            sections[current].append(words)
    return sections


def load_wordsim353() -> list[tuple[str, str, float]]:
    """WordSim-353: (word1, word2, mean human similarity on a 0-10 scale), lowercased."""
    pairs = []
    for line in fetch("word2vec-eval/wordsim353.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        w1, w2, score = line.split("\t")
        pairs.append((w1.lower(), w2.lower(), float(score)))
    return pairs

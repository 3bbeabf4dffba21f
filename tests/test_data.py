"""dlext.data: every loader from the offline mirror with the network blocked, and the download
path (mirror fallback, checksum failure, interrupted transfer) against a server on 127.0.0.1."""
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest
import torch

from dlext import data


@pytest.fixture(autouse=True)
def offline(no_network, shared_data, monkeypatch):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(shared_data))


@pytest.mark.parametrize("train, n", [(True, 60_000), (False, 10_000)])
def test_load_mnist(train, n):
    X, y = data.load_mnist(train=train)
    assert X.shape == (n, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert X.min() == 0.0 and X.max() == 1.0
    counts = torch.bincount(y, minlength=10)
    assert counts.sum() == n and len(counts) == 10
    # Published class counts of the first and last digit (LeCun et al.).
    assert counts[[0, 9]].tolist() == ([5923, 5949] if train else [980, 1009])


def test_load_mnist_rejects_non_bool():
    with pytest.raises(TypeError, match="train must be True or False"):
        data.load_mnist(train="test")


def test_load_brown_matches_the_documented_counts():
    sentences = data.load_brown()
    tokens = [t for s in sentences for t in s]
    assert len(sentences) == 56_833 and len(tokens) == 1_013_655  # figures in ../shared/data/README.md
    assert all(t == t.lower() and t.replace("'", "").isalpha() for t in tokens[:50_000])
    assert sentences[0][:4] == ["the", "fulton", "county", "grand"]


def test_load_sentence_polarity():
    texts, labels = data.load_sentence_polarity()
    assert len(texts) == len(labels) == 10_662
    assert sum(labels) == 5_331 and set(labels) == {0, 1}
    assert all(isinstance(t, str) and t for t in texts)


def test_load_analogies():
    sections = data.load_analogies()
    assert len(sections) == 14 and sum(map(len, sections.values())) == 19_544
    assert sections["capital-common-countries"][0] == ("athens", "greece", "baghdad", "iraq")
    assert all(len(q) == 4 for qs in sections.values() for q in qs)


def test_load_wordsim353():
    pairs = data.load_wordsim353()
    assert len(pairs) == 353
    assert pairs[0] == ("love", "sex", 6.77)
    assert all(0 <= s <= 10 for _, _, s in pairs)


def test_unknown_file_is_a_value_error():
    with pytest.raises(ValueError, match="unknown data file"):
        data.fetch("mnist/nope.gz")


def test_missing_file_offline_names_file_urls_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataError) as err:
        data.load_sentence_polarity()
    message = str(err.value)
    assert "sentence_polarity.zip" in message and "is missing" in message
    assert data.FILES["nltk/sentence_polarity.zip"].urls[0] in message
    assert str(tmp_path / "nltk" / "sentence_polarity.zip") in message and "DLEXT_DATA_DIR" in message
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "a failed download left a file behind"


def test_corrupted_cached_file_is_never_used(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    target = tmp_path / "word2vec-eval" / "wordsim353.tsv"
    target.parent.mkdir()
    shutil.copy(shared_data / "word2vec-eval" / "wordsim353.tsv", target)
    assert len(data.load_wordsim353()) == 353
    target.write_text(target.read_text().replace("6.77", "9.99"))  # a silent, plausible corruption
    with pytest.raises(data.DataError, match="is corrupted"):
        data.load_wordsim353()


# --- The download path, against a local server -------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):
        kind, body = self.routes.get(self.path, ("404", b""))
        if kind == "404":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) * (2 if kind == "truncated" else 1)))
        self.end_headers()
        self.wfile.write(body)  # "truncated": promise twice the bytes, then hang up

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    _Handler.routes.clear()


def _serve(monkeypatch, base, routes, kinds, payload=b"word1\tword2\t1.0\n"):
    """Point wordsim353.tsv at the local server: one URL per (route kind, body)."""
    urls = []
    for i, (kind, body) in enumerate(kinds):
        routes[f"/m{i}/wordsim353.tsv"] = (kind, body)
        urls.append(f"{base}/m{i}/wordsim353.tsv")
    spec = data.RemoteFile("word2vec-eval/wordsim353.tsv", hashlib.sha256(payload).hexdigest(), tuple(urls))
    monkeypatch.setitem(data.FILES, spec.relpath, spec)
    return payload


def test_download_falls_back_to_the_second_mirror(tmp_path, monkeypatch, server):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    base, routes = server
    payload = _serve(monkeypatch, base, routes, [("404", b""), ("ok", b"word1\tword2\t1.0\n")])
    path = data.fetch("word2vec-eval/wordsim353.tsv")
    assert path == tmp_path / "word2vec-eval" / "wordsim353.tsv" and path.read_bytes() == payload
    assert data.load_wordsim353() == [("word1", "word2", 1.0)]


@pytest.mark.parametrize("kind, body", [("ok", b"tampered\tbytes\t0\n"), ("truncated", b"word1\tword2")])
def test_bad_download_leaves_no_file(tmp_path, monkeypatch, server, kind, body):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    base, routes = server
    _serve(monkeypatch, base, routes, [(kind, body)])
    with pytest.raises(data.DataError, match="could not be downloaded"):
        data.fetch("word2vec-eval/wordsim353.tsv")
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == [], f"a failed download left {leftovers}"


def test_corrupted_file_is_replaced_by_a_good_download(tmp_path, monkeypatch, server):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    base, routes = server
    payload = _serve(monkeypatch, base, routes, [("ok", b"word1\tword2\t1.0\n")])
    target = tmp_path / "word2vec-eval" / "wordsim353.tsv"
    target.parent.mkdir()
    target.write_bytes(b"garbage")
    assert data.fetch("word2vec-eval/wordsim353.tsv").read_bytes() == payload

"""dlext.data: every loader from the offline mirror with the network blocked, and the download
path against servers on 127.0.0.1 (never the real network): mirror fallback after a 404, checksum
failure, a connection cut short, a truncated gzip sent with a matching Content-Length, a server too
slow to answer, two processes downloading the same file at once, a download killed midway, and the
DLEXT_DATA_MIRROR setting that redirects every URL to a mirror of ../shared/data."""
import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from dlext import data


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from colab_sim import serve_directory  # noqa: E402  (the loopback mirror the Colab simulation uses)


@pytest.fixture(autouse=True)
def offline(no_network, shared_data, monkeypatch):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(shared_data))
    monkeypatch.delenv("DLEXT_DATA_MIRROR", raising=False)
    monkeypatch.delenv("DLEXT_DATA_TIMEOUT", raising=False)


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
    """Serves ``routes[path] = (kind, body)``; records every request path in ``hits``.

    kinds: "ok"; "404"; "truncated" (promise twice the bytes, then hang up); "short" (send the first
    half of the body with a Content-Length that matches it, so HTTP sees a complete response);
    "slow" (wait SLOW seconds before answering); "trickle" (send the body in 256-byte pieces,
    TRICKLE seconds apart); "gated" (send half the body, then wait until ``gate`` is set).
    """
    routes: dict = {}
    hits: list = []
    gate = threading.Event()
    SLOW = 5.0
    TRICKLE = 0.05

    def do_GET(self):
        self.hits.append(self.path)
        kind, body = self.routes.get(self.path, ("404", b""))
        if kind == "404":
            self.send_error(404)
            return
        if kind == "slow":
            time.sleep(self.SLOW)
        if kind == "short":
            body = body[: len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) * (2 if kind == "truncated" else 1)))
        self.end_headers()
        try:
            if kind == "gated":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.gate.wait(timeout=120)
                self.wfile.write(body[len(body) // 2:])
            elif kind == "trickle":
                for start in range(0, len(body), 256):
                    self.wfile.write(body[start:start + 256])
                    self.wfile.flush()
                    time.sleep(self.TRICKLE)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, killed)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    httpd.server_close()
    _Handler.routes.clear()
    _Handler.hits.clear()
    _Handler.gate.clear()


def _serve(monkeypatch, base, routes, kinds, payload=b"word1\tword2\t1.0\n"):
    """Point wordsim353.tsv at the local server: one URL per (route kind, body)."""
    urls = []
    for i, (kind, body) in enumerate(kinds):
        routes[f"/m{i}/wordsim353.tsv"] = (kind, body)
        urls.append(f"{base}/m{i}/wordsim353.tsv")
    spec = data.RemoteFile("word2vec-eval/wordsim353.tsv", hashlib.sha256(payload).hexdigest(), tuple(urls))
    monkeypatch.setitem(data.FILES, spec.relpath, spec)
    return payload


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


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
    leftovers = _files(tmp_path)
    assert leftovers == [], f"a failed download left {leftovers}"


def test_corrupted_file_is_replaced_by_a_good_download(tmp_path, monkeypatch, server):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    base, routes = server
    payload = _serve(monkeypatch, base, routes, [("ok", b"word1\tword2\t1.0\n")])
    target = tmp_path / "word2vec-eval" / "wordsim353.tsv"
    target.parent.mkdir()
    target.write_bytes(b"garbage")
    assert data.fetch("word2vec-eval/wordsim353.tsv").read_bytes() == payload


# --- Faults, served in the mirror layout of ../shared/data (DLEXT_DATA_MIRROR) ------------------

LABELS = "mnist/t10k-labels-idx1-ubyte.gz"  # 4.5 kB, a real gzip file


def _mirror(monkeypatch, tmp_path, base, routes, kinds, relpath=LABELS, body=None, shared=None):
    """Empty cache in tmp_path; mirrors m0, m1, ... serve ``relpath`` as the given kinds."""
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path / "cache"))
    body = body if body is not None else (shared / relpath).read_bytes()
    for i, kind in enumerate(kinds):
        routes[f"/m{i}/{relpath}"] = (kind, body)
    monkeypatch.setenv("DLEXT_DATA_MIRROR", " ".join(f"{base}/m{i}" for i in range(len(kinds))))
    return body


def test_mirror_setting_replaces_every_canonical_url(monkeypatch):
    monkeypatch.setenv("DLEXT_DATA_MIRROR", "http://127.0.0.1:9/a/  http://127.0.0.1:9/b")
    for relpath in data.FILES:
        assert data.urls(relpath) == (f"http://127.0.0.1:9/a/{relpath}", f"http://127.0.0.1:9/b/{relpath}")
    monkeypatch.delenv("DLEXT_DATA_MIRROR")
    assert data.urls(LABELS) == data.FILES[LABELS].urls
    with pytest.raises(ValueError, match="unknown data file"):
        data.urls("mnist/nope.gz")


def test_loaders_download_verify_and_cache_from_a_loopback_mirror(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    with serve_directory(shared_data) as (base, requests):
        monkeypatch.setenv("DLEXT_DATA_MIRROR", base)
        X, y = data.load_mnist(train=False)
        assert X.shape == (10_000, 1, 28, 28) and torch.bincount(y)[[0, 9]].tolist() == [980, 1009]
        assert len(data.load_wordsim353()) == 353
        assert sorted(requests) == ["/mnist/t10k-images-idx3-ubyte.gz", "/mnist/t10k-labels-idx1-ubyte.gz",
                                    "/word2vec-eval/wordsim353.tsv"]
        data.load_mnist(train=False)  # cached now: no second request
        assert len(requests) == 3
    for path in _files(tmp_path):
        assert path.read_bytes() == (shared_data / path.relative_to(tmp_path)).read_bytes()


def test_404_on_the_first_mirror_then_success(tmp_path, monkeypatch, server, shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["404", "ok"], shared=shared_data)
    assert data.fetch(LABELS).read_bytes() == body
    assert _Handler.hits == [f"/m0/{LABELS}", f"/m1/{LABELS}"]


def test_truncated_gzip_with_a_valid_length_is_caught_by_sha256(tmp_path, monkeypatch, server, shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["short"], shared=shared_data)
    with pytest.raises(data.DataError, match=r"(?s)is missing and could not be downloaded.*hash") as err:
        data.fetch(LABELS)
    assert "DLEXT_DATA_MIRROR is set" in str(err.value)
    assert _files(tmp_path) == [], "the truncated download left a file"
    routes[f"/m0/{LABELS}"] = ("ok", body)  # the mirror recovers: a retry succeeds
    assert data.fetch(LABELS).read_bytes() == body


def test_slow_mirror_times_out_and_the_next_one_answers(tmp_path, monkeypatch, server, shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["slow", "ok"], shared=shared_data)
    monkeypatch.setenv("DLEXT_DATA_TIMEOUT", "0.5")
    start = time.perf_counter()
    assert data.fetch(LABELS).read_bytes() == body
    assert time.perf_counter() - start < _Handler.SLOW - 1, "the loader waited for the slow server"


def test_slow_only_mirror_fails_saying_it_timed_out_and_a_retry_succeeds(tmp_path, monkeypatch, server,
                                                                          shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["slow"], shared=shared_data)
    monkeypatch.setenv("DLEXT_DATA_TIMEOUT", "0.5")
    with pytest.raises(data.DataError, match=r"(?s)m0/mnist/t10k-labels-idx1-ubyte.gz: \w*Timeout.*timed out"):
        data.fetch(LABELS)
    assert _files(tmp_path) == []
    routes[f"/m0/{LABELS}"] = ("ok", body)
    assert data.fetch(LABELS).read_bytes() == body


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_bad_timeout_setting_is_a_value_error(tmp_path, monkeypatch, value):
    monkeypatch.setenv("DLEXT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLEXT_DATA_TIMEOUT", value)
    with pytest.raises(ValueError, match=f"DLEXT_DATA_TIMEOUT must be a positive number of seconds, got '{value}'"):
        data.fetch(LABELS)


def _fetch_in_subprocess(relpath: str) -> subprocess.Popen:
    """Another Python process (a second notebook) calling dlext.data.fetch with this test's settings.

    It prints "ready" once dlext is imported, just before it calls fetch, then the path it got.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = f"from dlext import data; print('ready', flush=True); print(data.fetch({relpath!r}))"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_downloading_the_same_file_take_turns(tmp_path, monkeypatch, server, shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["gated"], shared=shared_data)
    first = _fetch_in_subprocess(LABELS)
    deadline = time.monotonic() + 120
    while not _Handler.hits:  # the first download has begun, and stalls halfway until the gate opens
        assert time.monotonic() < deadline and first.poll() is None, "the first download never started"
        time.sleep(0.05)
    second = _fetch_in_subprocess(LABELS)
    assert second.stdout.readline().strip() == "ready"
    time.sleep(2.0)  # time enough for the second process to reach the server, were it not waiting its turn
    hits_while_first_downloads = list(_Handler.hits)
    _Handler.gate.set()
    target = tmp_path / "cache" / LABELS
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip().splitlines()[-1] == str(target)
    assert hits_while_first_downloads == [f"/m0/{LABELS}"], "the second process downloaded at the same time"
    assert _Handler.hits == [f"/m0/{LABELS}"], "the second process downloaded again instead of using the file"
    assert _files(tmp_path) == [target] and target.read_bytes() == body


def test_a_download_killed_midway_leaves_nothing_used_and_a_retry_succeeds(tmp_path, monkeypatch, server,
                                                                           shared_data):
    base, routes = server
    body = _mirror(monkeypatch, tmp_path, base, routes, ["trickle"], shared=shared_data)
    monkeypatch.setattr(_Handler, "TRICKLE", 0.5)  # ~9 s: long enough to kill it midway
    proc = _fetch_in_subprocess(LABELS)
    folder = tmp_path / "cache" / "mnist"
    deadline = time.monotonic() + 60
    while not (folder.is_dir() and any(p.stat().st_size > 0 for p in folder.iterdir())):
        assert time.monotonic() < deadline and proc.poll() is None, "the download never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _files(tmp_path)
    assert len(partial) == 1 and partial[0].name.startswith("tmp") and len(partial[0].read_bytes()) < len(body)
    with pytest.raises(data.DataError, match="is missing"):  # the partial file is never taken for the data
        monkeypatch.setenv("DLEXT_DATA_MIRROR", f"{base}/gone")
        data.fetch(LABELS)
    monkeypatch.setenv("DLEXT_DATA_MIRROR", f"{base}/m0")
    monkeypatch.setattr(_Handler, "TRICKLE", 0.0)
    assert data.fetch(LABELS).read_bytes() == body
    assert _files(tmp_path) == [tmp_path / "cache" / LABELS], "the killed download's temporary file remains"

"""Shared test fixtures: the offline data directory, a network block, and a guard on ../shared."""
import os
import socket
from pathlib import Path

import pytest
from nbval_patience import pytest_collection_modifyitems  # noqa: F401  (a hook, used by pytest)

ROOT = Path(__file__).resolve().parents[1]
# Fixture notebooks are inputs to the homework tests, not chapters: keep nbval off them.
collect_ignore_glob = ["fixtures/*", "fixtures/**/*"]


def _snapshot(directory: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(directory.rglob("*"))}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """A complete dataset folder; the suite fails if anything writes into it.

    ``$DLEXT_DATA_DIR`` if set (CI: the read-only ../shared/data), else ../shared/data next to the
    checkout, else (a fresh machine) the per-user cache, filled once through dlext.data from the
    canonical URLs or ``$DLEXT_DATA_MIRROR``.
    """
    env = os.environ.get("DLEXT_DATA_DIR")
    sibling = ROOT.parent / "shared" / "data"
    if env:
        path = Path(env)
        if not (path / "mnist").is_dir():
            pytest.fail(f"DLEXT_DATA_DIR={env} holds no dataset folder (mnist/ is missing); "
                        "unset it to download the data into the per-user cache")
    elif (sibling / "mnist").is_dir():
        path = sibling
    else:
        from dlext import data

        try:
            for relpath in data.FILES:  # downloads only what is missing; safe from parallel workers
                data.fetch(relpath)
        except data.DataError as err:
            pytest.fail(f"no DLEXT_DATA_DIR or ../shared/data, and downloading into the cache failed: {err}")
        path = data.data_dir()
    before = _snapshot(path)
    yield path
    assert _snapshot(path) == before, f"the test run changed files in {path}"


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Make any connection to a non-loopback address fail, as it does on CI."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to reach {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", _guard_getaddrinfo(socket.getaddrinfo))
    yield


def _guard_getaddrinfo(real):
    def guarded(host, *args, **kwargs):
        if host in ("localhost", "127.0.0.1", "::1") or (isinstance(host, str) and host.startswith("127.")):
            return real(host, *args, **kwargs)
        raise NetworkBlocked(f"test tried to resolve {host}")
    return guarded

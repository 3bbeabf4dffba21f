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
    """The read-only dataset mirror named by DLEXT_DATA_DIR; the suite fails if anything writes into it."""
    env = os.environ.get("DLEXT_DATA_DIR")
    if not env or not (Path(env) / "mnist").is_dir():
        pytest.fail("DLEXT_DATA_DIR must name the offline dataset folder (e.g. ../shared/data); "
                    "run the tests through `make test`, which sets it")
    path = Path(env)
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


def pytest_terminal_summary(terminalreporter):
    """Print what the bad-input battery (tests/test_bad_input.py) covered, when it ran."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for key, value in getattr(report, "user_properties", []):
                if key == "bad_input_battery":
                    terminalreporter.write_line(value)

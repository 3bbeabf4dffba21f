"""Shared test fixtures: the offline data directory, a network block, and a guard on ../shared."""
import os
import socket
from pathlib import Path

import pytest

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


# --- Chapter run times under nbval, against their budgets (benchmarks/targets.yml) -----------------------
# The book promises at most about three minutes per chapter on a 2-core laptop; every `make test` measures it.
# Timing is noisy on a shared machine, so a chapter fails the run only past twice its budget; anything over
# the budget itself is reported in the summary.
BUDGET_FAIL_FACTOR = 2.0
_chapter_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Add up each chapter's cell times (on the xdist controller too: reports carry their duration)."""
    path, sep, rest = report.nodeid.partition(".ipynb::")
    if sep and path.startswith("book/") and rest.startswith("Cell"):
        name = Path(path).name
        _chapter_seconds[name] = _chapter_seconds.get(name, 0.0) + report.duration


def _budgets() -> dict[str, float]:
    import yaml
    return yaml.safe_load((ROOT / "benchmarks" / "targets.yml").read_text())["budgets"]


def _over_budget() -> list[tuple[str, float, float | None, str]]:
    budgets = _budgets()
    rows = []
    for name, seconds in sorted(_chapter_seconds.items()):
        budget = budgets.get(name)
        verdict = "" if budget is None or seconds <= budget else "over budget"
        if budget is not None and seconds > BUDGET_FAIL_FACTOR * budget:
            verdict = f"more than {BUDGET_FAIL_FACTOR:g}x the budget: fails the run"
        rows.append((name, seconds, budget, verdict))
    return rows


def pytest_sessionfinish(session, exitstatus):
    if not _chapter_seconds or hasattr(session.config, "workerinput"):
        return
    session.config._dlext_chapter_rows = rows = _over_budget()
    if exitstatus == 0 and any(v.startswith("more than") for *_, v in rows):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # What the bad-input battery (tests/test_bad_input.py) covered, when it ran.
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for key, value in getattr(report, "user_properties", []):
                if key == "bad_input_battery":
                    terminalreporter.write_line(value)
    rows = getattr(config, "_dlext_chapter_rows", None)
    if not rows:
        return
    terminalreporter.section("chapter run times under nbval (seconds; budgets in benchmarks/targets.yml)")
    for name, seconds, budget, verdict in rows:
        terminalreporter.write_line(f"{name:28s} {seconds:7.1f} s  budget {budget if budget else '-':>4}  {verdict}")


# --- Which chapters nbval runs: each chapter executes at most twice per CI run ------------------------
# `make test` then `make book` execute every chapter twice (nbval, the book build). Two chapters, rotating
# with the commit, execute elsewhere in `make test` instead of under nbval: one in the simulated fresh Colab
# (tests/test_colab.py), one as its released student version (tests/test_homework.py). Set
# DLEXT_ALL_CHAPTERS=1 to run every chapter everywhere (`make test-all`).
ALL_CHAPTERS = os.environ.get("DLEXT_ALL_CHAPTERS") == "1"


def rotating_elsewhere() -> dict[str, Path]:
    """{"colab": chapter, "student": chapter} that this run executes outside nbval; {} with DLEXT_ALL_CHAPTERS."""
    if ALL_CHAPTERS:
        return {}
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import colab_sim
    colab, student = colab_sim.rotating_chapters(2)
    return {"colab": colab.resolve(), "student": student.resolve()}


def pytest_collection_modifyitems(config, items):
    elsewhere = {path: where for where, path in rotating_elsewhere().items()}
    if not elsewhere:
        return
    keep, moved = [], []
    for item in items:
        path = Path(str(item.fspath)).resolve()
        (moved if path in elsewhere and path.suffix == ".ipynb" else keep).append(item)
    if moved:
        config.hook.pytest_deselected(items=moved)
        items[:] = keep
        names = ", ".join(f"{p.name} ({w})" for p, w in elsewhere.items())
        config._dlext_elsewhere = f"nbval left out the chapters this run executes elsewhere: {names}"


def pytest_report_header(config):
    where = rotating_elsewhere()
    if where:
        return (f"chapters executed outside nbval in this run: {where['colab'].name} in the simulated Colab, "
                f"{where['student'].name} as the student version (DLEXT_ALL_CHAPTERS=1 runs all everywhere)")

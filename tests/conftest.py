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
# What counts is the chapter's kernel CPU time (user + system, the kernel process and the children it waited for),
# as on the book's Results page: under `make test` two workers share two cores with the homework sandboxes, and a
# chapter's wall-clock time there grows with whatever else runs (CI's 08_gans: 385 s wall-clock where the same
# chapter alone on an idle machine of the same kind took 341 s). Where the CPU time is not known (no
# $DLEXT_NBVAL_OUT, a platform without /proc), the wall-clock time counts. A chapter fails the run only past
# twice its budget; anything over the budget itself is reported in the summary, with both times.
BUDGET_FAIL_FACTOR = 2.0
_chapter_seconds: dict[str, float] = {}
_SESSION_START = __import__("time").time()


def pytest_runtest_logreport(report):
    """Add up each chapter's cell times (on the xdist controller too: reports carry their duration)."""
    path, sep, rest = report.nodeid.partition(".ipynb::")
    if sep and path.startswith("book/") and rest.startswith("Cell"):
        name = Path(path).name
        _chapter_seconds[name] = _chapter_seconds.get(name, 0.0) + report.duration


def _budgets() -> dict[str, float]:
    import yaml
    return yaml.safe_load((ROOT / "benchmarks" / "targets.yml").read_text())["budgets"]


def _kernel_cpu_seconds(out: str | None, since: float) -> dict[str, float]:
    """{chapter name: kernel CPU seconds} from the run records nbval staged in `out` during this session."""
    import json

    if not out:
        return {}
    found = {}
    for record in Path(out).glob("*.run.json"):
        try:
            if record.stat().st_mtime < since:
                continue  # left by an earlier run
            cpu = json.loads(record.read_text()).get("cpu_seconds")
        except (OSError, ValueError):
            continue
        if isinstance(cpu, (int, float)) and not isinstance(cpu, bool):
            found[record.name.removesuffix(".run.json")] = float(cpu)
    return found


def budget_rows(wall: dict[str, float], cpu: dict[str, float],
                budgets: dict[str, float]) -> list[tuple[str, float, float | None, float | None, str]]:
    """(chapter, wall s, CPU s or None, budget or None, verdict) per chapter; the CPU time counts where known."""
    rows = []
    for name, seconds in sorted(wall.items()):
        budget, used = budgets.get(name), cpu.get(name)
        counted = seconds if used is None else used
        verdict = "" if budget is None or counted <= budget else "over budget"
        if budget is not None and counted > BUDGET_FAIL_FACTOR * budget:
            verdict = f"more than {BUDGET_FAIL_FACTOR:g}x the budget: fails the run"
        rows.append((name, seconds, used, budget, verdict))
    return rows


def pytest_sessionfinish(session, exitstatus):
    if not _chapter_seconds or hasattr(session.config, "workerinput"):
        return
    cpu = _kernel_cpu_seconds(os.environ.get("DLEXT_NBVAL_OUT"), _SESSION_START)
    session.config._dlext_chapter_rows = rows = budget_rows(_chapter_seconds, cpu, _budgets())
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
    terminalreporter.section("chapter run times under nbval (seconds; the kernel's CPU time counts where known; "
                             "budgets in benchmarks/targets.yml)")
    for name, seconds, cpu, budget, verdict in rows:
        cpu_text = f"{cpu:7.1f}" if cpu is not None else "      -"
        terminalreporter.write_line(f"{name:22s} wall {seconds:7.1f} s  CPU {cpu_text} s  "
                                    f"budget {budget if budget else '-':>4}  {verdict}")


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


# --- The order files start in: longest first ---------------------------------------------------------------
# `make test` runs two pytest-xdist workers that each take a whole file (--dist loadfile) in the order below
# (--no-loadscope-reorder; xdist's own order is by number of tests, which put the 8-minute simulated Colab and the
# GAN chapters near the end, where one worker ran them alone while the other sat idle). Longest first keeps both
# workers busy to the end. Seconds are rough CI figures (a file's order is all they change): the homework file
# grades every chapter and runs one student chapter, the Colab file executes one chapter in a fresh environment;
# a chapter weighs its budget.
FILE_WEIGHTS = {"test_homework.py": 900, "test_colab.py": 500}


def _file_weight(path: Path, budgets: dict[str, float]) -> float:
    if path.suffix == ".ipynb":
        return float(budgets.get(path.stem, 0))
    return float(FILE_WEIGHTS.get(path.name, 0))


def _longest_first(items: list) -> None:
    weight: dict[Path, float] = {}
    budgets = _budgets()
    for item in items:
        path = Path(str(item.fspath))
        if path not in weight:
            weight[path] = _file_weight(path, budgets)
    items.sort(key=lambda item: -weight[Path(str(item.fspath))])  # stable: a file's cells keep their order


def pytest_collection_modifyitems(config, items):
    _longest_first(items)
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


# --- Keep what nbval executed for the book build that follows (tools/nbval_outputs.py) ----------------------
# With $DLEXT_NBVAL_OUT set (`make test` sets it), each chapter's kernel starts with the book build's environment
# and every message nbval reads from it is kept; a chapter whose cells all ran and passed is staged there as the
# executed notebook, which `make book` takes instead of executing the chapter again.
def _install_nbval_capture(out: Path) -> None:
    import sys
    import time

    from nbval.plugin import IPyNbCell, IPyNbFile

    sys.path.insert(0, str(ROOT / "tools"))
    import exec_cache
    import nbval_outputs

    book = (ROOT / "book").resolve()
    original_setup, original_teardown, original_runtest = IPyNbFile.setup, IPyNbFile.teardown, IPyNbCell.runtest

    def runtest(self):
        # A cell that fails or is skipped (any exception, pytest's outcomes included) spoils its chapter's run:
        # tracked here, in the process that runs the cell (a report hook in this file would see only tests/ items
        # in an xdist worker).
        try:
            return original_runtest(self)
        except BaseException:
            log = getattr(self.parent, "_dlext_log", None)
            if log is not None:
                log["spoiled"] = True
            raise

    def setup(self):
        chapter = Path(str(self.fspath)).resolve()
        self._dlext_log = None
        if chapter.parent != book:
            return original_setup(self)
        start = {"source_sha256": nbval_outputs.file_sha256(chapter),
                 "dependency_digest": exec_cache.dependency_digest(exec_cache.code_of(chapter))}
        env = nbval_outputs.kernel_env(chapter, out)
        out.mkdir(parents=True, exist_ok=True)
        Path(env["DLEXT_METRICS"]).unlink(missing_ok=True)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the kernel inherits the environment it starts with
        try:
            original_setup(self)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self._dlext_log = {"recorder": nbval_outputs.Recorder(self.kernel), "start": start, "spoiled": False,
                           "wall0": time.perf_counter()}

    def teardown(self):
        log = getattr(self, "_dlext_log", None)
        chapter = Path(str(self.fspath)).resolve()
        if log is not None and not log["spoiled"] and self.kernel is not None and self.kernel.is_alive():
            try:
                cpu = nbval_outputs.process_cpu_seconds(self.kernel.km.provisioner.process.pid)
                nb = nbval_outputs.assemble(chapter, log["recorder"].executed(),
                                            nbval_outputs.language_info(self.kernel.kc))
                nbval_outputs.stage(out, chapter, nb, {
                    **log["start"], "cpu_seconds": None if cpu is None else round(cpu, 2),
                    "wall_seconds": round(time.perf_counter() - log["wall0"], 2), "executed": nbval_outputs.now()})
            except Exception as err:  # the book build then executes the chapter itself: slower, never wrong
                print(f"\n{chapter.name}: nbval's outputs not kept for the book ({type(err).__name__}: {err})",
                      file=sys.__stderr__)
        self._dlext_log = None
        return original_teardown(self)

    IPyNbFile.setup, IPyNbFile.teardown, IPyNbCell.runtest = setup, teardown, runtest


if os.environ.get("DLEXT_NBVAL_OUT"):
    _install_nbval_capture(Path(os.environ["DLEXT_NBVAL_OUT"]).resolve())

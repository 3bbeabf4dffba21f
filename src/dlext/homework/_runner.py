"""Run one submission's graded cells in this (fresh, sandboxed) process: ``python -m dlext.homework._runner PLAN``.

The plan (JSON, written by ``grade.py``) lists the cells to execute and the check calls to evaluate.
Each cell, check and instructor test runs under a wall-clock alarm; the student's printing goes to
a capped file; an audit hook refuses to delete, rename or write files outside the sandbox directory
and to start processes. Results are appended as JSON lines and flushed one by one, so whatever was
graded before the parent had to kill this process is kept.

This is a guard against accidents and careless code, not a security boundary: code that means harm
can get around an audit hook (ctypes, for one). Grade untrusted submissions inside a container.
"""
import contextlib
import io
import json
import os
import resource
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

MESSAGE_LIMIT = 1000  # characters of any one message sent back to the grader
PATH_EVENTS = {  # audit event -> indices of its path arguments that must stay inside the sandbox
    "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "shutil.rmtree": (0,), "os.truncate": (0,),
    "os.chmod": (0,), "os.chown": (0,), "os.mkdir": (0,), "os.symlink": (1,), "os.link": (0, 1),
    "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "shutil.move": (0, 1),
}
DIR_FD = {"os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.mkdir": 2, "os.chmod": 2, "os.chown": 3,
          "os.utime": 3, "os.symlink": 2}  # audit event -> index of its dir_fd argument
PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                  "os.forkpty", "pty.spawn"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class TimeLimit(BaseException):
    """Raised by the alarm; a BaseException so that a student's ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with TimeLimit after ``seconds`` of wall-clock time."""
    def expire(signum, frame):
        raise TimeLimit(f"stopped after the {seconds:g} s time limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class CappedOutput(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it and drops the rest."""

    def __init__(self, file, limit: int):
        self.file, self.left, self.dropped = file, limit, False

    def write(self, text: str) -> int:
        if self.left > 0:
            self.file.write(text[: self.left])
            self.left -= min(len(text), self.left)
        elif not self.dropped:
            self.dropped = True
            self.file.write("\n[output limit reached: the rest of the printed output was dropped]\n")
        return len(text)

    def flush(self) -> None:
        self.file.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


def install_guard(sandbox: Path) -> None:
    """Refuse (PermissionError) file changes outside ``sandbox`` and new processes, from now on."""
    root = os.path.realpath(sandbox)

    def inside(path, dir_fd=None) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: its opening was checked
        path = os.fsdecode(path)
        if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep) or real == os.devnull

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
            if writing and path is not None and not inside(path):
                raise PermissionError(f"grading sandbox: writing {path} is not allowed (only inside its own folder)")
        elif event in PATH_EVENTS:
            dir_fd = args[DIR_FD[event]] if event in DIR_FD and len(args) > DIR_FD[event] else None
            if event in ("os.rename", "os.link") and any(isinstance(fd, int) and fd >= 0 for fd in args[2:4]):
                raise PermissionError(f"grading sandbox: {event} relative to a directory descriptor is not allowed")
            for i in PATH_EVENTS[event]:
                if args[i] is not None and not inside(args[i], dir_fd):
                    raise PermissionError(f"grading sandbox: {event} on {args[i]} is not allowed")
        elif event in PROCESS_EVENTS:
            raise PermissionError(f"grading sandbox: starting processes ({event}) is not allowed")

    sys.addaudithook(hook)


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}" if not isinstance(err, TimeLimit) else str(err)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def _display(*objects, **kwargs) -> None:
    """Stand-in for IPython's ``display`` outside a kernel."""
    print(*objects)


def run_cells(plan: dict, emit, evaluate) -> dict:
    """Execute the plan's steps in one namespace; emit a result per check; return the namespace."""
    ns = {"__name__": "__main__", "display": _display}
    failed = {}  # cell index -> what it raised
    for step in plan["steps"]:
        if step["kind"] == "run":
            try:
                with time_limit(plan["timeout"]):
                    exec(compile(step["source"], f"<cell {step['cell']}>", "exec"), ns)
            except BaseException as err:  # noqa: BLE001 - a student's cell may raise anything, even SystemExit
                failed[step["cell"]] = _short(err)
                first = next((l.strip() for l in step["source"].splitlines() if l.strip()), "")[:60]
                emit({"type": "cell", "cell": step["cell"], "first_line": first, "error": failed[step["cell"]]})
            continue
        qid, why = step["qid"], ""
        if step.get("answer_cell") in failed:
            why = f"your exercise cell raised {failed[step['answer_cell']]}; "
        try:
            with time_limit(plan["timeout"]):
                result = evaluate(qid, eval(step["expr"], ns))
            emit({"type": "check", "qid": qid, "points": result.points, "message": why + result.message})
        except BaseException as err:  # noqa: BLE001
            verb = "was" if isinstance(err, TimeLimit) else "raised"  # "was stopped after the 60 s time limit"
            emit({"type": "check", "qid": qid, "points": 0.0,
                  "message": f"{why}evaluating check({qid!r}, {step['expr']}) {verb} {_short(err)}"})
    return ns


def run_hidden_tests(tests: str, ns: dict, timeout: float, emit) -> None:
    """Run the instructor's pytest files in ``tests`` against the submission's namespace ``ns``."""
    import pytest

    answers = SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})
    failures = {}  # test node id -> first line of what went wrong
    owner = {}  # test node id -> (test name, question id from @pytest.mark.question)

    class HiddenTests:
        """Hands the submission to the tests (fixture ``submission``) and reports each outcome."""

        def pytest_configure(self, config):
            config.addinivalue_line("markers", "question(qid): the exercise this hidden test belongs to")

        @pytest.fixture(name="submission")
        def submission(self):
            return answers

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(self, item):
            with time_limit(timeout):
                return (yield)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(self, item, call):
            report = yield
            marker = item.get_closest_marker("question")
            owner[item.nodeid] = (item.name, marker.args[0] if marker and marker.args else None)
            if report.failed:
                crash = getattr(report.longrepr, "reprcrash", None)
                text = (crash.message if crash else str(report.longrepr)).strip() or "failed"
                failures.setdefault(item.nodeid, text.splitlines()[0][:MESSAGE_LIMIT])
            return report

        def pytest_runtest_logfinish(self, nodeid, location):
            name, qid = owner.get(nodeid, (nodeid, None))
            emit({"type": "test", "qid": qid, "name": name, "passed": nodeid not in failures,
                  "message": failures.get(nodeid, "")})

        def pytest_collectreport(self, report):
            if report.failed:
                emit({"type": "test-error", "message": f"instructor tests {report.nodeid} could not be collected"})

    args = [tests, "-q", "-s", "-p", "no:cacheprovider", "-p", "no:nbval", "-p", "no:xdist", "-p", "no:randomly",
            "-c", os.devnull, "--rootdir", tests, "--confcutdir", tests, "--import-mode=importlib"]
    pytest.main(args, plugins=[HiddenTests()])


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    sandbox = Path(plan["sandbox"])
    results = open(plan["results"], "a", encoding="utf-8")  # opened before the guard: outside the sandbox
    log = open(plan["log"], "w", encoding="utf-8")

    def emit(record: dict) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    # Files the student writes (and raw prints through fd 1/2) stop growing at this size instead of
    # filling the disk; SIGXFSZ would kill us, so ignore it and let the write fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (plan["file_limit"], plan["file_limit"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.dont_write_bytecode = True
    from dlext.homework import evaluate  # imported (with torch) before the student's code can touch it

    sys.stdout = sys.stderr = CappedOutput(log, plan["output_limit"])
    os.chdir(sandbox)
    sys.path.insert(0, str(sandbox))
    install_guard(sandbox)
    ns = run_cells(plan, emit, evaluate)
    if plan.get("tests"):
        run_hidden_tests(plan["tests"], ns, plan["timeout"], emit)
    emit({"type": "done"})
    sys.stdout.flush()
    os._exit(0)  # skip interpreter shutdown: the student's atexit handlers and finalizers do not run


if __name__ == "__main__":
    main(sys.argv[1])

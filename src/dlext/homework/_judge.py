"""Grade submissions: started by the grader with ``python -I -c ...`` (jobs arrive as JSON lines on stdin).

The judge is trusted code: the student's code never runs in it. It starts the submission's process
(``_child.py``) inside its sandbox (``_bwrap.py``: its own namespaces, a read-only view of the system
and of ``dlext``, a private scratch folder; then its own resource limits and seccomp filter), runs the
notebook's setup and exercise cells there, evaluates each ``check(...)`` here against the data and
stand-ins the child sends back, then runs the instructor's pytest files here with a ``submission``
fixture whose attributes are the notebook's names. It runs in an empty folder of its own, with an
import path the grader names (no submission folder on it), non-dumpable, under a memory limit. It
writes one JSON record per line on its standard output, which only the grader reads, every string in
it capped, ending each job with a ``done`` record. One judge grades one submission after another, so
torch and pytest are imported once per judge.
"""
import json
import os
import sys
import time

RECORD_TEXT = 4000  # characters of any string in a record (a message quoting a 20 MB answer is cut)


def _capped(value):
    if isinstance(value, str):
        return value if len(value) <= RECORD_TEXT else value[:RECORD_TEXT] + " [... cut]"
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v) for v in value[:1000]]
    return value


def main(memory_bytes: int) -> None:
    import resource

    from dlext.homework import _sandbox
    _sandbox.set_dumpable(False)  # nothing can open /proc/<judge>/mem or /proc/<judge>/fd
    if memory_bytes:
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
        except (ValueError, OSError):
            pass
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed here (pytest) goes to stderr, not into the records
    sys.stdout = sys.stderr

    def emit(record: dict) -> None:
        channel.write(json.dumps(_capped(record)) + "\n")
        channel.flush()

    import torch  # noqa: F401 - imported once, before the first job
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if "collect" in job:
            collect_tests(job["collect"], emit)
        else:
            grade_one(job, emit)
        emit({"type": "done"})


def _child_argv(job: dict) -> tuple[list[str], str]:
    """The command that starts the submission's process, and its working folder."""
    if job["isolation"] == "bwrap":
        from dlext.homework import _bwrap
        child = f"{_bwrap.PACKAGE_MOUNT}/dlext/homework/_child.py"
        argv = _bwrap.command([sys.executable, "-I", child], job["package"], job.get("data_dir"), job["disk_bytes"])
        return argv, job["sandbox"]
    return [sys.executable, "-I", job["child"]], job["sandbox"]


def grade_one(job: dict, emit) -> None:
    """Grade one submission (``job`` from ``grade.run_submission``), emitting its records."""
    import numpy as np
    import torch

    from dlext.homework import _proxy, evaluate
    torch.manual_seed(0)  # the same random state for every job: grades do not depend on the order
    np.random.seed(0)
    from dlext.homework import _bwrap
    home = _bwrap.WORKDIR if job["isolation"] == "bwrap" else job["sandbox"]  # as the submission's process sees it
    env = {"PATH": os.defpath, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": job["threads"], "MKL_NUM_THREADS": job["threads"],
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": home, "PYTHONDONTWRITEBYTECODE": "1"}
    if job.get("data_dir"):
        env["DLEXT_DATA_DIR"] = job["data_dir"]  # the course's public datasets, read-only
    config = {"cpu_seconds": job["total_timeout"], "memory_bytes": job["memory_bytes"],
              "file_bytes": job["file_bytes"], "output_limit": job["output_limit"], "timeout": job["timeout"]}
    argv, cwd = _child_argv(job)
    children = []
    with open(job["log"], "wb") as log:
        def start():
            deadline = time.monotonic() + job["total_timeout"]
            children.append(_proxy.Child(argv, env, cwd, log, job["timeout"], deadline, config))
            return children[-1]

        try:
            child = start()
        except _proxy.ChildStopped as err:
            emit({"type": "stopped", "message": f"the submission's process did not start: {err}"})
            return
        emit({"type": "child", "pid": child.proc.pid, "problems": child.problems})
        _proxy._ACTIVE.append(child)
        try:
            stopped_at = run_steps(child, job["steps"], emit, evaluate)
            if child.stopped:
                emit({"type": "stopped", "message": child.stopped})
            if job.get("tests") and child.stopped:
                # Instructor tests still run: in a fresh process that reruns the cells, leaving out the
                # one that stopped the first (hanging at the end must not dodge the instructor tests).
                _proxy._ACTIVE.remove(child)
                child = start()
                emit({"type": "child", "pid": child.proc.pid, "problems": []})
                _proxy._ACTIVE.append(child)
                for index, step in enumerate(job["steps"]):
                    if step["kind"] == "run" and index != stopped_at and not child.stopped:
                        try:
                            child.run(step["source"], step["cell"])
                        except (_proxy.ChildStopped, _proxy.SubmissionTimeout, Exception):  # noqa: BLE001
                            pass
            if job.get("tests"):
                run_tests(child, job["tests"], job["timeout"], emit)
                if child.stopped:
                    emit({"type": "test-error", "message": f"during the instructor tests: {child.stopped}"})
        except _proxy.ChildStopped as err:
            emit({"type": "test-error", "message": f"the submission's process stopped again: {err}"})
        finally:
            child.stop("finished", grace=2.0)
            if child in _proxy._ACTIVE:
                _proxy._ACTIVE.remove(child)
            if job["isolation"] == "bwrap":  # CPU that no wait() passes up (see Child.cpu_seconds)
                emit({"type": "cpu", "seconds": round(sum(c.cpu for c in children), 2)})


def _short(err: BaseException, limit: int = 1000) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= limit else text[:limit] + "..."


def run_steps(child, steps: list[dict], emit, evaluate) -> int | None:
    """Run the cells in the child and evaluate the checks here, in notebook order; return the index of
    the step during which the child stopped, if it did."""
    from dlext.homework._proxy import ChildStopped, SubmissionTimeout
    failed = {}  # cell index -> what it raised
    for index, step in enumerate(steps):
        if step["kind"] == "run":
            try:
                child.run(step["source"], step["cell"])
            except ChildStopped:
                return index
            except (SubmissionTimeout, Exception) as err:  # noqa: BLE001 - what the student's cell raised
                failed[step["cell"]] = str(err) if isinstance(err, SubmissionTimeout) else _short(err)
                first = next((l.strip() for l in step["source"].splitlines() if l.strip()), "")[:60]
                emit({"type": "cell", "cell": step["cell"], "first_line": first, "error": failed[step["cell"]]})
            continue
        qid, why = step["qid"], ""
        if step.get("answer_cell") in failed:
            why = f"your exercise cell raised {failed[step['answer_cell']]}; "
        try:
            result = evaluate(qid, child.evaluate(step["expr"]))
            emit({"type": "check", "qid": qid, "points": result.points, "message": why + result.message})
        except ChildStopped:
            return index
        except SubmissionTimeout as err:
            emit({"type": "check", "qid": qid, "points": 0.0,
                  "message": f"{why}evaluating check({qid!r}, {step['expr']}) was {err}"})
        except Exception as err:  # noqa: BLE001 - evaluating the answer expression raised
            emit({"type": "check", "qid": qid, "points": 0.0,
                  "message": f"{why}evaluating check({qid!r}, {step['expr']}) raised {_short(err)}"})
    return None


def run_tests(child, tests: str, timeout: float, emit) -> None:
    """Run the instructor's pytest files in ``tests`` here, against the submission's namespace."""
    import pytest

    from dlext.homework._proxy import Namespace
    from dlext.homework._runner import time_limit
    failures, owner = {}, {}  # test node id -> first line of what went wrong / (name, question id)

    class InstructorTests:
        def pytest_configure(self, config):
            config.addinivalue_line("markers", "question(qid): the exercise this instructor test belongs to")

        @pytest.fixture(name="submission")
        def submission(self):
            return Namespace(child)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(self, item):
            with time_limit(2 * timeout + 10):  # a backstop: each request to the child has its own limit
                return (yield)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(self, item, call):
            report = yield
            marker = item.get_closest_marker("question")
            owner[item.nodeid] = (item.name, marker.args[0] if marker and marker.args else None)
            if report.failed:
                crash = getattr(report.longrepr, "reprcrash", None)
                text = (crash.message if crash else str(report.longrepr)).strip() or "failed"
                failures.setdefault(item.nodeid, text.splitlines()[0][:1000])
            return report

        def pytest_runtest_logfinish(self, nodeid, location):
            name, qid = owner.get(nodeid, (nodeid, None))
            emit({"type": "test", "qid": qid, "name": name, "passed": nodeid not in failures,
                  "message": failures.get(nodeid, "")})

        def pytest_collectreport(self, report):
            if report.failed:
                emit({"type": "test-error", "message": f"instructor tests {report.nodeid} could not be collected"})

    pytest.main(_pytest_args(tests), plugins=[InstructorTests()])


def _pytest_args(tests: str) -> list[str]:
    return [tests, "-q", "-s", "-p", "no:cacheprovider", "-p", "no:nbval", "-p", "no:xdist", "-p", "no:randomly",
            "-c", os.devnull, "--rootdir", tests, "--confcutdir", tests, "--import-mode=importlib"]


def collect_tests(tests: str, emit) -> None:
    """Emit a ``collected`` record (name, question) for every instructor test: what each submission must run."""
    import pytest

    class Collector:
        def pytest_configure(self, config):
            config.addinivalue_line("markers", "question(qid): the exercise this instructor test belongs to")

        def pytest_collection_modifyitems(self, items):
            for item in items:
                marker = item.get_closest_marker("question")
                emit({"type": "collected", "name": item.name,
                      "qid": marker.args[0] if marker and marker.args else None})

        def pytest_collectreport(self, report):
            if report.failed:
                emit({"type": "test-error", "message": f"instructor tests {report.nodeid} could not be collected"})

    pytest.main(_pytest_args(tests) + ["--collect-only"], plugins=[Collector()])

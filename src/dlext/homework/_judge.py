"""Grade submissions: ``python -m dlext.homework._judge`` (jobs arrive as JSON lines on stdin).

The judge is trusted code: the student's code never runs in it. It starts the submission's process
(``_child.py``: its own session, resource limits, seccomp filter, a minimal environment, run from a
temporary copy of the package in a temporary folder), runs the notebook's setup and exercise cells
there, evaluates each ``check(...)`` here against the data and stand-ins the child sends back, then
runs the instructor's pytest files here with a ``submission`` fixture whose attributes are the
notebook's names. It writes one JSON record per line on its standard output, which only the grader
reads (a pipe: the submission has no path to it), ending each job with a ``done`` record. One judge
grades one submission after another, so torch and pytest are imported once per judge.
"""
import json
import os
import sys
import time


def main() -> None:
    from dlext.homework import _sandbox
    _sandbox.set_dumpable(False)  # the submission cannot open /proc/<judge>/mem or /proc/<judge>/fd
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed here (pytest) goes to stderr, not into the records
    sys.stdout = sys.stderr

    def emit(record: dict) -> None:
        channel.write(json.dumps(record) + "\n")
        channel.flush()

    import torch  # noqa: F401 - imported once, before the first job
    for line in sys.stdin:
        if line.strip():
            grade_one(json.loads(line), emit)
            emit({"type": "done"})


def grade_one(job: dict, emit) -> None:
    """Grade one submission (``job`` from ``grade.run_submission``), emitting its records."""
    import numpy as np
    import torch

    from dlext.homework import _proxy, evaluate
    torch.manual_seed(0)  # the same random state for every job: grades do not depend on the order
    np.random.seed(0)
    env = {"PATH": os.defpath, "HOME": job["sandbox"], "TMPDIR": job["sandbox"], "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": job["threads"], "MKL_NUM_THREADS": job["threads"],
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": job["sandbox"], "PYTHONDONTWRITEBYTECODE": "1"}
    if job.get("data_dir"):
        env["DLEXT_DATA_DIR"] = job["data_dir"]  # the course's public datasets, read-only
    config = {"cpu_seconds": job["total_timeout"], "memory_bytes": job["memory_bytes"],
              "file_bytes": job["file_bytes"], "output_limit": job["output_limit"], "timeout": job["timeout"]}
    with open(job["log"], "wb") as log:
        def start():
            deadline = time.monotonic() + job["total_timeout"]
            return _proxy.Child([sys.executable, "-I", job["child"]], env, job["sandbox"], log, job["timeout"],
                                deadline, config)

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
            child.stop("finished")
            if child in _proxy._ACTIVE:
                _proxy._ACTIVE.remove(child)


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

    args = [tests, "-q", "-s", "-p", "no:cacheprovider", "-p", "no:nbval", "-p", "no:xdist", "-p", "no:randomly",
            "-c", os.devnull, "--rootdir", tests, "--confcutdir", tests, "--import-mode=importlib"]
    pytest.main(args, plugins=[InstructorTests()])


if __name__ == "__main__":
    main()

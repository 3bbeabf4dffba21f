"""Grade one submission: ``python -m dlext.homework._judge`` (the job arrives as JSON on stdin).

The judge is trusted code: the student's code never runs in it. It starts the submission's process
(``_child.py``: its own session, resource limits, seccomp filter, a minimal environment, run from a
temporary copy of the package in a temporary folder), runs the notebook's setup and exercise cells
there, evaluates each ``check(...)`` here against the data and stand-ins the child sends back, then
runs the instructor's pytest files here with a ``submission`` fixture whose attributes are the
notebook's names. It writes one JSON record per line on its standard output, which only the grader
reads (a pipe: the submission has no path to it).
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
    job = json.loads(sys.stdin.read())

    def emit(record: dict) -> None:
        channel.write(json.dumps(record) + "\n")
        channel.flush()

    from dlext.homework import _proxy, evaluate
    env = {"PATH": os.defpath, "HOME": job["sandbox"], "TMPDIR": job["sandbox"], "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": job["threads"], "MKL_NUM_THREADS": job["threads"],
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": job["sandbox"], "PYTHONDONTWRITEBYTECODE": "1"}
    if job.get("data_dir"):
        env["DLEXT_DATA_DIR"] = job["data_dir"]  # the course's public datasets, read-only
    config = {"cpu_seconds": job["total_timeout"], "memory_bytes": job["memory_bytes"],
              "file_bytes": job["file_bytes"], "output_limit": job["output_limit"], "timeout": job["timeout"]}
    deadline = time.monotonic() + job["total_timeout"]
    with open(job["log"], "wb") as log:
        try:
            child = _proxy.Child([sys.executable, "-I", job["child"]], env, job["sandbox"], log, job["timeout"],
                                 deadline, config)
        except _proxy.ChildStopped as err:
            emit({"type": "stopped", "message": f"the submission's process did not start: {err}"})
            emit({"type": "done"})
            return
        emit({"type": "child", "pid": child.proc.pid, "problems": child.problems})
        _proxy._ACTIVE.append(child)
        try:
            run_steps(child, job["steps"], emit, evaluate)
            if job.get("tests"):
                run_tests(child, job["tests"], job["timeout"], emit)
        finally:
            if child.stopped:
                emit({"type": "stopped", "message": child.stopped})
            child.stop("finished")
    emit({"type": "done"})


def _short(err: BaseException, limit: int = 1000) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= limit else text[:limit] + "..."


def run_steps(child, steps: list[dict], emit, evaluate) -> None:
    """Run the cells in the child and evaluate the checks here, in notebook order."""
    from dlext.homework._proxy import ChildStopped, SubmissionTimeout
    failed = {}  # cell index -> what it raised
    for step in steps:
        if step["kind"] == "run":
            try:
                child.run(step["source"], step["cell"])
            except ChildStopped:
                return
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
            return
        except SubmissionTimeout as err:
            emit({"type": "check", "qid": qid, "points": 0.0,
                  "message": f"{why}evaluating check({qid!r}, {step['expr']}) was {err}"})
        except Exception as err:  # noqa: BLE001 - evaluating the answer expression raised
            emit({"type": "check", "qid": qid, "points": 0.0,
                  "message": f"{why}evaluating check({qid!r}, {step['expr']}) raised {_short(err)}"})


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

"""Grade a folder of submitted notebooks: ``python -m dlext.homework grade SUBMISSION... --out DIR``.

Each submission is graded by a judge process (``_judge.py``) that starts the submission's own process
(``_child.py``) in a temporary folder (its HOME and TMPDIR) and computes every verdict itself from
the data that process sends back (see ``_proxy.py``). Only the setup, exercise and check cells run, never the
Colab cell or the chapter's training cells. Cells are found by their tags and, when a student's
notebook lost them, from the ``check("cnn.q1", answer)`` calls themselves (read with ``ast``). The
questions and their points come from the registry (``dlext.exercises``) for the topics that the
submissions' check calls name, so a deleted check cell scores 0 instead of vanishing. Writes
``DIR/grades.csv``, ``DIR/<student>.json`` (Gradescope's ``results.json`` shape; instructor tests
only as counts) and ``DIR/instructor/<student>.json`` (instructor test names and messages).
"""
import ast
import csv
import json
import os
import shutil
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from dlext import data
from dlext.homework import _QID, Question, _sandbox, questions
from dlext.homework.release import python_code

OUTPUT_LIMIT = 64_000  # characters of a submission's printed output that are kept
EXCERPT = 4000  # characters of it in the student's results file (the instructor's file has all it kept)


def _excerpt(output: str) -> str:
    """The start of the printed output, at most EXCERPT characters, saying so when it is cut."""
    if len(output) <= EXCERPT:
        return output
    note = f"\n[... {len(output) - (EXCERPT - 100):,} more characters not shown here]"
    return output[:EXCERPT - 100] + note
FILE_LIMIT = 16 * 2**20  # bytes: no file the submission writes may grow beyond this


def check_calls(source: str) -> list[tuple[str, str]]:
    """The ``(question id, answer expression)`` of every ``check("topic.qN", answer)`` call in a cell."""
    try:
        code = python_code(source)
        tree = ast.parse(code)
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        keyword = next((k.value for k in node.keywords if k.arg == "answer"), None)
        answer = node.args[1] if len(node.args) > 1 else keyword
        qid = node.args[0] if node.args else None
        if (name == "check" and answer is not None and isinstance(qid, ast.Constant)
                and isinstance(qid.value, str) and _QID.match(qid.value)):
            calls.append((qid.value, ast.get_source_segment(code, answer)))
    return sorted(calls, key=lambda call: source.find(call[1]))


def _tags(cell) -> set:
    return set(cell.metadata.get("tags", []))


def _imports_dlext(source: str) -> bool:
    try:
        tree = ast.parse(python_code(source))
    except SyntaxError:
        return False
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    return any(name == "dlext" or name.startswith("dlext.") for name in names)


def plan_steps(nb) -> list[dict]:
    """The cells to run and the checks to evaluate, in notebook order (see the module docstring)."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    colab = {i for i, c in code if "colab-setup" in _tags(c) or "google.colab" in c.source}
    code = [(i, c) for i, c in code if i not in colab]
    calls = {i: check_calls(c.source) for i, c in code}
    checks = {i for i, c in code if "check" in _tags(c) or calls[i]}
    setup = {i for i, c in code if "setup" in _tags(c)}
    if not setup:  # tags lost: the first cell that imports dlext
        setup = {next((i for i, c in code if i not in checks and _imports_dlext(c.source)), -1)}
    exercise = {i for i, c in code if "exercise" in _tags(c) or "question" in c.metadata.get("dlext", {})}
    answer_cell, previous = {}, -1
    for i in sorted(checks):  # each check's answer: the exercise cell before it, else the code cell before it
        tagged = [j for j in exercise if previous < j < i]
        before = [j for j, _ in code if previous < j < i and j not in checks | setup]
        if tagged or before:
            answer_cell[i] = max(tagged or before)
            exercise.add(answer_cell[i])
        previous = i
    steps = []
    for i, cell in code:
        if i in setup or (i in exercise and i not in checks):
            steps.append({"kind": "run", "cell": i, "source": python_code(cell.source)})
        for qid, expr in calls[i] if i in checks else []:
            steps.append({"kind": "check", "cell": i, "qid": qid, "expr": expr, "answer_cell": answer_cell.get(i)})
    return steps


def read_submission(path: Path) -> tuple[list[dict], str]:
    """``(steps, problem)``: the plan of a submission, or why it cannot be graded."""
    try:
        nb = nbformat.read(path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
        return plan_steps(nb), ""
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported in the grades
        return [], f"{path.name} is not a readable Jupyter notebook ({type(err).__name__}: {str(err)[:200]})"


def pytest_missing() -> str:
    """Why instructor tests cannot run here ("" when pytest is importable)."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        return "grading needs pytest to run instructor tests: install it with  pip install 'dlext[grade]'"
    return ""


def copy_package(root: Path) -> Path:
    """A read-only copy of the installed dlext package under ``root``; returns the path of its ``_child.py``."""
    source = Path(__file__).resolve().parents[1]
    target = root / "dlext"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(target.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    return target / "homework" / "_child.py"


class Judge:
    """A judge process (``_judge.py``) that grades the submissions one thread hands it, one at a time."""

    def __init__(self, errors: Path):
        self.proc, self.errors = None, errors

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DLEXT_METRICS", "PYTEST", "JPY"))}
        package = str(Path(__file__).resolve().parents[2])  # the folder holding this dlext, for the judge only
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package, env.get("PYTHONPATH")]))
        env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        with open(self.errors, "ab") as errors:
            self.proc = subprocess.Popen([sys.executable, "-m", "dlext.homework._judge"], cwd=self.errors.parent,
                                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                         start_new_session=True)
        self.buffer = b""

    def close(self) -> None:
        """End the judge process (it finishes the job it is on, if any, within 30 s)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc = None

    def run(self, job: dict, seconds: float) -> list[dict]:
        """Grade one job; the records, ending with ``done`` or, when the judge ended early, ``stopped``."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        records, deadline = [], time.monotonic() + seconds
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            return [{"type": "stopped", "message": "the grading process could not be started"}]
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("type"), str):
                    records.append(record)
                    if record["type"] == "done":
                        return records
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], min(max(left, 0), 1.0))[0] if left > 0 else []
            chunk = os.read(fd, 1 << 16) if ready else b""
            if ready and chunk:
                self.buffer += chunk
                continue
            if ready or left <= 0:  # the judge ended, or it ran past the backstop
                code = self.proc.poll()
                self.kill()
                why = "it ran past the overall time limit" if left <= 0 else f"exit code {code}"
                records.append({"type": "stopped", "message": f"grading stopped early ({why})"})
                return records


def run_submission(judge: Judge, steps: list[dict], folder: Path, child: Path, timeout: float,
                   total_timeout: float, tests: Path | None, memory: int) -> tuple[list[dict], str]:
    """Grade one submission's plan with ``judge``; return its records and printed output."""
    sandbox = folder / "work"
    sandbox.mkdir(parents=True)
    job = {"steps": steps, "sandbox": str(sandbox), "log": str(folder / "output.txt"), "child": str(child),
           "timeout": timeout, "total_timeout": total_timeout, "output_limit": OUTPUT_LIMIT,
           "file_bytes": FILE_LIMIT, "memory_bytes": memory, "tests": str(Path(tests).resolve()) if tests else None,
           "threads": os.environ.get("OMP_NUM_THREADS", "1"), "data_dir": str(data.data_dir())}
    records = judge.run(job, 2 * total_timeout + 60)  # the judge's own limits come first: a backstop
    for record in records:  # the submission's process may outlive a judge that was killed: end it
        if record["type"] == "child" and isinstance(record.get("pid"), int):
            try:
                os.killpg(record["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    output = _read(folder / "output.txt")
    if len(output) > OUTPUT_LIMIT:  # the capped stream's own note sits past the limit: keep saying it
        output = output[:OUTPUT_LIMIT] + "\n[output limit reached: the rest of the printed output was dropped]\n"
    return records, output


def _read(path: Path) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        return f.read(2 * OUTPUT_LIMIT).decode("utf-8", errors="replace")


def score(student: str, known: list[Question], records: list[dict], problem: str) -> dict:
    """Gradescope ``results.json`` for one student from the judge's records.

    Instructor tests appear only as counts per question; their names and messages are for
    :func:`instructor_report`."""
    checks = {r["qid"]: r for r in records if r["type"] == "check"}  # the last check call of a question wins
    hidden = [r for r in records if r["type"] == "test"]
    stopped = next((r["message"] for r in records if r["type"] == "stopped"), "")
    tests = []
    for q in known:
        result = checks.get(q.qid)
        if problem:
            points, message = 0.0, problem
        elif result is None:
            missing = f"no check({q.qid!r}, ...) call found in the notebook (was its check cell deleted?)"
            points, message = 0.0, (f"not graded: {stopped}" if stopped else missing)
        else:
            points, message = min(float(result["points"]), q.points), str(result["message"])
        mine = [t for t in hidden if t.get("qid") == q.qid]
        failed = [t for t in mine if not t.get("passed")]
        if failed and points:
            points = 0.0
            message = (f"the public check passed, but {len(failed)} of {len(mine)} instructor tests of this "
                       "question failed")
        tests.append({"name": f"{q.qid}: {q.title}" if q.title else q.qid, "score": points,
                      "max_score": q.points, "output": message})
    notes = [f"the cell starting {r['first_line']!r} raised {r['error']}" for r in records if r["type"] == "cell"]
    if stopped:
        notes.append(stopped)
    return {"score": sum(t["score"] for t in tests), "output": "\n".join([problem] + notes if problem else notes),
            "tests": tests, "stdout_visibility": "hidden"}


def instructor_report(records: list[dict]) -> dict:
    """What only the instructor sees: every instructor test with its message, and the grader's notes."""
    notes = [r["message"] for r in records if r["type"] == "test-error"]
    notes += [f"instructor test {t['name']} has no @pytest.mark.question and was not counted"
              for t in records if t["type"] == "test" and t.get("qid") is None]
    notes += [f"sandbox: {p}" for r in records if r["type"] == "child" for p in r.get("problems", [])]
    tests = [{k: t.get(k) for k in ("qid", "name", "passed", "message")} for t in records if t["type"] == "test"]
    return {"instructor_tests": tests, "notes": notes}


def grade(submissions: list[Path], out_dir: Path, tests: Path | None = None, timeout: float = 60,
          total_timeout: float | None = None, jobs: int = 1, memory_mb: int = 4096) -> list[dict]:
    """Grade every submission; write ``grades.csv``, one JSON per student and ``instructor/<student>.json``;
    return the CSV rows. Raises ValueError if pytest (the ``grade`` extra) is missing."""
    missing = pytest_missing()
    if missing:
        raise ValueError(missing)
    submissions = [n for p in map(Path, submissions) for n in (sorted(p.glob("*.ipynb")) if p.is_dir() else [p])]
    students = [p.stem for p in submissions]
    if len(set(students)) != len(students):
        raise ValueError("two submissions have the same file name (the student's name): "
                         + ", ".join(sorted({s for s in students if students.count(s) > 1})))
    if tests is not None and not Path(tests).is_dir():
        raise ValueError(f"--tests must be a folder of pytest files, got {tests}")
    if not (isinstance(memory_mb, int) and memory_mb >= 512):
        raise ValueError(f"memory_mb must be an int of at least 512 (MB), got {memory_mb!r}")
    plans = {s: read_submission(p) for s, p in zip(students, submissions)}
    topics = _topics([steps for steps, problem in plans.values() if not problem])
    known = [q for topic in topics for q in _known(topic)]
    out_dir = Path(out_dir)
    (out_dir / "instructor").mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dlext-grade-"))
    package = Path(tempfile.mkdtemp(prefix="dlext-package-"))

    def one(student: str) -> dict:
        steps, problem = plans[student]
        start = time.monotonic()
        records, output = [], ""
        if not problem:
            limit = total_timeout or 60 + timeout * (len(steps) + 1)
            folder = Path(tempfile.mkdtemp(dir=root))  # a random name: no student's name in the path
            if not hasattr(local, "judge"):
                local.judge = Judge(root / f"judge-{len(judges)}.err")
                judges.append(local.judge)
            records, output = run_submission(local.judge, steps, folder, child, timeout, limit, tests,
                                             memory_mb * 2**20)
        results = score(student, known, records, problem)
        results["execution_time"] = round(time.monotonic() - start, 1)
        results["extra_data"] = {"printed_output": _excerpt(output)}
        (out_dir / f"{student}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        report = {"student": student, **instructor_report(records), "printed_output": output}
        (out_dir / "instructor" / f"{student}.json").write_text(json.dumps(report, indent=1) + "\n",
                                                                encoding="utf-8")
        return results

    local, judges = threading.local(), []
    dumpable = _sandbox.set_dumpable(False)  # submissions cannot reach this process through /proc
    try:
        child = copy_package(package)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = dict(zip(students, pool.map(one, students)))
    finally:
        for judge in judges:
            judge.close()
        if dumpable:
            _sandbox.set_dumpable(True)
        shutil.rmtree(root, ignore_errors=True)
        for path in [package, *package.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(package, ignore_errors=True)
    rows = [{"student": s, "question": q.qid, "points": t["score"], "max_points": t["max_score"]}
            for s in sorted(results) for q, t in zip(known, results[s]["tests"])]
    if not known:  # not one readable check call in the whole folder: still list every student
        rows = [{"student": s, "question": "", "points": 0.0, "max_points": 0.0} for s in sorted(results)]
    with open(out_dir / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "question", "points", "max_points"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _topics(plans: list[list[dict]]) -> list[str]:
    """Topics named by the check calls of at least half the readable submissions (one stray pasted
    check call does not add another chapter's questions to everyone's grades)."""
    named = [{s["qid"].split(".")[0] for s in steps if s["kind"] == "check"} for steps in plans]
    return sorted(t for t in set().union(*named) if 2 * sum(t in n for n in named) >= len(named))


def _known(topic: str) -> list[Question]:
    try:
        return questions(topic)
    except ValueError:
        return []  # a check call naming an unknown topic: nothing to grade for it

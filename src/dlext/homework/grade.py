"""Grade a folder of submitted notebooks: ``python -m dlext.homework grade SUBMISSION... --out DIR``.

Each submission runs in a fresh process (``_runner.py``) inside its own temporary folder, which is
also its HOME, TMPDIR and MPLCONFIGDIR. Only the setup, exercise and check cells run, never the
Colab cell or the chapter's training cells. Cells are found by their tags and, when a student's
notebook lost them, from the ``check("cnn.q1", answer)`` calls themselves (read with ``ast``). The
questions and their points come from the registry (``dlext.exercises``) for the topics that the
submissions' check calls name, so a deleted check cell scores 0 instead of vanishing. Writes
``DIR/grades.csv`` and ``DIR/<student>.json`` (Gradescope's ``results.json`` shape).
"""
import ast
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from dlext import data
from dlext.homework import _QID, Question, questions
from dlext.homework.release import python_code

OUTPUT_LIMIT = 64_000  # characters of a submission's printed output that are kept
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


def run_submission(steps: list[dict], folder: Path, timeout: float, total_timeout: float,
                   tests: Path | None) -> tuple[list[dict], str]:
    """Run one submission's plan in a fresh sandboxed process; return its result records and output."""
    sandbox = folder / "work"
    sandbox.mkdir(parents=True)
    plan = {"steps": steps, "sandbox": str(sandbox), "results": str(folder / "results.jsonl"),
            "log": str(folder / "output.txt"), "timeout": timeout, "output_limit": OUTPUT_LIMIT,
            "file_limit": FILE_LIMIT, "tests": str(tests.resolve()) if tests else None}
    (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLEXT_METRICS", "PYTEST", "JPY"))}
    env.update(HOME=str(sandbox), TMPDIR=str(sandbox), MPLCONFIGDIR=str(sandbox), MPLBACKEND="Agg",
               PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))  # holds dlext
    env.setdefault(data.ENV_DIR, str(data.data_dir()))  # the instructor's dataset cache, not one per sandbox
    with open(folder / "stdout.txt", "wb") as raw:
        proc = subprocess.Popen([sys.executable, "-m", "dlext.homework._runner", str(folder / "plan.json")],
                                cwd=sandbox, env=env, stdin=subprocess.DEVNULL, stdout=raw, stderr=raw,
                                start_new_session=True)
        try:
            proc.wait(timeout=total_timeout)
            stopped = "" if proc.returncode == 0 else f"the grading process ended with exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the student's children go too
            proc.wait()
            stopped = f"the notebook ran past the overall time limit of {total_timeout:g} s"
    records = []
    for line in (folder / "results.jsonl").read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # a line cut short when the process was killed
    if not any(r["type"] == "done" for r in records):
        records.append({"type": "stopped", "message": stopped or "the grading process stopped early"})
    output = _read(folder / "output.txt") + _read(folder / "stdout.txt")
    return records, output[:OUTPUT_LIMIT]


def _read(path: Path) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        return f.read(2 * OUTPUT_LIMIT).decode("utf-8", errors="replace")


def score(student: str, known: list[Question], records: list[dict], problem: str) -> dict:
    """Gradescope ``results.json`` for one student from the runner's records."""
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
            points, message = min(float(result["points"]), q.points), result["message"]
        failed = [t for t in hidden if t["qid"] == q.qid and not t["passed"]]
        if failed and points:
            points, message = 0.0, "; ".join(f"hidden test {t['name']} failed: {t['message']}" for t in failed)
        tests.append({"name": f"{q.qid}: {q.title}" if q.title else q.qid, "score": points,
                      "max_score": q.points, "output": message})
    notes = [f"the cell starting {r['first_line']!r} raised {r['error']}" for r in records if r["type"] == "cell"]
    notes += [r["message"] for r in records if r["type"] == "test-error"]
    notes += [f"hidden test {t['name']} has no @pytest.mark.question and was not counted"
              for t in hidden if t["qid"] is None]
    if stopped:
        notes.append(stopped)
    return {"score": sum(t["score"] for t in tests), "output": "\n".join([problem] + notes if problem else notes),
            "tests": tests, "stdout_visibility": "hidden"}


def grade(submissions: list[Path], out_dir: Path, tests: Path | None = None, timeout: float = 60,
          total_timeout: float | None = None, jobs: int = 1) -> list[dict]:
    """Grade every submission; write ``grades.csv`` and one JSON per student; return the CSV rows."""
    submissions = [n for p in map(Path, submissions) for n in (sorted(p.glob("*.ipynb")) if p.is_dir() else [p])]
    students = [p.stem for p in submissions]
    if len(set(students)) != len(students):
        raise ValueError("two submissions have the same file name (the student's name): "
                         + ", ".join(sorted({s for s in students if students.count(s) > 1})))
    if tests is not None and not Path(tests).is_dir():
        raise ValueError(f"--tests must be a folder of pytest files, got {tests}")
    plans = {s: read_submission(p) for s, p in zip(students, submissions)}
    topics = _topics([steps for steps, problem in plans.values() if not problem])
    known = [q for topic in topics for q in _known(topic)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dlext-grade-"))

    def one(student: str) -> dict:
        steps, problem = plans[student]
        start = time.monotonic()
        records, output = [], ""
        if not problem:
            limit = total_timeout or 60 + timeout * (len(steps) + 1)  # a backstop for alarms that never fire
            records, output = run_submission(steps, root / student, timeout, limit, tests)
        results = score(student, known, records, problem)
        results["execution_time"] = round(time.monotonic() - start, 1)
        results["extra_data"] = {"printed_output": output[:4000]}
        (out_dir / f"{student}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        return results

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = dict(zip(students, pool.map(one, students)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
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

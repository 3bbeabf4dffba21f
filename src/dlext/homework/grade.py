"""Grade a folder of submitted notebooks: ``python -m dlext.homework grade SUBMISSION... --out DIR``.

Each submission is graded by a judge process (``_judge.py``) that starts the submission's own process
(``_child.py``) in a sandbox (``_bwrap.py``) and computes every verdict itself from the data that
process sends back (see ``_proxy.py``). Only the setup, exercise and check cells run, never the Colab
cell or the chapter's training cells. Cells are found by their tags and, when a student's notebook
lost them, from the ``check("cnn.q1", answer)`` calls themselves (read with ``ast``). The questions
and their points come from the registry (``dlext.exercises``) for the topics the instructor names:
the released notebook's check calls, or ``--questions``; never from what submissions call. A deleted
check cell scores 0 instead of vanishing. Writes ``DIR/grades.csv``, ``DIR/<student>.json``
(Gradescope's ``results.json`` shape; instructor tests only as counts),
``DIR/instructor/<student>.json`` (instructor test names and messages, the isolation used) and
``DIR/grading.log`` (the isolation, the questions, the folder entries that were skipped).
"""
import ast
import csv
import io
import json
import os
import queue
import shutil
import select
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from dlext import data
from dlext.homework import _QID, Question, _bwrap, _sandbox, lookup, questions
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
NOTEBOOK_LIMIT = 64 * 2**20  # bytes: a bigger "notebook" is not read
LINE_LIMIT = 8 * 2**20  # bytes of one record from a judge (its strings are capped far below this)


def check_calls(source: str) -> list[tuple[str, str]]:
    """The ``(question id, answer expression)`` of every ``check("topic.qN", answer)`` call in a cell,
    in source order; linear in the cell's length however many calls it holds."""
    try:
        code = python_code(source)
        tree = ast.parse(code)
    except SyntaxError:
        return []
    raw = code.encode("utf-8")  # ast offsets count UTF-8 bytes
    starts = [0]
    for line in raw.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
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
            begin = starts[answer.lineno - 1] + answer.col_offset
            end = starts[answer.end_lineno - 1] + answer.end_col_offset
            calls.append(((node.lineno, node.col_offset), qid.value, raw[begin:end].decode("utf-8", "replace")))
    return [(qid, expr) for _, qid, expr in sorted(calls)]


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


def plan_steps(nb, graded: set[str] | None = None) -> list[dict]:
    """The cells to run and the checks to evaluate, in notebook order (see the module docstring).

    With ``graded`` (question ids), only the last check call of each graded question is kept: the last
    call is the one that counts, and the others would only cost time."""
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
    if graded is not None:
        last = {s["qid"]: n for n, s in enumerate(steps) if s["kind"] == "check"}
        steps = [s for n, s in enumerate(steps) if s["kind"] == "run" or (s["qid"] in graded and last[s["qid"]] == n)]
    return steps


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file, opened without following a symlink and without blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > NOTEBOOK_LIMIT:
            raise ValueError(f"it is larger than {NOTEBOOK_LIMIT // 2**20} MB")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(NOTEBOOK_LIMIT + 1)
    finally:
        os.close(fd)


def read_notebook(path: Path):
    """The notebook at ``path`` (read safely: see :func:`_read_file`)."""
    nb = nbformat.reads(_read_file(path).decode("utf-8"), as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("it has no list of cells")
    return nb


def read_submission(path: Path, graded: set[str] | None = None) -> tuple[list[dict], str]:
    """``(steps, problem)``: the plan of a submission, or why it cannot be graded."""
    try:
        return plan_steps(read_notebook(path), graded), ""
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported in the grades
        return [], f"{path.name} is not a readable Jupyter notebook ({type(err).__name__}: {str(err)[:200]})"


def list_submissions(paths: list[Path]) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(student, path)`` for every submitted notebook, and what was skipped and why: the folder is the
    students', so symlinks, FIFOs, devices, folders and names that are not UTF-8 are reported and left out."""
    found, skipped = [], []
    for given in map(Path, paths):
        if given.is_dir() and not given.is_symlink():
            entries = sorted((Path(given, e.name) for e in os.scandir(given) if e.name.endswith(".ipynb")), key=str)
        else:
            entries = [given]
        for path in entries:
            try:
                path.name.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{ascii(str(path))}: the file name is not UTF-8")
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError as err:
                skipped.append(f"{path}: {err.strerror}")
                continue
            if stat.S_ISLNK(mode):
                skipped.append(f"{path}: a symbolic link (submissions must be plain files)")
            elif not stat.S_ISREG(mode):
                skipped.append(f"{path}: not a plain file (a folder, FIFO, socket or device)")
            else:
                found.append((path.stem, path))
    return found, skipped


def graded_questions(released: Path | None = None, names: list[str] | None = None) -> list[Question]:
    """The questions to grade, from the instructor: every question of the topics whose check calls the
    released notebook makes, and each topic (``cnn``) or question id (``cnn.q2``) in ``names``."""
    wanted = []
    if released is not None:
        nb = read_notebook(Path(released))
        qids = [q for c in nb.cells if c.get("cell_type") == "code" for q, _ in check_calls(c.source)]
        if not qids:
            raise ValueError(f"--released {released} has no check(\"topic.qN\", ...) call: which questions?")
        wanted += sorted({q.split(".")[0] for q in qids})
    wanted += list(names or [])
    if not wanted:
        raise ValueError("name the questions to grade: --released NOTEBOOK (the notebook you handed out) "
                         "or --questions TOPIC[,TOPIC...] (e.g. --questions cnn, or cnn.q1,cnn.q2)")
    known = []
    for name in wanted:
        found = [lookup(name)] if _QID.match(name) else questions(name)  # ValueError naming what exists
        known += [q for q in found if q not in known]
    return known


def pytest_missing() -> str:
    """Why instructor tests cannot run here ("" when pytest is importable)."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        return "grading needs pytest to run instructor tests: install it with  pip install 'dlext[grade]'"
    return ""


def copy_package(root: Path) -> Path:
    """A copy of the installed dlext package under ``root`` (folders read-only by mode: without a sandbox
    that is all there is); returns the path of its ``_child.py``."""
    source = Path(__file__).resolve().parents[1]
    target = root / "dlext"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(target.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    return target / "homework" / "_child.py"


def remove_tree(root: Path) -> None:
    """Delete ``root``, which a submission may have filled with symlinks: only folders are made writable,
    through descriptors of the folders themselves (``os.fwalk`` follows no symlink), then ``rmtree``."""
    try:
        for _, _, _, dir_fd in os.fwalk(root, follow_symlinks=False):
            os.chmod(dir_fd, 0o700)  # fchmod: the folder this descriptor opened, never a link's target
    except OSError:
        pass
    shutil.rmtree(root, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` through a new temporary file renamed over it: a FIFO or symlink planted at ``path``
    is replaced, never opened."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def _csv_cell(value):
    """A spreadsheet reads a cell starting with = + - @ (or a tab or CR) as a formula: quote it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


_JUDGE_MAIN = ("import json, sys; sys.dont_write_bytecode = True; sys.path[:0] = json.loads(sys.argv[1]); "
               "from dlext.homework._judge import main; main(int(sys.argv[2]))")


class Judge:
    """A judge process (``_judge.py``) that grades the submissions one thread hands it, one at a time."""

    def __init__(self, errors: Path, folder: Path, path: list[str], memory_bytes: int):
        self.proc, self.errors, self.folder, self.path, self.memory = None, errors, folder, path, memory_bytes

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DLEXT_METRICS", "PYTEST", "JPY"))}
        env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        # -I: no PYTHONPATH, no user site, no script folder on sys.path: the path is the one given here
        with open(self.errors, "ab") as errors:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _JUDGE_MAIN, json.dumps(self.path),
                                          str(self.memory)], cwd=self.folder, env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=errors, start_new_session=True)
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
            if ready and chunk and len(self.buffer) < LINE_LIMIT:
                self.buffer += chunk
                continue
            if ready or left <= 0:  # the judge ended, sent an endless line, or ran past the backstop
                code = self.proc.poll()
                self.kill()
                why = "it ran past the overall time limit" if left <= 0 else f"exit code {code}"
                records.append({"type": "stopped", "message": f"grading stopped early ({why})"})
                return records


def run_submission(judge: Judge, steps: list[dict], folder: Path, child: Path | None, timeout: float,
                   total_timeout: float, tests: Path | None, memory: int, disk: int = 256 * 2**20) -> tuple[list[dict], str]:
    """Grade one submission's plan with ``judge``; return its records and printed output. ``child`` is the
    unsandboxed ``_child.py`` (``--unsafe-no-sandbox``); None runs the submission in its sandbox."""
    sandbox = folder / "work"
    sandbox.mkdir(parents=True)
    job = {"steps": steps, "sandbox": str(sandbox) if child else "/", "log": str(folder / "output.txt"),
           "child": str(child) if child else None, "isolation": "none" if child else "bwrap",
           "package": str(Path(__file__).resolve().parents[1]), "disk_bytes": disk,
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
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(2 * OUTPUT_LIMIT).decode("utf-8", errors="replace") if stat.S_ISREG(os.fstat(fd).st_mode) else ""


def _not_run(records: list[dict], collected: list[dict]) -> list[dict]:
    """The instructor tests that were collected but never reported for this submission: failed, with why."""
    from collections import Counter
    left = Counter(t.get("name") for t in records if t["type"] == "test")
    stopped = next((r["message"] for r in reversed(records) if r["type"] in ("stopped", "test-error")), "")
    missing = []
    for test in collected:
        if left[test["name"]] > 0:
            left[test["name"]] -= 1
        else:
            why = f"it did not run: {stopped}" if stopped else "it did not run (the grading of this submission stopped)"
            missing.append({"type": "test", "qid": test["qid"], "name": test["name"], "passed": False, "message": why})
    return missing


def score(student: str, known: list[Question], records: list[dict], problem: str) -> dict:
    """Gradescope ``results.json`` for one student from the judge's records.

    Instructor tests appear only as counts per question; their names and messages are for
    :func:`instructor_report`. An instructor test that did not run counts as failed."""
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
            points, message = min(float(result["points"]), q.points), str(result["message"])[:2000]
        mine = [t for t in hidden if t.get("qid") == q.qid]
        failed = [t for t in mine if not t.get("passed")]
        if failed and points:
            points = 0.0
            message = (f"the public check passed, but {len(failed)} of {len(mine)} instructor tests of this "
                       "question failed")
        tests.append({"name": f"{q.qid}: {q.title}" if q.title else q.qid, "score": points,
                      "max_score": q.points, "output": message})
    notes = [f"the cell starting {r['first_line']!r} raised {r['error']}"[:2000] for r in records if r["type"] == "cell"]
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
    cpu = sum(r["seconds"] for r in records if r["type"] == "cpu" and isinstance(r.get("seconds"), (int, float)))
    return {"instructor_tests": tests, "notes": notes, "sandboxed_cpu_seconds": cpu}


SANDBOX = ("bubblewrap sandbox: own PID, network (none), IPC, UTS, cgroup and user namespaces; read-only "
           "system, Python and dlext; a private {disk} MB tmpfs (and a 16 MB /dev/shm) its only writable folders; "
           "its own session; then resource limits and the seccomp filter inside")
NO_SANDBOX = ("NONE (--unsafe-no-sandbox): the submission ran as this user, with resource limits, the seccomp "
              "filter and an audit-hook file guard only; it could read and, through C code, write "
              "whatever this user can")


def grade(submissions: list[Path], out_dir: Path, tests: Path | None = None, timeout: float = 60,
          total_timeout: float | None = None, jobs: int = 1, memory_mb: int = 4096, *,
          released: Path | None = None, questions: list[str] | None = None, unsafe_no_sandbox: bool = False,
          disk_mb: int = 256) -> list[dict]:
    """Grade every submission; write ``grades.csv``, one JSON per student, ``instructor/<student>.json``
    and ``grading.log``; return the CSV rows.

    The questions come from ``released`` (the notebook handed out) and/or ``questions`` (topics or
    question ids). Raises ValueError if pytest (the ``grade`` extra) is missing, if no questions are
    named, or if the sandbox (bubblewrap) cannot run here and ``unsafe_no_sandbox`` is not set."""
    missing = pytest_missing()
    if missing:
        raise ValueError(missing)
    if tests is not None and not Path(tests).is_dir():
        raise ValueError(f"--tests must be a folder of pytest files, got {tests}")
    if not (isinstance(memory_mb, int) and memory_mb >= 512):
        raise ValueError(f"memory_mb must be an int of at least 512 (MB), got {memory_mb!r}")
    if not (isinstance(disk_mb, int) and disk_mb >= 16):
        raise ValueError(f"disk_mb must be an int of at least 16 (MB), got {disk_mb!r}")
    known = graded_questions(released, questions)
    why = "" if unsafe_no_sandbox else _bwrap.unavailable()
    if why:
        raise ValueError(f"{why}: grading runs each submission in a bubblewrap sandbox. Install it (Debian/Ubuntu: "
                         "apt-get install bubblewrap) or, for submissions you trust, pass --unsafe-no-sandbox")
    isolation = NO_SANDBOX if unsafe_no_sandbox else SANDBOX.format(disk=disk_mb)
    found, skipped = list_submissions(submissions)
    students = [s for s, _ in found]
    if len(set(students)) != len(students):
        raise ValueError("two submissions have the same file name (the student's name): "
                         + ", ".join(sorted({s for s in students if students.count(s) > 1})))
    graded = {q.qid for q in known}
    plans = {s: read_submission(p, graded) for s, p in found}
    out_dir = Path(out_dir)
    (out_dir / "instructor").mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dlext-grade-"))
    package = Path(tempfile.mkdtemp(prefix="dlext-package-")) if unsafe_no_sandbox else None
    judge_home = Path(tempfile.mkdtemp(prefix="dlext-judge-"))  # the judges' working folder: empty, theirs
    # The judges' import path: this dlext first, then the grader's own entries but for the working folder
    # and anything inside a submissions folder or the grading folder.
    roots = [os.path.realpath(p.parent) for _, p in found] + [os.path.realpath(root)]
    judge_path = [str(Path(__file__).resolve().parents[2])] + [
        p for p in sys.path if os.path.isabs(p) and os.path.isdir(p) and os.path.realpath(p) != os.getcwd()
        and not any(os.path.realpath(p) == r or os.path.realpath(p).startswith(r + os.sep) for r in roots)]
    memory = memory_mb * 2**20
    judge_memory = memory + 2 * 2**30  # its own data, the decoded replies and the checks' references
    idle = queue.SimpleQueue()
    judges = [Judge(root / f"judge-{n}.err", judge_home, judge_path, judge_memory) for n in range(max(1, jobs))]
    for judge in judges:
        idle.put(judge)
    collected = []

    def one(student: str) -> dict:
        steps, problem = plans[student]
        start = time.monotonic()
        records, output = [], ""
        if not problem:
            limit = total_timeout or 60 + timeout * (2 * len(known) + 2)  # the instructor's numbers only
            folder = Path(tempfile.mkdtemp(dir=root))  # a random name: no student's name in the path
            judge = idle.get()
            try:
                records, output = run_submission(judge, steps, folder, child, timeout, limit, tests, memory,
                                                 disk_mb * 2**20)
            finally:
                idle.put(judge)
            records += _not_run(records, collected)
        results = score(student, known, records, problem)
        results["execution_time"] = round(time.monotonic() - start, 1)
        results["extra_data"] = {"printed_output": _excerpt(output)}
        _write_atomic(out_dir / f"{student}.json", json.dumps(results, indent=1) + "\n")
        report = {"student": student, "isolation": isolation, **instructor_report(records), "printed_output": output}
        _write_atomic(out_dir / "instructor" / f"{student}.json", json.dumps(report, indent=1) + "\n")
        return results

    dumpable = _sandbox.set_dumpable(False)  # submissions cannot reach this process through /proc
    try:
        child = copy_package(package) if package else None
        if tests is not None and found:
            judge = idle.get()
            got = judge.run({"collect": str(Path(tests).resolve())}, 300)
            idle.put(judge)
            collected += [{"name": r.get("name"), "qid": r.get("qid")} for r in got if r["type"] == "collected"]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = dict(zip(students, pool.map(one, students)))
    finally:
        for judge in judges:
            judge.close()
        if dumpable:
            _sandbox.set_dumpable(True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(judge_home, ignore_errors=True)
        if package:
            remove_tree(package)
    rows = [{"student": s, "question": q.qid, "points": t["score"], "max_points": t["max_score"]}
            for s in sorted(results) for q, t in zip(known, results[s]["tests"])]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["student", "question", "points", "max_points"])
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    _write_atomic(out_dir / "grades.csv", text.getvalue())
    log = [f"isolation: {isolation}", f"questions: {', '.join(q.qid for q in known)}"]
    log += [f"skipped: {entry}" for entry in skipped]
    _write_atomic(out_dir / "grading.log", "\n".join(log) + "\n")
    return rows

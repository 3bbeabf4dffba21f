"""Student versions of chapter notebooks: solutions replaced by stubs, outputs cleared.

A solution block inside a function becomes ``raise NotImplementedError`` (keeping any ``# HINT:``
lines), and ``name = value  # SOLUTION`` becomes ``name = ...  # YOUR ANSWER HERE``. Releasing is
deterministic: the same master gives byte-identical student notebooks.
"""
import ast
import copy
import re
from pathlib import Path

import nbformat

BEGIN = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*#\s*END SOLUTION\s*$")
LINE = re.compile(r"#\s*SOLUTION\s*$")
HINT = re.compile(r"^\s*#\s*HINT:")
MAGIC = re.compile(r"^(\s*)([%!].*)$")
TIMED = re.compile(r"^(\s*)%time(?:it)?(?:\s+-[a-z](?:\s*\d+)?)*\s+(\S.*)$")
STUB = 'raise NotImplementedError("your code here: see the exercise above")'
ANSWER = "...  # YOUR ANSWER HERE"


class ReleaseError(ValueError):
    """A master notebook whose solution markers cannot be turned into a student version."""


def python_code(source: str) -> str:
    """A cell's source with IPython magics and shell lines (``%time``, ``!pip``) turned into ``pass``."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        lines[0] = ""  # a cell magic such as %%time: the rest of the cell is Python
    lines = [TIMED.sub(r"\1\2", line) for line in lines]  # "%time f(x)" runs f(x) once
    return "\n".join(MAGIC.sub(r"\1pass  # \2", line) for line in lines)


def _function_lines(source: str) -> set[int]:
    """1-based line numbers that lie inside the body of some function."""
    inside = set()
    for node in ast.walk(ast.parse(python_code(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(range(node.lineno + 1, node.end_lineno + 1))
    return inside


def _stub_line(line: str, where: str) -> str:
    """``x = 42  # SOLUTION`` -> ``x = ...  # YOUR ANSWER HERE`` (assignments only)."""
    code = LINE.sub("", line).rstrip()
    indent = code[: len(code) - len(code.lstrip())]
    try:
        node = ast.parse(code.strip()).body[0]
    except (SyntaxError, IndexError):
        raise ReleaseError(f"{where}: a '# SOLUTION' line must be a one-line assignment, "
                           f"got {line.strip()!r}") from None
    if isinstance(node, ast.Assign):  # keep the student's view of the names as written
        target = " = ".join(ast.get_source_segment(code.strip(), t) for t in node.targets)
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target = code.strip()[: node.value.col_offset].rstrip().rstrip("=").rstrip()
    else:
        raise ReleaseError(f"{where}: a '# SOLUTION' line must be an assignment like 'x = 42  # SOLUTION', "
                           f"got {line.strip()!r}")
    return f"{indent}{target} = {ANSWER}"


def strip_solutions(source: str, where: str = "cell") -> str:
    """The student version of one code cell's source; raises ReleaseError on malformed markers."""
    lines = source.split("\n")
    in_function = None  # parsed lazily: most cells have no markers
    out, block, begin_at = [], None, 0
    for number, line in enumerate(lines, start=1):
        if BEGIN.match(line):
            if block is not None:
                raise ReleaseError(f"{where}, line {number}: BEGIN SOLUTION inside another solution block "
                                   f"(opened on line {begin_at})")
            if in_function is None:
                in_function = _function_lines(source)
            if number not in in_function:
                raise ReleaseError(f"{where}, line {number}: a BEGIN/END SOLUTION block must sit inside a "
                                   "function; use 'x = value  # SOLUTION' for top-level answers")
            block, begin_at, indent = [], number, BEGIN.match(line).group(1)
        elif END.match(line):
            if block is None:
                raise ReleaseError(f"{where}, line {number}: END SOLUTION without a BEGIN SOLUTION")
            out += [indent + h.strip() for h in block if HINT.match(h)] + [indent + STUB]
            block = None
        elif block is not None:
            block.append(line)
        elif LINE.search(line):
            out.append(_stub_line(line, f"{where}, line {number}"))
        else:
            out.append(line)
    if block is not None:
        raise ReleaseError(f"{where}, line {begin_at}: BEGIN SOLUTION is never closed by END SOLUTION")
    student = "\n".join(out)
    try:
        ast.parse(python_code(student))
    except SyntaxError as err:
        raise ReleaseError(f"{where}: the student version does not parse ({err.msg}, line {err.lineno})") from None
    return student


def has_solution(source: str) -> bool:
    """Whether a cell's source holds solution markers."""
    return any(BEGIN.match(l) or END.match(l) or LINE.search(l) for l in source.split("\n"))


def release_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A student copy of ``nb``: stubs for solutions, no outputs, exercises unfolded, checks non-fatal."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if nb.nbformat_minor >= 5 and "id" not in cell:
            cell["id"] = f"cell-{index}"  # nbformat would otherwise invent random ids
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        tags = list(cell.metadata.get("tags", []))
        if "exercise" in tags or has_solution(cell.source):
            cell.source = strip_solutions(cell.source, f"{name}, cell {index}")
            tags = [t for t in tags if t != "hide-input"]
        if "check" in tags and "raises-exception" not in tags:
            tags.append("raises-exception")  # a check never raises, but a broken answer must not stop the run
        if tags:
            cell.metadata["tags"] = tags
    return nb


def release(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` (same file name); return the paths."""
    out_dir = Path(out_dir)
    targets = []
    for path in map(Path, notebooks):
        target = out_dir / path.name
        if target.resolve() == path.resolve():
            raise ReleaseError(f"refusing to overwrite the master {path} with its student version; "
                               "choose another --out directory")
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:
            raise ReleaseError(f"{path} is not a readable notebook: {err}") from None
        targets.append((target, release_notebook(nb, path.name)))  # check every notebook before writing any
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, nb in targets:
        target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return [t for t, _ in targets]

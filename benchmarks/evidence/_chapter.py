"""What the evidence scripts share: the CPU's name for the record, and a chapter's own code run outside the book."""
import platform
from pathlib import Path

import nbformat


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def chapter_namespace(notebook: Path, parts: list[tuple[str, str | None]], before: str = "") -> dict:
    """Run a chapter's setup cell, then ``before`` (Python source), then each (cell id, stop) part: the cell's source
    up to the text ``stop`` (the whole cell when stop is None). Returns the namespace they ran in."""
    nb = nbformat.read(notebook, as_version=4)
    cells = {c.get("id"): c.source for c in nb.cells}
    ns: dict = {}
    exec(next(c.source for c in nb.cells if "setup" in c.metadata.get("tags", [])), ns)
    exec(before, ns)
    for cell_id, stop in parts:
        source = cells[cell_id]
        if stop is not None and stop not in source:
            raise SystemExit(f"{notebook.name}: cell {cell_id} no longer contains {stop!r}; update this script")
        exec(source if stop is None else source[:source.index(stop)], ns)
    return ns

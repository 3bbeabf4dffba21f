"""Keep what nbval executed in `make test`, so the book build that follows shows those outputs instead of
executing every chapter a second time.

`make test` executes every chapter under nbval (but the two it runs elsewhere: tests/conftest.py); `make book`
then executed them all again, and on CI's 2-core machine that second execution was more than half of the run.
With ``$DLEXT_NBVAL_OUT`` set (the Makefile's `test` target sets it to `_build/nbval`), tests/conftest.py records
every message nbval reads from a chapter's kernel. When every cell of the chapter ran and passed, the messages
become the executed notebook (through nbclient's own message handling, the code that executes a chapter in
the book build: outputs, cleared outputs, display updates, widget state), staged here as `NAME.ipynb` beside
`NAME.run.json`: the kernel's CPU and wall-clock seconds, the metrics it recorded, and the two things that
decide whether the outputs still belong to the chapter: the sha256 of the notebook file and
`exec_cache.dependency_digest` of its code (the `dlext` files it uses), both taken when the kernel started.

`tools/build_book.py` calls `import_staged` before the build: a staged chapter whose notebook and `dlext` files
are unchanged goes into the book's jupyter-cache under the key the build computes (so the build takes it
like any cached chapter, and the Results page shows the nbval run's time and metrics); anything else is left
alone and the build executes it. The staged files are removed either way: they describe one test run.
The kernel runs with the book build's environment (`DLEXT_STATIC_DEMOS=1`: demos as frames), so the outputs
are the ones a book build would make.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE_ENV = "DLEXT_NBVAL_OUT"
CACHE = ROOT / "_build" / ".jupyter_cache"  # Jupyter Book's execution cache (execute.cache unset in _config.yml)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process and the children it waited for (Linux /proc; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime (man 5 proc)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def kernel_env(chapter: Path, out: Path) -> dict[str, str]:
    """The environment a chapter's nbval kernel starts with: the book build's (results_page.py sets the same),
    and an IPython folder of its own, so the two workers' kernels do not write one history database at once
    (nbclient keeps its kernels' history in memory for the same reason)."""
    return {"DLEXT_STATIC_DEMOS": "1", "DLEXT_NOTEBOOK": chapter.stem,
            "DLEXT_METRICS": str(out / f"{chapter.stem}.metrics.jsonl"),
            "IPYTHONDIR": str(out / f".ipython-{chapter.stem}")}


def language_info(kc, timeout: float = 30.0) -> dict | None:
    """The kernel's language_info (kernel_info_reply), which nbclient writes into the executed notebook's metadata.

    Asked once every cell has run, when nothing else reads the kernel's shell channel."""
    msg_id = kc.kernel_info()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"].get("language_info")
    return None


class Recorder:
    """Keeps what is sent to an nbval kernel (`nbval.kernel.RunningKernel`) and every iopub message read from it.

    It also sends each cell as nbclient does, with ``store_history=True``: nbval sends ``False``, and then
    IPython's check for a trailing ``;`` reads the previous cell from the history, so a cell ending in ``;``
    would still show its value (a list of 1,000 losses on the page, where the book build shows nothing).
    """

    def __init__(self, kernel):
        self.requests: list[tuple[str, str]] = []  # (msg_id, source) of each execute request, in order
        self.messages: list[dict] = []
        get_message = kernel.get_message

        def logged_execute(cell_input, allow_stdin=None):
            msg_id = kernel.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)
            self.requests.append((msg_id, cell_input))
            return msg_id

        def logged_get(stream, timeout=None):
            msg = get_message(stream, timeout=timeout)
            if stream == "iopub":
                self.messages.append(msg)
            return msg

        kernel.execute_cell_input, kernel.get_message = logged_execute, logged_get

    def executed(self) -> list[tuple[str, list[dict]]]:
        """(source, the iopub messages of its request) for every execute request, in order."""
        by_request: dict[str, list[dict]] = {}
        for msg in self.messages:
            by_request.setdefault(msg["parent_header"].get("msg_id"), []).append(msg)
        return [(source, by_request.get(msg_id, [])) for msg_id, source in self.requests]


def assemble(chapter: Path, executed: list[tuple[str, list[dict]]], language: dict | None = None):
    """The executed notebook: the chapter as stored, with each code cell's outputs rebuilt from its messages.

    `executed` holds, for every code cell in order, the source nbval sent and the iopub messages of that
    request (in the order they arrived); `language` is the kernel's language_info. Raises ValueError when the
    cells do not match the chapter's code cells, or a cell raised an error (a failed run is not a book's).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete

    nb = nbformat.read(str(chapter), as_version=4)
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if len(cells) != len(executed):
        raise ValueError(f"{chapter.name}: {len(executed)} cells executed, the chapter has {len(cells)} code cells")
    client = NotebookClient(nb, record_timing=False)  # no kernel: only its message handling is used
    client.reset_execution_trackers()
    for count, ((index, cell), (source, messages)) in enumerate(zip(cells, executed), start=1):
        if source != cell.source:
            raise ValueError(f"{chapter.name}: cell {index} changed while it ran")
        cell.outputs = []
        client.clear_before_next_output = False  # what nbclient resets before each cell it executes
        for msg in messages:
            try:
                client.process_message(msg, cell, index)
            except CellExecutionComplete:
                break
        cell.execution_count = count
        for out in cell.outputs:
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
            elif out.get("output_type") == "error":
                raise ValueError(f"{chapter.name}: cell {index} raised {out.get('ename')}")
    client.set_widgets_metadata()
    if language:
        nb.metadata["language_info"] = language
    return nb


def stage(out: Path, chapter: Path, nb, run: dict) -> None:
    """Write the executed notebook and its run record into `out` (each file appears whole or not at all)."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    import exec_cache

    metrics_file = out / f"{chapter.stem}.metrics.jsonl"
    metrics = exec_cache.read_metrics(metrics_file).get(chapter.stem, {})
    metrics_file.unlink(missing_ok=True)
    _write_atomic(out / chapter.name, nbformat.writes(nb))
    _write_atomic(out / f"{chapter.stem}.run.json", json.dumps({**run, "metrics": metrics}, indent=1) + "\n")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def import_staged(out: Path, book: Path = ROOT / "book", cache_path: Path = CACHE) -> dict[str, str]:
    """Put every staged chapter that still matches its notebook and `dlext` files into the execution cache.

    Returns {chapter: what happened} ("imported", or why not); the staged files are removed.
    """
    import nbformat

    import exec_cache

    results: dict[str, str] = {}
    if not out.is_dir():
        return results
    exec_cache.patch_cache_key()  # the key the build computes: it covers the dlext files too
    for staged in sorted(out.glob("*.ipynb")):
        record_file = staged.with_name(f"{staged.stem}.run.json")
        chapter = book / staged.name
        try:
            run = json.loads(record_file.read_text())
            if not chapter.is_file():
                results[staged.stem] = "no such chapter"
            elif file_sha256(chapter) != run.get("source_sha256"):
                results[staged.stem] = "the notebook changed since nbval ran it"
            elif exec_cache.dependency_digest(exec_cache.code_of(chapter)) != run.get("dependency_digest"):
                results[staged.stem] = "the dlext files it uses changed since nbval ran it"
            else:
                from jupyter_cache import get_cache
                from jupyter_cache.base import CacheBundleIn

                cache = get_cache(str(cache_path))
                nb = nbformat.read(str(staged), as_version=4)
                record = cache.cache_notebook_bundle(
                    CacheBundleIn(nb, str(chapter.resolve()), data={"execution_seconds": run["wall_seconds"]}),
                    check_validity=False, overwrite=True)
                keep = {k: run[k] for k in ("cpu_seconds", "wall_seconds", "executed", "metrics")}
                exec_cache.save_run(str(cache_path), record.hashkey, {**keep, "by": "nbval (make test)"})
                results[staged.stem] = "imported"
        except (OSError, ValueError, KeyError) as err:
            results[staged.stem] = f"not imported: {type(err).__name__}: {err}"
        finally:
            staged.unlink(missing_ok=True)
            record_file.unlink(missing_ok=True)
    return results

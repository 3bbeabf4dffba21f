"""tools/nbval_outputs.py: what nbval executed becomes the book's outputs only when it is what a build would make.

Two halves: the messages nbval reads from a kernel rebuild the notebook nbclient (the book build's executor)
writes for the same cells; and the build takes a staged chapter only while its notebook and `dlext` files are
the ones nbval ran, and never leaves the staged files behind.
"""
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import exec_cache  # noqa: E402
import nbval_outputs  # noqa: E402

CELLS = [
    'import sys\nprint("to stdout")\nprint("to stderr", file=sys.stderr)',
    'from IPython.display import HTML, clear_output, display\ndisplay(HTML("<b>gone</b>"))\nclear_output(wait=True)\n'
    'print("after the clear")',
    'handle = display("first", display_id=True)\nhandle.update("second")',
    'from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc="bar"):\n    pass',
    '6 * 7',
    'values = [0.5] * 200\nvalues;  # the trailing ; hides the value, as in the book build',
    'values[:2]',
]


def _notebook(path: Path, cells: list[str] = CELLS) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def _shape(nb) -> list:
    """Each code cell's outputs with what differs between two runs (widget model ids) taken out."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for out in cell.outputs:
            data = {k: v for k, v in out.get("data", {}).items() if k != "application/vnd.jupyter.widget-view+json"}
            widget = "application/vnd.jupyter.widget-view+json" in out.get("data", {})
            outs.append((out.output_type, out.get("name"), out.get("text"), json.dumps(data, sort_keys=True), widget))
        cells.append((cell.execution_count, outs))
    return cells


def _widget_models(nb) -> list[str]:
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return sorted(m["model_name"] for m in state.values())


def test_the_messages_nbval_reads_rebuild_the_notebook_nbclient_writes(tmp_path):
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

    chapter = _notebook(tmp_path / "chapter.ipynb")
    reference = nbformat.read(str(chapter), as_version=4)
    NotebookClient(reference, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME, cwd=str(tmp_path))
    recorder = nbval_outputs.Recorder(kernel)
    try:
        for cell in nbformat.read(str(chapter), as_version=4).cells:
            if cell.cell_type != "code":
                continue
            msg_id = kernel.execute_cell_input(cell.source, allow_stdin=False)  # as nbval's IPyNbCell.runtest
            kernel.await_reply(msg_id, timeout=60)
            while True:
                msg = kernel.get_message("iopub", timeout=60)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                        and msg["content"]["execution_state"] == "idle":
                    break
        language = nbval_outputs.language_info(kernel.kc)
    finally:
        kernel.stop()
    rebuilt = nbval_outputs.assemble(chapter, recorder.executed(), language)

    assert _shape(rebuilt) == _shape(reference)
    assert rebuilt.metadata["language_info"] == reference.metadata["language_info"]  # the page's code lexer
    assert _widget_models(rebuilt) == _widget_models(reference) and _widget_models(rebuilt)  # the progress bar
    texts = [o.get("text", "") for c in rebuilt.cells if c.cell_type == "code" for o in c.outputs]
    assert "after the clear\n" in texts and not any("gone" in json.dumps(o) for c in rebuilt.cells
                                                    for o in c.get("outputs", []))


def test_assemble_refuses_messages_that_do_not_match_the_chapter(tmp_path):
    chapter = _notebook(tmp_path / "chapter.ipynb")
    with pytest.raises(ValueError, match="cells executed"):
        nbval_outputs.assemble(chapter, [(CELLS[0], [])])  # a partial run (pytest -k) is not the chapter
    with pytest.raises(ValueError, match="changed while it ran"):
        nbval_outputs.assemble(chapter, [("print('other')", [])] + [(c, []) for c in CELLS[1:]])
    error = {"msg_type": "error", "header": {"msg_type": "error"}, "parent_header": {"msg_id": "m"}, "metadata": {},
             "content": {"ename": "AssertionError", "evalue": "", "traceback": []}}
    with pytest.raises(ValueError, match="raised AssertionError"):  # a failed cell: its run is not the book's
        nbval_outputs.assemble(chapter, [(CELLS[0], [error])] + [(c, []) for c in CELLS[1:]])


def test_a_failed_or_skipped_cell_keeps_its_chapter_out_of_the_book(tmp_path):
    """The wiring in tests/conftest.py, run as `make test` runs it: pytest with two xdist workers on chapters in a
    book/ folder; the chapter whose cell fails is not staged, the passing one is."""
    import shutil
    import subprocess

    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "book").mkdir()
    (project / "benchmarks").mkdir()
    (project / "benchmarks" / "targets.yml").write_text("budgets: {}\n")
    shutil.copy(ROOT / "tests" / "conftest.py", project / "tests" / "conftest.py")
    (project / "tests" / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    shutil.copytree(ROOT / "tools", project / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    _notebook(project / "book" / "01_good.ipynb", ["print('fine')", "1 + 1"])
    _notebook(project / "book" / "02_bad.ipynb", ["print('fine')", "assert False, 'a failing check'", "2 + 2"])
    # a failure without an error in the kernel: an output nbval compares (nbval-check-output) has changed
    checked = _notebook(project / "book" / "03_changed.ipynb", ["print('new')", "3 + 3"])
    nb = nbformat.read(str(checked), as_version=4)
    nb.cells[1].metadata["tags"] = ["nbval-check-output"]
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old\n")]
    nbformat.write(nb, str(checked))
    out = project / "_build" / "nbval"
    env = {**os.environ, "DLEXT_NBVAL_OUT": str(out), "DLEXT_ALL_CHAPTERS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist",
                             "loadfile", "--nbval-lax", "--nbval-current-env", "tests", "book"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert "2 failed" in result.stdout, result.stdout[-2000:]
    assert sorted(p.name for p in out.glob("*.ipynb")) == ["01_good.ipynb"], result.stdout[-2000:]


def _stage(out: Path, chapter: Path, **overrides) -> None:
    nb = nbformat.read(str(chapter), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="from nbval\n")]
    run = {"source_sha256": nbval_outputs.file_sha256(chapter),
           "dependency_digest": exec_cache.dependency_digest(exec_cache.code_of(chapter)),
           "cpu_seconds": 1.5, "wall_seconds": 2.0, "executed": "2026-12-06 12:00 UTC", **overrides}
    nbval_outputs.stage(out, chapter, nb, run)


def test_the_build_takes_a_staged_chapter_only_while_it_is_unchanged(tmp_path):
    from jupyter_cache import get_cache

    book, out, cache_path = tmp_path / "book", tmp_path / "nbval", tmp_path / "cache"
    book.mkdir()
    chapter = _notebook(book / "05_topic.ipynb")

    _stage(out, chapter)
    assert nbval_outputs.import_staged(out, book, cache_path) == {"05_topic": "imported"}
    assert not list(out.iterdir())  # consumed
    cache = get_cache(str(cache_path))
    record = cache.match_cache_notebook(nbformat.read(str(chapter), as_version=4))  # the build's own lookup
    _, merged = cache.merge_match_into_notebook(nbformat.read(str(chapter), as_version=4))
    assert [c.outputs[0].text for c in merged.cells if c.cell_type == "code"] == ["from nbval\n"] * len(CELLS)
    run = json.loads((exec_cache._runs_dir(str(cache_path)) / f"{record.hashkey}.json").read_text())
    assert run["by"] == "nbval (make test)" and run["cpu_seconds"] == 1.5 and run["metrics"] == {}

    other = _notebook(book / "06_other.ipynb", [*CELLS, "print('another chapter')"])
    _stage(out, other, dependency_digest="0" * 64)  # as if a dlext file changed after nbval ran the chapter
    _stage(out, chapter)
    nb = nbformat.read(str(chapter), as_version=4)
    nb.cells[1].source += "\nprint('edited')"
    nbformat.write(nb, str(chapter))  # the chapter's code changed after nbval ran it
    assert nbval_outputs.import_staged(out, book, cache_path) == {
        "05_topic": "the notebook changed since nbval ran it",
        "06_other": "the dlext files it uses changed since nbval ran it"}
    assert not list(out.iterdir())
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(str(other), as_version=4))


def test_stage_keeps_only_the_chapters_own_metrics(tmp_path):
    chapter = _notebook(tmp_path / "07_vae.ipynb")
    out = tmp_path / "nbval"
    out.mkdir()
    env = nbval_outputs.kernel_env(chapter, out)
    assert env["DLEXT_STATIC_DEMOS"] == "1" and env["DLEXT_NOTEBOOK"] == "07_vae"
    Path(env["DLEXT_METRICS"]).write_text(json.dumps({"notebook": "07_vae", "key": "vae.x", "value": 1.0}) + "\n"
                                          + json.dumps({"notebook": "other", "key": "o.y", "value": 2.0}) + "\n")
    _stage(out, chapter)
    run = json.loads((out / "07_vae.run.json").read_text())
    assert run["metrics"] == {"vae.x": 1.0}
    assert not Path(env["DLEXT_METRICS"]).exists()


def test_make_test_keeps_nbval_outputs_and_the_build_takes_them():
    """The wiring: `make test` stages into _build/nbval, and tools/build_book.py imports from there first."""
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "DLEXT_NBVAL_OUT=$(NBVAL_OUT)" in test_recipe and "rm -rf $(NBVAL_OUT) $(MODELS)" in test_recipe
    assert "DLEXT_MODEL_CACHE=$(MODELS)" in test_recipe  # every test run trains the shared models once (dlext.zoo)
    assert "NBVAL_OUT := $(CURDIR)/_build/nbval" in makefile
    build = (ROOT / "tools" / "build_book.py").read_text()
    assert 'import_staged(nbval_outputs.ROOT / "_build" / "nbval")' in build


def test_a_process_cpu_time_is_read_from_proc():
    import os
    import time

    start = nbval_outputs.process_cpu_seconds(os.getpid())
    if start is None:
        pytest.skip("no /proc here: the Results page then says the time was not measured")
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    assert 0.2 < nbval_outputs.process_cpu_seconds(os.getpid()) - start < 5

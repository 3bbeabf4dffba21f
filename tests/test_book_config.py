"""The book's configuration and the hygiene of every chapter notebook."""
import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
PARTS = ["Foundations", "Architectures", "Representation learning", "Generative and adversarial models",
         "Understanding networks"]


def toc_files() -> list[str]:
    return [ch["file"] for part in TOC["parts"] for ch in part["chapters"]]


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


def test_config_basics():
    assert CONFIG["title"] == "Deep Learning Extensions"
    assert CONFIG["only_build_toc_files"] is True
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL)
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["html"]["use_repository_button"] and CONFIG["html"]["use_issues_button"]
    # jupyter-cache, with tools/exec_cache.py adding the dlext files a chapter imports to the cache key
    # (tests/test_exec_cache.py): a stale output is worse than a slow build
    assert CONFIG["execute"]["execute_notebooks"] == "cache" and CONFIG["execute"]["timeout"] > 0
    assert CONFIG["sphinx"]["local_extensions"]["exec_cache"] == "tools/"
    assert CONFIG["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_toc_parts_are_the_course_parts_in_order():
    captions = [p["caption"] for p in TOC["parts"]]
    assert [c for c in captions if c in PARTS] == [p for p in PARTS if p in captions]
    assert TOC["root"] == "book/intro"


def test_toc_and_book_folder_agree():
    listed = set(toc_files())
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml, so the book would not show it"
    for f in listed:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".ipynb", ".md")), f"_toc.yml lists missing {f}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has stored outputs"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_the_colab_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert {"remove-cell", "colab-setup"} <= set(first.metadata.get("tags", [])), \
        f"{path.name}: the first code cell must be the Colab setup cell, tagged remove-cell and colab-setup"
    assert 'if "google.colab" in sys.modules:' in first.source  # a no-op outside Colab
    urls = re.findall(r"git\+(https://[^@\"]+)@main", first.source)
    assert urls == [REPO_URL], f"{path.name} installs dlext from {urls}, but _config.yml names {REPO_URL}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_setup_seeds_and_picks_the_device_once(path):
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1, f"{path.name} needs exactly one cell tagged 'setup'"
    assert "dlext.seed(" in setup[0].source and "dlext.device()" in setup[0].source
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sum(s.count("dlext.device()") for s in sources) == 1, f"{path.name} picks the device more than once"
    for s in sources:
        assert "import *" not in s and "MPLBACKEND" not in s


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_code_parses_and_asserts_its_claims(path):
    nb = nbformat.read(path, as_version=4)
    n_asserts = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)  # also catches a cell that is not valid Python
            n_asserts += sum(isinstance(n, ast.Assert) for n in ast.walk(tree))
            n_asserts += cell.source.count("assert_close(")
    assert n_asserts >= 3, f"{path.name} asserts only {n_asserts} claims"
    assert any("metrics.record(" in c.source for c in nb.cells), f"{path.name} records no metric"


def test_a_chapter_run_alone_gets_the_output_patience_plugin():
    # `pytest --nbval-lax book/NN.ipynb` never loads tests/conftest.py; the root conftest must register
    # the plugin, or nbval's 5-second output wait flakes on a loaded machine (issue 11).
    import subprocess
    import sys
    chapter = CHAPTERS[0].relative_to(ROOT)
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--co", "-q", "--trace-config",
                          "-p", "no:cacheprovider", str(chapter)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "tests/nbval_patience.py" in run.stdout, "the nbval patience plugin was not loaded"


_PROMPT = re.compile(r"^#{2,4} Exercise (\d+) \((\d+) points?\): \S", re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_exercise_has_its_prompt_and_the_chapter_a_summary(path):
    cells = nbformat.read(path, as_version=4).cells
    numbers = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
            continue
        before = cells[i - 1] if i else None
        prompts = _PROMPT.findall(before.source) if before is not None and before.cell_type == "markdown" else []
        assert prompts, f"{path.name} cell {i}: an exercise needs its own markdown prompt " \
                        f"'### Exercise N (P points): title' in the cell right before its solution"
        number, points = map(int, prompts[-1])
        assert points == cell.metadata["dlext"]["points"], \
            f"{path.name} cell {i}: the prompt says {points} points, the solution cell's metadata {cell.metadata['dlext']}"
        numbers.append(number)
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: exercises numbered {numbers}"
    headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    assert "## Exercises" in headings or not numbers, f"{path.name}: exercises need an '## Exercises' heading"
    assert "## Summary" in headings, f"{path.name} has no '## Summary' section"

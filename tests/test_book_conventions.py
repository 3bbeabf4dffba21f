"""Book-wide conventions every chapter keeps: one notation, a kernel-free demo and a quiz per chapter."""
import re
from pathlib import Path

import nbformat
import pytest

from dlext import interactive

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.ipynb") if re.match(r"\d\d_", p.name))
PAGES = CHAPTERS + sorted((ROOT / "book").glob("*.md"))


def _markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def _code(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


# The intro's notation table writes the divergence \mathrm{KL}(p \| q); D_{KL} and friends are the other
# spellings a reader would meet (issue 21: "KL written one way").
OTHER_KL = re.compile(r"D_\{?\\?(?:mathrm|text|rm|operatorname)?\{?KL\}|\\operatorname\{KL\}|\\text\{KL\}")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_kl_is_written_the_intros_way(path):
    found = OTHER_KL.findall(_markdown(path))
    assert not found, f"{path.name} writes KL as {sorted(set(found))}; the book writes \\mathrm{{KL}}(p \\,\\|\\, q)"


def test_the_notation_rule_catches_the_other_spellings():
    for other in (r"D_{\mathrm{KL}}(p \| q)", r"D_{KL}(p||q)", r"\operatorname{KL}(p, q)", r"\text{KL}"):
        assert OTHER_KL.search(other), other
    assert not OTHER_KL.search(r"\mathrm{KL}(p \,\|\, q)")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_a_kernel_free_demo_and_a_quiz(path):
    """Issue 17: every chapter's demo responds in the static book, and every chapter ends with a quiz."""
    code = _code(path)
    assert "interactive.explore(" in code, f"{path.name} has no interactive.explore demo"
    assert not re.search(r"^\s*(import ipywidgets|from ipywidgets)", code, re.M), (
        f"{path.name} uses ipywidgets directly: its demo would show a frozen first state in the built book; "
        "use dlext.interactive.explore")
    names = re.findall(r"interactive\.quiz\(\s*[\"']([\w-]+)[\"']", code)
    assert len(names) == 1, f"{path.name} should show exactly one quiz, found {names}"
    # raises if a wrong answer lacks its explanation; measured numbers get stand-ins (the chapter passes the real ones)
    questions = interactive.load_quiz(names[0], {key: 1.0 for key in interactive.placeholders(names[0])})
    assert 4 <= len(questions) <= 6


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_quiz_comes_after_the_exercises_and_before_the_summary(path):
    cells = nbformat.read(path, as_version=4).cells
    quiz = [i for i, c in enumerate(cells) if c.cell_type == "code" and "interactive.quiz(" in c.source]
    exercises = [i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    summary = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
               and re.search(r"^#+ .*(summary|takeaways)", c.source, re.I | re.M)]
    assert quiz and summary, f"{path.name}: quiz {quiz}, summary {summary}"
    assert max(exercises, default=-1) < quiz[0] < summary[-1], (
        f"{path.name}: the quiz (cell {quiz[0]}) belongs after the last exercise ({max(exercises, default=None)}) "
        f"and before the summary ({summary[-1]})")

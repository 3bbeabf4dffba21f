"""Issue 28: mechanisms that keep a chapter's sentences true as its numbers change.

1. A number stated as a bound ("at least X", "X or more", "within X") is glued with the matching
   `bound=` and `digits=`, so the page never rounds it across the bound (static, every chapter).
2. No raw value echoed: no code cell ends in a bare `glue(...)` (static), and no executed chapter shows a
   float repr with more than 6 significant digits (over `_build/jupyter_execute`, or `$DLEXT_EXECUTED_DIR`).
3. Quiz numbers come from the run: no typed measurement in a quiz's JSON (static heuristics, and over executed
   chapters: no typed number equal to a value the chapter glued), and every `{{name}}` a quiz quotes is passed
   by its chapter's `interactive.quiz(..., values=...)`.
4. No measured-looking numbers in code comments (seed-run evidence lives in `src/dlext/evidence/`).
5. No cross-reference label shown as text ("eq. (dann)") in a chapter's prose or quiz.

Exceptions, each with its reason, are in `tests/truth_allowlist/<chapter>.json` (see `book_truth.py`).
"""
import json
import os
from pathlib import Path

import nbformat
import pytest

import book_truth as bt
from dlext import interactive

IDS = [p.name for p in bt.CHAPTERS]


def _fail(findings):
    left = bt.unexcused(findings)
    assert not left, f"{len(left)} finding(s):\n" + "\n".join(str(f) for f in left)


# ---------------------------------------------------------------- 1. bounds
@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_a_bound_in_the_prose_is_glued_rounding_towards_it(path):
    _fail(bt.bound_findings(path))


@pytest.mark.parametrize("before, after, bound", [
    ("on every seed it gets at least ", "", "lower"), ("the gain is ", " points or more", "lower"),
    ("a loss never falls below ", "", "lower"), ("it never climbs above ", "", "upper"),
    ("a spread within ", "", "upper"), ("no more than ", "", "upper"), ("it does not exceed ", "", "upper"),
    ("the error is at most ", "", "upper"), ("it stays below ", "", "upper"), ("exceeds ", "", "lower"),
    ("averaged over ", "", "lower"), ("$\\ge$ ", "", "lower"), ("the mean is ", "", None),
    ("they cover ", "", None), ("help most: ", "", None), ("between ", " and", None)])
def test_the_bound_words_are_read_right(before, after, bound):
    assert bt.bound_of(before, after) == bound


def _chapter(tmp_path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c) if isinstance(c, str) else nbformat.v4.new_code_cell(c[0])
                for c in cells]
    path = tmp_path / "99_toy.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_bound_check_fails_on_rounding_across_the_bound(tmp_path):
    # The 00 summary before issue 28: "{gap_min:.0f} points or more" over a minimum of 13.88, glued unrounded.
    old = _chapter(tmp_path, ["they are {glue:text}`gap_min:.0f` points or more above it", ('glue("gap_min", 13.88)',)])
    assert [f.check for f in bt.bound_findings(old)] == ["bounds"]
    new = _chapter(tmp_path, ["they are {glue:text}`gap_min:.0f` points or more above it",
                              ('glue("gap_min", 13.88, bound="lower", digits=0)',)])
    assert bt.bound_findings(new) == []
    pct = _chapter(tmp_path, ["gets at least {glue:text}`acc:.0%` of them", ('glue("acc", 0.978, bound="lower", digits=0)',)])
    assert "digits=2" in bt.bound_findings(pct)[0].message  # .0% shows 2 decimals of the fraction
    upper = _chapter(tmp_path, ["within {glue:text}`gap:.1f` points", ('glue("gap", 1.25, bound="lower", digits=1)',)])
    assert "'upper'" in bt.bound_findings(upper)[0].message
    loop = _chapter(tmp_path, ["at least {glue:text}`acc_3:.1f` %", ('for k in [3]:\n    glue(f"acc_{k}", 1.0)',)])
    assert len(bt.bound_findings(loop)) == 1  # a glue name built by an f-string is found too


# ---------------------------------------------------------------- 2. raw values
@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_no_cell_ends_in_a_bare_glue(path):
    _fail(bt.bare_glue_findings(path))


def test_the_bare_glue_check_sees_the_echo(tmp_path):
    old = _chapter(tmp_path, [('x = 0.7866964711995649\nglue("x", x)',)])
    assert len(bt.bare_glue_findings(old)) == 1
    for fixed in ('_ = glue("x", x)', 'glue("x", x);', 'y = glue("x", x)', 'glue("x", x)\nprint("done")'):
        assert bt.bare_glue_findings(_chapter(tmp_path, [(f"x = 0.5\n{fixed}",)])) == [], fixed


def executed_chapters() -> list[tuple[Path, Path]]:
    """(executed notebook, chapter) pairs from the book build or $DLEXT_EXECUTED_DIR."""
    roots = [bt.ROOT / "_build" / "jupyter_execute"]
    if os.environ.get("DLEXT_EXECUTED_DIR"):
        roots.insert(0, Path(os.environ["DLEXT_EXECUTED_DIR"]))
    pairs = {}
    for root in roots:
        for chapter in bt.CHAPTERS:
            for found in sorted(root.rglob(chapter.name)) if root.is_dir() else []:
                pairs.setdefault(chapter.name, (found, chapter))
    return list(pairs.values())


@pytest.mark.parametrize("executed, chapter", executed_chapters() or [pytest.param(
    None, None, marks=pytest.mark.skip(reason="no executed chapters: build the book (`make book`) or set "
                                              "DLEXT_EXECUTED_DIR to a folder of executed notebooks"))],
    ids=lambda x: x.name if isinstance(x, Path) else str(x))
def test_no_executed_chapter_shows_a_raw_float(executed, chapter):
    _fail(bt.raw_output_findings(executed, chapter.name))


@pytest.mark.parametrize("executed, chapter", executed_chapters() or [pytest.param(
    None, None, marks=pytest.mark.skip(reason="no executed chapters: build the book (`make book`) or set "
                                              "DLEXT_EXECUTED_DIR to a folder of executed notebooks"))],
    ids=lambda x: x.name if isinstance(x, Path) else str(x))
def test_quiz_types_no_number_the_chapter_glued(executed, chapter):
    _fail(bt.quiz_glue_findings(executed, chapter))


def test_the_raw_output_check_sees_a_float_repr(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('glue("x", x)')
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "0.7866964711995649"}, execution_count=1),
                    nbformat.v4.new_output("display_data", {"application/papermill.record/text/plain": "0.78669647"},
                                           metadata={"scrapbook": {"name": "x"}}),
                    nbformat.v4.new_output("stream", name="stdout", text="loss 0.123, step 1000.0, acc 97.12%\n")]
    nb.cells = [cell]
    path = tmp_path / "99_toy.ipynb"
    nbformat.write(nb, path)
    found = bt.raw_output_findings(path, "99_toy.ipynb")
    assert len(found) == 1 and "0.7866964711995649" in found[0].message


# ---------------------------------------------------------------- 3. quizzes
@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_quiz_quotes_no_typed_measurement(path):
    _fail(bt.quiz_findings(path))


@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_chapter_passes_every_value_its_quiz_quotes(path):
    topic, passed = bt.quiz_values_passed(path)
    assert topic is not None, f"{path.name} shows no quiz"
    needed = interactive.placeholders(topic)
    assert passed is not None, f"{path.name}: pass values= to interactive.quiz as a dict literal, so this test can read it"
    assert passed == needed, (f"{path.name}: the quiz {topic!r} quotes {sorted(needed)}; the chapter passes "
                              f"{sorted(passed)} (missing {sorted(needed - passed)}, unused {sorted(passed - needed)})")


def _install_toy_quiz(tmp_path, monkeypatch, quiz: list) -> None:
    """Make `quiz` the package's quiz "toy" for the test: dlext's quiz files are read from tmp_path instead."""
    folder = tmp_path / "dlext" / "quizzes"
    folder.mkdir(parents=True)
    (folder / "toy.json").write_text(json.dumps(quiz))
    import importlib.resources
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path / "dlext")
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path / "dlext")


def test_the_quiz_check_flags_typed_measurements(tmp_path, monkeypatch):
    # The VAE quiz before issue 28: "about 80 of the roughly 105 nats", "a gap of about 50".
    quiz = [{"question": "The 20-D VAE's bound after 10 epochs: which term was larger?", "type": "multiple_choice",
             "answers": [{"answer": "reconstruction", "correct": True,
                          "feedback": "Right: about 80 of the roughly 105 nats are reconstruction."},
                         {"answer": "KL", "correct": False, "feedback": "The KL was {{kl:.0f}} nats."},
                         {"answer": "equal", "correct": False, "feedback": "A 3x3 filter on 7 pixels gives 5."}]}]
    _install_toy_quiz(tmp_path, monkeypatch, quiz)
    chapter = _chapter(tmp_path, [('interactive.quiz("toy", values={"kl": kl})',)])
    flagged = [f.quote for f in bt.quiz_findings(chapter)]
    assert len(flagged) == 2 and all("80" in q or "105" in q for q in flagged), flagged
    assert bt.quiz_values_passed(chapter) == ("toy", {"kl"})


def test_the_quiz_check_finds_a_glued_number_typed(tmp_path, monkeypatch):
    quiz = [{"question": "Which term was larger?", "type": "multiple_choice",
             "answers": [{"answer": "a", "correct": True, "feedback": "Right: the KL was 75.8 nats of 102.6."},
                         {"answer": "b", "correct": False, "feedback": "The gap was {{gap:.1f}} nats."},
                         {"answer": "c", "correct": False, "feedback": "No."}]}]
    _install_toy_quiz(tmp_path, monkeypatch, quiz)
    chapter = _chapter(tmp_path, [('interactive.quiz("toy", values={"gap": gap})',)])
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('glue("vae_kl", kl)')
    cell.outputs = [nbformat.v4.new_output("display_data", {"application/papermill.record/text/plain": "75.84123"},
                                           metadata={"scrapbook": {"name": "vae_kl", "mime_prefix": "application/papermill.record/"}})]
    nb.cells = [cell]
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    found = bt.quiz_glue_findings(executed, chapter)
    assert len(found) == 1 and "vae_kl" in found[0].message and "75.8" in found[0].quote


def test_the_quiz_check_reads_a_book_builds_glue_file(tmp_path, monkeypatch):
    # A notebook the book build executed keeps no scrapbook outputs: myst-nb moves them to NAME.glue.json beside it.
    # Before this test, glued_values read only the outputs, so on a built book the quiz check compared with nothing.
    quiz = [{"question": "Which term was larger?", "type": "multiple_choice",
             "answers": [{"answer": "a", "correct": True, "feedback": "Right: the KL was 75.8 nats."},
                         {"answer": "b", "correct": False, "feedback": "No."}]}]
    _install_toy_quiz(tmp_path, monkeypatch, quiz)
    chapter = _chapter(tmp_path, [('interactive.quiz("toy", values={})',)])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('glue("vae_kl", kl)')]
    executed = tmp_path / "build" / "99_toy.ipynb"
    executed.parent.mkdir()
    nbformat.write(nb, executed)
    assert bt.quiz_glue_findings(executed, chapter) == []  # nothing to compare with yet
    (executed.parent / "99_toy.glue.json").write_text(json.dumps(
        {"vae_kl": {"output_type": "display_data", "data": {"text/plain": "75.84123"},
                    "metadata": {"scrapbook": {"name": "vae_kl", "mime_prefix": "application/papermill.record/"}}}}))
    assert bt.glued_values(executed) == {"vae_kl": 75.84123}
    found = bt.quiz_glue_findings(executed, chapter)
    assert len(found) == 1 and "vae_kl" in found[0].message


@pytest.mark.parametrize("executed, chapter", executed_chapters() or [pytest.param(
    None, None, marks=pytest.mark.skip(reason="no executed chapters: build the book (`make book`) or set "
                                              "DLEXT_EXECUTED_DIR to a folder of executed notebooks"))],
    ids=lambda x: x.name if isinstance(x, Path) else str(x))
def test_the_checks_of_an_executed_chapter_see_what_it_glued(executed, chapter):
    # The checks above compare with the glued values: if none are found where the chapter glues some, they pass
    # without comparing anything (as the quiz check did on every book build).
    glues = sum(cell.source.count("glue(") for cell in nbformat.read(chapter, as_version=4).cells
                if cell.cell_type == "code")
    if glues:
        assert bt.glued_values(executed), (f"{executed}: the chapter calls glue() {glues} times, yet no glued value "
                                           "was found in its outputs or in a .glue.json beside it")


# ---------------------------------------------------------------- 4. comments
@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_no_measured_numbers_typed_into_comments(path):
    _fail(bt.comment_findings(path))


def test_the_comment_check_flags_seed_evidence(tmp_path):
    old = _chapter(tmp_path, [("# Seeds 0, 1 and 2 of this recipe gave 0.9912, 0.9913 and 0.9910\nassert acc > 0.99",),
                              ("assert x > 0.35  # observed 0.46-0.56",),
                              ("# the first 100 steps\nassert x < 1e-3  # a tolerance, not a measurement",)])
    assert [f.where.split(" ")[1] for f in bt.comment_findings(old)] == ["0", "1"]


# ---------------------------------------------------------------- 5. labels
@pytest.mark.parametrize("path", bt.CHAPTERS, ids=IDS)
def test_no_label_is_shown_as_text(path):
    _fail(bt.label_findings(path, bt.visible_label_regex(bt.labels())))


def test_the_label_check_sees_a_label_in_the_prose():
    regex = bt.visible_label_regex({"dann", "d-star", "style-gram"})
    for bad in ["the loss of eq. (dann)", "eq. (d-star) of the previous chapter", "its Gram matrix (Eq. style-gram)",
                "as equation (dann) says"]:
        assert regex.search(bt.prose(bad)), bad
    for good in ["the loss of eq. {eq}`dann`", "$$ x $$ (dann)", "the DANN loss", "`(dann)`"]:
        assert not regex.search(bt.prose(good)), good


# ---------------------------------------------------------------- the exceptions themselves
def test_every_allowlist_entry_is_used():
    """An entry that excuses nothing is stale: the finding it excused is gone, so the entry must go too."""
    checks = {"bounds": bt.bound_findings, "quiz": bt.quiz_findings, "comment": bt.comment_findings}
    regex = bt.visible_label_regex(bt.labels())
    stale = []
    for path in bt.CHAPTERS:
        findings = [f for fn in checks.values() for f in fn(path)] + bt.bare_glue_findings(path) \
            + bt.label_findings(path, regex)
        executed = {c.name: e for e, c in executed_chapters()}
        if path.name in executed:
            findings += bt.raw_output_findings(executed[path.name], path.name)
            findings += bt.quiz_glue_findings(executed[path.name], path)
        for e in bt.allowlist(path.name):
            if e["check"] == "raw_output" and path.name not in executed:
                continue  # only an executed chapter can show whether it is still needed
            if e["check"] == "quiz" and path.name not in executed:
                continue  # it may excuse a number matched against the run's glued values: judged after a build
            if e["check"] == "quiz" and bt.quiz_of(path) and any(e["quote"] in text
                                                                for _, text in bt.quiz_texts(bt.quiz_of(path))):
                continue  # still typed in the quiz: whether a run's glued value rounds to it varies from run to run
            if not any(f.check == e["check"] and e["quote"] in f.quote for f in findings):
                stale.append(f"{path.stem}.json: {e}")
    assert not stale, "allowlist entries that match nothing:\n" + "\n".join(stale)


def test_every_evidence_record_names_its_command_and_is_used():
    """4. Seed runs made outside a chapter are data with their command and machine, and a chapter asserts on them."""
    from importlib import resources

    from dlext import book

    folder = resources.files("dlext") / "evidence"
    topics = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))
    code = "\n".join(c.source for path in bt.CHAPTERS for c in bt.read(path).cells if c.cell_type == "code")
    for topic in topics:
        record = book.evidence(topic)  # raises without command, machine and values
        assert record["command"].strip() and record["machine"].strip() and record["values"], topic
        assert f'evidence("{topic}")' in code, f"no chapter loads dlext/evidence/{topic}.json"

"""dlext.interactive: live and kernel-free demos, and the chapters' quizzes."""
import base64
import json
import re
from importlib import resources

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest

from dlext import interactive

matplotlib.use("Agg")


def _draw(a, b="x"):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, a])
    ax.set_title(f"{a} {b}")
    return fig


def test_static_demo_holds_one_distinct_frame_per_combination_in_product_order():
    page = interactive.explore(_draw, static=True, show=False, a=[0.5, 1.0, 2.0], b=["x", "y"],
                               initial={"a": 1.0, "b": "y"}).html
    frames = json.loads(re.search(r"var frames = (\[.*?\]);", page).group(1))
    assert len(frames) == 6 and len(set(frames)) == 6  # every combination drawn, each different
    strides = json.loads(re.search(r"var strides = (\[.*?\])", page).group(1))
    assert strides == [2, 1]  # the last parameter varies fastest, as in itertools.product
    # the image shown first is the initial combination: a = 1.0 (index 1), b = "y" (index 1) -> frame 3
    assert re.search(r'<img src="([^"]+)"', page).group(1) == frames[3]
    assert page.count('type="range"') == 2 and 'value="1"' in page
    assert all(base64.b64decode(f.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for f in frames)
    demo = interactive.explore(_draw, static=True, show=False, a=[0.5, 1.0, 2.0], b=["x", "y"])
    assert repr(demo).startswith("<StaticDemo: 6 frames,")  # the first frame, shown twice in the page, counted once


def test_static_demo_respects_its_byte_budget_and_frame_limit():
    with pytest.raises(ValueError, match="exceed 2,000 bytes"):
        interactive.explore(_draw, static=True, max_bytes=2000, a=[1.0, 2.0])
    with pytest.raises(ValueError, match="at most 64"):
        interactive.explore(_draw, static=True, a=list(range(9)), b=[str(i) for i in range(8)])


def test_the_book_build_switches_demos_to_static(monkeypatch):
    monkeypatch.setenv("DLEXT_STATIC_DEMOS", "1")
    assert isinstance(interactive.explore(_draw, show=False, a=[1.0, 2.0]), interactive.StaticDemo)
    monkeypatch.delenv("DLEXT_STATIC_DEMOS")
    demo = interactive.explore(_draw, show=False, a=[1.0, 2.0], b=["x", "y"])
    assert isinstance(demo, ipywidgets.interactive)
    sliders = {w.description: w for w in demo.children if hasattr(w, "description")}
    assert isinstance(sliders["a"], ipywidgets.SelectionSlider) and isinstance(sliders["b"], ipywidgets.Dropdown)
    assert sliders["a"].value == 1.0 and sliders["a"].continuous_update is False


def _plotted(a, b="x"):
    """Two lines, one of slope a."""
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, a])
    ax.set(title=f"slope {a}, {b}", xlabel="input x", ylabel="output y")
    return fig


def test_each_frame_says_what_it_shows_and_for_which_slider_values():
    page = interactive.explore(_plotted, static=True, show=False, a=[1.0, 2.0], b=["x", "y"]).html
    alts = json.loads(re.search(r"var alts = (\[.*?\]);", page).group(1))
    assert len(alts) == 4 and len(set(alts)) == 4
    assert alts[3] == "slope 2.0, y: output y against input x. Drawn for a = 2, b = y; the sliders for a and b redraw it."
    assert re.search(r'<img src="[^"]+" alt="([^"]+)"', page).group(1) == alts[0]
    assert "img.alt = alts[index]" in page  # moving a slider changes the alt text with the image
    # a figure without titles or labels is described by draw's docstring
    bare = lambda a: plt.subplots(figsize=(1, 1))[0]  # noqa: E731
    bare.__doc__ = "An empty canvas."
    page = interactive.explore(bare, static=True, show=False, a=[1, 2]).html
    assert 'alt="An empty canvas. Drawn for a = 1; the slider for a redraws it."' in page


def test_explore_prints_nothing_and_displays_the_demo_once(capsys, monkeypatch):
    from IPython.core.formatters import DisplayFormatter

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    assert interactive.explore(_draw, static=True, a=[1.0, 2.0]) is None  # a cell ending with it prints nothing
    assert len(shown) == 1 and isinstance(shown[0], interactive.StaticDemo)
    data, _ = DisplayFormatter().format(shown[0])
    assert data["text/html"].startswith('<div class="dlext-demo"')
    assert "dlext-demo" not in data["text/plain"] and "base64" not in data["text/plain"]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, "at least one parameter grid"),
    ({"a": []}, ValueError, "empty"),
    ({"a": 3}, TypeError, "list of values"),
    ({"a": "abc"}, TypeError, "list of values"),
    ({"a": [1, 1]}, ValueError, "repeats"),
    ({"a": [1, 2], "initial": {"a": 3}}, ValueError, "not in its grid"),
    ({"a": [1, 2], "initial": {"c": 1}}, ValueError, "not one of the grids"),
    ({"a": [1, 2], "dpi": 0}, ValueError, "dpi"),
    ({"a": [1, 2], "dpi": True}, TypeError, "dpi"),  # a bool is the wrong type (issue 27)
    ({"a": [1, 2], "show": "no"}, TypeError, "show"),
])
def test_bad_demo_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        interactive.explore(_draw, static=True, **kwargs)


def test_draw_must_return_a_figure():
    with pytest.raises(TypeError, match="must be a function"):
        interactive.explore("plot", static=True, a=[1])
    with pytest.raises(TypeError, match="must return the matplotlib Figure"):
        interactive.explore(lambda a: None, static=True, a=[1])


def test_every_shipped_quiz_loads_and_explains_every_answer():
    names = [p.name[:-5] for p in (resources.files("dlext") / "quizzes").iterdir() if p.name.endswith(".json")]
    assert names, "no quiz is shipped with the package"
    for name in names:
        questions = interactive.load_quiz(name, {k: 1 for k in interactive.placeholders(name)})  # stand-ins
        assert 4 <= len(questions) <= 6, f"{name}: a chapter quiz has 4-6 questions"


def test_quiz_validation_catches_missing_explanations(monkeypatch, tmp_path):
    bad = [{"question": "q?", "type": "multiple_choice",
            "answers": [{"answer": "a", "correct": True, "feedback": "yes"}, {"answer": "b", "correct": False},
                        {"answer": "c", "correct": False, "feedback": "no"}]}]
    (tmp_path / "quizzes").mkdir()
    (tmp_path / "quizzes" / "bad.json").write_text(json.dumps(bad))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match=r"missing for \['b'\]"):
        interactive.load_quiz("bad")
    with pytest.raises(ValueError, match="no quiz named"):
        interactive.load_quiz("nothing")
    with pytest.raises(ValueError, match="quiz name"):
        interactive.load_quiz("../etc")


@pytest.mark.parametrize("precision", [0, -1, 1.5, True, "3"])
def test_a_numeric_question_with_a_precision_the_browser_cannot_use_is_refused(monkeypatch, tmp_path, precision):
    """An expert read: jupyterquiz rounds with toPrecision(precision), which throws on 0, so an answer got no feedback."""
    bad = [{"question": "How many?", "type": "numeric", "precision": precision,
            "answers": [{"type": "value", "value": 430, "correct": True, "feedback": "yes"},
                        {"type": "default", "feedback": "no"}]}]
    (tmp_path / "quizzes").mkdir()
    (tmp_path / "quizzes" / "bad.json").write_text(json.dumps(bad))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match="precision"):
        interactive.load_quiz("bad")
    bad[0]["precision"] = 3  # a whole number of significant digits is fine, and so is none at all
    (tmp_path / "quizzes" / "bad.json").write_text(json.dumps(bad))
    assert interactive.load_quiz("bad")[0]["precision"] == 3


def test_a_quiz_quotes_measured_numbers_from_the_run_not_typed(tmp_path, monkeypatch):
    """Issue 28: '{{name:fmt}}' in a quiz is filled from the chapter's values; a missing value is refused."""
    quiz = [{"question": "The KL term was {{kl:.1f}} nats of {{total:.0f}}. Which share?", "type": "numeric",
             "answers": [{"type": "value", "value": "{{share}}", "correct": True, "feedback": "Right: {{share:.2f}}."},
                         {"type": "default", "feedback": "Divide {{kl:.1f}} by {{total:.0f}}."}]}]
    folder = tmp_path / "dlext" / "quizzes"
    folder.mkdir(parents=True)
    (folder / "toy.json").write_text(json.dumps(quiz))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path / "dlext")
    filled = interactive.load_quiz("toy", {"kl": 75.84, "total": 102.6, "share": 0.7392})
    assert filled[0]["question"] == "The KL term was 75.8 nats of 103. Which share?"
    assert filled[0]["answers"][0]["value"] == 0.7392 and filled[0]["answers"][0]["feedback"] == "Right: 0.74."
    assert interactive.placeholders("toy") == {"kl", "total", "share"}
    with pytest.raises(ValueError, match=r"\{\{total\}\}"):
        interactive.load_quiz("toy", {"kl": 75.84, "share": 0.7})
    with pytest.raises(ValueError, match="cannot format"):
        interactive.load_quiz("toy", {"kl": "x", "total": 1, "share": 0.7})


def test_a_quiz_rounds_a_bound_towards_itself(tmp_path, monkeypatch):
    """'at least {{x:.3f|floor}}' never shows 0.99996 as 1.000; '|ceil' rounds an upper bound up."""
    quiz = [{"question": "At least {{conf:.3f|floor}}, at most {{err:.1%|ceil}}, about {{conf:.3f}}.", "type": "numeric",
             "answers": [{"type": "value", "value": 1, "correct": True, "feedback": "ok"},
                         {"type": "default", "feedback": "no"}]}]
    folder = tmp_path / "dlext" / "quizzes"
    folder.mkdir(parents=True)
    (folder / "toy.json").write_text(json.dumps(quiz))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path / "dlext")
    filled = interactive.load_quiz("toy", {"conf": 0.99996, "err": 0.01234})
    assert filled[0]["question"] == "At least 0.999, at most 1.3%, about 1.000."
    (folder / "toy.json").write_text(json.dumps(quiz).replace(".3f|floor", ".3g|floor"))
    with pytest.raises(ValueError, match="fixed-point"):
        interactive.load_quiz("toy", {"conf": 0.99996, "err": 0.01234})


def test_quiz_answers_are_not_always_first_correct_and_their_order_is_fixed():
    # An expert read found the right answer listed first in every multiple-choice question of a chapter: picking the
    # first answer scored full marks. The order shown is now fixed by the answers' text, not by the JSON.
    from importlib import resources
    firsts, total = 0, 0
    for path in sorted((resources.files("dlext") / "quizzes").iterdir()):
        if not path.name.endswith(".json"):
            continue
        name = path.name[:-5]
        values = {p: 1.0 for p in interactive.placeholders(name)}
        once, again = interactive.load_quiz(name, values), interactive.load_quiz(name, values)
        assert [[a.get("answer") for a in q["answers"]] for q in once] == \
               [[a.get("answer") for a in q["answers"]] for q in again]  # the same order every time
        for q in once:
            if q["type"] == "multiple_choice":
                total += 1
                firsts += bool(q["answers"][0].get("correct"))
    assert total >= 40 and firsts < total / 2, (firsts, total)


def test_the_quiz_script_reads_no_version_of_a_mathjax_that_has_not_loaded():
    """jupyterquiz reads MathJax.version[0] 500 ms after a quiz renders; in the built book MathJax is deferred, and on
    a loaded machine a page logged "Cannot read properties of undefined (reading '0')". The pinned jupyterquiz has
    the pattern the guard rewrites (else the guard would be a silent no-op), and none is left unguarded."""
    from pathlib import Path

    import jupyterquiz

    script = (Path(jupyterquiz.__file__).parent / "js" / "show_questions.js").read_text()
    assert "var version = MathJax.version;" in script
    guarded = interactive._guard_mathjax_version(script)
    assert "var version = MathJax.version;" not in guarded
    assert guarded.count("var version = MathJax.version || '';") == script.count("var version = MathJax.version;")

"""dlext.book.glue: values reach myst-nb when it is there, and nothing breaks where it is not (Colab)."""
import builtins
import sys

import pytest

from dlext import book


def test_glue_stores_the_value_through_myst_nb(monkeypatch):
    calls = []
    import myst_nb
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    assert book.glue("test_acc", 0.987) == 0.987
    assert calls == [("test_acc", 0.987, False)]


def test_glue_without_myst_nb_returns_the_value(monkeypatch):
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError("No module named 'myst_nb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "myst_nb", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_myst)
    assert book.glue("value", 3) == 3


@pytest.mark.parametrize("bad, error", [("", ValueError), ("two words", ValueError), ("acc:.3f", ValueError),
                                        ("a`b", ValueError), (None, TypeError), (3, TypeError)])
def test_glue_names_must_be_quotable_in_markdown(bad, error):
    with pytest.raises(error, match="glue name"):
        book.glue(bad, 1.0)


def test_glue_accepts_names_with_dots(monkeypatch):
    import myst_nb
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: None)
    assert book.glue("fgsm_0.05", 0.9) == 0.9  # the adversarial chapter glues one number per epsilon


def test_numpy_and_torch_numbers_are_glued_as_python_numbers(monkeypatch):
    # NumPy 2 reprs np.float64(0.5), which myst-nb cannot format with :.3f (62 build warnings before this).
    import numpy as np
    import torch
    import myst_nb
    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append(value))
    for value in (np.float64(0.5), np.float32(0.5), np.int64(3), torch.tensor(0.5), torch.tensor([0.5])):
        book.glue("x", value)
    assert calls == [0.5, 0.5, 3, 0.5, 0.5] and all(type(v) in (float, int) for v in calls)
    assert format(calls[0], ".3f") == "0.500"
    arr = np.arange(3)
    book.glue("x", arr)  # arrays are left as they are
    assert calls[-1] is arr


@pytest.mark.parametrize("value, bound, digits, shown", [
    (13.88, "lower", 0, "13"), (13.88, "upper", 0, "14"), (0.978, "lower", 2, "0.97"),
    (0.0286, "lower", 3, "0.028"), (0.29, "lower", 2, "0.29"), (0.99998, "lower", 3, "0.999"),
    (-1.25, "lower", 1, "-1.3"), (-1.25, "upper", 1, "-1.2"), (3, "upper", 2, "3.00")])
def test_a_bound_is_rounded_towards_itself_never_across(monkeypatch, value, bound, digits, shown):
    # "at least 14" over a minimum of 13.88 is false; the stored value is floored (ceiled) at the
    # precision the markdown shows, and the raw value is still returned for the asserts.
    import myst_nb
    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append(value))
    assert book.glue("b", value, bound=bound, digits=digits) == value
    assert format(calls[0], f".{digits}f") == shown


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(bound="low", digits=2), ValueError, "bound must be"), (dict(bound="lower"), TypeError, "digits"),
    (dict(bound="lower", digits=2.0), TypeError, "digits"), (dict(bound="lower", digits=-1), ValueError, "digits"),
    (dict(digits=2), ValueError, "bound must be")])
def test_glue_bound_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        book.glue("b", 0.5, **kwargs)


@pytest.mark.parametrize("value, error", [(float("nan"), ValueError), (float("inf"), ValueError), ("0.5", TypeError)])
def test_glue_bound_refuses_what_has_no_side(value, error):
    with pytest.raises(error, match="bound needs|finite number"):
        book.glue("b", value, bound="lower", digits=2)


def test_every_evidence_record_says_how_and_where_it_was_measured():
    from importlib import resources
    folder = resources.files("dlext") / "evidence"
    for path in folder.iterdir():
        if path.name.endswith(".json"):
            record = book.evidence(path.name[:-5])
            assert record["command"].strip() and record["machine"].strip() and record["values"], path.name


@pytest.mark.parametrize("bad, error", [(3, TypeError), ("../x", ValueError), ("no_such_topic", ValueError)])
def test_evidence_names_a_topic(bad, error):
    with pytest.raises(error, match="evidence name|no evidence named"):
        book.evidence(bad)

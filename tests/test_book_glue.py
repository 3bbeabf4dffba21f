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

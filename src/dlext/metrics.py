"""Record a chapter's headline numbers so the benchmark runner can tabulate them."""
import json
import math
import os
from pathlib import Path

ENV_FILE = "DLEXT_METRICS"  # a JSON-lines file to append to; unset means "record nothing"
ENV_NOTEBOOK = "DLEXT_NOTEBOOK"  # set by the benchmark runner to the chapter's file name


def record(key: str, value: float) -> None:
    """Append ``{"notebook", "key", "value"}`` to the file named by ``$DLEXT_METRICS``, if set."""
    if not isinstance(key, str):
        raise TypeError(f"metric key must be a string, got {type(key).__name__} {key!r}")
    if not key.strip():
        raise ValueError(f"metric key must be a non-empty string, got {key!r}")
    if isinstance(value, (str, bytes, bool)):  # True is not a measurement (float(True) would record 1.0)
        raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)  # accepts Python, NumPy and one-element torch numbers
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__}") from err
    if not math.isfinite(value):
        raise ValueError(f"metric {key!r} must be finite, got {value}")
    path = os.environ.get(ENV_FILE)
    if not path:
        return
    notebook = os.environ.get(ENV_NOTEBOOK) or Path(os.environ.get("JPY_SESSION_NAME", "")).name or None
    line = json.dumps({"notebook": notebook, "key": key, "value": value}) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)  # one write per line, so concurrent notebooks don't interleave

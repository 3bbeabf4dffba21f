"""environment.yml (for conda users) stays in step with requirements.txt (what CI installs)."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def _direct_requirements():
    text = (ROOT / "requirements.txt").read_text()
    direct = text.split("# Direct dependencies")[1].split("# Indirect dependencies")[0]
    return _pins(direct.splitlines()), _pins(text.splitlines())


def test_environment_yml_pins_what_requirements_pins():
    direct, everything = _direct_requirements()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = _pins(pip_section)
    assert env_pins == direct, (set(env_pins.items()) ^ set(direct.items()))
    assert "python=3.11" in env["dependencies"]
    assert "-e ." in [p.split("#")[0].strip() for p in pip_section]
    assert all(name in everything for name in env_pins)


def test_requirements_are_exact_pins():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()  # a pin may carry a comment saying why
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line), f"not an exact pin: {line!r}"
    _, everything = _direct_requirements()
    assert everything["torch"] == "2.13.0" and everything["jupyter-book"] == "1.0.4.post1"


def test_package_dependencies_are_lower_bounds_only():
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert "==" not in dep and "<" not in dep and "~=" not in dep, f"dlext must not pin: {dep}"

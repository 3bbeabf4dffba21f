"""environment.yml (for conda users) stays in step with requirements.txt (what CI installs)."""
import re
import sys
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


def test_environment_yml_installs_exactly_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert not any(isinstance(d, str) and d.startswith("nodejs") for d in env["dependencies"])  # no Node needed
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p.split("#")[0].strip() for p in pip_section] == ["-r requirements.txt", "-e ."]


# Import names that differ from their distribution's name, for the check below.
_DIST_OF = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipython", "myst_nb": "myst-nb",
            "skimage": "scikit-image", "PIL": "pillow"}


def _imported_modules() -> dict[str, str]:
    """Top-level modules imported by the package, chapters, tests, tools and benchmarks: {module: first file}."""
    import ast

    import nbformat
    sources = {str(p): p.read_text() for d in ("src", "tests", "tools", "benchmarks") for p in (ROOT / d).rglob("*.py")
               if "fixtures" not in p.parts}
    sources[str(ROOT / "conftest.py")] = (ROOT / "conftest.py").read_text()
    for nb in (ROOT / "book").glob("*.ipynb"):
        cells = nbformat.read(nb, as_version=4).cells
        sources[str(nb)] = "\n".join(c.source for c in cells if c.cell_type == "code" and not c.source.startswith("%"))
    found = {}
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def test_everything_imported_is_stdlib_ours_or_a_direct_pin():
    direct, _ = _direct_requirements()
    # our own modules: the package, and every script or test helper of the repository imported by name
    local = {"dlext", "tests"} | {p.stem for folder in ("tests", "tools", "benchmarks") for p in (ROOT / folder).rglob("*.py")}
    for module, path in sorted(_imported_modules().items()):
        if module in sys.stdlib_module_names or module in local or module.startswith("_"):
            continue
        dist = _DIST_OF.get(module, module).lower().replace("_", "-")
        assert dist in direct, f"{path} imports {module}, but {dist} is not a direct pin in requirements.txt"


def test_no_direct_pin_is_unused():
    direct, _ = _direct_requirements()
    used = {_DIST_OF.get(m, m).lower().replace("_", "-") for m in _imported_modules()}
    # Tools run as commands, pytest plugins or Sphinx extensions, not necessarily imported by name.
    tools = {"jupyter-book", "ipykernel", "pytest-xdist", "pytest-timeout", "nbval",
             "myst-nb"}  # configured by _config.yml (nb_* settings); chapters import myst_nb.glue
    unused = set(direct) - used - tools
    assert not unused, f"direct pins nothing imports (drop them or say why): {sorted(unused)}"


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

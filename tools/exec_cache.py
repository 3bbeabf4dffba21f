"""Execute a chapter only when its code or the `dlext` code it uses changed, and time what did run.

A small Sphinx extension (`_config.yml`: `sphinx: local_extensions`), for `execute_notebooks: cache`
(myst-nb's jupyter-cache mode). jupyter-cache keys an executed notebook by a hash of its code cells (source and
metadata) and kernelspec; a prose edit leaves the key alone, so the chapter's outputs come from
`_build/.jupyter_cache` instead of a kernel. Two things the key does not see are added here:

- **The `dlext` code a chapter uses.** The key also covers the bytes of every file of `src/dlext` the chapter
  imports (`dependencies()`: its `import dlext...` / `from dlext import ...` lines, followed through the
  package's own imports, plus the data files the package loads by name: `DYNAMIC`). A one-line change in
  `dlext/gan.py` re-executes the chapters that import `dlext.gan`, directly or through another module, and
  no other. The same files are Sphinx dependencies of the chapter's page, so an incremental build re-reads
  the page when one of them changes (and finds that the key changed).
- **What the run cost.** Each chapter that executes is timed by the CPU seconds of its kernel process
  (user + system, the kernel and anything it started and waited for: `RUSAGE_CHILDREN` of the process
  that ran it, before and after). Unlike wall-clock time this hardly changes when other jobs share the
  machine (a parallel build, other users), so the Results page can hold it to a budget set for one idle
  kernel. The record (CPU and wall seconds, the metrics the kernel recorded, when) is stored beside the
  cached notebook, so a chapter taken from the cache shows the numbers of the run that made its outputs.

A fresh clone has no cache: `make book` executes every chapter. After `make test` (as on CI), the chapters nbval
just executed come into the cache first (tools/nbval_outputs.py): on CI only the two chapters nbval did not run
execute in the build.
"""
from __future__ import annotations

import ast
import copy
import datetime
import hashlib
import json
import os
import re
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dlext"
# Files outside dlext that change what every chapter draws (the colour cycle): part of every chapter's key.
SHARED_INPUTS = [ROOT / "book" / "matplotlibrc"]
RUN_KEY = "dlext_run"  # myst-nb's per-document data (merged across Sphinx's parallel readers)

# Modules that load package files by name at run time, from which folder, and through which functions: static
# imports cannot see these. A chapter depends on the files its calls name with a literal (quiz("gans") reads
# quizzes/gans.json, so editing another chapter's quiz does not re-execute it); a call whose name is not a literal
# string makes it depend on the whole folder. tests/test_exec_cache.py fails when a module of dlext loads
# something by name that is not listed here. dlext.homework imports dlext.exercises.<topic> by name: that is
# resolved from the chapter's own check("topic.qN", ...) calls (`_exercise_modules`), not listed here.
DYNAMIC: dict[str, tuple[str, tuple[str, ...]]] = {
    "dlext.interactive": ("quizzes", ("quiz", "load_quiz", "placeholders")),
    "dlext.book": ("evidence", ("evidence",)),
}
_QUESTION_CALL = re.compile(r"""\b(?:check|lookup|questions)\(\s*(?:(?P<q>["'])(?P<topic>[A-Za-z_]\w*)[."']|(?P<other>[^)\s]))""")


def _exercise_modules(code: str, package: Path) -> list[str]:
    """The exercise modules a chapter's check("topic.qN", ...) calls import; all of them for a call whose
    question is not a literal string (nothing can tell which it names)."""
    topics = set()
    for m in _QUESTION_CALL.finditer(code):
        if m.group("other"):
            return [f"dlext.exercises.{p.stem}" for p in (package / "exercises").glob("*.py")]
        topics.add(m.group("topic"))
    return [f"dlext.exercises.{t}" for t in sorted(topics)]


def _files_named(folder: Path, functions: tuple[str, ...], sources: list[str]) -> list[Path]:
    """The files of `folder` that calls of `functions` in `sources` name (name -> folder/name.*); every file of
    the folder when a call's argument is not a literal string, or a source imports one of the functions by name
    (``from dlext.book import evidence as ev`` would hide its calls)."""
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    call = re.compile(r"(?<!def )\b(?:%s)\(\s*(?:(?P<q>[\"'])(?P<name>[A-Za-z_]\w*)(?P=q)|(?P<other>[^)\s]))"
                      % "|".join(map(re.escape, functions)))
    alias = re.compile(r"\bimport\b[^\n]*\b(?:%s)\s+as\b" % "|".join(map(re.escape, functions)))
    names = set()
    for source in sources:
        if alias.search(source):
            return files
        for m in call.finditer(source):
            if m.group("other"):
                return files
            names.add(m.group("name"))
    return [p for p in files if p.stem in names]


def _module_file(module: str, package: Path | None = None) -> Path | None:
    """src/dlext/x.py or src/dlext/x/__init__.py for 'dlext.x' (None if it is not part of dlext)."""
    package = package or PACKAGE
    parts = module.split(".")
    if parts[0] != "dlext":
        return None
    base = package.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, current: str | None = None, package: Path | None = None) -> set[str]:
    """The dlext modules a piece of code imports (absolute, relative to `current`, and `from dlext import x`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dlext")
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                parent = current.split(".")
                here = _module_file(current, package)
                is_package = here is not None and here.name == "__init__.py"
                base_parts = parent if is_package else parent[:-1]
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "dlext":
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from dlext import gan` imports dlext.gan
    return found


_NAMED_MODULE = re.compile(r"""["'](dlext(?:\.[A-Za-z_]\w*)+)""")


def _named_modules(source: str) -> set[str]:
    """dlext modules named in strings (`homework.make("dlext.gan.Generator")` imports dlext.gan by name):
    every dotted prefix, since the last parts may be a class and its attribute."""
    found = set()
    for m in _NAMED_MODULE.finditer(source):
        parts = m.group(1).split(".")
        found.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return found


def _parse(source: str) -> ast.AST:
    # Notebook cells may hold IPython syntax (%magic, !shell); drop those lines for the import scan.
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return ast.parse("")


def dependencies(code: str, package: Path | None = None) -> list[Path]:
    """Every file of the dlext package that `code` (a chapter's code cells) runs or loads, sorted."""
    package = package or PACKAGE
    files: set[Path] = set()
    pending = (["dlext", *_imports(_parse(code)), *_named_modules(code), *_exercise_modules(code, package)]
               if "dlext" in code else [])
    seen: set[str] = set()
    sources = {"": code}  # module -> source, for the calls that name files of DYNAMIC folders
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module, package)
        if path is None:
            continue
        files.add(path)
        # importing dlext.a.b runs dlext/__init__.py and dlext/a/__init__.py first
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        source = path.read_text(encoding="utf-8")
        sources[module] = source
        pending.extend(_imports(_parse(source), module, package))
        pending.extend(_named_modules(source))
    for module, (folder, functions) in DYNAMIC.items():
        if module in seen:
            # the module that defines the loaders passes its argument on: only its callers' names count
            callers = [src for name, src in sources.items() if name != module]
            files.update(_files_named(package / folder, functions, callers))
    return sorted(files)


def dependency_digest(code: str, package: Path | None = None) -> str:
    """sha256 over the paths and bytes of `dependencies(code)`: changes when any file the chapter uses does."""
    package = package or PACKAGE
    h = hashlib.sha256()
    for path in dependencies(code, package):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for path in SHARED_INPUTS:
        h.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return h.hexdigest()


def _code_of(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def code_of(path: Path) -> str:
    """The code cells of the notebook at `path`, as the cache key sees them."""
    import nbformat

    return _code_of(nbformat.read(str(path), as_version=4))


# --- jupyter-cache: the key also covers the dlext files ---------------------------------------------------

def patch_cache_key() -> None:
    from jupyter_cache.cache.main import JupyterCacheBase

    original = JupyterCacheBase.create_hashed_notebook
    if getattr(original, "_dlext", False):
        return

    def create_hashed_notebook(self, nb, nb_metadata=("kernelspec",), cell_metadata=None):
        nb = copy.deepcopy(nb)
        nb.metadata["dlext_dependencies"] = dependency_digest(_code_of(nb))
        if nb_metadata is not None:
            nb_metadata = (*nb_metadata, "dlext_dependencies")
        return original(self, nb, nb_metadata, cell_metadata)

    create_hashed_notebook._dlext = True
    JupyterCacheBase.create_hashed_notebook = create_hashed_notebook


# --- what each execution cost, kept beside the cached notebook ---------------------------------------------

def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runs_dir(cache_path: str) -> Path:
    return Path(cache_path) / "dlext-runs"


def _patch_client() -> None:
    """Time the kernel of each executed notebook; on a cache hit, find the record of the run that cached it."""
    from myst_nb.core.execute.cache import NotebookClientCache

    original = NotebookClientCache.start_client
    if getattr(original, "_dlext", False):
        return

    def start_client(self):
        from jupyter_cache import get_cache

        cache = get_cache(self.nb_config.execution_cache_path or ".jupyter_cache")
        try:
            hit = cache.match_cache_notebook(self.notebook)
        except KeyError:
            hit = None
        cpu0, wall0 = _children_cpu(), time.perf_counter()
        given = self._notebook
        original(self)
        run = None
        if hit is not None and self._notebook is not given:
            # myst-nb merges a cached notebook into a copy, but writes the object it was given to
            # _build/jupyter_execute: that file would show a cached chapter without its outputs. Merge in place.
            given.cells, given.metadata = self._notebook.cells, self._notebook.metadata
            self._notebook = given
        if hit is not None:
            path = _runs_dir(cache.path) / f"{hit.hashkey}.json"
            run = json.loads(path.read_text()) if path.is_file() else {"cpu_seconds": None}
            run["cached"] = True
        elif self.exec_metadata and self.exec_metadata.get("succeeded"):
            try:
                record = cache.match_cache_notebook(self.notebook)
            except KeyError:  # executed but not cached (a cache write failed): time it all the same
                record = None
            run = {"cpu_seconds": round(_children_cpu() - cpu0, 2),
                   "wall_seconds": round(self.exec_metadata.get("runtime") or time.perf_counter() - wall0, 2),
                   "executed": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "metrics": _metrics_of(Path(self.path).stem)}
            if record is not None:
                save_run(cache.path, record.hashkey, run)
            run = {**run, "cached": False}
        if run is not None:
            _LAST_RUN[str(Path(self.path).resolve())] = run

    start_client._dlext = True
    NotebookClientCache.start_client = start_client


_LAST_RUN: dict[str, dict] = {}


def save_run(cache_path: str, hashkey: str, run: dict) -> None:
    """Keep the record of the run that made a cached notebook beside it (a cache hit shows this record)."""
    folder = _runs_dir(cache_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{hashkey}.json").write_text(json.dumps(run, indent=1) + "\n")


def read_metrics(path: Path) -> dict[str, dict[str, float]]:
    """{chapter: {key: value}} from a JSON-lines file that kernels appended to with dlext.metrics.record
    (the last value of a key wins)."""
    out: dict[str, dict[str, float]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            chapter = Path(entry.get("notebook") or "unknown").stem
            out.setdefault(chapter, {})[entry["key"]] = entry["value"]
    return out


def _metrics_of(chapter: str) -> dict[str, float]:
    """What this chapter's kernel recorded with dlext.metrics.record in this build (results_page's file)."""
    path = os.environ.get("DLEXT_METRICS")
    return read_metrics(Path(path)).get(chapter, {}) if path else {}


# --- Sphinx wiring ----------------------------------------------------------------------------------------

_STARTED: dict[str, tuple[float, float]] = {}


def _source_read(app, docname, source) -> None:
    path = Path(app.env.doc2path(docname))
    _STARTED[docname] = (_children_cpu(), time.perf_counter())
    if path.suffix == ".ipynb":
        import nbformat

        nb = nbformat.reads(source[0], as_version=4)
        for dep in [*dependencies(_code_of(nb)), *(p for p in SHARED_INPUTS if p.is_file())]:
            app.env.note_dependency(str(dep))  # an incremental build re-reads the page when one changes


def _doctree_read(app, doctree) -> None:
    from myst_nb.sphinx_ import NbMetadataCollector

    docname = app.env.docname
    path = str(Path(app.env.doc2path(docname)).resolve())
    cpu0, wall0 = _STARTED.pop(docname, (None, None))
    run = _LAST_RUN.pop(path, None)
    if run is None and cpu0 is not None and app.env.config.nb_execution_mode in ("force", "auto"):
        exec_data = NbMetadataCollector.get_exec_data(app.env, docname) or {}
        if exec_data.get("method") in ("force", "auto") and exec_data.get("succeeded"):
            run = {"cpu_seconds": round(_children_cpu() - cpu0, 2), "wall_seconds": exec_data.get("runtime"),
                   "executed": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "metrics": _metrics_of(Path(path).stem), "cached": False}
    if run is not None:
        NbMetadataCollector.set_doc_data(app.env, docname, RUN_KEY, run)


def run_of(env, docname: str) -> dict | None:
    """The record of the execution that made this chapter's outputs (None if it did not execute)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    return NbMetadataCollector.get_doc_data(env).get(docname, {}).get(RUN_KEY)


def _partial_book(app, config) -> None:
    """A partial book (tools/build_book.py --chapters): links to the chapters it leaves out are not warnings."""
    if os.environ.get("DLEXT_PARTIAL_BOOK") == "1":
        config.suppress_warnings = [*config.suppress_warnings, "myst.xref_missing"]


def setup(app):
    app.connect("config-inited", _partial_book)
    patch_cache_key()
    _patch_client()
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _doctree_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Fetch the JavaScript the built book needs offline: MathJax, require.js and the Jupyter widget manager.

    python tools/build_assets.py _build/assets

The book must render math and saved widget state with no internet (CI has none), so these come from
pinned npm packages at build time instead of a CDN, and nothing large is committed. Each tarball is
downloaded from the npm registry over plain HTTPS (no Node or npm needed) and checked against the
sha512 integrity pinned below, then only the files a browser loads are extracted:

    OUTDIR/mathjax/tex-mml-chtml.js (+ its lazily loaded extensions and CHTML fonts)
    OUTDIR/requirejs/require.js
    OUTDIR/jupyter-widgets/embed-amd.js (+ the Font Awesome files it references by relative URL)
    OUTDIR/jupyter-widgets/setup.js (written here: require.js paths and a MathJax 3 shim for the widgets)

`python tools/build_assets.py --checks _build/check-assets` fetches, the same way, what the browser checks of the
built book need and the book itself does not (so it is never copied into the book's `_static/`):

    OUTDIR/axe-core/axe.min.js (the accessibility engine behind Lighthouse, run over every page by
                                tests/test_book_a11y.py)

`_config.yml` points Sphinx at them (`html_static_path`, `mathjax_path`, `nb_ipywidgets_js`), so they end
up in `_build/html/_static/`. OUTDIR must not be the book's top-level `_static/`: Jupyter Book 1 adds a
<script> tag to every page for every .js file found there.

Idempotent and fast: when OUTDIR already holds these exact versions (see OUTDIR/assets.json), it
returns at once. Otherwise everything is extracted into a temporary folder beside OUTDIR and moved
into place only when complete, so an interrupted run never leaves half-extracted files.

The module is also a small Sphinx extension (`_config.yml`: `sphinx: local_extensions`), see `setup()`:
it stops the build with a clear message when the assets are missing, and works around two upstream
bugs that otherwise put a JavaScript error in the console of every page.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

# Pinned packages: (version, sha512 integrity as published in the npm registry's `dist.integrity`).
# - mathjax 3.2.2: MathJax v3, the major version Sphinx 7's sphinx.ext.mathjax and myst-parser configure
#   (`mathjax3_config`); 3.2.2 is the last 3.x release.
# - @jupyter-widgets/html-manager 1.0.15: the embed manager of ipywidgets 8 (widget state with
#   @jupyter-widgets/controls 2.0.0 / base 2.0.0 models). It depends on @jupyter-widgets/controls ^5.0.13
#   and base ^6.0.12, exactly the front-end packages of the jupyterlab-manager 5.0.16 that ships with
#   ipywidgets 8.1.9 in requirements.txt. Bump it together with ipywidgets.
# - requirejs 2.3.7: the AMD loader embed-amd.js needs (myst-nb's default pulls 2.3.4 from a CDN).
PACKAGES: dict[str, tuple[str, str]] = {
    "mathjax": (
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    ),
    "@jupyter-widgets/html-manager": (
        "1.0.15",
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
    ),
    "requirejs": (
        "2.3.7",
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
    ),
}

# The browser checks' tools (`--checks`), kept apart from the book's assets.
# - axe-core 4.12.1: the accessibility rules engine (Deque; MPL-2.0). One self-contained file, injected into
#   each page by the test; bump deliberately, since a new release can add rules.
CHECK_PACKAGES: dict[str, tuple[str, str]] = {
    "axe-core": (
        "4.12.1",
        "sha512-s7iGf5GaVMxEG0ENN9x+xTr7GFZCb1ZP/1uATUpCEK2X78nDB3RwbtFCo9pGAf9ru+VwoQ464DkaLEeRM08wJA==",
    ),
}
CHECK_SELECT: dict[str, tuple[str, str, list[str]]] = {
    "axe-core": ("axe-core", "", ["axe.min.js", "LICENSE"]),
}
CHECK_ENTRY_POINTS = ["axe-core/axe.min.js"]

# What to take from each tarball: (folder under OUTDIR, prefix stripped from member paths, patterns).
# Patterns are paths inside the tarball below its top-level `package/` folder; one ending in "/" takes the
# whole folder, others are globs matched against the full path.
SELECT: dict[str, tuple[str, str, list[str]]] = {
    "mathjax": (
        "mathjax",
        "es5/",
        [
            "LICENSE",
            "es5/tex-mml-chtml.js",   # the component Sphinx loads (TeX + MathML input, CHTML output)
            "es5/input/",             # TeX extensions loaded on demand (\require, autoload: cancel, bbox, ...)
            "es5/output/chtml/",      # the CHTML web fonts (woff-v2), fetched relative to the script
            "es5/a11y/",              # accessibility modules the right-click menu can switch on
            "es5/ui/",                # the menu's lazily loaded parts
            "es5/sre/",               # speech-rule engine used by the a11y options
        ],
    ),
    "@jupyter-widgets/html-manager": (
        "jupyter-widgets",
        "dist/",
        [
            "dist/embed-amd.js",      # the manager: renders <script type="application/vnd.jupyter.widget-*">
            # Font Awesome files embed-amd.js references by URL relative to its own location.
            *(f"dist/*.{ext}" for ext in ("woff2", "woff", "ttf", "eot", "svg")),
        ],
    ),
    "requirejs": ("requirejs", "", ["require.js"]),  # its MIT licence is in the file's header
}

# Written by this script, loaded between require.js and embed-amd.js (see nb_ipywidgets_js in _config.yml).
WIDGETS_SETUP_JS = """\
// Generated by tools/build_assets.py. Loaded after require.js and before embed-amd.js on pages with widgets.
(function () {
  // embed-amd.js finds its Font Awesome files relative to its AMD module URL, which require.js would put
  // under the page's folder (404s); map the module path to this folder instead.
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": here.replace(/\\/$/, "") } });
  // ipywidgets 8 typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue); the book loads
  // MathJax 3 (deferred, so it has run by DOMContentLoaded; widgets render later, at window load).
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (job) {
          if (Array.isArray(job) && job[0] === "Typeset") {
            mj.startup.promise = mj.startup.promise.then(function () {
              return mj.typesetPromise(job[2] ? [job[2]] : undefined);
            });
          }
        });
      },
    };
  });
})();
"""
WIDGETS_SETUP = "jupyter-widgets/setup.js"

# Files a browser loads directly (checked after extraction and on the fast path).
ENTRY_POINTS = ["mathjax/tex-mml-chtml.js", "requirejs/require.js", WIDGETS_SETUP, "jupyter-widgets/embed-amd.js"]
STAMP = "assets.json"


class AssetError(RuntimeError):
    pass


def _bundle(checks: bool) -> tuple[dict, dict, list[str]]:
    """(packages, what to extract, entry points) of the book's assets or, with `checks`, the checks' tools."""
    if checks:
        return CHECK_PACKAGES, CHECK_SELECT, CHECK_ENTRY_POINTS
    return PACKAGES, SELECT, ENTRY_POINTS


def _spec(checks: bool = False) -> dict:
    packages, _, _ = _bundle(checks)
    spec = {name: {"version": v, "integrity": i} for name, (v, i) in packages.items()}
    if not checks:
        spec[WIDGETS_SETUP] = {"sha256": hashlib.sha256(WIDGETS_SETUP_JS.encode()).hexdigest()}
    return spec


def is_current(outdir: Path, checks: bool = False) -> bool:
    stamp = outdir / STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded == _spec(checks) and all((outdir / e).is_file() for e in _bundle(checks)[2])


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


REGISTRY = "https://registry.npmjs.org"  # npm's public registry; `npm_config_registry` overrides it
TIMEOUT = 60  # seconds without data before a download is abandoned
RETRIES = 3


def tarball_url(name: str, version: str, registry: str | None = None) -> str:
    """The registry URL of a package's tarball, e.g. .../@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz."""
    registry = (registry or os.environ.get("npm_config_registry") or REGISTRY).rstrip("/")
    return f"{registry}/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"


def _download(url: str, path: Path) -> None:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(path, "wb") as f:
        shutil.copyfileobj(response, f)


def fetch_tarballs(dest: Path, registry: str | None = None, packages: dict | None = None) -> dict[str, Path]:
    """Download the pinned tarballs from the npm registry into `dest`; return {package name: tarball}.

    Plain HTTPS (no Node or npm needed), each tarball checked against its pinned sha512 integrity, the
    same check npm itself makes. A failed or corrupted download is retried, then reported.
    """
    tarballs: dict[str, Path] = {}
    for name, (version, want) in (PACKAGES if packages is None else packages).items():
        url = tarball_url(name, version, registry)
        path = dest / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
        problem = ""
        for attempt in range(1, RETRIES + 1):
            try:
                _download(url, path)
            except (OSError, urllib.error.URLError) as err:  # HTTPError, timeouts, refused connections
                problem = f"download failed: {err}"
                continue
            got = _integrity(path)
            if got == want:
                break
            problem = f"sha512 integrity {got} does not match the pinned {want}"
        else:
            path.unlink(missing_ok=True)
            raise AssetError(f"{name}@{version} from {url}: {problem} (after {RETRIES} tries). The book's offline "
                             f"MathJax and widget manager come from the npm registry at build time; check the "
                             f"connection, or set npm_config_registry to a registry mirror.")
        tarballs[name] = path
    return tarballs


def _wanted(member: str, patterns: list[str]) -> bool:
    rel = PurePosixPath(member)
    for pattern in patterns:
        if pattern.endswith("/"):
            if member.startswith(pattern):
                return True
        elif rel.match(pattern) and len(rel.parts) == len(PurePosixPath(pattern).parts):
            return True
    return False


def extract(tarball: Path, strip: str, patterns: list[str], target: Path) -> int:
    """Extract the members of `tarball` matching `patterns` into `target`, minus `strip`; return how many."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            top, _, rel = member.name.partition("/")  # npm tarballs keep everything under `package/`
            if not rel or not _wanted(rel, patterns):
                continue
            member.name = rel[len(strip):] if strip and rel.startswith(strip) else rel
            tar.extract(member, target, filter="data")  # "data" refuses absolute paths, .., links out
            count += 1
    return count


def build(outdir: Path, force: bool = False, checks: bool = False) -> bool:
    """Make `outdir` hold the pinned assets (with `checks`: the browser checks' tools). Returns True if it
    (re)built them, False if already current."""
    packages, select, entry_points = _bundle(checks)
    outdir = outdir.resolve()
    if not force and is_current(outdir, checks):
        return False
    if outdir.exists() and any(outdir.iterdir()) and not (outdir / STAMP).exists():
        # Never replace a folder this script did not make (a typo like `_build` would delete the book).
        raise AssetError(f"{outdir} exists, is not empty and has no {STAMP}: not an assets folder; remove it first")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".assets-", dir=outdir.parent) as tmp:
        tmp = Path(tmp)
        downloads, staging = tmp / "npm", tmp / "assets"
        downloads.mkdir()
        staging.mkdir()
        tarballs = fetch_tarballs(downloads, packages=packages)
        for name, (subdir, strip, patterns) in select.items():
            n = extract(tarballs[name], strip, patterns, staging / subdir)
            if n == 0:
                raise AssetError(f"nothing matched {patterns} in {tarballs[name].name}")
        if not checks:
            (staging / WIDGETS_SETUP).write_text(WIDGETS_SETUP_JS)
        for entry in entry_points:
            if not (staging / entry).is_file():
                raise AssetError(f"{entry} is missing after extraction")
        (staging / STAMP).write_text(json.dumps(_spec(checks), indent=2) + "\n")
        # Swap in the complete folder: the old one (if any) is moved aside first, so OUTDIR is always
        # either absent, the old complete set, or the new complete set.
        old = tmp / "old"
        if outdir.exists():
            outdir.rename(old)
        staging.rename(outdir)
    return True


# --- Sphinx extension -----------------------------------------------------------------------------------

def _check_assets(app, folders: list[Path]) -> None:
    """builder-inited: fail early, and say what to run, if no html_static_path entry holds current assets."""
    if app.builder.format != "html":
        return
    from sphinx.errors import ExtensionError

    try:
        from importlib.metadata import PackageNotFoundError, version

        ipywidgets = version("ipywidgets")
    except PackageNotFoundError:
        ipywidgets = None
    if ipywidgets is not None and not ipywidgets.startswith("8."):
        raise ExtensionError(
            f"ipywidgets {ipywidgets} is installed, but tools/build_assets.py pins @jupyter-widgets/html-manager "
            f"{PACKAGES['@jupyter-widgets/html-manager'][0]}, the manager for ipywidgets 8 (controls 2.0 state): "
            f"update the pin with ipywidgets."
        )
    if not any(is_current(f) for f in folders):
        raise ExtensionError(
            f"the offline JavaScript assets (MathJax, require.js, the widget manager) are missing or outdated in "
            f"html_static_path {[str(f) for f in folders]}: run `python tools/build_assets.py _build/assets` "
            f"first (`make book` does)."
        )


def _dedupe_inline_scripts(app, env) -> None:
    """env-updated: drop the second copy of inline <script> bodies that Sphinx 7.4 writes into every page.

    An extension that calls `app.add_js_file(None, body=...)` after the builder exists (sphinx-togglebutton
    at builder-inited, sphinx-thebe at env-before-read-docs) gets `_JavaScript(None, ...)` in the builder,
    and `prepare_writing()` adds the same registry entry again as `_JavaScript('', ...)`, which does not
    compare equal. With sphinx-thebe's `const THEBE_JS_URL = ...` that is a SyntaxError ("Identifier
    'THEBE_JS_URL' has already been declared") on every page. Making the first copy `''` lets Sphinx's
    own de-duplication drop the second. A no-op where the builder has no such entries.
    """
    files = getattr(app.builder, "_js_files", None)
    if not files:
        return
    for i, js in enumerate(files):
        if getattr(js, "filename", "") is None:
            files[i] = type(js)("", priority=js.priority, **js.attributes)


# pydata-sphinx-theme 0.17 (under sphinx-book-theme 1.3) sets <html data-mode> to localStorage's "mode" or
# "" on a reader's first visit, then logs console.error("Got invalid theme mode: . Resetting to auto.").
# Say "auto" (what it resets to anyway) before its deferred script runs.
_THEME_MODE_JS = 'if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = "auto"; }'


# Jupyter Book always loads these two; their setup() does not say whether they are safe for Sphinx's parallel
# read, so Sphinx would assume not and read (that is, execute) the chapters one at a time. Both only register
# node types, transforms and config values (sphinx_jupyterbook_latex: for the LaTeX builder; multitoc: section
# numbering, assigned after the read phase), nothing that parallel reads could get out of step.
PARALLEL_SAFE_UNDECLARED = ("sphinx_jupyterbook_latex", "sphinx_multitoc_numbering")


def _declare_parallel_safe(app, config) -> None:
    for name in PARALLEL_SAFE_UNDECLARED:
        ext = app.extensions.get(name)
        if ext is not None and ext.parallel_read_safe is None:
            ext.parallel_read_safe = True


def setup(app):
    app.connect("config-inited", _declare_parallel_safe)
    # Sphinx's own config-inited check drops a missing html_static_path entry with a mere warning, so note
    # the configured folders before it runs, and check them once the builder (and its format) is known.
    folders: list[Path] = []
    app.connect("config-inited", lambda app, config: folders.extend(
        Path(app.confdir) / p for p in config.html_static_path), priority=100)
    app.connect("builder-inited", lambda app: _check_assets(app, folders))
    app.connect("env-updated", _dedupe_inline_scripts)
    app.add_js_file(None, body=_THEME_MODE_JS, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="where to put the assets, e.g. _build/assets")
    parser.add_argument("--force", action="store_true", help="fetch again even if the assets are current")
    parser.add_argument("--checks", action="store_true",
                        help="fetch the browser checks' tools (axe-core) instead of the book's assets")
    args = parser.parse_args(argv)
    try:
        built = build(args.outdir, force=args.force, checks=args.checks)
    except AssetError as err:
        print(f"build_assets: error: {err}", file=sys.stderr)
        return 1
    versions = ", ".join(f"{n}@{v}" for n, (v, _) in _bundle(args.checks)[0].items())
    print(f"build_assets: {'fetched' if built else 'up to date'}: {versions} in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

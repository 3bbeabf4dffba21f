"""`jupyter-book build`, reading (that is, executing) the chapters in parallel processes.

    python tools/build_book.py [--jobs N] [--chapters 00,05] [jupyter-book build options ...] PATH

Jupyter Book 1's `build_sphinx` takes a `jobs` argument and hands it to Sphinx's parallel read, but its
command line never sets it, so the book's chapters would execute one after the other. This runs the
unchanged `jupyter-book build` command with `jobs` set: Sphinx splits the pages among N worker processes,
each executing its notebooks in fresh kernels. With one thread per kernel (OMP_NUM_THREADS=1), N = the
number of cores (default) keeps every core busy and roughly halves the build on 2 cores.

Sphinx hands each worker a fixed batch of pages in alphabetical order (8 of 17 here), so the workers
would finish far apart: one batch would hold the light chapters, the other the heavy ones. Batches of one
page let a worker that is done take the next page, which balances the two cores (a page is one fork of
the Sphinx process; that costs far less than a chapter's execution).
"""
import argparse
import functools
import os
import sys
from pathlib import Path

import yaml

import jupyter_book.sphinx
import sphinx.builders
from jupyter_book.cli.main import main as jupyter_book_main

import nbval_outputs  # tools/, beside this script


ROOT = Path(__file__).resolve().parents[1]
SUBSET_TOC = ROOT / "_build" / "subset_toc.yml"
SUBSET_ENV = "DLEXT_PARTIAL_BOOK"  # read by tools/exec_cache.py: links to chapters left out are no warnings


def subset_toc(chapters: list[str], toc_path: Path = ROOT / "_toc.yml") -> dict:
    """The book's table of contents cut down to its root, the chapters numbered `chapters` and the Results page."""
    toc = yaml.safe_load(toc_path.read_text())
    wanted = {c.zfill(2) for c in chapters}
    found: set[str] = set()
    parts = []
    for part in toc.get("parts", []):
        keep = []
        for entry in part.get("chapters") or []:
            name = Path(entry.get("file", "")).name
            if name[:2] in wanted or name == "results":
                keep.append(entry)
                found.add(name[:2])
        if keep:
            parts.append({**part, "chapters": keep})
    missing = wanted - found
    if missing:
        raise SystemExit(f"--chapters: no chapter numbered {sorted(missing)} in {toc_path.name}")
    return {**toc, "parts": parts}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="parallel Sphinx processes (default: the usable cores)")
    parser.add_argument("--chapters", default="",
                        help="comma-separated chapter numbers: build only these (with the intro and Results page)")
    args, rest = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive number, got {args.jobs}")
    if args.chapters:
        SUBSET_TOC.parent.mkdir(parents=True, exist_ok=True)
        SUBSET_TOC.write_text(yaml.safe_dump(subset_toc(args.chapters.split(",")), sort_keys=False))
        rest = [*rest, "--toc", str(SUBSET_TOC)]
        # the introduction links to every chapter; in a partial book those links have no target
        os.environ[SUBSET_ENV] = "1"
    else:
        SUBSET_TOC.unlink(missing_ok=True)
    # Chapters `make test` just executed under nbval: their outputs, when the chapter and its dlext files are
    # unchanged, go into the execution cache, so the build does not run them again (tools/nbval_outputs.py).
    for name, what in nbval_outputs.import_staged(nbval_outputs.ROOT / "_build" / "nbval").items():
        print(f"{name}: the outputs of make test's nbval run: {what}")
    sphinx.builders.make_chunks = lambda arguments, nproc, maxbatch=None: [[a] for a in arguments]
    # The CLI imports build_sphinx from this module when it runs, so it gets the version with `jobs` set.
    jupyter_book.sphinx.build_sphinx = functools.partial(jupyter_book.sphinx.build_sphinx, jobs=args.jobs)
    try:
        jupyter_book_main(["build", *rest], prog_name="jupyter-book", standalone_mode=False)
    except Exception as err:
        # A chapter that fails in a parallel worker reaches Jupyter Book as SphinxParallelError, whose
        # message names only the notebook; the worker's traceback (the failing cell and its error) rides
        # along in `.traceback`. Print it, or nobody could tell which cell failed and why.
        cause = err
        while cause is not None:
            if getattr(cause, "traceback", None):
                print(f"\nThe chapter's error, from the Sphinx worker that executed it:\n{cause.traceback}",
                      file=sys.stderr)
                break
            cause = cause.__cause__ or cause.__context__
        raise SystemExit(1) from err


if __name__ == "__main__":
    main(sys.argv[1:])

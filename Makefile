# Two commands do all the set-up on a fresh machine (Python 3.11 and the package registries):
#   make book   build the book -> _build/html/index.html (executes every chapter on a fresh clone; later
#               builds re-execute only chapters whose code, or the dlext code they import, changed)
#   make test   run the test suite (unit tests, every chapter under nbval, homework)
#   make chapter N=05   execute, test and build one chapter (with the intro and Results page)
# Both create .venv and install requirements.txt and the dlext package into it first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# One BLAS/OpenMP thread per process: on a loaded 2-core machine, 2 threads ran 5-17x slower.
export OMP_NUM_THREADS ?= 1
# Use the offline copy of the datasets beside the repository when there is one (CI, dev machines);
# elsewhere dlext downloads them once into a per-user cache.
ifeq ($(origin DLEXT_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data/SHA256SUMS),)
    export DLEXT_DATA_DIR := $(abspath ../shared/data)
  endif
endif

PYTEST_NB := --no-loadscope-reorder --nbval-lax --nbval-current-env --nbval-cell-timeout=600

.PHONY: all book chapter bwrap test test-all check-book bench gpu-check student clean

all: book

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt -e .
	touch $@

## Build the book: fetch the offline JS assets (npm registry, no Node needed), then execute the chapters
## (in parallel processes, one per core: tools/build_book.py) and render HTML. Chapters run through
## jupyter-cache (_build/.jupyter_cache): one whose code cells and imported dlext files are unchanged since
## its last run is not executed again, and Sphinx re-reads only the pages that changed. A fresh clone (CI)
## executes everything; `make clean` forgets the cache.
book: $(STAMP)
	$(VENV)/bin/python tools/build_assets.py _build/assets
	DLEXT_MODEL_CACHE=$(MODELS) $(VENV)/bin/python tools/build_book.py . -W -n --keep-going
	@echo "Book built: $(CURDIR)/_build/html/index.html"

## One chapter: a book of the intro, that chapter and the Results page (the chapter executes, through the same
## cache as `make book`, when its code changed; a failing assert fails the build), then the built-page checks
## on those pages. N is the chapter's number: make chapter N=05
chapter: $(STAMP)
	@test -n "$(N)" || (echo "usage: make chapter N=05" && exit 2)
	$(VENV)/bin/python tools/build_assets.py _build/assets
	DLEXT_MODEL_CACHE=$(MODELS) $(VENV)/bin/python tools/build_book.py --chapters $(N) . -W -n --keep-going
	$(VENV)/bin/python tools/build_assets.py --checks _build/check-assets
	$(VENV)/bin/python -m pytest -m browser --timeout=600 tests/test_book_browser.py tests/test_book_a11y.py

## The homework grader runs each submission in a bubblewrap sandbox: install it where we can (root with apt-get),
## else say how. The tests fail without it rather than skip the sandbox.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "make test needs bubblewrap (bwrap): sudo apt-get install bubblewrap (Debian/Ubuntu)," \
	            "dnf install bubblewrap (Fedora); the homework tests run each submission in it" >&2; exit 1; fi; }

## The test suite: unit tests, every chapter notebook under nbval, homework release/grading. What nbval executed
## is kept in _build/nbval, and a `make book` that follows shows it instead of executing those chapters again
## (when neither a chapter nor its dlext code changed in between: tools/nbval_outputs.py).
## Models that several chapters train the same way (dlext.zoo) are cached in _build/models: `make test` starts
## it empty, so every run trains them (at least once); `make book` loads them.
NBVAL_OUT := $(CURDIR)/_build/nbval
MODELS := $(CURDIR)/_build/models
test: $(STAMP) bwrap
	rm -rf $(NBVAL_OUT) $(MODELS)
	DLEXT_MODEL_CACHE=$(MODELS) DLEXT_NBVAL_OUT=$(NBVAL_OUT) $(VENV)/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_NB) -m "not browser" --timeout=1200 tests book

## The same with every chapter everywhere: nbval, the simulated Colab and the student versions of all chapters
## (make test rotates two chapters out of nbval into the other two; see tests/conftest.py).
test-all: $(STAMP) bwrap
	rm -rf $(NBVAL_OUT) $(MODELS)
	DLEXT_MODEL_CACHE=$(MODELS) DLEXT_NBVAL_OUT=$(NBVAL_OUT) DLEXT_ALL_CHAPTERS=1 $(VENV)/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_NB) -m "not browser" --timeout=7200 tests book

## Checks of the built book in headless Chromium (run after `make book`): rendering, accessibility (axe-core,
## pinned and fetched like the book's assets), alt text, phone width.
check-book: $(STAMP)
	$(VENV)/bin/python tools/build_assets.py --checks _build/check-assets
	$(VENV)/bin/python -m pytest -n 2 -m browser --timeout=600 tests/test_book_browser.py tests/test_book_a11y.py  # two workers, a Chromium each: the axe scans are most of the time
	$(VENV)/bin/python -m pytest tests/test_book_truth.py -k "executed_chapter or glued or allowlist"  # the built pages' numbers (issue 28)

## Student versions of every chapter (solutions stubbed, outputs cleared) -> _build/student/.
student: $(STAMP)
	$(VENV)/bin/python -m dlext.homework release book/*.ipynb --out _build/student

## Time every chapter in a fresh kernel and collect its metrics -> _build/bench/.
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py --out _build/bench

## On a machine with a GPU: every chapter on CUDA in one go (at most 8 minutes), timed, its metrics against the
## targets and the CPU reference -> _build/gpu-check/gpu_check.json. `GPU_CHECK_ARGS=--dry-run` runs it on a CPU.
gpu-check: $(STAMP)
	$(VENV)/bin/python benchmarks/gpu_check.py --budget 480 $(GPU_CHECK_ARGS)

clean:
	rm -rf _build

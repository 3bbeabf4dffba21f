"""The book's Results page: every chapter's run time in this build and its metrics against their targets.

A small Sphinx extension (`_config.yml`: `sphinx: local_extensions`). While the book builds:
- before each chapter executes (`source-read`), the chapter's name goes into DLEXT_NOTEBOOK and a metrics
  file into DLEXT_METRICS, so every `dlext.metrics.record(key, value)` in its kernel lands in
  `_build/results/metrics.jsonl` labelled with the chapter;
- the page `book/results.md` holds a ``{results-table}`` directive; once every chapter has been read
  (executed or taken from the cache), at `doctree-resolved`, the directive becomes a table of each chapter's
  kernel CPU time and wall-clock time (from tools/exec_cache.py's record of the run that made its outputs:
  this build's, or the cached run's, which the table says), its budget, and its metrics against
  `benchmarks/targets.yml`. A chapter is marked over budget only when its kernel CPU time exceeds the budget:
  budgets are set for one kernel on an idle core, which CPU time approximates on a loaded machine and in a
  parallel build, and wall-clock time does not.
Nothing is typed in: a chapter without a recorded run shows as such. A metric that misses its target is a
Sphinx warning, so `make book` (-W) fails on it; a timing (a metric listed under `timing:` in targets.yml, measured
in seconds on the machine that builds) is marked on the page like a budget, not a failure. The table sits in a scrolling box of its own, so a phone
scrolls the table, not the page.
"""
from __future__ import annotations

import datetime
import html
import operator
import os
import platform
import re
from pathlib import Path

import yaml
from docutils import nodes
from exec_cache import read_metrics
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "benchmarks" / "targets.yml"
logger = logging.getLogger(__name__)

_OPS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_KEY = r"[a-z_][\w.]*[\w]"
_TARGET = re.compile(rf"^(<=|>=|==|<|>)\s*(?:(?P<num>{_NUMBER})|(?P<factor>{_NUMBER})\s*\*\s*(?P<fkey>{_KEY})"
                     rf"|(?P<akey>{_KEY})\s*(?P<sign>[-+])\s*(?P<offset>{_NUMBER})|(?P<key>{_KEY}))$")
_BETWEEN = re.compile(rf"^between\s+({_NUMBER})\s+({_NUMBER})$")


def check_target(target: str, value: float, metrics: dict[str, float]) -> bool | None:
    """Whether ``value`` meets ``target`` (see targets.yml); None when it names a metric not recorded."""
    target = target.strip()
    m = _BETWEEN.match(target)
    if m:
        low, high = float(m.group(1)), float(m.group(2))
        return low <= value <= high
    m = _TARGET.match(target)
    if not m:
        raise ValueError(f"cannot read the target {target!r}: expected e.g. '>= 0.9', '<= 0.7 * ae.pca_mse.32', "
                         f"'> adv.robust_acc_plain + 0.2' or 'between 0.98 1.02'")
    op = _OPS[m.group(1)]
    if m.group("num") is not None:
        bound = float(m.group("num"))
    else:
        key = m.group("fkey") or m.group("akey") or m.group("key")
        if key not in metrics:
            return None
        bound = metrics[key]
        if m.group("factor") is not None:
            bound *= float(m.group("factor"))
        if m.group("offset") is not None:
            bound += float(m.group("offset")) * (1 if m.group("sign") == "+" else -1)
    return bool(op(value, bound))


def load_targets(path: Path = TARGETS) -> dict:
    """{"budgets": {chapter: seconds}, "metrics": {chapter: {key: target}}}; a malformed target raises here."""
    data = yaml.safe_load(path.read_text()) or {}
    budgets, metrics = data.get("budgets") or {}, data.get("metrics") or {}
    timing = data.get("timing") or []
    known = {k for t in metrics.values() for k in (t or {})}
    if not isinstance(timing, list) or not set(timing) <= known:
        raise ValueError(f"targets.yml: timing must list metric keys that have targets, got {timing!r}")
    for chapter, targets in metrics.items():
        for key, target in (targets or {}).items():
            check_target(str(target), 0.0, {})
    return {"budgets": budgets, "timing": set(timing),
            "metrics": {ch: {k: str(v) for k, v in (t or {}).items()} for ch, t in metrics.items()}}


class results_placeholder(nodes.General, nodes.Element):
    pass


class ResultsTable(SphinxDirective):
    def run(self):
        return [results_placeholder()]


def _metrics_file(app) -> Path:
    return Path(app.outdir).parent / "results" / "metrics.jsonl"


def _start(app) -> None:
    """builder-inited (main process, before any chapter runs): a fresh metrics file for this build."""
    path = _metrics_file(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.environ["DLEXT_METRICS"] = str(path)
    # dlext.interactive.explore writes kernel-free demos (frames + HTML sliders) instead of live widgets
    os.environ["DLEXT_STATIC_DEMOS"] = "1"


def _label_chapter(app, docname, source) -> None:
    """source-read: kernels started from now on (this chapter's) record under its name."""
    os.environ["DLEXT_NOTEBOOK"] = Path(docname).name


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.4g}"


def _machine() -> str:
    try:
        import torch
        device = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU only"
        torch_version = torch.__version__
    except ImportError:  # the page still builds; it says what it could not find out
        device, torch_version = "unknown (torch not importable in the build process)", "?"
    threads = os.environ.get("OMP_NUM_THREADS", "not set")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {device}; "
            f"OMP_NUM_THREADS={threads}; Python {platform.python_version()}, torch {torch_version}; "
            f"built {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def run_time_cell(run: dict | None, budget: float | None) -> tuple[str, bool]:
    """The run-time cell of a chapter (HTML) and whether it is over budget: by kernel CPU seconds only."""
    cpu = None if run is None else run.get("cpu_seconds")
    if run is None:
        cell = "not executed in this build"
    elif cpu is None:
        cell = "not measured (cached by a build without CPU timing)"
    else:
        cell = f"{cpu:.1f}"
    if run is not None and run.get("by"):
        cell += (f' <span class="results-cached">(run by {html.escape(run["by"])}, '
                 f'{html.escape(run.get("executed", "?"))})</span>')
    elif run is not None and run.get("cached"):
        cell += f' <span class="results-cached">(cached run of {html.escape(run.get("executed", "?"))})</span>'
    return cell, cpu is not None and budget is not None and cpu > budget


def _table(app, env, page: str) -> str:
    from exec_cache import run_of

    targets = load_targets()
    recorded = read_metrics(_metrics_file(app))
    chapters = [d for d in env.found_docs if re.match(r"\d\d_", Path(d).name) and d in env.all_docs]
    rows = ['<div class="results-scroll" tabindex="0" role="region" aria-label="Run times and metrics of every chapter">'
            '<table class="table results-table"><thead><tr><th>chapter</th><th>kernel CPU time (s)</th>'
            '<th>budget (s)</th><th>wall-clock (s)</th><th>metric</th><th>value</th><th>target</th><th></th></tr>'
            '</thead><tbody>']
    for docname in sorted(chapters, key=lambda d: Path(d).name):
        name = Path(docname).name
        run = run_of(env, docname)
        cpu = None if run is None else run.get("cpu_seconds")
        wall = None if run is None else run.get("wall_seconds")
        budget = targets["budgets"].get(name)
        metrics = (run or {}).get("metrics") or recorded.get(name, {})
        title = env.titles[docname].astext() if docname in env.titles else name
        link = app.builder.get_relative_uri(page, docname)
        time_cell, over = run_time_cell(run, budget)
        if over:
            logger.info(f"Results page: {name} took {cpu:.1f} s of kernel CPU time, over its budget of {budget} s")
        wall_cell = "—" if wall is None else f"{wall:.1f}"
        items = sorted(metrics.items()) or [(None, None)]
        for i, (key, value) in enumerate(items):
            head = (f'<td rowspan="{len(items)}"><a href="{html.escape(link)}">{html.escape(title)}</a></td>'
                    f'<td rowspan="{len(items)}">{time_cell}{" <strong>(over budget)</strong>" if over else ""}</td>'
                    f'<td rowspan="{len(items)}">{budget if budget is not None else "—"}</td>'
                    f'<td rowspan="{len(items)}">{wall_cell}</td>') if i == 0 else ""
            if key is None:
                rows.append(f"<tr>{head}<td colspan=4>no metrics recorded</td></tr>")
                continue
            target = targets["metrics"].get(name, {}).get(key)
            verdict = None if target is None else check_target(target, value, metrics)
            mark = {True: "✓", False: "✗ missed", None: ""}[verdict]
            if verdict is False and key in targets["timing"]:
                # a time measured on this machine, like the budgets: marked on the page, not a build failure
                mark = "✗ missed on this machine (a timing)"
                logger.info(f"Results page: {name} recorded {key} = {value}, which misses its target {target} "
                            f"on this machine (a timing: benchmarks/targets.yml)")
            elif verdict is False:
                logger.warning(f"Results page: {name} recorded {key} = {value}, which misses its target {target} "
                               f"(benchmarks/targets.yml)")
            rows.append(f"<tr>{head}<td><code>{html.escape(key)}</code></td><td>{_fmt(value)}</td>"
                        f"<td>{html.escape(target or '')}</td><td>{mark}</td></tr>")
    rows.append("</tbody></table></div>")
    return f'<p class="results-machine">Measured on: {html.escape(_machine())}.</p>\n' + "\n".join(rows)


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    """env-get-outdated: the Results page is re-read by every build (it shows the other pages' runs)."""
    return [d for d in env.found_docs if Path(d).name == "results" and d in env.all_docs]


def _resolve(app, doctree, docname) -> None:
    for node in doctree.findall(results_placeholder):
        node.replace_self(nodes.raw("", _table(app, app.env, docname), format="html"))


def setup(app):
    app.add_node(results_placeholder)
    app.add_directive("results-table", ResultsTable)
    app.connect("builder-inited", _start)
    app.connect("source-read", _label_chapter)
    app.connect("doctree-resolved", _resolve)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

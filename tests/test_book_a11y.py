"""Accessibility of the built book, offline (run after `make book`, by `make check-book`).

For every page the book was built with (see tests/test_book_browser.py):
- axe-core (a pinned copy fetched by `tools/build_assets.py --checks`, run inside headless Chromium) finds
  no serious or critical violation, in the theme's light and dark modes;
- every image has alt text that says what it shows (not a file path, a hash, or nothing), the frames of the
  kernel-free demos included;
- no page shows a demo's markup as text (escaped HTML where the demo should be);
- at a phone's width (375 CSS pixels) no page scrolls sideways.
Screenshots of each page in dark mode and at phone width go to `_build/screenshots/` for review.
"""
from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_book_browser import (  # noqa: E402,F401  (server and browser are fixtures)
    HTML, LOAD_TIMEOUT, PAGES, READY_JS, ROOT, SCREENSHOTS, _TextOutputs, browser, require_built_book, screenshot,
    server, source_of,
)

from test_book_alt_text import alt_problem  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import build_assets  # noqa: E402

pytestmark = pytest.mark.browser

CHECK_ASSETS = ROOT / "_build" / "check-assets"
AXE_BLOCKING = ("serious", "critical")
PHONE_WIDTH = 375


@pytest.fixture(scope="module")
def axe_source() -> str:
    """The pinned axe-core, fetched once from the npm registry (sha512-checked) into _build/check-assets/."""
    try:
        build_assets.build(CHECK_ASSETS, checks=True)
    except build_assets.AssetError as err:
        pytest.fail(f"axe-core could not be fetched: {err}", pytrace=False)
    return (CHECK_ASSETS / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


def _has_quiz(page: str) -> bool:
    src = source_of(page)
    return src.suffix == ".ipynb" and "interactive.quiz(" in src.read_text()


def _load(browser, url: str, page: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    quiz = _has_quiz(page)
    try:
        WebDriverWait(browser, LOAD_TIMEOUT, poll_frequency=0.25).until(
            lambda d: d.execute_script(READY_JS) and (not quiz or d.execute_script(
                "return document.querySelectorAll('.Quiz .MCButton, .Quiz input').length > 0")))
    except TimeoutException:
        pytest.fail(f"{url} did not finish rendering within {LOAD_TIMEOUT} s (see test_book_browser.py)")


# axe.min.js is a UMD bundle: on pages with require.js (saved widgets) it would register as an AMD module
# instead of setting window.axe, so `define` is hidden while it runs.
INJECT_AXE_JS = """
if (!window.axe) {
  const define = window.define;
  window.define = undefined;
  try { (0, eval)(arguments[0]); } finally { window.define = define; }
}
return typeof window.axe;
"""
RUN_AXE_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done(result.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
  nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1, 3).join(' '))
})))).catch(err => done([{id: 'axe-error', impact: 'critical', help: String(err), count: 1, nodes: []}]));
"""


# Syntax-highlighted code is most of a chapter's elements (about 14,000 of 24,600 on chapter 02) and axe's
# colour-contrast rule was most of a scan's time (51 s of a page's scan on a loaded machine; 19 s with this).
# A span's contrast depends only on its computed style, its code block's background, whether it is in view and
# whether its text has letters or digits (axe skips the rest),
# so the rule checks one span of each such class and skips the others; every other rule still sees every element.
# The classes are recomputed before each scan (the dark theme changes the colours).
SAME_STYLE_JS = """
for (const el of document.querySelectorAll('[data-axe-same-style]')) el.removeAttribute('data-axe-same-style');
const seen = new Set();
let skipped = 0;
for (const el of document.querySelectorAll('div.highlight pre, div.highlight pre *')) {
  const s = getComputedStyle(el), block = el.closest('div.highlight'), b = block.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  const inView = r.width > 0 && r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom;
  // axe judges only text with letters or digits (a lone ")" is skipped), so a class's representative must have some
  const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('');
  const key = [/[\\p{L}\\p{N}]/u.test(own), s.color, s.backgroundColor, s.fontSize, s.fontWeight, s.opacity, s.textShadow, s.visibility, inView,
               getComputedStyle(block).backgroundColor, block.parentElement.className].join('|');
  if (seen.has(key)) { el.setAttribute('data-axe-same-style', ''); skipped++; } else seen.add(key);
}
axe.configure({rules: [{id: 'color-contrast', selector: '*:not([data-axe-same-style])'}]});
return {classes: seen.size, skipped: skipped};
"""


def _axe(browser, axe_source: str) -> list[dict]:
    assert browser.execute_script(INJECT_AXE_JS, axe_source) == "object", "axe-core did not load into the page"
    browser.execute_script(SAME_STYLE_JS)
    browser.set_script_timeout(180)
    return browser.execute_async_script(RUN_AXE_JS)


@pytest.mark.parametrize("page", PAGES)
def test_axe_finds_no_serious_or_critical_violation(page, server, browser, axe_source):
    url = f"{server}/{page}.html"
    _load(browser, url, page)
    problems = []
    for mode in ("light", "dark"):
        if mode == "dark":  # the theme's dark mode, as its switch sets it
            browser.execute_script("document.documentElement.dataset.theme = 'dark';"
                                   "document.documentElement.dataset.mode = 'dark';")
            screenshot(browser, SCREENSHOTS / f"dark__{page.replace('/', '__')}.png")
        for v in _axe(browser, axe_source):
            if v["impact"] in AXE_BLOCKING:
                problems.append(f"[{mode}] {v['impact']} {v['id']} ({v['count']}x): {v['help']}\n    "
                                + "\n    ".join(v["nodes"]))
    assert not problems, f"{url}: axe-core {json.dumps(build_assets.CHECK_PACKAGES['axe-core'][0])}:\n- " + \
        "\n- ".join(problems)


def test_the_code_shortcut_still_finds_a_low_contrast_token(server, browser, axe_source):
    """Skipping same-style spans must not hide a badly coloured token: one span deep in the page's last code
    block and one whole token class are made nearly invisible, and the scan must report both."""
    page = next(p for p in PAGES if source_of(p).suffix == ".ipynb")
    _load(browser, f"{server}/{page}.html", page)
    marked = browser.execute_script("""
      const spans = [...document.querySelectorAll('div.highlight pre span')].filter(s => /^[A-Za-z]\\w+$/.test(s.textContent));
      const last = spans[spans.length - 1];
      last.style.setProperty('color', '#cccccc', 'important'); last.id = 'dlext-faint-span';
      const cls = spans.slice(spans.length / 2).find(s => s.className !== last.className).className;
      const style = document.createElement('style');
      style.textContent = 'div.highlight pre span.' + cls + ' { color: #c8c8c8 !important; }';
      document.head.appendChild(style);
      return [cls, spans.length, document.querySelectorAll('div.highlight pre span.' + cls).length];""")
    assert browser.execute_script(INJECT_AXE_JS, axe_source) == "object"
    classes = browser.execute_script(SAME_STYLE_JS)
    assert classes["skipped"] > 1000, f"the shortcut skipped almost nothing ({classes}): the test measures nothing"
    browser.set_script_timeout(180)
    targets = browser.execute_async_script("""
      const done = arguments[arguments.length - 1];
      axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}, resultTypes: ['violations']})
        .then(r => done(r.violations.flatMap(v => v.nodes.map(n => n.target.join(' ')))));""")
    assert any("#dlext-faint-span" in t for t in targets), f"{page}: the faint last span was not reported: {targets}"
    assert any(t != "#dlext-faint-span" and "dlext-faint-span" not in t for t in targets), \
        f"{page}: the faint token class {marked} was not reported: {targets}"


# --- alt text -------------------------------------------------------------------------------------------

class _Images(HTMLParser):
    """The alt attribute of every <img> in the page's article (None where there is none)."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # inside <article> when > 0
        self.alts: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self.depth += 1
        elif tag == "img" and self.depth:
            self.alts.append(((a.get("src") or "")[:80], a.get("alt")))

    def handle_endtag(self, tag):
        if tag == "article" and self.depth:
            self.depth -= 1


DEMO_ALTS = re.compile(r"var alts = (\[.*?\]);\n", re.S)


@pytest.mark.parametrize("page", PAGES)
def test_every_image_says_what_it_shows(page):
    require_built_book()
    text = (HTML / f"{page}.html").read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(text)
    problems = [f"<img src={src!r}...>: {why}" for src, alt in parser.alts if (why := alt_problem(alt))]
    for m in DEMO_ALTS.finditer(text):  # every frame of every kernel-free demo, not only the first shown
        problems += [f"demo frame {i}: {why}" for i, alt in enumerate(json.loads(m.group(1)))
                     if (why := alt_problem(alt))]
    assert not problems, f"{page}:\n- " + "\n- ".join(problems[:20])


# --- no echoed markup -----------------------------------------------------------------------------------

ESCAPED_DEMO = re.compile(r"&lt;div class=(?:&quot;|&#34;|&#x22;|\")dlext-demo")


def echoed_markup(html: str) -> list[str]:
    """Text outputs that show a demo's HTML as text instead of the demo."""
    parser = _TextOutputs()
    parser.feed(html)
    found = [block[:120] for block in parser.blocks if "dlext-demo" in block or "data:image/png;base64" in block]
    found += [m.group(0) for m in ESCAPED_DEMO.finditer(html)]
    return found


def test_the_echo_check_sees_an_echoed_demo():
    echoed = ('<div class="cell_output docutils container"><div class="output text_plain highlight-myst-ansi '
              'notranslate"><div class="highlight"><pre><span></span>&#39;&lt;div class=&quot;dlext-demo&quot; '
              'id=&quot;dlext-demo-0&quot;&gt;&lt;img src=&quot;data:image/png;base64,iVBO&quot;&gt;&#39;</pre>'
              '</div></div></div>')
    assert echoed_markup(echoed)
    assert not echoed_markup('<div class="dlext-demo" id="dlext-demo-0-1"><img src="data:image/png;base64,iVBO" '
                             'alt="Loss against step."></div>')


@pytest.mark.parametrize("page", [p for p in PAGES if source_of(p).suffix == ".ipynb"])
def test_no_page_prints_demo_markup_as_text(page):
    require_built_book()
    found = echoed_markup((HTML / f"{page}.html").read_text(encoding="utf-8"))
    assert not found, f"{page} shows a demo's HTML as text (a cell's last expression returned it): {found[:3]}"


# --- phones ---------------------------------------------------------------------------------------------

OVERFLOW_JS = """
window.scrollTo(100000, window.scrollY);
const scrolled = window.scrollX;
window.scrollTo(0, window.scrollY);
const width = document.documentElement.clientWidth, culprits = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= width + 1) continue;
  let a = el.parentElement, inside = false;
  while (a && a !== document.body) {
    if (getComputedStyle(a).overflowX !== 'visible') { inside = true; break; }
    a = a.parentElement;
  }
  if (!inside) culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + ' (right edge at ' + Math.round(r.right) + ' px)');
}
return {scrolled: scrolled, width: width, culprits: culprits.slice(0, 8)};
"""


@pytest.mark.parametrize("page", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(page, server, browser):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": PHONE_WIDTH, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        _load(browser, f"{server}/{page}.html", page)
        result = browser.execute_script(OVERFLOW_JS)
        screenshot(browser, SCREENSHOTS / f"phone__{page.replace('/', '__')}.png")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert result["width"] <= PHONE_WIDTH
    assert result["scrolled"] == 0, (f"{page} scrolls {result['scrolled']} px sideways at {PHONE_WIDTH} px; "
                                     f"elements past the right edge: {result['culprits']}")

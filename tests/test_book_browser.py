"""Checks of the built book in headless Chromium, offline (run after `make book`, by `make check-book`).

For every page listed in `_toc.yml`, served from `_build/html` on 127.0.0.1 to a Chromium that cannot
resolve any other host:
- math in the source is rendered by MathJax (no raw `$$` left in the text);
- a notebook that plots shows its figures as loaded images;
- a notebook page links to Colab at .../blob/main/book/<file>.ipynb, built from `_config.yml`'s repository URL;
- saved widget state (ipywidgets, tqdm.auto progress bars) is rendered;
- no SEVERE console message, no failed asset load, nothing fetched from any host but the local server.
A full-page screenshot of each page is saved under `_build/screenshots/` for review.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). If the book is not built, the
tests fail (they do not skip): a check that silently does nothing would hide a broken build.
"""
from __future__ import annotations

import base64
import functools
import http.server
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"].get("branch", "main")
PATH_TO_BOOK = (CONFIG["repository"].get("path_to_book") or "").strip("/")
CHROMEDRIVER = "/usr/bin/chromedriver"
LOAD_TIMEOUT = 90  # seconds for MathJax/widgets to finish; generous because the CI machine is loaded

pytestmark = pytest.mark.browser


# `tools/build_book.py --chapters 05` (`make chapter N=05`) builds part of the book from this table of contents
# and a full build removes it; the checks then expect the pages that build made.
SUBSET_TOC = ROOT / "_build" / "subset_toc.yml"


def toc_pages() -> list[str]:
    """Every file the book's table of contents lists (root, chapters and any nested sections), in order."""
    toc = yaml.safe_load((SUBSET_TOC if SUBSET_TOC.is_file() else ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


def source_of(page: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (ROOT / page).with_suffix(suffix).exists():
            return (ROOT / page).with_suffix(suffix)
    raise FileNotFoundError(f"_toc.yml lists {page}, but neither {page}.ipynb nor {page}.md exists")


# Math in MyST source: $$...$$, $...$ (dollarmath), {math} roles/directives, amsmath environments.
MATH_RE = re.compile(r"\$\$|(?<![\\$\w])\$(?=\S)[^$\n]+?(?<=\S)\$(?![\w$])|\{math\}|\\begin\{(?:equation|align|gather)")
# Code and inline code can show a `$` that is not math.
CODE_RE = re.compile(r"^(```|~~~).*?^\1|`[^`\n]+`", re.M | re.S)
# A cell that draws a figure (importing matplotlib alone does not put one on the page).
PLOT_RE = re.compile(r"\bplt\.(?:show|plot|subplots?|figure|imshow|scatter|hist|bar|errorbar|matshow)\(|\.imshow\(")
WIDGET_RE = re.compile(r"^\s*(?:import ipywidgets|from ipywidgets\b)", re.M)


def has_math(markdown: str) -> bool:
    return bool(MATH_RE.search(CODE_RE.sub("", markdown)))


@functools.cache
def expectations(page: str) -> dict:
    """What the page must show, read from its source: math, figures, widgets, a Colab link."""
    src = source_of(page)
    if src.suffix == ".md":
        return {"notebook": False, "math": has_math(src.read_text()), "plots": False, "widgets": False}
    nb = nbformat.read(src, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # Code the book shows outputs of: cells removed or with outputs removed cannot put a figure on the page.
    shown = [c.source for c in nb.cells if c.cell_type == "code"
             and not {"remove-cell", "remove-output"} & set(c.metadata.get("tags", []))]
    code = "\n".join(shown)
    return {
        "notebook": True,
        "math": has_math(markdown),
        "plots": bool(PLOT_RE.search(code)),
        "widgets": bool(WIDGET_RE.search(code)),
    }


PAGES = toc_pages()


def require_built_book() -> None:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML}/index.html does not exist: build the book first (`make book`), then run `make check-book`.",
                    pytrace=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def server():
    require_built_book()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require_built_book()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path(CHROMEDRIVER).exists() or shutil.which("chromium") is None:
        pytest.fail("headless Chromium is needed: `apt-get install -y chromium chromium-driver`", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")  # explicit, so Selenium Manager never goes looking
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 # Offline like CI: every host but the local server fails to resolve, so a page that
                 # still needs a CDN shows a console error instead of quietly loading from the internet.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_TIMEOUT)
    # Selenium's own HTTP requests to chromedriver time out after 120 s by default, before the axe scan's 180 s
    # script timeout: on a loaded machine a long page's scan was cut off by the client (a rehearsal's 05_word2vec).
    driver.command_executor._client_config.timeout = 400
    yield driver
    driver.quit()


# Waits until MathJax has typeset every math element and the widget manager has rendered every saved view.
READY_JS = r"""
const article = document.querySelector('article') || document.body;
const maths = [...article.querySelectorAll('.math')];
const mathDone = maths.every(m => m.querySelector('mjx-container'));
const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
const widgetsDone = views.every(v => {
  const area = v.previousElementSibling;
  return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets, .widget-inline-hbox, .widget-box, .widget-html, .widget-slider');
});
const imagesDone = [...document.images].every(img => img.complete);
return document.readyState === 'complete' && mathDone && widgetsDone && imagesDone;
"""

INSPECT_JS = r"""
const article = document.querySelector('article') || document.body;
const clone = article.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
return {
  text: clone.textContent,
  mathElements: article.querySelectorAll('.math').length,
  mjx: article.querySelectorAll('mjx-container').length,
  mathjaxError: article.querySelectorAll('mjx-merror, .MathJax_Error').length,
  outputImages: [...article.querySelectorAll('.cell_output img')].map(i => ({src: i.currentSrc, w: i.naturalWidth})),
  images: [...document.images].map(i => ({src: i.currentSrc, complete: i.complete, w: i.naturalWidth})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  widgetViews: views.length,
  widgetsRendered: views.filter(v => v.previousElementSibling && v.previousElementSibling.classList.contains('widget-subarea')
                                     && v.previousElementSibling.querySelector('.jupyter-widgets')).length,
  resources: performance.getEntriesByType('resource').map(r => r.name),
};
"""


def screenshot(driver, path: Path) -> None:
    """Full-page PNG through the DevTools protocol (the whole scroll height, not just the viewport)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 30000), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def test_book_is_built():
    require_built_book()
    missing = [p for p in PAGES if not (HTML / f"{p}.html").is_file()]
    assert not missing, f"pages listed in _toc.yml but not in {HTML}: {missing}"


ENTRY_POINTS = ["mathjax/tex-mml-chtml.js", "requirejs/require.js", "jupyter-widgets/setup.js",
                "jupyter-widgets/embed-amd.js"]


def test_no_cdn_for_mathjax_requirejs_or_widgets():
    """The built HTML loads MathJax, require.js and the widget manager from _static/, never from a CDN,
    and only their entry points (not every .js of the bundles, as when they sit in a top-level _static/)."""
    require_built_book()
    external = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["'](?:https?:)?//[^"']*""", re.I)
    vendored = re.compile(r"""<script\b[^>]*\bsrc=["'](?:\.\./)*_static/((?:mathjax|jupyter-widgets|requirejs)/[^"'?]*)""")
    offenders = {}
    for page in sorted(HTML.rglob("*.html")):
        html = page.read_text(errors="replace")
        # jupyterquiz (the chapter quizzes) carries a fallback that loads MathJax from a CDN only when the page
        # has none with a `typeset` method; the book ships MathJax 3, so it never runs (the per-page test
        # checks that nothing is fetched from another host). Its source line is not a CDN reference.
        html = "\n".join(line for line in html.splitlines() if "cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js" not in line)
        found = [m.group(0) for m in external.finditer(html)]
        found += [s for s in ("mathjax@", "require.min.js", "html-manager@") if s in html]
        scripts = [m.group(1) for m in vendored.finditer(html)]
        found += [f"<script> for {s}" for s in scripts if s not in ENTRY_POINTS]
        found += [f"{s} loaded twice" for s in set(scripts) if scripts.count(s) > 1]
        if found:
            offenders[str(page.relative_to(HTML))] = found
    assert not offenders, f"built pages still point at a CDN or load vendored files directly: {offenders}"
    for entry in ENTRY_POINTS:
        assert (HTML / "_static" / entry).is_file(), f"_static/{entry} missing: did tools/build_assets.py run?"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(page, server, browser):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    expect = expectations(page)
    assert (HTML / f"{page}.html").is_file(), f"{page}.html was not built"
    browser.get_log("browser")  # drop messages left from the previous page
    url = f"{server}/{page}.html"
    browser.get(url)
    try:
        WebDriverWait(browser, LOAD_TIMEOUT, poll_frequency=0.25).until(lambda d: d.execute_script(READY_JS))
        timed_out = False
    except TimeoutException:
        timed_out = True  # the checks below say what is missing
    info = browser.execute_script(INSPECT_JS)
    logs = browser.get_log("browser")
    screenshot(browser, SCREENSHOTS / f"{page.replace('/', '__')}.png")
    problems = []

    # Math: MathJax typeset every math element; no TeX left as raw text.
    if expect["math"]:
        if info["mathElements"] == 0:
            problems.append("the source has math but the page has no math elements (is dollarmath enabled?)")
        if info["mjx"] < info["mathElements"] or info["mjx"] == 0:
            problems.append(f"MathJax rendered {info['mjx']} of {info['mathElements']} math elements")
    if info["mathjaxError"]:
        problems.append(f"{info['mathjaxError']} MathJax errors on the page")
    if "$$" in info["text"]:
        i = info["text"].index("$$")
        problems.append(f"raw $$ left in the text: ...{info['text'][max(0, i - 60):i + 60]!r}...")

    # Figures: a notebook that plots shows them as images that actually loaded.
    if expect["plots"] and not any(img["w"] > 0 for img in info["outputImages"]):
        problems.append(f"the notebook plots but no figure image is shown in its outputs: {info['outputImages']}")
    broken = [img["src"] for img in info["images"] if not img["complete"] or img["w"] == 0]
    if broken:
        problems.append(f"images that did not load: {broken}")

    # Colab: the launch button opens this notebook of this repository on the configured branch.
    if expect["notebook"]:
        owner_repo = REPO_URL.removeprefix("https://github.com/")
        in_repo = f"{PATH_TO_BOOK}/{page}" if PATH_TO_BOOK else page
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{in_repo}.ipynb"
        if colab not in info["links"]:
            found = [link for link in info["links"] if "colab" in link]
            problems.append(f"no Colab link {colab} (Colab links on the page: {found})")

    # Widgets: saved state is rendered by the local widget manager.
    if expect["widgets"] and info["widgetViews"] == 0:
        problems.append("the notebook uses ipywidgets but the page has no saved widget views (widget state not stored?)")
    if info["widgetsRendered"] < info["widgetViews"]:
        problems.append(f"only {info['widgetsRendered']} of {info['widgetViews']} saved widgets were rendered")

    # Offline: nothing fetched from another host.
    foreign = [r for r in info["resources"] if not r.startswith((server, "data:", "blob:"))]
    if foreign:
        problems.append(f"resources requested from other hosts: {foreign}")

    # Console: no SEVERE message (failed loads are reported there as "Failed to load resource ...").
    # The browser's own request for /favicon.ico (the book sets no favicon) is not an asset of the page.
    severe = [entry["message"] for entry in logs if entry["level"] == "SEVERE"
              and not entry["message"].startswith(f"{server}/favicon.ico ")]
    if severe:
        problems.append(f"SEVERE console messages: {severe}")

    if timed_out and not problems:
        problems.append(f"the page did not finish rendering within {LOAD_TIMEOUT} s")
    assert not problems, f"{url}:\n- " + "\n- ".join(problems)


# A cell's printed text; more is a data dump that nobody reads (issue 21). The longest deliberate table is
# the CNN chapter's layer-by-layer summary of VGG16, 44 lines; the VAE's loss dump was about 1,000.
MAX_OUTPUT_LINES = 50


class _TextOutputs(HTMLParser):
    """Collects the text of every printed (stdout) or displayed (text/plain) output block of a page.

    myst-nb renders them as <div class="output stream ..."> / <div class="output text_plain ...">
    around a <pre>; stderr (where tqdm's text progress bars go) is <div class="output stderr ...">.
    """

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []  # per open div: is it a text output block?
        self.blocks: list[str] = []
        self.current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag != "div":
            return
        classes = (dict(attrs).get("class") or "").split()
        is_text = "output" in classes and bool({"stream", "text_plain"} & set(classes)) and "stderr" not in classes
        self.stack.append(is_text)
        if is_text:
            self.current = []

    def handle_endtag(self, tag):
        if tag == "div" and self.stack and self.stack.pop() and self.current is not None:
            self.blocks.append("".join(self.current))
            self.current = None

    def handle_data(self, data):
        if self.current is not None:
            self.current.append(data)


@pytest.mark.parametrize("page", [p for p in PAGES if source_of(p).suffix == ".ipynb"])
def test_no_cell_dumps_long_text_output(page):
    require_built_book()
    parser = _TextOutputs()
    parser.feed((HTML / f"{page}.html").read_text(encoding="utf-8"))
    for block in parser.blocks:
        lines = block.strip("\n").splitlines()
        assert len(lines) <= MAX_OUTPUT_LINES, (
            f"{page}: a cell prints {len(lines)} lines (limit {MAX_OUTPUT_LINES}); end it with ';', assign "
            f"the result, or plot it. It starts:\n" + "\n".join(lines[:5]))


def test_the_output_length_check_sees_text_outputs():
    # The parser must find the blocks the check above measures, or that check would pass on anything.
    html = ('<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi notranslate">'
            '<div class="highlight"><pre><span></span>a\nb\nc\n</pre></div></div>'
            '<div class="output stderr highlight-myst-ansi notranslate"><pre>progress</pre></div>'
            '<div class="output text_plain highlight-myst-ansi notranslate"><pre>[1, 2]</pre></div></div>')
    parser = _TextOutputs()
    parser.feed(html)
    assert [b.strip() for b in parser.blocks] == ["a\nb\nc", "[1, 2]"]


def test_results_page_shows_every_chapter_executed_in_this_build():
    """Every chapter has the kernel CPU time of the run that made its outputs (this build's, or the cached run's,
    which the page says), its wall-clock time beside it, and its metrics; the page says how it measured."""
    require_built_book()
    page = (HTML / "book" / "results.html").read_text(encoding="utf-8")
    chapters = [p for p in PAGES if source_of(p).suffix == ".ipynb"]
    assert "not executed in this build" not in page, "a chapter did not execute in the build that made the page"
    assert "not measured" not in page, "a chapter's outputs come from a run whose CPU time was not recorded"
    for chapter in chapters:
        name = Path(chapter).name
        row = re.search(rf'<a href="[^"]*{re.escape(name)}\.html">[^<]+</a></td><td rowspan="\d+">([\d.]+)', page)
        assert row, f"the Results page has no run time for {name}"
        assert float(row.group(1)) > 0
    assert "Measured on:" in page and "CPU cores" in page
    assert "kernel CPU time" in page and "wall-clock" in page
    assert page.count("<code>") >= len(chapters), "the Results page lists fewer metrics than chapters"


MAX_DEMO_BYTES_PER_PAGE = 2_000_000  # frames of a page's kernel-free demos (issue 17)
DEMO_RE = re.compile(r'<div class="dlext-demo" id="([^"]+)" data-frames="(\d+)">')


def _demo_pages() -> dict[str, list[str]]:
    pages = {}
    for page in PAGES:
        path = HTML / f"{page}.html"
        if path.is_file():
            ids = [m.group(1) for m in DEMO_RE.finditer(path.read_text(encoding="utf-8"))]
            if ids:
                pages[page] = ids
    return pages


def test_demos_stay_within_the_page_weight_budget():
    require_built_book()
    pages = _demo_pages()
    assert pages, "no page of the built book has a kernel-free demo (dlext.interactive.explore)"
    weights = {}
    for page in pages:
        text = (HTML / f"{page}.html").read_text(encoding="utf-8")
        weights[page] = sum(len(m) for m in re.findall(r'"data:image/png;base64,[A-Za-z0-9+/=]+"', text))
    print("demo frame bytes per page:", weights)
    heavy = {p: w for p, w in weights.items() if w > MAX_DEMO_BYTES_PER_PAGE}
    assert not heavy, f"pages over the {MAX_DEMO_BYTES_PER_PAGE:,}-byte demo budget: {heavy}"


MOVE_SLIDER_JS = r"""
const root = document.getElementById(arguments[0]);
const img = root.querySelector('img'), input = root.querySelector('input[type=range]');
const before = img.src, label = input.nextElementSibling.textContent;
input.value = Number(input.value) === Number(input.max) ? 0 : Number(input.value) + 1;
input.dispatchEvent(new Event('input', {bubbles: true}));
return {changed: img.src !== before, labelChanged: input.nextElementSibling.textContent !== label};
"""


def test_demo_sliders_change_the_image_without_a_kernel(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page, ids in _demo_pages().items():
        browser.get_log("browser")
        browser.get(f"{server}/{page}.html")
        for uid in ids:
            element = browser.find_element("id", uid)
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            result = browser.execute_script(MOVE_SLIDER_JS, uid)
            assert result == {"changed": True, "labelChanged": True}, f"{page}: moving a slider of {uid} did nothing"
            element.screenshot(str(SCREENSHOTS / f"demo__{page.replace('/', '__')}__{uid}.png"))
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and "favicon.ico" not in e["message"]]
        assert not severe, f"{page}: console errors after moving sliders: {severe}"


def test_demo_works_when_the_page_is_opened_from_disk(browser):
    page, ids = next(iter(_demo_pages().items()))
    browser.get((HTML / f"{page}.html").as_uri())
    assert browser.execute_script(MOVE_SLIDER_JS, ids[0])["changed"], f"file:// {page}: the slider did nothing"


ANSWER_JS = r"""
const quiz = document.querySelector('.MultipleChoiceQn').closest('.Quiz');
const wrong = quiz.querySelector('label[data-correct="false"]'), right = quiz.querySelector('label[data-correct="true"]');
const fb = quiz.querySelector('.Feedback');
wrong.click();
const afterWrong = {text: fb.textContent, expected: wrong.dataset.feedback, wrongClass: wrong.className};
right.click();
return {afterWrong: afterWrong, afterRight: {text: fb.textContent, expected: right.dataset.feedback,
        rightClass: right.className}};
"""


def test_quiz_explains_a_wrong_answer_and_marks_the_right_one(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    quiz_pages = [p for p in PAGES if source_of(p).suffix == ".ipynb" and "interactive.quiz(" in source_of(p).read_text()]
    assert quiz_pages, "no chapter shows a quiz (dlext.interactive.quiz)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in quiz_pages:
        browser.get(f"{server}/{page}.html")
        WebDriverWait(browser, LOAD_TIMEOUT).until(lambda d: d.execute_script(
            "return document.querySelector('.MultipleChoiceQn') !== null"))
        element = browser.find_element("css selector", ".MultipleChoiceQn")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        result = browser.execute_script(ANSWER_JS)
        wrong, right = result["afterWrong"], result["afterRight"]
        assert wrong["expected"] and wrong["expected"][:40] in wrong["text"], f"{page}: no explanation: {wrong}"
        assert "incorrect" in wrong["wrongClass"].lower(), f"{page}: the wrong answer is not marked: {wrong}"
        assert right["expected"][:40] in right["text"] and "correct" in right["rightClass"].lower(), \
            f"{page}: the right answer is not marked correct: {right}"
        element.find_element("xpath", "./ancestor::div[contains(@class, 'Quiz')]").screenshot(
            str(SCREENSHOTS / f"quiz__{page.replace('/', '__')}.png"))


"""What the issue-28 checks read from a chapter: glued numbers and the words before them, glue calls, quiz
text, code comments, cross-reference labels and executed outputs. `tests/test_book_truth.py` runs them.

Exceptions live in `tests/truth_allowlist/<chapter>.json` (one file per chapter, so branches that work on
different chapters never edit the same file): a list of
`{"check": "bounds" | "raw_output" | "quiz" | "comment" | "label", "quote": "...", "reason": "..."}`,
where `quote` is a substring of what the check flagged (for `raw_output`: the cell id) and `reason` says
why it is not a typed measurement (e.g. "given data of the question"). An entry whose reason starts with
"PENDING" is a known finding that another branch fixes; the lead removes it on merging.
"""
from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(p for p in BOOK.glob("*.ipynb") if re.match(r"\d\d_", p.name))
ALLOWLIST_DIR = Path(__file__).resolve().parent / "truth_allowlist"
CHECKS = ("bounds", "raw_output", "quiz", "comment", "label")


@dataclass
class Finding:
    chapter: str
    check: str
    where: str   # "cell 12 (id c10)", "quiz q3 answers[1].feedback"
    quote: str   # the flagged text, or the cell id for raw_output
    message: str

    def __str__(self) -> str:
        return f"{self.chapter}, {self.where}: {self.message}\n    {self.quote!r}"


def allowlist(chapter: str) -> list[dict]:
    path = ALLOWLIST_DIR / f"{Path(chapter).stem}.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    for e in entries:
        if set(e) != {"check", "quote", "reason"} or e["check"] not in CHECKS or not e["reason"].strip():
            raise ValueError(f"{path.name}: every entry is {{check, quote, reason}} with check in {CHECKS}: {e}")
    return entries


def unexcused(findings: list[Finding]) -> list[Finding]:
    """The findings no allowlist entry of their chapter and check covers."""
    left = []
    for f in findings:
        if not any(e["check"] == f.check and e["quote"] in f.quote for e in allowlist(f.chapter)):
            left.append(f)
    return left


def read(path: Path):
    return nbformat.read(path, as_version=4)


# ---------------------------------------------------------------- glued numbers and the words around them
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
# A precision that rounds: .3f shows 3 decimals; .1% shows value*100 with 1 decimal, i.e. 3 decimals of value.
PRECISION = re.compile(r"^[^.]*\.(\d+)([f%eEgG])$")

# Phrases that make the next number a bound: "at least X" (the truth is >= X: X must be floored), "at most X".
LOWER_BEFORE = ["at least", "no less than", "not less than", "no fewer than", "no lower than", "no smaller than",
                "more than", "greater than", "higher than", "larger than", "above", "over", "exceeds", "exceeding",
                "exceed", "beyond", r"\geq", r"\ge", "≥", ">=", ">"]
UPPER_BEFORE = ["at most", "no more than", "not more than", "no higher than", "no larger than", "no greater than",
                "less than", "fewer than", "lower than", "smaller than", "below", "under", "within", "up to",
                r"\leq", r"\le", "≤", "<=", "<"]
# Explicit phrases that already carry their negation; the others flip after "never", "not", "no", "n't".
SELF_NEGATED = {"no less than", "not less than", "no fewer than", "no lower than", "no smaller than",
                "no more than", "not more than", "no higher than", "no larger than", "no greater than"}
NEGATION = re.compile(r"(?:\bnever|\bnot|\bno|n't|\bnor|\bneither)(?:\s+\w+){0,2}\s*$", re.I)
AFTER = re.compile(r"^\s*(?:[%°]|[\w-]+)?\s*(?:[\w-]+\s+)?or\s+(more|greater|higher|above|better|larger|over|"
                   r"less|fewer|lower|below|smaller|under)\b", re.I)


def _phrase_regex(phrase: str) -> re.Pattern:
    body = re.escape(phrase).replace(r"\ ", r"\s+")
    lead = r"(?<![\w\\])" if phrase[0].isalpha() or phrase[0] == "\\" else ""
    return re.compile(lead + body + r"\s*$", re.I)


_PHRASES = sorted([(p, "lower") for p in LOWER_BEFORE] + [(p, "upper") for p in UPPER_BEFORE],
                  key=lambda pb: -len(pb[0]))
_PHRASE_RES = [(p, b, _phrase_regex(p)) for p, b in _PHRASES]


def bound_of(before: str, after: str) -> str | None:
    """"lower" when the words make the next number a lower bound on the truth, "upper" for an upper one."""
    text = re.sub(r"[$*_~]", " ", before)
    text = re.sub(r"\s+", " ", text).rstrip()
    for phrase, bound, regex in _PHRASE_RES:
        m = regex.search(text)
        if m and phrase == "up to" and re.search(r"\b(?:adds?|adding|added|sums?|summing|summed|comes?)\s*$",
                                                 text[:m.start()], re.I):
            continue  # "add up to X" states a total, not a bound
        if m:
            if phrase not in SELF_NEGATED and NEGATION.search(text[:m.start()]):
                bound = "upper" if bound == "lower" else "lower"
            return bound
    m = AFTER.match(re.sub(r"[$*_~]", " ", after))
    if m:
        return "lower" if m.group(1).lower() in ("more", "greater", "higher", "above", "better", "larger", "over") \
            else "upper"
    return None


def decimals_shown(fmt: str | None) -> int | None | str:
    """Decimals of the raw value the format shows (.2% -> 4), None when it cannot round, "bad" for e/g."""
    if not fmt:
        return None
    m = PRECISION.match(fmt)
    if not m:
        return None  # ",", "d", "": an integer or a full repr, nothing rounds
    if m.group(2) in "eEgG":
        return "bad"
    return int(m.group(1)) + (2 if m.group(2) == "%" else 0)


def glued_bounds(path: Path) -> list[tuple[int, str, str, str | None, str]]:
    """(cell, name, format, bound the words state, the sentence around it) for every glued number in the markdown."""
    out = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "markdown":
            continue
        src = cell.source
        for m in GLUE_ROLE.finditer(src):
            before = GLUE_ROLE.sub("N", src[max(0, m.start() - 80):m.start()])
            after = GLUE_ROLE.sub("N", src[m.end():m.end() + 40])
            sentence = (before[-50:] + src[m.start():m.end()] + after[:25]).replace("\n", " ")
            out.append((i, m.group(1), m.group(2), bound_of(before, after), sentence))
    return out


@dataclass
class GlueCall:
    cell: int
    name: str | re.Pattern
    bound: object
    digits: object
    last_statement: bool


def _const(node):
    return node.value if isinstance(node, ast.Constant) else "<computed>"


def _is_glue(call: ast.AST) -> bool:
    return isinstance(call, ast.Call) and (
        isinstance(call.func, ast.Name) and call.func.id == "glue"
        or isinstance(call.func, ast.Attribute) and call.func.attr == "glue")


def _name_of(node) -> str | re.Pattern | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"shift_acc_{k}": any text in place of the fields
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
        return re.compile("".join(parts))
    return None


def code_tree(source: str) -> ast.Module | None:
    # IPython magics and shell lines are not Python: blank them so the rest still parses
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def glue_calls(path: Path) -> list[GlueCall]:
    calls = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "code":
            continue
        tree = code_tree(cell.source)
        if tree is None:
            continue
        last = tree.body[-1] if tree.body else None
        # IPython shows the value of a cell's last expression unless the line ends in ";"
        lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        silenced = bool(lines) and re.sub(r"#.*$", "", lines[-1]).rstrip().endswith(";")
        for node in ast.walk(tree):
            if _is_glue(node) and node.args:
                name = _name_of(node.args[0])
                if name is None:
                    continue
                kw = {k.arg: _const(k.value) for k in node.keywords}
                bare_last = isinstance(last, ast.Expr) and last.value is node and not silenced
                calls.append(GlueCall(i, name, kw.get("bound"), kw.get("digits"), bare_last))
    return calls


def calls_for(calls: list[GlueCall], name: str) -> list[GlueCall]:
    """The glue calls that store ``name``: the ones naming it exactly, else f-string names that match it."""
    exact = [c for c in calls if isinstance(c.name, str) and c.name == name]
    if exact:
        return exact
    patterns = [c for c in calls if not isinstance(c.name, str) and c.name.fullmatch(name)]

    def literal(c):  # f"style_{k}_shuffled_max" is more specific than f"style_{k}": more fixed text
        return len(re.sub(r"\\.|\.\+", lambda m: m.group(0)[1:] if m.group(0) != ".+" else "", c.name.pattern))
    best = max((literal(c) for c in patterns), default=0)
    return [c for c in patterns if literal(c) == best]


def bound_findings(path: Path) -> list[Finding]:
    """Glued numbers stated as bounds whose glue call does not round towards the bound at the shown precision."""
    calls, findings = glue_calls(path), []
    for cell, name, fmt, bound, sentence in glued_bounds(path):
        if bound is None:
            continue
        decimals = decimals_shown(fmt)
        if decimals is None:
            continue
        where = f"cell {cell}, {{glue:text}}`{name}:{fmt}`"
        if decimals == "bad":
            findings.append(Finding(path.name, "bounds", where, sentence,
                                    f"a bound shown with :{fmt} cannot be floored or ceiled: use a fixed-point format"))
            continue
        matching = calls_for(calls, name)
        if not matching:
            findings.append(Finding(path.name, "bounds", where, sentence,
                                    f"the words make it a {bound} bound, but no glue({name!r}, ...) call was found"))
        for c in matching:
            if c.bound != bound or c.digits != decimals:
                findings.append(Finding(
                    path.name, "bounds", where, sentence,
                    f"the words make {name} a {bound} bound shown to {decimals} decimals of the value, so glue it with "
                    f"bound={bound!r}, digits={decimals} (cell {c.cell} has bound={c.bound!r}, digits={c.digits!r})"))
    return findings


def bare_glue_findings(path: Path) -> list[Finding]:
    """Code cells whose last statement is a bare glue(...): the page would show the raw value."""
    findings = []
    nb = read(path)
    for c in glue_calls(path):
        if c.last_statement:
            cell = nb.cells[c.cell]
            findings.append(Finding(path.name, "raw_output", f"cell {c.cell} (id {cell.get('id')})",
                                    cell.source.splitlines()[-1],
                                    "the cell ends in a bare glue(...), which echoes the raw value on the page: "
                                    "write `_ = glue(...)` or end the line with `;`"))
    return findings


# ---------------------------------------------------------------- executed outputs
FLOAT = re.compile(r"(?<![\w.])-?(\d+\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
RICHER = ("text/html", "image/png", "image/jpeg", "image/svg+xml", "application/vnd.jupyter.widget-view+json",
          "text/latex", "text/markdown")


def significant_digits(number: str) -> int:
    mantissa = number.replace(".", "").lstrip("-").lstrip("0")
    return len(mantissa)


def shown_texts(nb) -> list[tuple[int, str, str]]:
    """(cell index, cell id, text) for every text output the rendered page shows."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or {"remove-output", "remove-cell"} & set(cell.metadata.get("tags", [])):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append((i, cell.get("id"), o.get("text", "")))
            elif o.get("output_type") in ("execute_result", "display_data"):
                data = o.get("data", {})
                if "scrapbook" in o.get("metadata", {}) or any(k in data for k in RICHER):
                    continue  # a glue record (not shown), or a figure/widget/html shown instead of the text
                if "text/plain" in data:
                    out.append((i, cell.get("id"), data["text/plain"]))
    return out


def raw_output_findings(executed: Path, chapter: str) -> list[Finding]:
    """Floats with more than 6 significant digits in what an executed chapter shows."""
    findings = []
    for i, cell_id, text in shown_texts(read(executed)):
        long = [m.group(0) for m in FLOAT.finditer(text) if significant_digits(m.group(1)) > 6]
        if long:
            findings.append(Finding(chapter, "raw_output", f"cell {i} (id {cell_id})", str(cell_id),
                                    f"shows {long[:3]}: a raw float repr (format it, e.g. f'{{x:.3f}}', or "
                                    f"assign the glue: `_ = glue(...)`); shown text starts {text[:120]!r}"))
    return findings


# ---------------------------------------------------------------- quizzes
QUIZ_CALL = re.compile(r"interactive\.quiz\(\s*[\"']([\w-]+)[\"']")
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
NUMBER = re.compile(r"(?<![\w.])((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?![\w])")
# A number that states a measurement: an approximate or measured quantity, or a quantity with a unit of one.
MEASURE_BEFORE = re.compile(
    r"(?:\babout|\broughly|\baround|\bapproximately|\bnearly|\balmost|\bmeasured|\bmeasures|\breached|\breaches|"
    r"\bscored|\bscores|\bfell to|\brose to|\bdropped to|\bthis run(?:'s)?|~|≈)(?:[^.;:!?0-9]{0,8})$", re.I)
MEASURE_UNIT = re.compile(r"^\s*(?:%|percent\b|per ?cent\b|points?\b|nats?\b|bits\b|seconds?\b|ms\b|minutes?\b|"
                          r"times\b)", re.I)


def quiz_of(path: Path) -> str | None:
    names = QUIZ_CALL.findall("\n".join(c.source for c in read(path).cells if c.cell_type == "code"))
    return names[0] if names else None


def quiz_texts(topic: str) -> list[tuple[str, str]]:
    """(where, text) for every string of a quiz's JSON, and ('...value', str(number)) for numeric answers."""
    from importlib import resources

    questions = json.loads((resources.files("dlext") / "quizzes" / f"{topic}.json").read_text(encoding="utf-8"))
    out = []

    def walk(obj, where):
        if isinstance(obj, str):
            out.append((where, obj))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, f"{where}[{i}]")
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{where}.{k}")
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and where.endswith(("value", "]")):
            out.append((where, repr(obj)))

    for i, q in enumerate(questions, 1):
        walk(q, f"q{i}")
    return out


def quiz_findings(path: Path) -> list[Finding]:
    """Typed measurements in a chapter's quiz: numbers the chapter's run produces, written into the JSON."""
    topic = quiz_of(path)
    if topic is None:
        return []
    texts = quiz_texts(topic)
    by_question: dict[str, str] = {}
    for where, text in texts:
        if where.endswith(".question") and where.count(".") == 1:
            by_question[where.split(".")[0]] = text
    findings = []
    for where, text in texts:
        q = where.split(".")[0]
        if where.endswith(("value", "]")):
            continue  # a numeric answer's key: computed from the question's data, or a {{placeholder}}
        if where.endswith((".type", ".answer.type")) or where.split(".")[-1] == "type":
            continue
        stripped = PLACEHOLDER.sub("#", text)
        given = set() if where.endswith(".question") else set(NUMBER.findall(by_question.get(q, "")))
        for m in NUMBER.finditer(stripped):
            if m.group(1) in given:
                continue  # the question's own data, reused in an answer or its explanation
            before, after = stripped[:m.start()], stripped[m.end():]
            if MEASURE_BEFORE.search(before) or MEASURE_UNIT.match(after):
                lo, hi = max(0, m.start() - 40), min(len(stripped), m.end() + 25)
                findings.append(Finding(path.name, "quiz", f"quiz {topic} {where}", stripped[lo:hi],
                                        f"{m.group(1)} reads as a measurement typed into the quiz: quote it as "
                                        "{{name:fmt}} and pass values= from the chapter's run (or allowlist it "
                                        "with a reason if it is the question's given data)"))
    return findings


def quiz_values_passed(path: Path) -> tuple[str | None, set[str] | None]:
    """The quiz topic and the literal keys of the values= dict the chapter passes to interactive.quiz."""
    for cell in read(path).cells:
        if cell.cell_type != "code" or "interactive.quiz(" not in cell.source:
            continue
        tree = code_tree(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "quiz":
                topic = _const(node.args[0]) if node.args else None
                values = next((k.value for k in node.keywords if k.arg == "values"), None)
                if len(node.args) > 1:
                    values = node.args[1]
                if values is None:
                    return topic, set()
                if isinstance(values, ast.Dict) and all(isinstance(k, ast.Constant) for k in values.keys):
                    return topic, {k.value for k in values.keys}
                return topic, None  # built some other way: cannot be read statically
    return None, None


# ---------------------------------------------------------------- comments in code cells
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])|(?<![\w.])\d+(?:\.\d+)? ?%")
# Words that say a number was measured (on seeds, on a run), not derived or chosen.
MEASURE_WORDS = re.compile(r"\b(?:observed|measured|seeds? [0-9]|seeds [0-9]|over \d+ (?:such )?(?:runs|seeds|starts|draws)|"
                           r"on this (?:run|cpu|machine)|when written|gave|reached)\b", re.I)


def comment_blocks(source: str) -> list[tuple[int, str]]:
    """(first line, text) of each run of consecutive comments in a code cell."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    blocks, current, last_line = [], None, -2
    for t in tokens:
        if t.type != tokenize.COMMENT:
            continue
        line = t.start[0]
        whole_line = not t.line[:t.start[1]].strip()  # a comment line, not a comment after code
        if current is not None and whole_line and line == last_line + 1:
            current[1] += " " + t.string.lstrip("# ")
        else:
            current = [line, t.string.lstrip("# ")]
            blocks.append(current)
        last_line = line if whole_line else -2
    return [(line, text) for line, text in blocks]


def comment_findings(path: Path) -> list[Finding]:
    """Comments that carry measured-looking numbers (seed runs, observed values) instead of evidence files."""
    findings = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "code":
            continue
        for line, text in comment_blocks(cell.source):
            numbers = DECIMAL.findall(text)
            if len(numbers) >= 3 or (numbers and MEASURE_WORDS.search(text)):
                findings.append(Finding(path.name, "comment", f"cell {i} (id {cell.get('id')}), line {line}", text,
                                        f"a comment quotes measured-looking numbers {numbers[:4]}: move seed-run "
                                        "evidence into src/dlext/evidence/<topic>.json (dlext.book.evidence) and "
                                        "assert against it, or glue what this run measures"))
    return findings


# ---------------------------------------------------------------- cross-reference labels
EQ_LABEL = re.compile(r"\$\$\s*\(([\w:.-]+)\)")
TARGET = re.compile(r"^\(([\w:.-]+)\)=\s*$", re.M)
FIG_NAME = re.compile(r"^:name:\s*([\w:.-]+)\s*$", re.M)
ROLE = re.compile(r"\{[\w:]+\}`[^`]*`")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
MATH = re.compile(r"\$\$.*?\$\$(?:\s*\([\w:.-]+\))?|\$[^$\n]+\$", re.S)


def labels() -> set[str]:
    """Every equation label, target and figure name the chapters define."""
    found = set()
    for path in CHAPTERS:
        text = "\n".join(c.source for c in read(path).cells if c.cell_type == "markdown")
        found |= set(EQ_LABEL.findall(text)) | set(TARGET.findall(text)) | set(FIG_NAME.findall(text))
    return found


def visible_label_regex(names: set[str]) -> re.Pattern:
    alt = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    # "(dann)", "eq. dann", "Eq. (style-gram)", "figure d-star": a label written where the reader sees it
    # The label itself is matched case-sensitively: "(ELBO)" is an abbreviation, "(elbo)" a label.
    return re.compile(rf"\((?i:eqs?\.?\s*|equation\s*)?({alt})\)|\b(?i:eqs?\.|equations?|fig\.|figures?)\s+\(?({alt})\b")


def prose(markdown: str) -> str:
    """Markdown with code, math, roles and target lines removed: the words a reader sees."""
    text = TARGET.sub(" ", markdown)
    text = CODE.sub(" ", MATH.sub(" ", ROLE.sub(" ", text)))
    return text


def label_findings(path: Path, regex: re.Pattern) -> list[Finding]:
    findings = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "markdown":
            continue
        text = prose(cell.source)
        for m in regex.finditer(text):
            findings.append(Finding(path.name, "label", f"cell {i}", text[max(0, m.start() - 40):m.end() + 20],
                                    f"the label {m.group(1) or m.group(2)!r} is shown as text: use {{eq}}`label` / "
                                    "{ref}`label` (or plain words for another chapter's equation)"))
    topic = quiz_of(path)
    if topic:
        for where, text in quiz_texts(topic):
            for m in regex.finditer(text):
                findings.append(Finding(path.name, "label", f"quiz {topic} {where}", text[max(0, m.start() - 40):m.end() + 20],
                                        f"the quiz shows the label {m.group(1) or m.group(2)!r}: a quiz cannot link, "
                                        "so say it in words"))
    return findings


def glued_values(executed: Path) -> dict[str, float]:
    """name -> value of every number an executed chapter glued.

    Two places hold them: the scrapbook records among a cell's outputs (a notebook executed by nbclient or
    nbval), and, for a notebook the book build executed, `NAME.glue.json` beside it: myst-nb takes the records
    out of the outputs it writes to `_build/jupyter_execute/` and stores them there. Reading only the outputs
    found nothing in a book build, and the quiz check that uses these values passed without looking."""
    values = {}

    def add(name, output):
        text = next((v for k, v in output.get("data", {}).items() if k.endswith("text/plain")), None)
        if name and text is not None:
            try:
                values[name] = float(text)
            except ValueError:
                pass

    for cell in read(executed).cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            add(o.get("metadata", {}).get("scrapbook", {}).get("name"), o)
    glue_file = executed.with_name(executed.stem + ".glue.json")
    if glue_file.is_file():
        for name, output in json.loads(glue_file.read_text()).items():
            add(name, output)
    return values


def quiz_glue_findings(executed: Path, chapter: Path) -> list[Finding]:
    """Numbers typed into a chapter's quiz that equal, at the precision typed, a value the executed chapter glued."""
    topic = quiz_of(chapter)
    if topic is None:
        return []
    values = glued_values(executed)
    findings = []
    for where, text in quiz_texts(topic):
        if where.endswith(("value", "]")):
            continue
        for m in NUMBER.finditer(PLACEHOLDER.sub("#", text)):
            typed = m.group(1).replace(",", "")
            decimals = len(typed.split(".")[1]) if "." in typed else 0
            if significant_digits(typed if "." in typed else typed + ".") < 2 or (decimals == 0 and float(typed) < 100):
                continue  # small whole numbers (counts, sizes) match too much by chance
            for name, v in values.items():
                # a fraction (|v| <= 1) may be typed as a percentage; a count or a loss may not be read as one
                if any(round(x, decimals) == float(typed) for x in ((v, 100 * v) if abs(v) <= 1 else (v,))):
                    findings.append(Finding(chapter.name, "quiz", f"quiz {topic} {where}", text[max(0, m.start() - 40):m.end() + 20],
                                            f"{typed} equals the glued {name} = {v!r} at the precision typed: quote it as "
                                            f"{{{{{name}}}}} and pass it in values="))
                    break
    return findings

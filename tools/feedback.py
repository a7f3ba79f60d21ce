"""A student's feedback as one HTML page: every cell, each test's verdict, never a hidden test.

nbgrader's own feedback renders the autograded notebook, hidden tests and all (its issues
#917 and #1363). Here each test cell shows only its visible part (the source as released),
its points, pass or fail, and the failure's message (``AssertionError: expected ..., got ...``)
with where it failed: in the visible checks or in the hidden tests. No traceback is shown,
since a traceback quotes the failing line.

A student's own code can print the hidden tests (IPython keeps every executed cell in ``In``;
a frame of the test cell holds its source), so every text that reaches the page, outputs and
error messages of every cell included, is scrubbed: a line that contains a line of the hidden
tests, compared with whitespace collapsed and string escapes undone, is replaced by a note. A
student who prints the tests encoded (reversed, base64, as an image) is not caught here; the
integrity scan flags the reads of ``In``, frames and history that this needs.
"""

from __future__ import annotations

import base64
import html
import re

from tools.instructor import HIDDEN_BEGIN, HIDDEN_END

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WHITESPACE = re.compile(r"\s+")
_CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")
MIN_HIDDEN_CHARS = 8  # shorter hidden lines (")", "else:") say nothing and occur everywhere
REMOVED = "[line removed: it repeats the hidden tests]"


def _normal(text: str) -> str:
    return _WHITESPACE.sub("", text)


class Scrubber:
    """Removes from any text the lines that repeat a line of the hidden tests."""

    def __init__(self, hidden_lines):
        needles = {_normal(line) for line in hidden_lines}
        self.needles = sorted((n for n in needles if len(n) >= MIN_HIDDEN_CHARS or "HIDDENTESTS" in n), key=len, reverse=True)

    def leaks(self, line: str) -> bool:
        plain = _ANSI.sub("", line)
        variants = {_normal(plain)}
        unescaped = plain.replace("\\n", "\n").replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
        variants |= {_normal(part) for part in unescaped.splitlines()} | {_normal(unescaped)}
        return any(needle in variant for variant in variants for needle in self.needles)

    def __call__(self, text: str) -> str:
        return "\n".join(REMOVED if self.leaks(line) else line for line in str(text).split("\n"))


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(output, scrub: Scrubber) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f'<pre class="{html.escape(output.get("name", "stdout"))}">{html.escape(scrub(_text(output.get("text", ""))))}</pre>'
    if kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if "image/png" in data:
            png = _text(data["image/png"]).strip()
            try:
                base64.b64decode(png, validate=True)
            except ValueError:
                return "<pre>[an image that is not valid PNG data, not shown]</pre>"
            return f'<img alt="figure" src="data:image/png;base64,{png}">'
        if "text/plain" in data:
            return f"<pre>{html.escape(scrub(_text(data['text/plain'])))}</pre>"
        return ""
    if kind == "error":
        message = _ANSI.sub("", f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
        return f'<pre class="error">{html.escape(scrub(message))}</pre>'
    return ""


def _where_failed(output, execution_count, source: str) -> str:
    """'in the hidden tests' or 'in the visible checks', read from the traceback's line in this cell."""
    lines = source.splitlines()
    for frame in reversed([_ANSI.sub("", line) for line in output.get("traceback", [])]):
        for count, line in _CELL_LINE.findall(frame):
            if execution_count is not None and int(count) == execution_count and 0 < int(line) <= len(lines):
                before = lines[: int(line)]
                begins = sum(line.strip().startswith(HIDDEN_BEGIN) for line in before)
                ends = sum(line.strip().startswith(HIDDEN_END) for line in before)
                return "in the hidden tests" if begins > ends else "in the visible checks"
    return "in code this test called"


def render_feedback(executed, ref, result) -> str:
    """The feedback page of one graded (or stopped) submission, as an HTML string.

    ``executed`` is the notebook as it ran (tests restored), ``ref`` the assignment's
    ``tools.instructor.Reference``, ``result`` the submission's ``SubmissionResult``.
    """
    scrub = Scrubber(ref.hidden)
    title = f"{result.assignment}: feedback for {result.student}"
    parts = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f6f6f6;padding:.4em;white-space:pre-wrap}"
        ".pass{color:#176617}.fail{color:#a31515}.test{border-left:4px solid #888;padding-left:.6em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Status: <b>{html.escape(result.status)}</b>. Score: <b>{result.score:g} / {result.max_score:g}</b>.</p>",
    ]
    if result.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(scrub(n))}</li>" for n in result.notes) + "</ul>")
    for cell in executed.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        source = _text(cell.get("source", ""))
        if cell.cell_type == "markdown":
            parts.append(f'<div class="markdown"><pre>{html.escape(scrub(source))}</pre></div>')
            continue
        if cell.cell_type != "code":
            continue
        if grade_id in ref.visible:
            score, points = result.cell_scores.get(grade_id, (0.0, ref.points.get(grade_id, 0.0)))
            ran = "execution" in cell.get("metadata", {}) or cell.get("outputs")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not ran:
                verdict = '<span class="fail">not run</span>'
            elif score >= points and not errors:
                verdict = '<span class="pass">passed</span>'
            else:
                where = _where_failed(errors[0], cell.get("execution_count"), source) if errors else "with output on stderr"
                verdict = f'<span class="fail">failed {html.escape(where)}</span>'
            parts.append(f'<div class="test"><h3>{html.escape(grade_id)}: {score:g} / {points:g} points, {verdict}</h3>')
            parts.append(f"<pre>{html.escape(scrub(ref.visible[grade_id]))}</pre>")
            if ref.visible[grade_id].strip() != source.strip():
                parts.append("<p><i>(hidden tests ran here; they are not shown)</i></p>")
            parts += [_output_html(o, scrub) for o in cell.get("outputs", [])]
            parts.append("</div>")
        else:
            parts.append(f"<pre>{html.escape(scrub(source))}</pre>")
            parts += [_output_html(o, scrub) for o in cell.get("outputs", [])]
    parts.append("</body></html>")
    return "\n".join(parts)

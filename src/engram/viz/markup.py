"""Text markup for reports: a small markdown-to-HTML converter, tables, the page shell and CSS.

Everything here works on strings that are already formatted; `engram.viz.report` decides what a
number looks like. Text from results is escaped, never passed through as raw HTML.

Example:
    >>> markdown_to_html("The **loss** falls.")
    '<p>The <strong>loss</strong> falls.</p>'
    >>> md_table(["metric", "value"], [["loss", "0.1"]])
    '| metric | value |\\n|---|---|\\n| loss | 0.1 |'
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

CSS = """
:root{--accent:#0072B2;--muted:#6b7280;--line:#e5e7eb;--soft:#f3f4f6;--text:52rem}
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1f2328;font:16px/1.55 system-ui,-apple-system,
"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:32px 28px 64px;background:#fff;min-height:100vh;
box-shadow:0 0 0 1px var(--line)}
main>*,section>*,.text>*{max-width:var(--text);margin-left:auto;margin-right:auto}
main>figure,section>figure{max-width:100%}
h1{font-size:2rem;margin:.1em auto .2em}
h2{margin-top:2.2em;padding-bottom:.2em;border-bottom:1px solid var(--line)}
h3,h4{margin-top:1.6em}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.75rem;color:var(--accent);
margin-bottom:0}
.summary{font-size:1.15rem;color:#374151;margin-top:.2em}
.meta{color:var(--muted);font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;
margin-top:20px;margin-bottom:20px}
.card{border:1px solid var(--line);border-radius:10px;padding:10px 14px;background:#fafbfc}
.card .value{font-size:1.3rem;font-weight:650;color:var(--accent);white-space:nowrap;
font-variant-numeric:tabular-nums}
.card .label{font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}
figure{margin:32px auto;text-align:center}
figure img{max-width:100%;height:auto}
figcaption{color:#4b5563;font-size:.92rem;margin:8px auto 0;max-width:var(--text);
text-align:left}
table{border-collapse:collapse;margin-top:16px;margin-bottom:16px;font-size:.92rem}
main>table,section>table,.text>table{display:table;min-width:50%}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft)}tbody tr:nth-child(even){background:#fafafa}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;
background:var(--soft);padding:1px 4px;border-radius:4px}
pre{background:var(--soft);padding:12px;border-radius:8px;overflow-x:auto}
pre code{padding:0}
.status{padding:1px 8px;border-radius:10px;font-size:.85rem;background:#d1fae5;color:#065f46;
white-space:nowrap}
.status.failed,.status.diverged,.error{background:#fee2e2;color:#991b1b}
.error{padding:8px 12px;border-radius:8px;overflow-wrap:anywhere}
.index td:first-child a{font-weight:600}.index td:nth-child(3){white-space:nowrap}
.index .what{display:block;color:var(--muted);font-size:.85rem}
.links{font-size:.9rem;color:var(--muted)}
.opening{font-size:1.08rem;border-left:4px solid var(--accent);padding:4px 0 4px 14px}
a.term{color:inherit;text-decoration:underline dotted var(--accent)}
dl.terms dt{font-weight:600;margin-top:.8em}dl.terms dd{margin-left:0;color:#374151}
.readmore{color:var(--muted)}
a{color:var(--accent)}
@media (max-width:700px){main{padding:20px 14px}}
"""
_FENCE = re.compile(r"^\s*```")
_HEADER = re.compile(r"^\s*(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")


def esc(text: str) -> str:
    """``text`` escaped for HTML (quotes included, so it is safe inside attributes)."""
    return html.escape(text)


def shift_headers(text: str, levels: int) -> str:
    """Demote markdown headers by ``levels`` (so ``# x`` in a result sits under the report's)."""
    return re.sub(
        r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m[1]) + levels), text, flags=re.MULTILINE
    )


def math_html(tex: str) -> str:
    """TeX math as inline MathML (browsers draw it natively, offline).

    ``<``, ``>`` and ``&`` become ``\\lt``, ``\\gt`` and ``\\&`` first, so no text inside the
    formula can open an HTML tag. Without the ``latex2mathml`` package, or for TeX it cannot
    read, the formula is shown as code.
    """
    safe = tex.replace("&", r"\&").replace("<", r"\lt ").replace(">", r"\gt ")
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - a core dependency, but the report must not fail
        return f"<code>{html.escape(tex)}</code>"
    try:
        return convert(safe)
    except Exception:  # noqa: BLE001 - latex2mathml raises many types for TeX it cannot read
        return f"<code>{html.escape(tex)}</code>"


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`|\$[^$\n]+\$)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        if len(part) > 2 and part.startswith("$") and part.endswith("$"):
            out.append(math_html(part[1:-1]))
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        s = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"<em>\1</em>", s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s\"]+)\)", r'<a href="\2">\1</a>', s)
        out.append(s)
    return "".join(out)


def _starts_block(line: str) -> bool:
    return bool(
        _FENCE.match(line)
        or _HEADER.match(line)
        or _ITEM.match(line)
        or line.lstrip().startswith("|")
    )


def _list_items(lines: list[str], i: int) -> tuple[list[str], int]:
    items: list[str] = []
    while i < len(lines) and lines[i].strip():
        item = _ITEM.match(lines[i])
        if item:
            items.append(item[3])
        elif items and not _starts_block(lines[i]):
            items[-1] += " " + lines[i].strip()
        else:
            break
        i += 1
    return items, i


def _table_rows(lines: list[str], i: int) -> tuple[list[list[str]], int]:
    rows = []
    while i < len(lines) and lines[i].lstrip().startswith("|"):
        cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            rows.append(cells)
        i += 1
    return rows, i


def markdown_to_html(text: str, header_offset: int = 0) -> str:
    """Convert the simple markdown of a result's text to HTML.

    Handles paragraphs, ``#`` headers (demoted by ``header_offset``), ``-``/``*`` and ``1.``
    lists, fenced code, ``|`` tables, and inline ``**bold**``, ``*italic*``, ``code`` and
    ``[links](url)``. Everything else is escaped, never passed through as raw HTML.
    """
    lines, out, i = text.strip("\n").splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif _FENCE.match(line):
            end = next((j for j in range(i + 1, len(lines)) if _FENCE.match(lines[j])), len(lines))
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : end])) + "</code></pre>")
            i = end + 1
        elif _HEADER.match(line):
            marks, title = _HEADER.match(line).groups()
            level = min(6, len(marks) + header_offset)
            out.append(f"<h{level}>{_inline(title)}</h{level}>")
            i += 1
        elif _ITEM.match(line):
            tag = "ul" if _ITEM.match(line)[1] else "ol"
            items, i = _list_items(lines, i)
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + f"</{tag}>")
        elif line.lstrip().startswith("|"):
            rows, i = _table_rows(lines, i)
            out.append(_table(rows[0], rows[1:], _inline))
        else:
            paragraph = [line.strip()]
            i += 1
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                paragraph.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return "\n".join(out)


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], cell, title: str = "") -> str:
    """An HTML table; ``cell`` turns one cell's text into HTML."""
    head = "".join(f"<th>{cell(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{esc(title)}</caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    """An HTML table of plain-text cells (escaped), with an optional caption."""
    return _table(columns, rows, esc, title)


def md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table of plain-text cells (``|`` and line breaks escaped)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def breakable(name: str) -> str:
    """``name`` escaped, with line-break opportunities after ``_`` and ``.`` (for metric names)."""
    return re.sub(r"([_.])(?=[A-Za-z])", r"\1<wbr>", esc(name))


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML page: inline style sheet, no scripts, no external links."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )

"""A `Result` turned into files a person can open: figures, ``report.md``, ``report.html``, JSON.

`write_report` draws every figure first, in memory, and only then writes the files, each
atomically (a temporary name in the same folder, then ``os.replace``), so a failure half-way
leaves the previous report as it was. ``report.html`` is self-contained: figures are embedded as
base64 data URIs and the style sheet is inline, so the file can be mailed or opened offline.
`write_combined_report` gathers several runs (``engram tour``) into one page with an index.

Example:
    >>> paths = write_report(result, exp, config, "runs/demo", elapsed_s=1.2)  # doctest: +SKIP
    >>> paths["report.html"]  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import numbers
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engram.viz.plots import figure_png, write_atomic

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HIDDEN_SETTINGS = {"verbose"}


@dataclass
class ReportEntry:
    """One experiment's outcome in a combined report (see `write_combined_report`)."""

    name: str
    status: str  # "ok" or "failed"
    elapsed_s: float
    experiment: Any = None
    config: dict[str, Any] | None = None
    result: Any = None
    paths: dict[str, Path] = field(default_factory=dict)
    error: str = ""
    details: str = ""


# --------------------------------------------------------------------------- values


def engram_version() -> str:
    """The installed engram version (``"unknown"`` when running from an uninstalled tree)."""
    import engram

    version = getattr(engram, "__version__", None)
    if version:
        return str(version)
    from importlib import metadata

    try:
        return metadata.version("engram")
    except metadata.PackageNotFoundError:
        return "unknown"


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars and arrays, tuples, paths and nested containers to plain JSON.

    Non-finite floats become ``None`` (JSON has no NaN); unknown objects become their ``repr``.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (str, type(None))):
        return value
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def format_value(value: Any) -> str:
    """A short human form of a metric or setting: 4 significant digits, short lists inline."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    if value is None:
        return "–"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) > 8 or any(isinstance(v, (list, tuple, Mapping)) for v in value):
            return f"{len(value)} values (see metrics.json)"
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def format_seconds(seconds: float) -> str:
    """``12.3 s`` or ``2 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metric dicts as ``("group.name", value)`` pairs, in order."""
    pairs: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(flatten_metrics(value, f"{name}."))
        else:
            pairs.append((name, value))
    return pairs


def scalar_metrics(metrics: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The finite numeric scalar metrics (not booleans), in the order the experiment gave them."""
    return [
        (k, v)
        for k, v in flatten_metrics(metrics)
        if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
    ]


def key_metric(metrics: Mapping[str, Any]) -> tuple[str, float] | None:
    """The headline metric: the first finite numeric scalar an experiment reports."""
    scalars = scalar_metrics(metrics)
    return scalars[0] if scalars else None


def reproduce_command(experiment: Any, config: Mapping[str, Any]) -> str:
    """The ``engram run`` command line that resolves to ``config``."""
    parts = ["engram", "run", experiment.name, "--seed", str(config.get("seed"))]
    for key, value in config.items():
        if key in _HIDDEN_SETTINGS or key == "seed" or experiment.defaults.get(key) == value:
            continue
        if isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        parts += ["--epochs", text] if key == "epochs" else ["--set", f"{key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------------- markup

CSS = """
body{margin:0;background:#f6f7f9;color:#1f2328;font:16px/1.55 system-ui,-apple-system,"Segoe UI",
Roboto,Helvetica,Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:32px 28px 64px;background:#fff;min-height:100vh;
box-shadow:0 0 0 1px #e5e7eb}
h1{font-size:2rem;margin:.1em 0 .2em}h2{margin-top:2.2em;padding-bottom:.2em;
border-bottom:1px solid #e5e7eb}h3,h4{margin-top:1.6em}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.75rem;color:#0072B2;margin:0}
.summary{font-size:1.15rem;color:#374151;margin:.2em 0}
.meta{color:#6b7280;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:20px 0}
.card{flex:1 1 140px;border:1px solid #e5e7eb;border-radius:10px;padding:12px 14px;
background:#fafbfc}
.card .value{font-size:1.6rem;font-weight:650;color:#0072B2}
.card .label{font-size:.8rem;color:#6b7280;word-break:break-word}
figure{margin:28px 0;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #eef0f3;border-radius:8px}
figcaption{color:#4b5563;font-size:.92rem;margin-top:6px;text-align:left}
table{border-collapse:collapse;margin:16px 0;font-size:.92rem;min-width:50%}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:5px 12px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f3f4f6}tbody tr:nth-child(even){background:#fafafa}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;
background:#f3f4f6;padding:1px 4px;border-radius:4px}
pre{background:#f3f4f6;padding:12px;border-radius:8px;overflow-x:auto}pre code{padding:0}
.status{padding:1px 8px;border-radius:10px;font-size:.85rem;background:#d1fae5;color:#065f46}
.status.failed,.error{background:#fee2e2;color:#991b1b}.error{padding:8px 12px;border-radius:8px}
a{color:#0072B2}
"""
_FENCE = re.compile(r"^\s*```")
_HEADER = re.compile(r"^\s*(#{1,6})\s+(.*)$")
_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")


def shift_headers(text: str, levels: int) -> str:
    """Demote markdown headers by ``levels`` (so ``# x`` in a result sits under the report's)."""
    return re.sub(
        r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m[1]) + levels), text, flags=re.MULTILINE
    )


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
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
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + f"</{tag}>")
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            paragraph = [line.strip()]
            i += 1
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                paragraph.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return "\n".join(out)


# --------------------------------------------------------------------------- markdown


def _md_cell(value: Any) -> str:
    text = value if isinstance(value, str) else format_value(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _settings_rows(experiment: Any, config: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key, value in config.items():
        if key in _HIDDEN_SETTINGS:
            continue
        default = experiment.defaults.get(key)
        changed = "" if default == value else format_value(default)
        rows.append([key, format_value(value), changed])
    return rows


def _md_body(result: Any, fig_prefix: str = "") -> list[str]:
    parts = []
    if result.text.strip():
        parts.append(shift_headers(result.text.strip(), 2))
    for fig in result.figures:
        caption = f"\n\n*{fig.caption}*" if fig.caption else ""
        parts.append(f"### {fig.title}\n\n![{fig.title}]({fig_prefix}{fig.name}.png){caption}")
    for table in result.tables:
        parts.append(f"### {table.title}\n\n{_md_table(table.columns, table.rows)}")
    return parts


def report_markdown(
    result: Any, experiment: Any, config: Mapping[str, Any], elapsed_s: float
) -> str:
    """The text of ``report.md``."""
    parts = [
        f"# {experiment.name}",
        f"> {experiment.summary}",
        f"**Reference:** {experiment.reference}",
        f"seed {config.get('seed')} · {format_seconds(elapsed_s)} · engram {engram_version()}",
        "## Results",
        *_md_body(result),
    ]
    metrics = flatten_metrics(result.metrics)
    if metrics:
        parts += ["## Metrics", _md_table(["metric", "value"], [[k, v] for k, v in metrics])]
    parts += [
        "## Settings",
        _md_table(["setting", "value", "default (if changed)"], _settings_rows(experiment, config)),
        f"Reproduce:\n\n```\n{reproduce_command(experiment, config)}\n```",
    ]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- html


def _esc(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else format_value(value))


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    caption = f"<caption>{_esc(title)}</caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_cards(metrics: Mapping[str, Any], limit: int) -> str:
    cards = [
        f'<div class="card"><div class="value">{_esc(v)}</div><div class="label">{_esc(k)}</div>'
        "</div>"
        for k, v in scalar_metrics(
            {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
        )[:limit]
    ]
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _html_figure(fig: Any, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = f"<strong>{_esc(fig.title)}.</strong> {_esc(fig.caption)}"
    return (
        f'<figure id="fig-{_esc(fig.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_esc(fig.title)}"><figcaption>{caption}</figcaption></figure>'
    )


def _html_body(result: Any, pngs: Mapping[str, bytes], cards: int) -> str:
    parts = [_html_cards(result.metrics, cards)]
    if result.text.strip():
        parts.append(f'<div class="text">{markdown_to_html(result.text, header_offset=2)}</div>')
    parts += [_html_figure(fig, pngs[fig.name]) for fig in result.figures if fig.name in pngs]
    parts += [_html_table(t.columns, t.rows, t.title) for t in result.tables]
    return "\n".join(p for p in parts if p)


def _html_page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def report_html(
    result: Any,
    experiment: Any,
    config: Mapping[str, Any],
    elapsed_s: float,
    pngs: Mapping[str, bytes],
) -> str:
    """The text of the self-contained ``report.html`` (figures given as PNG bytes by name)."""
    meta = f"seed {config.get('seed')} · {format_seconds(elapsed_s)} · engram {engram_version()}"
    metrics = flatten_metrics(result.metrics)
    body = [
        f'<header><p class="kicker">engram experiment</p><h1>{_esc(experiment.name)}</h1>'
        f'<p class="summary">{_esc(experiment.summary)}</p>'
        f'<p class="meta">{_esc(meta)}<br>Reference: {_esc(experiment.reference)}</p></header>',
        _html_body(result, pngs, cards=6),
        "<h2>Metrics</h2>" + _html_table(["metric", "value"], metrics) if metrics else "",
        "<h2>Settings</h2>"
        + _html_table(
            ["setting", "value", "default (if changed)"], _settings_rows(experiment, config)
        )
        + f"<p>Reproduce:</p><pre><code>{_esc(reproduce_command(experiment, config))}</code></pre>",
    ]
    return _html_page(f"engram · {experiment.name}", "\n".join(b for b in body if b))


# --------------------------------------------------------------------------- writers


def _check_figure_names(figures: Sequence[Any]) -> None:
    seen: set[str] = set()
    for fig in figures:
        if not isinstance(fig.name, str) or not _SAFE_NAME.match(fig.name):
            raise ValueError(
                f"Figure name must be a file stem of letters, digits, '_', '-' or '.'. Got "
                f"{fig.name!r} instead."
            )
        if fig.name in seen or fig.name in ("report", "metrics"):
            raise ValueError(f"Figure name {fig.name!r} is used twice or reserved. Rename it.")
        seen.add(fig.name)


def metrics_document(
    result: Any, experiment: Any, config: Mapping[str, Any], elapsed_s: float
) -> dict[str, Any]:
    """The content of ``metrics.json``: metrics, settings, seed, version, time and figures."""
    return to_jsonable(
        {
            "experiment": experiment.name,
            "summary": experiment.summary,
            "engram_version": engram_version(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seed": config.get("seed"),
            "elapsed_s": round(float(elapsed_s), 3),
            "metrics": result.metrics,
            "config": {k: v for k, v in config.items() if k not in _HIDDEN_SETTINGS},
            "figures": [
                {
                    "name": f.name,
                    "file": f"{f.name}.png",
                    "title": f.title,
                    "kind": f.kind,
                    "caption": f.caption,
                }
                for f in result.figures
            ],
            "tables": [
                {"title": t.title, "columns": t.columns, "rows": t.rows} for t in result.tables
            ],
        }
    )


def write_report(
    result: Any,
    experiment: Any,
    config: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    elapsed_s: float,
) -> dict[str, Path]:
    """Write ``metrics.json``, one PNG per figure, ``report.md`` and ``report.html``.

    Everything is drawn and composed in memory first; the files are then written one by one,
    each atomically, figures first and ``report.html`` last.

    Args:
        result: the experiment's `Result`.
        experiment: the `Experiment` that produced it (name, summary, reference, defaults).
        config: the resolved settings the run used.
        out_dir: the folder to write into (created if missing).
        elapsed_s: how long the run took, in seconds.

    Returns:
        The written paths by file name, e.g. ``{"loss.png": ..., "report.html": ...}``.

    Raises:
        ValueError: a figure has an unknown kind, bad data or an unusable name; nothing is
            written then.
    """
    _check_figure_names(result.figures)
    pngs = {fig.name: figure_png(fig) for fig in result.figures}
    documents = {
        "metrics.json": json.dumps(
            metrics_document(result, experiment, config, elapsed_s), indent=2, allow_nan=False
        )
        + "\n",
        "report.md": report_markdown(result, experiment, config, elapsed_s),
        "report.html": report_html(result, experiment, config, elapsed_s, pngs),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {f"{name}.png": write_atomic(out / f"{name}.png", png) for name, png in pngs.items()}
    for file_name, text in documents.items():
        paths[file_name] = write_atomic(out / file_name, text)
    return paths


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _index_rows(entries: Sequence[ReportEntry]) -> list[list[str]]:
    rows = []
    for e in entries:
        key = key_metric(e.result.metrics) if e.result is not None else None
        metric = f"{key[0]} = {format_value(key[1])}" if key else ""
        rows.append([e.name, e.status, format_seconds(e.elapsed_s), metric])
    return rows


def _combined_markdown(entries: Sequence[ReportEntry], out: Path, title: str) -> str:
    parts = [
        f"# {title}",
        _md_table(["experiment", "status", "time", "key metric"], _index_rows(entries)),
    ]
    for e in entries:
        parts.append(f"## {e.name}")
        if e.experiment is not None:
            parts.append(f"> {e.experiment.summary}")
        if e.status != "ok":
            parts.append(f"**Failed:** `{e.error}`")
            continue
        prefix = _relative(out / e.name, out) + "/"
        if "report.md" in e.paths:
            prefix = _relative(e.paths["report.md"].parent, out) + "/"
            parts.append(f"Full report: [{prefix}report.md]({prefix}report.md)")
        parts += _md_body(e.result, fig_prefix=prefix)
    return "\n\n".join(parts) + "\n"


def _combined_html(entries: Sequence[ReportEntry], out: Path, title: str) -> str:
    rows = "".join(
        f'<tr><td><a href="#{_esc(r[0])}">{_esc(r[0])}</a></td>'
        f'<td><span class="status {_esc(r[1])}">{_esc(r[1])}</span></td>'
        f"<td>{_esc(r[2])}</td><td>{_esc(r[3])}</td></tr>"
        for r in _index_rows(entries)
    )
    failed = sum(e.status != "ok" for e in entries)
    meta = (
        f"{len(entries) - failed} of {len(entries)} experiments ran · "
        f"{format_seconds(sum(e.elapsed_s for e in entries))} · engram {engram_version()}"
    )
    body = [
        f'<header><p class="kicker">engram</p><h1>{_esc(title)}</h1>'
        f'<p class="meta">{_esc(meta)}</p></header>',
        "<table><thead><tr><th>experiment</th><th>status</th><th>time</th><th>key metric</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>",
    ]
    for e in entries:
        body.append(f'<section id="{_esc(e.name)}"><h2>{_esc(e.name)}</h2>')
        if e.experiment is not None:
            body.append(f'<p class="summary">{_esc(e.experiment.summary)}</p>')
        if e.status != "ok":
            body.append(f'<p class="error">{_esc(e.error)}</p>')
            if e.details:
                body.append(
                    f"<details><summary>traceback</summary><pre>{_esc(e.details)}</pre></details>"
                )
        else:
            pngs = {
                f.name: e.paths[f"{f.name}.png"].read_bytes()
                for f in e.result.figures
                if f"{f.name}.png" in e.paths
            }
            if "report.html" in e.paths:
                link = _relative(e.paths["report.html"], out)
                body.append(f'<p class="meta"><a href="{_esc(link)}">full report</a></p>')
            body.append(_html_body(e.result, pngs, cards=4))
        body.append("</section>")
    return _html_page(title, "\n".join(body))


def write_combined_report(
    entries: Sequence[ReportEntry], out_dir: str | os.PathLike[str], *, title: str = "engram tour"
) -> dict[str, Path]:
    """Write one ``report.md`` and one self-contained ``report.html`` covering several runs.

    Args:
        entries: one `ReportEntry` per experiment, successful or failed, in display order.
            Successful entries' figures are read from their written PNG files (``paths``).
        out_dir: the folder to write into; the per-experiment folders are linked relative to it.
        title: the page title.

    Returns:
        ``{"report.md": path, "report.html": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown = _combined_markdown(entries, out, title)
    page = _combined_html(entries, out, title)
    return {
        "report.md": write_atomic(out / "report.md", markdown),
        "report.html": write_atomic(out / "report.html", page),
    }

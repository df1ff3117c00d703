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
import json
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.fileio import atomic_write_bytes, atomic_write_text
from engram.viz.glossary import link_terms, used_terms
from engram.viz.markup import (
    breakable,
    esc,
    html_page,
    html_table,
    markdown_to_html,
    md_table,
    shift_headers,
)
from engram.viz.plots import figure_png
from engram.viz.values import (
    HIDDEN_SETTINGS,
    divergence_banner,
    engram_version,
    flatten_metrics,
    format_seconds,
    format_value,
    headline_values,
    key_metric,
    non_finite_values,
    reproduce_command,
    to_jsonable,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ReportEntry:
    """One experiment's outcome in a combined report (see `write_combined_report`)."""

    name: str
    status: str  # "ok", "diverged" (ran, but NaN or infinite values) or "failed" (raised)
    elapsed_s: float
    experiment: Any = None
    config: dict[str, Any] | None = None
    result: Any = None
    paths: dict[str, Path] = field(default_factory=dict)
    error: str = ""
    details: str = ""
    data_files: Sequence[Mapping[str, Any]] = ()


# --------------------------------------------------------------------------- markdown


def _text(value: Any) -> str:
    return value if isinstance(value, str) else format_value(value)


def _cells(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    return [[_text(c) for c in row] for row in rows]


_SETTINGS_COLUMNS = ["setting", "value", "default (if changed)"]


def _settings_rows(experiment: Any, config: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key, value in config.items():
        if key in HIDDEN_SETTINGS:
            continue
        default = experiment.defaults.get(key)
        changed = "" if default == value else format_value(default)
        rows.append([key, format_value(value), changed])
    return rows


def _md_opening(result: Any) -> list[str]:
    """The opening sentences and the headline findings, as markdown."""
    parts = (
        [f"**What this run showed.** {result.opening.strip()}"] if result.opening.strip() else []
    )
    if result.headline:
        rows = [
            [label, format_value(v)]
            for label, v in headline_values(result.metrics, result.headline)
        ]
        parts.append(md_table(["finding", "value"], rows))
    return parts


def _md_terms(result: Any) -> list[str]:
    """The glossary entries of the terms the opening and the text use."""
    found = used_terms(f"{result.opening}\n{result.text}")
    if not found:
        return []
    return ["## Terms used", "\n".join(f"- **{t.name}.** {t.definition}" for t in found)]


def _md_body(result: Any, fig_prefix: str = "") -> list[str]:
    parts = _md_opening(result)
    if result.text.strip():
        parts.append(shift_headers(result.text.strip(), 2))
    for fig in result.figures:
        caption = f"\n\n*{fig.caption}*" if fig.caption else ""
        parts.append(f"### {fig.title}\n\n![{fig.title}]({fig_prefix}{fig.name}.png){caption}")
    for table in result.tables:
        parts.append(f"### {table.title}\n\n{md_table(table.columns, _cells(table.rows))}")
    return parts


def _run_line(config: Mapping[str, Any], elapsed_s: float) -> str:
    return f"seed {config.get('seed')} · {format_seconds(elapsed_s)} · engram {engram_version()}"


_DATA_COLUMNS = ["file read", "bytes", "SHA-256"]


def _data_rows(data_files: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[str(f["path"]), str(f["bytes"]), str(f["sha256"])] for f in data_files]


def report_markdown(
    result: Any,
    experiment: Any,
    config: Mapping[str, Any],
    elapsed_s: float,
    data_files: Sequence[Mapping[str, Any]] = (),
    read_more: str = "",
) -> str:
    """The text of ``report.md`` (a diverged run starts with a banner saying so)."""
    banner = divergence_banner(non_finite_values(result))
    parts = [
        f"# {experiment.name}",
        f"> {experiment.summary}",
        f"**Reference:** {experiment.reference}",
        _run_line(config, elapsed_s),
        f"> **DIVERGED.** {banner}" if banner else "",
        "## Results",
        *_md_body(result),
        *_md_terms(result),
        read_more,
    ]
    metrics = flatten_metrics(result.metrics)
    if metrics:
        parts += ["## Metrics", md_table(["metric", "value"], _cells(metrics))]
    if data_files:
        parts += ["## Data read", md_table(_DATA_COLUMNS, _data_rows(data_files))]
    parts += [
        "## Settings",
        md_table(_SETTINGS_COLUMNS, _settings_rows(experiment, config)),
        f"Reproduce:\n\n```\n{reproduce_command(experiment, config)}\n```",
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


# --------------------------------------------------------------------------- html


def _html_cards(result: Any, config: Mapping[str, Any]) -> str:
    cards = [
        f'<div class="card"><div class="value">{esc(format_value(v))}</div>'
        f'<div class="label">{breakable(label)}</div></div>'
        for label, v in headline_values(result.metrics, result.headline, config)
    ]
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _html_terms(result: Any) -> str:
    found = used_terms(f"{result.opening}\n{result.text}")
    items = "".join(
        f'<dt id="{t.anchor}">{esc(t.name)}</dt><dd>{markdown_to_html(t.definition)[3:-4]}</dd>'
        for t in found
    )
    return f'<h2>Terms used</h2><dl class="terms">{items}</dl>' if items else ""


def _linked(markdown: str) -> str:
    """Markdown as HTML with the glossary terms' first mentions linked to the terms list."""
    return markdown_to_html(link_terms(markdown), header_offset=2).replace(
        '<a href="#term-', '<a class="term" href="#term-'
    )


def _png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height in pixels from a PNG's header (None if it is not a PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


def html_figure(fig: Any, png: bytes) -> str:
    """A figure as a self-contained ``<figure>``: the PNG inline, its caption below."""
    data = base64.b64encode(png).decode("ascii")
    size = _png_size(png)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    caption = (  # the title is drawn in the image; alone it need not be said twice
        f"<figcaption><strong>{esc(fig.title)}.</strong> {esc(fig.caption)}</figcaption>"
        if fig.caption
        else ""
    )
    return (
        f'<figure id="fig-{esc(fig.name)}"><img src="data:image/png;base64,{data}"{dims} '
        f'alt="{esc(fig.title)}">{caption}</figure>'
    )


def _html_banner(result: Any) -> str:
    banner = divergence_banner(non_finite_values(result))
    return f'<p class="error"><strong>DIVERGED.</strong> {esc(banner)}</p>' if banner else ""


def _html_body(result: Any, config: Mapping[str, Any], pngs: Mapping[str, bytes]) -> str:
    parts = [_html_banner(result)]
    if result.opening.strip():
        parts.append(f'<div class="opening">{_linked(result.opening)}</div>')
    parts.append(_html_cards(result, config))
    if result.text.strip():
        parts.append(f'<div class="text">{_linked(result.text)}</div>')
    parts += [html_figure(fig, pngs[fig.name]) for fig in result.figures if fig.name in pngs]
    parts += [html_table(t.columns, _cells(t.rows), t.title) for t in result.tables]
    return "\n".join(p for p in parts if p)


def report_html(
    result: Any,
    experiment: Any,
    config: Mapping[str, Any],
    elapsed_s: float,
    pngs: Mapping[str, bytes],
    data_files: Sequence[Mapping[str, Any]] = (),
    read_more: str = "",
) -> str:
    """The text of the self-contained ``report.html`` (figures given as PNG bytes by name)."""
    metrics = flatten_metrics(result.metrics)
    body = [
        f'<header><p class="kicker">engram experiment</p><h1>{esc(experiment.name)}</h1>'
        f'<p class="summary">{esc(experiment.summary)}</p>'
        f'<p class="meta">{esc(_run_line(config, elapsed_s))}<br>'
        f"Reference: {esc(experiment.reference)}</p></header>",
        _html_body(result, config, pngs),
        _html_terms(result),
        f'<p class="readmore">{esc(read_more)}</p>' if read_more else "",
        "<h2>Metrics</h2>" + html_table(["metric", "value"], _cells(metrics)) if metrics else "",
        "<h2>Data read</h2>" + html_table(_DATA_COLUMNS, _data_rows(data_files))
        if data_files
        else "",
        "<h2>Settings</h2>"
        + html_table(_SETTINGS_COLUMNS, _settings_rows(experiment, config))
        + f"<p>Reproduce:</p><pre><code>{esc(reproduce_command(experiment, config))}</code></pre>",
    ]
    return html_page(f"engram · {experiment.name}", "\n".join(b for b in body if b))


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
    result: Any,
    experiment: Any,
    config: Mapping[str, Any],
    elapsed_s: float,
    data_files: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The content of ``metrics.json``: metrics, settings, seed, version, time and figures.

    ``diverged`` is true when a metric or table holds NaN or infinity (named in ``non_finite``;
    JSON writes them as null); ``data_files`` lists the files the run read (path, bytes, SHA-256).
    """
    non_finite = non_finite_values(result)
    return to_jsonable(
        {
            "experiment": experiment.name,
            "diverged": bool(non_finite),
            "non_finite": non_finite,
            "data_files": list(data_files),
            "summary": experiment.summary,
            "engram_version": engram_version(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seed": config.get("seed"),
            "elapsed_s": round(float(elapsed_s), 3),
            "metrics": result.metrics,
            "config": {k: v for k, v in config.items() if k not in HIDDEN_SETTINGS},
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
    data_files: Sequence[Mapping[str, Any]] = (),
    read_more: str = "",
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
        data_files: the files the run read (``path``, ``bytes``, ``sha256`` each), listed in
            ``metrics.json`` and in the reports.
        read_more: a line pointing to the lesson that explains the experiment (after the
            results).

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
            metrics_document(result, experiment, config, elapsed_s, data_files),
            indent=2,
            allow_nan=False,
        )
        + "\n",
        "report.md": report_markdown(result, experiment, config, elapsed_s, data_files, read_more),
        "report.html": report_html(
            result, experiment, config, elapsed_s, pngs, data_files, read_more
        ),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        f"{name}.png": atomic_write_bytes(out / f"{name}.png", png) for name, png in pngs.items()
    }
    for file_name, text in documents.items():
        paths[file_name] = atomic_write_text(out / file_name, text)
    return paths


# --------------------------------------------------------------------------- several runs


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def index_rows(entries: Sequence[ReportEntry]) -> list[list[str]]:
    """``[name, status, time, key metric or the error's first line]`` per entry (the index)."""
    rows = []
    for e in entries:
        key = (
            key_metric(e.result.metrics, e.config, e.result.headline)
            if e.result is not None
            else None
        )
        metric = f"{key[0]} = {format_value(key[1])}" if key else e.error.partition("\n")[0]
        rows.append([e.name, e.status, format_seconds(e.elapsed_s), metric])
    return rows


def _combined_markdown(entries: Sequence[ReportEntry], out: Path, title: str) -> str:
    parts = [
        f"# {title}",
        md_table(["experiment", "status", "time", "key metric"], index_rows(entries)),
    ]
    for e in entries:
        parts.append(f"## {e.name}")
        if e.experiment is not None:
            parts.append(f"> {e.experiment.summary}")
        if e.result is None:
            parts.append(f"**Failed:** `{e.error}`")
            continue
        banner = divergence_banner(non_finite_values(e.result))
        if banner:
            parts.append(f"> **DIVERGED.** {banner}")
        prefix = _relative(out / e.name, out) + "/"
        if "report.md" in e.paths:
            prefix = _relative(e.paths["report.md"].parent, out) + "/"
            parts.append(f"Full report: [{prefix}report.md]({prefix}report.md)")
        parts += _md_body(e.result, fig_prefix=prefix)
    return "\n\n".join(parts) + "\n"


def _html_index(entries: Sequence[ReportEntry]) -> str:
    rows = []
    for e, (name, status, elapsed, metric) in zip(entries, index_rows(entries), strict=True):
        what = e.experiment.summary if e.experiment is not None else ""
        rows.append(
            f'<tr><td><a href="#{esc(name)}">{esc(name)}</a>'
            f'<span class="what">{esc(what)}</span></td>'
            f'<td><span class="status {esc(status)}">{esc(status)}</span></td>'
            f"<td>{esc(elapsed)}</td><td>{esc(metric)}</td></tr>"
        )
    return (
        '<table class="index"><thead><tr><th>experiment</th><th>status</th><th>time</th>'
        f"<th>key metric</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _html_section(e: ReportEntry, out: Path) -> str:
    links = ['<a href="#top">back to the index</a>']
    parts = [f'<section id="{esc(e.name)}"><h2>{esc(e.name)}</h2>']
    if e.experiment is not None:
        parts.append(f'<p class="summary">{esc(e.experiment.summary)}</p>')
    if e.result is None:
        parts.append(f'<p class="links">{" · ".join(links)}</p>')
        parts.append(f'<p class="error">{esc(e.error)}</p>')
        if e.details:
            parts.append(
                f"<details><summary>traceback</summary><pre>{esc(e.details)}</pre></details>"
            )
    else:
        if "report.html" in e.paths:
            link = _relative(e.paths["report.html"], out)
            links.insert(0, f'<a href="{esc(link)}">full report</a>')
        parts.append(f'<p class="links">{" · ".join(links)}</p>')
        pngs = {
            f.name: e.paths[f"{f.name}.png"].read_bytes()
            for f in e.result.figures
            if f"{f.name}.png" in e.paths
        }
        parts.append(_html_body(e.result, e.config or {}, pngs))
    return "\n".join(parts) + "</section>"


def _combined_html(entries: Sequence[ReportEntry], out: Path, title: str) -> str:
    failed = sum(e.result is None for e in entries)
    meta = (
        f"{len(entries) - failed} of {len(entries)} experiments ran · "
        f"{format_seconds(sum(e.elapsed_s for e in entries))} · engram {engram_version()}"
    )
    body = [
        f'<header id="top"><p class="kicker">engram</p><h1>{esc(title)}</h1>'
        f'<p class="meta">{esc(meta)}</p></header>',
        _html_index(entries),
        *(_html_section(e, out) for e in entries),
    ]
    return html_page(title, "\n".join(body))


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
        "report.md": atomic_write_text(out / "report.md", markdown),
        "report.html": atomic_write_text(out / "report.html", page),
    }

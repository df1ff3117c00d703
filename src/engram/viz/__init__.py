"""Figures and reports from experiment results.

`plots` draws declarative `engram.experiments.Figure`s as PNGs (the kinds live in `kinds`,
`charts` and `maps`; matplotlib is imported only when something is drawn); `report` writes a
run's ``metrics.json``, ``report.md`` and self-contained ``report.html``, every file atomically,
with `values` deciding how numbers look and `markup` turning text into HTML.
"""

from engram.viz.plots import KINDS, figure_png, render
from engram.viz.report import ReportEntry, write_combined_report, write_report

__all__ = ["KINDS", "ReportEntry", "figure_png", "render", "write_combined_report", "write_report"]

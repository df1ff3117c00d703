"""The ``engram`` command: list, run and tour the experiments.

It parses arguments, looks names up and prints short tables; the work is done by
`engram.experiments.runner` and the reports by `engram.viz`.

Example (shell)::

    engram list
    engram run hopfield --quick --set n_patterns=8
    engram tour --out runs/tour
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MAX_METRICS = 12
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class UsageProblem(click.ClickException):
    """A bad name or setting: one line on stderr, exit code 2, no traceback."""

    exit_code = 2


class DataProblem(click.ClickException):
    """Data that is missing or fails its checks: the loader's message, exit code 1."""

    exit_code = 1


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    """Rows as plain text, left-aligned in columns under a header."""
    n = len(columns)
    cells = [[str(c) for c in columns]] + [[str(c) for c in row][:n] for row in rows]
    cells = [row + [""] * (n - len(row)) for row in cells]
    widths = [max(len(row[i]) for row in cells) for i in range(n)]
    lines = [
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="engram", prog_name="engram", message="%(prog)s %(version)s")
def cli() -> None:
    """engram: brain-inspired neural networks from first principles.

    \b
    engram list              the experiments
    engram run NAME          run one; writes figures and a report
    engram tour              run every experiment quickly; one combined report
    engram sweep NAME        run one over a grid of settings x seeds
    engram explore           an interactive page in the browser
    """


@cli.command("list")
def list_experiments() -> None:
    """List the experiments: name, what it shows, and where it comes from."""
    from engram.experiments import get, names

    found = names()
    if not found:
        click.echo("No experiments are registered.")
        return
    width = max(len(n) for n in found) + 2
    text_width = max(40, shutil.get_terminal_size((100, 20)).columns - width - 2)
    for name in found:
        experiment = get(name)
        summary = _wrap(experiment.summary, text_width) or [""]
        click.echo(click.style(name.ljust(width), bold=True) + summary[0])
        for line in summary[1:]:
            click.echo(" " * width + line)
        for line in _wrap(f"Ref: {experiment.reference}", text_width):
            click.echo(" " * width + click.style(line, dim=True))
    plural = "s" if len(found) != 1 else ""
    click.echo(f"\n{len(found)} experiment{plural}. Run one with: engram run NAME [--quick]")


def _interrupted(out: Any) -> None:
    click.echo(
        f"\nInterrupted: nothing was written to {out} (an earlier run there is intact).", err=True
    )
    sys.exit(EXIT_INTERRUPTED)


def _print_run_summary(run: Any) -> None:
    from engram.viz.values import flatten_metrics, format_seconds, format_value, headline_values

    result, out = run.result, run.out_dir
    if result.opening.strip():
        click.echo("\nWhat this run showed:")
        for line in _wrap(result.opening.strip(), 78):
            click.echo("  " + line)
    if result.headline:
        rows = [
            [label, format_value(v)]
            for label, v in headline_values(result.metrics, result.headline)
        ]
        click.echo("\nFindings:")
        click.echo(_table(["finding", "value"], rows))
    if result.figures:
        click.echo(f"\nFigures in {out}:")
        click.echo(_table(["file", "title"], [[f"{f.name}.png", f.title] for f in result.figures]))
    for table in result.tables:
        click.echo(f"\n{table.title}:")
        click.echo(_table(table.columns, [[format_value(c) for c in r] for r in table.rows]))
    metrics = [(k, v) for k, v in flatten_metrics(result.metrics) if not isinstance(v, list)]
    if metrics:
        click.echo("\nMetrics:")
        click.echo(
            _table(["metric", "value"], [[k, format_value(v)] for k, v in metrics][:MAX_METRICS])
        )
        if len(metrics) > MAX_METRICS:
            click.echo(f"  ... and {len(metrics) - MAX_METRICS} more in metrics.json")
    if run.data_files:
        click.echo("\nData read:")
        rows = [[f["path"], f["bytes"], f["sha256"][:16]] for f in run.data_files]
        click.echo(_table(["file", "bytes", "SHA-256 (start)"], rows))
    click.echo(f"\nDone in {format_seconds(run.elapsed_s)} (seed {run.config.get('seed')}).")


@cli.command("run")
@click.argument("name")
@click.option("--seed", type=int, help="Random seed (data, initial weights, dropout, tasks).")
@click.option("--epochs", type=int, help="Training epochs, for experiments that train.")
@click.option("--quick", is_flag=True, help="Small, fast settings on embedded data.")
@click.option(
    "--out",
    help="Output folder [default: ./engram-runs/NAME]; an earlier run there is kept, renamed "
    "NAME.earlier-TIME.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a setting (repeatable), e.g. --set learning_rate=0.01.",
)
@click.option(
    "--dataset", help="Dataset, for experiments with a dataset setting (= --set dataset=NAME)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Folder holding the dataset's IDX files (= --set data_dir=DIR).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; print only the report path.")
@click.option(
    "--force",
    is_flag=True,
    help="Run even if the estimated memory or time is beyond this machine (= ENGRAM_FORCE=1).",
)
@click.option(
    "--traceback", "show_traceback", is_flag=True, help="Show the traceback of a settings error."
)
def run_command(
    name: str,
    seed: int | None,
    epochs: int | None,
    quick: bool,
    out: str | None,
    overrides: tuple[str, ...],
    dataset: str | None,
    data_dir: str | None,
    quiet: bool,
    force: bool,
    show_traceback: bool,
) -> None:
    """Run the experiment NAME and write its figures and report.

    \b
    Exit codes:
      0    the run finished and its report is written
      1    missing or corrupt data, or an error inside the experiment (with its traceback)
      2    bad settings (unknown name or key, wrong type, out of range), an unusable --out,
           or a run estimated not to fit in memory or time; checked before anything runs
      3    the run diverged (NaN or infinity in its results); its report says so in a banner
      130  interrupted (Ctrl-C); nothing is written, an earlier run in --out is intact
    """
    from engram.experiments import get
    from engram.experiments.runner import (
        DEFAULT_OUT,
        check_resources,
        resolve_config,
        run_resolved,
    )
    from engram.fileio import check_output_folder

    shorthands = [
        f"{key}={value}" for key, value in (("dataset", dataset), ("data_dir", data_dir)) if value
    ]
    try:
        experiment = get(name)
        config = resolve_config(
            experiment,
            quick=quick,
            seed=seed,
            epochs=epochs,
            overrides=shorthands + list(overrides),
        )
        target = check_output_folder(out if out is not None else DEFAULT_OUT / experiment.name)
        check_resources(experiment, config, force=force)
    except (ValueError, TypeError) as exc:
        if show_traceback:
            raise
        raise UsageProblem(str(exc)) from None
    if not quiet:
        click.echo(f"Running {experiment.name}{' (quick)' if quick else ''} ...")
    from engram.data import ChecksumError, DatasetNotFoundError, IDXError

    try:
        run = run_resolved(
            experiment, config, out_dir=target, verbose=0 if quiet else 1, force=force
        )
    except (DatasetNotFoundError, ChecksumError, IDXError) as exc:
        if show_traceback:
            raise
        raise DataProblem(str(exc)) from None
    except KeyboardInterrupt:
        _interrupted(target)
    if not quiet:
        _print_run_summary(run)
    if run.earlier is not None:
        click.echo(f"The earlier run in {target} was kept, renamed {run.earlier}.")
    report = run.paths["report.html"]
    click.echo(f"Report: {report}  (also report.md, metrics.json)")
    diverged = run.diverged
    if diverged:
        from engram.viz.values import divergence_banner

        click.echo(f"DIVERGED: {divergence_banner(diverged)}", err=True)
        sys.exit(EXIT_DIVERGED)


@cli.command("tour")
@click.option(
    "--out",
    default=str(Path("engram-runs") / "tour"),
    show_default=True,
    help="Output folder; each experiment gets a subfolder. An earlier tour there is kept, renamed.",
)
@click.option("--seed", type=int, help="Seed for every experiment [default: each one's own].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def tour_command(out: str, seed: int | None, quiet: bool) -> None:
    """Run every experiment in quick mode and write one combined report.

    Exits with code 1 if any experiment failed or diverged (the others still run and are
    reported), 2 for a bad --seed or --out (before anything runs), 130 on Ctrl-C (nothing is
    written then).
    """
    from engram.experiments.base import SEED_BOUNDS
    from engram.experiments.runner import run_tour
    from engram.fileio import check_output_folder
    from engram.viz.report import index_rows

    if seed is not None and SEED_BOUNDS.problem("seed", seed):
        raise UsageProblem(f"--seed: {SEED_BOUNDS.problem('seed', seed)}")
    try:
        target = check_output_folder(out)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    try:
        tour = run_tour(target, seed=seed, verbose=0 if quiet else 1, log=click.echo)
    except KeyboardInterrupt:
        _interrupted(target)
    rows = [[*row[:3], _shorten(row[3], 70)] for row in index_rows(tour.entries)]
    click.echo("\n" + _table(["experiment", "status", "time", "key metric"], rows))
    click.echo(f"\nReport: {tour.paths['report.html']}")
    if tour.earlier is not None:
        click.echo(f"The earlier tour in {target} was kept, renamed {tour.earlier}.")
    if tour.failed:
        click.echo(f"{len(tour.failed)} failed: {', '.join(tour.failed)}", err=True)
        sys.exit(1)


@cli.command("sweep")
@click.argument("name")
@click.option("--grid", multiple=True, metavar="KEY=V1,V2", help="A setting's values (repeatable).")
@click.option("--seeds", type=int, default=5, show_default=True, help="Seeds per setting.")
@click.option("--seed", type=int, help="Root of every cell's seed [default: the setting's].")
@click.option("--quick", is_flag=True, help="Start from the experiment's quick settings.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Fixed setting.")
@click.option(
    "--backend",
    type=click.Choice(["serial", "processes", "dask"]),
    default="processes",
    show_default=True,
    help="Here, joblib processes, or Dask.",
)
@click.option("--jobs", type=int, help="Worker processes [default: all cores].")
@click.option("--scheduler", metavar="ADDRESS", help="Join a Dask cluster (tcp://host:8786).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The sweep's folder: results.csv, report.html, cells/.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep_command(name, grid, seeds, seed, quick, overrides, backend, jobs, scheduler, out, quiet):
    """Run NAME over a grid of settings x seeds; results.csv and report.html in --out.

    Re-running the same command finishes a sweep that was stopped: only missing cells run.
    Bad input exits with code 2; a failed cell or a dead worker with code 1 (finished cells
    are kept).
    """
    from engram.experiments import get
    from engram.sweep import SweepError, make_plan, run_sweep

    try:
        plan = make_plan(get(name), grid, seeds, quick=quick, overrides=overrides, root_seed=seed)
        done = run_sweep(
            plan, out, backend=backend, jobs=jobs, scheduler=scheduler, progress=not quiet,
            log=lambda line: click.echo(line, err=True),
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise UsageProblem(str(exc)) from None
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    from engram.sweep.report import summary_lines

    click.echo("\n".join(summary_lines(done)))
    if done.failed:
        sys.exit(1)


@cli.command("export")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(["onnx", "keras", "torch"]),
    help="onnx: an ONNX graph; keras: a Keras 3 .keras file; torch: the PyTorch state_dict "
    "of engram.nn.export.to_torch(model), as safetensors (no pickle).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--opset", type=int, help="ONNX opset (13-17) [default: engram's pinned one].")
def export_command(model_file: Path, target: str, out: Path, opset: int | None) -> None:
    """Convert MODEL_FILE (.engram or .keras) to another framework's file."""
    from engram.nn import ModelFileError
    from engram.nn.saving import load_model

    try:
        model = load_model(model_file)
    except ModelFileError as exc:
        raise DataProblem(str(exc)) from None
    try:
        if target == "onnx":
            from engram.nn.export import to_onnx

            to_onnx(model, out, opset=opset)
        elif target == "keras":
            from engram.nn.saving import keras_format

            keras_format.save_model(model, out)
        else:
            from engram.nn.export.torch import save_torch_state

            save_torch_state(model, out)
    except (ValueError, TypeError, ImportError) as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(str(out))


@cli.command("explore")
@click.option("--port", type=int, default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the address.")
def explore_command(port: int, no_browser: bool) -> None:
    """Serve the interactive page (Hopfield drawing pad, live training) on 127.0.0.1."""
    from engram.explore.server import make_server

    try:
        server = make_server(port)
    except OSError as exc:
        raise UsageProblem(f"Cannot listen on port {port}: {exc}. Try --port 0.") from None
    click.echo(f"engram explore: {server.url}  (Ctrl+C to stop)")
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``engram`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="engram")


if __name__ == "__main__":
    main()

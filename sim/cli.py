"""The `aiecosim` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from aiecosim.config import ConfigError, list_scenarios, load_config
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate competition between AI strategies: frontier labs, integrated giants and "
    "open-source builders, in compute and energy markets, funded by investors.",
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> None:
    """Bad input: one line, exit status 2, no traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def scenarios() -> None:
    """List the scenario presets with a one-line description each."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("scenario")
    table.add_column("description")
    for name, description in list_scenarios().items():
        table.add_row(name, description)
    console.print(table)


@app.command()
def run(
    scenario: Annotated[
        str, typer.Option(help="Scenario preset (see `aiecosim scenarios`).")
    ] = "baseline",
    config: Annotated[Path | None, typer.Option(help="TOML file of overrides.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one value: key.path=value (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the run.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Months to simulate.")] = None,
    enterprises: Annotated[int | None, typer.Option(help="Simulated enterprise cohorts.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder [runs/<scenario>-<seed>].")
    ] = None,
    report: Annotated[bool, typer.Option(help="Draw report.png.")] = True,
) -> None:
    """Simulate one scenario and write model.parquet, firms.parquet, run.json and report.png."""
    from aiecosim.outputs import run_model, write_run

    overrides = list(set_ or [])
    if steps is not None:
        overrides.append(f"run.steps={steps}")
    if enterprises is not None:
        overrides.append(f"run.enterprises={enterprises}")
    try:
        cfg = load_config(scenario, config, overrides)
    except ConfigError as err:
        fail(str(err))
    out_dir = out if out is not None else Path("runs") / f"{cfg.scenario.name}-{seed}"
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {str(out_dir)!r} exists and is not a folder")
    with console.status(f"simulating {cfg.scenario.name} ({cfg.run.steps} months)...") as status:
        result = run_model(
            cfg, seed, on_step=lambda k, n: status.update(f"simulating month {k}/{n}")
        )
    try:
        write_run(result, out_dir, figure=report)
    except OSError as err:
        fail(f"cannot write to {str(out_dir)!r}: {err.strerror or err}")
    print_summary(result.summary)
    console.print(
        f"wrote {out_dir}/ (model.parquet, firms.parquet, run.json"
        f"{', report.png' if report else ''})"
    )


def print_summary(summary: dict) -> None:
    s = summary
    console.print(
        f"[bold]{s['scenario']}[/], seed {s['seed']}: {s['steps']} months, "
        f"{s['enterprises']:,} enterprises, {s['wall_seconds']:.2f} s"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("archetype")
    table.add_column("alive at end", justify="right")
    table.add_column("final revenue share", justify="right")
    for a, alive in s["survivors_by_archetype"].items():
        table.add_row(a.replace("_", " "), str(alive), f"{s['final_shares_by_archetype'][a]:.1%}")
    console.print(table)
    w = s["winner"]
    console.print(
        "winner by revenue (last 12 months): "
        + (f"{w['name']} ({w['archetype'].replace('_', ' ')})" if w else "none")
    )

    def pct(x):
        return "n/a" if x is None else f"{x:.1%}"

    lag = s["open_lag_months"]
    console.print(
        f"open-weights lag: {'n/a' if lag is None else f'{lag:.0f} months'}; "
        f"data centres: {pct(s['dc_grid_share'])} of grid electricity; "
        f"adoption: {s['adoption_rate']:.1%}; adopters with a positive return: "
        f"{s['adopters_positive_roi_share']:.1%}; exits: {len(s['exits'])}, "
        f"entrants: {s['entrants']}"
    )


def main() -> None:  # pragma: no cover - console entry for `python -m aiecosim.cli`
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()

"""The `aiecosim` command line."""

from __future__ import annotations

import gc
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from aiecosim.errors import BooksError, ConfigError

if TYPE_CHECKING:  # the schema is imported when a command needs it, not for --help
    from aiecosim.config import SimConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # help text is plain: "[all cores]" is shown, not read as markup
    help="Simulate competition between AI strategies: frontier labs, integrated giants and "
    "open-source builders, in compute and energy markets, funded by investors.",
)


class _LazyConsole:
    """A rich Console made on first use: `aiecosim --help` does not pay for importing rich."""

    def __init__(self, **options):
        self._options, self._console = options, None

    def get(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.get(), name)


def Table(*args, **kwargs):  # noqa: N802 (stands in for rich's class, imported on first use)
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def escape(text: str) -> str:
    """User text printed as written, not read as Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)


class _Progress:
    """A bar with the count of finished runs, the time spent and the time left, shown only
    once the work has started (a refusal before it leaves no bar behind)."""

    def __init__(self, description: str):
        self.description, self._bar, self._task = description, None, None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=err_console.get(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_version(value: bool) -> None:
    if value:
        from aiecosim.provenance import version_line

        console.print(version_line(), highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and the hash of the model's source, and exit.",
        ),
    ] = False,
) -> None:
    """Simulate competition between AI strategies: frontier labs, integrated giants and
    open-source builders, in compute and energy markets, funded by investors."""


# Options several commands share, defined once.
ConfigFile = Annotated[Path | None, typer.Option(help="TOML file of overrides.")]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one value: key.path=value (repeatable)."),
]
Cohorts = Annotated[int | None, typer.Option(help="Simulated enterprise cohorts.")]


def fail(message: str) -> None:
    """Bad input: one line, exit status 2, no traceback."""
    # the message is the user's text (paths, [strategies.x] tables): printed, not read as markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def resolve_config(
    scenario: str,
    config_file: Path | None,
    overrides: list[str] | None,
    steps: int | None,
    enterprises: int | None,
) -> SimConfig:
    """The validated config of a command's --scenario, --config, --set, --steps and
    --enterprises (the flags win), or one line and exit status 2."""
    from aiecosim.config import load_config

    overrides = list(overrides or [])
    if steps is not None:
        overrides.append(f"run.steps={steps}")
    if enterprises is not None:
        overrides.append(f"run.enterprises={enterprises}")
    try:
        return load_config(scenario, config_file, overrides)
    except ConfigError as err:
        fail(str(err))


@app.command()
def scenarios() -> None:
    """List the scenario presets with a one-line description each."""
    from aiecosim.errors import list_scenarios

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
    config: ConfigFile = None,
    set_: Overrides = None,
    seed: Annotated[int, typer.Option(help="Random seed of the run.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Months to simulate.")] = None,
    enterprises: Cohorts = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder [runs/<scenario>-<seed>].")
    ] = None,
    report: Annotated[bool, typer.Option(help="Draw report.png.")] = True,
    check: Annotated[
        bool, typer.Option(help="Check the books every month; stop at the first violation.")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Replace an earlier run in --out (its old files are removed).")
    ] = False,
) -> None:
    """Simulate one scenario and write model.parquet, firms.parquet, strategies.parquet,
    run.json, provenance.json and report.png. Never writes into a folder that holds anything but
    an earlier run, and replaces an earlier run only with --force; without --out each run gets a
    fresh folder (runs/<scenario>-<seed>, then -2, -3, ...)."""
    # The report is drawn by a second process, started now so that its imports (matplotlib,
    # pyarrow) and the figure's fixed parts overlap with this one's imports and simulation.
    drawer = _start_report_drawer() if report else None
    try:
        _run(scenario, config, set_, seed, steps, enterprises, out, check, force, drawer)
    finally:
        if drawer is not None:
            if drawer.poll() is None:
                drawer.kill()
                drawer.wait()
            drawer.scratch.cleanup()


def _start_report_drawer():
    """`python -m aiecosim.views.report` (see `aiecosim.views.report.serve`), reading jobs on
    its input: a header once the config is known, the tables (in its `scratch` folder) once
    the simulation ends, the folder once the run is written."""
    import subprocess
    import tempfile

    # Its messages go to a file, read if it fails: a pipe read only at the end would stall a
    # drawer that writes more than the pipe holds (64 KiB of warnings).
    messages = tempfile.TemporaryFile(mode="w+")
    environ = dict(os.environ)
    one_blas_thread(environ)  # also where `run` is called in-process, not as the command
    drawer = subprocess.Popen(
        [sys.executable, "-m", "aiecosim.views.report"],
        env=environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=messages,
        text=True,
    )
    drawer.messages = messages
    drawer.scratch = tempfile.TemporaryDirectory(prefix="aiecosim-report-")
    return drawer


def _hand_over_tables(drawer, model, firms) -> None:
    """The run's `model` and `firms` tables to the drawer, as Arrow files in its scratch
    folder, so that it draws the report while this process summarises and writes the run."""
    scratch = Path(drawer.scratch.name)

    def with_ms_dates(table):  # what the drawer reads without pyarrow.compute
        ms = table["date"].to_numpy(dtype="datetime64[ms]").astype("int64")
        return table.assign(date=ms)

    try:  # uncompressed: a file read once, next door, in a few ms (lz4 doubled the reading)
        with_ms_dates(model).to_feather(scratch / "model.arrow", compression="uncompressed")
        with_ms_dates(firms).to_feather(scratch / "firms.arrow", compression="uncompressed")
    except OSError:  # no room for them: the drawer reads the run's folder once it is written
        return
    _send(drawer, {"tables": str(scratch)})


def _run(scenario, config, set_, seed, steps, enterprises, out, check, force, drawer) -> None:
    from aiecosim.outputs import (
        NumericalError,
        OutputFolderError,
        earlier_run,
        fresh_folder,
        run_model,
        write_run,
    )

    if seed < 0:
        fail(f"--seed {seed}: must be 0 or more")
    cfg = resolve_config(scenario, config, set_, steps, enterprises)
    if out is None:
        out_dir = fresh_folder(Path("runs") / f"{cfg.scenario.name}-{seed}")
    else:
        out_dir = out
        try:
            previous = earlier_run(out_dir)
        except OutputFolderError as err:
            fail(f"--out {err}")
        if previous is not None and not force:
            fail(
                f"--out {str(out_dir)!r} holds an earlier run (scenario "
                f"{previous.get('scenario')!r}, seed {previous.get('seed')}); add --force to "
                "replace it, or choose another folder"
            )
    title = f"aiecosim: {cfg.scenario.name}, seed {seed}"
    if drawer is not None:  # the drawer draws the figure's fixed parts while the model runs
        first = cfg.run.start_date.strftime("%Y-%m")
        _send(drawer, {"title": title, "first": first, "months": cfg.run.steps})
    if _the_command:  # a process that runs the model once and ends (not `app` in-process)
        # The collector off: it would make ~120 passes over a baseline run's young objects
        # (25-50 ms) to free ~2,000 of them; off, some 6,000 objects of garbage (about 50 a
        # month, none of them arrays) are left to the process's end.
        gc.disable()
    with _progress(f"simulating {cfg.scenario.name} ({cfg.run.steps} months)...") as status:
        on_step = None
        if status is not None:

            def on_step(k: int, n: int) -> None:
                status.update(f"simulating month {k}/{n}")

        try:
            result = run_model(
                cfg,
                seed,
                on_step=on_step,
                check=check,
                on_tables=None if drawer is None else partial(_hand_over_tables, drawer),
            )
        except BooksError as err:
            err_console.print(
                f"[bold red]books do not balance:[/] {escape(str(err))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except NumericalError as err:
            err_console.print(
                f"[bold red]numerical failure:[/] {escape(str(err))}; nothing was written",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
    try:
        write_run(result, out_dir, replace=force)
    except OutputFolderError as err:  # the folder changed while the run was simulated
        fail(f"--out {err}")
    except OSError as err:
        fail(f"cannot write to {str(out_dir)!r}: {err.strerror or err}")
    if drawer is not None:
        _send(drawer, {"folder": str(out_dir)}, last=True)
    print_summary(result.summary)  # while the report is drawn
    if drawer is not None and drawer.wait() != 0:
        drawer.messages.seek(0)
        why = (drawer.messages.read().strip().splitlines() or ["no message"])[-1]
        err_console.print(
            f"[bold red]report.png could not be drawn:[/] {escape(why)}; the tables are written",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(
        f"wrote {out_dir}/ (model.parquet, firms.parquet, strategies.parquet, run.json, "
        "provenance.json"
        f"{', report.png' if drawer is not None else ''})"
    )


def _progress(message: str):
    """rich's spinner with `message` where a person watches (a terminal); elsewhere (a pipe, a
    file, CI) nothing, as rich would show nothing there either, and rich is not imported
    before the run has its tables."""
    from contextlib import nullcontext

    if not sys.stdout.isatty():
        return nullcontext()
    return console.status(message)


def _send(drawer, job: dict, last: bool = False) -> None:
    """One job line to the report drawer (the `last` one closes its input). A drawer that has
    died is reported once the run is written (by its exit status), not here."""
    import json

    try:
        drawer.stdin.write(json.dumps(job) + "\n")
        drawer.stdin.flush()
    except BrokenPipeError:
        pass
    if last:
        try:
            drawer.stdin.close()
        except BrokenPipeError:  # what was buffered for a dead drawer is dropped
            pass


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (TOML).")],
    out: Annotated[Path | None, typer.Option(help="Results folder [sweeps/<name>].")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [all cores].")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a Dask scheduler: run on that cluster.")
    ] = None,
    max_runs: Annotated[
        int, typer.Option(help="Refuse a spec of more runs (points x replicates) than this.")
    ] = 1_000_000,
    max_gb: Annotated[
        float, typer.Option(help="Refuse a spec whose results would take more GB than this.")
    ] = 50.0,
) -> None:
    """Run an experiment: every point and replicate, resuming where a previous run stopped.
    Exit status 1 when a run failed (its traceback is in <out>/failed/)."""

    from aiecosim import __version__
    from aiecosim.experiments.design import integer_levers
    from aiecosim.experiments.runner import BackendError, dask_backend, local_backend, run_sweep
    from aiecosim.experiments.spec import check_size, load_spec
    from aiecosim.experiments.store import StoreError
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    try:
        parsed = load_spec(spec)
    except ConfigError as err:
        fail(str(err))
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    if max_runs < 1 or not max_gb > 0:
        fail(f"--max-runs {max_runs} / --max-gb {max_gb}: must be positive")
    try:  # before anything is allocated or written
        check_size(parsed, max_runs, max_gb, source=str(spec))
    except ConfigError as err:
        fail(str(err))
    out_dir = out if out is not None else Path("sweeps") / parsed.experiment.name
    backend = (
        dask_backend(scheduler) if scheduler else local_backend(workers or os.cpu_count() or 1)
    )
    if parsed.experiment.design != "grid" and (rounded := integer_levers(parsed)):
        console.print(
            f"rounded to whole numbers (integer config fields): {', '.join(rounded)}",
            highlight=False,
        )
    failures = 0
    # started on the first result, so a refused start prints its one line and nothing else
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed: {task.fields[failed]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console.get(),
    )
    task = bar.add_task(parsed.experiment.name, total=None, failed=0)

    def progress(result, done, total):
        nonlocal failures
        if not bar.live.is_started:
            bar.start()
        failures += not result["ok"]
        bar.update(task, completed=done, total=total, failed=failures)

    def stop_bar():
        if bar.live.is_started:
            bar.stop()

    try:
        report = run_sweep(
            parsed,
            out_dir,
            backend,
            progress,
            package_version=__version__,
            max_runs=max_runs,
            max_gb=max_gb,
        )
    except (StoreError, BackendError, ConfigError) as err:
        stop_bar()
        fail(str(err))
    except OSError as err:
        stop_bar()
        # a full disk or an unwritable folder: every file already there stays readable
        fail(
            f"cannot write to {str(out_dir)!r}: {err.strerror or err}; the runs already "
            "stored are intact, and the same command resumes once it can write"
        )
    stop_bar()
    if report.took_over_lock:
        console.print(
            f"took over the lock of a sweep that no longer runs "
            f"(pid {report.took_over_lock.get('pid')})",
            highlight=False,
        )
    if report.redone:
        console.print(
            f"{report.redone} damaged run(s) (checksum mismatch or unreadable) were run again",
            highlight=False,
        )
    console.print(
        f"{report.total} runs: {report.skipped} already done, {report.ran} ran, "
        f"{report.failed} failed, in {report.seconds:.1f} s -> {out_dir}"
    )
    if report.failed:
        err_console.print(
            f"[bold red]failed:[/] {report.failed} of {report.total} runs failed; their "
            f"tracebacks are in {escape(str(out_dir / 'failed'))}/ (one JSON file a run); the "
            f"{report.total - report.failed} others are stored; run the same command to retry "
            "the failed ones",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def analyze(
    results: Annotated[Path, typer.Argument(help="Results folder of a sweep.")],
    out: Annotated[Path | None, typer.Option(help="Report folder [<results>/report].")] = None,
    x: Annotated[str | None, typer.Option(help="Parameter on the heatmaps' x axis.")] = None,
    y: Annotated[str | None, typer.Option(help="Parameter on the heatmaps' y axis.")] = None,
) -> None:
    """Which strategies survive, win share or die, under which conditions; which levers matter.
    Exit status 1 when the report is incomplete (runs failed: their errors are in
    <results>/failed/), 2 when there is nothing to analyse."""
    from aiecosim.experiments.analysis import analyze as run_analysis
    from aiecosim.experiments.analysis import open_sweep, prepare_report_dir, write_report
    from aiecosim.experiments.store import StoreError

    report_dir = out if out is not None else results / "report"
    try:
        open_sweep(results)  # a results folder with its spec and design, before any writing
        prepare_report_dir(report_dir)  # writable, before the work
        result, spec = run_analysis(results, x, y)
        path = write_report(result, spec, report_dir, int(result.survival["runs"].sum()))
    except StoreError as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot write the report to {str(report_dir)!r}: {err.strerror or err}")
    if result.skipped:
        err_console.print(
            f"[bold yellow]warning:[/] {len(result.skipped)} damaged run(s) left out of the "
            "analysis "
            + escape(
                f"({', '.join(sorted(result.skipped)[:5])}"
                f"{', ...' if len(result.skipped) > 5 else ''}: "
                f"{next(iter(result.skipped.values()))})"
            )
            + "; run the sweep again to redo them",
            highlight=False,
            soft_wrap=True,
        )
    table = Table(show_header=True, header_style="bold", title="survival over all runs")
    for col in (
        "archetype",
        "P(survive)",
        "95% interval",
        "firms surviving",
        "P(win: revenue)",
        "P(win: profit)",
        "mean profit (bn USD)",
        "mean final share",
    ):
        table.add_column(col, justify="right" if col != "archetype" else "left")
    for _, row in result.headline.iterrows():
        table.add_row(
            row["archetype"].replace("_", " "),
            f"{row['survival_probability']:.2f}",
            f"{row['ci_low']:.2f}-{row['ci_high']:.2f}",
            f"{row['firm_survival_share']:.0%}",
            f"{row['win_probability']:.2f}",
            f"{row['win_by_profit_probability']:.2f}",
            f"{row['mean_cumulative_profit_usd'] / 1e9:,.0f}",
            f"{row['mean_final_share']:.1%}",
        )
    console.print(table)
    if not result.discovery.empty:
        for _, row in result.discovery.iterrows():
            console.print(
                f"{row['archetype'].replace('_', ' ')} wins most where {row['box']} "
                f"(density {row['density']:.0%}, coverage {row['coverage']:.0%})"
            )
    console.print(f"report: {path}")
    if result.incomplete:
        err_console.print(
            f"[bold red]incomplete:[/] {escape(result.incomplete)}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1)


@app.command()
def validate(
    seeds: Annotated[int, typer.Option(help="Number of seeds (1..N) to run.")] = 10,
    scenario: Annotated[str, typer.Option(help="Scenario to hold against the facts.")] = "baseline",
    config: ConfigFile = None,
    overrides: Overrides = None,
    fact: Annotated[
        list[str] | None,
        typer.Option("--fact", help="Judge only this fact (repeatable) [all]."),
    ] = None,
    enterprises: Cohorts = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [all cores].")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [validation/<scenario>].")] = None,
) -> None:
    """Run a scenario over N seeds and judge it against the sources' stylised facts: held-out
    checks and calibration targets apart. Writes validation.md, facts.csv, runs.csv and
    provenance.json."""

    from aiecosim import provenance
    from aiecosim.experiments.validation import (
        CALIBRATION,
        HELD_OUT,
        MIN_SEEDS,
        markdown,
        pass_counts,
        select_facts,
        verdict,
    )
    from aiecosim.experiments.validation import validate as run_validation
    from aiecosim.outputs import atomic_write

    if seeds < 1:
        fail(f"--seeds {seeds}: must be at least 1")
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    try:
        select_facts(fact)
    except ConfigError as err:
        fail(str(err))
    cfg = resolve_config(scenario, config, overrides, None, enterprises)
    out_dir = out if out is not None else Path("validation") / cfg.scenario.name
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {str(out_dir)!r} exists and is not a folder")
    seed_list = list(range(1, seeds + 1))
    with _Progress(f"{scenario}: runs") as progress:
        table, per_run = run_validation(
            seed_list,
            config=cfg,
            workers=min(seeds, workers or os.cpu_count() or 1),
            facts=fact,
            progress=progress,
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        provenance.write(out_dir, "validate", cfg, seeds=seed_list, facts=list(table["fact"]))
        atomic_write(out_dir / "facts.csv", lambda p: table.to_csv(p, index=False))
        atomic_write(out_dir / "runs.csv", lambda p: per_run.to_csv(p, index=False))
        text = markdown(table, seed_list, scenario, provenance.version())
        atomic_write(out_dir / "validation.md", lambda p: p.write_text(text))
    except OSError as err:
        fail(f"cannot write to {str(out_dir)!r}: {err.strerror or err}")
    counts = pass_counts(table)
    for role, title in ((HELD_OUT, "held-out checks"), (CALIBRATION, "calibration targets")):
        rows = table[table["role"] == role]
        if rows.empty:
            continue
        passed, total = counts[role]
        view = Table(
            show_header=True,
            header_style="bold",
            title=f"{scenario}: {title} ({passed} of {total} pass)",
        )
        for column in ("fact", "band", "unit", "mean [90% interval]", "verdict"):
            view.add_column(column, justify="right" if column.startswith("mean") else "left")
        for r in rows.itertuples():
            mark = "green" if r.passed and r.firm else "yellow" if r.passed else "red"
            view.add_row(
                r.fact,
                r.band,
                r.unit,
                f"{_short(r.mean)} [{_short(r.ci_low)}, {_short(r.ci_high)}]",
                f"[{mark}]{'pass*' if r.passed and not r.firm else verdict(r)}[/]",
            )
        console.print(view)
    if (table["passed"] & ~table["firm"]).any():
        console.print("* the mean is in the band but its 90% interval crosses the band's edge")
    summary = "; ".join(f"{p} of {t} {role}s pass" for role, (p, t) in counts.items())
    if seeds < MIN_SEEDS:
        summary += f" (fewer than {MIN_SEEDS} seeds: provisional)"
    console.print(f"{summary}; wrote {out_dir}/ (validation.md, facts.csv, runs.csv)")


@app.command()
def backtest(
    seeds: Annotated[int, typer.Option(help="Number of seeds (1..N) to run.")] = 10,
    scenario: Annotated[
        str, typer.Option(help="The start state (a scenario of January 2023).")
    ] = "history-2023",
    config: ConfigFile = None,
    overrides: Overrides = None,
    observed: Annotated[
        Path | None,
        typer.Option(help="CSV of observed points [the shipped history 2023-2025]."),
    ] = None,
    enterprises: Cohorts = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [all cores].")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("backtest"),
) -> None:
    """Start the world in January 2023, run it to December 2025 over N seeds and compare it with
    what happened: lab revenue, token and GPU prices, the fleet, adoption, capex, data-centre
    electricity and funding. Writes backtest.md, backtest.png, points.csv, series.csv,
    paths.parquet and provenance.json."""

    from aiecosim import provenance
    from aiecosim.experiments import backtest as bt
    from aiecosim.outputs import atomic_write

    if seeds < 1:
        fail(f"--seeds {seeds}: must be at least 1")
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    try:
        points_observed = bt.load_observed(observed)
    except ConfigError as err:
        fail(str(err))
    cfg = resolve_config(scenario, config, overrides, None, enterprises)
    if out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a folder")
    seed_list = list(range(1, seeds + 1))
    n_workers = min(seeds, workers or os.cpu_count() or 1)
    with _Progress(f"backtest {scenario}: runs") as progress:
        points, series, paths = bt.backtest(seed_list, cfg, points_observed, n_workers, progress)
    try:
        out.mkdir(parents=True, exist_ok=True)
        provenance.write(
            out,
            "backtest",
            cfg,
            seeds=seed_list,
            observed=str(observed) if observed is not None else "shipped",
        )
        atomic_write(out / "points.csv", lambda p: points.to_csv(p, index=False))
        atomic_write(out / "series.csv", lambda p: series.to_csv(p, index=False))
        atomic_write(out / "paths.parquet", lambda p: paths.to_parquet(p, index=False))
        text = bt.markdown(points, series, seed_list, provenance.version())
        atomic_write(out / "backtest.md", lambda p: p.write_text(text))
        atomic_write(out / "backtest.png", lambda p: bt.plot(points, series, paths, p))
    except OSError as err:
        fail(f"cannot write to {str(out)!r}: {err.strerror or err}")
    view = Table(
        show_header=True,
        header_style="bold",
        title=f"Backtest {scenario}, {seeds} seeds: simulated against observed",
    )
    for column in ("series", "points", "typical error", "bias", "verdict"):
        view.add_column(column, justify="left" if column in ("series", "verdict") else "right")
    colours = {"tracks": "green", "rough": "yellow", "misses": "red"}
    for r in series.itertuples():
        view.add_row(
            r.label,
            str(r.points),
            f"x{r.typical_factor:.2f}",
            f"x{r.bias_factor:.2f}",
            f"[{colours.get(r.verdict, 'white')}]{r.verdict}[/]",
        )
    console.print(view)
    tracks = int((series["verdict"] == "tracks").sum())
    console.print(
        f"{tracks} of {len(series)} series track history; wrote {out}/ "
        "(backtest.md, backtest.png, points.csv, series.csv, paths.parquet)"
    )


@app.command()
def tournament(
    strategies: Annotated[
        Path | None,
        typer.Option(help="TOML file defining strategy variants ([strategies.NAME] base=...)."),
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated strategies to play [all defined].")
    ] = None,
    scenario: Annotated[
        str, typer.Option(help="World the pairs play in (see `aiecosim scenarios`).")
    ] = "baseline",
    overrides: Overrides = None,
    seeds: Annotated[int, typer.Option(help="Replicate runs per pair.")] = 20,
    seed: Annotated[
        int, typer.Option(help="Tournament seed (replicate seeds derive from it).")
    ] = 0,
    residents: Annotated[int, typer.Option(help="Incumbents of the resident strategy.")] = 5,
    hold_ratio: Annotated[
        float,
        typer.Option(
            help="Takes hold: revenue (last 12 months) at least this times the average resident's."
        ),
    ] = 1.0,
    steps: Annotated[int | None, typer.Option(help="Months per run.")] = None,
    enterprises: Annotated[int, typer.Option(help="Simulated enterprise cohorts.")] = 2000,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [all cores].")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder [tournaments/<scenario>].")
    ] = None,
) -> None:
    """Pairwise invasion table: can one small newcomer with strategy A take hold in a market
    dominated by strategy B? A probability over seeds with 95% intervals, for every pair."""
    from dataclasses import asdict

    from aiecosim import provenance
    from aiecosim.experiments.tournament import Tournament, plot_invasion, strategies_in
    from aiecosim.experiments.tournament import play as play_tournament
    from aiecosim.outputs import atomic_write

    if seeds < 1:
        fail(f"--seeds {seeds}: must be at least 1")
    if residents < 1:
        fail(f"--residents {residents}: must be at least 1")
    if not hold_ratio > 0:
        fail(f"--hold-ratio {hold_ratio}: must be above 0")
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    if strategies is not None and not strategies.is_file():
        fail(f"--strategies {str(strategies)!r}: no such file")
    sets = list(overrides or []) + [f"run.enterprises={enterprises}"]
    if steps is not None:
        sets.append(f"run.steps={steps}")
    try:
        known = strategies_in(scenario, strategies, sets)
        names = known
        if only is not None:
            names = [n.strip() for n in only.split(",") if n.strip()]
            for name in names:
                if name not in known:
                    raise ConfigError(
                        f"--only: unknown strategy {name!r}; allowed: {', '.join(known)}"
                    )
            if not names:
                raise ConfigError("--only: give at least one strategy name")
        spec = Tournament(
            tuple(dict.fromkeys(names)),
            scenario,
            None if strategies is None else str(strategies),
            tuple(sets),
            residents,
            seeds,
            seed,
            hold_ratio,
        )
        spec.config(names[0], names[0])  # the pair worlds validate too
    except ConfigError as err:
        fail(str(err))
    out_dir = out if out is not None else Path("tournaments") / scenario
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {str(out_dir)!r} exists and is not a folder")
    pairs = len(spec.strategies) ** 2
    n_workers = min(pairs * seeds, workers or os.cpu_count() or 1)
    with _Progress(f"{pairs} pairs x {seeds} seeds, {n_workers} workers") as progress:
        table, runs = play_tournament(spec, n_workers, progress)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # the world the pairs play in (each pair then sets its own residents and newcomer)
        from aiecosim.config import load_config

        world = load_config(spec.scenario, spec.config_file, spec.overrides)
        provenance.write(out_dir, "tournament", world, spec=asdict(spec))
        atomic_write(out_dir / "invasion.csv", lambda p: table.to_csv(p, index=False))
        atomic_write(out_dir / "runs.csv", lambda p: runs.to_csv(p, index=False))
        atomic_write(
            out_dir / "invasion.png",
            lambda p: plot_invasion(
                table,
                p,
                f"Invasion: P(take hold), {scenario}, {seeds} seeds, {residents} residents",
            ),
        )
    except OSError as err:
        fail(f"cannot write to {str(out_dir)!r}: {err.strerror or err}")
    view = Table(
        show_header=True,
        header_style="bold",
        title=f"P(newcomer takes hold) [95% interval], {scenario}: rows invade columns",
    )
    view.add_column("invader \\ resident")
    for b in spec.strategies:
        view.add_column(b.replace("_", " "), justify="center")
    cells = table.set_index(["invader", "resident"])
    for a in spec.strategies:
        row = [a.replace("_", " ")]
        for b in spec.strategies:
            r = cells.loc[(a, b)]
            row.append(f"{r.p_take_hold:.2f} [{r.p_take_hold_lo:.2f}-{r.p_take_hold_hi:.2f}]")
        view.add_row(*row)
    console.print(view)
    console.print(f"wrote {out_dir / 'invasion.csv'}, runs.csv and invasion.png")


@app.command()
def statics(
    docs: Annotated[
        Path | None,
        typer.Option(
            help="Markdown file whose table, between the <!-- statics:begin --> and "
            "<!-- statics:end --> lines, is rewritten [docs/model.md of the source checkout]."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing: print the difference and exit 1 if the file's table is not "
            "what the runs give.",
        ),
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Local worker processes [all cores].")] = None,
) -> None:
    """Comparative statics: run every scenario against the baseline on the same 12 seeds
    (2,000 enterprises), a paired one-sided Wilcoxon test per expectation, and rewrite the
    table in docs/model.md."""

    from aiecosim.experiments import statics as cs
    from aiecosim.outputs import atomic_write

    path = docs if docs is not None else cs.DOCS
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    try:
        text = path.read_text(encoding="utf-8")
        cs.committed_block(text)
    except (OSError, UnicodeDecodeError) as err:
        fail(f"--docs {str(path)!r}: cannot read it ({getattr(err, 'strerror', None) or err})")
    except ValueError as err:
        fail(f"--docs {str(path)!r}: {err}")
    runs = len(cs.SEEDS) * (1 + len({e.scenario for e in cs.EXPECTATIONS}))
    with _Progress("statics: runs") as progress:
        table, _ = cs.comparative_statics(
            cs.SEEDS,
            cs.OVERRIDES,
            workers=min(runs, workers or os.cpu_count() or 1),
            progress=progress,
        )
    new_text = cs.with_block(text, cs.docs_block(table))
    shown = f"{int(table['shown'].sum())} of {len(table)} expectations shown"
    if check:
        if new_text == text:
            console.print(
                f"the statics table in {escape(str(path))} is up to date ({shown})", soft_wrap=True
            )
            return
        typer.echo(cs.diff(text, new_text, str(path)), nl=False)
        err_console.print(
            f"the statics table in {escape(str(path))} is not what the runs give (diff above); "
            "`aiecosim statics` rewrites it",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if new_text != text:
        try:
            atomic_write(path, lambda p: p.write_text(new_text, encoding="utf-8"))
        except OSError as err:
            fail(f"cannot write to {str(path)!r}: {err.strerror or err}")
    console.print(
        f"{'rewrote' if new_text != text else 'unchanged:'} the statics table in "
        f"{escape(str(path))} ({shown})",
        soft_wrap=True,
    )


def _short(x: float) -> str:
    from aiecosim.experiments.validation import fmt

    return fmt(float(x))


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Smaller sizes, fewer repeats.")] = False,
    out: Annotated[Path, typer.Option(help="JSON file of the results.")] = Path("bench.json"),
    workers: Annotated[
        str,
        typer.Option(help="Worker counts for sweep throughput, comma-separated, e.g. 1,2,4,8,16."),
    ] = "1,2",
) -> None:
    """Measure the model's speed: decision step, full runs, set-up, memory, sweep throughput."""
    from aiecosim.experiments.bench import dumps, run_benchmarks

    try:
        counts = tuple(int(w) for w in workers.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        fail(f"--workers {workers!r}: expected worker counts of at least 1, e.g. 1,2,4,8,16")
    results = run_benchmarks(quick, progress=lambda msg: console.print(msg), workers=counts)
    out.write_text(dumps(results))
    table = Table(show_header=True, header_style="bold", title="aiecosim bench")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for d in results["decision"]:
        table.add_row(
            f"decision step, {d['enterprises']:,} enterprises, {d['edges']:,} edges",
            f"{d['ms_per_step']:.2f} ms",
        )
    d = results["decision_1m_edges"]
    table.add_row(
        f"decision step, {d['enterprises']:,} enterprises, {d['edges']:,} edges",
        f"{d['ms_per_step']:.2f} ms",
    )
    p = results["per_agent_same_decision"]
    table.add_row(
        f"the same decision as a per-agent Mesa model, {p['enterprises']:,} enterprises, "
        f"{p['edges']:,} edges",
        f"{p['per_agent_ms_per_step']:.1f} ms "
        f"(the arrays {p['array_speedup_same_decision']:.0f}x faster)",
    )
    q = results["prices"]
    table.add_row(
        f"price solve, {q['offers']} offers, {q['sample_rows']} rows, {q['iterations']} iterations",
        f"{q['solve_ms']:.2f} ms (+ {q['sample_ms']:.2f} ms sampling)",
    )
    for r in results["full_run"]:
        table.add_row(
            f"full run (120 months), {r['enterprises']:,} enterprises", f"{r['seconds']:.2f} s"
        )
    table.add_row("time exponent in enterprises", f"{results['time_exponent']:.2f}")
    c = results["cli"]
    table.add_row("aiecosim --help", f"{c['help_seconds']:.2f} s")
    table.add_row("import floor (import aiecosim.model)", f"{c['import_floor_seconds']:.2f} s")
    table.add_row(
        "aiecosim run, end to end with report",
        f"{c['run_seconds']:.2f} s (floor + {c['run_over_floor_seconds']:.2f} s)",
    )
    table.add_row(
        "aiecosim run --no-report",
        f"{c['run_no_report_seconds']:.2f} s (floor + {c['run_no_report_over_floor_seconds']:.2f} s)",
    )
    for n, seconds in results["setup_seconds"].items():
        table.add_row(f"model set-up, {int(n):,} enterprises", f"{seconds:.2f} s")
    for n, mib in results["peak_memory_mib"].items():
        table.add_row(f"peak memory, {int(n):,} enterprises", f"{mib:.0f} MiB")
    s = results["sweep"]
    for point in s["curve"]:
        w = point["workers"]
        table.add_row(
            f"sweep, {w} worker{'s' if w > 1 else ''}",
            f"{point['runs_per_second']:.2f} runs/s ({point['parallel_efficiency']:.0%} efficient)",
        )
    table.add_row("parallel efficiency at 2 workers", f"{s['parallel_efficiency_2']:.0%}")
    table.add_row(
        "sweep start-up (2 workers, once per sweep)", f"{s['pool_startup_seconds_2']:.1f} s"
    )
    console.print(table)
    console.print(f"machine: {results['machine']}; wrote {out}")


@app.command()
def viz(
    scenario: Annotated[
        str, typer.Option(help="Scenario the app opens with (see `aiecosim scenarios`).")
    ] = "baseline",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Random seed the app opens with.")] = 0,
    enterprises: Annotated[
        int, typer.Option(help="Simulated enterprise cohorts the app opens with.")
    ] = 5000,
    screenshot: Annotated[
        Path | None,
        typer.Option(
            help="Instead of serving: start the app on a free localhost port, step it --months "
            "months in headless Chromium, save a PNG screenshot of the page here, and stop. "
            "Needs Chromium (on the PATH, or $AIECOSIM_CHROMIUM) and playwright.",
        ),
    ] = None,
    months: Annotated[
        int, typer.Option(help="Months simulated before the --screenshot is taken.")
    ] = 48,
) -> None:
    """Serve the browser visualiser: pick a scenario, move the levers, step or play month by
    month (a Mesa and solara app; open the address it prints)."""
    import errno
    import importlib.util
    import socket
    import threading
    import time

    from aiecosim.config import load_config

    if seed < 0:
        fail(f"--seed {seed}: must be 0 or more")
    try:
        cfg = load_config(scenario, overrides=[f"run.enterprises={enterprises}"])
    except ConfigError as err:
        fail(str(err))
    chromium = None
    if screenshot is not None:  # refuse bad input before anything starts
        import shutil

        if screenshot.is_dir():
            fail(f"--screenshot {screenshot}: is a folder; give a file name ending in .png")
        if screenshot.suffix.lower() != ".png":
            fail(f"--screenshot {screenshot}: the file name must end in .png")
        if not screenshot.parent.is_dir():
            what = "is not a folder" if screenshot.parent.exists() else "does not exist"
            fail(f"--screenshot {screenshot}: {screenshot.parent} {what}")
        existed = screenshot.exists()
        try:
            with open(screenshot, "ab"):
                pass
        except OSError as err:
            fail(f"--screenshot {screenshot}: cannot write there ({err.strerror or err})")
        if not existed:
            screenshot.unlink(missing_ok=True)
        if not 1 <= months <= cfg.run.steps:
            fail(f"--months {months}: must be in 1..{cfg.run.steps} (the run's length)")
        named = os.environ.get("AIECOSIM_CHROMIUM")
        names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        chromium = named or next(filter(None, map(shutil.which, names)), None)
        if chromium is None:
            fail(
                "--screenshot needs Chromium and none was found: install it (apt-get install "
                "chromium) or set AIECOSIM_CHROMIUM to its path"
            )
        if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
            fail(f"AIECOSIM_CHROMIUM={chromium}: not an executable file")
        if importlib.util.find_spec("playwright") is None:
            fail("--screenshot needs playwright (a dev dependency: uv sync --group dev)")
        host, port = "127.0.0.1", 0
    if not 0 <= port <= 65535:
        fail(f"--port {port}: must be in 0..65535")
    # Bind before the slow imports, so a taken port fails at once with one line.
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use; pick another with --port (0: any)")
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host
    url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"

    # The app reads these when a browser opens it; solara reads SOLARA_APP when it loads.
    os.environ["AIECOSIM_VIZ_SCENARIO"] = scenario
    os.environ["AIECOSIM_VIZ_SEED"] = str(seed)
    os.environ["AIECOSIM_VIZ_ENTERPRISES"] = str(enterprises)
    os.environ["SOLARA_APP"] = "aiecosim.views.app"
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    console.print(f"starting the visualiser ({scenario}, seed {seed}) ...")
    import warnings

    import uvicorn
    from aiecosim.views.app import stop_all_models  # loads the app: a broken one fails here
    from aiecosim.views.assets import ensure_browser_assets

    missing = ensure_browser_assets(log=lambda msg: console.print(msg, highlight=False))
    if missing:
        console.print(
            f"[yellow]warning:[/] {', '.join(missing)} not cached: the page needs to reach "
            "solara's CDN (cdn.jsdelivr.net) once to load them",
            highlight=False,
        )

    server = uvicorn.Server(
        uvicorn.Config(
            "solara.server.starlette:app",
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,  # open browser tabs must not hold up Ctrl+C
        )
    )

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            console.print(f"aiecosim viz: open {url} (Ctrl+C stops the server)", highlight=False)

    # solara's note on cookies over plain http is for deployments behind a proxy, not for this.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    if screenshot is not None:
        from aiecosim.views.app import ScreenshotError, screenshot_app

        console.print(
            f"aiecosim viz: stepping {months} months at {url} in Chromium ...", highlight=False
        )
        try:
            screenshot_app(server, sock, url, screenshot, months, chromium)
        except ScreenshotError as err:
            err_console.print(
                f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
        console.print(f"aiecosim viz: wrote {screenshot}", highlight=False, soft_wrap=True)
        return

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl+C, then raises it again
        pass
    finally:
        stop_all_models()  # models still playing would keep the process alive
    if not server.started:
        fail("the server stopped before it could start (see the messages above)")
    console.print("aiecosim viz: stopped")


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


def one_blas_thread(environ=os.environ) -> None:
    """One BLAS thread in `environ` (this process's, by default), unless the user chose a
    number: the model's matrices are small (offers x sample rows), so more threads only add
    work, and OpenBLAS's idle threads spin for a while once a process loads it (numpy and
    scipy each bring one), taking 0.1-0.3 s of CPU from whatever else runs beside it, such as
    the report drawer. Read when numpy loads: set before it does."""
    environ.setdefault("OPENBLAS_NUM_THREADS", "1")


_the_command = False  # set by `main`: this process is the `aiecosim` command, not a caller of `app`


def main() -> None:  # pragma: no cover - the `aiecosim` command, `python -m aiecosim.views.cli`
    global _the_command
    _the_command = True
    one_blas_thread()  # for this process and the ones it starts (drawer, sweep workers)
    try:
        app()
    except SystemExit as done:
        exit_now(done.code)
    finally:
        # Where the interpreter's own exit runs after all (`exit_now` declined, or an error):
        # spare it its last garbage collections, a pass over every object the libraries and a
        # run made (0.2-0.3 s); the memory goes back to the system with the process. (Not in
        # `app`, which tests call in-process.)
        gc.freeze()


def exit_now(code) -> None:
    """End the command with exit status `code` as the interpreter would, without its
    teardown: output flushed, the exit handlers run (temporary folders removed, logging shut
    down, each library's own), then the process ends, leaving its objects to the system rather
    than freeing them one by one (30 ms after a run, 50 against 20). Only from a process with
    no other thread (the interpreter would wait for them first) and an integer status;
    otherwise, or if the output cannot be flushed, the interpreter's own exit."""
    import atexit
    import threading

    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if threading.active_count() > 1 or run_handlers is None:
        raise SystemExit(code)
    if code is None:
        code = 0
    if not isinstance(code, int):
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let the interpreter say so
        raise SystemExit(code) from None
    run_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 120  # the interpreter's status when it cannot flush at exit
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()

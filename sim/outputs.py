"""Running one simulation and writing what it produced.

`run_model` drives an `AIEcosystemModel` to the end and returns a `RunResult`: the monthly model
table, the firm-by-month table and a run summary (who survived, the winner, exits). `write_run`
puts them in a folder as model.parquet, firms.parquet, strategies.parquet (the strategy mix
by month), run.json, provenance.json (version, source hash, date, config) and report.png,
each written to a
temporary name and renamed, so an interrupted write never leaves half a file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.config import SimConfig


@dataclass
class RunResult:
    model: pd.DataFrame
    firms: pd.DataFrame
    summary: dict
    config: SimConfig = field(repr=False)
    strategies: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def package_version() -> str:
    from aiecosim import __version__

    return __version__


def run_model(
    config: SimConfig,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
    check: bool = False,
    on_tables: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> RunResult:
    """Simulate `config` with `seed`; `on_step(k, n)` after each month, `on_tables(model,
    firms)` as soon as the model and firm tables exist (before the summary and the strategy
    table: `aiecosim run` hands them to its report drawer there)."""
    from aiecosim.model import AIEcosystemModel

    t0 = time.perf_counter()
    model = AIEcosystemModel(config, rng=seed, check=check)
    steps = config.run.steps
    for k in range(steps):
        model.step()
        if on_step is not None:
            on_step(k + 1, steps)
    model_df = model.model_table()
    firms_df = model.firm_table()
    check_finite(model_df, "model table")
    check_finite(firms_df, "firm table")
    if on_tables is not None:
        on_tables(model_df, firms_df)
    summary = summarise(model, model_df, firms_df)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 3)
    summary["setup_seconds"] = round(model.setup_seconds, 3)
    summary["seed"] = seed
    return RunResult(model_df, firms_df, summary, config, model.strategy_table(firms_df))


def freeze_imports() -> None:
    """For a process that only runs the model (a sweep worker):
    load the model, then hand every object made so far (the libraries' modules, classes and
    functions: about 100,000) to the garbage collector's permanent generation, so that its
    collections walk only what runs make. A baseline run spent 90 ms collecting, 60 ms of it
    on full passes over the libraries' objects, and 25 ms once they were frozen; six runs in
    a sweep worker 140 ms, and 25 ms. Outputs do not change. Not for a process that goes on
    to other work (tests, notebooks): frozen objects are never freed, garbage among them."""
    import gc

    import aiecosim.model  # noqa: F401 (what a run loads first)

    gc.freeze()


class NumericalError(ArithmeticError):
    """A run whose numbers stopped being numbers (inf, or NaN where a value must exist)."""


# Columns that always have a value; the others may be NaN when undefined (no open model yet,
# no tokens sold), which outputs.md documents.
ALWAYS_DEFINED = (
    "cash_usd",
    "revenue_usd",
    "costs_usd",
    "installed_gpus_h100e",
    "compute_price_usd_per_gpu_hour",
    "energy_price_usd_per_mwh",
    "adoption_rate",
    "funding_usd",
    "investor_capital_usd",
    "dc_energy_twh_per_year",
)


def check_finite(table: pd.DataFrame, name: str) -> None:
    """Raise NumericalError at the first infinite value, or NaN in an always-defined column, so
    a run that overflowed is reported (and a sweep records it as failed) instead of being
    written as NaN-filled tables."""
    numeric = table.select_dtypes("number")
    values = numeric.to_numpy(dtype=float)
    bad = np.isinf(values)
    for j, column in enumerate(numeric.columns):
        if column in ALWAYS_DEFINED:
            bad[:, j] |= np.isnan(values[:, j])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        month = table["month"].iloc[row] if "month" in table else row
        raise NumericalError(
            f"the {name}'s {numeric.columns[col]} is {values[row, col]} in month {month}: the "
            "model left the range it can compute in (an input at an extreme, or a bug)"
        )


def summarise(model, model_df: pd.DataFrame, firms_df: pd.DataFrame) -> dict:
    """The run in a few numbers: survivors (alive and viable), shares, the winners by revenue
    and by profit, each firm's fate and cumulative profit, exits, headline indicators."""
    cfg = model.cfg
    last = model_df.iloc[-1]
    survivors = {a: sum(b.viable for b in model.builders if b.archetype == a) for a in ARCHETYPES}
    by_strategy: dict[str, dict[str, int]] = {}
    for b in model.builders:
        row = by_strategy.setdefault(
            b.strategy.name, {"archetype": b.archetype, "started": 0, "alive": 0, "survived": 0}
        )
        row["started"] += 1
        row["alive"] += int(b.alive)
        row["survived"] += int(b.viable)
    firms = [
        {
            "firm_id": b.firm_id,
            "name": b.name,
            "archetype": b.archetype,
            "strategy": b.strategy.name,
            "entry_month": b.entry_month,
            "alive": bool(b.alive),
            "survived": b.viable,
            "exit_month": b.exit_month,
            "months_to_exit": None if b.exit_month is None else b.exit_month - b.entry_month,
            "cumulative_profit_usd": float(b.cum_profit_usd),
            "cumulative_free_cash_flow_usd": float(sum(b.revenue_history) - sum(b.cost_history)),
        }
        for b in model.builders
    ]
    profit_by_archetype = {
        a: float(sum(f["cumulative_profit_usd"] for f in firms if f["archetype"] == a))
        for a in ARCHETYPES
    }
    by_profit = max(firms, key=lambda f: f["cumulative_profit_usd"], default=None)
    recent = firms_df[firms_df["month"] > last["month"] - 12]
    winner = None
    if not recent.empty and recent["model_revenue_usd"].sum() > 0:
        top = recent.groupby("firm_id")["model_revenue_usd"].sum().idxmax()
        b = model.builders[int(top)]
        winner = {
            "firm_id": b.firm_id,
            "name": b.name,
            "archetype": b.archetype,
            "strategy": b.strategy.name,
        }
    exits = [
        {
            "firm_id": b.firm_id,
            "name": b.name,
            "archetype": b.archetype,
            "strategy": b.strategy.name,
            "month": b.exit_month,
        }
        for b in model.builders
        if b.exit_month is not None
    ]
    return {
        "scenario": cfg.scenario.name,
        "package_version": package_version(),
        "steps": cfg.run.steps,
        "enterprises": cfg.run.enterprises,
        "survivors_by_archetype": survivors,
        "strategies": by_strategy,
        "winner": winner,
        "winner_by_profit": None
        if by_profit is None
        else {k: by_profit[k] for k in ("firm_id", "name", "archetype", "strategy")},
        "cumulative_profit_by_archetype_usd": profit_by_archetype,
        "consumer_surplus_usd_total": float(model_df["consumer_surplus_usd"].sum()),
        "firms": firms,
        "final_shares_by_archetype": {a: float(last[f"share_revenue_{a}"]) for a in ARCHETYPES},
        "hhi_revenue": float(last["hhi_revenue"]),
        "open_lag_months": _num(last["open_lag_months"]),
        "dc_grid_share": _num(last["dc_grid_share"]),
        "dc_energy_twh_per_year": _num(last["dc_energy_twh_per_year"]),
        "adoption_rate": float(last["adoption_rate"]),
        "adopters_positive_roi_share": float(last["adopters_positive_roi_share"]),
        "token_price_usd_per_mtok": _num(last["token_price_usd_per_mtok"]),
        "sentiment": float(last["sentiment"]),
        "corrections": int(model_df["correction"].sum()),
        "entrants": int(model_df["entrants"].sum()),
        "exits": exits,
        "events": model.events,  # entries, exits and valuation corrections, by month
    }


def _num(value) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary name beside `path`, flush it to disk, then rename it into
    place: a reader (or a resumed sweep) sees the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# Every file a run folder may hold; a folder with anything else in it is not ours to touch.
RUN_FILES = (
    "model.parquet",
    "firms.parquet",
    "strategies.parquet",
    "run.json",
    "provenance.json",
    "report.png",
)


class OutputFolderError(ValueError):
    """A folder a run may not be written to: the message says why, in one line."""


def earlier_run(folder: str | Path) -> dict | None:
    """The run.json of an earlier aiecosim run in `folder`, or None if there is none. Refuses
    (OutputFolderError) a path that is not a folder, and a non-empty folder that is not a run
    or that holds files a run does not write."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise OutputFolderError(f"{str(folder)!r} exists and is not a folder")
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    if not names:
        return None
    foreign = sorted(names - set(RUN_FILES))
    record = None
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        pass
    if not isinstance(record, dict) or "config" not in record or "package_version" not in record:
        raise OutputFolderError(
            f"{str(folder)!r} is not empty and holds no aiecosim run; nothing was written: "
            "choose a new or empty folder"
        )
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputFolderError(
            f"{str(folder)!r} holds an earlier run and files aiecosim did not write ({shown}); "
            "nothing was written: choose a new or empty folder"
        )
    return record


def fresh_folder(base: str | Path) -> Path:
    """`base` if it is free (missing or empty), else the first free `base-2`, `base-3`, ..."""
    base = Path(base)
    candidate, n = base, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def write_run(result: RunResult, out_dir: str | Path, replace: bool = False) -> Path:
    """Write the run's tables, run.json and provenance.json into `out_dir` (the figure,
    report.png, is a view's job: `aiecosim.views.report.plot_report`). A folder holding an
    earlier run is replaced only with `replace=True` (its old files removed first, so no stale
    report.png survives); a non-empty folder that is not a run is never written to
    (OutputFolderError)."""
    out = Path(out_dir)
    previous = earlier_run(out)
    if previous is not None:
        if not replace:
            raise OutputFolderError(
                f"{str(out)!r} holds an earlier run (scenario {previous.get('scenario')!r}, "
                f"seed {previous.get('seed')}); replace it with --force, or choose another folder"
            )
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "model.parquet", lambda p: result.model.to_parquet(p, index=False))
    atomic_write(out / "firms.parquet", lambda p: result.firms.to_parquet(p, index=False))
    atomic_write(out / "strategies.parquet", lambda p: result.strategies.to_parquet(p, index=False))
    record = {**result.summary, "config": result.config.model_dump(mode="json")}
    atomic_write(
        out / "run.json", lambda p: p.write_text(json.dumps(record, indent=2, default=str))
    )
    from aiecosim import provenance

    provenance.write(out, "run", result.config, seed=result.summary["seed"])
    return out


def simulate(
    scenario: str = "baseline",
    seed: int = 0,
    params: dict | None = None,
    steps: int | None = None,
    n_enterprises: int | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **sections,
) -> RunResult:
    """One call for notebooks and parameter studies::

        simulate("energy-crunch", seed=3, params={"capability.alpha": 0.3}, steps=60)
        simulate("baseline", investors={"optimism": -0.5}, enterprises={"switching_cost": 2.5})

    `params` sets levers by their dotted path, with Python values; keyword sections (`investors=`,
    `enterprises=`, ...) merge a table into that section; `steps` and `n_enterprises` size the
    run. Returns the model, firm and strategy tables as DataFrames and the run summary. An
    unknown lever is a ConfigError naming the closest known one."""
    from aiecosim.config import load_config

    run = dict(sections.pop("run", {}))
    if steps is not None:
        run["steps"] = steps
    if n_enterprises is not None:
        run["enterprises"] = n_enterprises
    if run:
        sections["run"] = run
    config = load_config(scenario, config_file, overrides, params=params, **sections)
    return run_model(config, seed)

"""Validation against stylised facts: does the baseline reproduce what the sources report?

Each `StylisedFact` pairs a published figure (with the band the sources allow) with a measure
computed from one simulated run: a number read off the model table, the firm table or the run's
release events. `validate` runs a scenario over several seeds, applies every measure to every
run and compares the mean across seeds with the band. The sources are cited by the short keys
of docs/calibration.md, where the full references are listed.

Dates: the model starts on 1 January 2025 (month 0 is January 2025), so "2030" is months 60-71.
A measure that needs a month the run did not reach returns NaN, and its fact fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from aiecosim.config import SimConfig, load_config
from aiecosim.experiments.runner import parallel_map
from aiecosim.outputs import RunResult, run_model


@dataclass(frozen=True)
class StylisedFact:
    """A published regularity and how a run is measured against it."""

    key: str
    fact: str  # what the sources report, in words
    measure: str  # what is computed from a run, in words
    low: float  # the band the mean over seeds must fall in (inclusive)
    high: float
    unit: str
    sources: str  # keys of docs/calibration.md's source list
    compute: Callable[[RunResult], float]

    def band(self) -> str:
        if math.isinf(self.high):
            return f">= {fmt(self.low)}"
        return f"{fmt(self.low)} - {fmt(self.high)}"


# ------------------------------------------------------------------------------ measures
def _months(df: pd.DataFrame, first: int, last: int, column: str) -> pd.Series:
    """Values of `column` in months first..last (inclusive); empty if the run is shorter."""
    rows = df[(df["month"] >= first) & (df["month"] <= last)]
    return rows[column] if len(rows) == last - first + 1 else pd.Series(dtype=float)


def _mean(df: pd.DataFrame, first: int, last: int, column: str) -> float:
    values = _months(df, first, last, column)
    return float(values.mean()) if len(values) else float("nan")


def _yearly_growth(df: pd.DataFrame, column: str, first: int, last: int) -> float:
    """Growth factor a year of `column` between two months (geometric)."""
    a, b = _months(df, first, first, column), _months(df, last, last, column)
    if not len(a) or not len(b) or a.iloc[0] <= 0:
        return float("nan")
    return float((b.iloc[0] / a.iloc[0]) ** (12.0 / (last - first)))


def frontier_compute_growth(run: RunResult) -> float:
    """Largest training run released to date: growth a year, January 2025 to January 2028."""
    return _yearly_growth(run.model, "frontier_training_flop", 0, 36)


def fixed_capability_price_decline(run: RunResult) -> float:
    """How many times cheaper a year the start's frontier capability gets: the cheapest offer at
    or above it in January 2025 (only the frontier model itself) against the cheapest in January
    2027, as a yearly factor. Firms that exited do not count."""
    firms = run.firms[run.firms["alive"] & (run.firms["price_usd_per_mtok"] > 0)]
    start = firms[firms["month"] == 0]
    later = firms[firms["month"] == 24]
    if start.empty or later.empty:
        return float("nan")
    threshold = float(start["capability"].max())
    p0 = float(start.loc[start["capability"] >= threshold, "price_usd_per_mtok"].min())
    able = later.loc[later["capability"] >= threshold, "price_usd_per_mtok"]
    return float((p0 / able.min()) ** 0.5) if len(able) else float("nan")


def open_lag(run: RunResult) -> float:
    """Median months by which the best open-weights model trails the frontier, 2026 on."""
    lag = run.model.loc[run.model["month"] >= 12, "open_lag_months"].dropna()
    return float(lag.median()) if len(lag) else float("nan")


def dc_energy_start(run: RunResult) -> float:
    return _mean(run.model, 0, 0, "dc_energy_twh_per_year")


def dc_grid_share_start(run: RunResult) -> float:
    return 100 * _mean(run.model, 0, 0, "dc_grid_share")


def dc_energy_2030(run: RunResult) -> float:
    return _mean(run.model, 60, 71, "dc_energy_twh_per_year")


def grid_demand_rise_2030(run: RunResult) -> float:
    """Electricity asked of the grid in 2030 against 2025, in percent."""
    return 100 * (
        _mean(run.model, 60, 71, "grid_demand_twh_per_year")
        / _mean(run.model, 0, 11, "grid_demand_twh_per_year")
        - 1
    )


def h100_price_2025(run: RunResult) -> float:
    return _mean(run.model, 0, 11, "compute_price_usd_per_gpu_hour")


def accelerator_stock_growth(run: RunResult) -> float:
    """Installed H100-equivalents, growth over 2025 (January 2025 to January 2026)."""
    return _yearly_growth(run.model, "installed_gpus_h100e", 0, 12)


def required_revenue_2030(run: RunResult) -> float:
    """Yearly revenue the industry's capex calls for, 2030 average, trillion USD."""
    return _mean(run.model, 60, 71, "required_revenue_usd_per_year") / 1e12


def revenue_coverage_2030(run: RunResult) -> float:
    """AI revenue as a share of the revenue the capex calls for, 2030 average."""
    return _mean(run.model, 60, 71, "ai_revenue_usd_per_year") / _mean(
        run.model, 60, 71, "required_revenue_usd_per_year"
    )


def no_return_share_2025(run: RunResult) -> float:
    """Share of adopters without a positive return, 2025 average, percent."""
    return 100 * (1 - _mean(run.model, 0, 11, "adopters_positive_roi_share"))


def adoption_2025(run: RunResult) -> float:
    return 100 * _mean(run.model, 0, 11, "adoption_rate")


def open_model_cost(run: RunResult) -> float:
    """Median compute cost of an open-weights training run released in 2025-26, million USD."""
    costs = [
        e["training_cost_usd"]
        for e in run.summary["events"]
        if e["event"] == "release" and e["open_weights"] and e["month"] < 24
    ]
    return float(np.median(costs)) / 1e6 if costs else float("nan")


def ai_funding_2025(run: RunResult) -> float:
    """Equity raised by AI builders from investors in 2025, billion USD."""
    year = _months(run.model, 0, 11, "funding_usd")
    return float(year.sum()) / 1e9 if len(year) else float("nan")


FACTS: tuple[StylisedFact, ...] = (
    StylisedFact(
        "frontier_compute_growth",
        "Frontier training compute grows about 4-5x a year",
        "largest released training run, growth a year from January 2025 to January 2028",
        3.5, 5.5, "x per year", "[Epoch-compute]", frontier_compute_growth,
    ),
    StylisedFact(
        "fixed_capability_price_decline",
        "The price of a given capability falls at least 10x a year (9-900x by task)",
        "cheapest offer at the start's frontier capability, January 2025 against January 2027",
        9.0, math.inf, "x per year", "[a16z-LLMflation], [Epoch-inference-price]",
        fixed_capability_price_decline,
    ),
    StylisedFact(
        "open_lag",
        "Open-weights models trail the frontier by about 3-12 months",
        "median open_lag_months from 2026 on",
        3.0, 12.0, "months", "[Epoch-open-gap]", open_lag,
    ),
    StylisedFact(
        "dc_energy_start",
        "Data centres used about 415 TWh of electricity in 2024",
        "dc_energy_twh_per_year in January 2025",
        370.0, 460.0, "TWh per year", "[IEA-EnergyAI]", dc_energy_start,
    ),
    StylisedFact(
        "dc_grid_share_start",
        "... about 1.5% of the world's electricity",
        "dc_grid_share in January 2025",
        1.2, 1.8, "percent", "[IEA-EnergyAI]", dc_grid_share_start,
    ),
    StylisedFact(
        "dc_energy_2030",
        "Data-centre electricity reaches about 945 TWh by 2030",
        "dc_energy_twh_per_year, 2030 average",
        800.0, 1100.0, "TWh per year", "[IEA-EnergyAI]", dc_energy_2030,
    ),
    StylisedFact(
        "grid_demand_rise_2030",
        "Electricity supply must rise about 20% by 2030",
        "grid demand in 2030 against 2025",
        15.0, 25.0, "percent", "[IEA-Elec2025], [IEA-WEO2025]", grid_demand_rise_2030,
    ),
    StylisedFact(
        "h100_price",
        "H100 rental fell from about 8 USD/hour (2023) to about 2-3 USD (2025-26)",
        "compute_price_usd_per_gpu_hour, 2025 average (later the model's H100e is newer chips)",
        1.8, 3.2, "USD per GPU-hour", "[H100-rent]", h100_price_2025,
    ),
    StylisedFact(
        "accelerator_stock_growth",
        "The accelerator stock grows 2.3-3.3x a year",
        "installed_gpus_h100e, January 2026 against January 2025",
        2.0, 3.5, "x per year", "[Epoch-NVIDIA-stock], [Epoch-chip-sales]",
        accelerator_stock_growth,
    ),
    StylisedFact(
        "required_revenue_2030",
        "About 2 trillion USD of yearly revenue is needed to cover AI capex by 2030",
        "required_revenue_usd_per_year, 2030 average",
        1.5, 2.5, "trillion USD per year", "[Bain2025]", required_revenue_2030,
    ),
    StylisedFact(
        "revenue_coverage_2030",
        "... of which about 800 billion is missing (revenue covers about 60%)",
        "ai_revenue_usd_per_year / required_revenue_usd_per_year, 2030 average",
        0.4, 0.8, "ratio", "[Bain2025]", revenue_coverage_2030,
    ),
    StylisedFact(
        "no_return_share_2025",
        "About 95% of organisations see no measurable return on generative AI at first",
        "share of adopters without a positive return, 2025 average",
        80.0, 100.0, "percent of adopters", "[MIT-NANDA]", no_return_share_2025,
    ),
    StylisedFact(
        "adoption_2025",
        "5-20% of all firms (census) to 78-88% of large firms (surveys) use AI in 2024-25",
        "adoption_rate, 2025 average",
        5.0, 88.0, "percent of enterprises", "[Census-BTOS], [McKinsey-AI]", adoption_2025,
    ),
    StylisedFact(
        "open_model_cost",
        "A sovereign or specialised model costs about 10-100 million USD",
        "median compute cost of an open-weights training run released in 2025-26",
        10.0, 100.0, "million USD", "[Apertus]", open_model_cost,
    ),
    StylisedFact(
        "ai_funding_2025",
        "About 200 billion USD of venture money went to AI companies in 2025",
        "funding_usd summed over 2025",
        130.0, 270.0, "billion USD", "[Crunchbase]", ai_funding_2025,
    ),
)  # fmt: skip


# ------------------------------------------------------------------------------ running
def measure_run(run: RunResult) -> dict[str, float]:
    return {fact.key: fact.compute(run) for fact in FACTS}


def _measure_seed(task: tuple[dict, int]) -> dict[str, float]:
    config, seed = task
    return measure_run(run_model(SimConfig.model_validate(config), seed))


def validate(
    seeds: Sequence[int],
    scenario: str = "baseline",
    overrides: Sequence[str] = (),
    workers: int = 1,
    config: SimConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run `scenario` once per seed and compare each fact's mean with its band.

    Returns (table, per_run): one row per fact (band, mean, spread, pass), and one row per seed
    with every measure. Runs in a spawn process pool when `workers` > 1; the result is the same
    for any worker count because each run depends only on its config and seed.
    """
    config = config or load_config(scenario, overrides=list(overrides))
    tasks = [(config.model_dump(mode="json"), int(s)) for s in seeds]
    rows = parallel_map(_measure_seed, tasks, workers)
    per_run = pd.DataFrame(rows)
    per_run.insert(0, "seed", [int(s) for s in seeds])
    return fact_table(per_run), per_run


def fact_table(per_run: pd.DataFrame) -> pd.DataFrame:
    records = []
    for fact in FACTS:
        values = per_run[fact.key].astype(float)
        mean = float(values.mean()) if values.notna().all() else float("nan")
        records.append(
            {
                "fact": fact.key,
                "description": fact.fact,
                "measure": fact.measure,
                "band": fact.band(),
                "low": fact.low,
                "high": fact.high,
                "unit": fact.unit,
                "mean": mean,
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "p10": float(values.quantile(0.1)),
                "p90": float(values.quantile(0.9)),
                "passed": bool(fact.low <= mean <= fact.high),
                "sources": fact.sources,
            }
        )
    return pd.DataFrame(records)


def fmt(x: float) -> str:
    """A number at a precision a table reader wants; n/a for NaN."""
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def markdown(table: pd.DataFrame, seeds: Sequence[int], scenario: str, version: str) -> str:
    """validation.md: the table with its provenance."""
    passed = int(table["passed"].sum())
    lines = [
        f"# Validation: {scenario} against the stylised facts",
        "",
        f"aiecosim {version}; {len(seeds)} seeds ({min(seeds)}-{max(seeds)}); "
        f"{passed} of {len(table)} facts pass. A fact passes when the mean over seeds lies in "
        "its band; the spread is the standard deviation and the 10th-90th percentile across "
        "seeds. Sources: docs/calibration.md.",
        "",
        "| fact | measured as | band | unit | mean | sd | p10 - p90 | verdict | sources |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.description} | {r.measure} | {r.band} | {r.unit} | {fmt(r.mean)} | "
            f"{fmt(r.sd)} | {fmt(r.p10)} - {fmt(r.p90)} | {'pass' if r.passed else 'FAIL'} "
            f"| {r.sources} |"
        )
    return "\n".join(lines) + "\n"

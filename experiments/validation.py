"""Validation against stylised facts: does the baseline reproduce what the sources report?

Each `StylisedFact` pairs a published figure (with the band the sources allow) with a measure
computed from one simulated run: a number read off the model table, the firm table or the run's
release events. `validate` runs a scenario over several seeds (ten by default), applies every
measure to every run and judges the mean across seeds against the band; a 90% interval of that
mean (Student's t over seeds) says how firmly.

Facts come in two kinds, reported apart:
- a *calibration target* is one an input was set to hit (`tuned` names the inputs), so passing it
  shows the calibration holds, not that the model predicts;
- a *held-out check* is one no input was tuned to: the test of the model.
A figure that follows from the inputs alone (the start's data-centre electricity, the 2025 rental
price, the rise in grid demand, which base-load growth sets) is neither: it is an input, listed
in docs/calibration.md.

Sources are cited by the short keys of docs/calibration.md, where the full references are listed.
Dates: the model starts on 1 January 2025 (month 0 is January 2025), so "2030" is months 60-71.
A measure that needs a month the run did not reach returns NaN, and its fact fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.config import ConfigError, SimConfig, _unknown, load_config
from aiecosim.experiments.intervals import t_interval
from aiecosim.experiments.runner import parallel_map
from aiecosim.outputs import RunResult, run_model

CALIBRATION = "calibration target"
HELD_OUT = "held-out check"
INTERVAL = 0.90  # two-sided level of the interval of the mean over seeds
MIN_SEEDS = 10  # fewer give intervals too wide to judge by; the report says so


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
    tuned: tuple[str, ...] = ()  # inputs set to hit this fact; empty: held out

    @property
    def role(self) -> str:
        return CALIBRATION if self.tuned else HELD_OUT

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


def dc_energy_2030(run: RunResult) -> float:
    return _mean(run.model, 60, 71, "dc_energy_twh_per_year")


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


def _year(df: pd.DataFrame, year: int) -> pd.DataFrame:
    """The rows of calendar year `year` of the model's first years (year 0 = 2025); empty if
    the run did not reach its December."""
    rows = df[(df["month"] >= 12 * year) & (df["month"] < 12 * (year + 1))]
    return rows if rows["month"].nunique() == 12 else rows.iloc[0:0]


def _spend_share(run: RunResult, archetype: str) -> float:
    """Share of enterprise spend on AI models that goes to `archetype`'s models in 2025 (API
    tokens, and for open weights the compute and support fees of self-hosting), percent."""
    year = _year(run.model, 0)
    if year.empty:
        return float("nan")
    spend = {
        a: year.filter(regex=f"^spend_usd_(small|medium|large)_{a}$").to_numpy().sum()
        for a in ARCHETYPES
    }
    total = sum(spend.values())
    return 100 * spend[archetype] / total if total > 0 else float("nan")


def open_spend_share_2025(run: RunResult) -> float:
    return _spend_share(run, "open_source_builder")


def frontier_lab_spend_share_2025(run: RunResult) -> float:
    return _spend_share(run, "frontier_lab")


def open_customer_share_2025(run: RunResult) -> float:
    """Share of AI-using organisations whose provider is an open-weights model, 2025, percent."""
    year = _year(run.model, 0)
    return (
        100 * float(year["share_customers_open_source_builder"].mean()) if len(year) else math.nan
    )


def frontier_lab_revenue_2025(run: RunResult) -> float:
    """Revenue of all frontier labs in 2025, billion USD."""
    year = _year(run.firms, 0)
    labs = year[year["archetype"] == "frontier_lab"]
    return float(labs["revenue_usd"].sum()) / 1e9 if len(year) else float("nan")


def ai_capex_2025(run: RunResult) -> float:
    """AI capex in 2025 (accelerators and data centres of the cloud and the integrated giants),
    billion USD."""
    december = _months(run.model, 11, 11, "cum_ai_capex_usd")
    return float(december.iloc[0]) / 1e9 if len(december) else float("nan")


def power_price_change_2026(run: RunResult) -> float:
    """Wholesale power price, 2026 average against 2025, percent."""
    before, after = _year(run.model, 0), _year(run.model, 1)
    if before.empty or after.empty:
        return float("nan")
    ratio = after["energy_price_usd_per_mwh"].mean() / before["energy_price_usd_per_mwh"].mean()
    return 100 * (float(ratio) - 1)


FACTS: tuple[StylisedFact, ...] = (
    # ---------------------------------------------------------------- held-out checks
    StylisedFact(
        "fixed_capability_price_decline",
        "The price of a given capability falls at least 10x a year (9-900x by task)",
        "cheapest offer at the start's frontier capability, January 2025 against January 2027",
        9.0, math.inf, "x per year", "[a16z-LLMflation], [Epoch-inference-price]",
        fixed_capability_price_decline,
    ),
    StylisedFact(
        "open_spend_share_2025",
        "Open-weights models take about a tenth of enterprise spend on LLMs in 2025",
        "spend on open builders' models (API and self-hosting) over all model spend, 2025",
        5.0, 20.0, "percent of spend", "[Menlo-2025]", open_spend_share_2025,
    ),
    StylisedFact(
        "open_customer_share_2025",
        "Open models serve a small minority of enterprise usage (11-19% in 2024-25)",
        "share of AI-using organisations buying from an open builder, 2025 average",
        8.0, 20.0, "percent of adopters", "[Menlo-2025]", open_customer_share_2025,
    ),
    StylisedFact(
        "frontier_lab_spend_share_2025",
        "The closed frontier labs (Anthropic, OpenAI) take most enterprise LLM spend in 2025",
        "spend on frontier labs' models over all model spend, 2025",
        50.0, 75.0, "percent of spend", "[Menlo-2025]", frontier_lab_spend_share_2025,
    ),
    StylisedFact(
        "frontier_lab_revenue_2025",
        "The leading labs' revenue was about 15-20 billion USD in 2025 (OpenAI about 13)",
        "revenue of all frontier labs, summed over 2025",
        12.0, 28.0, "billion USD", "[Lab-finance]", frontier_lab_revenue_2025,
    ),
    StylisedFact(
        "ai_capex_2025",
        "The four largest cloud and platform companies spent about 400 billion USD of capex in 2025",
        "AI capex (accelerators, data centres) of the cloud and the integrated giants, 2025",
        300.0, 550.0, "billion USD", "[Hyperscaler-capex]", ai_capex_2025,
    ),
    StylisedFact(
        "power_price_change_2026",
        "Wholesale power prices move within about 20% a year (EU 2026 futures below 2025)",
        "energy_price_usd_per_mwh, 2026 average against 2025",
        -20.0, 20.0, "percent", "[IEA-Elec-mid2025], [EIA-STEO]", power_price_change_2026,
    ),
    StylisedFact(
        "required_revenue_2030",
        "About 2 trillion USD of yearly revenue is needed to cover AI capex by 2030",
        "required_revenue_usd_per_year, 2030 average (the capex path 2026-30 over 5 years x 25%)",
        1.5, 2.5, "trillion USD per year", "[Bain2025]", required_revenue_2030,
    ),
    # ---------------------------------------------------------------- calibration targets
    StylisedFact(
        "frontier_compute_growth",
        "Frontier training compute grows about 4-5x a year",
        "largest released training run, growth a year from January 2025 to January 2028",
        3.5, 5.5, "x per year", "[Epoch-compute]", frontier_compute_growth,
        tuned=("strategies.frontier_lab.training_months",),
    ),
    StylisedFact(
        "open_lag",
        "Open-weights models trail the frontier by about 3-12 months",
        "median open_lag_months from 2026 on",
        3.0, 12.0, "months", "[Epoch-open-gap]", open_lag,
        tuned=("strategies.open_source_builder.training_share",),
    ),
    StylisedFact(
        "dc_energy_2030",
        "Data-centre electricity reaches about 945 TWh by 2030",
        "dc_energy_twh_per_year, 2030 average",
        800.0, 1100.0, "TWh per year", "[IEA-EnergyAI]", dc_energy_2030,
        tuned=("energy.non_ai_dc_growth_per_year",),
    ),
    StylisedFact(
        "accelerator_stock_growth",
        "The accelerator stock grows 2.3-3.3x a year",
        "installed_gpus_h100e, January 2026 against January 2025",
        2.0, 3.5, "x per year", "[Epoch-NVIDIA-stock], [Epoch-chip-sales]",
        accelerator_stock_growth, tuned=("compute.gpu_production_h100e_per_month",),
    ),
    StylisedFact(
        "revenue_coverage_2030",
        "Of the 2 trillion needed, about 800 billion is missing (revenue covers about 60%)",
        "ai_revenue_usd_per_year / required_revenue_usd_per_year, 2030 average",
        0.4, 0.8, "ratio", "[Bain2025]", revenue_coverage_2030,
        tuned=("enterprises.value_usd_per_mtok_median",),
    ),
    StylisedFact(
        "no_return_share_2025",
        "About 95% of organisations see no measurable return on generative AI at first",
        "share of adopters without a positive return, 2025 average",
        80.0, 100.0, "percent of adopters", "[MIT-NANDA]", no_return_share_2025,
        tuned=("enterprises.ramp_months",),
    ),
    StylisedFact(
        "open_model_cost",
        "A sovereign or specialised model costs about 10-100 million USD",
        "median compute cost of an open-weights training run released in 2025-26",
        10.0, 100.0, "million USD", "[Apertus]", open_model_cost,
        tuned=("strategies.open_source_builder.initial_model_flop",),
    ),
    StylisedFact(
        "ai_funding_2025",
        "About 200 billion USD of venture money went to AI companies in 2025",
        "funding_usd summed over 2025",
        130.0, 270.0, "billion USD", "[Crunchbase]", ai_funding_2025,
        tuned=("investors.inflow_usd_per_month", "investors.round_dilution"),
    ),
)  # fmt: skip

FACT_KEYS: tuple[str, ...] = tuple(f.key for f in FACTS)


def select_facts(keys: Sequence[str] | None) -> tuple[StylisedFact, ...]:
    """The facts named in `keys` (all when None or empty), or a ConfigError naming the unknown
    one and the closest known."""
    if not keys:
        return FACTS
    by_key = {f.key: f for f in FACTS}
    for key in keys:
        if key not in by_key:
            raise ConfigError(_unknown("--fact", key, FACT_KEYS))
    return tuple(by_key[k] for k in dict.fromkeys(keys))


# ------------------------------------------------------------------------------ running
def measure_run(run: RunResult, facts: Sequence[StylisedFact] = FACTS) -> dict[str, float]:
    return {fact.key: fact.compute(run) for fact in facts}


def _measure_seed(task: tuple[str, int, tuple[str, ...]]) -> dict[str, float]:
    config, seed, keys = task
    return measure_run(run_model(SimConfig.model_validate_json(config), seed), select_facts(keys))


def validate(
    seeds: Sequence[int],
    scenario: str = "baseline",
    overrides: Sequence[str] = (),
    workers: int = 1,
    config: SimConfig | None = None,
    facts: Sequence[str] | None = None,
    progress=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run `scenario` once per seed and judge each fact's mean against its band.

    Returns (table, per_run): one row per fact (role, band, mean, 90% interval, pass), and one
    row per seed with every measure. Runs in a spawn process pool when `workers` > 1; the result
    is the same for any worker count because each run depends only on its config and seed.
    """
    chosen = select_facts(facts)
    keys = tuple(f.key for f in chosen)
    config = config or load_config(scenario, overrides=list(overrides))
    tasks = [(config.model_dump_json(), int(s), keys) for s in seeds]
    rows = parallel_map(_measure_seed, tasks, workers, progress)
    per_run = pd.DataFrame(rows, columns=list(keys))
    per_run.insert(0, "seed", [int(s) for s in seeds])
    return fact_table(per_run, chosen), per_run


def mean_interval(values: pd.Series, level: float = INTERVAL) -> tuple[float, float, float]:
    """Mean over seeds and its two-sided `level` interval (Student's t); NaN if any run could
    not be measured, and a zero-width interval from a single seed."""
    values = values.astype(float)
    if values.isna().any() or values.empty:
        return math.nan, math.nan, math.nan
    if len(values) < 2:
        mean = float(values.iloc[0])
        return mean, mean, mean
    return t_interval(values, level)


def fact_table(per_run: pd.DataFrame, facts: Sequence[StylisedFact] = FACTS) -> pd.DataFrame:
    """One row per fact: the mean over seeds, its 90% interval, the seeds' spread, and the
    verdict (pass when the mean lies in the band; `firm` when the whole interval does)."""
    records = []
    for fact in facts:
        values = per_run[fact.key].astype(float)
        mean, lo, hi = mean_interval(values)
        passed = bool(fact.low <= mean <= fact.high)
        records.append(
            {
                "fact": fact.key,
                "role": fact.role,
                "tuned": ", ".join(fact.tuned),
                "description": fact.fact,
                "measure": fact.measure,
                "band": fact.band(),
                "low": fact.low,
                "high": fact.high,
                "unit": fact.unit,
                "seeds": len(values),
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "passed": passed,
                "firm": bool(passed and fact.low <= lo and hi <= fact.high),
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


def verdict(row) -> str:
    if not row.passed:
        return "FAIL"
    return "pass" if row.firm else "pass (interval crosses the band's edge)"


def pass_counts(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(passed, total) by role."""
    return {
        role: (int(group["passed"].sum()), len(group))
        for role, group in table.groupby("role", sort=False)
    }


def markdown(table: pd.DataFrame, seeds: Sequence[int], scenario: str, version: str) -> str:
    """validation.md: the held-out checks and the calibration targets, each with its pass
    count, and the provenance."""
    seeds = list(seeds)
    lines = [
        f"# Validation: {scenario} against the stylised facts",
        "",
        f"aiecosim {version}; {len(seeds)} seeds ({min(seeds)}-{max(seeds)}). A fact passes when "
        "the mean over seeds lies in its band; the interval is the 90% interval of that mean "
        "(Student's t over seeds). Sources: docs/calibration.md.",
    ]
    if len(seeds) < MIN_SEEDS:
        lines += [
            "",
            f"Fewer than {MIN_SEEDS} seeds: the intervals are wide, the verdicts provisional.",
        ]
    groups = (
        (HELD_OUT, "Held-out checks", "No input was set to hit these: they test the model."),
        (
            CALIBRATION,
            "Calibration targets",
            "An input was set to hit each of these (named in the last column): passing shows "
            "the calibration holds, not that the model predicts.",
        ),
    )
    for role, title, blurb in groups:
        rows = table[table["role"] == role]
        if rows.empty:
            continue
        lines += [
            "",
            f"## {title}: {int(rows['passed'].sum())} of {len(rows)} pass",
            "",
            blurb,
            "",
            "| fact | measured as | band | unit | mean [90% interval] | verdict | sources |"
            + (" tuned input |" if role == CALIBRATION else ""),
            "|---|---|---|---|---|---|---|" + ("---|" if role == CALIBRATION else ""),
        ]
        for r in rows.itertuples():
            lines.append(
                f"| {r.description} | {r.measure} | {r.band} | {r.unit} | {fmt(r.mean)} "
                f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {verdict(r)} | {r.sources} |"
                + (f" `{r.tuned}` |" if role == CALIBRATION else "")
            )
    return "\n".join(lines) + "\n"

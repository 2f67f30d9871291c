"""Comparative statics: does each scenario move the outputs the way economics says it should?

Each `Expectation` names a scenario, a measure of a run, and the direction the scenario should
move it against the baseline. Both worlds run on the same seeds (common random numbers: the same
enterprises, network and shocks), so the test is paired: a one-sided Wilcoxon signed-rank test
on the per-seed differences, the effect shown when p < 0.05. Not one seed: a replicate set.

The table in docs/model.md, between the `BEGIN` and `END` marker comments, is what
`docs_block()` writes for `SEEDS` and `ENTERPRISES` (`aiecosim statics` rewrites it;
tests/test_statics.py checks it is the committed one).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from aiecosim.experiments.runner import parallel_map
from scipy.stats import wilcoxon

#: The replicate set of the documented table: seeds 1..12, 2,000 enterprise cohorts a run.
SEEDS: tuple[int, ...] = tuple(range(1, 13))
ENTERPRISES = 2000
OVERRIDES: tuple[str, ...] = (f"run.enterprises={ENTERPRISES}",)
#: Where the table lives in the source checkout, and the comments that enclose it.
DOCS = Path(__file__).resolve().parents[1] / "docs" / "model.md"
BEGIN, END = "<!-- statics:begin -->", "<!-- statics:end -->"


@dataclass(frozen=True)
class Expectation:
    scenario: str
    key: str
    direction: str  # "+": the scenario raises the measure; "-": it lowers it
    measure: str
    why: str


EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation(
        "energy-crunch",
        "energy_price",
        "+",
        "mean energy price, USD/MWh",
        "slow grid build-out and dearer fuel push up the merit order",
    ),
    Expectation(
        "energy-crunch",
        "compute_price",
        "+",
        "mean compute price, USD/GPU-hour",
        "energy is a cost of every GPU-hour, and power caps usable chips",
    ),
    Expectation(
        "energy-crunch",
        "frontier_2030",
        "-",
        "frontier capability at month 60",
        "power-capped compute slows the largest training runs",
    ),
    Expectation(
        "scaling-plateau",
        "open_gap",
        "-",
        "frontier minus best open capability",
        "strong diminishing returns push every model toward the same ceiling",
    ),
    Expectation(
        "scaling-plateau",
        "open_lag",
        "-",
        "open-weights lag, months",
        "the frontier's head start should be worth fewer months",
    ),
    Expectation(
        "scaling-plateau",
        "frontier_premium",
        "-",
        "frontier labs' token price over the open-weights price",
        "at capability parity a premium is earned only by what is left: lock-in, convenience",
    ),
    Expectation(
        "scaling-plateau",
        "frontier_lab_share",
        "-",
        "frontier labs' revenue share",
        "a scale bet that buys little capability should earn less",
    ),
    Expectation(
        "open-surge",
        "open_share",
        "+",
        "open-source builders' customer share",
        "cheaper, nearly-as-good open models should win customers",
    ),
    Expectation(
        "open-surge",
        "token_price",
        "-",
        "mean token price, USD/Mtok",
        "efficient open models undercut the market price",
    ),
    Expectation(
        "open-surge",
        "consumer_surplus",
        "+",
        "enterprises' consumer surplus over the run, USD",
        "a richer, cheaper menu leaves buyers more surplus",
    ),
    Expectation(
        "funding-winter",
        "exits",
        "+",
        "firms that exit",
        "builders that counted on the next round run out of cash",
    ),
    Expectation(
        "funding-winter",
        "sentiment",
        "-",
        "mean investor sentiment",
        "returns short of boom-time expectations sour impatient investors",
    ),
    Expectation(
        "funding-winter",
        "funding",
        "-",
        "equity raised by builders over the run, USD",
        "soured investors and thin inflows fund fewer, smaller rounds",
    ),
    Expectation(
        "lock-in",
        "hhi",
        "+",
        "mean revenue HHI over the run",
        "customers stay with the incumbents that hold them",
    ),
    Expectation(
        "lock-in",
        "token_price",
        "+",
        "mean token price, USD/Mtok",
        "shoppers who would pay to leave are worth a higher price: switching costs soften "
        "price competition",
    ),
    Expectation(
        "lock-in",
        "provider_churn",
        "-",
        "customers lost by providers per month",
        "switching costs keep customers where they are",
    ),
)


def measures(model: pd.DataFrame, summary: dict) -> dict[str, float]:
    """The measures the expectations are stated in, from one run's monthly table."""
    return {
        "energy_price": float(model["energy_price_usd_per_mwh"].mean()),
        "compute_price": float(model["compute_price_usd_per_gpu_hour"].mean()),
        "frontier_2030": float(model["frontier_capability"].iloc[min(60, len(model) - 1)]),
        "open_gap": float(
            (model["frontier_capability"] - model["best_open_capability"]).iloc[12:].mean()
        ),
        "open_lag": float(model["open_lag_months"].iloc[12:].mean()),
        "frontier_lab_share": float(model["share_revenue_frontier_lab"].mean()),
        "open_share": float(model["share_customers_open_source_builder"].mean()),
        "token_price": float(model["token_price_usd_per_mtok"].iloc[12:].mean()),
        "frontier_premium": float(
            (
                model["token_price_frontier_lab_usd_per_mtok"]
                / model["token_price_open_source_builder_usd_per_mtok"]
            )
            .iloc[12:]
            .mean()
        ),
        "exits": float(len(summary["exits"])),
        "sentiment": float(model["sentiment"].mean()),
        "funding": float(model["funding_usd"].sum()),
        "consumer_surplus": float(model["consumer_surplus_usd"].sum()),
        "hhi": float(model["hhi_revenue"].mean()),
        "provider_churn": float(model["provider_churn_rate"].mean()),
    }


def _run(task: tuple[str, tuple[str, ...], int]) -> dict:
    from aiecosim.config import load_config
    from aiecosim.outputs import run_model

    scenario, overrides, seed = task
    result = run_model(load_config(scenario, overrides=list(overrides)), seed)
    return {"scenario": scenario, "seed": seed, **measures(result.model, result.summary)}


def comparative_statics(
    seeds: Sequence[int],
    overrides: Sequence[str] = (),
    workers: int = 1,
    expectations: Sequence[Expectation] = EXPECTATIONS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the baseline and every scenario named in `expectations` on the same seeds.

    Returns (table, per_run): one row per expectation with both means, the paired one-sided
    p-value and whether the effect is shown; and one row per (scenario, seed). `progress(done,
    total)` is called as each run finishes."""
    scenarios = ["baseline", *dict.fromkeys(e.scenario for e in expectations)]
    tasks = [(s, tuple(overrides), int(k)) for s in scenarios for k in seeds]
    per_run = pd.DataFrame(parallel_map(_run, tasks, workers, progress))
    base = per_run[per_run["scenario"] == "baseline"].set_index("seed")
    rows = []
    for e in expectations:
        world = per_run[per_run["scenario"] == e.scenario].set_index("seed")
        diff = (world[e.key] - base[e.key]).dropna()
        p = _one_sided_p(diff, e.direction)
        rows.append(
            {
                "scenario": e.scenario,
                "measure": e.measure,
                "key": e.key,
                "direction": "raises" if e.direction == "+" else "lowers",
                "baseline_mean": float(base[e.key].mean()),
                "scenario_mean": float(world[e.key].mean()),
                "p_value": p,
                "shown": p < 0.05,
                "why": e.why,
            }
        )
    return pd.DataFrame(rows), per_run


def _one_sided_p(diff: pd.Series, direction: str) -> float:
    if len(diff) == 0 or (diff == 0).all():
        return 1.0
    alternative = "greater" if direction == "+" else "less"
    return float(wilcoxon(diff, alternative=alternative).pvalue)


def fmt_value(measure: str, x: float) -> str:
    """A measure's mean as the table shows it: money in billions of USD, large numbers whole
    with thousands separators, hundreds to one decimal, the rest to three significant digits."""
    if measure.endswith(", USD"):
        return f"{x / 1e9:,.0f} bn"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}"


def markdown(
    table: pd.DataFrame,
    seeds: Sequence[int],
    fmt: Callable[[float], str] | None = None,
) -> str:
    """The table as markdown; `fmt` formats every mean (default: `fmt_value` by measure)."""
    lines = [
        f"| scenario | measure | expected | baseline | scenario | p ({len(seeds)} paired seeds) "
        "| shown |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        base, world = (
            fmt(x) if fmt is not None else fmt_value(r.measure, x)
            for x in (r.baseline_mean, r.scenario_mean)
        )
        lines.append(
            f"| {r.scenario} | {r.measure} | {r.direction} | {base} | {world} | "
            f"{r.p_value:.3f} | {'yes' if r.shown else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def docs_block(table: pd.DataFrame) -> str:
    """What goes between the markers in docs/model.md: how the table was made, and the table
    of `comparative_statics(SEEDS, OVERRIDES)`."""
    return (
        f"Each scenario against the baseline on the same {len(SEEDS)} seeds "
        f"({ENTERPRISES:,} enterprises), a paired one-sided\n"
        "Wilcoxon signed-rank test per expectation (`experiments/statics.py`, tested in\n"
        "tests/test_statics.py; `uv run aiecosim statics` rewrites this table, `--check` "
        "compares):\n\n" + markdown(table, SEEDS)
    )


def committed_block(text: str) -> tuple[int, int]:
    """Start and end offsets of what lies between the markers in `text`; ValueError unless
    each marker occurs once, `BEGIN` first."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"needs one {BEGIN} and one {END} line around the statics table")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    if end < start:
        raise ValueError(f"{END} comes before {BEGIN}")
    return start, end


def with_block(text: str, block: str) -> str:
    """`text` with what lies between the markers replaced by `block`."""
    start, end = committed_block(text)
    return text[:start] + "\n" + block + "\n" + text[end:]  # the table ends at a blank line


def diff(text: str, new_text: str, name: str) -> str:
    """Unified diff from the committed text to the regenerated one."""
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{name} (committed)",
            tofile=f"{name} (aiecosim statics)",
        )
    )

"""Backtest: start the world in January 2023 and hold its 2023-2025 paths against history.

The `history-2023` scenario sets the state of January 2023 (the labs, the open models, the fleet,
prices, adoption and investors' money, each sourced in docs/calibration.md); the mechanisms are
the baseline's. `backtest` runs it over several seeds to December 2025 and compares eight series
with observed points read from a CSV file (shipped: experiments/observed/history-2023-2025.csv):

    series, period, value, low, high, role, sources, note

`period` is a calendar year ("2024": the year's sum for a flow such as revenue, its mean for a
level such as a price) or a month ("2024-05": the value that month). `role` is "check" for a point
the model is judged on and "start" for the start state it was given (drawn, not scored).

For each checked point the simulated median and 5-95% band over seeds are set against the
observed value; the error is the log ratio ln(simulated median / observed), so a factor of 2 too
high or too low weigh the same. A series *tracks* history when its typical error (the geometric
mean of |ratio|) is within `TRACKS_FACTOR`, is *rough* within `ROUGH_FACTOR`, and *misses*
beyond. The judgement lives here and in `aiecosim backtest`, not in a test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from aiecosim.config import ConfigError, SimConfig, _unknown, load_config
from aiecosim.experiments.runner import parallel_map
from aiecosim.outputs import RunResult, run_model

SCENARIO = "history-2023"
TRACKS_FACTOR = 1.5  # typical error within 50%: the model tracks the series
ROUGH_FACTOR = 2.0  # within a factor of 2: right order, wrong level or slope
BAND = (0.05, 0.95)  # the simulated band drawn and reported, quantiles over seeds


def observed_file() -> Path:
    """The shipped observed history."""
    return Path(str(resources.files("aiecosim.experiments") / "observed" / "history-2023-2025.csv"))


@dataclass(frozen=True)
class Series:
    """One observed quantity and how a run is measured against it."""

    key: str
    label: str
    unit: str
    flow: bool  # True: a yearly figure is the year's sum; False: the year's mean
    measure: Callable[[RunResult], pd.Series]  # monthly values, indexed by month start

    def how(self) -> str:
        return "sum over the year" if self.flow else "mean over the year, or the month's value"


def _model_column(column: str, scale: float = 1.0) -> Callable[[RunResult], pd.Series]:
    def measure(run: RunResult) -> pd.Series:
        return pd.Series(
            run.model[column].to_numpy(dtype=float) * scale,
            index=pd.DatetimeIndex(run.model["date"]),
        )

    return measure


def _lab_revenue_bn(run: RunResult) -> pd.Series:
    labs = run.firms[run.firms["archetype"] == "frontier_lab"]
    by_month = labs.groupby("date")["revenue_usd"].sum() / 1e9
    dates = pd.DatetimeIndex(run.model["date"])
    return by_month.reindex(dates, fill_value=0.0)


def _capex_bn(run: RunResult) -> pd.Series:
    cumulative = run.model["cum_ai_capex_usd"].to_numpy(dtype=float)
    return pd.Series(
        np.diff(cumulative, prepend=0.0) / 1e9, index=pd.DatetimeIndex(run.model["date"])
    )


SERIES: tuple[Series, ...] = (
    Series("lab_revenue", "Frontier labs' revenue", "billion USD", True, _lab_revenue_bn),
    Series(
        "frontier_token_price",
        "Frontier labs' token price",
        "USD per Mtok",
        False,
        _model_column("token_price_frontier_lab_usd_per_mtok"),
    ),
    Series(
        "gpu_rental_price",
        "GPU rental price",
        "USD per H100e-hour",
        False,
        _model_column("compute_price_usd_per_gpu_hour"),
    ),
    Series("fleet", "Accelerator fleet", "million H100e", False, _model_column(
        "installed_gpus_h100e", 1e-6
    )),
    Series("adoption", "Enterprise adoption", "percent", False, _model_column("adoption_rate", 100)),
    Series("ai_capex", "AI capex", "billion USD", True, _capex_bn),
    Series(
        "dc_energy",
        "Data-centre electricity",
        "TWh per year",
        False,
        _model_column("dc_energy_twh_per_year"),
    ),
    Series("ai_funding", "Venture funding of AI", "billion USD", True, _model_column(
        "funding_usd", 1e-9
    )),
)  # fmt: skip
SERIES_KEYS = tuple(s.key for s in SERIES)
OBSERVED_COLUMNS = ("series", "period", "value", "low", "high", "role", "sources", "note")


# ------------------------------------------------------------------------------ observed data
def load_observed(path: str | Path | None = None) -> pd.DataFrame:
    """The observed points, checked: known series, a period that is a year or a month, positive
    values with low <= value <= high, role start or check. Bad files raise a one-line
    ConfigError naming the file, the row and the field."""
    path = Path(path) if path is not None else observed_file()
    where = f"--observed {str(path)!r}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        table = pd.read_csv(path, dtype={"period": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{where}: not a readable CSV file ({str(err).splitlines()[0]})"
        ) from None
    missing = [c for c in OBSERVED_COLUMNS[:6] if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{where}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(OBSERVED_COLUMNS)}"
        )
    if table.empty:
        raise ConfigError(f"{where}: no observed points")
    for c in ("sources", "note"):
        if c not in table.columns:
            table[c] = ""
    for i, row in table.iterrows():
        at = f"{where}, row {i + 2}"
        if row["series"] not in SERIES_KEYS:
            raise ConfigError(_unknown(f"{at}: series", str(row["series"]), SERIES_KEYS))
        if _period(str(row["period"])) is None:
            raise ConfigError(
                f"{at}: period {row['period']!r} is neither a year (2024) nor a month (2024-05)"
            )
        for c in ("value", "low", "high"):
            value = pd.to_numeric(row[c], errors="coerce")
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{at}: {c} = {row[c]!r}; must be a number above 0")
        if not float(row["low"]) <= float(row["value"]) <= float(row["high"]):
            raise ConfigError(f"{at}: value {row['value']} is outside low..high")
        if row["role"] not in ("check", "start"):
            raise ConfigError(f"{at}: role {row['role']!r}; allowed: check, start")
    table[["value", "low", "high"]] = table[["value", "low", "high"]].astype(float)
    return table


def _period(period: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last month of a period ("2024" or "2024-05"), or None if it is neither."""
    try:
        if len(period) == 4 and period.isdigit():
            first = pd.Timestamp(f"{period}-01-01")
            return first, first + pd.DateOffset(months=11)
        if len(period) == 7 and period[4] == "-":
            first = pd.Timestamp(f"{period}-01")
            return first, first
    except ValueError:
        return None
    return None


def simulated_at(series: Series, values: pd.Series, period: str) -> float:
    """A run's value for an observed period: sum or mean over its months, NaN if the run does not
    cover all of them."""
    first, last = _period(period)
    months = pd.date_range(first, last, freq="MS")
    window = values.reindex(months)
    if window.isna().any():
        return math.nan
    return float(window.sum() if series.flow and len(months) > 1 else window.mean())


# ------------------------------------------------------------------------------ running
def _paths(task: tuple[str, int]) -> pd.DataFrame:
    config, seed = task
    run = run_model(SimConfig.model_validate_json(config), seed)
    frames = []
    for series in SERIES:
        values = series.measure(run)
        frames.append(
            pd.DataFrame(
                {"seed": seed, "series": series.key, "date": values.index, "value": values.values}
            )
        )
    return pd.concat(frames, ignore_index=True)


def backtest(
    seeds: Sequence[int],
    config: SimConfig | None = None,
    observed: pd.DataFrame | None = None,
    workers: int = 1,
    progress=None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the January 2023 world once per seed and compare it with the observed points.

    Returns (points, series, paths): one row per observed point (observed value and band, the
    simulated median and band, the log error, whether the bands overlap), one row per series
    (typical error, bias, verdict) and the simulated monthly paths (seed, series, date, value).
    The result is the same for any worker count.
    """
    config = config or load_config(SCENARIO)
    observed = observed if observed is not None else load_observed()
    tasks = [(config.model_dump_json(), int(s)) for s in seeds]
    paths = pd.concat(parallel_map(_paths, tasks, workers, progress), ignore_index=True)
    points = compare(paths, observed)
    return points, series_table(points), paths


def compare(paths: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Each observed point against the simulated distribution over seeds."""
    by_series = {s.key: s for s in SERIES}
    rows = []
    for obs in observed.itertuples(index=False):
        series = by_series[obs.series]
        mine = paths[paths["series"] == obs.series]
        per_seed = [
            simulated_at(series, g.set_index("date")["value"], obs.period)
            for _, g in mine.groupby("seed")
        ]
        sims = np.array(per_seed, dtype=float)
        if len(sims) and np.isfinite(sims).all():
            median = float(np.median(sims))
            lo, hi = (float(q) for q in np.quantile(sims, BAND))
        else:
            median = lo = hi = math.nan
        error = math.log(median / obs.value) if median > 0 else math.nan
        rows.append(
            {
                "series": obs.series,
                "label": series.label,
                "unit": series.unit,
                "period": obs.period,
                "role": obs.role,
                "observed": obs.value,
                "observed_low": obs.low,
                "observed_high": obs.high,
                "simulated_median": median,
                "simulated_low": lo,
                "simulated_high": hi,
                "log_error": error,
                "ratio": math.exp(error) if math.isfinite(error) else math.nan,
                # the simulated band reaches the observed range
                "overlaps": bool(lo <= obs.high and hi >= obs.low),
                "sources": obs.sources,
                "note": obs.note,
            }
        )
    return pd.DataFrame(rows)


def verdict(typical_factor: float) -> str:
    if not math.isfinite(typical_factor):
        return "not measured"
    if typical_factor <= TRACKS_FACTOR:
        return "tracks"
    return "rough" if typical_factor <= ROUGH_FACTOR else "misses"


def series_table(points: pd.DataFrame) -> pd.DataFrame:
    """One row per series, from its checked points: how far off it typically is (a factor),
    whether it runs high or low (bias, a factor), how many observed ranges the simulated band
    reaches, and the verdict."""
    rows = []
    checked = points[points["role"] == "check"]
    for s in SERIES:
        mine = checked[checked["series"] == s.key]
        if mine.empty:
            continue
        errors = mine["log_error"].to_numpy(dtype=float)
        typical = float(np.exp(np.mean(np.abs(errors)))) if np.isfinite(errors).all() else math.nan
        bias = float(np.exp(np.mean(errors))) if np.isfinite(errors).all() else math.nan
        rows.append(
            {
                "series": s.key,
                "label": s.label,
                "unit": s.unit,
                "points": len(mine),
                "typical_factor": typical,
                "bias_factor": bias,
                "overlapping": int(mine["overlaps"].sum()),
                "verdict": verdict(typical),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ reporting
VERDICT_COLOURS = {"tracks": "#2e7d32", "rough": "#ef6c00", "misses": "#c62828"}


def plot(points: pd.DataFrame, series: pd.DataFrame, paths: pd.DataFrame, path: Path) -> None:
    """One panel per series: the simulated 5-95% band and median over seeds, the observed
    points with their ranges, and the verdict in the panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    keys = [s.key for s in SERIES if s.key in set(points["series"])]
    ncols = 4
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    by_key = {s.key: s for s in SERIES}
    verdicts = series.set_index("series")
    for ax, key in zip(axes.flat, keys, strict=False):
        s = by_key[key]
        mine = paths[paths["series"] == key]
        wide = mine.pivot_table(index="date", columns="seed", values="value")
        if s.flow:  # a flow is drawn as its sum over the 12 months around each date, the
            # quantity a calendar-year point (drawn at mid-year) measures
            wide = wide.rolling(12, center=True, min_periods=12).sum()
        ax.fill_between(
            wide.index,
            wide.quantile(BAND[0], axis=1),
            wide.quantile(BAND[1], axis=1),
            color="#90a4ae",
            alpha=0.4,
            linewidth=0,
            label="simulated 5-95%",
        )
        ax.plot(wide.index, wide.median(axis=1), color="#37474f", lw=1.5, label="simulated median")
        obs = points[points["series"] == key]
        for role, marker, colour in (("check", "o", "#d81b60"), ("start", "s", "#1e88e5")):
            o = obs[obs["role"] == role]
            if o.empty:
                continue
            centres = [_centre(p) for p in o["period"]]
            ax.errorbar(
                centres,
                o["observed"],
                yerr=[o["observed"] - o["observed_low"], o["observed_high"] - o["observed"]],
                fmt=marker,
                color=colour,
                ms=5,
                capsize=3,
                label="observed" if role == "check" else "start (input)",
            )
        if key in verdicts.index:
            v = verdicts.loc[key]
            title = f"{s.label}: {v.verdict} (x{v.typical_factor:.1f})"
            ax.set_title(title, fontsize=10, color=VERDICT_COLOURS.get(v.verdict, "black"))
        else:
            ax.set_title(s.label, fontsize=10)
        ax.set_yscale("log")
        # the axis spans the observations and the simulated median, not a near-zero band edge
        shown = np.concatenate([obs["observed_low"], wide.median(axis=1).dropna()])
        shown = shown[shown > 0]
        if len(shown):
            ax.set_ylim(bottom=0.5 * shown.min())
        ax.set_ylabel(s.unit + (" (yearly)" if s.flow else ""), fontsize=8)
        ax.set_xlim(paths["date"].min(), paths["date"].max())
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Backtest: January 2023 to December 2025, simulated against observed "
        "(title: typical error as a factor)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _centre(period: str) -> pd.Timestamp:
    first, last = _period(period)
    return first + (last - first) / 2


def fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def markdown(points: pd.DataFrame, series: pd.DataFrame, seeds: Sequence[int], version: str) -> str:
    """backtest.md: the verdict per series, then every point."""
    seeds = list(seeds)
    tracks = int((series["verdict"] == "tracks").sum())
    lines = [
        "# Backtest: January 2023 to December 2025",
        "",
        f"aiecosim {version}; scenario `{SCENARIO}`; {len(seeds)} seeds. {tracks} of "
        f"{len(series)} series track history (typical error within a factor of "
        f"{TRACKS_FACTOR}); 'rough' is within {ROUGH_FACTOR}, 'misses' beyond. The typical error "
        "is the geometric mean of simulated median / observed over the checked points; the bias "
        "says whether the model runs high (above 1) or low. Sources: docs/calibration.md.",
        "",
        "| series | unit | points | typical error | bias | bands overlap | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in series.itertuples():
        lines.append(
            f"| {r.label} | {r.unit} | {r.points} | x{r.typical_factor:.2f} | "
            f"x{r.bias_factor:.2f} | {r.overlapping} of {r.points} | {r.verdict} |"
        )
    lines += [
        "",
        "## Points",
        "",
        "| series | period | observed [range] | simulated median [5-95%] | ratio | sources | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in points.itertuples():
        ratio = "start (input)" if r.role == "start" else f"{r.ratio:.2f}"
        lines.append(
            f"| {r.label} | {r.period} | {fmt(r.observed)} [{fmt(r.observed_low)}, "
            f"{fmt(r.observed_high)}] | {fmt(r.simulated_median)} [{fmt(r.simulated_low)}, "
            f"{fmt(r.simulated_high)}] | {ratio} | {r.sources} | {r.note} |"
        )
    return "\n".join(lines) + "\n"

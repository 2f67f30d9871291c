"""The one-page picture of a run: report.png.

`build_report_figure` draws nine panels from the model table (one row per month) and the firm
table (one row per firm per month); `plot_report` saves them as a PNG. Each archetype has the same
colour in every panel (`ARCHETYPE_COLOURS`). In panels with two y axes, solid lines belong to the
left axis and dashed lines to the right one.

The figure is built on `matplotlib.figure.Figure` with the Agg canvas and never touches pyplot's
global state, so reports can be drawn from several threads or worker processes at once. Missing
columns, NaN values, months without revenue, a single month and an empty firm table all give a
figure (with a short note in the panels that have nothing to show) rather than an error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from aiecosim.agents.strategy import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

FIGSIZE_IN: tuple[float, float] = (15.0, 12.0)
DPI: int = 110

PANEL_TITLES: tuple[str, ...] = (
    "Share of AI model revenue by archetype",
    "Firms alive and revenue concentration",
    "Prices: tokens, compute and energy",
    "Capability: frontier vs best open weights",
    "Data-centre electricity",
    "Enterprise adoption and returns",
    "Capex vs revenue",
    "Investor sentiment",
    "Largest firms by AI model revenue",
)

# Series that are not archetypes use neutral colours, so they are never mistaken for one.
_PRIMARY = "#222222"
_SECONDARY = "#7B3294"  # purple
_TERTIARY = "#A6761D"  # ochre
_CORRECTION = "#C51B7D"  # magenta
_NOTE = "#777777"
_FIRM_STYLES = ("-", "--", ":", "-.")
_TOP_FIRMS = 6
_HEADING_BOTTOM = 0.93  # figure fraction: panels below, heading and key above


def plot_report(
    model: pd.DataFrame, firms: pd.DataFrame, path: str | os.PathLike, title: str = ""
) -> Path:
    """Draw the report and write it to `path` as a PNG (whatever the file name's suffix)."""
    path = Path(path)
    fig = build_report_figure(model, firms, title)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def build_report_figure(model: pd.DataFrame, firms: pd.DataFrame, title: str = "") -> Figure:
    """The report as a matplotlib Figure (3 x 3 panels, titles in `PANEL_TITLES` order)."""
    model = _sorted(model, ["month"] if "month" in model.columns else [])
    firms = firms if firms is not None else pd.DataFrame()

    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    # Fixed margins rather than a layout engine: solving the layout draws the figure several
    # times and was most of the report's time (3 s of 4). The panels fill the figure below the
    # heading; the heading and the archetype key sit in the top strip, so the two never collide.
    fig.subplots_adjust(
        left=0.055, right=0.945, bottom=0.085, top=_HEADING_BOTTOM - 0.03, wspace=0.42, hspace=0.52
    )
    axes = fig.subplots(3, 3).ravel()

    x = _dates(model)
    heading = fig.suptitle(title or "AI ecosystem simulation", fontsize=14, y=0.994, va="top")
    heading.set_in_layout(False)
    subtitle = fig.text(0.5, 0.971, _subtitle(x), ha="center", va="top", fontsize=10)
    subtitle.set_in_layout(False)
    key = fig.legend(
        handles=[Patch(color=ARCHETYPE_COLOURS[a], label=ARCHETYPE_LABELS[a]) for a in ARCHETYPES],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.955),
        ncol=3,
        frameon=False,
        fontsize=10,
        borderaxespad=0.0,
    )
    key.set_in_layout(False)

    panels = (
        _revenue_share,
        _firms_alive,
        _prices,
        _capability,
        _energy,
        _adoption,
        _capex_revenue,
        _sentiment,
        _top_firms,
    )
    for ax, panel_title, draw in zip(axes, PANEL_TITLES, panels, strict=True):
        ax.set_title(panel_title, fontsize=11, loc="left")
        ax.tick_params(labelsize=8)
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        if draw is _top_firms:
            draw(ax, firms, x)
        elif len(model) == 0:
            _note(ax, "no months simulated")
        else:
            draw(ax, model, x)
        _date_axis(ax, x)
    return fig


# ------------------------------------------------------------------------------- panels
def _revenue_share(ax, model: pd.DataFrame, x) -> None:
    shares = np.vstack([_col(model, f"share_revenue_{a}") for a in ARCHETYPES]) * 100
    shares = _stack(ax, x, shares)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of the month's model revenue", fontsize=9)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    if shares.sum() <= 0:
        _note(ax, "no model revenue yet")


def _firms_alive(ax, model: pd.DataFrame, x) -> None:
    counts = np.vstack([_col(model, f"alive_{a}") for a in ARCHETYPES])
    counts = _stack(ax, x, counts, step=True)
    ax.set_ylabel("firms alive (stacked by archetype)", fontsize=9)
    ax.set_ylim(0, max(1.0, counts.sum(axis=0).max(initial=0.0)) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if counts.sum() <= 0:
        _note(ax, "no firm alive", y=0.8)

    right = ax.twinx()
    (h,) = right.plot(
        x,
        _col(model, "hhi_revenue"),
        color=_PRIMARY,
        ls="--",
        lw=1.5,
        label="Revenue concentration, HHI (right)",
        **_marker(x),
    )
    right.set_ylim(0, 10_000)
    right.set_ylabel("HHI of revenue shares (0–10,000)", fontsize=9)
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    right.tick_params(labelsize=8)
    _legend_below(ax, [Patch(color="#bbbbbb", label="Firms alive (left)"), h])


def _prices(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    token = _col(model, "token_price_usd_per_mtok")
    token = _positive(token)
    handles = []
    if np.isfinite(token).any():
        (h,) = ax.plot(x, token, color=_PRIMARY, lw=2, label="Tokens, $/Mtok (left, log)", **mk)
        handles.append(h)
        ax.set_yscale("log")
        decades = np.log10(np.nanmax(token) / np.nanmin(token))
        subs = (1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _dollars(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        _pad_log(ax, token)
    else:
        _note(ax, "no tokens sold through APIs", y=0.85)
    ax.set_ylabel("token price, USD per million tokens", fontsize=9)

    right = ax.twinx()
    right.tick_params(labelsize=8)
    for column, unit, colour in (
        ("compute_price_usd_per_gpu_hour", "/GPU-h", _SECONDARY),
        ("energy_price_usd_per_mwh", "/MWh", _TERTIARY),
    ):
        values = _col(model, column)
        base = _first_positive(values)
        if base is None:
            continue
        name = "Compute" if column.startswith("compute") else "Energy"
        label = f"{name}, index (100 = {_dollars(base)}{unit})"
        (h,) = right.plot(x, values / base * 100, color=colour, ls="--", lw=1.6, label=label, **mk)
        handles.append(h)
    right.set_ylabel("compute and energy, index (first month = 100)", fontsize=9)
    right.margins(y=0.2)
    _legend_below(ax, handles)


def _capability(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    handles = [
        ax.plot(x, _col(model, "frontier_capability"), color=_PRIMARY, lw=2, **mk)[0],
        ax.plot(
            x,
            _positive(_col(model, "best_open_capability")),  # 0 means no open-weights model
            color=ARCHETYPE_COLOURS["open_source_builder"],
            lw=2,
            **mk,
        )[0],
    ]
    handles[0].set_label("Frontier (best model)")
    handles[1].set_label("Best open-weights model")
    ax.set_ylabel("capability index (0–100)", fontsize=9)
    ax.margins(y=0.15)

    lag = _col(model, "open_lag_months")
    right = ax.twinx()
    right.tick_params(labelsize=8)
    (h,) = right.plot(x, lag, color=_SECONDARY, ls="--", lw=1.5, label="Open lag, months (right)")
    if len(x) == 1:
        h.set_marker("o")
    handles.append(h)
    right.set_ylabel("open-weights lag, months", fontsize=9)
    if np.isfinite(lag).any():
        right.set_ylim(bottom=0, top=max(1.0, np.nanmax(lag)) * 1.25)
    else:
        right.set_ylim(0, 1)
        right.set_yticks([])
        _note(ax, "no open-weights model: lag undefined", y=0.12)
    _legend_below(ax, handles)


def _energy(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    (h1,) = ax.plot(
        x,
        _col(model, "dc_energy_twh_per_year"),
        color=_PRIMARY,
        lw=2,
        label="Data-centre use, TWh/yr (left)",
        **mk,
    )
    ax.set_ylabel("TWh per year (annualised)", fontsize=9)
    _from_zero(ax)
    right = ax.twinx()
    right.tick_params(labelsize=8)
    (h2,) = right.plot(
        x,
        _col(model, "dc_grid_share") * 100,
        color=_SECONDARY,
        ls="--",
        lw=1.6,
        label="Share of grid electricity, % (right)",
        **mk,
    )
    right.set_ylabel("% of grid electricity", fontsize=9)
    _from_zero(right)
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    _legend_below(ax, [h1, h2])


def _adoption(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    h1 = ax.plot(
        x,
        _col(model, "adoption_rate") * 100,
        color=_PRIMARY,
        lw=2,
        label="Enterprises using AI",
        **mk,
    )[0]
    h2 = ax.plot(
        x,
        _col(model, "adopters_positive_roi_share") * 100,
        color=_SECONDARY,
        lw=2,
        label="Adopters with a positive return",
        **mk,
    )[0]
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of enterprises / of adopters", fontsize=9)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    _legend_below(ax, [h1, h2])


def _capex_revenue(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    capex = _col(model, "cum_ai_capex_usd") / 1e9
    revenue = _col(model, "cum_ai_revenue_usd") / 1e9
    h1 = ax.plot(x, capex, color=_PRIMARY, lw=2, label="Cumulative capex (left)", **mk)[0]
    h2 = ax.plot(x, revenue, color=_SECONDARY, lw=2, label="Cumulative revenue (left)", **mk)[0]
    handles = [h1, h2]
    if len(x) > 1 and (np.isfinite(capex) & np.isfinite(revenue)).any():
        gap = ax.fill_between(
            x,
            revenue,
            capex,
            where=np.nan_to_num(capex) > np.nan_to_num(revenue),
            color=_PRIMARY,
            alpha=0.08,
            linewidth=0,
            label="Capex not yet earned back",
        )
        handles.append(gap)
    ax.set_ylabel("USD bn, cumulative", fontsize=9)
    _from_zero(ax)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))

    right = ax.twinx()
    right.tick_params(labelsize=8)
    handles.append(
        right.plot(
            x,
            _col(model, "ai_revenue_usd_per_year") / 1e9,
            color=_SECONDARY,
            ls="--",
            lw=1.5,
            label="Revenue run-rate (right)",
            **mk,
        )[0]
    )
    handles.append(
        right.plot(
            x,
            _col(model, "required_revenue_usd_per_year") / 1e9,
            color=_PRIMARY,
            ls="--",
            lw=1.5,
            label="Revenue the capex requires (right)",
            **mk,
        )[0]
    )
    right.set_ylabel("USD bn per year", fontsize=9)
    _from_zero(right)
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _legend_below(ax, handles, ncol=2)


def _sentiment(ax, model: pd.DataFrame, x) -> None:
    mk = _marker(x)
    h1 = ax.plot(x, _col(model, "sentiment"), color=_PRIMARY, lw=2, label="Sentiment (left)", **mk)[
        0
    ]
    ax.axhline(0, color=_NOTE, lw=0.8)
    ax.set_ylabel("sentiment index (0 = neutral)", fontsize=9)
    ax.margins(y=0.15)
    right = ax.twinx()
    right.tick_params(labelsize=8)
    h2 = right.plot(
        x,
        _col(model, "investor_disagreement"),
        color=_SECONDARY,
        ls="--",
        lw=1.5,
        label="Investor disagreement (right)",
        **mk,
    )[0]
    right.set_ylabel("disagreement, std of theses (0–0.5)", fontsize=9)
    _from_zero(right)
    handles = [h1, h2]
    if "correction" in model.columns:
        corrected = model["correction"].fillna(False).astype(bool).to_numpy()
        for when in np.asarray(x)[corrected]:
            ax.axvline(when, color=_CORRECTION, lw=1.2, ls=":", alpha=0.9)
        if corrected.any():
            handles.append(
                Line2D([], [], color=_CORRECTION, lw=1.2, ls=":", label="Valuation correction")
            )
    _legend_below(ax, handles)


def _top_firms(ax, firms: pd.DataFrame, x) -> None:
    column = next((c for c in ("model_revenue_usd", "revenue_usd") if c in firms.columns), None)
    if column is None or firms.empty or "firm_id" not in firms.columns:
        _note(ax, "no firm data")
        ax.set_ylabel("USD per month", fontsize=9)
        return
    firms = _sorted(firms, [c for c in ("month", "firm_id") if c in firms.columns])
    revenue = pd.to_numeric(firms[column], errors="coerce").fillna(0.0)
    totals = revenue.groupby(firms["firm_id"]).sum().sort_values(ascending=False, kind="stable")
    top = totals[totals > 0].index[:_TOP_FIRMS]
    label_kind = "model" if column == "model_revenue_usd" else "total"
    if len(top) == 0:
        _note(ax, "no firm has revenue yet")
        ax.set_ylabel(f"{label_kind} revenue, USD per month", fontsize=9)
        return
    chosen = firms[firms["firm_id"].isin(top)]
    divisor, unit = _money_scale(revenue[firms["firm_id"].isin(top)].max())
    used: dict[str, int] = {}
    handles = []
    for firm_id in top:
        rows = chosen[chosen["firm_id"] == firm_id]
        first = rows.iloc[0]
        archetype = str(first.get("archetype", ""))
        name = str(first.get("name", f"firm {firm_id}"))
        style = _FIRM_STYLES[used.get(archetype, 0) % len(_FIRM_STYLES)]
        used[archetype] = used.get(archetype, 0) + 1
        dates = _dates(rows)
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float) / divisor
        alive = rows["alive"].fillna(True).astype(bool).to_numpy() if "alive" in rows else None
        if alive is not None:
            values = np.where(alive, values, np.nan)
        colour = ARCHETYPE_COLOURS.get(archetype, _NOTE)
        (h,) = ax.plot(dates, values, color=colour, ls=style, lw=1.8, label=name, **_marker(dates))
        handles.append(h)
        if alive is not None and alive.any() and not alive[-1]:
            last = np.flatnonzero(alive)[-1]
            ax.plot(dates[last], values[last], marker="X", color=colour, ms=7, ls="none")
    if any(not r for r in chosen.get("alive", pd.Series([True])).fillna(True).astype(bool)):
        handles.append(
            Line2D([], [], marker="X", color=_NOTE, ls="none", ms=7, label="exit (last month)")
        )
    ax.set_ylabel(f"{label_kind} revenue, {f'USD {unit}'.strip()} per month", fontsize=9)
    _from_zero(ax)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.3g}"))
    _legend_below(ax, handles, ncol=3 if len(handles) > 4 else 2)


# ------------------------------------------------------------------------------ helpers
def _stack(ax, x, values: np.ndarray, step: bool = False) -> np.ndarray:
    """Stacked areas, one per archetype (bars when there is a single month)."""
    values = np.nan_to_num(values, nan=0.0).clip(min=0.0)
    colours = [ARCHETYPE_COLOURS[a] for a in ARCHETYPES]
    if len(x) == 1:
        bottom = 0.0
        for value, colour in zip(values[:, 0], colours, strict=True):
            ax.bar(x, value, bottom=bottom, width=np.timedelta64(20, "D"), color=colour, alpha=0.85)
            bottom += value
    elif len(x) > 1:
        ax.stackplot(
            x, values, colors=colours, alpha=0.85, linewidth=0, step="post" if step else None
        )
    return values


def _from_zero(ax, headroom: float = 0.15) -> None:
    """y from 0 to the largest value drawn plus some room (1 when nothing positive is drawn)."""
    top = 0.0
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        if np.isfinite(y).any():
            top = max(top, float(np.nanmax(y)))
    ax.set_ylim(0, top * (1 + headroom) if top > 0 else 1.0)


def _sorted(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame()
    return df.sort_values(by, kind="stable", ignore_index=True) if by else df


def _dates(df: pd.DataFrame) -> np.ndarray:
    """The x values: the `date` column, or months after Jan 2025 where there is none."""
    if "date" in df.columns:
        dates = pd.to_datetime(df["date"], errors="coerce")
    elif "month" in df.columns:
        dates = pd.Timestamp("2025-01-01") + df["month"].astype(int).map(
            lambda m: pd.DateOffset(months=m)
        )
        dates = pd.to_datetime(dates)
    else:
        dates = pd.date_range("2025-01-01", periods=len(df), freq="MS").to_series()
    return dates.to_numpy(dtype="datetime64[ns]")


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats; NaN where the column is missing or a value is not a number."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _marker(x) -> dict:
    """Lines of one point are invisible: give them a marker."""
    return {"marker": "o", "markersize": 5} if len(x) == 1 else {}


def _note(ax, text: str, y: float = 0.5) -> None:
    ax.text(
        0.5,
        y,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=_NOTE,
        fontsize=9,
        style="italic",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )


def _legend_below(ax, handles: Sequence, ncol: int = 2) -> None:
    """A legend under the panel, clear of the data and of the date labels."""
    handles = [h for h in handles if h is not None]
    if not handles:
        return
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.11),
        ncol=ncol,
        fontsize=8,
        frameon=False,
        handlelength=2.2,
        columnspacing=1.2,
        borderaxespad=0.0,
    )


def _date_axis(ax, x) -> None:
    if len(x) == 0:
        return
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))
    valid = x[~np.isnat(x)]
    if len(valid) == 0:
        return
    first, last = valid.min(), valid.max()
    if first == last:
        pad = np.timedelta64(31, "D")
        ax.set_xlim(first - pad, last + pad)
    else:
        ax.set_xlim(first, last)


def _subtitle(x: np.ndarray) -> str:
    valid = x[~np.isnat(x)] if len(x) else x
    if len(valid) == 0:
        period = "no months simulated"
    else:
        first, last = pd.Timestamp(valid.min()), pd.Timestamp(valid.max())
        months = len(valid)
        period = f"{first:%b %Y} – {last:%b %Y}, {months} month{'s' if months != 1 else ''}"
    return (
        f"{period}  ·  colours mark archetypes in every panel  ·  "
        "in panels with two axes, solid lines read on the left axis, dashed lines on the right"
    )


def _positive(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, np.nan)


def _first_positive(values: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(values) & (values > 0))
    return float(values[ok[0]]) if len(ok) else None


def _pad_log(ax, values: np.ndarray) -> None:
    """Log limits with some room, and at least a factor of 4 so ticks always show."""
    lo, hi = np.nanmin(values), np.nanmax(values)
    centre = np.sqrt(lo * hi)
    span = max(hi / lo, 4.0) * 1.4
    ax.set_ylim(centre / np.sqrt(span), centre * np.sqrt(span))


def _dollars(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:.3g}"
    if value > 0:
        return "$" + np.format_float_positional(value, precision=2, fractional=False, trim="-")
    return f"${value:g}"


def _money_scale(largest: float) -> tuple[float, str]:
    for divisor, unit in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if largest >= divisor:
            return divisor, unit
    return 1.0, ""


# ---------------------------------------------------------------------------- drawing apart
def serve() -> int:
    """Draw one run's report.png in this process, for `aiecosim run`: the command starts this
    (``python -m aiecosim.views.report``) before it simulates, so that importing matplotlib and pandas
    here overlaps with the simulation; it then sends one JSON line, {"folder", "title"}, once
    the run's tables are written. End of input without a line: nothing to draw."""
    import json
    import sys

    from aiecosim.outputs import atomic_write

    line = sys.stdin.readline()
    if not line.strip():
        return 0
    job = json.loads(line)
    folder = Path(job["folder"])
    model = pd.read_parquet(folder / "model.parquet")
    firms = pd.read_parquet(folder / "firms.parquet")
    atomic_write(folder / "report.png", lambda p: plot_report(model, firms, p, title=job["title"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())

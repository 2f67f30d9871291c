"""The charts of a run, defined once, and the machinery that draws them.

A chart is data (`ChartSpec`): which model-table columns it plots (`Line`, `Stack`, `Marks`), in
which units (each column is multiplied by `Line.scale`: 100 turns a fraction into %, 1e-9 USD
into USD bn), on which y axis (dashed lines read on the right one), on what kind of range
(`Axis.limits`), with which title, colours and names. `CHARTS` holds the nine charts of a run.
Two views draw them:

* the run's report figure (`aiecosim.views.report`, report.png), from the model table written
  at the end of a run;
* the browser visualiser (`aiecosim.views.app`), from the running model's history, redrawn
  every month.

Both put a `ChartSpec` on a matplotlib Axes through one class, `Plot`, fed a `Months` table
(one array per column, one entry per simulated month), and both read the axis ranges from one
rule (`y_limits`: round numbers around the data, so ticks fall on round values and a growing
run moves a range only when its data cross the next round number) and the date axis from one
function (`date_axis`). Archetype colours and names come from `aiecosim.agents.archetypes` only;
series that are not archetypes use the neutral colours below, never an archetype's.

`LayeredChart` is the redrawing machinery of a chart that changes every month: the parts that
stay are drawn once and kept as pixels, and each month only what moved is drawn over them
(matplotlib's blitting). Agg canvas only, no pyplot state: charts can be drawn from several
threads or processes at once.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
from aiecosim.agents.archetypes import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

# Series that are not archetypes: neutral colours, so they are never mistaken for one.
PRIMARY = "#222222"
SECONDARY = "#7B3294"  # purple
TERTIARY = "#A6761D"  # ochre
CORRECTION = "#C51B7D"  # magenta
NOTE = "#777777"
GRID = "#e5e5e5"
NO_AI = "#cfcfcf"  # enterprises without an AI provider (the visualiser's network)
AREA_ALPHA = 0.85


# ------------------------------------------------------------------------------ formatting
def pct(fraction: float, digits: int = 0) -> str:
    """0.243 -> '24%'."""
    return "n/a" if not np.isfinite(fraction) else f"{fraction * 100:.{digits}f}%"


def money(usd: float) -> str:
    """1.4e12 -> '$1.4tn', 746.2e9 -> '$746.2bn', 2.86 -> '$2.86'."""
    if not np.isfinite(usd):
        return "n/a"
    for unit, scale in (("tn", 1e12), ("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(usd) >= scale:
            return f"${usd / scale:,.1f}{unit}"
    return f"${usd:,.2f}" if abs(usd) < 10 else f"${usd:,.0f}"


def number(value: float, fmt: str) -> str:
    return format(value, fmt) if np.isfinite(value) else "n/a"


def dollars(usd: float) -> str:
    """A tick label in dollars: '$1,000', '$12', '$0.05'."""
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:.3g}"
    if usd > 0:
        return "$" + np.format_float_positional(usd, precision=2, fractional=False, trim="-")
    return f"${usd:g}"


def money_scale(largest: float) -> tuple[float, str]:
    """The divisor and unit word that show `largest` in at most three digits before the point."""
    for divisor, unit in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if largest >= divisor:
            return divisor, unit
    return 1.0, ""


# ------------------------------------------------------------------------------ the data
class Months:
    """The model table as arrays, one entry per simulated month: `dates` (datetime64[D], the
    first day of each month), `x` (the same as matplotlib date numbers) and one float array
    per column. A column the table lacks reads as all NaN: a gap in the chart, not an error."""

    def __init__(self, dates: np.ndarray, columns: Mapping[str, np.ndarray]):
        self.dates = np.asarray(dates, dtype="datetime64[D]")
        self.x = mdates.date2num(self.dates) if len(self.dates) else np.zeros(0)
        self.columns = columns

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, name: str) -> np.ndarray:
        values = self.columns.get(name)
        return np.full(len(self), np.nan) if values is None else values

    def last(self, name: str) -> float:
        values = self[name]
        return float(values[-1]) if len(values) else float("nan")

    def span(self) -> tuple[np.datetime64, int] | None:
        """The first month and the number of months after it (None: no dated month)."""
        valid = self.dates[~np.isnat(self.dates)]
        if not len(valid):
            return None
        first, last = valid.min().astype("datetime64[M]"), valid.max().astype("datetime64[M]")
        return first, int((last - first).astype(int))


# ------------------------------------------------------------------------------ definitions
@dataclass(frozen=True)
class Axis:
    """A y axis: its label (with the unit), its range rule and its tick labels.

    limits: "zero" (from 0 to a round number above the data), "around" (round numbers either
    side of 0), "log" (a log axis between round numbers 1, 2, 5 x 10^k around the data) or a
    fixed (low, high)."""

    label: str
    limits: str | tuple[float, float] = "zero"
    at_least: float = 0.0  # "zero"/"around": the range reaches at least this far from 0
    headroom: float = 1.08  # "zero": the top is a round number at least this times the data's
    ticks: Callable[[float], str] | None = None  # tick label of a value; None: matplotlib's
    integer: bool = False  # whole-number ticks (counts)


@dataclass(frozen=True)
class Line:
    """One series: a model-table column times `scale`, drawn as a line.

    kind: "value" (as it is), "positive" (0 or less is a gap: 'none yet') or "index"
    (100 = its first positive value). `value` writes a month's column value with its unit,
    for legends ('$2.86/Mtok'). `missing` is the note shown when the line has no value at all."""

    column: str
    name: str
    colour: str
    value: Callable[[float], str]
    scale: float = 1.0
    kind: str = "value"
    right: bool = False  # on the right axis, dashed
    width: float = 2.0
    missing: str | None = None

    def values(self, months: Months) -> np.ndarray:
        values = months[self.column] * self.scale
        if self.kind == "value":
            return values
        positive = np.where(values > 0, values, np.nan)
        if self.kind == "positive":
            return positive
        base = first_positive(values)
        return positive / base * 100 if base is not None else positive


@dataclass(frozen=True)
class Stack:
    """Stacked areas, one per archetype, of the columns `prefix + archetype` times `scale`
    (a step per month when `step`). `name`: the stack's legend entry in the report (None:
    the figure's archetype key explains it); `empty`: the note when every value is 0."""

    prefix: str
    value: Callable[[float], str]
    scale: float = 1.0
    step: bool = False
    name: str | None = None
    empty: str = ""

    def values(self, months: Months) -> np.ndarray:
        values = np.vstack([months[f"{self.prefix}{a}"] for a in ARCHETYPES]) * self.scale
        return np.nan_to_num(values, nan=0.0).clip(min=0.0)


@dataclass(frozen=True)
class Marks:
    """Dotted vertical lines at the months where a column is true."""

    column: str
    name: str
    colour: str = CORRECTION


@dataclass(frozen=True)
class Gap:
    """Shading between two of the chart's lines (by column) where the first is above the
    second."""

    upper: str
    lower: str
    name: str
    colour: str = PRIMARY


@dataclass(frozen=True)
class ChartSpec:
    """One chart of a run: everything both views need to draw it."""

    key: str
    title: str
    left: Axis
    right: Axis | None = None
    lines: tuple[Line, ...] = ()
    stack: Stack | None = None
    gap: Gap | None = None
    marks: Marks | None = None
    zero_line: bool = False  # a thin line at 0 on the left axis
    source: str = "model"  # the table it reads: "model" (one row a month) or "firms"

    def columns(self) -> list[str]:
        """The model-table columns the chart reads."""
        names = [line.column for line in self.lines]
        if self.stack is not None:
            names += [f"{self.stack.prefix}{a}" for a in ARCHETYPES]
        if self.marks is not None:
            names.append(self.marks.column)
        return names


def _percent_ticks(value: float) -> str:
    return f"{value:.0f}%"


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _per_mtok(usd: float) -> str:
    return f"{money(usd)}/Mtok"


CHARTS: dict[str, ChartSpec] = {
    spec.key: spec
    for spec in (
        ChartSpec(
            "revenue",
            "Share of AI model revenue by archetype",
            Axis("% of model revenue", limits=(0.0, 100.0), ticks=_percent_ticks),
            stack=Stack("share_revenue_", pct, scale=100.0, empty="no model revenue yet"),
        ),
        ChartSpec(
            "firms",
            "Firms alive and revenue concentration",
            Axis("firms alive", integer=True),
            Axis("revenue HHI (0–10,000)", limits=(0.0, 10_000.0), ticks=_thousands),
            lines=(
                Line(
                    "hhi_revenue",
                    "Revenue HHI",
                    PRIMARY,
                    lambda v: number(v, ",.0f"),
                    right=True,
                    width=1.5,
                ),
            ),
            stack=Stack(
                "alive_",
                lambda v: number(v, ".0f"),
                step=True,
                name="Firms alive",
                empty="no firm alive",
            ),
        ),
        ChartSpec(
            "prices",
            "Prices: tokens, compute and energy",
            Axis("USD per Mtok (log)", limits="log", ticks=dollars),
            Axis("index, month 1 = 100", ticks=lambda v: f"{v:g}"),
            lines=(
                Line(
                    "token_price_usd_per_mtok",
                    "Tokens",
                    PRIMARY,
                    _per_mtok,
                    kind="positive",
                    missing="no tokens sold through APIs",
                ),
                Line(
                    "compute_price_usd_per_gpu_hour",
                    "Compute",
                    SECONDARY,
                    lambda v: f"{money(v)}/GPU-h",
                    kind="index",
                    right=True,
                    width=1.6,
                ),
                Line(
                    "energy_price_usd_per_mwh",
                    "Energy",
                    TERTIARY,
                    lambda v: f"{money(v)}/MWh",
                    kind="index",
                    right=True,
                    width=1.6,
                ),
            ),
        ),
        ChartSpec(
            "capability",
            "Capability: frontier vs best open weights",
            # no headroom: the index's ceiling (`cap_max`, 100) is the natural top
            Axis("capability index (0–100)", at_least=100.0, headroom=1.0),
            Axis("open-weights lag, months", at_least=12.0),
            lines=(
                Line("frontier_capability", "Frontier", PRIMARY, lambda v: number(v, ".1f")),
                Line(
                    "best_open_capability",  # 0: no open-weights model yet
                    "Best open weights",
                    ARCHETYPE_COLOURS["open_source_builder"],
                    lambda v: number(v, ".1f"),
                    kind="positive",
                ),
                Line(
                    "open_lag_months",
                    "Open-weights lag",
                    SECONDARY,
                    lambda v: f"{number(v, '.0f')} months",
                    right=True,
                    width=1.5,
                    missing="no open-weights model: lag undefined",
                ),
            ),
        ),
        ChartSpec(
            "energy",
            "Data-centre electricity",
            Axis("TWh per year"),
            Axis("% of grid electricity", ticks=lambda v: f"{v:g}%"),
            lines=(
                Line(
                    "dc_energy_twh_per_year",
                    "Data-centre use",
                    PRIMARY,
                    lambda v: f"{number(v, ',.0f')} TWh/yr",
                ),
                Line(
                    "dc_grid_share",
                    "Share of grid electricity",
                    SECONDARY,
                    lambda v: pct(v, 1),
                    scale=100.0,
                    right=True,
                    width=1.6,
                ),
            ),
        ),
        ChartSpec(
            "adoption",
            "Enterprise adoption and returns",
            Axis("% of enterprises / adopters", limits=(0.0, 100.0), ticks=_percent_ticks),
            lines=(
                Line("adoption_rate", "Enterprises using AI", PRIMARY, pct, scale=100.0),
                Line(
                    "adopters_positive_roi_share",
                    "Adopters with a positive return",
                    SECONDARY,
                    pct,
                    scale=100.0,
                ),
            ),
        ),
        ChartSpec(
            "capex",
            "Capex vs revenue",
            Axis("USD bn, cumulative", ticks=lambda v: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"),
            Axis("USD bn per year", ticks=lambda v: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"),
            lines=(
                Line("cum_ai_capex_usd", "Cumulative capex", PRIMARY, money, scale=1e-9),
                Line("cum_ai_revenue_usd", "Cumulative revenue", TERTIARY, money, scale=1e-9),
                Line(
                    "ai_revenue_usd_per_year",
                    "Revenue run-rate",
                    TERTIARY,
                    lambda v: f"{money(v)}/yr",
                    scale=1e-9,
                    right=True,
                    width=1.5,
                ),
                Line(
                    "required_revenue_usd_per_year",
                    "Revenue the capex requires",
                    PRIMARY,
                    lambda v: f"{money(v)}/yr",
                    scale=1e-9,
                    right=True,
                    width=1.5,
                ),
            ),
            gap=Gap("cum_ai_capex_usd", "cum_ai_revenue_usd", "Capex not yet earned back"),
        ),
        ChartSpec(
            "sentiment",
            "Investor sentiment",
            Axis("sentiment (0 = neutral)", limits="around", at_least=0.5),
            Axis("disagreement (std)", at_least=0.25),
            lines=(
                Line("sentiment", "Sentiment", PRIMARY, lambda v: number(v, "+.2f")),
                Line(
                    "investor_disagreement",
                    "Investor disagreement",
                    SECONDARY,
                    lambda v: number(v, ".2f"),
                    right=True,
                    width=1.5,
                ),
            ),
            marks=Marks("correction", "Valuation correction"),
            zero_line=True,
        ),
        ChartSpec(
            "top_firms",
            "Largest firms by AI model revenue",
            Axis("model revenue, USD per month"),
            source="firms",
        ),
    )
}


# ------------------------------------------------------------------------------ axes
def date_axis(ax, first: np.datetime64, months: int) -> None:
    """x from the first day of month `first` to that of `months` months later (a month either
    side when `months` is 0), in matplotlib date numbers; ticks fixed once on round months
    (a date locator would recompute them at every draw): Januaries every year or more for a
    span over four years, else about six month ticks."""
    start = np.datetime64(first, "M")
    ends = start + np.array([0, months], dtype="timedelta64[M]")
    low, high = mdates.date2num(ends.astype("datetime64[D]"))
    if months == 0:
        low, high = low - 31, high + 31
    ax.set_xlim(low, high)
    if months > 48:
        every = 12 * max(1, int(np.ceil(months / 12 / 6)))
        offset = (12 - int(start.astype(int)) % 12) % 12  # months to the first January
        fmt = "%Y"
    else:
        every, offset, fmt = max(1, int(np.ceil(months / 6))), 0, "%b %Y"
    ticks = start + np.arange(offset, months + 1, every).astype("timedelta64[M]")
    ticks = ticks.astype("datetime64[D]")
    ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(ticks)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))
    ax.xaxis.set_minor_locator(NullLocator())


ROUND_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
LOG_STEPS = (1.0, 2.0, 5.0, 10.0)  # the log axis's tick values: its limits are ticks too


def round_up(x: float, steps: tuple[float, ...] = ROUND_STEPS) -> float:
    """The smallest round number (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten) >= x > 0."""
    base = 10.0 ** np.floor(np.log10(x))
    return next(step * base for step in steps if step * base >= x * (1 - 1e-12))


def round_down(x: float, steps: tuple[float, ...] = ROUND_STEPS) -> float:
    """The largest round number <= x > 0."""
    base = 10.0 ** np.floor(np.log10(x))
    return next(step * base for step in reversed(steps) if step * base <= x * (1 + 1e-12))


def y_limits(
    rule: str | tuple[float, float],
    series: Sequence[np.ndarray],
    at_least: float = 0.0,
    headroom: float = 1.08,
) -> tuple[float, float]:
    """The y range for the data in `series` under an `Axis.limits` rule: round numbers around
    the data, reaching at least `at_least` from zero (a log axis with nothing positive to show:
    1 to 10). It depends on the data's extremes only, so a growing run keeps its range (and its
    frame) until the data cross the next round number."""
    if isinstance(rule, tuple):
        return rule
    finite = [s[np.isfinite(s)] for s in series]
    values = np.concatenate(finite) if finite else np.zeros(0)
    if rule == "log":
        values = values[values > 0]
        if not len(values):
            return 1.0, 10.0
        return (
            round_down(values.min() / 1.1, LOG_STEPS),
            round_up(values.max() * 1.1, LOG_STEPS),
        )
    if rule == "around":  # both signs
        low, high = (min(values.min(), 0.0), max(values.max(), 0.0)) if len(values) else (-1, 1)
        pad = max(0.05, 0.1 * (high - low))
        return -max(at_least, round_up(pad - low)), max(at_least, round_up(high + pad))
    top = float(values.max()) if len(values) else 0.0  # "zero"
    return 0.0, max(at_least, round_up(top * headroom) if top > 0 else 1.0)


def y_axis(ax, axis: Axis, fonts: Fonts) -> None:
    """Label, scale, locator and tick format of one y axis."""
    ax.set_ylabel(axis.label, fontsize=fonts.label)
    ax.tick_params(labelsize=fonts.ticks)
    if axis.limits == "log":
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=LOG_STEPS[:3], numticks=8))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(1.0, 10.0)  # until there is data
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=axis.integer))
    ax.yaxis.set_minor_locator(NullLocator())
    if axis.ticks is not None:
        ticks = axis.ticks
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: ticks(v)))
    if isinstance(axis.limits, tuple):
        ax.set_ylim(*axis.limits)


# ------------------------------------------------------------------------------ drawing
@dataclass(frozen=True)
class Fonts:
    """Font sizes in points: tick labels, axis labels, notes."""

    ticks: float = 8.0
    label: float = 9.0
    note: float = 9.0


@dataclass(frozen=True)
class Key:
    """A legend entry: its text and how its swatch looks ("line", "dashed", "dotted", "area",
    "shade" (a faint area) or "dot")."""

    label: str
    colour: str
    shape: str = "line"
    width: float = 2.0


class Plot:
    """A `ChartSpec` drawn on one Axes (and its twin for the right axis).

    The artists are made once, empty; `update` gives them a month table's data and sets the
    y ranges by `y_limits`. What `update` changes is in two lists, so a caller can redraw just
    that: `frame` (the y axes, with their ticks, labels and grid lines, and the spines over
    them) changes when a y range moves, `moving` (areas, lines, shading, marks, notes) every
    update. Everything else (x axis, x grid, background) stays for the plot's life."""

    def __init__(
        self,
        ax,
        spec: ChartSpec,
        first: np.datetime64,
        months: int,
        fonts: Fonts = Fonts(),
        waiting: str = "",
    ):
        if spec.source != "model":
            raise ValueError(f"chart {spec.key!r} reads the {spec.source} table, not the months")
        self.spec, self.ax, self.waiting = spec, ax, waiting
        date_axis(ax, first, months)
        ax.tick_params(labelsize=fonts.ticks)
        ax.grid(True, color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        y_axis(ax, spec.left, fonts)
        self.twin = None
        if spec.right is not None:
            self.twin = ax.twinx()
            y_axis(self.twin, spec.right, fonts)
        self.areas: list[PolyCollection] = []
        if spec.stack is not None:
            for a in ARCHETYPES:
                area = PolyCollection(
                    [], facecolors=ARCHETYPE_COLOURS[a], alpha=AREA_ALPHA, linewidths=0
                )
                ax.add_collection(area, autolim=False)
                self.areas.append(area)
        self.gap = None
        if spec.gap is not None:
            self.gap = PolyCollection([], facecolors=spec.gap.colour, alpha=0.08, linewidths=0)
            ax.add_collection(self.gap, autolim=False)
        self.zero = ax.axhline(0, color=NOTE, lw=0.8) if spec.zero_line else None
        self.lines = []
        for line in spec.lines:
            target = self.twin if line.right else ax
            (drawn,) = target.plot(
                [], [], color=line.colour, lw=line.width, ls="--" if line.right else "-"
            )
            self.lines.append(drawn)
        self.marks = None
        if spec.marks is not None:
            self.marks = LineCollection(
                [], colors=spec.marks.colour, linewidths=1.2, linestyles=":",
                transform=ax.get_xaxis_transform(),
            )  # fmt: skip
            ax.add_collection(self.marks, autolim=False)
        self.note = ax.text(
            0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center", color=NOTE,
            fontsize=fonts.note, style="italic", zorder=5,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )  # fmt: skip
        self.note.set_visible(False)
        axes = [ax] if self.twin is None else [ax, self.twin]
        self.frame = [
            *(a.yaxis for a in axes),
            *(s for a in axes for s in a.spines.values() if s.get_visible()),
        ]
        self.moving = [
            *self.areas,
            *filter(None, (self.gap, self.zero)),
            *self.lines,
            *filter(None, (self.marks, self.note)),
        ]
        self.corrections = 0

    def update(self, months: Months) -> None:
        """Show `months`: the lines' data, the y ranges, the marks and the notes."""
        spec, n = self.spec, len(months)
        x = months.x
        notes = [self.waiting] if n == 0 and self.waiting else []
        left: list[np.ndarray] = []
        right: list[np.ndarray] = []
        if spec.stack is not None:
            values = spec.stack.values(months)
            self._stack(x, values)
            left.append(values.sum(axis=0))
            if n and values.sum() <= 0 and spec.stack.empty:
                notes.append(spec.stack.empty)
        drawn_values = {}
        for line, drawn in zip(spec.lines, self.lines, strict=True):
            values = drawn_values[line.column] = line.values(months)
            drawn.set_data(x, values)
            drawn.set_marker("o" if n == 1 else "")
            (right if line.right else left).append(values)
            if n and line.missing and not np.isfinite(values).any():
                notes.append(line.missing)
        if self.gap is not None:  # between the lower line and the higher of the two
            lower = np.nan_to_num(drawn_values[spec.gap.lower])
            upper = np.maximum(np.nan_to_num(drawn_values[spec.gap.upper]), lower)
            outline = np.column_stack([np.r_[x, x[::-1]], np.r_[upper, lower[::-1]]])
            self.gap.set_verts([outline] if n > 1 else [])
        if self.zero is not None:
            self.zero.set_visible(n > 0)
        if self.marks is not None:
            when = x[np.nan_to_num(months[spec.marks.column]) > 0]
            self.corrections = len(when)
            self.marks.set_segments([[(t, 0.0), (t, 1.0)] for t in when])
        self.note.set_text("\n".join(notes))
        self.note.set_visible(bool(notes))
        self._limits(self.ax, spec.left, left)
        if self.twin is not None:
            self._limits(self.twin, spec.right, right)

    @staticmethod
    def _limits(ax, axis: Axis, series: list[np.ndarray]) -> None:
        limits = y_limits(axis.limits, series, axis.at_least, axis.headroom)
        if tuple(ax.get_ylim()) != limits:
            ax.set_ylim(*limits)

    def _stack(self, x: np.ndarray, values: np.ndarray) -> None:
        """The stacked bands' outlines: one closed polygon per archetype."""
        if not len(x):
            for area in self.areas:
                area.set_verts([])
            return
        if len(x) == 1:  # a single month would be an invisible area: give it a month's width
            x, values = np.array([x[0], x[0] + 30]), np.repeat(values, 2, axis=1)
        elif self.spec.stack.step:  # each month's value holds until the next month
            x, values = np.repeat(x, 2)[1:], np.repeat(values, 2, axis=1)[:, :-1]
        tops = np.cumsum(values, axis=0)
        bottoms = np.vstack([np.zeros(len(x)), tops[:-1]])
        for area, top, bottom in zip(self.areas, tops, bottoms, strict=True):
            area.set_verts([np.column_stack([np.r_[x, x[::-1]], np.r_[top, bottom[::-1]]])])

    @property
    def legend_reads_data(self) -> bool:
        """Whether the still figure's legend depends on the data (an index's base value, the
        key of marks that only shows when there are some)."""
        return self.spec.marks is not None or any(s.kind == "index" for s in self.spec.lines)

    def keys(self, months: Months | None, live: bool) -> list[Key]:
        """The legend. live: this month's value after each name, every archetype of a stack
        (the visualiser); else what a still figure needs: the axis each line reads on and an
        index's base value (the report; `months` may be None where `legend_reads_data` is
        false, for a legend drawn before the data come)."""
        spec = self.spec
        n = len(months) if months is not None else 0
        keys: list[Key] = []
        if spec.stack is not None:
            if live:
                for a in ARCHETYPES:
                    value = spec.stack.value(months.last(f"{spec.stack.prefix}{a}"))
                    label = f"{ARCHETYPE_LABELS[a]} {value}" if n else ARCHETYPE_LABELS[a]
                    keys.append(Key(label, ARCHETYPE_COLOURS[a], "area"))
            elif spec.stack.name:
                side = " (left)" if spec.right is not None else ""
                keys.append(Key(f"{spec.stack.name}{side}", "#bbbbbb", "area"))
        for line in spec.lines:
            shape = "dashed" if line.right else "line"
            if live:
                label = f"{line.name} {line.value(months.last(line.column))}" if n else line.name
            else:
                notes = []
                if spec.right is not None:
                    notes.append("right" if line.right else "left")
                    if not line.right and spec.left.limits == "log":
                        notes.append("log")
                base = None
                if line.kind == "index" and months is not None:
                    base = first_positive(months[line.column])
                if base is not None:
                    notes.append(f"100 = {line.value(base)}")
                label = f"{line.name} ({', '.join(notes)})" if notes else line.name
            keys.append(Key(label, line.colour, shape, line.width))
        if spec.gap is not None:
            keys.append(Key(spec.gap.name, spec.gap.colour, "shade"))
        if spec.marks is not None:
            if live:
                label = f"{spec.marks.name}s {self.corrections}" if n else spec.marks.name
                keys.append(Key(label, spec.marks.colour, "dotted", 1.2))
            elif self.corrections:
                keys.append(Key(spec.marks.name, spec.marks.colour, "dotted", 1.2))
        return keys


def first_positive(values: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(values) & (values > 0))
    return float(values[ok[0]]) if len(ok) else None


# ------------------------------------------------------------------------------ redrawing
@contextmanager
def left_out(artists: Iterable):
    """Draw the figure without these artists (matplotlib skips animated ones)."""
    artists = [a for a in artists if not a.get_animated()]
    for artist in artists:
        artist.set_animated(True)
    try:
        yield
    finally:
        for artist in artists:
            artist.set_animated(False)


def encode_png(canvas: FigureCanvasAgg, level: int = 1) -> bytes:
    """The canvas as an RGB PNG, written here rather than by Pillow: rows unfiltered and
    zlib at its fastest level by default. A chart is flat colour, which compresses nearly as
    well that way as with Pillow's per-row filters, in half the time."""
    width, height = canvas.get_width_height()
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # each row's filter type: none
    rgb, rgba = rows[:, 1:].reshape(height, width, 3), np.asarray(canvas.buffer_rgba())
    for channel in range(3):  # one plane at a time: 2 ms, where rgba[..., :3] at once took 15
        rgb[..., channel] = rgba[..., channel]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, not interlaced
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows, level)),  # (the array's buffer: no copy)
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class LayeredChart:
    """A figure redrawn in layers, for a chart that changes every month (matplotlib's
    blitting). Subclasses make the artists and put the ones that change in two lists:

    * `frame`: the y axes and spines, drawn again only when the `frame_state` (the y ranges)
      changes, a few times a run;
    * `moving`: the lines, areas and points, drawn every month;

    everything else is the base, drawn by a full `canvas.draw()` (with the two lists left out)
    once, and again only when the `base_state` changes. A month restores the frame's pixels
    and draws the moving artists over them. A lock keeps two renders of one figure apart."""

    def __init__(self, size_in: tuple[float, float], dpi: int, margins: dict):
        self.lock = threading.Lock()
        self.fig = Figure(figsize=size_in, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(**margins)
        self.frame: list = []
        self.moving: list = []
        self._base = self._frame = None
        self._base_key: tuple | None = None
        self._frame_key: tuple | None = None
        self.bases_drawn = self.frames_drawn = 0  # how often each layer was drawn

    def base_state(self) -> tuple:
        """What the base shows that can change: the x ranges."""
        return tuple(ax.get_xlim() for ax in self.fig.axes)

    def frame_state(self) -> tuple:
        return tuple(ax.get_ylim() for ax in self.fig.axes)

    def draw_layers(self) -> None:
        """Bring the canvas up to date, drawing only the layers whose state changed."""
        base_key = self.base_state()
        frame_key = (base_key, self.frame_state())
        if self._base is None or base_key != self._base_key:
            with left_out([*self.frame, *self.moving]):
                self.canvas.draw()
            self._base, self._base_key, self._frame = self._copy(), base_key, None
            self.bases_drawn += 1
        if self._frame is None or frame_key != self._frame_key:
            self.canvas.restore_region(self._base)
            for artist in self.frame:
                self.fig.draw_artist(artist)
            self._frame, self._frame_key = self._copy(), frame_key
            self.frames_drawn += 1
        else:
            self.canvas.restore_region(self._frame)
        for artist in self.moving:
            self.fig.draw_artist(artist)

    def _copy(self):
        return self.canvas.copy_from_bbox(self.fig.bbox)


CHART_SIZE_IN = (4.2, 2.4)  # a visualiser chart: 420 x 240 pixels, a third of a laptop's width
CHART_DPI = 100


class TimeChart(LayeredChart):
    """One `ChartSpec` as its own small figure, updated in place every month (the
    visualiser's panels): x spans the whole run, so the lines grow as months pass."""

    def __init__(self, spec: ChartSpec, first: np.datetime64, months: int, waiting: str = ""):
        super().__init__(
            CHART_SIZE_IN, CHART_DPI, {"left": 0.15, "right": 0.86, "top": 0.95, "bottom": 0.12}
        )
        self.spec = spec
        self.plot = Plot(self.fig.add_subplot(), spec, first, months, Fonts(7.5, 8.0, 9.0), waiting)
        self.frame, self.moving = self.plot.frame, self.plot.moving

    def render(self, months: Months) -> tuple[bytes, list[Key]]:
        """The chart for `months` as PNG bytes, and its legend with their last values."""
        with self.lock:
            self.plot.update(months)
            self.draw_layers()
            return encode_png(self.canvas), self.plot.keys(months, live=True)

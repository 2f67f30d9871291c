"""The one-page picture of a run: report.png.

Nine panels, the charts of `aiecosim.views.charts.CHARTS` in their order (`PANEL_TITLES`): eight
drawn from the model table (one row per month) by the same definitions the browser visualiser
draws from, and the largest firms by AI model revenue from the firm table (one row per firm per
month). Each archetype has the same colour in every panel; in panels with two y axes, solid
lines belong to the left axis and dashed lines to the right one. Missing columns, NaN values,
months without revenue, a single month and an empty firm table all give a figure (with a short
note in the panels that have nothing to show) rather than an error.

`aiecosim run` draws the report in a second process (`serve`, started as the command starts),
in two layers so that little is left to draw once the run's tables exist: while the model
simulates, everything that does not depend on the data (headings, titles, date axes, grid,
archetype key, most legends, the y axes of fixed range) is drawn and kept as pixels
(`ReportFigure.draw_base`), and a rehearsal with made-up data warms matplotlib's caches; once
the tables exist, only the other y axes, the data and the few legends that name values are
drawn over the kept pixels, the bottom row of panels by a helper forked from that process
(`RowHelper`), on the other core. The picture is the one a single full drawing gives. The
tables reach that process as soon as the simulation ends (Arrow files in a scratch folder), so
that it draws while the run writes its own folder; it reads them with pyarrow and never
imports pandas or the model.

The figure is built on `matplotlib.figure.Figure` with the Agg canvas and never touches pyplot's
global state, so reports can be drawn from several threads or worker processes at once.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from aiecosim.agents.archetypes import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from aiecosim.views.charts import (
    AREA_ALPHA,
    CHARTS,
    GRID,
    NOTE,
    Fonts,
    Key,
    Months,
    Plot,
    date_axis,
    encode_png,
    left_out,
    money_scale,
    y_axis,
    y_limits,
)
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    import pandas as pd

FIGSIZE_IN: tuple[float, float] = (15.0, 12.0)
DPI: int = 110
PANELS: tuple[str, ...] = tuple(CHARTS)  # every chart, in the definitions' order
PANEL_TITLES: tuple[str, ...] = tuple(CHARTS[key].title for key in PANELS)
FONTS = Fonts(ticks=8.0, label=9.0, note=9.0)
NO_MONTHS = "no months simulated"

_FIRM_STYLES = ("-", "--", ":", "-.")  # firms of one archetype: one colour, told apart by style
_TOP_FIRMS = 6
_HEADING_BOTTOM = 0.93  # figure fraction: panels below, heading and key above
_SHAPES = {"line": "-", "dashed": "--", "dotted": ":"}
# How far above a row's panels its band begins, in pixels: over the top y tick label's
# half-height (4-6 px at 8 pt), short of the legends under the row above (40 px and more).
_BAND_MARGIN_PX = 12


def plot_report(
    model: pd.DataFrame, firms: pd.DataFrame, path: str | os.PathLike, title: str = ""
) -> Path:
    """Draw the report and write it to `path` as a PNG (whatever the file name's suffix)."""
    path = Path(path)
    report = ReportFigure.from_frames(model, firms, title)
    report.render()
    path.write_bytes(report.png())
    return path


def build_report_figure(model: pd.DataFrame, firms: pd.DataFrame, title: str = "") -> Figure:
    """The report as a matplotlib Figure (3 x 3 panels, titles in `PANEL_TITLES` order)."""
    return ReportFigure.from_frames(model, firms, title).fig


# ------------------------------------------------------------------------------- the tables
@dataclass
class FirmMonths:
    """The firm table's columns the report reads, one entry per firm and month."""

    firm_id: np.ndarray  # int
    name: np.ndarray  # str (object)
    archetype: np.ndarray  # str (object)
    dates: np.ndarray  # datetime64[D]
    revenue_usd: np.ndarray  # float: model revenue, or total revenue where the table lacks it
    model_revenue: bool  # which of the two `revenue_usd` is
    alive: np.ndarray | None  # bool, None where the table lacks it


REVENUE_COLUMNS = ("model_revenue_usd", "revenue_usd")  # the first the firm table has


def months_from_frame(model: pd.DataFrame) -> Months:
    """The model table (a DataFrame) as a `Months` table, in month order."""
    import pandas as pd

    if model is None:
        model = pd.DataFrame()
    if "month" in model.columns:
        model = model.sort_values("month", kind="stable", ignore_index=True)
    columns = {
        name: pd.to_numeric(model[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for spec in CHARTS.values()
        for name in spec.columns()
        if name in model.columns
    }
    return Months(_frame_dates(model), columns)


def firms_from_frame(firms: pd.DataFrame | None) -> FirmMonths | None:
    """The firm table (a DataFrame) for the report; None when it has no firm to show."""
    import pandas as pd

    if firms is None or firms.empty or "firm_id" not in firms.columns:
        return None
    column = next((c for c in REVENUE_COLUMNS if c in firms.columns), None)
    if column is None:
        return None
    if "month" in firms.columns:
        firms = firms.sort_values(["month", "firm_id"], kind="stable", ignore_index=True)
    n = len(firms)
    alive = None
    if "alive" in firms.columns:  # missing values: alive
        alive = firms["alive"].astype(object).where(firms["alive"].notna(), True).astype(bool)
    return FirmMonths(
        firm_id=firms["firm_id"].to_numpy(dtype=np.int64),
        name=_texts(firms, "name", n),
        archetype=_texts(firms, "archetype", n),
        dates=_frame_dates(firms),
        revenue_usd=pd.to_numeric(firms[column], errors="coerce").to_numpy(float, na_value=np.nan),
        model_revenue=column == "model_revenue_usd",
        alive=alive.to_numpy() if alive is not None else None,
    )


def _texts(frame: pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name not in frame.columns:
        return np.full(n, None, dtype=object)
    return frame[name].to_numpy(dtype=object)


def _frame_dates(frame: pd.DataFrame) -> np.ndarray:
    """The x values: the `date` column, or months after Jan 2025 where there is none."""
    import pandas as pd

    if "date" in frame.columns:
        dates = pd.to_datetime(frame["date"], errors="coerce").to_numpy(dtype="datetime64[ns]")
        return dates.astype("datetime64[D]")
    first = np.datetime64("2025-01", "M")
    if "month" in frame.columns:
        months = pd.to_numeric(frame["month"], errors="coerce").fillna(0).to_numpy(np.int64)
    else:
        months = np.arange(len(frame))
    return (first + months.astype("timedelta64[M]")).astype("datetime64[D]")


def read_run_tables(folder: Path) -> tuple[Months, FirmMonths | None]:
    """A run folder's model.parquet and firms.parquet (`read_tables`)."""
    return read_tables(folder / "model.parquet", folder / "firms.parquet")


def read_tables(model_path: Path, firms_path: Path) -> tuple[Months, FirmMonths | None]:
    """The model and firm tables from Parquet files, or from Arrow IPC files (any other
    suffix: what `aiecosim run` hands its drawer before the run folder is written), read with
    pyarrow alone: the drawing process does not import pandas, which would cost it seconds
    (pyarrow's own conversion to numpy imports it, so the columns come out as Python lists;
    they are short)."""
    import pyarrow as pa

    def read(path: Path, wanted: list[str]) -> dict[str, list]:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            source = pq.ParquetFile(path)
            names = [n for n in dict.fromkeys(wanted) if n in source.schema_arrow.names]
            table = source.read(columns=names, use_pandas_metadata=False)
        else:
            table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
            names = [n for n in dict.fromkeys(wanted) if n in table.column_names]
            table = table.select(names)
        if "date" in names and pa.types.is_timestamp(table.schema.field("date").type):
            # as integer ms since 1970 (what `aiecosim run` hands over already is)
            ms = table.column("date").cast(pa.timestamp("ms")).cast(pa.int64())
            table = table.set_column(names.index("date"), "date", ms)
        return table.to_pydict()

    def dates(columns: dict[str, list]) -> np.ndarray:
        ms = np.asarray(columns["date"], dtype="datetime64[ms]")
        return ms.astype("datetime64[D]")

    model = read(model_path, ["date", *(n for s in CHARTS.values() for n in s.columns())])
    months = Months(
        dates(model), {n: np.asarray(v, dtype=float) for n, v in model.items() if n != "date"}
    )
    wanted = ["month", "date", "firm_id", "name", "archetype", "alive", *REVENUE_COLUMNS]
    firms = read(firms_path, wanted)
    column = next((c for c in REVENUE_COLUMNS if c in firms), None)
    if column is None or not firms.get("firm_id"):
        return months, None
    firm_id = np.asarray(firms["firm_id"], dtype=np.int64)
    order = np.lexsort((firm_id, np.asarray(firms.get("month", firm_id), dtype=np.int64)))
    alive = None
    if "alive" in firms:
        alive = np.array([a is not False for a in firms["alive"]])[order]  # missing: alive
    n = len(firm_id)
    return months, FirmMonths(
        firm_id=firm_id[order],
        name=np.asarray(firms.get("name", [None] * n), dtype=object)[order],
        archetype=np.asarray(firms.get("archetype", [None] * n), dtype=object)[order],
        dates=dates(firms)[order],
        revenue_usd=np.asarray(firms[column], dtype=float)[order],
        model_revenue=column == "model_revenue_usd",
        alive=alive,
    )


# ------------------------------------------------------------------------------- the figure
class ReportFigure:
    """The report for a run of `months` months from `first` (None: not known yet), drawn in
    two layers. Made, it holds everything that does not depend on the data; `draw_base` draws
    that and keeps the pixels; `fill` puts the data in (y ranges, lines, legends, notes);
    `render` draws the data over the kept pixels, or the whole figure afresh when there are
    none or the data span other months than the base shows."""

    def __init__(self, title: str = "", first: np.datetime64 | None = None, months: int = 0):
        self.fig = fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
        self.canvas = FigureCanvasAgg(fig)
        # Fixed margins rather than a layout engine: solving the layout draws the figure several
        # times. The panels fill the figure below the heading; the heading and the archetype
        # key sit in the top strip, so the two never collide.
        fig.subplots_adjust(
            left=0.055,
            right=0.945,
            bottom=0.085,
            top=_HEADING_BOTTOM - 0.03,
            wspace=0.42,
            hspace=0.52,
        )
        fig.suptitle(title or "AI ecosystem simulation", fontsize=14, y=0.994, va="top")
        self.subtitle = fig.text(0.5, 0.971, "", ha="center", va="top", fontsize=10)
        fig.legend(
            handles=[
                Patch(color=ARCHETYPE_COLOURS[a], label=ARCHETYPE_LABELS[a]) for a in ARCHETYPES
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, 0.955),
            ncol=3,
            frameon=False,
            fontsize=10,
            borderaxespad=0.0,
        )
        self.span = (np.datetime64(first, "M") if first is not None else None, max(0, months - 1))
        start = self.span[0] if self.span[0] is not None else np.datetime64("2025-01", "M")
        self.plots: dict[str, Plot] = {}
        self.axes = dict(zip(PANELS, fig.subplots(3, 3).ravel(), strict=True))
        for key, ax in self.axes.items():
            spec = CHARTS[key]
            ax.set_title(spec.title, fontsize=11, loc="left")
            if spec.source == "model":
                plot = self.plots[key] = Plot(ax, spec, start, self.span[1], FONTS, NO_MONTHS)
                if not plot.legend_reads_data:  # drawn with the base, before the data come
                    self._legend(ax, [_handle(k) for k in plot.keys(None, live=False)])
            else:
                self._firm_axes(ax, start)
        self.subtitle.set_text(_subtitle(*self.span) if first is not None else "")
        # each panel's Axes (and twin) -> its row in the grid, 0 at the top
        self._grid_row = {}
        for k, (key, ax) in enumerate(self.axes.items()):
            twin = self.plots[key].twin if key in self.plots else None
            for a in (ax, twin):
                if a is not None:
                    self._grid_row[a] = k // 3
        self.added: list = []  # artists made by `fill`: legends, the firms' lines, notes
        self._base = None
        self._base_pixels: np.ndarray | None = None  # the base as an RGBA array (rows from the top)
        self._base_state: tuple | None = None

    def _firm_axes(self, ax, start: np.datetime64) -> None:
        date_axis(ax, start, self.span[1])
        ax.tick_params(labelsize=FONTS.ticks)
        ax.grid(True, color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        y_axis(ax, CHARTS["top_firms"].left, FONTS)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.3g}"))

    @classmethod
    def from_frames(cls, model: pd.DataFrame, firms: pd.DataFrame, title: str = ""):
        """The report of the two tables as DataFrames, filled (not drawn)."""
        months = months_from_frame(model)
        span = months.span()
        first, count = (span[0], span[1] + 1) if span is not None else (None, 0)
        report = cls(title, first, count)
        report.fill(months, firms_from_frame(firms))
        return report

    def _changing(self) -> list:
        """The artists `fill` changes: the panels' y axes, spines, data and notes. A y axis
        with a fixed range (shares, the HHI) has the same ticks and labels whatever the data,
        so it is drawn with the base; the spines are not, as they lie over the data."""
        out = []
        for key, ax in self.axes.items():
            if key in self.plots:
                plot = self.plots[key]
                fixed = {a.yaxis for a in _fixed_range_axes(plot)}
                out += [a for a in plot.frame if a not in fixed] + plot.moving
            else:
                out += [ax.yaxis, *ax.spines.values()]
        return out

    def draw_base(self) -> None:
        """Draw what stays (headings, titles, date axes, grid, key) and keep the pixels."""
        with left_out(self._changing()):
            self.canvas.draw()
        self._base = self.canvas.copy_from_bbox(self.fig.bbox)
        self._base_pixels = self.pixels().copy()
        self._base_state = self._state()

    def _state(self) -> tuple:
        """What the base shows that the data may change: the months spanned, the subtitle."""
        return self.span, self.subtitle.get_text()

    def fill(self, months: Months, firms: FirmMonths | None) -> None:
        """Put a run's tables in the figure: data, y ranges, legends and notes."""
        span = months.span()
        if span is None:
            self.subtitle.set_text(_subtitle(None, 0))
        elif span != self.span:  # other months than announced: the base does not hold
            self.span = span
            self.subtitle.set_text(_subtitle(*span))
            for ax in self.axes.values():
                date_axis(ax, *span)
        for artist in self.added:
            artist.remove()
        self.added = []
        for plot in self.plots.values():
            plot.update(months)
            if plot.legend_reads_data:
                handles = [_handle(k) for k in plot.keys(months, live=False)]
                self.added += self._legend(plot.ax, handles)
        self._top_firms(self.axes["top_firms"], firms)

    def rehearse(self) -> None:
        """Fill and draw made-up data over the base once, while there is time to spare (the
        drawer does this as the model simulates): the first drawing of a figure fills
        matplotlib's caches (fonts, glyphs, text layout) and takes about twice as long as the
        next. The next `fill` replaces every made-up value."""
        first, after = self.span
        if first is None or self._base is None:
            return
        count = after + 1
        dates = (first + np.arange(count).astype("timedelta64[M]")).astype("datetime64[D]")
        ramp = np.linspace(0.2, 1.0, count)
        names = dict.fromkeys(n for spec in CHARTS.values() for n in spec.columns())
        columns = {name: ramp * (1 + k % 7) for k, name in enumerate(names)}
        firms = np.arange(_TOP_FIRMS + 1)
        rows = np.repeat(firms, count)
        self.fill(
            Months(dates, columns),
            FirmMonths(
                firm_id=rows,
                name=np.array([f"Firm {k}" for k in rows], dtype=object),
                archetype=np.array([ARCHETYPES[k % 3] for k in rows], dtype=object),
                dates=np.tile(dates, len(firms)),
                revenue_usd=np.tile(ramp, len(firms)) * 1e9 * (1 + rows),
                model_revenue=True,
                alive=np.ones(len(rows), dtype=bool),
            ),
        )
        self.render()

    def layered(self) -> bool:
        """Whether `render` draws over the kept base: there is one, and it shows the months
        and subtitle the data need."""
        return self._base is not None and self._base_state == self._state()

    def render(self, rows: tuple[int, ...] | None = None) -> None:
        """Draw the figure on its canvas: the data over the kept base where there is one for
        these months (`layered`), else everything. `rows`: over the base, draw the data of
        the panels in these rows of the grid only (0 at the top; a layered drawing only)."""
        if not self.layered():
            if rows is not None:
                raise ValueError("only a layered drawing draws some rows")
            self.canvas.draw()
            return
        self.canvas.restore_region(self._base)
        # Each panel's changing artists in the order a full draw takes them: axes in figure
        # order, within one by z-order, so the picture is the one `canvas.draw()` gives.
        order = {id(ax): k for k, ax in enumerate(self.fig.axes)}
        changing = [*self._changing(), *self.added]
        if rows is not None:  # (an artist of no panel counts as the top row's)
            changing = [a for a in changing if self._grid_row.get(a.axes, 0) in rows]
        changing.sort(key=lambda a: (order.get(id(a.axes), len(order)), a.get_zorder()))
        for artist in changing:
            if artist.get_visible():
                self.fig.draw_artist(artist)

    def pixels(self) -> np.ndarray:
        """The canvas as an RGBA array, rows from the top (a view: writing to it draws)."""
        return np.asarray(self.canvas.buffer_rgba())

    def band_top(self, row: int) -> int:
        """The first pixel row (from the top) of the band that holds everything the data of
        grid row `row` draw and nothing the rows above draw: a little above the row's panels,
        through their titles (which are in the base), for the top y tick label's overhang."""
        top = max(ax.bbox.y1 for ax, r in self._grid_row.items() if r == row)
        return max(0, int(self.fig.bbox.height - top) - _BAND_MARGIN_PX)

    def unchanged_outside(self, start: int, stop: int) -> bool:
        """Whether the canvas is still the base outside pixel rows [start, stop)."""
        now, base = self.pixels(), self._base_pixels
        return base is not None and (
            np.array_equal(now[:start], base[:start]) and np.array_equal(now[stop:], base[stop:])
        )

    def png(self) -> bytes:
        """The canvas as drawn by `render`, as PNG bytes."""
        return encode_png(self.canvas)

    # --------------------------------------------------------------------------- pieces
    def _legend(self, ax, handles: list, ncol: int = 2) -> list:
        """A legend under the panel, clear of the data and of the date labels (as a list: none
        when there is nothing to explain)."""
        if not handles:
            return []
        legend = ax.legend(
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
        return [legend]

    def _note(self, ax, text: str) -> None:
        self.added.append(
            ax.text(
                0.5,
                0.5,
                text,
                transform=ax.transAxes,
                ha="center",
                va="center",
                color=NOTE,
                fontsize=FONTS.note,
                style="italic",
            )
        )

    def _top_firms(self, ax, firms: FirmMonths | None) -> None:
        """The monthly revenue of the firms with the largest total, in their archetype's
        colour, firms of one archetype told apart by line style; a cross marks the last month
        of a firm that exited."""
        kind = "model" if firms is None or firms.model_revenue else "total"
        ax.set_ylim(0.0, 1.0)  # until there are firms to show
        if firms is None:
            self._note(ax, "no firm data")
            ax.set_ylabel(f"{kind} revenue, USD per month", fontsize=FONTS.label)
            return
        ids, index = np.unique(firms.firm_id, return_inverse=True)
        revenue = np.nan_to_num(firms.revenue_usd)
        totals = np.bincount(index, weights=revenue, minlength=len(ids))
        ranked = np.argsort(-totals, kind="stable")
        top = ranked[totals[ranked] > 0][:_TOP_FIRMS]
        if not len(top):
            self._note(ax, "no firm has revenue yet")
            ax.set_ylabel(f"{kind} revenue, USD per month", fontsize=FONTS.label)
            return
        divisor, unit = money_scale(revenue[np.isin(index, top)].max())
        used: dict[str, int] = {}
        handles, values_drawn, exited = [], [], False
        for k in top:
            rows = np.flatnonzero(index == k)
            archetype = str(firms.archetype[rows[0]] or "")
            name = firms.name[rows[0]]
            name = str(name) if name is not None else f"firm {ids[k]}"
            style = _FIRM_STYLES[used.get(archetype, 0) % len(_FIRM_STYLES)]
            used[archetype] = used.get(archetype, 0) + 1
            x = _date_numbers(firms.dates[rows])
            values = firms.revenue_usd[rows] / divisor
            alive = firms.alive[rows] if firms.alive is not None else None
            if alive is not None:
                values = np.where(alive, values, np.nan)
            colour = ARCHETYPE_COLOURS.get(archetype, NOTE)
            marker = {"marker": "o", "markersize": 5} if len(rows) == 1 else {}
            (line,) = ax.plot(x, values, color=colour, ls=style, lw=1.8, label=name, **marker)
            self.added.append(line)
            handles.append(line)
            values_drawn.append(values)
            if alive is not None and alive.any() and not alive[-1]:
                last = np.flatnonzero(alive)[-1]
                (cross,) = ax.plot(x[last], values[last], marker="X", color=colour, ms=7, ls="none")
                self.added.append(cross)
                exited = True
        ax.set_ylabel(f"{kind} revenue, {f'USD {unit}'.strip()} per month", fontsize=FONTS.label)
        ax.set_ylim(*y_limits("zero", values_drawn))
        if exited:
            handles.append(
                Line2D([], [], marker="X", color=NOTE, ls="none", ms=7, label="exit (last month)")
            )
        self.added += self._legend(ax, handles, ncol=3 if len(handles) > 4 else 2)


def _fixed_range_axes(plot: Plot) -> list:
    """The plot's Axes whose y range does not depend on the data (`Axis.limits` a range)."""
    sides = [(plot.ax, plot.spec.left), (plot.twin, plot.spec.right)]
    return [ax for ax, axis in sides if ax is not None and isinstance(axis.limits, tuple)]


def _handle(key: Key):
    """A matplotlib legend handle for a chart's legend entry."""
    if key.shape == "area":
        return Patch(color=key.colour, alpha=AREA_ALPHA, label=key.label)
    if key.shape == "shade":
        return Patch(color=key.colour, alpha=0.15, label=key.label)
    if key.shape == "dot":
        return Line2D([], [], ls="none", marker="o", color=key.colour, label=key.label)
    return Line2D(
        [], [], color=key.colour, lw=key.width, ls=_SHAPES.get(key.shape, key.shape),
        label=key.label,
    )  # fmt: skip


def _date_numbers(dates: np.ndarray) -> np.ndarray:
    import matplotlib.dates as mdates

    return mdates.date2num(dates) if len(dates) else np.zeros(0)


def _subtitle(first: np.datetime64 | None, months_after: int) -> str:
    """The period shown and how to read the figure."""
    if first is None:
        period = NO_MONTHS
    else:
        last = first + np.timedelta64(months_after, "M")
        count = months_after + 1
        period = (
            f"{first.astype(object):%b %Y} – {last.astype(object):%b %Y}, "
            f"{count} month{'s' if count != 1 else ''}"
        )
    return (
        f"{period}  ·  colours mark archetypes in every panel  ·  "
        "in panels with two axes, solid lines read on the left axis, dashed lines on the right"
    )


# ---------------------------------------------------------------------------- drawing apart
def serve() -> int:
    """Draw one run's report.png in this process, for `aiecosim run`, which starts it
    (``python -m aiecosim.views.report``) before it simulates, so that this process's imports
    and the figure's base overlap with the simulation. It reads JSON lines on its input:

    * {"title", "first": "YYYY-MM", "months"}, sent once the run's config is known: the figure
      is made and its base drawn;
    * {"tables"}, the path of a scratch folder holding the run's tables as Arrow IPC files
      (model.arrow, firms.arrow; dates as integer ms since 1970, so that reading them needs
      no pyarrow.compute), sent as soon as the simulation ends: the data are drawn and
      the PNG kept in memory while the run writes its folder (which removes an earlier run's
      report.png);
    * {"folder"} (with the header's keys if no header came first), sent once the run's folder
      is written: report.png is written there, drawn from the folder's tables if no "tables"
      came first.

    End of input before a folder: nothing is written."""
    import json

    report = helper = png = None

    def draw(tables: tuple[Months, FirmMonths | None]) -> bytes:
        nonlocal helper
        if helper is None:
            report.fill(*tables)
            report.render()
        else:  # it helps once
            drawn = helper.draw(report, tables)
            helper.close()
            helper = None
            if not drawn:
                report.render()
        return report.png()

    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            job = json.loads(line)
            if report is None:
                first = np.datetime64(job["first"], "M") if job.get("first") else None
                report = ReportFigure(job.get("title", ""), first, int(job.get("months", 0)))
                report.draw_base()
                report.rehearse()
                helper = RowHelper.start(report)
                import pyarrow  # noqa: F401 (now, while the model simulates; after the fork)
            if "tables" in job:
                scratch = Path(job["tables"])
                png = draw(read_tables(scratch / "model.arrow", scratch / "firms.arrow"))
            if "folder" in job:
                folder = Path(job["folder"])
                if png is None:
                    png = draw(read_run_tables(folder))
                _write_atomically(folder / "report.png", png)
                return 0
        return 0
    finally:
        if helper is not None:
            helper.close()


class RowHelper:
    """A second drawing process that draws the bottom row of panels while the drawer draws
    the two above, so that what is left to draw once the tables come (`ReportFigure.render`
    over the base, mostly text) takes two cores about half as long. The rows split the work
    about evenly: the bottom one holds the most text (two long legends, the firms' names).

    Forked from the drawer once the base is drawn and the rehearsal has warmed matplotlib's
    caches, so it starts with both at no cost; only where that is safe: on Linux, in a
    process with no other thread (before pyarrow starts its own; with one BLAS thread, as
    `aiecosim run` gives its drawer). It takes the tables (pickled, on a pipe), fills its copy
    of the figure, draws that row over the base and sends back the pixel rows of the row's
    band (`ReportFigure.band_top` to the bottom). The drawer pastes them in only when each
    process changed nothing outside its own band; the picture is then the one drawn in one
    process, pixel for pixel. Otherwise (the helper failed, was slow or refused, or a drawing
    strayed) the drawer draws everything itself."""

    ROW = 2  # the grid row it draws
    TIMEOUT_S = 60.0  # longest wait for its pixels

    def __init__(self, pid: int, jobs, pixels):
        self.pid, self.jobs, self.pixels = pid, jobs, pixels

    @classmethod
    def start(cls, report: ReportFigure) -> RowHelper | None:
        """Fork a helper for `report` (base drawn): None where that is not safe or fails."""
        if sys.platform != "linux" or not report.layered() or _threads() != 1:
            return None
        jobs_in, jobs_out = os.pipe()
        pixels_in, pixels_out = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (jobs_in, jobs_out, pixels_in, pixels_out):
                os.close(fd)
            return None
        if pid == 0:  # the helper: never returns
            status = 1
            try:
                os.close(jobs_out)
                os.close(pixels_in)
                with os.fdopen(jobs_in, "rb") as jobs, os.fdopen(pixels_out, "wb") as pixels:
                    cls._help(report, jobs, pixels)
                status = 0
            except BaseException:  # the drawer draws it all; say why in its messages
                import traceback

                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(jobs_in)
        os.close(pixels_out)
        return cls(pid, os.fdopen(jobs_out, "wb"), os.fdopen(pixels_in, "rb"))

    @classmethod
    def _help(cls, report: ReportFigure, jobs, pixels) -> None:
        """In the helper: the tables in, the band's pixels (or None: draw it yourself) out."""
        try:
            tables = pickle.load(jobs)
        except EOFError:  # the drawer needed no help
            return
        report.fill(*tables)
        band = None
        if report.layered():
            report.render(rows=(cls.ROW,))
            top = report.band_top(cls.ROW)
            if report.unchanged_outside(top, report.pixels().shape[0]):
                band = report.pixels()[top:]
        pickle.dump(band, pixels, protocol=pickle.HIGHEST_PROTOCOL)

    def draw(self, report: ReportFigure, tables: tuple[Months, FirmMonths | None]) -> bool:
        """Fill `report` with `tables` and draw it, the bottom row by the helper: True when
        drawn, False when the helper's part could not be used (the figure is then filled
        but not drawn)."""
        try:
            pickle.dump(tables, self.jobs, protocol=pickle.HIGHEST_PROTOCOL)
            self.jobs.flush()
            sent = True
        except OSError:  # it has gone
            sent = False
        report.fill(*tables)
        if not sent or not report.layered():
            return False
        report.render(rows=tuple(r for r in range(3) if r != self.ROW))
        top = report.band_top(self.ROW)
        band = self._band()
        if band is None or band.shape != report.pixels()[top:].shape:
            return False
        if not report.unchanged_outside(0, top):
            return False
        report.pixels()[top:] = band
        return True

    def _band(self) -> np.ndarray | None:
        import select

        ready, _, _ = select.select([self.pixels], [], [], self.TIMEOUT_S)
        if not ready:
            return None
        try:
            return pickle.load(self.pixels)
        except (EOFError, OSError, pickle.UnpicklingError):
            return None

    def close(self) -> None:
        """Stop the helper, done or not (nothing it does now matters), and reap it."""
        if self.pid is None:
            return
        for pipe in (self.jobs, self.pixels):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        self.pid = None


def _threads() -> int:
    """Threads of this process (Linux)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """As `aiecosim.outputs.atomic_write` (a temporary name beside `path`, flushed to disk,
    then renamed into place), which this process does not import: it pulls in pandas."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


if __name__ == "__main__":
    status = serve()
    # The report is on disk: leave without the interpreter's teardown, whose freeing of the
    # figure's objects would keep `aiecosim run` waiting a few tenths of a second more.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

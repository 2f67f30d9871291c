"""The browser visualiser: a Mesa (mesa.visualization) and solara app of the AI industry, month
by month.

`aiecosim viz` serves `Page` (solara finds it by name in this module). The sidebar holds a
scenario picker, Mesa's model controller (Reset, play/pause, Step, play speed) and the model
parameters: seed, enterprise count and sliders for the main levers. The main area redraws after
every step:

* a status line: month and date, scenario, seed, firms alive by archetype, the time the last
  step and redraw took, and the lever values the running model uses;
* a "Reset to apply" banner while the page shows parameters the running model does not use;
* revenue share by archetype; prices of tokens, compute and energy; frontier vs best open
  capability with the open-weights lag; data-centre electricity; adoption and the share of
  adopters with a positive return; capex against revenue with investor sentiment;
* the adoption network, a sample of at most `NETWORK_NODES` enterprises coloured by the
  archetype of their provider (layout computed once per model);
* a table of firms.

The scenario and every lever are model parameters, all held in one reactive dict (`params`, the
keyword arguments of `VizModel`) that every control shows and edits: Mesa's Reset builds the next
model from exactly what the page shows. Picking a scenario moves each lever slider to that
scenario's value (read from its resolved config at the lever's config path); like any other
change it applies at the next Reset, and until then the banner and a note under the control say
so.

Each chart is a matplotlib figure (Agg canvas, no pyplot state) kept for the life of a model and
redrawn by blitting: the frame (axes, ticks, labels) is drawn once and again only when an axis
range moves to its next round value, the lines, areas and points are drawn over it every month,
and the legend with this month's values is HTML beside the image. `VizModel.last_step_seconds`
and `VizModel.render_seconds` keep the time the last step and each panel's last drawing took.

`screenshot_app` (behind `aiecosim viz --screenshot`) serves the app in a thread, steps it in
headless Chromium with playwright and saves the page as PNG.

The page's JavaScript and CSS come through solara's CDN proxy; `ensure_browser_assets` fills its
cache from the npm registry first where it can, so the app also works where the CDN cannot be
reached.
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.dates as mdates
import networkx as nx
import numpy as np
import solara
import solara.lab
from aiecosim.agents.strategy import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from aiecosim.config import SimConfig, list_scenarios, load_config
from aiecosim.model import AIEcosystemModel
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_hex, to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import update_counter
from PIL import Image as PILImage

TITLE = "aiecosim: AI strategies, month by month"
NETWORK_NODES = 500  # the adoption network panel shows at most this many enterprises
DEFAULT_ENTERPRISES = 5000
ENV_SCENARIO = "AIECOSIM_VIZ_SCENARIO"
ENV_SEED = "AIECOSIM_VIZ_SEED"
ENV_ENTERPRISES = "AIECOSIM_VIZ_ENTERPRISES"

# Series that are not archetypes: the neutral colours of the report figure.
PRIMARY = "#222222"
SECONDARY = "#7B3294"  # purple
TERTIARY = "#A6761D"  # ochre
CORRECTION = "#C51B7D"  # magenta
NOTE = "#777777"
NO_AI = "#cfcfcf"

FIG_SIZE_IN = (4.2, 2.4)  # each chart: 420 x 240 pixels, about a third of a laptop's width
FIG_DPI = 100

# Mesa's sidebar sliders put their label beside the track: long labels squeeze the track to
# nothing in the sidebar's width, so each label goes on its own line above its slider, whose
# value shows on its thumb at all times (Mesa's sliders show it only while dragging). The
# sidebar's and app bar's empty placeholders in the main column would leave a gap at the top.
CSS = """
.v-slider.v-input--horizontal {
    grid-template-areas: "prepend prepend prepend" "control control control";
}
.v-slider.v-input--horizontal > .v-input__prepend { margin-inline-end: 0; margin-bottom: 24px; }
.v-slider .v-slider-thumb__label-container { display: block !important; }
.v-slider .v-slider-thumb__label { height: 18px; font-size: 11px; }
.solara-autorouter-content .v-sheet.d-flex > div:empty:not([class]) { display: none; }
.solara-autorouter-content .v-sheet.d-flex:empty { display: none; }
.aiecosim-firms th { position: sticky; top: 0; background: rgb(var(--v-theme-surface)); }
.aiecosim-firms td, .aiecosim-firms th { padding: 1px 6px; }
.aiecosim-legend {
    display: flex; flex-wrap: wrap; justify-content: center; gap: 0 12px;
    min-height: 34px; align-content: flex-start; font-size: 11.5px; line-height: 17px;
}
.aiecosim-key { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.aiecosim-levers { font-size: 13px; }
.aiecosim-pending { display: block; font-size: 12px; color: #c2410c; margin: -4px 0 6px 0; }
"""


# ------------------------------------------------------------------------------------ levers
def _plain(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Lever:
    """A slider on one config value."""

    path: str  # dotted config key, as in `--set`
    label: str  # the slider's label
    short: str  # the name in the status line and the "Reset to apply" notes
    min: float
    max: float
    step: float
    fmt: Callable[[float], str] = _plain  # the value as the page writes it
    integer: bool = False


def _signed_percent_per_year(value: float) -> str:
    return f"{value * 100:+.3g}%/yr"


def _months(value: float) -> str:
    return f"{value:g} months"


LEVERS: dict[str, Lever] = {
    "energy_price_growth": Lever(
        "energy.marginal_cost_growth_per_year",
        "Energy price growth / year",
        "energy price growth",
        -0.05,
        0.2,
        0.01,
        fmt=_signed_percent_per_year,
    ),
    "hardware_doubling_months": Lever(
        "compute.price_performance_doubling_months",
        "Hardware doubling (months)",
        "hardware doubling",
        6,
        60,
        1,
        fmt=_months,
        integer=True,
    ),
    "scale_alpha": Lever("capability.alpha", "Diminishing returns (α)", "alpha", 0.02, 0.6, 0.01),
    "switching_cost": Lever(
        "enterprises.switching_cost", "Switching cost", "switching cost", 0.0, 5.0, 0.1
    ),
    "investor_patience_months": Lever(
        "investors.patience_months",
        "Investor patience (months)",
        "investor patience",
        6,
        120,
        6,
        fmt=_months,
        integer=True,
    ),
    "open_efficiency": Lever(
        "capability.open_distillation_multiplier",
        "Open-source efficiency",
        "open-source efficiency",
        1.0,
        50.0,
        0.5,
        fmt=lambda value: f"x{value:g}",
    ),
}


def parse_seed(seed: int | str | None) -> int:
    """The seed box holds text: an integer is used as it is, any other text is hashed to one."""
    if seed is None:
        return 0
    text = str(seed).strip()
    try:
        return int(text)
    except ValueError:
        return zlib.crc32(text.encode())


def config_value(config: SimConfig, path: str) -> float:
    node = config
    for key in path.split("."):
        node = getattr(node, key)
    return float(node)


def build_config(
    scenario: str, enterprises: int = DEFAULT_ENTERPRISES, **levers: float | None
) -> SimConfig:
    """The scenario's config with the enterprise count and any lever given (None: as scenario).
    Values go in as Python numbers of the field's type (the config refuses 3.0 for an integer
    and true for a number); every lever is a float field."""
    params: dict[str, float | int] = {"run.enterprises": int(enterprises)}
    for name, value in levers.items():
        if value is not None:
            params[LEVERS[name].path] = round(float(value), 9)
    return load_config(scenario, params=params)


def scenario_levers(scenario: str) -> dict[str, float]:
    """Each lever's value in the scenario's resolved config, at the lever's config path."""
    config = load_config(scenario)
    return {name: config_value(config, lever.path) for name, lever in LEVERS.items()}


def scenario_params(
    scenario: str, seed: int | str = 0, enterprises: int = DEFAULT_ENTERPRISES
) -> dict:
    """The page's model parameters for a scenario: the keyword arguments of `VizModel`, the
    levers at the scenario's own values. Reset builds the next model from exactly these."""
    return {
        "scenario_name": scenario,
        "seed": str(seed).strip(),
        "enterprises": int(enterprises),
        **scenario_levers(scenario),
    }


def running_params(model: AIEcosystemModel) -> dict:
    """The same parameters, read back from a running model (its config, seed and size)."""
    return {
        "scenario_name": getattr(model, "preset", model.cfg.scenario.name),
        "seed": getattr(model, "seed_text", str(model.seed)),
        "enterprises": int(model.enterprises.n),
        **{name: config_value(model.cfg, lever.path) for name, lever in LEVERS.items()},
    }


@dataclass(frozen=True)
class Change:
    """A parameter the page shows at another value than the running model uses."""

    name: str  # key in the parameters
    label: str  # as the notes name it
    shown: str  # the page's value, formatted
    running: str  # the running model's value, formatted


def format_param(name: str, value) -> str:
    if name in LEVERS:
        return LEVERS[name].fmt(float(value))
    if name == "enterprises":
        return f"{int(value):,}"
    return str(value)


def _same(name: str, shown, running) -> bool:
    if name == "seed":
        return parse_seed(shown) == parse_seed(running)
    if name in LEVERS:  # the browser sends 0.30000000000000004 for 0.3, or 48 for 48.0
        a, b = float(shown), float(running)
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return shown == running


PARAM_LABELS = {
    "scenario_name": "scenario",
    "seed": "seed",
    "enterprises": "enterprises",
    **{name: lever.short for name, lever in LEVERS.items()},
}


def pending_changes(params: dict, model: AIEcosystemModel) -> list[Change]:
    """The parameters the page shows that the running model does not use: they apply at the
    next Reset."""
    running = running_params(model)
    return [
        Change(name, label, format_param(name, params[name]), format_param(name, running[name]))
        for name, label in PARAM_LABELS.items()
        if name in params and not _same(name, params[name], running[name])
    ]


def pending_text(changes: list[Change]) -> str:
    """'Reset to apply: scenario energy-crunch (running: baseline) · alpha 0.3 (running: ...)'."""
    listed = " · ".join(f"{c.label} {c.shown} (running: {c.running})" for c in changes)
    return f"Reset to apply: {listed}"


# ------------------------------------------------------------------------------------ model
_LIVE_MODELS: weakref.WeakSet = weakref.WeakSet()


def stop_all_models() -> None:
    """End the run of every model the app made. Mesa plays a model in a non-daemon thread that
    stops only when the run ends; the server calls this when it shuts down, so that it exits at
    once instead of after every open page's model has played to its last month."""
    for model in list(_LIVE_MODELS):
        model.running = False


class VizModel(AIEcosystemModel):
    """`AIEcosystemModel` built from keyword arguments (those of `scenario_params`), as Mesa's
    Reset re-creates it from the page's parameters."""

    def __init__(
        self,
        scenario_name: str = "baseline",
        seed: int | str = 0,
        enterprises: int = DEFAULT_ENTERPRISES,
        energy_price_growth: float | None = None,
        hardware_doubling_months: float | None = None,
        scale_alpha: float | None = None,
        switching_cost: float | None = None,
        investor_patience_months: float | None = None,
        open_efficiency: float | None = None,
    ):
        config = build_config(
            scenario_name,
            enterprises,
            energy_price_growth=energy_price_growth,
            hardware_doubling_months=hardware_doubling_months,
            scale_alpha=scale_alpha,
            switching_cost=switching_cost,
            investor_patience_months=investor_patience_months,
            open_efficiency=open_efficiency,
        )
        super().__init__(config, rng=parse_seed(seed))
        self.preset = scenario_name  # (`scenario` is Mesa's own attribute)
        self.seed_text = str(seed).strip()
        self.last_step_seconds = 0.0
        self.render_seconds: dict[str, float] = {}
        _LIVE_MODELS.add(self)

    def step(self) -> None:
        t0 = time.perf_counter()
        super().step()
        self.last_step_seconds = time.perf_counter() - t0


# ------------------------------------------------------------------------------------ data
HISTORY_COLUMNS = (
    *[f"share_revenue_{a}" for a in ARCHETYPES],
    "frontier_capability",
    "best_open_capability",
    "open_lag_months",
    "token_price_usd_per_mtok",
    "compute_price_usd_per_gpu_hour",
    "energy_price_usd_per_mwh",
    "dc_energy_twh_per_year",
    "dc_grid_share",
    "adoption_rate",
    "adopters_positive_roi_share",
    "cum_ai_capex_usd",
    "cum_ai_revenue_usd",
    "sentiment",
    "correction",
)


@dataclass
class History:
    """The months simulated so far, one array per metric (from the model's DataCollector)."""

    dates: np.ndarray  # datetime64[D], first day of each simulated month
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def last(self, name: str) -> float:
        values = self.columns[name]
        return float(values[-1]) if len(values) else float("nan")


def month_dates(model: AIEcosystemModel, months) -> np.ndarray:
    start = np.datetime64(model.start.strftime("%Y-%m"), "M")
    return (start + np.asarray(months, dtype="timedelta64[M]")).astype("datetime64[D]")


def history(model: AIEcosystemModel) -> History:
    """The model's monthly table as arrays, built once per collected month and cached on the
    model. Read straight from the DataCollector's lists (a DataFrame per redraw costs more than
    drawing); with Mesa's "Use Threads" a step may be appending while a chart reads, so every
    column is cut to the months that all of them have."""
    data = model.datacollector.model_vars
    present = [name for name in ("month", *HISTORY_COLUMNS) if name in data]
    n = min((len(data[name]) for name in present), default=0) if "month" in data else 0
    cached = model.__dict__.get("_viz_history")
    if cached is not None and cached[0] == n:
        return cached[1]
    months = np.asarray(data["month"][:n] if n else [], dtype=np.int64)
    columns = {  # a metric the model stops collecting shows as a gap, not an error
        name: np.asarray(data[name][:n], dtype=float) if name in data else np.full(n, np.nan)
        for name in HISTORY_COLUMNS
    }
    result = History(month_dates(model, months), columns)
    model.__dict__["_viz_history"] = (n, result)
    return result


# ------------------------------------------------------------------------------ network sample
@dataclass
class NetworkView:
    """A sample of the adoption network and its layout, fixed for the life of a model."""

    nodes: np.ndarray  # enterprise indices
    edges: np.ndarray  # (edges, 2) positions in `nodes`
    xy: np.ndarray  # (nodes, 2) layout coordinates


def _sample_graph(network, max_nodes: int, rng: np.random.Generator) -> nx.Graph:
    """`AdoptionNetwork.sample` when the network has it; otherwise a breadth-first sample from
    random seeds over the adjacency matrix (keeps neighbourhoods, unlike a uniform sample)."""
    if hasattr(network, "sample"):
        return network.sample(max_nodes, rng)
    adjacency = network.adjacency.tocsr()
    n = adjacency.shape[0]
    if n <= max_nodes:
        chosen = np.arange(n)
    else:
        seen: dict[int, None] = {}
        order = rng.permutation(n)
        cursor = 0
        while len(seen) < max_nodes and cursor < n:
            queue = deque([int(order[cursor])])
            cursor += 1
            while queue and len(seen) < max_nodes:
                node = queue.popleft()
                if node in seen:
                    continue
                seen[node] = None
                row = adjacency.indices[adjacency.indptr[node] : adjacency.indptr[node + 1]]
                queue.extend(int(j) for j in rng.permutation(row) if j not in seen)
        chosen = np.fromiter(seen, dtype=np.int64)
    sub = adjacency[chosen][:, chosen].tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(chosen.tolist())
    keep = sub.row < sub.col
    ends = zip(chosen[sub.row[keep]].tolist(), chosen[sub.col[keep]].tolist(), strict=True)
    graph.add_edges_from(ends)
    return graph


def spring_layout(
    n: int, edges: np.ndarray, rng: np.random.Generator, iterations: int = 40
) -> np.ndarray:
    """Fruchterman-Reingold force layout in numpy: all pairs repel, edges pull, the step cools.
    The same method as networkx's spring_layout, several times faster at a few hundred nodes."""
    pos = rng.random((n, 2))
    if n < 2:
        return pos
    k = 1.0 / np.sqrt(n)
    temperature = 0.1
    cooling = temperature / (iterations + 1)
    i, j = edges[:, 0], edges[:, 1]
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        d2 = np.maximum(np.einsum("ijk,ijk->ij", delta, delta), 1e-4)
        disp = np.einsum("ijk,ij->ik", delta, k * k / d2)
        stretch = pos[i] - pos[j]
        pull = stretch * np.sqrt((stretch**2).sum(axis=1))[:, None] / k
        np.subtract.at(disp, i, pull)
        np.add.at(disp, j, pull)
        length = np.maximum(np.sqrt((disp**2).sum(axis=1)), 1e-2)
        pos += disp * (temperature / length)[:, None]
        temperature -= cooling
    return pos


def network_view(model: AIEcosystemModel) -> NetworkView:
    """The sampled network and its layout: computed on first use, cached on the model. Its own
    random generator leaves the model's random stream (and so the simulation) untouched."""
    cached = model.__dict__.get("_viz_network")
    if cached is not None:
        return cached
    seed = model.seed if isinstance(model.seed, int) else 0
    rng = np.random.default_rng([abs(seed), 1789])
    graph = _sample_graph(model.network, NETWORK_NODES, rng)
    nodes = np.array(sorted(graph.nodes), dtype=np.int64)
    index = {node: k for k, node in enumerate(nodes.tolist())}
    edges = np.array([(index[a], index[b]) for a, b in graph.edges], dtype=np.int64)
    edges = edges.reshape(-1, 2)
    view = NetworkView(nodes, edges, spring_layout(len(nodes), edges, rng))
    model.__dict__["_viz_network"] = view
    return view


def provider_archetypes(model: AIEcosystemModel, enterprises: np.ndarray) -> np.ndarray:
    """Archetype of each enterprise's provider ('' for none), as an array of strings."""
    firm_archetype = np.array([b.archetype for b in model.builders] + [""], dtype=object)
    provider = model.enterprises.provider[enterprises]
    return firm_archetype[np.where(provider >= 0, provider, len(model.builders))]


# ------------------------------------------------------------------------------------ charts
def _pct(value: float, digits: int = 0) -> str:
    return "n/a" if not np.isfinite(value) else f"{value * 100:.{digits}f}%"


def _money(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    for unit, scale in (("tn", 1e12), ("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"${value / scale:,.1f}{unit}"
    return f"${value:,.2f}" if abs(value) < 10 else f"${value:,.0f}"


def _number(value: float, fmt: str, missing: str = "n/a") -> str:
    return format(value, fmt) if np.isfinite(value) else missing


def _index(values: np.ndarray) -> np.ndarray:
    """Values as an index, 100 = the first positive value (prices on a common log axis)."""
    positive = values[np.isfinite(values) & (values > 0)]
    if not len(positive):
        return np.full(len(values), np.nan)
    return np.where(values > 0, values, np.nan) / positive[0] * 100


@dataclass(frozen=True)
class Series:
    """One line of a time chart: its values and its legend text, both from the history (the
    legend shows just the name before the first month)."""

    name: str
    values: Callable[[History], np.ndarray]
    label: Callable[[History], str]
    colour: str
    right: bool = False
    dashed: bool = False
    width: float = 2.0


def encode_png(canvas: FigureCanvasAgg) -> bytes:
    """The canvas as an RGB PNG. zlib's fastest level: a chart is flat colour, so it compresses
    nearly as well as at the default level in half the time."""
    width, height = canvas.get_width_height()
    image = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


class Chart:
    """One panel's figure, built once per model and updated in place every month.

    A month redraws only what changed (matplotlib's blitting), from two saved layers:

    * the base: everything that stays for the run (the x axis, spines, grid lines along x, axis
      backgrounds, notes), drawn by a full `canvas.draw()` with the y axes and the moving
      artists left out (they are `animated`);
    * the frame: the base with the y axes (ticks, tick labels, grid lines along y, label) drawn
      over it, redrawn from the base only when a y range moves to its next round value, a few
      times a run;

    and every month the moving artists (lines, areas, points) are drawn over a copy of the
    frame. The legend, with this month's values, is HTML (see `legend_html`). Agg canvas only,
    no pyplot state; a lock keeps two renders of one figure apart."""

    def __init__(self, model: AIEcosystemModel):
        self.lock = threading.Lock()
        self.fig = Figure(figsize=FIG_SIZE_IN, dpi=FIG_DPI)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.15, right=0.86, top=0.95, bottom=0.12)
        self.legend_handles: list = []  # the legend's keys (drawn in HTML, see `legend_html`)
        self.moving: list = []  # the animated artists, drawn every month in this order
        self.build(model)
        self.y_axes = [ax.yaxis for ax in self.fig.axes if ax.axison]
        self.spines = [s for ax in self.fig.axes if ax.axison for s in ax.spines.values()]
        for artist in (*self.moving, *self.y_axes):
            artist.set_animated(True)
        self.base = self.frame = None
        self.base_key: tuple | None = None
        self.frame_key: tuple | None = None
        self.bases_drawn = self.frames_drawn = 0  # for tests and timing

    def build(self, model: AIEcosystemModel) -> None:
        raise NotImplementedError

    def update(self, model: AIEcosystemModel) -> list[str]:
        """Bring the artists up to date; return the legend texts."""
        raise NotImplementedError

    def base_state(self) -> tuple:
        """Whatever the base shows that can change (x ranges; subclasses add their notes)."""
        return tuple(ax.get_xlim() for ax in self.fig.axes)

    def render(self, model: AIEcosystemModel) -> tuple[bytes, list[str]]:
        """The chart as PNG bytes, and its legend texts, for the model's current month."""
        with self.lock:
            labels = self.update(model)
            base_key = self.base_state()
            frame_key = (base_key, tuple(ax.get_ylim() for ax in self.fig.axes))
            if self.base is None or base_key != self.base_key:
                self.canvas.draw()  # animated artists (y axes, moving ones) are left out
                self.base, self.base_key, self.frame = (
                    self.canvas.copy_from_bbox(self.fig.bbox),
                    base_key,
                    None,
                )
                self.bases_drawn += 1
            if self.frame is None or frame_key != self.frame_key:
                self.canvas.restore_region(self.base)
                for artist in (*self.y_axes, *self.spines):  # spines over the grid's end lines
                    self.fig.draw_artist(artist)
                self.frame, self.frame_key = self.canvas.copy_from_bbox(self.fig.bbox), frame_key
                self.frames_drawn += 1
            else:
                self.canvas.restore_region(self.frame)
            for artist in self.moving:
                self.fig.draw_artist(artist)
            return encode_png(self.canvas), labels


def _date_axis(ax, model: AIEcosystemModel) -> None:
    """x from the first to the last month of the run, so the lines grow as months pass. Ticks
    are fixed once (a date locator recomputes them at every draw)."""
    steps = model.cfg.run.steps
    start, end = month_dates(model, [0, steps])
    ax.set_xlim(start, end)
    if steps > 48:
        every = 12 * max(1, int(np.ceil(steps / 12 / 6)))
        fmt = "%Y"
    else:
        every = max(1, int(np.ceil(steps / 6)))
        fmt = "%b %Y"
    ticks = month_dates(model, range(0, steps + 1, every))
    ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(ticks)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))


ROUND_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
LOG_STEPS = (1.0, 2.0, 5.0, 10.0)  # the log axis's tick values: its limits are ticks too


def _round_up(x: float, steps: tuple[float, ...] = ROUND_STEPS) -> float:
    """The smallest round number (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten) >= x > 0."""
    base = 10.0 ** np.floor(np.log10(x))
    return next(step * base for step in steps if step * base >= x * (1 - 1e-12))


def _round_down(x: float, steps: tuple[float, ...] = ROUND_STEPS) -> float:
    """The largest round number <= x > 0."""
    base = 10.0 ** np.floor(np.log10(x))
    return next(step * base for step in reversed(steps) if step * base <= x * (1 + 1e-12))


def _limits(ax, policy: str, series: list[np.ndarray], at_least: float = 0.0) -> None:
    """Set the y range to round numbers around the data, and to at least `at_least` above
    zero ("zero") or either side of it ("around"). The whole history is always in view, so the
    range only widens, and only when the data cross the next round number: the frame (ticks,
    labels) stays as it is most months and is not redrawn."""
    values = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.zeros(0)
    if policy == "percent":
        limits = (0.0, 100.0)
    elif policy == "log":
        values = values[values > 0]
        if not len(values):
            return
        limits = (
            _round_down(values.min() / 1.1, LOG_STEPS),
            _round_up(values.max() * 1.1, LOG_STEPS),
        )
    elif policy == "around":  # around zero, both signs
        low, high = (min(values.min(), 0.0), max(values.max(), 0.0)) if len(values) else (-1, 1)
        pad = max(0.05, 0.1 * (high - low))
        limits = (-max(at_least, _round_up(pad - low)), max(at_least, _round_up(high + pad)))
    else:  # "zero": from zero to the largest value plus some room
        top = float(values.max()) if len(values) else 0.0
        limits = (0.0, max(at_least, _round_up(top * 1.08) if top > 0 else 1.0))
    if tuple(ax.get_ylim()) != limits:
        ax.set_ylim(*limits)


class TimeChart(Chart):
    """Lines over the run's months, on a left axis and optionally a right one."""

    series: tuple[Series, ...] = ()
    left_label = ""
    right_label = ""
    left_limits = "zero"
    right_limits = "zero"
    left_at_least = 0.0  # the axis shows at least this range (fewer redraws of the frame)
    right_at_least = 0.0
    left_format: Callable[[float, int], str] | None = None
    right_format: Callable[[float, int], str] | None = None

    def build(self, model: AIEcosystemModel) -> None:
        ax = self.ax = self.fig.add_subplot()
        _date_axis(ax, model)
        ax.tick_params(labelsize=7.5)
        ax.grid(True, color="#e8e8e8", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_ylabel(self.left_label, fontsize=8)
        if self.left_limits == "log":
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        if self.left_format is not None:
            ax.yaxis.set_major_formatter(FuncFormatter(self.left_format))
        self.right_ax = None
        if any(s.right for s in self.series):
            right = self.right_ax = ax.twinx()
            right.tick_params(labelsize=7.5)
            right.set_ylabel(self.right_label, fontsize=8)
            right.yaxis.set_major_locator(MaxNLocator(nbins=5))
            if self.right_format is not None:
                right.yaxis.set_major_formatter(FuncFormatter(self.right_format))
        self.lines = []
        for s in self.series:
            target = self.right_ax if s.right else ax
            (line,) = target.plot([], [], color=s.colour, lw=s.width, ls="--" if s.dashed else "-")
            self.lines.append(line)
        self.legend_handles = list(self.lines)
        self.note = ax.text(  # month 0 only: drawn with the moving artists, so the base stays
            0.5,
            0.5,
            "press Step or Play",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=NOTE,
            fontsize=9,
            style="italic",
        )
        self.moving = [*self.lines, self.note]
        if self.left_limits == "percent":
            _limits(ax, "percent", [])

    def update(self, model: AIEcosystemModel) -> list[str]:
        h = history(model)
        self.note.set_visible(len(h) == 0)
        marker = "o" if len(h) == 1 else ""
        left, right = [], []
        for s, line in zip(self.series, self.lines, strict=True):
            values = s.values(h)
            line.set_data(h.dates, values)
            line.set_marker(marker)
            (right if s.right else left).append(values)
        _limits(self.ax, self.left_limits, left, self.left_at_least)
        if self.right_ax is not None:
            _limits(self.right_ax, self.right_limits, right, self.right_at_least)
        return [s.label(h) if len(h) else s.name for s in self.series]


class RevenueShareChart(TimeChart):
    left_label = "% of model revenue"
    left_limits = "percent"

    @staticmethod
    def left_format(v, _):
        return f"{v:.0f}%"

    def build(self, model: AIEcosystemModel) -> None:
        super().build(model)
        self.areas = [  # one stacked band per archetype, its outline replaced every month
            PolyCollection([], facecolors=ARCHETYPE_COLOURS[a], alpha=0.85, linewidths=0)
            for a in ARCHETYPES
        ]
        for area in self.areas:
            self.ax.add_collection(area, autolim=False)
        self.moving = [*self.areas, self.note]
        self.legend_handles = [
            Line2D([], [], color=ARCHETYPE_COLOURS[a], lw=6, label=ARCHETYPE_LABELS[a])
            for a in ARCHETYPES
        ]

    def update(self, model: AIEcosystemModel) -> list[str]:
        h = history(model)
        self.note.set_visible(len(h) == 0)
        if len(h):
            shares = np.nan_to_num(np.vstack([h[f"share_revenue_{a}"] for a in ARCHETYPES]))
            x = mdates.date2num(h.dates)
            if len(h) == 1:  # a single month would be an invisible area: give it a month's width
                x = np.array([x[0], x[0] + 30])
                shares = np.repeat(shares, 2, axis=1)
            tops = np.cumsum(shares * 100, axis=0)
            bottoms = np.vstack([np.zeros(len(x)), tops[:-1]])
            for area, top, bottom in zip(self.areas, tops, bottoms, strict=True):
                outline = np.column_stack([np.r_[x, x[::-1]], np.r_[top, bottom[::-1]]])
                area.set_verts([outline])
        else:
            for area in self.areas:
                area.set_verts([])
        if not len(h):
            return [ARCHETYPE_LABELS[a] for a in ARCHETYPES]
        return [f"{ARCHETYPE_LABELS[a]} {_pct(h.last(f'share_revenue_{a}'))}" for a in ARCHETYPES]


class PricesChart(TimeChart):
    left_label = "index, first month = 100 (log)"
    left_limits = "log"
    series = (
        Series(
            "Tokens",
            lambda h: _index(h["token_price_usd_per_mtok"]),
            lambda h: f"Tokens {_money(h.last('token_price_usd_per_mtok'))}/Mtok",
            PRIMARY,
        ),
        Series(
            "Compute",
            lambda h: _index(h["compute_price_usd_per_gpu_hour"]),
            lambda h: f"Compute {_money(h.last('compute_price_usd_per_gpu_hour'))}/GPU-h",
            SECONDARY,
            width=1.6,
        ),
        Series(
            "Energy",
            lambda h: _index(h["energy_price_usd_per_mwh"]),
            lambda h: f"Energy {_money(h.last('energy_price_usd_per_mwh'))}/MWh",
            TERTIARY,
            width=1.6,
        ),
    )

    @staticmethod
    def left_format(v, _):
        return f"{v:g}"


class CapabilityChart(TimeChart):
    left_label = "capability index (0-100)"
    right_label = "open-weights lag, months"
    left_at_least = 100.0  # the index's scale
    right_at_least = 12.0
    series = (
        Series(
            "Frontier",
            lambda h: h["frontier_capability"],
            lambda h: f"Frontier {_number(h.last('frontier_capability'), '.1f')}",
            PRIMARY,
        ),
        Series(
            "Best open",
            lambda h: np.where(h["best_open_capability"] > 0, h["best_open_capability"], np.nan),
            lambda h: f"Best open {_number(h.last('best_open_capability'), '.1f')}",
            ARCHETYPE_COLOURS["open_source_builder"],
        ),
        Series(
            "Open-weights lag",
            lambda h: h["open_lag_months"],
            lambda h: f"Lag {_number(h.last('open_lag_months'), '.0f')} months",
            SECONDARY,
            right=True,
            dashed=True,
            width=1.5,
        ),
    )


class EnergyChart(TimeChart):
    left_label = "TWh per year"
    right_label = "% of grid electricity"
    series = (
        Series(
            "Data centres",
            lambda h: h["dc_energy_twh_per_year"],
            lambda h: f"Data centres {_number(h.last('dc_energy_twh_per_year'), ',.0f')} TWh/yr",
            PRIMARY,
        ),
        Series(
            "Share of grid",
            lambda h: h["dc_grid_share"] * 100,
            lambda h: f"Share of grid {_pct(h.last('dc_grid_share'), 1)}",
            SECONDARY,
            right=True,
            dashed=True,
            width=1.6,
        ),
    )

    @staticmethod
    def right_format(v, _):
        return f"{v:g}%"


class AdoptionChart(TimeChart):
    left_label = "% of enterprises / adopters"
    left_limits = "percent"
    series = (
        Series(
            "Enterprises using AI",
            lambda h: h["adoption_rate"] * 100,
            lambda h: f"Enterprises using AI {_pct(h.last('adoption_rate'))}",
            PRIMARY,
        ),
        Series(
            "Adopters with a positive return",
            lambda h: h["adopters_positive_roi_share"] * 100,
            lambda h: (
                f"Adopters with a positive return {_pct(h.last('adopters_positive_roi_share'))}"
            ),
            SECONDARY,
        ),
    )

    @staticmethod
    def left_format(v, _):
        return f"{v:.0f}%"


class CapexChart(TimeChart):
    left_label = "USD bn, cumulative"
    right_label = "sentiment (0 = neutral)"
    right_limits = "around"
    right_at_least = 0.5
    series = (
        Series(
            "Capex, cumulative",
            lambda h: h["cum_ai_capex_usd"] / 1e9,
            lambda h: f"Capex {_money(h.last('cum_ai_capex_usd'))}",
            PRIMARY,
        ),
        Series(
            "Revenue, cumulative",
            lambda h: h["cum_ai_revenue_usd"] / 1e9,
            lambda h: f"Revenue {_money(h.last('cum_ai_revenue_usd'))}",
            TERTIARY,
        ),
        Series(
            "Sentiment",
            lambda h: h["sentiment"],
            lambda h: f"Sentiment {_number(h.last('sentiment'), '+.2f')}",
            SECONDARY,
            right=True,
            dashed=True,
            width=1.5,
        ),
    )

    @staticmethod
    def left_format(v, _):
        return f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"

    def build(self, model: AIEcosystemModel) -> None:
        super().build(model)
        self.zero = self.right_ax.axhline(0, color=NOTE, lw=0.6)
        self.moving.insert(0, self.zero)  # hidden at month 0, under the lines after
        self.marks: list = []
        self.legend_handles.append(Line2D([], [], color=CORRECTION, lw=1.0, ls=":"))

    def base_state(self) -> tuple:
        return (*super().base_state(), len(self.marks))

    def update(self, model: AIEcosystemModel) -> list[str]:
        labels = super().update(model)
        h = history(model)
        self.zero.set_visible(len(h) > 0)
        when = h.dates[np.nan_to_num(h["correction"]) > 0]
        if len(when) != len(self.marks):  # a new correction (or a shorter history)
            for mark in self.marks:
                mark.remove()
            self.marks = [self.ax.axvline(t, color=CORRECTION, lw=1.0, ls=":") for t in when]
        return [*labels, f"Valuation corrections {len(when)}" if len(h) else "Valuation correction"]


class NetworkChart(Chart):
    def build(self, model: AIEcosystemModel) -> None:
        self.fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
        self.view = view = network_view(model)
        ax = self.fig.add_subplot()
        ax.set_axis_off()
        xy = view.xy if len(view.nodes) else np.zeros((1, 2))
        ax.add_collection(
            LineCollection(xy[view.edges], colors="#b0b0b0", linewidths=0.4, alpha=0.6)
        )
        self.points = ax.scatter(
            xy[: len(view.nodes), 0], xy[: len(view.nodes), 1], s=11, linewidths=0.3, c=NO_AI
        )
        self.points.set_edgecolor("white")
        self.moving = [self.points]
        pad = 0.03 * max(1e-9, float(np.ptp(xy)))
        ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
        ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
        self.kinds = ("", *ARCHETYPES)
        self.rgba = to_rgba_array([NO_AI, *(ARCHETYPE_COLOURS[a] for a in ARCHETYPES)])
        self.legend_handles = [
            Line2D([], [], ls="none", marker="o", color=colour)
            for colour in (*(ARCHETYPE_COLOURS[a] for a in ARCHETYPES), NO_AI)
        ]

    def update(self, model: AIEcosystemModel) -> list[str]:
        kinds = provider_archetypes(model, self.view.nodes)
        code = np.zeros(len(kinds), dtype=np.int64)
        for k, kind in enumerate(self.kinds[1:], start=1):
            code[kinds == kind] = k
        self.points.set_facecolor(self.rgba[code])
        counts = np.bincount(code, minlength=len(self.kinds))
        labels = [f"{ARCHETYPE_LABELS[a]} {counts[k]}" for k, a in enumerate(ARCHETYPES, 1)]
        return [*labels, f"No AI {counts[0]}"]


@dataclass(frozen=True)
class PanelSpec:
    key: str
    title: str
    chart: Callable[[AIEcosystemModel], Chart]


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("revenue", "Revenue share by archetype", RevenueShareChart),
    PanelSpec("prices", "Prices: tokens, compute, energy", PricesChart),
    PanelSpec("capability", "Frontier vs best open capability", CapabilityChart),
    PanelSpec("energy", "Data-centre electricity", EnergyChart),
    PanelSpec("adoption", "Enterprise adoption and returns", AdoptionChart),
    PanelSpec("capex", "Capex vs revenue, investor sentiment", CapexChart),
)
NETWORK_PANEL = PanelSpec("network", "Adoption network (sample)", NetworkChart)


def _swatch(handle: Line2D) -> str:
    """A legend key as inline SVG: a dot, a block of colour or a (dashed) line."""
    colour = html.escape(to_hex(handle.get_color()))
    if handle.get_marker() == "o":
        shape = f"<circle cx='9' cy='5' r='4' fill='{colour}'/>"
    elif handle.get_linewidth() >= 5:
        shape = f"<rect x='2' y='0' width='14' height='10' fill='{colour}' opacity='0.85'/>"
    else:
        dash = {"--": " stroke-dasharray='5 2'", ":": " stroke-dasharray='1.5 2'"}.get(
            handle.get_linestyle(), ""
        )
        width = max(1.0, float(handle.get_linewidth()))
        shape = (
            f"<line x1='0' y1='5' x2='18' y2='5' stroke='{colour}' stroke-width='{width:g}'{dash}/>"
        )
    return f"<svg width='18' height='10' aria-hidden='true'>{shape}</svg>"


def legend_html(handles: list[Line2D], labels: list[str]) -> str:
    """The chart's legend, with this month's values, as HTML above its image: the browser
    draws the text, which would cost more than the rest of the chart to draw in matplotlib."""
    items = "".join(
        f"<span class='aiecosim-key'>{_swatch(handle)}{html.escape(label)}</span>"
        for handle, label in zip(handles, labels, strict=True)
    )
    return f"<div class='aiecosim-legend'>{items}</div>"


@dataclass(frozen=True)
class Drawn:
    """A panel drawn for one month: the chart as PNG bytes and its legend as HTML."""

    png: bytes
    legend: str


def render_panel(spec: PanelSpec, model: AIEcosystemModel) -> Drawn:
    """The panel for the model's current month. The figure is made on first use and kept on the
    model; the time taken goes into `model.render_seconds[spec.key]`."""
    t0 = time.perf_counter()
    charts = model.__dict__.setdefault("_viz_charts", {})
    chart = charts.get(spec.key)
    if chart is None:
        chart = charts[spec.key] = spec.chart(model)
    png, labels = chart.render(model)
    drawn = Drawn(png, legend_html(chart.legend_handles, labels))
    model.__dict__.setdefault("render_seconds", {})[spec.key] = time.perf_counter() - t0
    return drawn


def firm_rows(model: AIEcosystemModel) -> list[dict]:
    """One row per firm: alive first, then by customers and capability."""
    rows = [
        {
            "name": b.name,
            "archetype": b.archetype,
            "alive": bool(b.alive),
            "cash_usd": float(b.cash_usd),
            "capability": float(b.capability),
            "price_usd_per_mtok": float(b.price_usd_per_mtok),
            "customers": int(b.customers) if b.alive else 0,
        }
        for b in model.builders
    ]
    rows.sort(key=lambda r: (not r["alive"], -r["customers"], -r["capability"]))
    return rows


def firm_table_html(model: AIEcosystemModel) -> str:
    head = "".join(
        f"<th style='text-align:{align}'>{name}</th>"
        for name, align in (
            ("Firm", "left"),
            ("Archetype", "left"),
            ("Alive", "center"),
            ("Cash", "right"),
            ("Capability", "right"),
            ("Price $/Mtok", "right"),
            ("Customers", "right"),
        )
    )
    body = []
    for r in firm_rows(model):
        colour = ARCHETYPE_COLOURS.get(r["archetype"], NOTE)
        label = ARCHETYPE_LABELS.get(r["archetype"], r["archetype"])
        style = "" if r["alive"] else " style='color:#999'"
        body.append(
            f"<tr{style}><td>{html.escape(r['name'])}</td>"
            f"<td><span style='color:{colour}'>&#9679;</span> {html.escape(label)}</td>"
            f"<td style='text-align:center'>{'yes' if r['alive'] else 'exited'}</td>"
            f"<td style='text-align:right'>{_money(r['cash_usd'])}</td>"
            f"<td style='text-align:right'>{r['capability']:.1f}</td>"
            f"<td style='text-align:right'>{r['price_usd_per_mtok']:.2f}</td>"
            f"<td style='text-align:right'>{r['customers']:,}</td></tr>"
        )
    return (
        "<table class='aiecosim-firms' style='width:100%;border-collapse:collapse;"
        "font-size:12.5px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def status_line(model: AIEcosystemModel) -> str:
    """'Month 6 of 120 · Jun 2025': months simulated and the last of them."""
    month, steps = model.month, model.cfg.run.steps
    if month == 0:
        return f"Month 0 of {steps} · not started"
    last = month_dates(model, [month - 1])[0].astype(object)
    return f"Month {month} of {steps} · {last:%b %Y}"


def status_details(model: AIEcosystemModel) -> str:
    preset = getattr(model, "preset", model.cfg.scenario.name)
    alive = model.alive_builders()
    counts = ", ".join(
        f"{sum(b.archetype == a for b in alive)} {ARCHETYPE_LABELS[a].lower()}" for a in ARCHETYPES
    )
    parts = [
        f"{preset}, seed {model.seed}",
        f"{model.enterprises.n:,} enterprises",
        f"{len(alive)} firms alive ({counts})",
    ]
    if model.__dict__.get("last_step_seconds"):
        drawn = sum(model.__dict__.get("render_seconds", {}).values())
        parts.append(
            f"last step {model.last_step_seconds * 1000:.0f} ms, redraw {drawn * 1000:.0f} ms"
        )
    return " · ".join(parts)


def levers_line(model: AIEcosystemModel) -> str:
    """The lever values this model runs with (the sliders apply at the next Reset)."""
    values = running_params(model)
    return "Levers in this run: " + " · ".join(
        f"{lever.short} {lever.fmt(values[name])}" for name, lever in LEVERS.items()
    )


# ------------------------------------------------------------------------------------ components
@solara.component
def ChartPanel(spec: PanelSpec, drawn: Drawn):
    """One chart as `Dashboard` drew it for this month."""
    with solara.Card(spec.title, margin=0, classes=["aiecosim-panel", f"aiecosim-{spec.key}"]):
        solara.HTML(tag="div", unsafe_innerHTML=drawn.legend)
        solara.Image(drawn.png, width="100%")


@solara.component
def FirmTable(model: AIEcosystemModel, month: int):
    table = solara.use_memo(lambda: firm_table_html(model), dependencies=[model, month])
    with solara.Card("Firms", margin=0, classes=["aiecosim-panel", "aiecosim-firms-card"]):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=table,
            style="max-height: 300px; overflow-y: auto",
        )


@solara.component
def StatusBar(model: AIEcosystemModel, month: int):
    with solara.Column(gap="0px", style="padding: 0 8px"):
        with solara.Row(style="align-items: baseline; gap: 16px"):
            solara.Text(
                status_line(model),
                classes=["aiecosim-month"],
                style="font-size: 20px; font-weight: 600; white-space: nowrap",
            )
            solara.Text(status_details(model), classes=["aiecosim-details"], style="opacity: 0.8")
        solara.Text(levers_line(model), classes=["aiecosim-levers"], style="opacity: 0.7")


@solara.component
def PendingBanner(changes: list[Change]):
    """The parameters the page shows that the running model does not use yet."""
    if changes:
        solara.Warning(
            pending_text(changes),
            dense=True,
            classes=["aiecosim-pending-banner"],
            style="margin: 0 8px",
        )


@solara.component
def Dashboard(model: AIEcosystemModel, changes: list[Change]):
    """Everything in the main area, for the model as it is now. The one component that follows
    Mesa's update counter (bumped after every step): it hands the month down, so a step is a
    single render pass, not one per panel."""
    update_counter.get()
    month = model.month
    # Drawn here, once per model month and before the status line reads how long it took.
    drawn = solara.use_memo(
        lambda: {spec.key: render_panel(spec, model) for spec in (*PANELS, NETWORK_PANEL)},
        dependencies=[model, month],
    )
    with solara.Column(gap="8px", style="padding: 4px 4px 12px 4px"):
        StatusBar(model, month)
        PendingBanner(changes)
        with solara.GridFixed(columns=3, column_gap="10px", row_gap="10px"):
            for spec in (*PANELS, NETWORK_PANEL):
                ChartPanel(spec, drawn[spec.key])
            with solara.Div(style="grid-column: span 2"):
                FirmTable(model, month)


# ------------------------------------------------------------------------------ browser assets
def browser_asset_packages() -> list[str]:
    """The npm packages (`name@version`) whose files solara's page loads through its CDN proxy,
    read from solara's own page template so they follow solara's version."""
    import ipyvue
    import solara.server
    import solara.server.settings as server_settings

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    specs = re.findall(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/", template.read_text())
    # The template loads the Vuetify 3 build of solara's front end with ipyvue 3, else Vuetify 2.
    vue3 = ipyvue.__version__.startswith("3")
    specs = [s for s in specs if "solara-vuetify" not in s or ("vuetify3" in s) == vue3]
    fontawesome = server_settings.assets.fontawesome_path.strip("/").split("/")[0]
    if server_settings.assets.fontawesome_enabled and "@" in fontawesome:
        specs.append(fontawesome)
    return list(dict.fromkeys(specs))


def ensure_browser_assets(log: Callable[[str], None] = print) -> list[str]:
    """Put the page's JavaScript and CSS in solara's asset cache where they are missing.

    solara's server fetches them from a public CDN on first use and caches them; a machine that
    cannot reach that CDN would show a blank page. The same files are the contents of npm
    packages, so when a package is missing from the cache and `npm` is installed, it is fetched
    with `npm pack` from the npm registry and unpacked into the cache. Returns the packages still
    missing (those solara will try the CDN for)."""
    import solara.server.settings as server_settings

    cache = Path(server_settings.assets.proxy_cache_dir)
    missing = [spec for spec in browser_asset_packages() if not (cache / spec).is_dir()]
    npm = shutil.which("npm")
    if not missing or npm is None:
        return missing
    log(f"fetching the page's browser assets with npm (first start only): {', '.join(missing)}")
    still_missing = []
    for spec in missing:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run(
                    [npm, "pack", spec, "--pack-destination", tmp, "--silent"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                (tarball,) = Path(tmp).glob("*.tgz")
                unpacked = Path(tmp) / "unpacked"
                with tarfile.open(tarball) as archive:
                    archive.extractall(unpacked, filter="data")
                target = cache / spec
                target.parent.mkdir(parents=True, exist_ok=True)
                staged = target.parent / f".{target.name}.partial"
                shutil.rmtree(staged, ignore_errors=True)
                shutil.move(unpacked / "package", staged)
                staged.rename(target)
            except (OSError, ValueError, subprocess.SubprocessError, tarfile.TarError) as err:
                if (cache / spec).is_dir():  # another server starting at once put it there
                    continue
                log(
                    f"could not fetch {spec} with npm ({type(err).__name__}); solara will try its CDN"
                )
                still_missing.append(spec)
    return still_missing


# ------------------------------------------------------------------------------------ page
def params_from_env() -> dict:
    """The parameters the page opens with: `aiecosim viz` passes its options in the
    environment; anything missing or unusable falls back to the defaults."""
    scenario = os.environ.get(ENV_SCENARIO, "baseline")
    if scenario not in list_scenarios():
        scenario = "baseline"
    seed = os.environ.get(ENV_SEED, "0")
    try:
        enterprises = max(1, int(os.environ.get(ENV_ENTERPRISES, DEFAULT_ENTERPRISES)))
    except ValueError:
        enterprises = DEFAULT_ENTERPRISES
    return scenario_params(scenario, seed, enterprises)


@solara.component
def PendingNote(change: Change | None):
    """Under a control whose value the running model does not use yet."""
    if change is not None:
        solara.Text(
            f"running: {change.running} · Reset to apply",
            classes=["aiecosim-pending"],
        )


def _slider_range(lever: Lever, value: float) -> tuple[float, float]:
    """The lever's range, widened to hold a scenario value outside it."""
    return min(lever.min, value), max(lever.max, value)


@solara.component
def LeverSlider(name: str, value: float, on_value: Callable[[str, object], None]):
    lever = LEVERS[name]
    low, high = _slider_range(lever, float(value))
    if lever.integer and float(value).is_integer() and float(low).is_integer():
        solara.SliderInt(
            lever.label,
            value=int(value),
            min=int(low),
            max=int(np.ceil(high)),
            step=int(lever.step),
            on_value=lambda v: on_value(name, int(v)),
        )
    else:
        solara.SliderFloat(
            lever.label,
            value=float(value),
            min=low,
            max=high,
            step=lever.step,
            on_value=lambda v: on_value(name, float(v)),
        )


@solara.component
def ScenarioCard(params: solara.Reactive[dict], pending: dict[str, Change]):
    """Picking a scenario moves every lever slider to that scenario's value (the seed and the
    enterprise count stay); like every parameter, it applies at the next Reset."""
    scenarios = list_scenarios()
    scenario = params.value["scenario_name"]

    def choose(name: str) -> None:
        if name != params.value["scenario_name"]:
            params.value = {**params.value, "scenario_name": name, **scenario_levers(name)}

    with solara.Card("Scenario"):
        solara.Select("Scenario", value=scenario, values=list(scenarios), on_value=choose)
        PendingNote(pending.get("scenario_name"))
        solara.Text(scenarios.get(scenario, ""), style="font-size: 13px; opacity: 0.75")


@solara.component
def ParametersCard(params: solara.Reactive[dict], pending: dict[str, Change]):
    """The seed, the enterprise count and the lever sliders, each showing the page's value
    (what Reset will use), with a note where the running model uses another."""
    values = params.value

    def set_param(name: str, value) -> None:
        params.value = {**params.value, name: value}

    enterprises = int(values["enterprises"])
    with solara.Card("Model parameters"):
        solara.InputText(
            "Random seed", value=str(values["seed"]), on_value=lambda v: set_param("seed", v)
        )
        PendingNote(pending.get("seed"))
        solara.SliderInt(
            "Enterprises",
            value=enterprises,
            min=min(500, enterprises),
            max=max(50_000, enterprises),
            step=500,
            on_value=lambda v: set_param("enterprises", int(v)),
        )
        PendingNote(pending.get("enterprises"))
        for name in LEVERS:
            LeverSlider(name, values[name], set_param)
            PendingNote(pending.get(name))


@solara.component
def ControlsCard(
    model: solara.Reactive[AIEcosystemModel],
    params: solara.Reactive[dict],
    pending: bool,
):
    """Mesa's model controller (Reset, play/pause, Step): Reset builds a `VizModel` from the
    page's parameters, `params`, which the cards below edit."""
    play_interval = solara.use_reactive(150)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    with solara.Card("Controls"):
        solara.SliderInt("Play Interval (ms)", value=play_interval, min=10, max=500, step=10)
        solara.SliderInt("Render Interval (steps)", value=render_interval, min=1, max=100, step=1)
        solara.Checkbox(label="Use Threads", value=use_threads)
        ModelController(
            model,
            model_parameters=params,
            play_interval=play_interval,
            render_interval=render_interval,
            use_threads=use_threads,
        )
        if pending:
            solara.Text(
                "Changed parameters: Reset to apply them",
                classes=["aiecosim-pending"],
                style="margin-top: 8px",
            )


@solara.component
def Page():
    """The app solara serves: Mesa's model controller, the scenario and the model parameters
    in the sidebar, the dashboard in the main area.

    The page's parameters (`params`: scenario, seed, enterprises and every lever) are the
    keyword arguments of the next model: Mesa's Reset builds `VizModel(**params)`. Every
    control shows its value in `params`, so what the page shows is what Reset runs; a value
    that differs from the running model's is marked "Reset to apply"."""
    initial = solara.use_memo(params_from_env, [])
    params = solara.use_reactive(initial)
    first = solara.use_memo(lambda: VizModel(**initial), [])
    model = solara.use_reactive(first)
    current = model.value
    changes = pending_changes(params.value, current)
    pending = {c.name: c for c in changes}

    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
        solara.lab.ThemeToggle()
    with solara.Sidebar(), solara.Column():
        ScenarioCard(params, pending)
        ControlsCard(model, params, bool(changes))
        ParametersCard(params, pending)
    Dashboard(current, changes)


# ------------------------------------------------------------------------------ screenshot
SCREENSHOT_VIEWPORT = {"width": 1600, "height": 1250}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_MONTH_IS = "k => document.querySelector('.aiecosim-month')?.innerText.startsWith(`Month ${k} `)"
_IMAGES_LOADED = (
    "() => [...document.querySelectorAll('.aiecosim-panel img')]"
    ".every(img => img.complete && img.naturalWidth > 0)"
)


class ScreenshotError(RuntimeError):
    """The screenshot could not be taken (the message is one line)."""


def take_screenshot(
    url: str, path: Path, months: int, chromium: str, timeout_s: float = 60
) -> None:
    """Open the app at `url` in headless Chromium, press Step `months` times (each time waiting
    for the page to show the new month), and save the page as PNG at `path`."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=SCREENSHOT_VIEWPORT)
                page.set_default_timeout(timeout_s * 1000)
                page.goto(url)
                page.locator(".aiecosim-month").wait_for()
                step = page.get_by_role("button", name="Step")
                for k in range(1, months + 1):
                    step.click()
                    page.wait_for_function(_MONTH_IS, arg=k)
                page.wait_for_function(_IMAGES_LOADED)
                page.wait_for_timeout(250)  # let the last images paint
                page.screenshot(path=str(path))
            finally:
                browser.close()
    except PlaywrightError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScreenshotError(f"could not take the screenshot: {first}") from err


def screenshot_app(server, sock, url: str, path: Path, months: int, chromium: str) -> None:
    """Run the uvicorn `server` on `sock` in a thread, take the screenshot, stop the server."""
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aiecosim-viz-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ScreenshotError("could not take the screenshot: the server did not start")
            time.sleep(0.05)
        take_screenshot(url, path, months, chromium)
    finally:
        server.should_exit = True
        stop_all_models()
        thread.join(timeout=15)

"""The browser visualiser: a Mesa (mesa.visualization) and solara app of the AI industry, month
by month.

`aiecosim viz` serves `Page` (solara finds it by name in this module). The sidebar holds a
scenario picker, Mesa's model controller (Reset, play/pause, Step, play speed) and the model
parameters: seed, enterprise count and sliders for the main levers. The main area redraws after
every step:

* a status line: month and date, scenario, seed, firms alive by archetype, the time the last
  step and redraw took, and the lever values the running model uses;
* a "Reset to apply" banner while the page shows parameters the running model does not use;
* the run's charts (`APP_CHARTS`): the report figure's charts of the model table, from the
  same definitions (`aiecosim.views.charts.CHARTS`), growing month by month;
* the adoption network, a sample of at most `NETWORK_NODES` enterprises coloured by the
  archetype of their provider (layout computed once per model, `aiecosim.views.layout`);
* a table of firms.

The scenario and every lever are model parameters, all held in one reactive dict (`params`, the
keyword arguments of `VizModel`) that every control shows and edits: Mesa's Reset builds the next
model from exactly what the page shows. Picking a scenario moves each lever slider to that
scenario's value (read from its resolved config at the lever's config path); like any other
change it applies at the next Reset, and until then the banner and a note under the control say
so. A seed that is not a whole number is refused: the box says why and Reset keeps the last
model.

Each chart is a matplotlib figure kept for the life of a model and redrawn in layers
(`aiecosim.views.charts.LayeredChart`): axes and labels are drawn once and again only when an
axis range moves to its next round value, the lines, areas and points every month; the legend
with this month's values is HTML beside the image. `VizModel.last_step_seconds` and
`VizModel.render_seconds` keep the time the last step and each panel's last drawing took.

`screenshot_app` (behind `aiecosim viz --screenshot`) serves the app in a thread, steps it in
headless Chromium with playwright and saves the page as PNG. The page's JavaScript and CSS come
through solara's CDN proxy (`aiecosim.views.assets` fills its cache from npm first).
"""

from __future__ import annotations

import html
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import solara
import solara.lab
from aiecosim.agents.archetypes import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from aiecosim.config import SimConfig, list_scenarios, load_config
from aiecosim.model import AIEcosystemModel
from aiecosim.views.charts import (
    AREA_ALPHA,
    CHART_DPI,
    CHART_SIZE_IN,
    CHARTS,
    NO_AI,
    NOTE,
    ChartSpec,
    Key,
    LayeredChart,
    Months,
    TimeChart,
    encode_png,
    money,
)
from aiecosim.views.layout import spring_layout
from matplotlib.collections import LineCollection
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import update_counter

TITLE = "aiecosim: AI strategies, month by month"
NETWORK_NODES = 500  # the adoption network panel shows at most this many enterprises
DEFAULT_ENTERPRISES = 5000
ENV_SCENARIO = "AIECOSIM_VIZ_SCENARIO"
ENV_SEED = "AIECOSIM_VIZ_SEED"
ENV_ENTERPRISES = "AIECOSIM_VIZ_ENTERPRISES"
# The charts the page shows, in this order: every chart of the report that reads the model
# table (the report's "largest firms" chart reads the firm table; the page has a live table).
APP_CHARTS = tuple(key for key, spec in CHARTS.items() if spec.source == "model")
WAITING = "press Step or Play"  # the charts' note before the first month
GRID_COLUMNS = 3
# The firm table fills the rest of the charts' last row, or a row of its own when that would
# leave it a single column.
_LEFT = GRID_COLUMNS - (len(APP_CHARTS) + 1) % GRID_COLUMNS
FIRM_TABLE_COLUMNS = _LEFT if 2 <= _LEFT < GRID_COLUMNS else GRID_COLUMNS

# Mesa's sidebar sliders put their label beside the track: long labels squeeze the track to
# nothing in the sidebar's width, so each label goes on its own line above its slider, whose
# value shows on its thumb at all times (Mesa's sliders show it only while dragging). The
# sidebar's and app bar's empty placeholders in the main column would leave a gap at the top.
# The charts' titles (the report's) are long for a third of the page: smaller, and they wrap
# rather than end in an ellipsis.
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
.aiecosim-panel .v-card-title { white-space: normal; font-size: 17px; line-height: 1.35; }
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


SEED_RULE = "a whole number, 0 or more"  # as `aiecosim run --seed`


def parse_seed(seed: int | str) -> int | None:
    """The seed box's text as a seed: a whole number, 0 or more ("03" is 3); None for any
    other text (the page refuses it, see `ParametersCard`)."""
    text = str(seed).strip()
    return int(text) if text.isascii() and text.isdigit() else None


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
        rng = parse_seed(seed)
        if rng is None:
            raise ValueError(f"seed {str(seed).strip()!r}: must be {SEED_RULE}")
        super().__init__(config, rng=rng)
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
def start_month(model: AIEcosystemModel) -> np.datetime64:
    """The run's first month."""
    return np.datetime64(model.start.strftime("%Y-%m"), "M")


def month_dates(model: AIEcosystemModel, months) -> np.ndarray:
    """The first day of each of the run's `months` (0 = the first month)."""
    start = start_month(model)
    return (start + np.asarray(months, dtype="timedelta64[M]")).astype("datetime64[D]")


def history(model: AIEcosystemModel) -> Months:
    """The model's monthly table as arrays (the columns the charts read), built once per
    collected month and cached on the model. Read straight from the DataCollector's lists (a
    DataFrame per redraw costs more than drawing); with Mesa's "Use Threads" a step may be
    appending while a chart reads, so every column is cut to the months that all of them have."""
    data = model.datacollector.model_vars
    present = [name for name in ("month", *HISTORY_COLUMNS) if name in data]
    n = min((len(data[name]) for name in present), default=0) if "month" in data else 0
    cached = model.__dict__.get("_viz_history")
    if cached is not None and cached[0] == n:
        return cached[1]
    months = np.asarray(data["month"][:n] if n else [], dtype=np.int64)
    columns = {  # a metric the model stops collecting reads as NaN: a gap, not an error
        name: np.asarray(data[name][:n], dtype=float) for name in HISTORY_COLUMNS if name in data
    }
    result = Months(month_dates(model, months), columns)
    model.__dict__["_viz_history"] = (n, result)
    return result


# ------------------------------------------------------------------------------ network sample
@dataclass
class NetworkView:
    """A sample of the adoption network and its layout, fixed for the life of a model."""

    nodes: np.ndarray  # enterprise indices
    edges: np.ndarray  # (edges, 2) positions in `nodes`
    xy: np.ndarray  # (nodes, 2) layout coordinates


def network_view(model: AIEcosystemModel) -> NetworkView:
    """The sampled network (`AdoptionNetwork.sample`) and its layout: computed on first use,
    cached on the model. Its own random generator leaves the model's random stream (and so the
    simulation) untouched."""
    cached = model.__dict__.get("_viz_network")
    if cached is not None:
        return cached
    seed = model.seed if isinstance(model.seed, int) else 0
    rng = np.random.default_rng([abs(seed), 1789])
    graph = model.network.sample(NETWORK_NODES, rng)
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


class NetworkChart(LayeredChart):
    """The sampled network: edges and layout drawn once, the nodes recoloured every month by
    the archetype of their provider."""

    def __init__(self, model: AIEcosystemModel):
        margins = {"left": 0.01, "right": 0.99, "top": 0.99, "bottom": 0.01}
        super().__init__(CHART_SIZE_IN, CHART_DPI, margins)
        self.view = view = network_view(model)
        ax = self.fig.add_subplot()
        ax.set_axis_off()
        xy = view.xy if len(view.nodes) else np.zeros((1, 2))
        ax.add_collection(
            LineCollection(xy[view.edges], colors="#b0b0b0", linewidths=0.4, alpha=0.6)
        )
        # One marker line per kind of provider: Agg stamps a line's one marker at every point,
        # several times faster than a scatter's points of many colours.
        self.points = [
            ax.plot([], [], ls="none", marker="o", ms=3.4, mfc=colour, mec="white", mew=0.3)[0]
            for colour in (NO_AI, *(ARCHETYPE_COLOURS[a] for a in ARCHETYPES))
        ]
        self.moving = list(self.points)
        pad = 0.03 * max(1e-9, float(np.ptp(xy)))
        ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
        ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)

    def render(self, model: AIEcosystemModel) -> tuple[bytes, list[Key]]:
        """The network for the model's current month, and its legend with the count of
        sampled enterprises per provider archetype."""
        with self.lock:
            kinds = provider_archetypes(model, self.view.nodes)
            code = np.zeros(len(kinds), dtype=np.int64)
            for k, kind in enumerate(ARCHETYPES, start=1):
                code[kinds == kind] = k
            xy = self.view.xy
            for k, points in enumerate(self.points):
                points.set_data(xy[code == k, 0], xy[code == k, 1])
            self.draw_layers()
            counts = np.bincount(code, minlength=len(ARCHETYPES) + 1)
            keys = [
                Key(f"{ARCHETYPE_LABELS[a]} {counts[k]}", ARCHETYPE_COLOURS[a], "dot")
                for k, a in enumerate(ARCHETYPES, start=1)
            ]
            return encode_png(self.canvas), [*keys, Key(f"No AI {counts[0]}", NO_AI, "dot")]


# ------------------------------------------------------------------------------------ panels
@dataclass(frozen=True)
class PanelSpec:
    """A panel of the page: its figure, made once per model, and what it draws each month."""

    key: str
    title: str
    chart: Callable[[AIEcosystemModel], LayeredChart]
    data: Callable[[AIEcosystemModel], object]


def _time_panel(spec: ChartSpec) -> PanelSpec:
    def chart(model: AIEcosystemModel) -> TimeChart:
        return TimeChart(spec, start_month(model), model.cfg.run.steps, waiting=WAITING)

    return PanelSpec(spec.key, spec.title, chart, history)


PANELS: tuple[PanelSpec, ...] = tuple(_time_panel(CHARTS[key]) for key in APP_CHARTS)
NETWORK_PANEL = PanelSpec("network", "Adoption network (sample)", NetworkChart, lambda m: m)
HISTORY_COLUMNS = tuple(dict.fromkeys(c for key in APP_CHARTS for c in CHARTS[key].columns()))


def _swatch(key: Key) -> str:
    """A legend key as inline SVG: a dot, a block of colour or a (dashed, dotted) line."""
    colour = html.escape(key.colour)
    if key.shape == "dot":
        shape = f"<circle cx='9' cy='5' r='4' fill='{colour}'/>"
    elif key.shape in ("area", "shade"):
        opacity = AREA_ALPHA if key.shape == "area" else 0.25
        shape = f"<rect x='2' y='0' width='14' height='10' fill='{colour}' opacity='{opacity}'/>"
    else:
        dash = {"dashed": " stroke-dasharray='5 2'", "dotted": " stroke-dasharray='1.5 2'"}
        shape = (
            f"<line x1='0' y1='5' x2='18' y2='5' stroke='{colour}' "
            f"stroke-width='{max(1.0, key.width):g}'{dash.get(key.shape, '')}/>"
        )
    return f"<svg width='18' height='10' aria-hidden='true'>{shape}</svg>"


def legend_html(keys: list[Key]) -> str:
    """The chart's legend, with this month's values, as HTML above its image: the browser
    draws the text, which would cost more than the rest of the chart to draw in matplotlib."""
    items = "".join(
        f"<span class='aiecosim-key'>{_swatch(key)}{html.escape(key.label)}</span>" for key in keys
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
    png, keys = chart.render(spec.data(model))
    drawn = Drawn(png, legend_html(keys))
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
            f"<td style='text-align:right'>{money(r['cash_usd'])}</td>"
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
        with solara.GridFixed(columns=GRID_COLUMNS, column_gap="10px", row_gap="10px"):
            for spec in (*PANELS, NETWORK_PANEL):
                ChartPanel(spec, drawn[spec.key])
            with solara.Div(style=f"grid-column: span {FIRM_TABLE_COLUMNS}"):
                FirmTable(model, month)


# ------------------------------------------------------------------------------------ page
def params_from_env() -> dict:
    """The parameters the page opens with: `aiecosim viz` passes its options in the
    environment; anything missing or unusable falls back to the defaults."""
    scenario = os.environ.get(ENV_SCENARIO, "baseline")
    if scenario not in list_scenarios():
        scenario = "baseline"
    seed = os.environ.get(ENV_SEED, "0")
    if parse_seed(seed) is None:
        seed = "0"
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
    # The box's text, kept apart from the parameters: a seed that is not a whole number 0 or
    # more stays in the box, marked, and never reaches the parameters, so Reset keeps running
    # the last good seed instead of failing.
    seed_text = solara.use_reactive(str(values["seed"]))

    def set_param(name: str, value) -> None:
        params.value = {**params.value, name: value}

    def set_seed(text: str | None) -> None:
        seed_text.value = text or ""
        if parse_seed(seed_text.value) is not None:
            set_param("seed", seed_text.value.strip())

    bad_seed = parse_seed(seed_text.value) is None
    enterprises = int(values["enterprises"])
    with solara.Card("Model parameters"):
        solara.InputText(
            "Random seed",
            value=seed_text.value,
            on_value=set_seed,
            error=f"not a seed: must be {SEED_RULE}; Reset uses seed {values['seed']}"
            if bad_seed
            else False,
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

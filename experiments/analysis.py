"""What a sweep says: which strategies survive, win share or die, where, and which levers matter.

`analyze(DIR)` reads a results store and writes report.html (opens from disk, figures inline)
plus CSV tables:

- survival.csv: per point, the probability that each archetype (and each strategy) survives,
  with a 95% Wilson interval, the probability it wins (highest revenue over the last year) and
  its mean final revenue share;
- headline.csv: the same over all runs;
- sensitivity.csv: Sobol first- and total-order indices (Saltelli designs) or Morris mu*/sigma
  (Morris designs) of the chosen outputs, from SALib;
- discovery.csv: scenario discovery: the parameter box in which each archetype wins, read off a
  shallow decision tree (coverage: share of that archetype's wins inside the box; density:
  share of runs inside the box that it wins).
"""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.experiments.design import build_design, salib_problem
from aiecosim.experiments.spec import ExperimentSpec
from aiecosim.experiments.store import ResultsStore, StoreError, read_results
from aiecosim.report import ARCHETYPE_COLOURS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import binomtest
from sklearn.tree import DecisionTreeClassifier

COLOURS = ARCHETYPE_COLOURS


def wilson(k: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return (math.nan, math.nan, math.nan)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (k / n, float(ci.low), float(ci.high))


def _survival_columns(group: pd.DataFrame, strategies: list[str]) -> dict:
    n = len(group)
    row: dict = {"runs": n}
    for a in ARCHETYPES:
        p, lo, hi = wilson(group[f"survived_{a}"].sum(), n)
        row |= {f"survive_{a}": p, f"survive_{a}_lo": lo, f"survive_{a}_hi": hi}
        row[f"firm_survival_{a}"] = float(group[f"firm_survival_{a}"].mean())
        row[f"win_{a}"] = float((group["winner_archetype"] == a).mean())
        if "profit_winner_archetype" in group:
            row[f"win_by_profit_{a}"] = float((group["profit_winner_archetype"] == a).mean())
            row[f"profit_usd_{a}"] = float(group[f"cum_profit_usd_{a}"].mean())
        row[f"share_{a}"] = float(group[f"final_share_{a}"].mean())
    if "consumer_surplus_usd_total" in group:
        row["consumer_surplus_usd_total"] = float(group["consumer_surplus_usd_total"].mean())
    for s in strategies:
        started = group[f"started_strategy__{s}"] > 0
        k = int((group.loc[started, f"alive_strategy__{s}"] > 0).sum())
        p, lo, hi = wilson(k, int(started.sum()))
        row |= {
            f"survive_strategy__{s}": p,
            f"survive_strategy__{s}_lo": lo,
            f"survive_strategy__{s}_hi": hi,
        }
    return row


def survival_table(runs: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    strategies = sorted(
        c.removeprefix("started_strategy__")
        for c in runs.columns
        if c.startswith("started_strategy__")
    )
    rows = []
    for point, group in runs.groupby("point", sort=True):
        rows.append(
            {
                "point": point,
                **group.iloc[0][params].to_dict(),
                **_survival_columns(group, strategies),
            }
        )
    return pd.DataFrame(rows)


def headline_table(runs: pd.DataFrame) -> pd.DataFrame:
    strategies = sorted(
        c.removeprefix("started_strategy__")
        for c in runs.columns
        if c.startswith("started_strategy__")
    )
    overall = _survival_columns(runs, strategies)
    rows = []
    for a in ARCHETYPES:
        rows.append(
            {
                "archetype": a,
                "survival_probability": overall[f"survive_{a}"],
                "ci_low": overall[f"survive_{a}_lo"],
                "ci_high": overall[f"survive_{a}_hi"],
                "firm_survival_share": overall[f"firm_survival_{a}"],
                "win_probability": overall[f"win_{a}"],
                "win_by_profit_probability": overall.get(f"win_by_profit_{a}", math.nan),
                "mean_cumulative_profit_usd": overall.get(f"profit_usd_{a}", math.nan),
                "mean_final_share": overall[f"share_{a}"],
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- sensitivity
def sensitivity_table(
    spec: ExperimentSpec, runs: pd.DataFrame, points: pd.DataFrame
) -> pd.DataFrame:
    """Sobol or Morris indices of each chosen output (mean over replicates at each point)."""
    design = spec.experiment.design
    if design not in ("sobol", "morris"):
        return pd.DataFrame()
    problem = salib_problem(spec)
    means = runs.groupby("point")[spec.experiment.outputs].mean(numeric_only=True)
    if len(means) != len(points):
        return pd.DataFrame()  # indices need every point of the design
    rows = []
    for output in spec.experiment.outputs:
        y = means[output].reindex(points.index).to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            continue
        if design == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=False, seed=spec.experiment.seed)
            for j, name in enumerate(problem["names"]):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "S1": res["S1"][j],
                        "S1_conf": res["S1_conf"][j],
                        "ST": res["ST"][j],
                        "ST_conf": res["ST_conf"][j],
                    }
                )
        else:
            from SALib.analyze import morris

            raw = _unrounded(spec, points)
            x = np.column_stack(
                [np.log(raw[n]) if spec.parameters[n].log else raw[n] for n in problem["names"]]
            )
            res = morris.analyze(
                problem, x, y, num_levels=spec.experiment.morris_levels, seed=spec.experiment.seed
            )
            for j, name in enumerate(problem["names"]):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "mu_star": res["mu_star"][j],
                        "mu_star_conf": res["mu_star_conf"][j],
                        "sigma": res["sigma"][j],
                    }
                )
    return pd.DataFrame(rows)


def _unrounded(spec: ExperimentSpec, points: pd.DataFrame) -> pd.DataFrame:
    """The design's draws before integer levers were rounded (Morris tells a trajectory's
    steps apart by them), when regenerating the design gives back the stored points."""
    if not points.attrs.get("rounded_to_int"):
        return points
    raw = build_design(spec, round_integers=False)
    again = build_design(spec)
    if again.shape == points.shape and np.allclose(
        again.to_numpy(dtype=float), points.to_numpy(dtype=float)
    ):
        return raw
    return points


# ---------------------------------------------------------------------------- discovery
def discovery_table(runs: pd.DataFrame, params: list[str], seed: int = 0) -> pd.DataFrame:
    """For each winning archetype, the box of parameter ranges where it wins most."""
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(runs[p])]
    if not numeric or runs["winner_archetype"].nunique() < 2:
        return pd.DataFrame()
    x = runs[numeric].to_numpy(dtype=float)
    y = runs["winner_archetype"].to_numpy()
    tree = DecisionTreeClassifier(
        max_depth=3, min_samples_leaf=max(2, len(runs) // 20), random_state=seed
    ).fit(x, y)
    leaves = tree.apply(x)
    boxes = _leaf_boxes(tree, numeric)
    rows = []
    for a in sorted(set(y)):
        wins = y == a
        best = None
        for leaf, box in boxes.items():
            inside = leaves == leaf
            density = float(wins[inside].mean()) if inside.any() else 0.0
            coverage = float((wins & inside).sum() / wins.sum())
            if best is None or (density, coverage) > (best["density"], best["coverage"]):
                best = {
                    "archetype": a,
                    "density": density,
                    "coverage": coverage,
                    "runs_in_box": int(inside.sum()),
                    "box": box,
                }
        rows.append(
            {
                "archetype": best["archetype"],
                "box": " and ".join(best["box"]) or "everywhere",
                "density": best["density"],
                "coverage": best["coverage"],
                "runs_in_box": best["runs_in_box"],
            }
        )
    return pd.DataFrame(rows)


def _leaf_boxes(tree: DecisionTreeClassifier, names: list[str]) -> dict[int, list[str]]:
    t = tree.tree_
    boxes: dict[int, list[str]] = {}

    def walk(node: int, bounds: dict[str, list[float]]):
        if t.children_left[node] == -1:
            boxes[node] = [
                f"{lo:.4g} < {n} <= {hi:.4g}"
                if lo > -np.inf and hi < np.inf
                else (f"{n} <= {hi:.4g}" if hi < np.inf else f"{n} > {lo:.4g}")
                for n, (lo, hi) in bounds.items()
                if lo > -np.inf or hi < np.inf
            ]
            return
        name, threshold = names[t.feature[node]], t.threshold[node]
        lo, hi = bounds.get(name, [-np.inf, np.inf])
        walk(t.children_left[node], {**bounds, name: [lo, min(hi, threshold)]})
        walk(t.children_right[node], {**bounds, name: [max(lo, threshold), hi]})

    walk(0, {})
    return boxes


# ---------------------------------------------------------------------------- figures
def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _binned(series: pd.Series, bins: int = 5) -> pd.Series:
    if series.nunique() <= 8:
        return series
    return pd.qcut(series, bins, duplicates="drop").apply(lambda iv: round(iv.mid, 4))


def trajectories_figure(monthly: pd.DataFrame, runs: pd.DataFrame, params: list[str]) -> Figure:
    """Revenue share of each archetype over time: median and 10-90% band across runs, one line
    per value (or bin) of the first parameter."""
    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3, sharey=True)
    by = params[0]
    groups = _binned(runs.set_index("run")[by]).rename("group")
    data = monthly.join(groups, on="run")
    data["date"] = pd.to_datetime(data["date"])
    palette = [
        "#1b4f72",
        "#2e86c1",
        "#85c1e9",
        "#f5b041",
        "#ca6f1e",
        "#784212",
        "#7d3c98",
        "#17a589",
    ]
    for ax, a in zip(axes, ARCHETYPES, strict=True):
        col = f"share_revenue_{a}"
        for i, (value, g) in enumerate(data.groupby("group", sort=True)):
            q = g.groupby("date")[col].quantile([0.1, 0.5, 0.9]).unstack()
            colour = palette[i % len(palette)]
            ax.fill_between(q.index, q[0.1], q[0.9], color=colour, alpha=0.15, linewidth=0)
            ax.plot(q.index, q[0.5], color=colour, label=f"{by} = {value}")
        ax.set_title(f"revenue share: {a.replace('_', ' ')}")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of AI model revenue (median, 10-90% band)")
    axes[-1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def heatmap_figure(runs: pd.DataFrame, x: str, y: str) -> Figure:
    """Share of each archetype's firms that survive, and the most frequent winner, over two
    parameters (averaged over the other parameters and the replicates)."""
    data = runs.assign(_x=_binned(runs[x]), _y=_binned(runs[y]))
    fig = Figure(figsize=(18, 4.4))
    axes = fig.subplots(1, 4)
    for ax, a in zip(axes[:3], ARCHETYPES, strict=True):
        table = data.pivot_table(
            index="_y", columns="_x", values=f"firm_survival_{a}", aggfunc="mean"
        )
        im = ax.imshow(
            table.to_numpy(dtype=float),
            origin="lower",
            vmin=0,
            vmax=1,
            cmap="viridis",
            aspect="auto",
        )
        _ticks(ax, table, x, y)
        for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v < 0.6 else "black",
            )
        ax.set_title(f"share of firms surviving: {a.replace('_', ' ')}s")
        fig.colorbar(im, ax=ax, fraction=0.046)
    codes = {a: i for i, a in enumerate(ARCHETYPES)}
    winners = data.pivot_table(
        index="_y",
        columns="_x",
        values="winner_archetype",
        aggfunc=lambda s: s.value_counts().index[0],
    )
    grid = winners.apply(lambda c: c.map(lambda w: codes.get(w, np.nan))).to_numpy(dtype=float)
    from matplotlib.colors import ListedColormap

    axes[3].imshow(
        grid,
        origin="lower",
        cmap=ListedColormap([COLOURS[a] for a in ARCHETYPES]),
        vmin=-0.5,
        vmax=2.5,
        aspect="auto",
    )
    _ticks(axes[3], winners, x, y)
    for (i, j), w in np.ndenumerate(winners.to_numpy()):
        axes[3].text(
            j, i, str(w).replace("_", " "), ha="center", va="center", fontsize=8, color="white"
        )
    axes[3].set_title("most frequent winner")
    fig.tight_layout()
    return fig


def _ticks(ax, table: pd.DataFrame, x: str, y: str) -> None:
    ax.set_xticks(
        range(len(table.columns)),
        [f"{v:.3g}" if isinstance(v, float) else str(v) for v in table.columns],
        fontsize=8,
    )
    ax.set_yticks(
        range(len(table.index)),
        [f"{v:.3g}" if isinstance(v, float) else str(v) for v in table.index],
        fontsize=8,
    )
    ax.set_xlabel(x)
    ax.set_ylabel(y)


def sensitivity_figure(table: pd.DataFrame) -> Figure | None:
    if table.empty:
        return None
    outputs = list(table["output"].unique())
    fig = Figure(figsize=(5 * len(outputs), 4))
    axes = np.atleast_1d(fig.subplots(1, len(outputs)))
    for ax, output in zip(axes, outputs, strict=True):
        t = table[table["output"] == output]
        if "ST" in t:
            pos = np.arange(len(t))
            ax.barh(pos - 0.2, t["S1"], height=0.4, label="first order")
            ax.barh(pos + 0.2, t["ST"], height=0.4, label="total order")
            ax.set_xlabel("Sobol index")
        else:
            pos = np.arange(len(t))
            ax.barh(pos, t["mu_star"], xerr=t["mu_star_conf"], label="mu*")
            ax.set_xlabel("Morris mu*")
        ax.set_yticks(pos, t["parameter"], fontsize=8)
        ax.set_title(output)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- the report
@dataclass
class Analysis:
    headline: pd.DataFrame
    survival: pd.DataFrame
    sensitivity: pd.DataFrame
    discovery: pd.DataFrame
    figures: dict[str, str] = field(default_factory=dict)  # name -> base64 PNG
    skipped: dict[str, str] = field(default_factory=dict)  # damaged run -> why it was left out


def open_sweep(root: str | Path) -> tuple[ResultsStore, ExperimentSpec, pd.DataFrame]:
    """A results folder's store, spec and design, or a one-line StoreError (no such folder,
    a file, no manifest, no spec or a bad one in it, no or a damaged points.parquet)."""
    store = ResultsStore(root)
    spec = store.read_spec(store.read_manifest())
    return store, spec, store.read_points()


def prepare_report_dir(out: str | Path) -> Path:
    """Make the report folder and check it can be written, before any work; a StoreError
    says why not (a file in the way, a read-only folder)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"report folder {str(out)!r} is a file; give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise StoreError(
            f"cannot write the report to {str(out)!r}: {err.strerror or err}; give --out a "
            "folder you can write to (the results are only read)"
        ) from None
    return out


def analyze(
    root: str | Path, x: str | None = None, y: str | None = None
) -> tuple[Analysis, ExperimentSpec]:
    store, spec, points = open_sweep(root)
    params = list(spec.parameters)
    for name, given in (("--x", x), ("--y", y)):
        if given is not None and given not in params:
            raise StoreError(
                f"{name} {given!r} is not a parameter of this sweep; "
                f"parameters: {', '.join(params)}"
            )
    loaded = read_results(store.root)
    runs, monthly = loaded.runs, loaded.monthly
    missing = [p for p in params if p not in runs.columns]
    if missing:
        raise StoreError(
            f"{store.root}: the stored runs have no column {', '.join(missing)}: they do not "
            "come from this manifest's spec"
        )
    x = x or params[0]
    y = y or (params[1] if len(params) > 1 else params[0])
    result = Analysis(
        headline=headline_table(runs),
        survival=survival_table(runs, params),
        sensitivity=sensitivity_table(spec, runs, points),
        discovery=discovery_table(runs, params, spec.experiment.seed),
        skipped=loaded.skipped,
    )
    result.figures["trajectories"] = _png(trajectories_figure(monthly, runs, params))
    if x != y:
        result.figures["heatmap"] = _png(heatmap_figure(runs, x, y))
    sens = sensitivity_figure(result.sensitivity)
    if sens is not None:
        result.figures["sensitivity"] = _png(sens)
    return result, spec


def write_report(result: Analysis, spec: ExperimentSpec, out: str | Path, n_runs: int) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.headline.to_csv(out / "headline.csv", index=False)
    result.survival.to_csv(out / "survival.csv", index=False)
    if not result.sensitivity.empty:
        result.sensitivity.to_csv(out / "sensitivity.csv", index=False)
    if not result.discovery.empty:
        result.discovery.to_csv(out / "discovery.csv", index=False)
    for name, data in result.figures.items():  # the figures also as files, for slides
        (out / f"{name}.png").write_bytes(base64.b64decode(data))
    e = spec.experiment
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False, "border": 0}
    survival_cols = [
        "point",
        *spec.parameters,
        "runs",
        *[
            c
            for a in ARCHETYPES
            for c in (f"survive_{a}", f"survive_{a}_lo", f"survive_{a}_hi", f"win_{a}")
        ],
        *[c for c in result.survival.columns if c.startswith("profit_usd_")],
        *[c for c in ("consumer_surplus_usd_total",) if c in result.survival.columns],
    ]
    parts = [
        f"<h1>aiecosim sweep: {e.name}</h1>",
        f"<p>{e.description}</p>" if e.description else "",
        f"<p>{n_runs} runs: design <b>{e.design}</b> over {', '.join(spec.parameters)}; "
        f"{e.replicates} replicate(s) per point (common random numbers); base scenario "
        f"<b>{e.scenario}</b>, {e.steps} months, {e.enterprises} enterprises.</p>",
        (
            f"<p><b>{len(result.skipped)} damaged run(s) left out</b> (run the sweep again to "
            f"redo them): {', '.join(sorted(result.skipped))}</p>"
            if result.skipped
            else ""
        ),
        "<h2>Which strategies survive</h2>",
        "<p>Survival probability (at least one firm of the archetype alive and viable at the "
        "end: its cash covers what its expected cash flows say it will still lose) over all "
        "runs with 95% Wilson intervals; firm survival share: the share of the archetype's "
        "firms, entrants included, alive and viable at the end; winner by revenue: the firm "
        "with the highest model revenue over the last 12 months; winner by profit: the firm "
        "with the highest cumulative profit over the run; mean cumulative profit of the "
        "archetype's firms (USD) and the enterprises' consumer surplus summed over the run "
        "(USD) by point below.</p>",
        result.headline.to_html(**fmt),
        "<h2>Revenue share over time</h2>",
        _img(result.figures.get("trajectories")),
    ]
    if "heatmap" in result.figures:
        parts += ["<h2>Survival and winner over two levers</h2>", _img(result.figures["heatmap"])]
    if not result.sensitivity.empty:
        parts += [
            "<h2>Which parameters matter</h2>",
            _img(result.figures.get("sensitivity")),
            result.sensitivity.to_html(**fmt),
        ]
    if not result.discovery.empty:
        parts += [
            "<h2>Where each archetype wins (scenario discovery)</h2>",
            "<p>Density: share of runs in the box won by the archetype; coverage: share "
            "of its wins that fall in the box.</p>",
            result.discovery.to_html(**fmt),
        ]
    parts += ["<h2>Survival by point</h2>", result.survival[survival_cols].to_html(**fmt)]
    style = (
        "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}</style>"
    )
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e.name}</title>{style}"
        f"</head><body>{''.join(parts)}</body></html>"
    )
    (out / "report.html").write_text(html)
    return out / "report.html"


def _img(data: str | None) -> str:
    return f"<img alt='figure' src='data:image/png;base64,{data}'>" if data else ""

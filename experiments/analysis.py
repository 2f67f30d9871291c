"""What a sweep says: which strategies survive, win share or die, where, and which levers matter.

`analyze(DIR)` reads a results store; `write_report` writes report.html (one self-contained
page: figures inline, opens from disk, rendered from the package's Jinja2 template with every
string escaped) plus CSV tables:

- survival.csv: per point, the probability that each archetype (and each strategy) survives,
  the probability it wins by revenue (highest revenue over the last year) and by profit
  (highest cumulative profit), each with a 95% Wilson interval; the share of its firms that
  survive with a 95% t interval of the mean over runs; its mean final revenue share and mean
  cumulative profit;
- headline.csv: the same over all runs;
- sensitivity.csv: Sobol first- and total-order indices (Saltelli designs) or Morris mu*/sigma
  (Morris designs) of the chosen outputs, from SALib;
- discovery.csv: scenario discovery: the parameter box in which each archetype wins, read off a
  shallow decision tree (coverage: share of that archetype's wins inside the box; density:
  share of runs inside the box that it wins);
- influence.csv: each parameter's influence score, by the method that chose the most
  influential parameter (see `most_influential`);
- conclusions.md: the written conclusion, one sentence per archetype and one on the most
  influential parameter, generated from the numbers.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from aiecosim.agents.archetypes import ARCHETYPE_COLOURS, ARCHETYPE_LABELS, ARCHETYPES
from aiecosim.experiments.design import build_design, salib_problem
from aiecosim.experiments.intervals import t_interval, wilson  # noqa: F401 (wilson: re-exported)
from aiecosim.experiments.spec import ExperimentSpec
from aiecosim.experiments.store import (
    ResultsStore,
    StoreError,
    failed_runs_message,
    read_results,
)
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

COLOURS = ARCHETYPE_COLOURS
LABELS = ARCHETYPE_LABELS  # "Frontier labs", ...


# ---------------------------------------------------------------------------- intervals
def mean_interval(values, bounds: tuple[float, float] | None = (0.0, 1.0)):
    """(mean, low, high): the mean over runs and its 95% Student t interval (NaN values left
    out; no interval from fewer than two values), clipped to `bounds` (a share lies in [0, 1])."""
    x = np.asarray(values, dtype=float)
    mean, lo, hi = t_interval(x[np.isfinite(x)], 0.95)
    if bounds is not None and math.isfinite(lo):
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return (mean, lo, hi)


# ---------------------------------------------------------------------------- survival
def _survival_columns(group: pd.DataFrame, strategies: list[str]) -> dict:
    n = len(group)
    row: dict = {"runs": n}
    for a in ARCHETYPES:
        p, lo, hi = wilson(group[f"survived_{a}"].sum(), n)
        row |= {f"survive_{a}": p, f"survive_{a}_lo": lo, f"survive_{a}_hi": hi}
        m, lo, hi = mean_interval(group[f"firm_survival_{a}"])
        row |= {f"firm_survival_{a}": m, f"firm_survival_{a}_lo": lo, f"firm_survival_{a}_hi": hi}
        p, lo, hi = wilson(int((group["winner_archetype"] == a).sum()), n)
        row |= {f"win_{a}": p, f"win_{a}_lo": lo, f"win_{a}_hi": hi}
        if "profit_winner_archetype" in group:
            p, lo, hi = wilson(int((group["profit_winner_archetype"] == a).sum()), n)
            row |= {f"win_by_profit_{a}": p, f"win_by_profit_{a}_lo": lo}
            row[f"win_by_profit_{a}_hi"] = hi
        if f"cum_profit_usd_{a}" in group:
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


def _strategies(runs: pd.DataFrame) -> list[str]:
    return sorted(
        c.removeprefix("started_strategy__")
        for c in runs.columns
        if c.startswith("started_strategy__")
    )


def survival_table(runs: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    strategies = _strategies(runs)
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
    """One row per archetype over all runs: survival, firm survival, wins by revenue and by
    profit, each with its 95% interval; mean cumulative profit and final revenue share."""
    overall = _survival_columns(runs, _strategies(runs))
    rows = []
    for a in ARCHETYPES:
        rows.append(
            {
                "archetype": a,
                "runs": overall["runs"],
                "survival_probability": overall[f"survive_{a}"],
                "ci_low": overall[f"survive_{a}_lo"],
                "ci_high": overall[f"survive_{a}_hi"],
                "firm_survival_share": overall[f"firm_survival_{a}"],
                "firm_survival_ci_low": overall[f"firm_survival_{a}_lo"],
                "firm_survival_ci_high": overall[f"firm_survival_{a}_hi"],
                "win_probability": overall[f"win_{a}"],
                "win_ci_low": overall[f"win_{a}_lo"],
                "win_ci_high": overall[f"win_{a}_hi"],
                "win_by_profit_probability": overall.get(f"win_by_profit_{a}", math.nan),
                "win_by_profit_ci_low": overall.get(f"win_by_profit_{a}_lo", math.nan),
                "win_by_profit_ci_high": overall.get(f"win_by_profit_{a}_hi", math.nan),
                "mean_cumulative_profit_usd": overall.get(f"profit_usd_{a}", math.nan),
                "mean_final_share": overall[f"share_{a}"],
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- sensitivity
class IncompleteDesign(StoreError):
    """Sobol and Morris indices need a finished run at every point of the design."""


def sensitivity_table(
    spec: ExperimentSpec, runs: pd.DataFrame, points: pd.DataFrame
) -> pd.DataFrame:
    """Sobol or Morris indices of each chosen output (mean over replicates at each point); an
    empty table for a design that has none (grid, lhs). IncompleteDesign when a point of the
    design has no finished run: the estimators need every point, and a partial table would
    look like a whole one."""
    design = spec.experiment.design
    if design not in ("sobol", "morris"):
        return pd.DataFrame()
    problem = salib_problem(spec)
    means = runs.groupby("point")[spec.experiment.outputs].mean(numeric_only=True)
    missing = points.index.difference(means.index)
    if len(missing):
        shown = ", ".join(str(p) for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise IncompleteDesign(
            f"no {design.capitalize()} indices: {len(missing)} of the design's {len(points)} "
            f"points have no finished run (point {shown})"
        )
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
def winner_tree(
    runs: pd.DataFrame, params: list[str], seed: int = 0
) -> tuple[DecisionTreeClassifier, list[str]] | None:
    """The shallow decision tree that tells the revenue winner from the numeric parameters
    (depth 3, leaves of at least 5% of the runs), and those parameters; None when there is
    nothing to separate (one winner, no numeric parameter)."""
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(runs[p])]
    if not numeric or runs["winner_archetype"].nunique() < 2:
        return None
    x = runs[numeric].to_numpy(dtype=float)
    y = runs["winner_archetype"].to_numpy()
    tree = DecisionTreeClassifier(
        max_depth=3, min_samples_leaf=max(2, len(runs) // 20), random_state=seed
    ).fit(x, y)
    return tree, numeric


def discovery_table(runs: pd.DataFrame, params: list[str], seed: int = 0) -> pd.DataFrame:
    """For each winning archetype, the box of parameter ranges where it wins most."""
    fitted = winner_tree(runs, params, seed)
    if fitted is None:
        return pd.DataFrame()
    tree, numeric = fitted
    x = runs[numeric].to_numpy(dtype=float)
    y = runs["winner_archetype"].to_numpy()
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


# ---------------------------------------------------------------------------- influence
@dataclass
class Influence:
    """The most influential parameter (the report splits its trajectories and its conclusion
    by it), how it was chosen and why, and every parameter's score by that method."""

    parameter: str
    method: str  # "sobol", "morris", "tree" or "spread"
    reason: str  # why it was chosen, in words
    scores: pd.DataFrame  # parameter, score: highest first

    @property
    def ranking(self) -> list[str]:
        return list(self.scores["parameter"])


METHOD_NAMES = {
    "sobol": "Sobol total-order index ST, mean over the outputs",
    "morris": "Morris mu*, scaled by each output's largest, mean over the outputs",
    "tree": "importance in the decision tree of the revenue winner",
    "spread": "largest spread of an archetype's P(survive) across its values",
}


def survival_spread(runs: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """For each parameter, how far its values (or quintiles) move the archetypes' survival:
    the largest, over archetypes, of max - min of P(survive) across its values."""
    rows = []
    for p in params:
        groups = _binned(runs[p]) if pd.api.types.is_numeric_dtype(runs[p]) else runs[p]
        best = {"parameter": p, "score": 0.0, "archetype": None, "low": math.nan, "high": math.nan}
        for a in ARCHETYPES:
            rates = runs[f"survived_{a}"].astype(float).groupby(groups).mean()
            spread = float(rates.max() - rates.min()) if len(rates) else 0.0
            if spread > best["score"]:
                best |= {
                    "score": spread,
                    "archetype": a,
                    "low": float(rates.min()),
                    "high": float(rates.max()),
                }
        rows.append(best)
    return pd.DataFrame(rows)


def _ranked(scores: pd.Series, params: list[str]) -> pd.DataFrame:
    """Scores of every parameter (0 for one the method did not score), highest first; ties
    in the spec's order."""
    s = scores.reindex(params).fillna(0.0).astype(float)
    order = sorted(range(len(params)), key=lambda i: (-s.iloc[i], i))
    return pd.DataFrame({"parameter": [params[i] for i in order], "score": s.iloc[order].values})


def _next(ranked: pd.DataFrame, digits: str = ".2f") -> str:
    if len(ranked) < 2:
        return ""
    return f"; next: {ranked['parameter'].iloc[1]}, {ranked['score'].iloc[1]:{digits}}"


def most_influential(
    runs: pd.DataFrame, params: list[str], sensitivity: pd.DataFrame, seed: int = 0
) -> Influence:
    """The parameter that matters most, by the best evidence the sweep has: the sensitivity
    indices when the design gives them (largest Sobol ST, or Morris mu* scaled by each
    output's largest, averaged over the outputs); else the decision tree of the revenue winner
    (scenario discovery: largest importance); else the largest spread of an archetype's
    survival probability across the parameter's values."""
    if not sensitivity.empty and "ST" in sensitivity:
        ranked = _ranked(sensitivity.groupby("parameter")["ST"].mean(), params)
        k = sensitivity["output"].nunique()
        reason = (
            f"it has the largest total-order Sobol index (ST {ranked['score'].iloc[0]:.2f}, "
            f"mean over {k} output{'s' if k > 1 else ''}{_next(ranked)})"
        )
        return Influence(ranked["parameter"].iloc[0], "sobol", reason, ranked)
    if not sensitivity.empty and "mu_star" in sensitivity:
        top = sensitivity.groupby("output")["mu_star"].transform("max")
        scaled = (sensitivity["mu_star"] / top.where(top > 0)).fillna(0.0)
        ranked = _ranked(scaled.groupby(sensitivity["parameter"]).mean(), params)
        k = sensitivity["output"].nunique()
        reason = (
            f"it has the largest Morris mu* (scaled by each output's largest: "
            f"{ranked['score'].iloc[0]:.2f}, mean over {k} output{'s' if k > 1 else ''}"
            f"{_next(ranked)})"
        )
        return Influence(ranked["parameter"].iloc[0], "morris", reason, ranked)
    fitted = winner_tree(runs, params, seed)
    if fitted is not None and fitted[0].feature_importances_.sum() > 0:
        tree, numeric = fitted
        ranked = _ranked(pd.Series(tree.feature_importances_, index=numeric), params)
        reason = (
            "the decision tree that tells the revenue winner from the parameters (scenario "
            f"discovery) relies on it most (importance {ranked['score'].iloc[0]:.2f} of 1"
            f"{_next(ranked)})"
        )
        return Influence(ranked["parameter"].iloc[0], "tree", reason, ranked)
    spread = survival_spread(runs, params)
    ranked = _ranked(spread.set_index("parameter")["score"], params)
    top = spread.set_index("parameter").loc[ranked["parameter"].iloc[0]]
    if top["score"] > 0:
        reason = (
            f"its values move the archetypes' survival most: {LABELS[top['archetype']].lower()}"
            f" survive in {top['low']:.0%} to {top['high']:.0%} of runs across its values"
        )
    else:
        reason = (
            "no parameter moves the winner or any archetype's survival in this sweep, so the "
            "first parameter is used"
        )
    return Influence(ranked["parameter"].iloc[0], "spread", reason, ranked)


# ---------------------------------------------------------------------------- conclusions
@dataclass
class Finding:
    """One sentence of the conclusion and the numbers in it."""

    text: str
    archetype: str | None = None
    numbers: dict = field(default_factory=dict)


def _split_label(x: pd.Series, threshold: float) -> tuple[str, float]:
    """The shortest rendering of `threshold` that splits `x` the same way (so the text's
    threshold gives the text's numbers), and its value."""
    side = x > threshold
    for digits in (2, 3, 4, 6, 10, 17):
        label = f"{threshold:.{digits}g}"
        if ((x > float(label)) == side).all():
            return label, float(label)
    return repr(threshold), threshold


def split_point(x: pd.Series, y: pd.Series, min_share: float = 0.05) -> float | None:
    """The threshold on `x` that best separates `y` (a depth-1 regression tree, each side with
    at least `min_share` of the runs); when no split helps, the midpoint between the middle two
    distinct values of x; None when x takes one value."""
    values = np.sort(pd.unique(x.astype(float)))
    if len(values) < 2:
        return None
    stump = DecisionTreeRegressor(
        max_depth=1, min_samples_leaf=max(1, int(len(x) * min_share))
    ).fit(x.to_numpy(dtype=float).reshape(-1, 1), y.to_numpy(dtype=float))
    if stump.tree_.node_count > 1:
        return float(stump.tree_.threshold[0])
    mid = len(values) // 2
    return float((values[mid - 1] + values[mid]) / 2)


def pct(p: float, lo: float, hi: float) -> str:
    """A probability and its interval in percent: "40% [33, 47]"."""
    if not np.isfinite(p):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{100 * p:.0f}%"
    return f"{100 * p:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def conclusions(
    runs: pd.DataFrame, headline: pd.DataFrame, influence: Influence | None
) -> list[Finding]:
    """The written conclusion: for each archetype, how often it survives and wins on revenue
    over all runs, and how often it survives on either side of the split of the most
    influential parameter that separates its survival best; then which parameter that is and
    why. Every number is a share of runs with its 95% Wilson interval."""
    out = []
    by = influence.parameter if influence is not None else None
    for _, row in headline.set_index("archetype").iterrows():
        a = row.name
        survive = (row["survival_probability"], row["ci_low"], row["ci_high"])
        win = (row["win_probability"], row["win_ci_low"], row["win_ci_high"])
        text = f"{LABELS[a]} survive in {pct(*survive)} of runs and win on revenue in {pct(*win)}"
        numbers: dict = {"survive": survive, "win": win}
        survived = runs[f"survived_{a}"].astype(bool)
        threshold = None
        if by is not None and pd.api.types.is_numeric_dtype(runs[by]):
            threshold = split_point(runs[by], survived)
        if threshold is not None:
            label, t = _split_label(runs[by], threshold)
            above = runs[by] > t
            high = wilson(int(survived[above].sum()), int(above.sum()))
            low = wilson(int(survived[~above].sum()), int((~above).sum()))
            text += (
                f"; where {by} > {label} they survive in {pct(*high)} of runs, where it is "
                f"≤ {label} in {pct(*low)}"
            )
            numbers |= {"parameter": by, "threshold": t, "above": high, "below": low}
        out.append(Finding(text + ".", a, numbers))
    if influence is not None:
        out.append(
            Finding(
                f"The most influential parameter is {influence.parameter}: {influence.reason}.",
                None,
                {"parameter": influence.parameter, "method": influence.method},
            )
        )
    return out


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


def _value(v) -> str:
    return f"{v:.3g}" if isinstance(v, float | np.floating) else str(v)


def parameter_groups(values: pd.Series, max_lines: int = 6) -> pd.Series:
    """A label per run for the lines of the trajectories: the parameter's value when it takes
    at most `max_lines` values, else its lower, middle and upper third ("0.08 to 0.15")."""
    if values.nunique() <= max_lines:
        order = {v: i for i, v in enumerate(sorted(values.unique()))}
        return values.map(lambda v: f"{order[v]:02d}|{_value(v)}")
    codes = pd.qcut(values, 3, labels=False, duplicates="drop")
    labels = {
        c: f"{int(c):02d}|{_value(values[codes == c].min())} to {_value(values[codes == c].max())}"
        for c in codes.unique()
    }
    return codes.map(labels)


def trajectories_figure(monthly: pd.DataFrame, runs: pd.DataFrame, by: str) -> Figure:
    """Revenue share of each archetype over time: median and 10-90% band across runs, one line
    per value (or third) of the parameter `by`."""
    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3, sharey=True)
    groups = parameter_groups(runs.set_index("run")[by]).rename("_group")
    data = monthly.join(groups, on="run")
    data["date"] = pd.to_datetime(data["date"])
    palette = ["#1b4f72", "#ca6f1e", "#17a589", "#7d3c98", "#85c1e9", "#784212"]
    for ax, a in zip(axes, ARCHETYPES, strict=True):
        col = f"share_revenue_{a}"
        for i, (value, g) in enumerate(data.groupby("_group", sort=True)):
            q = g.groupby("date")[col].quantile([0.1, 0.5, 0.9]).unstack()
            colour = palette[i % len(palette)]
            ax.fill_between(q.index, q[0.1], q[0.9], color=colour, alpha=0.15, linewidth=0)
            ax.plot(q.index, q[0.5], color=colour, label=value.split("|", 1)[1])
        ax.set_title(f"Revenue share: {LABELS[a].lower()}")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of AI model revenue\n(median, 10–90% band over runs)")
    axes[-1].legend(fontsize=8, loc="upper right", title=by, title_fontsize=8)
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
        ax.set_title(f"Share of firms surviving: {LABELS[a].lower()}")
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
    axes[3].set_title("Most frequent winner (revenue)")
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
        ax.set_title(measure_label(output))
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
    failed: dict[str, str] = field(default_factory=dict)  # run that raised -> its error
    incomplete: str | None = None  # one line: runs failed, where their errors are, what is lost
    influence: Influence | None = None  # the most influential parameter and why
    findings: list[Finding] = field(default_factory=list)  # the written conclusion
    manifest: dict = field(default_factory=dict)  # the store's manifest (provenance)
    heatmap_axes: tuple[str, str] | None = None  # (x, y) of the heatmap


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
    manifest = store.read_manifest()
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
    try:
        sensitivity, no_indices = sensitivity_table(spec, runs, points), None
    except IncompleteDesign as err:
        sensitivity, no_indices = pd.DataFrame(), str(err)
    headline = headline_table(runs)
    influence = most_influential(runs, params, sensitivity, spec.experiment.seed)
    ranking = influence.ranking
    # the heatmap's axes: those asked for, else the two most influential parameters
    if x is None:
        x = next((p for p in ranking if p != y), ranking[0])
    if y is None:
        y = next((p for p in ranking if p != x), x)
    result = Analysis(
        headline=headline,
        survival=survival_table(runs, params),
        sensitivity=sensitivity,
        discovery=discovery_table(runs, params, spec.experiment.seed),
        skipped=loaded.skipped,
        failed=loaded.failed,
        incomplete=_incomplete(store.root, loaded.failed, len(runs), no_indices),
        influence=influence,
        findings=conclusions(runs, headline, influence),
        manifest=manifest,
    )
    result.figures["trajectories"] = _png(trajectories_figure(monthly, runs, influence.parameter))
    if x != y:
        result.figures["heatmap"] = _png(heatmap_figure(runs, x, y))
        result.heatmap_axes = (x, y)
    sens = sensitivity_figure(result.sensitivity)
    if sens is not None:
        result.figures["sensitivity"] = _png(sens)
    return result, spec


def _incomplete(root: Path, failed: dict[str, str], finished: int, no_indices: str | None):
    """The line that says what the analysis is missing: how many runs failed and where their
    errors are, and the indices that could not be computed; None when nothing is missing."""
    parts = []
    if failed:
        parts.append(f"{failed_runs_message(root, failed)}; the tables cover the {finished} runs")
        parts[-1] += " that finished; run the sweep again to retry the failed ones"
    if no_indices is not None:
        parts.append(no_indices + ("" if failed else "; run the sweep again to finish them"))
    return "; ".join(parts) or None


# ---------------------------------------------------------------------------- display
#: Readable names of the sweep's per-run measures (the archetype comes after a comma).
MEASURE_LABELS = {
    "final_share": "Final revenue share",
    "survived": "Survived",
    "alive": "Firms alive at the end",
    "survivors": "Viable survivors",
    "firm_survival": "Share of firms surviving",
    "cum_profit_usd": "Cumulative profit",
    "hhi_revenue": "Revenue concentration (HHI)",
    "exits": "Exits",
    "entrants": "Entrants",
    "corrections": "Valuation corrections",
    "sentiment_min": "Lowest investor sentiment",
    "consumer_surplus_usd": "Consumer surplus in the last month",
    "consumer_surplus_usd_total": "Consumer surplus over the run",
    "open_lag_months": "Open-weights lag",
    "adoption_rate": "Adoption rate",
    "adopters_positive_roi_share": "Share of adopters with a positive return",
    "dc_grid_share": "Data centres' share of the grid",
    "token_price_usd_per_mtok": "Token price",
}


def measure_label(column: str) -> str:
    """A summary column in words, with its unit: `final_share_frontier_lab` -> "Final revenue
    share, frontier labs (fraction)"."""
    from aiecosim.experiments.store import measure_unit, split_measure

    measure, archetype, strategy = split_measure(column)
    text = MEASURE_LABELS.get(measure, measure.replace("_", " ").capitalize())
    if archetype is not None:
        text += f", {LABELS[archetype].lower()}"
    if strategy is not None:
        text += f", strategy {strategy}"
    unit = measure_unit(measure, monthly=False)
    return f"{text} ({unit})" if unit and unit != "–" else text


def _f(v: float, fmt: str = ".2f") -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:{fmt}}"


def ci(p: float, lo: float, hi: float, fmt: str = ".2f") -> str:
    """A value and its interval in one cell: "0.96 [0.93, 0.98]"."""
    if not np.isfinite(p):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _f(p, fmt)
    return f"{p:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _bn(v: float) -> str:
    return _f(v / 1e9, ",.1f") if np.isfinite(v) else "–"


@dataclass
class Table:
    """A table as the template renders it: headers ({"text", "code"}) and rows of strings."""

    headers: list[dict]
    rows: list[list[str]]
    caption: str = ""
    text_columns: tuple[int, ...] = (0,)  # left-aligned (words); the others are numbers


def _h(text: str, code: bool = False) -> dict:
    return {"text": text, "code": code}


def headline_display(headline: pd.DataFrame) -> Table:
    rows = []
    for _, r in headline.iterrows():
        rows.append(
            [
                LABELS[r["archetype"]],
                ci(r["survival_probability"], r["ci_low"], r["ci_high"]),
                ci(r["firm_survival_share"], r["firm_survival_ci_low"], r["firm_survival_ci_high"]),
                ci(r["win_probability"], r["win_ci_low"], r["win_ci_high"]),
                ci(
                    r["win_by_profit_probability"],
                    r["win_by_profit_ci_low"],
                    r["win_by_profit_ci_high"],
                ),
                _bn(r["mean_cumulative_profit_usd"]),
                _f(100 * r["mean_final_share"], ".1f"),
            ]
        )
    headers = [
        "Archetype",
        "P(survive) [95% CI]",
        "Share of firms surviving [95% CI]",
        "P(win by revenue) [95% CI]",
        "P(win by profit) [95% CI]",
        "Mean cumulative profit (bn USD)",
        "Mean final revenue share (%)",
    ]
    return Table([_h(h) for h in headers], rows)


def survival_display(survival: pd.DataFrame, params: list[str]) -> Table:
    headers = [_h("Point"), *[_h(p, code=True) for p in params], _h("Runs")]
    for a in ARCHETYPES:
        headers += [
            _h(f"{LABELS[a]}: P(survive) [95% CI]"),
            _h(f"{LABELS[a]}: P(win by revenue) [95% CI]"),
        ]
    rows = []
    for _, r in survival.iterrows():
        row = [str(int(r["point"])), *[_value(r[p]) for p in params], str(int(r["runs"]))]
        for a in ARCHETYPES:
            row += [
                ci(r[f"survive_{a}"], r[f"survive_{a}_lo"], r[f"survive_{a}_hi"]),
                ci(r[f"win_{a}"], r[f"win_{a}_lo"], r[f"win_{a}_hi"]),
            ]
        rows.append(row)
    return Table(headers, rows)


def sensitivity_display(table: pd.DataFrame) -> Table:
    if "ST" in table:
        headers = ["Output", "Parameter", "First-order S1 [95% CI]", "Total-order ST [95% CI]"]
        rows = [
            [
                measure_label(r["output"]),
                r["parameter"],
                ci(r["S1"], r["S1"] - r["S1_conf"], r["S1"] + r["S1_conf"]),
                ci(r["ST"], r["ST"] - r["ST_conf"], r["ST"] + r["ST_conf"]),
            ]
            for _, r in table.iterrows()
        ]
    else:
        headers = ["Output", "Parameter", "Morris mu* [95% CI]", "Morris sigma"]
        rows = [
            [
                measure_label(r["output"]),
                r["parameter"],
                ci(
                    r["mu_star"],
                    r["mu_star"] - r["mu_star_conf"],
                    r["mu_star"] + r["mu_star_conf"],
                    ".3g",
                ),
                _f(r["sigma"], ".3g"),
            ]
            for _, r in table.iterrows()
        ]
    return Table([_h(h) for h in headers], rows, text_columns=(0, 1))


def discovery_display(table: pd.DataFrame) -> Table:
    headers = [
        "Archetype",
        "Where it wins most (box)",
        "Density (%)",
        "Coverage (%)",
        "Runs in box",
    ]
    rows = [
        [
            LABELS.get(r["archetype"], "No winner (no revenue)"),
            r["box"],
            _f(100 * r["density"], ".0f"),
            _f(100 * r["coverage"], ".0f"),
            str(int(r["runs_in_box"])),
        ]
        for _, r in table.iterrows()
    ]
    return Table([_h(h) for h in headers], rows, text_columns=(0, 1))


def influence_display(influence: Influence) -> Table:
    return Table(
        [_h("Parameter"), _h(f"Score ({METHOD_NAMES[influence.method]})")],
        [[r["parameter"], _f(r["score"], ".3g")] for _, r in influence.scores.iterrows()],
    )


# ---------------------------------------------------------------------------- the spec
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def spec_toml(spec: ExperimentSpec) -> str:
    """The spec as the TOML file that makes it again (`load_spec` reads it back the same)."""
    data = spec.model_dump(mode="json")
    lines = ["[experiment]"]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data["experiment"].items()]
    if data.get("fixed"):
        lines += ["", "[fixed]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data["fixed"].items()]
    for name, p in data["parameters"].items():
        lines += ["", f"[parameters.{_toml_key(name)}]"]
        lines += [
            f"{_toml_key(k)} = {_toml_value(v)}"
            for k, v in p.items()
            if v is not None and not (k == "log" and v is False)
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- writing
def provenance_context(manifest: dict) -> dict:
    """Who made the report and the sweep, and when: the aiecosim version and source hash of
    each, the report's date and the sweep's start, resumptions and end."""
    from aiecosim import provenance

    sweep_source = manifest.get("source_sha256") or ""
    report_source = provenance.source_sha256()
    return {
        "report_date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "report_version": provenance.version(),
        "report_source": report_source,
        "sweep_version": manifest.get("package_version") or "not recorded",
        "sweep_source": sweep_source or "not recorded",
        "same_source": bool(sweep_source) and sweep_source == report_source,
        "started": manifest.get("started") or "not recorded",
        "finished": manifest.get("finished") or "not finished",
        "resumed": list(manifest.get("resumed") or []),
        "spec_hash": manifest.get("spec_hash") or "not recorded",
        "config_sha256": manifest.get("config_sha256") or "not recorded",
    }


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("aiecosim.experiments", "templates"),
        autoescape=True,  # every string from the spec, the store or the numbers is escaped
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(result: Analysis, spec: ExperimentSpec, n_runs: int) -> str:
    """report.html's text, from the package's template (autoescape on)."""
    e = spec.experiment
    params = list(spec.parameters)
    influence = result.influence
    figures = []
    if "trajectories" in result.figures:
        by = influence.parameter if influence is not None else params[0]
        why = influence.reason if influence is not None else "the first parameter"
        figures.append(
            {
                "title": "Revenue share over time",
                "data": result.figures["trajectories"],
                "alt": f"Revenue share of each archetype over time, one line per value of {by}",
                "caption": (
                    f"Median revenue share of each archetype (line) and the 10–90% band over "
                    f"runs, split by {by}, the most influential parameter: {why}."
                ),
            }
        )
    if "heatmap" in result.figures:
        hx, hy = result.heatmap_axes or (params[0], params[-1])
        figures.append(
            {
                "title": "Survival and winner over two levers",
                "data": result.figures["heatmap"],
                "alt": f"Share of firms surviving and most frequent winner over {hx} and {hy}",
                "caption": (
                    f"Share of each archetype's firms alive and viable at the end, and the most "
                    f"frequent revenue winner, over {hx} (x) and {hy} (y), averaged over the "
                    "other parameters and the replicates."
                ),
            }
        )
    context = {
        "e": e,
        "n_runs": n_runs,
        "params": params,
        "skipped": sorted(result.skipped),
        "incomplete": result.incomplete,
        "findings": [f.text for f in result.findings],
        "headline": headline_display(result.headline),
        "figures": figures,
        "sensitivity": (
            None if result.sensitivity.empty else sensitivity_display(result.sensitivity)
        ),
        "sensitivity_figure": result.figures.get("sensitivity"),
        "discovery": None if result.discovery.empty else discovery_display(result.discovery),
        "influence": None if influence is None else influence_display(influence),
        "influence_parameter": None if influence is None else influence.parameter,
        "survival": survival_display(result.survival, params),
        "provenance": provenance_context(result.manifest),
        "spec_toml": spec_toml(spec),
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(result: Analysis, spec: ExperimentSpec, out: str | Path, n_runs: int) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.headline.to_csv(out / "headline.csv", index=False)
    result.survival.to_csv(out / "survival.csv", index=False)
    if not result.sensitivity.empty:
        result.sensitivity.to_csv(out / "sensitivity.csv", index=False)
    if not result.discovery.empty:
        result.discovery.to_csv(out / "discovery.csv", index=False)
    if result.influence is not None:
        result.influence.scores.assign(method=result.influence.method).to_csv(
            out / "influence.csv", index=False
        )
    if result.findings:
        text = "".join(f"- {f.text}\n" for f in result.findings)
        (out / "conclusions.md").write_text(f"# {spec.experiment.name}\n\n{text}")
    for name, data in result.figures.items():  # the figures also as files, for slides
        (out / f"{name}.png").write_bytes(base64.b64decode(data))
    (out / "report.html").write_text(render_report(result, spec, n_runs), encoding="utf-8")
    return out / "report.html"

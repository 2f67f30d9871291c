"""Pairwise invasion tournament: can a small entrant with strategy A take hold in a market
dominated by strategy B?

Strategies are data (the presets and any TOML variant), the market model is the game, and this
module only builds configs, runs them and tabulates, as Axelrod's tournaments sit on top of its
strategies. For every ordered pair (invader A, resident B):

- the market opens with `residents` incumbents following B (full assets and a released model)
  and one newcomer following A with an entrant's share of assets and no model yet, so it must
  train its way in; no other firm enters;
- A *takes hold* when, after `steps` months, the newcomer is alive and earned, over the last 12
  months, at least `hold_ratio` times the model revenue of the average resident (residents that
  exited count with what they earned, nothing): the invasion criterion of evolutionary game
  theory, a mutant spreads when its payoff beats the residents';
- the probability of taking hold is the share of the replicate runs in which it did, with a 95%
  Wilson interval.

Replicate k of every pair runs on the same seed (common random numbers: the same enterprises,
network and shocks), so differences between cells are effects of the strategies, not noise. The
diagonal (A invading A) is the neutral reference: a newcomer of the residents' own kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from aiecosim.config import SimConfig, load_config
from aiecosim.experiments.design import run_seed
from aiecosim.experiments.intervals import wilson
from aiecosim.experiments.runner import parallel_map


@dataclass(frozen=True)
class Tournament:
    """What to play: which strategies, in which world, how often."""

    strategies: tuple[str, ...]
    scenario: str = "baseline"
    config_file: str | None = None  # TOML with [strategies.*] variants (and any other override)
    overrides: tuple[str, ...] = ()
    residents: int = 5
    seeds: int = 20
    seed: int = 0
    hold_ratio: float = 1.0

    def config(self, invader: str, resident: str) -> SimConfig:
        """The world of one pair: residents of B, one newcomer of A, no other entry."""
        return load_config(
            self.scenario,
            self.config_file,
            self.overrides,
            builders={
                "initial": [
                    {"strategy": resident, "count": self.residents},
                    {"strategy": invader, "count": 1, "entrant": True},
                ],
                "entry_rate_per_month": 0.0,
            },
        )

    def tasks(self) -> list[dict]:
        return [
            {
                "invader": a,
                "resident": b,
                "replicate": k,
                "seed": run_seed(self.seed, k),
                "config": self.config(a, b).model_dump_json(),
                "hold_ratio": self.hold_ratio,
            }
            for a in self.strategies
            for b in self.strategies
            for k in range(self.seeds)
        ]


def strategies_in(scenario: str, config_file: str | Path | None, overrides=()) -> list[str]:
    """The presets, then the variants the scenario and the file define, in that order."""
    cfg = load_config(scenario, config_file, list(overrides))
    return list(cfg.strategy_table())


def play_pair(task: dict) -> dict:
    """One run of one pair: did the newcomer take hold?"""
    from aiecosim.outputs import run_model

    cfg = SimConfig.model_validate_json(task["config"])
    result = run_model(cfg, task["seed"])
    firms = result.firms
    invader_id = sum(c.count for c in cfg.builders.initial) - 1  # created last; residents before
    end = firms["month"].max()
    revenue = firms[firms["month"] > end - 12].groupby("firm_id")["model_revenue_usd"].sum()
    total = float(revenue.sum())
    invader_revenue = float(revenue.get(invader_id, 0.0))
    resident_mean = (total - invader_revenue) / invader_id
    final = firms[firms["month"] == end].set_index("firm_id")["alive"]
    alive = bool(final.get(invader_id, False))
    return {
        "invader": task["invader"],
        "resident": task["resident"],
        "replicate": task["replicate"],
        "seed": task["seed"],
        "invader_alive": alive,
        "invader_revenue_share": invader_revenue / total if total > 0 else 0.0,
        "invader_vs_resident_revenue": (
            invader_revenue / resident_mean if resident_mean > 0 else float("inf")
        ),
        "took_hold": alive and invader_revenue >= task["hold_ratio"] * resident_mean,
        "residents_alive": int(final.drop(index=invader_id, errors="ignore").sum()),
    }


def play(
    tournament: Tournament, workers: int = 1, progress=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pair over every replicate. Returns (invasion table, one row per run); the same
    for any worker count, since each run depends only on its pair and seed. `progress(done,
    total)` is called as runs finish."""
    runs = pd.DataFrame(parallel_map(play_pair, tournament.tasks(), workers, progress))
    return invasion_table(runs, tournament.strategies), runs


def invasion_table(runs: pd.DataFrame, strategies) -> pd.DataFrame:
    """One row per (invader, resident): P(take hold) with its 95% interval, P(survive) and the
    newcomer's mean revenue share."""
    rows = []
    for a in strategies:
        for b in strategies:
            cell = runs[(runs["invader"] == a) & (runs["resident"] == b)]
            n = len(cell)
            p, lo, hi = wilson(int(cell["took_hold"].sum()), n)
            s, s_lo, s_hi = wilson(int(cell["invader_alive"].sum()), n)
            rows.append(
                {
                    "invader": a,
                    "resident": b,
                    "runs": n,
                    "p_take_hold": p,
                    "p_take_hold_lo": lo,
                    "p_take_hold_hi": hi,
                    "p_survive": s,
                    "p_survive_lo": s_lo,
                    "p_survive_hi": s_hi,
                    "mean_invader_share": float(cell["invader_revenue_share"].mean())
                    if n
                    else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def plot_invasion(table: pd.DataFrame, path: Path, title: str) -> None:
    """Heatmap: rows invaders, columns residents, cells P(take hold) with the interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(table["invader"]))
    grid = table.pivot(index="invader", columns="resident", values="p_take_hold").loc[names, names]
    size = 1.6 + 1.3 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
    labels = [n.replace("_", " ") for n in names]
    ax.set_xticks(range(len(names)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), labels)
    ax.set_xlabel("resident strategy (dominates the market)")
    ax.set_ylabel("invading strategy (one small newcomer)")
    cells = table.set_index(["invader", "resident"])
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            r = cells.loc[(a, b)]
            p = r["p_take_hold"]
            text = (
                "n/a"
                if np.isnan(p)
                else (f"{p:.2f}\n[{r['p_take_hold_lo']:.2f}, {r['p_take_hold_hi']:.2f}]")
            )
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="black" if p > 0.6 else "white",
            )
    fig.colorbar(image, ax=ax, label="P(newcomer takes hold)", shrink=0.8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)

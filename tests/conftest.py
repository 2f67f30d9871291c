from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from aiecosim.config import load_config
from aiecosim.outputs import run_model


def small_config(scenario: str = "baseline", steps: int = 36, enterprises: int = 1500, *extra: str):
    return load_config(
        scenario, overrides=[f"run.steps={steps}", f"run.enterprises={enterprises}", *extra]
    )


@pytest.fixture(scope="session")
def baseline_run():
    """One full-length default run shared by the tests that read its outputs."""
    return run_model(load_config("baseline"), seed=7)


class FixedPeers:
    """Network influence given directly: every row sees the same neighbour shares."""

    def __init__(self, by_provider: np.ndarray, adopting: float = 0.0):
        self._by_provider = np.asarray(by_provider, dtype=float)
        self._adopting = adopting

    def by_provider(self, rows):
        return np.tile(self._by_provider, (len(rows), 1))

    def adopting(self, rows):
        return np.full(1, self._adopting)


def write_made_up_run(
    store, task: dict, winner: str, frontier_survives: bool, hhi: float = 1000.0
) -> None:
    """Store one run's summary and monthly table as a real run would, with the outcome given."""
    row = {
        "run": task["run"],
        "point": task["point"],
        "replicate": task["replicate"],
        "seed": task["seed"],
        **task["params"],
        "winner_archetype": winner,
        "winner_strategy": winner,
        "hhi_revenue": hhi,
        "exits": 0,
    }
    for a in ("frontier_lab", "integrated_giant", "open_source_builder"):
        survived = frontier_survives if a == "frontier_lab" else True
        row |= {
            f"survived_{a}": survived,
            f"firm_survival_{a}": float(survived),
            f"alive_{a}": int(survived),
            f"final_share_{a}": 1.0 if a == winner else 0.0,
            f"started_strategy__{a}": 1,
            f"alive_strategy__{a}": int(survived),
        }
    monthly = pd.DataFrame(
        {
            "run": task["run"],
            "point": task["point"],
            "replicate": task["replicate"],
            "seed": task["seed"],
            "month": range(12),
            "date": pd.date_range("2025-01-01", periods=12, freq="MS"),
            **{
                f"share_revenue_{a}": 1.0 if a == winner else 0.0
                for a in ("frontier_lab", "integrated_giant", "open_source_builder")
            },
        }
    )
    store.write_run(task["run"], pd.DataFrame([row]), monthly)

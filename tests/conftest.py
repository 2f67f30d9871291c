from __future__ import annotations

import numpy as np
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

"""The model keeps its books: every month balances, in every scenario and in odd worlds."""

import numpy as np
import pytest
from aiecosim.books import BooksError, check_books
from aiecosim.config import list_scenarios, load_config
from aiecosim.model import AIEcosystemModel
from aiecosim.outputs import run_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("scenario", sorted(list_scenarios()))
def test_books_balance_every_month_in_every_scenario(scenario):
    cfg = load_config(scenario, overrides=["run.steps=48", "run.enterprises=800"])
    result = run_model(cfg, seed=3, check=True)
    assert len(result.model) == 48


def test_a_broken_book_names_the_month_the_firm_and_the_amounts():
    model = AIEcosystemModel(load_config(overrides=["run.enterprises=300"]), rng=1)
    model.step()
    lab = model.builders[0]
    lab.cash_usd += 1e6  # money from nowhere
    with pytest.raises(
        BooksError, match=rf"month 1: {lab.name} cash changed by .* \(unrecorded 1e\+06\)"
    ):
        check_books(model)


EXTREME_WORLDS = {
    "no investors": {"investors": {"n_investors": 0}},
    "no open builders": {
        "builders": {
            "initial": [
                {"strategy": "frontier_lab", "count": 3},
                {"strategy": "integrated_giant", "count": 2},
            ],
            "entrant_strategy_shares": {"frontier_lab": 1.0, "open_source_builder": 0.0},
        }
    },
    "every firm closed-weights": {
        "strategies": {
            "open_source_builder": {"base": "open_source_builder", "open_weights": False}
        }
    },
    "no energy growth": {
        "energy": {
            "base_load_growth_per_year": 0.0,
            "suppliers": [
                {
                    "name": "grid",
                    "technology": "gas",
                    "capacity_mw": 3.6e6,
                    "marginal_cost_usd_per_mwh": 70,
                    "lead_time_months": 30,
                    "carbon_t_per_mwh": 0.4,
                    "lcoe_usd_per_mwh": 85,
                    "max_build_share_per_month": 0.0,
                }
            ],
        },
        "compute": {"dc_power_growth_mw_per_month": 0.0},
    },
    "one enterprise": {"run": {"enterprises": 1}},
    "no builders at all": {"builders": {"initial": [], "entry_rate_per_month": 0.0}},
}


@pytest.mark.parametrize("world", sorted(EXTREME_WORLDS))
def test_extreme_worlds_run_to_the_end_with_balanced_books(world):
    cfg = load_config(overrides=["run.steps=36", "run.enterprises=500"], **EXTREME_WORLDS[world])
    result = run_model(cfg, seed=2, check=True)
    assert len(result.model) == 36
    if world == "no builders at all":
        assert (result.model["adoption_rate"] == 0).all()
    if world == "no open builders":
        assert result.model["best_open_capability"].eq(0).all()
        assert result.model["open_lag_months"].isna().all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alpha=st.floats(0.03, 1.0),
    switching=st.floats(0.0, 8.0),
    peer=st.floats(0.0, 6.0),
    energy_growth=st.floats(-0.1, 0.5),
    patience=st.floats(3.0, 120.0),
    kind=st.sampled_from(["small_world", "scale_free", "sector_blocks"]),
    degree=st.floats(0.0, 30.0),
    investors=st.integers(0, 30),
    enterprises=st.integers(1, 600),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_valid_worlds_run_without_errors_nans_or_broken_books(
    alpha, switching, peer, energy_growth, patience, kind, degree, investors, enterprises, seed
):
    cfg = load_config(
        overrides=[
            "run.steps=18",
            f"run.enterprises={enterprises}",
            f"capability.alpha={alpha}",
            f"enterprises.switching_cost={switching}",
            f"enterprises.b_peer={peer}",
            f"energy.marginal_cost_growth_per_year={energy_growth}",
            f"investors.patience_months={patience}",
            f"network.kind={kind}",
            f"network.mean_degree={degree}",
            f"investors.n_investors={investors}",
        ]
    )
    result = run_model(cfg, seed=seed, check=True)
    # a valuation exists only where investors own a stake (NaN elsewhere, by definition)
    valuation = result.firms["valuation_usd"].dropna()
    assert np.isfinite(valuation).all() and (valuation >= 0).all()
    numeric = result.firms.select_dtypes("number").drop(columns="valuation_usd")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()

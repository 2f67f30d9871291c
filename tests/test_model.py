"""The whole model: reproducibility, scenarios, and behaviour an economist would recognise."""

import numpy as np
import pandas as pd
import pytest
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.config import list_scenarios, load_config
from aiecosim.markets.capital import CapitalMarket
from aiecosim.model import AIEcosystemModel
from aiecosim.outputs import run_model
from conftest import small_config

MODEL_COLUMNS = """month date share_revenue_frontier_lab share_revenue_integrated_giant
share_revenue_open_source_builder alive_frontier_lab alive_integrated_giant
alive_open_source_builder hhi_revenue frontier_capability best_open_capability open_lag_months
token_price_usd_per_mtok compute_price_usd_per_gpu_hour energy_price_usd_per_mwh
dc_energy_twh_per_year dc_grid_share adoption_rate adopters_positive_roi_share cum_ai_capex_usd
cum_ai_revenue_usd investor_capital_usd sentiment""".split()
FIRM_COLUMNS = """firm_id archetype strategy cash_usd revenue_usd costs_usd capability
price_usd_per_mtok customers alive""".split()


def test_same_seed_same_outputs_different_seed_differs():
    cfg = small_config(steps=24)
    a, b, c = run_model(cfg, 3), run_model(cfg, 3), run_model(cfg, 4)
    pd.testing.assert_frame_equal(a.model, b.model)
    pd.testing.assert_frame_equal(a.firms, b.firms)
    assert not a.model["adoption_rate"].equals(c.model["adoption_rate"])


def test_default_run_has_the_documented_tables(baseline_run):
    model, firms = baseline_run.model, baseline_run.firms
    assert len(model) == 120 and model["month"].tolist() == list(range(120))
    assert model["date"].iloc[0] == pd.Timestamp("2025-01-01")
    assert model["date"].iloc[-1] == pd.Timestamp("2034-12-01")
    assert set(MODEL_COLUMNS) <= set(model.columns)
    assert set(FIRM_COLUMNS) <= set(firms.columns)
    numeric = model.select_dtypes("number").drop(columns=["open_lag_months"])
    assert np.isfinite(numeric.to_numpy()).all()
    shares = model[[f"share_revenue_{a}" for a in ARCHETYPES]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    # every firm appears every month from its entry on, one row each, sorted by month and firm
    assert not firms.duplicated(["month", "firm_id"]).any()
    assert firms.equals(firms.sort_values(["month", "firm_id"], ignore_index=True))
    span = firms.groupby("firm_id")["month"].agg(["min", "max", "size"])
    assert (span["max"] == 119).all() and (span["size"] == span["max"] - span["min"] + 1).all()
    dates = dict(zip(model["month"], model["date"], strict=True))
    assert firms["date"].equals(firms["month"].map(dates))


def test_default_world_has_all_three_archetypes_at_the_start(baseline_run):
    first = baseline_run.model.iloc[0]
    assert first["alive_frontier_lab"] == 4
    assert first["alive_integrated_giant"] == 3
    assert first["alive_open_source_builder"] == 10


def test_the_default_decade_looks_like_the_industry(baseline_run):
    m = baseline_run.model
    start, end = m.iloc[0], m.iloc[-1]
    assert end["frontier_capability"] > start["frontier_capability"]
    assert (m["best_open_capability"] <= m["frontier_capability"] + 1e-9).all()
    assert end["token_price_usd_per_mtok"] < start["token_price_usd_per_mtok"]
    assert end["adoption_rate"] > start["adoption_rate"]
    assert end["dc_energy_twh_per_year"] > start["dc_energy_twh_per_year"]
    assert 0.005 < start["dc_grid_share"] < 0.05
    assert end["cum_ai_capex_usd"] > 0 and end["cum_ai_revenue_usd"] > 0
    assert start["adopters_positive_roi_share"] < 0.5  # most early adopters see no return yet


@pytest.mark.parametrize("scenario", sorted(list_scenarios()))
def test_every_scenario_runs(scenario):
    result = run_model(small_config(scenario, steps=24, enterprises=800), seed=1)
    assert len(result.model) == 24
    assert result.summary["scenario"] == scenario


def test_dearer_energy_raises_the_compute_price_in_the_model():
    def prices(growth):
        cfg = small_config("baseline", 36, 1000, f"energy.marginal_cost_growth_per_year={growth}")
        model = run_model(cfg, 2).model.iloc[12:]
        return model["energy_price_usd_per_mwh"].mean(), model[
            "compute_price_usd_per_gpu_hour"
        ].mean()

    (energy_cheap, compute_cheap), (energy_dear, compute_dear) = prices(0.0), prices(1.0)
    assert energy_dear > 2 * energy_cheap
    assert compute_dear > compute_cheap


def test_an_insolvent_unfunded_builder_exits():
    cfg = small_config("baseline", 3, 500, "investors.n_investors=0")
    model = AIEcosystemModel(cfg, rng=1)
    doomed = model.builders[0]
    doomed.cash_usd = -1e12  # far more debt than a month's revenue can repay
    model.step()
    assert not doomed.alive and doomed.exit_month == 0
    assert model.metrics["exits"] >= 1
    # its customers choose again next month: nobody can buy from an exited firm
    model.step()
    assert not (model.enterprises.provider == doomed.firm_id).any()
    assert doomed.firm_id not in model.offers.provider


def test_an_insolvent_builder_that_investors_rescue_survives():
    cfg = small_config("baseline", 3, 500)
    model = AIEcosystemModel(cfg, rng=1)
    lab = model.builders[0]
    lab.cash_usd = -1e8  # a small hole that a funding round fills
    model.step()
    assert lab.funding_usd > 0 and lab.alive


def test_when_scale_stops_paying_the_race_stops_and_open_models_catch_up():
    """Under a plateau builders stop buying scale that adds little: the largest training run
    stays far below the baseline's and the open-weights lag in months closes. With no hurdle
    (every doubling is worth it) the plateau world keeps racing, and pays for it: the racing
    labs keep a lead while their money lasts, then run out of it."""

    def run(scenario, hurdle):
        cfg = small_config(scenario, 72, 800, f"builders.min_gain_per_doubling={hurdle}")
        result = run_model(cfg, seed=3)
        training_usd = sum(
            e["training_cost_usd"] for e in result.summary["events"] if e["event"] == "release"
        )
        labs_out = sum(e["archetype"] == "frontier_lab" for e in result.summary["exits"])
        return result.model, training_usd, labs_out

    (plateau, plateau_usd, plateau_out), (racing, racing_usd, racing_out) = (
        run("scaling-plateau", 0.2),
        run("scaling-plateau", 0.0),
    )
    baseline, _, _ = run("baseline", 0.2)
    largest = {
        name: table["frontier_training_flop"].iloc[-1]
        for name, table in (("plateau", plateau), ("racing", racing), ("baseline", baseline))
    }
    assert largest["plateau"] < largest["racing"] / 10
    assert largest["plateau"] < largest["baseline"] / 10
    assert plateau["open_lag_months"].iloc[36:].mean() < 1.0
    # racing, the frontier keeps a lead while its money lasts (2.75 months against 1.2 over
    # 2026-28 with seed 3) ...
    racing_years = slice(12, 48)
    assert (
        racing["open_lag_months"].iloc[racing_years].mean()
        > plateau["open_lag_months"].iloc[racing_years].mean() + 1.0
    )
    # ... and the labs that raced for scale that buys nothing run out of it; none do at rest
    assert racing_out >= 2 and plateau_out == 0
    # scale that does not pay is not bought: far less is spent on training runs
    assert plateau_usd < racing_usd / 3


def test_efficiency_rd_is_passed_through_as_cheaper_tokens_that_win_customers():
    """Efficiency R&D buys serving efficiency: fewer GPU-hours per token. An open builder that
    prices toward its best response passes the saving on. Against the same world without R&D
    (one open builder and one frontier lab, no entry), over the second year each API token it
    serves costs it less rented compute (its books: inference compute paid / API tokens), it
    asks less for it, and more enterprises buy from it; the more it spends, the more so."""

    def second_year(share):
        cfg = load_config(
            "baseline",
            overrides=["run.steps=24", "run.enterprises=500", "builders.entry_rate_per_month=0"],
            strategies={"lean": {"base": "open_source_builder", "efficiency_rd_share": share}},
            builders={
                "initial": [
                    {"strategy": "lean", "count": 1},
                    {"strategy": "frontier_lab", "count": 1},
                ]
            },
        )
        model = AIEcosystemModel(cfg, rng=1)
        lean = model.builders[0]
        months = []
        for month in range(24):
            model.step()
            if month >= 12 and lean.api_mtok > 0:
                compute_per_mtok = lean.variable_costs_usd / lean.api_mtok
                months.append((compute_per_mtok, lean.price_usd_per_mtok, lean.customers))
        assert len(months) == 12  # it sold tokens every month of the second year
        return np.mean(months, axis=0)

    (cost0, price0, customers0), (cost1, price1, customers1), (cost2, price2, customers2) = (
        second_year(share) for share in (0.0, 0.3, 0.6)
    )
    # (seed 1: $1.18, $1.01 and $0.92 of compute a Mtok; prices $2.00, $1.81 and $1.61;
    # 88, 92 and 99 customer cohorts of 500)
    assert cost2 < cost1 < cost0
    assert price2 < price1 < price0
    assert customers0 < customers1 < customers2


def test_the_cohort_count_sets_the_resolution_not_the_size_of_the_world():
    """A cohort stands for a fixed share of the world's organisations and demand in its size
    class (docs/odd.md 2.3): every class holds exactly its configured share at any count, and
    at the start `enterprises.initial_adoption` of the world's organisations use AI in
    expectation, each cohort adopting with that probability: the sampling error,
    sqrt(p (1 - p) * sum of squared cohort weights), is what the count sets, falling as
    1/sqrt(count)."""
    errors = []
    for n in (300, 3000, 30000):
        model = AIEcosystemModel(small_config("baseline", 12, n), rng=2)
        pop, cfg = model.enterprises, model.cfg.enterprises
        for weights, shares in (
            (pop.organisations, cfg.size_class_organisation_shares),
            (pop.demand_weight, cfg.size_class_demand_shares),
        ):
            by_class = np.bincount(pop.size_class, weights=weights, minlength=len(shares))
            assert by_class == pytest.approx(np.asarray(shares) / sum(shares), abs=1e-12)
        p = cfg.initial_adoption
        error = np.sqrt(p * (1 - p) * (pop.organisations**2).sum())
        assert abs(pop.organisations[pop.adopted].sum() - p) < 4 * error
        errors.append(error)
    # ten times the cohorts, a third of the error (sqrt(10) = 3.16, up to rounding the classes)
    assert errors[1] == pytest.approx(errors[0] / np.sqrt(10), rel=0.05)
    assert errors[2] == pytest.approx(errors[1] / np.sqrt(10), rel=0.05)


def test_a_years_results_do_not_move_with_the_cohort_count_beyond_sampling_noise():
    """Money, energy and adoption come out in world units: averaged over six seeds, a year's AI
    revenue, data-centre energy and adoption at 1,000 and at 8,000 cohorts differ by less than
    three standard errors of the difference (the seeds' spread at each count measures the
    sampling noise; with six seeds a true difference of zero exceeds three standard errors
    about 3% of the time)."""
    columns = ["ai_revenue_usd_per_year", "dc_energy_twh_per_year", "adoption_rate"]

    def year(n):
        cfg = small_config("baseline", 12, n)
        return pd.DataFrame([run_model(cfg, seed).model[columns].iloc[-1] for seed in range(6)])

    coarse, fine = year(1000), year(8000)
    standard_error = np.sqrt(coarse.var() / len(coarse) + fine.var() / len(fine))
    assert ((coarse.mean() - fine.mean()).abs() < 3 * standard_error).all()


# ---------------------------------------------------------------- the month adds up its parts
def test_the_month_adds_up_what_its_parts_report():
    """The model's month totals are the sums of what the agents and markets say they did: the
    month's equity and parent money are what the firms received, and each builder's customers
    and model revenue are what the token market sold it."""
    model = AIEcosystemModel(small_config(steps=24), rng=2)
    raised = 0.0
    for _ in range(24):
        model.step()
        builders = model.builders
        funding = model.funding
        assert funding.funding_usd == pytest.approx(sum(b.funding_usd for b in builders))
        assert funding.parent_transfers_usd == sum(b.parent_transfer_usd for b in builders)
        sales = model.token_market.sales(model.outcome, len(builders))
        for b in model.alive_builders():
            i = b.firm_id
            assert b.customers == sales.customers[i]
            revenue = sales.api_revenue_usd[i] + sales.support_revenue_usd[i]
            assert b.model_revenue_usd == pytest.approx(revenue)
        raised += funding.funding_usd
    assert raised > 0  # rounds did happen


def test_a_round_prices_the_firm_at_pre_money_plus_the_new_money():
    """Two funds buy into a firm worth 75 bn USD before the round: afterwards it is worth 75 bn
    plus what they put in, each fund's new stake is worth exactly what it paid, and the earlier
    holder keeps the value it had (diluted in share, not in USD)."""
    investors = load_config("baseline").investors.model_copy(update={"n_investors": 3})
    cm = CapitalMarket.from_config(investors)
    cm.add_firm()
    cm.ownership[:, 0] = [0.2, 0.0, 0.0]
    valuation = np.array([75e9])
    budgets = np.array([0.0, 10e9, 15e9])
    invested = cm.fund_rounds(
        np.full(3, 0.5), budgets, np.array([0.5]), np.zeros(1), np.array([1e12]), [0], valuation
    )
    assert invested[:, 0] == pytest.approx(budgets)  # one firm asking more than all of it
    assert valuation[0] == pytest.approx(100e9)
    assert cm.close_rounds(valuation) == pytest.approx([0.2 * 75e9, 10e9, 15e9])
    assert cm.valuation_usd[0] == pytest.approx(100e9)  # what next month's gains start from


def test_new_money_follows_each_funds_capital_and_dries_up_with_sentiment():
    """Limited partners pay in the configured inflow split by the funds' capital; when
    sentiment turns negative they pay in less, split the same way."""
    cm = CapitalMarket.from_config(load_config("baseline").investors)
    capital = [1e9, 3e9]
    cm.sentiment = 0.0
    assert cm.inflows_usd(capital, 4e9) == pytest.approx([1e9, 3e9])
    cm.sentiment = -1.0
    gloomy = cm.inflows_usd(capital, 4e9)
    assert gloomy[1] == pytest.approx(3 * gloomy[0])
    assert gloomy.sum() == pytest.approx(4e9 * cm.funding_factor) and cm.funding_factor < 1

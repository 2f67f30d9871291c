"""Each market mechanism moves its output the way its docstring says."""

import numpy as np
import pytest
from aiecosim.markets.capability import CapabilityLaw
from aiecosim.markets.capital import CapitalMarket
from aiecosim.markets.compute import ComputeMarket
from aiecosim.markets.energy import EnergyMarket


def law(alpha=0.12):
    return CapabilityLaw(100.0, alpha, 1e21, 8.0, 20.0, 4e17)


def market(**kw):
    args = dict(
        installed_gpus_h100e=1e6,
        dc_power_capacity_mw=2000.0,
        capex_usd_per_h100e=40_000,
        gpu_life_months=60,
        price_performance_doubling_months=24,
        power_kw_per_h100e=1.4,
        power_efficiency_doubling_months=30,
        target_utilisation=0.8,
        scarcity_multiplier=2.0,
        cloud_markup=0.35,
    )
    args.update(kw)
    return ComputeMarket(**args)


# ---------------------------------------------------------------- energy market
def test_merit_order_price_is_marginal_cost_of_last_unit_needed():
    m = EnergyMarket(scarcity_threshold=0.95, scarcity_premium_usd_per_mwh=300)
    capacity = np.array([100.0, 100.0, 100.0])
    cost = np.array([80.0, 10.0, 40.0])  # unsorted on purpose
    assert m.clear(capacity, cost, 50).price_usd_per_mwh == 10.0
    assert m.clear(capacity, cost, 150).price_usd_per_mwh == 40.0
    cleared = m.clear(capacity, cost, 250)
    assert cleared.price_usd_per_mwh == 80.0
    # cheapest first: the 10 $/MWh plant runs flat out, the 80 $/MWh one only for the rest
    assert cleared.dispatch_mw.tolist() == [50.0, 100.0, 100.0]


def test_scarcity_premium_rises_steeply_near_capacity_and_served_never_exceeds_it():
    m = EnergyMarket(scarcity_threshold=0.9, scarcity_premium_usd_per_mwh=300)
    capacity, cost = np.array([1000.0]), np.array([50.0])
    prices = [m.clear(capacity, cost, d).price_usd_per_mwh for d in (800, 920, 960, 990, 1200)]
    assert prices[0] == 50.0
    assert all(b > a for a, b in zip(prices, prices[1:], strict=False))
    assert prices[2] - prices[1] < prices[3] - prices[2]  # convex approach to capacity
    short = m.clear(capacity, cost, 1200)
    assert short.served_mw == 1000.0 and short.shortfall_mw == 200.0


# ---------------------------------------------------------------- compute market
def test_dearer_energy_raises_the_compute_price():
    cheap = market().set_price(0, energy_price_usd_per_mwh=40)
    dear = market().set_price(0, energy_price_usd_per_mwh=200)
    assert dear > cheap > 0


def test_compute_price_includes_a_scarcity_factor_above_target_utilisation():
    calm, tight = market(), market()
    calm.demand_ratio, tight.demand_ratio = 0.6, 0.95
    assert tight.set_price(0, 70) > calm.set_price(0, 70)
    assert calm.set_price(0, 70) == pytest.approx(market().cost_usd_per_gpu_hour(0, 70) * 1.35)


def test_usable_capacity_is_capped_by_power():
    m = market(installed_gpus_h100e=5e6, dc_power_capacity_mw=1400.0)
    assert m.update_capacity(0) == pytest.approx(1e6)  # 1,400 MW / 1.4 kW
    m.dc_power_capacity_mw = 1e6
    assert m.update_capacity(0) == 5e6


def test_training_is_rationed_pro_rata_after_inference_when_short():
    m = market()
    m.update_capacity(0)
    capacity = m.capacity_gpu_hours
    granted = m.ration_training(
        np.array([capacity, capacity]), reserved_inference_gpu_hours=0.5 * capacity
    )
    assert granted == pytest.approx([0.25, 0.25])
    assert m.ration_training(np.array([0.1 * capacity]), 0.5 * capacity) == pytest.approx([1.0])


def test_hardware_price_performance_lowers_cost_per_gpu_hour_over_time():
    m = market()
    assert m.cost_usd_per_gpu_hour(48, 70) < m.cost_usd_per_gpu_hour(0, 70)


# ---------------------------------------------------------------- capability law
def test_capability_grows_with_compute_with_diminishing_returns():
    c = law()
    caps = [c.capability(f, 0) for f in (1e23, 1e24, 1e25, 1e26)]
    gains = np.diff(caps)
    assert all(g > 0 for g in gains) and all(b < a for a, b in zip(gains, gains[1:], strict=False))
    assert caps[-1] < 100


def test_algorithmic_efficiency_makes_later_runs_better_and_inverse_is_consistent():
    c = law()
    assert c.capability(1e24, 16) > c.capability(1e24, 0)
    assert c.algorithmic_efficiency(8) == pytest.approx(2.0)
    flop = c.flop_for_capability(70.0, 12)
    assert c.capability(flop, 12) == pytest.approx(70.0)


def test_stronger_diminishing_returns_shrink_the_gap_between_big_and_small_runs():
    gap = {a: law(a).capability(1e26, 0) - law(a).capability(1e24, 0) for a in (0.12, 0.3)}
    assert gap[0.3] < gap[0.12]


@pytest.mark.parametrize("alpha", [0.12, 0.3])
def test_scale_pays_until_a_doubling_buys_less_than_the_hurdle(alpha):
    c = law(alpha)
    month, hurdle = 24, 0.2
    worthwhile = c.worthwhile_flop(hurdle, month)
    before = c.capability(worthwhile, month) - c.capability(worthwhile / 2, month)
    beyond = c.capability(2 * worthwhile, month) - c.capability(worthwhile, month)
    assert before > hurdle > beyond
    # algorithmic progress reaches the same point with fewer FLOP later
    assert c.worthwhile_flop(hurdle, month + 8) == pytest.approx(worthwhile / 2)
    assert c.worthwhile_flop(0.0, month) == float("inf")


def test_a_plateau_brings_the_point_where_scale_stops_paying_closer():
    assert law(0.3).worthwhile_flop(0.2, 0) < law(0.12).worthwhile_flop(0.2, 0) / 1e6


def test_serving_efficiency_lowers_gpu_hours_per_token_and_size_raises_them():
    c = law()
    assert c.gpu_hours_per_mtok(1e25, 4.0) < c.gpu_hours_per_mtok(1e25, 1.0)
    assert c.gpu_hours_per_mtok(1e26, 1.0) > c.gpu_hours_per_mtok(1e25, 1.0)


# ---------------------------------------------------------------- capital market
def capital(**kw):
    args = dict(
        sentiment_adjustment=0.2,
        patience_months=24,
        optimism=0.5,
        required_return_per_year=0.25,
        belief_update=0.15,
        base_revenue_multiple=25.0,
        multiple_sentiment_elasticity=0.5,
        funding_sensitivity=1.0,
        correction_threshold=-0.5,
        w_fit=3.0,
        w_perf=1.0,
        n_investors=2,
    )
    args.update(kw)
    return CapitalMarket(**args)


def test_sentiment_falls_when_returns_miss_expectations_and_a_correction_follows():
    cm = capital()
    corrections = [cm.update_sentiment(-0.04) for _ in range(60)]  # five years of losses
    assert cm.sentiment < -1
    assert sum(corrections) == 1  # one correction when it crosses, not one every month
    assert cm.funding_factor < 0.5
    assert cm.revenue_multiple < 25.0 * np.exp(0.5 * -1)  # and the multiples fall with it


def test_sentiment_holds_up_when_returns_beat_what_investors_require():
    cm = capital()
    for _ in range(60):
        cm.update_sentiment(0.04)  # about 60% a year against 25% required
    assert cm.sentiment > 0 and cm.funding_factor == 1.0


def test_patience_sets_how_deep_the_correction_goes_not_when_it_comes():
    # Two years of good returns, then a year of losses, then recovery: the same returns for
    # a patient and an impatient market.
    returns = [0.05] * 24 + [-0.04] * 12 + [0.03] * 24
    paths = {}
    for patience in (12, 48):
        market = capital(patience_months=patience, optimism=0.2, sentiment_adjustment=0.15)
        path = []
        for r in returns:
            market.update_sentiment(r)
            path.append(market.sentiment)
        paths[patience] = np.array(path)
    for path in paths.values():
        # sentiment turns down in the first month of the bad year (month 24), in both markets
        assert np.argmax(np.diff(path) < 0) == 23
        # and the bottom is where the returns turn back, not at a set month
        assert 34 <= int(np.argmin(path)) <= 38
    assert paths[12].min() < paths[48].min() - 0.5  # impatience: a deeper fall


def test_a_round_buys_a_stake_at_the_valuation_and_dilutes_earlier_holders():
    cm = capital()
    cm.add_firm()
    cm.ownership[:, 0] = [0.3, 0.0]
    cm.buy_equity(0, np.array([0.0, 25e9]), pre_money_usd=75e9)  # 25 bn at 75 bn pre-money
    assert cm.ownership[:, 0] == pytest.approx([0.3 * 0.75, 0.25])
    value = cm.valuations_usd(np.array([1e9]), np.array([5e9]), np.array([True]))
    assert value[0] == pytest.approx(cm.revenue_multiple * 12e9)  # revenue times the multiple
    assert cm.marked_stakes_usd(value) == pytest.approx(cm.ownership[:, 0] * value[0])


def test_investors_fund_builders_that_fit_their_thesis():
    cm = capital()
    thesis = np.array([1.0, 0.0])  # a scale investor and an efficiency investor
    alloc = cm.allocate(
        thesis, np.array([10e9, 10e9]), np.array([1.0, 0.0]), np.zeros(2), np.array([1e12, 1e12])
    )
    assert alloc[0, 0] > alloc[0, 1] and alloc[1, 1] > alloc[1, 0]
    assert alloc.sum() == pytest.approx(20e9)


def test_no_builder_gets_more_than_it_asks_for():
    cm = capital()
    alloc = cm.allocate(
        np.array([0.5]), np.array([10e9]), np.array([0.5, 0.5]), np.zeros(2), np.array([1e9, 0.0])
    )
    assert alloc.sum(axis=0) == pytest.approx([1e9, 0.0])

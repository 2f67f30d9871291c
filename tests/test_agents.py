"""Each agent against a fixed market, Axelrod-style.

Axelrod's library tests a strategy by playing it against fixed opponents and asserting the moves
it makes. Here the "opponent" is a small, fixed market (`fixed_market`): the baseline world with
one builder per archetype and a handful of enterprises, whose prices (energy, compute, a rival's
best response), cash and books are then set by hand. Each test asserts what one agent decides in
that known situation (the price it posts, the run it plans, the compute it asks for, the money
it asks for, the hours it rents out, the plant it orders) with numbers worked out from the rule
in the method's docstring, or as a comparison an economist would expect (a higher markup prices
higher, less cash buys a smaller run, a rationed run finishes later, ...).

Tests read decisions, not the model's running totals, so they hold while the month's plumbing
changes around the agents.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from aiecosim.agents.builders import ROUND_MONTHS, ModelBuilder
from aiecosim.agents.energy import INVESTMENT_RESPONSE, EnergySupplier
from aiecosim.agents.investors import Investor
from aiecosim.agents.parents import Parent
from aiecosim.agents.strategy import ARCHETYPES, PRESETS
from aiecosim.config import load_config
from aiecosim.markets.energy import HOURS_PER_MONTH, HOURS_PER_YEAR
from aiecosim.model import AIEcosystemModel

# ---------------------------------------------------------------------------- the fixed market
ONE_OF_EACH = [{"strategy": archetype, "count": 1} for archetype in ARCHETYPES]
ENERGY_USD_PER_MWH = 70.0
COMPUTE_USD_PER_GPU_HOUR = 2.0


def at_month(model: AIEcosystemModel, month: int) -> None:
    """Move the model's clock to `month` (directly, or through Mesa's step counter when the
    month is derived from it)."""
    try:
        model.month = month
    except AttributeError:  # a read-only month, derived from model.steps
        model.steps += month - model.month
    assert model.month == month


def set_market(
    model: AIEcosystemModel,
    energy_usd_per_mwh: float | None = None,
    compute_usd_per_gpu_hour: float | None = None,
) -> None:
    """Fix this month's energy and compute prices."""
    if energy_usd_per_mwh is not None:
        model.energy_price_usd_per_mwh = energy_usd_per_mwh
    if compute_usd_per_gpu_hour is not None:
        model.compute_market.price_usd_per_gpu_hour = compute_usd_per_gpu_hour


def fixed_market(
    cohorts: list[dict] | None = None,
    params: dict | None = None,
    energy_usd_per_mwh: float = ENERGY_USD_PER_MWH,
    compute_usd_per_gpu_hour: float = COMPUTE_USD_PER_GPU_HOUR,
) -> AIEcosystemModel:
    """The baseline world with one builder per archetype (or `cohorts`), 200 enterprises, no
    entry, seed 0; energy and compute at fixed prices; month 0."""
    cfg = load_config(
        "baseline",
        params={
            "run.enterprises": 200,
            "builders.initial": cohorts or ONE_OF_EACH,
            "builders.entry_rate_per_month": 0.0,
            **(params or {}),
        },
    )
    model = AIEcosystemModel(cfg, rng=0)
    set_market(model, energy_usd_per_mwh, compute_usd_per_gpu_hour)
    for builder in model.builders:
        builder.open_books()
    return model


def player(model: AIEcosystemModel, strategy: str, entrant: bool = False) -> ModelBuilder:
    """The (first) builder following `strategy`."""
    return next(b for b in model.builders if b.strategy.name == strategy and b.entrant == entrant)


def supplier(model: AIEcosystemModel, name: str) -> EnergySupplier:
    return next(s for s in model.suppliers if s.name == name)


# ============================================================================ ModelBuilder
# ---------------------------------------------------------------------------- pricing
def test_first_price_is_cost_plus_and_a_higher_markup_prices_higher():
    """A first model is priced at cost x (1 + markup): at a cost of $1/Mtok the frontier lab
    (markup 3) asks $4, the giant (1.5) $2.50, the open builder (0.4) $1.40."""
    model = fixed_market()
    prices = {}
    for archetype in ARCHETYPES:
        b = player(model, archetype)
        b.set_price(None, cost_usd_per_mtok=1.0)
        prices[archetype] = b.price_usd_per_mtok
    assert prices == pytest.approx(
        {"frontier_lab": 4.0, "integrated_giant": 2.5, "open_source_builder": 1.4}
    )
    assert prices["frontier_lab"] > prices["integrated_giant"] > prices["open_source_builder"]


def test_a_builder_without_a_model_posts_no_price():
    model = fixed_market(cohorts=[{"strategy": "frontier_lab", "count": 1, "entrant": True}])
    entrant = player(model, "frontier_lab", entrant=True)
    assert not entrant.released
    entrant.set_price(None, cost_usd_per_mtok=1.0)
    entrant.set_price(5.0, cost_usd_per_mtok=1.0)
    assert entrant.price_usd_per_mtok == 0.0


def test_a_renting_lab_passes_the_rental_price_through_in_proportion():
    """A lab without a fleet serves on rented compute: its inference cost is GPU-hours per Mtok
    x the rental price, so doubling the rental price doubles its cost-plus price, and the
    energy price reaches it only through the rental price."""
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.set_price(None)
    base = lab.price_usd_per_mtok
    assert base == pytest.approx(lab.gpu_hours_per_mtok() * COMPUTE_USD_PER_GPU_HOUR * 4.0)

    set_market(model, compute_usd_per_gpu_hour=2 * COMPUTE_USD_PER_GPU_HOUR)
    lab.set_price(None)
    assert lab.price_usd_per_mtok == pytest.approx(2 * base)

    set_market(model, energy_usd_per_mwh=3 * ENERGY_USD_PER_MWH)
    lab.set_price(None)
    assert lab.price_usd_per_mtok == pytest.approx(2 * base)


def test_a_giant_serving_from_its_own_fleet_pays_cost_without_the_cloud_markup():
    """An owned accelerator-hour costs amortised hardware plus power, like the cloud's, but
    without the cloud's markup: with no scarcity the rental price is own cost x (1 + markup)."""
    model = fixed_market(energy_usd_per_mwh=40.0)  # the price its own plants produce at
    giant = player(model, "integrated_giant")
    market = model.compute_market
    market.demand_ratio = market.target_utilisation  # no scarcity premium
    market.set_price(0, 40.0)
    assert giant.energy_price_usd_per_mwh() == pytest.approx(40.0)
    assert giant.own_cost_usd_per_gpu_hour() == pytest.approx(
        market.price_usd_per_gpu_hour / (1 + model.cfg.compute.cloud_markup)
    )
    # its fleet covers what its customers used: it serves at own cost
    giant.last_inference_gpu_hours = 0.5 * giant.owned_gpus_h100e * HOURS_PER_MONTH
    assert giant.unit_compute_cost_usd_per_gpu_hour() == pytest.approx(
        giant.own_cost_usd_per_gpu_hour()
    )


def test_a_giant_is_insulated_from_the_rental_price_but_not_from_power():
    """Its own fleet covers its serving: doubling the rental price leaves its price where it
    was, a dearer grid (it buys part of its fleet's power) raises it."""
    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.last_inference_gpu_hours = 0.5 * giant.owned_gpus_h100e * HOURS_PER_MONTH
    giant.set_price(None)
    base = giant.price_usd_per_mtok

    set_market(model, compute_usd_per_gpu_hour=2 * COMPUTE_USD_PER_GPU_HOUR)
    giant.set_price(None)
    assert giant.price_usd_per_mtok == pytest.approx(base)

    set_market(model, energy_usd_per_mwh=2 * ENERGY_USD_PER_MWH)
    giant.set_price(None)
    assert giant.price_usd_per_mtok > base


def test_a_giant_whose_customers_outgrow_its_fleet_blends_own_cost_and_rental_price():
    """Customers who used twice its fleet last month: half their hours at own cost, half at the
    rental price."""
    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.last_inference_gpu_hours = 2 * giant.owned_gpus_h100e * HOURS_PER_MONTH
    own = giant.own_cost_usd_per_gpu_hour()
    assert own < COMPUTE_USD_PER_GPU_HOUR
    assert giant.unit_compute_cost_usd_per_gpu_hour() == pytest.approx(
        0.5 * own + 0.5 * COMPUTE_USD_PER_GPU_HOUR
    )


def test_own_plants_blend_into_the_fleets_power_price():
    """A giant's fleet draws 400k H100e x 1.4 kW = 560 MW; its plants supply 300 MW at $40, the
    grid the rest at the market price. A lab without a fleet pays the market price."""
    model = fixed_market(energy_usd_per_mwh=110.0)
    giant = player(model, "integrated_giant")
    assert giant.energy_price_usd_per_mwh() == pytest.approx((300 * 40 + 260 * 110) / 560)
    assert player(model, "frontier_lab").energy_price_usd_per_mwh() == 110.0


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_nash_price_moves_part_way_to_the_best_response(archetype):
    """Stickiness 0.5: each month the gap to the best response halves (2 -> 3 -> 3.5 -> 3.75
    toward 4, above a $1 cost)."""
    model = fixed_market()
    b = player(model, archetype)
    b.price_usd_per_mtok = 2.0
    path = []
    for _ in range(3):
        b.set_price(4.0, cost_usd_per_mtok=1.0)
        path.append(b.price_usd_per_mtok)
    assert path == pytest.approx([3.0, 3.5, 3.75])


def test_without_stickiness_the_price_jumps_to_the_best_response():
    model = fixed_market(params={"builders.price_stickiness": 0.0})
    lab = player(model, "frontier_lab")
    lab.price_usd_per_mtok = 2.0
    lab.set_price(4.0, cost_usd_per_mtok=1.0)
    assert lab.price_usd_per_mtok == pytest.approx(4.0)


def test_a_first_nash_price_starts_at_the_best_response():
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.price_usd_per_mtok = 0.0
    lab.set_price(3.0, cost_usd_per_mtok=1.0)
    assert lab.price_usd_per_mtok == pytest.approx(3.0)


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_the_price_never_falls_below_marginal_cost(archetype):
    """Rivals' prices below its cost: it comes down toward its cost ($1.50), never below; when its
    cost jumps above its price, the price follows at once."""
    model = fixed_market()
    b = player(model, archetype)
    b.price_usd_per_mtok = 2.0
    path = []
    for _ in range(8):
        b.set_price(0.5, cost_usd_per_mtok=1.5)
        path.append(b.price_usd_per_mtok)
    assert path[0] == pytest.approx(1.75)
    assert all(p >= 1.5 for p in path)
    assert np.all(np.diff(path) <= 0) and path[-1] == pytest.approx(1.5, rel=1e-2)

    b.set_price(2.0, cost_usd_per_mtok=3.0)
    assert b.price_usd_per_mtok == pytest.approx(3.0)


def test_penetration_pricing_buys_share_below_cost_then_best_responds():
    """A penetration pricer (30% below cost for its first 6 months after entry) ignores rivals
    while buying share, then moves halfway toward its best response like any Nash pricer."""
    params = {
        "strategies.penetrator": {
            "base": "open_source_builder",
            "pricing": "penetration",
            "penetration_months": 6,
            "penetration_discount": 0.3,
        }
    }
    model = fixed_market(cohorts=[{"strategy": "penetrator", "count": 1}], params=params)
    b = player(model, "penetrator")
    for month in range(6):
        at_month(model, month)
        b.set_price(2.0, cost_usd_per_mtok=1.0)
        assert b.price_usd_per_mtok == pytest.approx(0.7), month
    at_month(model, 6)
    b.set_price(2.0, cost_usd_per_mtok=1.0)
    assert b.price_usd_per_mtok == pytest.approx(0.7 + 0.5 * (2.0 - 0.7))


def test_a_cost_plus_pricer_ignores_its_rivals():
    params = {"strategies.cost_plus_lab": {"base": "frontier_lab", "pricing": "cost_plus"}}
    model = fixed_market(cohorts=[{"strategy": "cost_plus_lab", "count": 1}], params=params)
    b = player(model, "cost_plus_lab")
    for rival_best_response in (0.5, 4.0, 40.0):
        b.set_price(rival_best_response, cost_usd_per_mtok=1.0)
        assert b.price_usd_per_mtok == pytest.approx(4.0)


# ---------------------------------------------------------------------------- training plan
def test_a_scale_lab_aims_at_a_bigger_run_than_an_efficiency_builder():
    """Each run aims at scale_growth_per_run x the last one (where scale still pays): 2.2x for
    the frontier lab, 2x for the giant, 1.6x for the open builder."""
    model = fixed_market()
    growth = {
        a: player(model, a).next_run_target_flop() / player(model, a).last_training_flop
        for a in ARCHETYPES
    }
    assert growth == pytest.approx(
        {"frontier_lab": 2.2, "integrated_giant": 2.0, "open_source_builder": 1.6}
    )
    lab, open_builder = player(model, "frontier_lab"), player(model, "open_source_builder")
    assert lab.next_run_target_flop() > 10 * open_builder.next_run_target_flop()


def test_scale_stops_where_a_doubling_no_longer_pays():
    """With a hurdle of h = 2 points a doubling, the lab scales only to the compute where the
    next doubling buys h, i.e. to a model at cap_max - h / (alpha ln 2) on release (month 6)."""
    model = fixed_market(params={"builders.min_gain_per_doubling": 2.0})
    lab = player(model, "frontier_lab")
    target = lab.next_run_target_flop()
    assert 0 < target < 2.2 * lab.last_training_flop
    cap = model.cfg.capability
    at_release = model.capability_law.capability(target, lab.strategy.training_months)
    assert at_release == pytest.approx(cap.cap_max - 2.0 / (cap.alpha * math.log(2)))


def test_nothing_is_trained_when_no_run_beats_its_model_by_the_hurdle():
    model = fixed_market(params={"builders.min_gain_per_doubling": 5.0})
    lab = player(model, "frontier_lab")
    assert lab.next_run_target_flop() == 0.0
    assert lab.training_request_gpu_hours() == 0.0
    assert lab.training is None


def test_a_rich_lab_rents_its_whole_run_spread_over_its_months():
    """Cash is no constraint at $12bn: it asks the market each month for the target run's
    GPU-hours divided by its 6 training months."""
    model = fixed_market()
    lab = player(model, "frontier_lab")
    target = lab.next_run_target_flop()
    hours = target / model.cfg.compute.training_flop_per_gpu_hour
    assert lab.training_request_gpu_hours() == pytest.approx(hours / 6)
    assert lab.training.flop == pytest.approx(target)


def lab_request(cash_usd: float, compute_usd_per_gpu_hour: float = COMPUTE_USD_PER_GPU_HOUR):
    model = fixed_market(compute_usd_per_gpu_hour=compute_usd_per_gpu_hour)
    lab = player(model, "frontier_lab")
    lab.cash_usd = cash_usd
    return lab.training_request_gpu_hours()


def test_less_cash_buys_a_smaller_run():
    """A cash-bound lab spends training_share (1.2) of its cash on the run: $60m buys
    $72m / ($2/h) = 36m GPU-hours, 6m a month; $40m buys 4m a month; $20m buys too little of
    the target run (under a quarter) to start; with no cash it pauses."""
    assert lab_request(60e6) == pytest.approx(1.2 * 60e6 / 2.0 / 6)
    assert lab_request(40e6) == pytest.approx(1.2 * 40e6 / 2.0 / 6)
    assert lab_request(12e9) > lab_request(60e6) > lab_request(40e6) > 0
    assert lab_request(20e6) == 0.0
    assert lab_request(0.0) == 0.0
    assert lab_request(-1e9) == 0.0


def test_dearer_compute_shrinks_a_cash_bound_run():
    """$100m of cash buys 60m hours at $2 (80% of the target run), 30m at $4."""
    assert lab_request(100e6, compute_usd_per_gpu_hour=2.0) == pytest.approx(60e6 / 6)
    assert lab_request(100e6, compute_usd_per_gpu_hour=4.0) == pytest.approx(30e6 / 6)


def test_a_giant_trains_on_its_own_fleet_before_renting():
    """Half its fleet (400k H100e x 730 h / 2) covers its run: it asks the market for nothing.
    With a 10k H100e fleet, half of it (3.65m h) trains and it rents the rest."""
    model = fixed_market()
    giant = player(model, "integrated_giant")
    assert giant.training_request_gpu_hours() == 0.0
    assert giant.training is not None

    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.owned_gpus_h100e = 10_000
    monthly = (
        giant.next_run_target_flop()
        / model.cfg.compute.training_flop_per_gpu_hour
        / giant.strategy.training_months
    )
    assert giant.training_request_gpu_hours() == pytest.approx(
        monthly - 10_000 * HOURS_PER_MONTH / 2
    )


def train(model: AIEcosystemModel, builder: ModelBuilder, granted_share: float, months: int):
    """Run `months` months of training with a fixed grant; the month each model is released."""
    releases = []
    for month in range(months):
        at_month(model, month)
        builder.open_books()
        before = len(builder.released)
        builder.training_request_gpu_hours()
        builder.advance_training(granted_share)
        if len(builder.released) > before:
            releases.append(month)
    return releases


def test_a_fully_granted_run_releases_after_its_training_months():
    model = fixed_market()
    lab = player(model, "frontier_lab")
    old = lab.capability
    target = lab.next_run_target_flop()
    assert train(model, lab, granted_share=1.0, months=7) == [5]
    assert lab.best_model.training_flop == pytest.approx(target)
    assert lab.capability > old
    assert lab.last_training_flop == pytest.approx(target)
    # it paid for what it rented: the whole run at $2/h
    assert lab.best_model.training_cost_usd == pytest.approx(
        target / model.cfg.compute.training_flop_per_gpu_hour * COMPUTE_USD_PER_GPU_HOUR
    )


def test_a_rationed_run_is_delayed():
    """Half its monthly hours granted: a 6-month run takes 12."""
    model = fixed_market()
    lab = player(model, "frontier_lab")
    assert train(model, lab, granted_share=0.5, months=13) == [11]


def test_rationing_does_not_slow_a_run_on_its_own_fleet():
    model = fixed_market()
    giant = player(model, "integrated_giant")
    assert train(model, giant, granted_share=0.0, months=7) == [5]


# ---------------------------------------------------------------------------- funding ask
def test_a_giant_funded_by_its_parent_asks_investors_for_nothing():
    model = fixed_market(
        cohorts=[*ONE_OF_EACH, {"strategy": "integrated_giant", "count": 1, "entrant": True}]
    )
    incumbent = player(model, "integrated_giant")
    assert incumbent.parent is not None
    incumbent.cash_usd = 0.0
    assert incumbent.funding_ask_usd() == 0.0
    entrant = player(model, "integrated_giant", entrant=True)  # brings no parent
    assert entrant.parent is None
    entrant.cash_usd = 0.0
    assert entrant.funding_ask_usd() > 0


def frontier_ask(cash_usd: float, monthly_costs_usd: float | None = None, valuation_usd=0.0):
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.cash_usd = cash_usd
    lab.valuation_usd = valuation_usd
    if monthly_costs_usd is not None:
        lab.cost_history = [monthly_costs_usd] * 12
    run_usd = (
        lab.next_run_target_flop()
        / model.cfg.compute.training_flop_per_gpu_hour
        * COMPUTE_USD_PER_GPU_HOUR
    )
    return lab.funding_ask_usd(), run_usd


def test_a_round_covers_the_gap_to_runway_plus_the_next_run():
    """Without books yet its costs are its opex ($250m a month); it wants 24 months of them plus
    its next run at the rental price in hand. With $1bn it asks for the rest."""
    ask, run_usd = frontier_ask(1e9)
    assert ask == pytest.approx(24 * 250e6 + run_usd - 1e9)


def test_the_ask_shrinks_with_cash_and_grows_with_burn():
    ask_1bn, _ = frontier_ask(1e9)
    ask_2bn, _ = frontier_ask(2e9)
    assert ask_1bn - ask_2bn == pytest.approx(1e9)  # each dollar in hand is one less to raise
    burning, _ = frontier_ask(1e9, monthly_costs_usd=500e6)
    assert burning - ask_1bn == pytest.approx(24 * 250e6)  # 24 months of $250m more burn
    assert frontier_ask(10e9)[0] == 0.0  # enough in hand: no round


def test_a_round_sells_the_dilution_share_of_the_firm():
    """Valued at $600bn, a round sized by the stake sold: the new money is round_dilution (20%)
    of the post-money firm."""
    ask, _ = frontier_ask(1e9, valuation_usd=600e9)
    assert ask / (600e9 + ask) == pytest.approx(0.2)


def test_an_open_round_stays_open_until_stale():
    """A round keeps asking for what is left of it, even once cash covers the need, for
    ROUND_MONTHS; then it closes and the firm asks afresh (here: nothing)."""
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.cash_usd, lab.valuation_usd = 1e9, 0.0
    ask = lab.funding_ask_usd()
    lab.receive_funding(model.investors[0], ask / 4)
    lab.cash_usd = 50e9  # say its business brought in the rest
    at_month(model, ROUND_MONTHS - 1)
    assert lab.funding_ask_usd() == pytest.approx(0.75 * ask)
    at_month(model, ROUND_MONTHS)
    assert lab.funding_ask_usd() == 0.0


def test_a_firm_that_never_raises_or_has_exited_asks_nothing():
    params = {"strategies.bootstrapped": {"base": "frontier_lab", "raise_runway_months": 0.0}}
    model = fixed_market(
        cohorts=[*ONE_OF_EACH, {"strategy": "bootstrapped", "count": 1}], params=params
    )
    bootstrapped = player(model, "bootstrapped")
    bootstrapped.cash_usd = 0.0
    assert bootstrapped.funding_ask_usd() == 0.0
    lab = player(model, "frontier_lab")
    lab.cash_usd = -1.0
    assert lab.exit_if_insolvent()
    assert lab.funding_ask_usd() == 0.0


# ---------------------------------------------------------------------------- renting out compute
def test_a_giant_rents_out_its_idle_fleet_as_far_as_the_market_takes_it():
    """10m spare hours, $2/h: at 60% utilisation the market takes 6m hours ($12m); above full
    utilisation all 10m, never more."""
    model = fixed_market()
    giant = player(model, "integrated_giant")
    for utilisation, sold in ((0.6, 6e6), (1.0, 10e6), (1.4, 10e6), (0.0, 0.0)):
        giant.open_books()
        giant.spare_gpu_hours = 10e6
        assert giant.sell_spare_compute(utilisation) == pytest.approx(sold)
        assert giant.revenue_usd == pytest.approx(sold * COMPUTE_USD_PER_GPU_HOUR)


def test_no_renting_out_below_the_power_cost_of_an_hour():
    """At $0.01/h (under the ~$0.07 an hour's power costs it) idle accelerators stay off."""
    model = fixed_market(compute_usd_per_gpu_hour=0.01)
    giant = player(model, "integrated_giant")
    giant.spare_gpu_hours = 10e6
    assert giant.sell_spare_compute(1.0) == 0.0
    assert giant.revenue_usd == 0.0


def test_a_giant_has_hours_to_rent_only_when_its_fleet_is_not_fully_used():
    """A month with no customers: its whole fleet (400k x 730 h) is spare. A month whose
    tokens take every hour of it: nothing to rent out. A lab without a fleet never has any."""
    model = fixed_market()
    giant = player(model, "integrated_giant")
    fleet_hours = giant.owned_gpus_h100e * HOURS_PER_MONTH
    giant.settle(0.0, 0.0, 0.0)
    assert giant.spare_gpu_hours == pytest.approx(fleet_hours)
    assert giant.sell_spare_compute(0.5) == pytest.approx(0.5 * fleet_hours)

    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.settle(fleet_hours / giant.gpu_hours_per_mtok(), 1e9, 0.0)
    assert giant.spare_gpu_hours == pytest.approx(0.0, abs=1e-3)
    assert giant.sell_spare_compute(0.5) == pytest.approx(0.0, abs=1e-3)

    lab = player(model, "frontier_lab")
    lab.settle(0.0, 0.0, 0.0)
    assert lab.sell_spare_compute(1.0) == 0.0


def test_a_giant_whose_parent_walked_away_stops_building_data_centres():
    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.settle(0.0, 0.0, 0.0)
    assert giant.capex_usd > 0

    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.parent.committed = False
    giant.settle(0.0, 0.0, 0.0)
    assert giant.capex_usd == 0.0


# ---------------------------------------------------------------------------- exit
def test_an_insolvent_builder_exits_and_its_creditors_absorb_the_debt():
    model = fixed_market()
    at_month(model, 7)
    lab = player(model, "frontier_lab")
    lab.customers, lab.price_usd_per_mtok = 100, 3.0
    lab.cash_usd = -5e8
    assert lab.exit_if_insolvent()
    assert not lab.alive
    assert lab.exit_month == 7
    assert lab.written_off_usd == pytest.approx(5e8)
    assert lab.cash_usd == pytest.approx(0.0)
    assert (lab.customers, lab.price_usd_per_mtok, lab.training) == (0, 0.0, None)
    assert not lab.exit_if_insolvent()  # it leaves once


@pytest.mark.parametrize("cash_usd", [0.0, 1.0, 5e9])
def test_a_solvent_builder_stays(cash_usd):
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.cash_usd = cash_usd
    assert not lab.exit_if_insolvent()
    assert lab.alive and lab.exit_month is None


def test_a_round_that_covers_the_hole_keeps_it_in():
    model = fixed_market()
    lab = player(model, "frontier_lab")
    lab.cash_usd = -5e8
    lab.receive_funding(model.investors[0], 6e8)
    assert not lab.exit_if_insolvent()
    assert lab.alive


# ============================================================================ EnergySupplier
RENEWABLES = "renewables + storage"  # 520 GW average, LCOE $55, marginal $10, 18 months, 1.2%/mo


def test_no_plant_is_ordered_below_the_full_cost_of_new_capacity():
    model = fixed_market()
    s = supplier(model, RENEWABLES)
    for expected in (20.0, 54.9, 55.0):  # up to and at its LCOE
        assert s.invest(0, expected) == 0.0
    assert not s.pipeline
    assert s.capex_usd == 0.0


def test_orders_grow_with_the_margin_over_cost_up_to_the_fastest_rate():
    """order = capacity x max share x clip(3 (E[p]/LCOE - 1), 0, 1): 1/6 above LCOE builds at half
    the fastest rate (520 GW x 1.2% / 2 = 3.12 GW), 1/3 above at the fastest (6.24 GW); a dearer
    price builds no faster."""
    expected = [55.0 * (1 + x) for x in (0.05, 1 / 6, 1 / 3, 1.0)]
    orders = [supplier(fixed_market(), RENEWABLES).invest(0, p) for p in expected]
    assert orders[1] == pytest.approx(520_000 * 0.012 / 2)
    assert orders[2] == pytest.approx(520_000 * 0.012)
    assert orders[3] == pytest.approx(orders[2])
    assert 0 < orders[0] < orders[1]
    assert INVESTMENT_RESPONSE * (1 / 3) == pytest.approx(1.0)  # the saturation point above


def test_new_capacity_arrives_only_after_the_lead_time():
    """Ordered in month 10 with an 18-month lead: nothing online through month 27, all of it in
    month 28, and only once."""
    model = fixed_market()
    s = supplier(model, RENEWABLES)
    before = s.capacity_mw
    order = s.invest(10, 70.0)
    assert order > 0
    for month in range(10, 28):
        assert s.commission(month) == 0.0
    assert s.capacity_mw == before
    assert s.commission(28) == pytest.approx(order)
    assert s.capacity_mw == pytest.approx(before + order)
    assert s.commission(29) == 0.0


def test_a_longer_lead_time_delays_the_plant():
    model = fixed_market(params={"energy.lead_time_multiplier": 2.0})
    s = supplier(model, RENEWABLES)
    order = s.invest(10, 70.0)
    assert s.commission(45) == 0.0
    assert s.commission(46) == pytest.approx(order)


def test_orders_come_online_in_the_order_they_were_placed():
    model = fixed_market()
    s = supplier(model, RENEWABLES)
    first = s.invest(0, 70.0)
    second = s.invest(1, 80.0)
    assert s.commission(18) == pytest.approx(first)
    assert s.commission(19) == pytest.approx(second)


def test_a_plants_overnight_cost_is_repaid_by_the_capital_part_of_its_lcoe():
    """The capex of a MW is the present value, at the 7% cost of capital over 30 years, of what
    the capital part of its LCOE ($55 - $10 a MWh) earns a year at full output; it is paid when
    the plant is ordered."""
    model = fixed_market()
    s = supplier(model, RENEWABLES)
    annual_usd = (55.0 - 10.0) * HOURS_PER_YEAR
    present_value = sum(annual_usd / 1.07**year for year in range(1, 31))
    assert s.capex_usd_per_mw() == pytest.approx(present_value)
    book = s.book_value_usd
    order = s.invest(0, 70.0)
    assert s.capex_usd == pytest.approx(order * present_value)
    assert s.book_value_usd == pytest.approx(book + order * present_value)


def test_rising_fuel_costs_raise_the_bar_for_new_plant():
    """Costs 10% a year higher a year on: the same expected price clears a dearer LCOE by less,
    so less is ordered."""
    early = supplier(fixed_market(), "gas combined cycle")
    late = supplier(fixed_market(), "gas combined cycle")
    late.update_costs(12, 0.10)
    assert late.lcoe_now_usd_per_mwh == pytest.approx(85 * 1.1)
    assert 0 < late.invest(12, 100.0) < early.invest(0, 100.0)


def test_a_supplier_that_cannot_build_orders_nothing():
    """Coal's build share is zero: however high the price, no new coal."""
    s = supplier(fixed_market(), "coal")
    assert s.invest(0, 1_000.0) == 0.0
    assert not s.pipeline


# ============================================================================ Investor
def test_an_investor_deploys_a_share_of_its_capital_scaled_by_sentiment():
    """$100bn of cash, deploying 6% a month: $6bn at neutral sentiment, more when sentiment
    is up, less when it is down, nothing when it is gone."""
    model = fixed_market()
    investor = Investor(model, thesis=0.5, cash_usd=100e9)
    assert investor.budget_usd(0.06, 1.0) == pytest.approx(6e9)
    budgets = [investor.budget_usd(0.06, f) for f in (0.0, 0.5, 1.0, 1.5)]
    assert budgets[0] == 0.0
    assert np.all(np.diff(budgets) > 0)
    assert investor.budget_usd(0.06, -1.0) == 0.0


def test_an_investor_never_deploys_more_than_its_cash():
    """Mostly invested ($1bn of cash, $200bn in stakes): 6% of its $201bn capital is $12bn,
    but it can put in only the $1bn it holds."""
    model = fixed_market()
    investor = Investor(model, thesis=0.5, cash_usd=1e9)
    investor.stakes_usd = 200e9
    assert investor.budget_usd(0.06, 1.0) == pytest.approx(1e9)
    assert investor.budget_usd(0.06, 3.0) == pytest.approx(1e9)
    investor.cash_usd = 0.0
    assert investor.budget_usd(0.06, 3.0) == 0.0


# ============================================================================ Parent
def make_parent(loss_budget_usd: float = 100e9, patience_months: float = 3) -> Parent:
    return Parent("parent", 0.12, loss_budget_usd, patience_months, target_cash_months=3)


def test_a_parent_funds_through_its_patience_then_walks_away_for_good():
    parent = make_parent(patience_months=3)
    assert [parent.review(-1e9) for _ in range(4)] == [True, True, True, False]
    assert not parent.review(+1e12)  # it does not come back
    assert parent.transfer_usd(0.0, 1e9) == 0.0


def test_a_month_above_the_hurdle_resets_the_parents_count():
    parent = make_parent(patience_months=3)
    outlook = [-1, -1, -1, +1, -1, -1, -1]
    assert all(parent.review(v * 1e9) for v in outlook)
    assert not parent.review(-1e9)


def test_a_parent_stops_when_its_loss_budget_is_spent():
    parent = make_parent(loss_budget_usd=10e9)
    parent.transferred_usd = 10e9
    assert not parent.review(+1e12)


def test_a_parent_tops_its_unit_up_to_its_target_cash_within_its_loss_budget():
    """Target 3 months of $100m costs: a unit holding $50m gets $250m, one holding $400m
    nothing; with $100m of loss budget left it gets at most $100m."""
    parent = make_parent(loss_budget_usd=10e9)
    assert parent.transfer_usd(50e6, 100e6) == pytest.approx(250e6)
    assert parent.transfer_usd(400e6, 100e6) == 0.0
    parent.transferred_usd = 10e9 - 100e6
    assert parent.transfer_usd(-2e9, 100e6) == pytest.approx(100e6)


def test_a_parents_transfer_reaches_its_unit_and_counts_against_its_budget():
    model = fixed_market()
    giant = player(model, "integrated_giant")
    giant.cash_usd = 0.0
    amount = giant.parent.transfer_usd(giant.cash_usd, giant.costs_usd_per_month())
    assert amount == pytest.approx(3 * giant.strategy.opex_usd_per_month)
    giant.receive_parent_transfer(amount)
    assert giant.cash_usd == pytest.approx(amount)
    assert giant.parent.transferred_usd == pytest.approx(amount)
    assert giant.parent.transfer_usd(giant.cash_usd, giant.costs_usd_per_month()) == 0.0


def test_the_presets_are_the_strategies_these_tests_play():
    """The numbers above are worked from these presets; a changed preset should fail here first."""
    lab, giant, open_builder = (PRESETS[a] for a in ARCHETYPES)
    assert (lab.markup, giant.markup, open_builder.markup) == (3.0, 1.5, 0.4)
    assert (lab.scale_growth_per_run, giant.scale_growth_per_run) == (2.2, 2.0)
    assert open_builder.scale_growth_per_run == 1.6
    assert (lab.training_share, lab.training_months, lab.raise_runway_months) == (1.2, 6, 24.0)
    assert (lab.opex_usd_per_month, giant.owned_gpus_h100e, giant.owned_energy_mw) == (
        250e6,
        400_000,
        300.0,
    )
    assert lab.pricing == giant.pricing == open_builder.pricing == "nash"

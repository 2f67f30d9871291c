"""Bertrand–Nash prices under the nested logit: the first-order conditions hold, a lone firm
prices above its competitive price, and a premium erodes as the rival reaches parity."""

import numpy as np
import pytest
from aiecosim.markets.choice import NestedLogit
from aiecosim.markets.pricing import BertrandNashPricer, DemandSample, first_order_residual


def sample(delta, alpha, nest, lambdas=(1.0, 1.0, 1.0), outside=0.0, elasticity=0.0):
    delta = np.atleast_2d(np.asarray(delta, dtype=float))
    rows = delta.shape[0]
    return DemandSample(
        choice=NestedLogit(np.asarray(nest), np.asarray(lambdas, dtype=float)),
        delta=delta,
        alpha=np.broadcast_to(np.asarray(alpha, dtype=float), (rows,)).copy(),
        weight=np.full(rows, 1.0 / rows),
        outside=np.full(rows, outside),
        reference_price_usd_per_mtok=1.0,
        elasticity=elasticity,
        max_usage_multiple=1e9,
    )


def nash(demand, cost, owner, priced=None, start=None):
    k = len(cost)
    priced = np.ones(k, bool) if priced is None else priced
    start = np.asarray(cost, float) * 1.5 if start is None else start
    return BertrandNashPricer(iterations=500, tolerance=1e-13).solve(
        demand, start, np.asarray(cost, float), np.asarray(owner), priced
    )


def test_symmetric_duopoly_under_a_plain_logit_meets_the_textbook_markup():
    alpha, cost = 2.0, 1.0
    demand = sample([[3.0, 3.0]], alpha, [0, 1])
    price = nash(demand, [cost, cost], [0, 1])
    u = 3.0 - alpha * price
    share = np.exp(u[0]) / (1 + np.exp(u).sum())
    # single-product logit firm: p - c = 1 / (alpha * (1 - s))
    assert price[0] == pytest.approx(price[1], rel=1e-9)
    assert price[0] - cost == pytest.approx(1 / (alpha * (1 - share)), rel=1e-8)
    residual = first_order_residual(demand, price, np.array([cost, cost]), np.array([0, 1]))
    assert np.abs(residual).max() < 1e-6


def test_first_order_conditions_hold_with_nests_heterogeneous_buyers_and_multi_product_firms():
    rng = np.random.default_rng(3)
    rows = 400
    # offers: firm 0 closed API; firm 1 ecosystem; firms 2 and 3 open weights, API and
    # self-hosted (whose price the firm does not set: a fixed margin, its support fee)
    nest = np.array([0, 1, 2, 2, 2, 2])
    owner = np.array([0, 1, 2, 2, 3, 3])
    priced = np.array([True, True, True, False, True, False])
    delta = rng.normal([9.0, 8.5, 8.0, 8.2, 7.9, 8.1], 0.7, size=(rows, 6))
    alpha = rng.lognormal(0.0, 0.6, size=rows)
    demand = sample(delta, alpha, nest, lambdas=(0.6, 0.6, 0.35), outside=7.0, elasticity=0.5)
    cost = np.array([1.0, 0.8, 0.4, 0.0, 0.45, 0.0])
    start = np.array([2.0, 2.0, 1.0, 0.6, 1.0, 0.6])
    cost[[3, 5]] = start[[3, 5]] * 0.85  # the firm keeps 15% of self-hosting spend
    price = nash(demand, cost, owner, priced, start)
    residual = first_order_residual(demand, price, cost, owner)
    scale = demand.demand(price)
    assert (np.abs(residual[priced]) < 1e-5 * scale[priced].max()).all()
    assert (price[priced] > cost[priced]).all()
    assert (price[~priced] == start[~priced]).all()


def test_a_lone_firm_prices_above_its_competitive_price():
    alpha, cost = 1.5, 1.0
    monopoly = nash(sample([[4.0]], alpha, [0]), [cost], [0])[0]
    duopoly = nash(sample([[4.0, 4.0]], alpha, [0, 1]), [cost, cost], [0, 1])[0]
    assert monopoly > duopoly > cost
    # the competitive price is marginal cost; the lone firm's markup is not small
    assert monopoly - cost > 1 / alpha


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_a_premium_erodes_as_the_rival_reaches_parity(lam):
    rng = np.random.default_rng(5)
    alpha = rng.lognormal(0.0, 0.5, size=300)
    premiums = []
    for rival_value in (6.0, 7.5, 9.0):
        delta = np.column_stack([np.full(300, 9.0), np.full(300, rival_value)])
        demand = sample(delta, alpha, [0, 0], lambdas=(lam, 1.0, 1.0), outside=5.0)
        price = nash(demand, [1.0, 1.0], [0, 1])
        premiums.append(price[0] - price[1])
    assert premiums[0] > premiums[1] > premiums[2]
    assert abs(premiums[2]) < 1e-6  # at parity, no premium


def test_closer_substitutes_in_a_nest_compete_harder():
    alpha = 1.0
    prices = []
    for lam in (1.0, 0.6, 0.3):
        demand = sample([[5.0, 5.0, 5.0]], alpha, [2, 2, 2], lambdas=(1, 1, lam), outside=3.0)
        prices.append(nash(demand, [1.0] * 3, [0, 1, 2])[0])
    assert prices[0] > prices[1] > prices[2] > 1.0


def test_few_iterations_from_a_warm_start_track_the_equilibrium():
    rng = np.random.default_rng(2)
    delta = rng.normal([8.0, 7.5, 7.0], 0.5, size=(256, 3))
    demand = sample(delta, rng.lognormal(0, 0.5, 256), [0, 1, 2], outside=6.0)
    cost = np.array([1.0, 0.9, 0.5])
    owner = np.arange(3)
    equilibrium = nash(demand, cost, owner)
    warm = BertrandNashPricer(iterations=3).solve(
        demand, equilibrium * 1.05, cost, owner, np.ones(3, bool)
    )
    assert np.abs(warm - equilibrium).max() < 0.02 * equilibrium.max()

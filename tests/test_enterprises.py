"""The enterprise decision: logit choice, switching costs, peer influence, churn."""

import numpy as np
import pytest
from aiecosim.agents.enterprises import NONE, EnterprisePopulation, Offers
from aiecosim.config import EnterpriseConfig
from conftest import FixedPeers

N = 20_000


def offers(price=(1.0, 1.0), capability=(70.0, 70.0), lock_in=(0.0, 0.0)):
    k = len(price)
    return Offers(
        provider=np.arange(k),
        self_hosted=np.zeros(k, bool),
        capability=np.array(capability, float),
        price_usd_per_mtok=np.array(price, float),
        privacy=np.zeros(k),
        specialised=np.zeros((k, 10), bool),
        lock_in=np.array(lock_in, float),
    )


def population(seed=0, **cfg):
    return EnterprisePopulation(N, EnterpriseConfig(**cfg), np.random.default_rng(seed))


def adopt_all(pop, provider):
    pop.provider[:] = provider
    pop.months_with_provider[:] = 24


def switch_rate(switching_cost, seed=1):
    pop = population(switching_cost=switching_cost, reconsider_share_per_month=1.0)
    adopt_all(pop, 0)
    out = pop.decide(
        offers(), 2, FixedPeers([0.0, 0.0], adopting=1.0), 1e6, np.random.default_rng(seed)
    )
    return out.switched / out.adopters


def test_higher_switching_costs_lower_monthly_switching():
    rates = [switch_rate(c) for c in (0.0, 1.0, 3.0)]
    assert rates[0] > rates[1] > rates[2]
    assert 0.4 < rates[0] < 0.6  # two identical offers, no cost: a coin flip


def test_provider_lock_in_adds_to_the_switching_cost():
    def rate(lock):
        pop = population(switching_cost=0.5, reconsider_share_per_month=1.0)
        adopt_all(pop, 0)
        out = pop.decide(
            offers(lock_in=(lock, 0.0)), 2, FixedPeers([0.0, 0.0]), 1e6, np.random.default_rng(2)
        )
        return out.switched / out.adopters

    assert rate(2.0) < rate(0.0)


def test_stronger_peer_influence_raises_adoption_of_the_neighbours_provider():
    def share_choosing_neighbours_provider(b_peer):
        pop = population(b_peer=b_peer, bass_p=1.0)  # every non-adopter considers adopting
        peers = FixedPeers([0.8, 0.0], adopting=0.8)  # neighbours use provider 0
        pop.decide(offers(), 2, peers, 1e6, np.random.default_rng(3))
        chose = pop.provider[pop.provider != NONE]
        return np.mean(chose == 0)

    weak, strong = share_choosing_neighbours_provider(0.0), share_choosing_neighbours_provider(3.0)
    assert 0.45 < weak < 0.55 and strong > weak + 0.2


def test_peer_adoption_raises_the_hazard_of_trying_ai():
    def adopted(adopting_share):
        pop = population(bass_p=0.01, bass_q=0.2)
        pop.decide(
            offers(), 2, FixedPeers([0, 0], adopting=adopting_share), 1e6, np.random.default_rng(4)
        )
        return pop.adopted.mean()

    assert adopted(0.9) > 2 * adopted(0.0)


def test_cheaper_and_better_offers_win_more_customers():
    pop = population(bass_p=1.0)
    pop.decide(offers(price=(0.5, 5.0)), 2, FixedPeers([0, 0]), 1e6, np.random.default_rng(5))
    assert np.mean(pop.provider[pop.adopted] == 0) > 0.6
    pop = population(bass_p=1.0)
    pop.decide(
        offers(capability=(90.0, 40.0)), 2, FixedPeers([0, 0]), 1e6, np.random.default_rng(5)
    )
    assert np.mean(pop.provider[pop.adopted] == 0) > 0.6


def test_adopters_with_a_negative_return_churn_after_their_patience():
    pop = population(patience_months=3, reconsider_share_per_month=0.0, bass_p=0.0, bass_q=0.0)
    adopt_all(pop, 0)
    pop.value_usd_per_mtok[:] = 1.0  # a price far above the value: every month loses money
    expensive = offers(price=(50.0, 50.0))
    churned = [
        pop.decide(expensive, 2, FixedPeers([0, 0]), 1e6, np.random.default_rng(m)).churned
        for m in range(5)
    ]
    assert churned[:3] == [0, 0, 0] and churned[3] == N
    assert not pop.adopted.any()


def test_adopters_with_a_positive_return_stay():
    pop = population(
        patience_months=3, reconsider_share_per_month=0.0, bass_p=0.0, integration_cost_median=0.0
    )
    adopt_all(pop, 0)
    pop.value_usd_per_mtok[:] = 100.0
    pop.need[:] = 60.0  # work a model of capability 70 does well
    pop.hard_weight[:] = 0.0
    for m in range(6):
        out = pop.decide(
            offers(price=(0.5, 0.5)), 2, FixedPeers([0, 0]), 1e6, np.random.default_rng(m)
        )
        assert out.churned == 0
    assert pop.adopted.all()


def test_choice_is_numerically_safe_at_extreme_utilities():
    pop = population(b_value=1e6, b_price=1e6, bass_p=1.0)
    out = pop.decide(
        offers(price=(1e-12, 1e12), capability=(100.0, 1e-9)),
        2,
        FixedPeers([0, 0]),
        1e6,
        np.random.default_rng(6),
    )
    assert np.isfinite(pop.monthly_return_usd).all()
    assert out.customers_by_offer[1] == 0


def test_rationed_compute_cuts_every_customer_by_the_same_share():
    pop = population(bass_p=1.0)
    full = pop.decide(
        offers(),
        2,
        FixedPeers([0, 0]),
        1e6,
        np.random.default_rng(7),
        serve=lambda wanted: np.ones_like(wanted),
    )
    pop2 = population(bass_p=1.0)
    half = pop2.decide(
        offers(),
        2,
        FixedPeers([0, 0]),
        1e6,
        np.random.default_rng(7),
        serve=lambda wanted: np.full_like(wanted, 0.5),
    )
    assert half.mtok_by_offer.sum() == pytest.approx(0.5 * full.mtok_by_offer.sum())

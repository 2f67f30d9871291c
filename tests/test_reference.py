"""The benchmark's per-agent reference makes the array version's decision.

`aiecosim bench` compares the enterprises' monthly decision as one array computation
(`EnterprisePopulation.shoppers` / `.decide`, agents/enterprises.py, with the nested logit of
aiecosim.markets.choice) with the same decision written as a plain Mesa model, one agent per
cohort deciding in a Python loop (`PerAgentWorld`, experiments/bench.py). The ratio means
something only if the two decide alike, so on a small world (150 cohorts, six firms, one of
them gone, customers on API and self-hosted offers, neighbours, lock-in and sector
specialisms):

- every cohort's utilities and choice probabilities agree. The array version computes its
  utilities in float32 by design, so the two agree to float32 precision (utilities to 1e-5 of
  their size, probabilities to 1e-5); fed the reference's own float64 utilities, the array's
  nested logit gives the reference's probabilities to 1e-12;
- from the same random numbers they pick the same shoppers and make the same choices, month
  after month, everyone deciding on last month's state;
- the terms an earlier reference got wrong count alike: leaving costs the switching cost plus
  the lock-in of the offer one leaves (not of the one one joins), a specialism in one's sector
  raises an offer's share, and customers whose provider has gone all choose again.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiecosim.agents.enterprises import EnterprisePopulation, Offers
from aiecosim.config import load_config
from aiecosim.experiments.bench import PerAgentWorld
from aiecosim.markets.choice import NestedLogit
from aiecosim.markets.network import AdoptionNetwork

N_COHORTS = 150
N_FIRMS = 6  # firm 4 has exited: it makes no offer, its former customers are orphans
GONE = 4
ECOSYSTEM_LOCK_IN = 3.0


class Peers:
    """What the array decision reads of the network (the `peer_shares` of `shoppers`)."""

    def __init__(self, network: AdoptionNetwork, provider: np.ndarray):
        self.network, self.provider = network, provider

    def adopting(self, rows):
        return self.network.adopting_neighbour_share(self.provider, rows)

    def by_provider(self, rows):
        return self.network.neighbour_shares(self.provider, N_FIRMS, rows)


def make_offers(lock_in=None, specialised=None) -> Offers:
    """Seven offers in nest order: two closed APIs (firms 0, 5), an integrated giant's
    ecosystem (firm 1) with a strong lock-in and three specialist sectors, and two open-weights
    builders (firms 2, 3) by API and self-hosted, firm 3 specialised in two sectors."""
    n_sectors = 10
    spec = np.zeros((7, n_sectors), dtype=bool)
    spec[0, 7] = True
    spec[2, [0, 1, 2]] = True
    spec[5:7, [5, 6]] = True
    return Offers(
        provider=np.array([0, 5, 1, 2, 2, 3, 3]),
        self_hosted=np.array([False, False, False, False, True, False, True]),
        capability=np.array([82.0, 68.0, 76.0, 63.0, 63.0, 58.0, 58.0]),
        price_usd_per_mtok=np.array([9.0, 4.0, 6.5, 1.8, 1.1, 1.2, 0.8]),
        privacy=np.array([0.0, 0.0, 0.0, 0.3, 1.0, 0.3, 1.0]),
        specialised=spec if specialised is None else specialised,
        lock_in=np.array([0.3, 0.3, ECOSYSTEM_LOCK_IN, 0.0, 0.0, 0.0, 0.0])
        if lock_in is None
        else lock_in,
        nest=np.array([0, 0, 1, 2, 2, 2, 2]),
    )


def make_world(scenario: str, overrides=(), seed: int = 11):
    """A population with current providers (API and self-hosted, some orphaned), a
    small-world network and the seven offers."""
    cfg = load_config(scenario, overrides=["enterprises.b_specialisation=1.5", *overrides])
    rng = np.random.default_rng(seed)
    pop = EnterprisePopulation(N_COHORTS, cfg.enterprises, rng)
    network = AdoptionNetwork(N_COHORTS, "small_world", 8, rng)
    pop.provider[:] = rng.choice([-1, -1, 0, 1, 1, 2, 3, GONE, 5], size=N_COHORTS)
    pop.self_hosted[:] = np.isin(pop.provider, [2, 3]) & (rng.random(N_COHORTS) < 0.5)
    return pop, network, make_offers()


def array_utilities(pop, network, offers):
    rows = np.arange(pop.n)
    current = pop.current_offer(offers, N_FIRMS)
    peers = Peers(network, pop.provider).by_provider(rows)
    return pop.utilities(rows, offers, current, peers), pop.outside_utility(rows, offers, current)


def reference(pop, network, offers, seed: int = 0) -> PerAgentWorld:
    return PerAgentWorld(pop, network.adjacency, offers, rng=seed)


@pytest.mark.parametrize("scenario", ["baseline", "lock-in"])
def test_the_reference_has_the_arrays_utilities_and_choice_probabilities(scenario):
    pop, network, offers = make_world(scenario)
    u, u0 = array_utilities(pop, network, offers)
    p, _, p0 = pop.choice_model(offers).parts(u, u0)
    world = reference(pop, network, offers)
    ref_u = np.array([c.utilities()[0] for c in world.cohorts])
    ref_u0 = np.array([c.utilities()[1] for c in world.cohorts])
    ref_p = np.array([c.probabilities()[0] for c in world.cohorts])
    ref_p0 = np.array([c.probabilities()[1] for c in world.cohorts])
    # the world has every kind of cohort: customers of the locked-in ecosystem, of
    # self-hosted open weights, orphans, non-adopters, and cohorts in a specialist sector
    current = pop.current_offer(offers, N_FIRMS)
    assert (current == 2).sum() >= 10 and (pop.self_hosted & (current >= 0)).sum() >= 5
    assert ((pop.provider == GONE) & (current < 0)).sum() >= 10 and (pop.provider < 0).sum() >= 20
    assert np.isin(pop.sector, [0, 1, 2, 5, 6, 7]).sum() >= 50
    assert np.allclose(ref_u, u, rtol=1e-5, atol=1e-5) and np.allclose(ref_u0, u0, atol=1e-12)
    assert np.abs(ref_p - p).max() < 1e-5 and np.abs(ref_p0 - p0).max() < 1e-5
    # the choice is not degenerate: no AI, every nest and staying put all have weight
    assert 0.05 < ref_p0.mean() < 0.95 and (ref_p.mean(axis=0) > 1e-3).all()


def test_given_the_same_utilities_the_nested_logit_is_the_same_to_1e_12():
    pop, network, offers = make_world("lock-in")
    world = reference(pop, network, offers)
    u = np.array([c.utilities()[0] for c in world.cohorts])
    u0 = np.array([c.utilities()[1] for c in world.cohorts])
    p, _, p0 = NestedLogit(offers.nest, pop.lambdas).parts(u, u0)
    assert np.abs(np.array([c.probabilities()[0] for c in world.cohorts]) - p).max() < 1e-12
    assert np.abs(np.array([c.probabilities()[1] for c in world.cohorts]) - p0).max() < 1e-12


@pytest.mark.parametrize("scenario", ["baseline", "lock-in"])
def test_from_the_same_random_numbers_the_same_shoppers_and_the_same_choices(scenario):
    """Six months: each month the array population and the per-agent world draw from
    generators in the same state; who shops and what each picks is identical, though
    neighbours' choices feed the next month's peers and adoption hazard."""
    overrides = ["enterprises.reconsider_share_per_month=0.3", "enterprises.bass_p=0.2"]
    pop, network, offers = make_world(scenario, overrides)
    world = reference(pop, network, offers, seed=5)
    peers = Peers(network, pop.provider)
    rng = np.random.default_rng(5)
    chose = moved = 0
    for _ in range(6):
        before = pop.provider.copy()
        state = rng.bit_generator.state
        shopping = pop.shoppers(offers, N_FIRMS, peers, rng)
        rng.bit_generator.state = state  # decide draws the shoppers again, the same ones
        pop.decide(offers, N_FIRMS, peers, 1e6, rng)
        world.step()
        assert np.array_equal(shopping.rows, [i for i, c in enumerate(world.cohorts) if c.shopping])
        assert np.array_equal(pop.provider, [c.provider for c in world.cohorts])
        assert np.array_equal(pop.self_hosted, [c.self_hosted for c in world.cohorts])
        chose += len(shopping.rows)
        moved += int((pop.provider != before).sum())
    assert chose > 200 and moved > 50  # many choices, many of them moves


def test_customers_of_a_provider_that_has_gone_all_choose_again():
    """Nobody reconsiders by chance here, yet every customer of the exited firm chooses (as
    in the array version); the customers of live firms stay."""
    pop, network, offers = make_world("baseline", ["enterprises.reconsider_share_per_month=0"])
    world = reference(pop, network, offers, seed=3)
    before = [c.provider for c in world.cohorts]
    world.step()
    orphans = [c for c, p in zip(world.cohorts, before, strict=True) if p == GONE]
    assert len(orphans) >= 10 and all(c.shopping for c in orphans)
    assert all(c.provider != GONE for c in world.cohorts)
    stayers = [c for c, p in zip(world.cohorts, before, strict=True) if p not in (GONE, -1)]
    assert all(c.provider == p for c, p in zip(world.cohorts, before, strict=True) if c in stayers)


def test_leaving_costs_the_lock_in_of_the_offer_one_leaves_and_specialisms_raise_shares():
    """Raising the ecosystem's lock-in keeps its customers (they pay it to leave) and changes
    nothing for anyone else (joining it costs only the switching cost); making an offer
    specialised in every sector raises its share. Both versions move by the same amounts."""
    pop, network, offers = make_world("lock-in")
    current = pop.current_offer(offers, N_FIRMS)
    locked = make_offers(lock_in=np.array([0.3, 0.3, 3 * ECOSYSTEM_LOCK_IN, 0, 0, 0, 0]))
    everywhere = offers.specialised.copy()
    everywhere[1] = True  # firm 5's closed API, specialised in every sector
    special = make_offers(specialised=everywhere)

    def both(o):
        u, u0 = array_utilities(pop, network, o)
        p, _, _ = pop.choice_model(o).parts(u, u0)
        world = reference(pop, network, o)
        return p, np.array([c.probabilities()[0] for c in world.cohorts])

    p, ref_p = both(offers)
    p_locked, ref_locked = both(locked)
    p_special, ref_special = both(special)
    customers, others = current == 2, current != 2
    for base, more in ((p, p_locked), (ref_p, ref_locked)):
        gain = more[customers, 2] - base[customers, 2]  # they stay
        assert (gain > -1e-5).all() and gain.mean() > 0.05
        assert np.allclose(more[others], base[others], atol=1e-5)  # joining costs the same
    for base, more in ((p, p_special), (ref_p, ref_special)):
        assert (more[:, 1] > base[:, 1]).all()
    assert np.abs(ref_locked - p_locked).max() < 1e-5
    assert np.abs(ref_special - p_special).max() < 1e-5

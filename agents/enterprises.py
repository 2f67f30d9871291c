"""Enterprises: thousands of AI buyers as one struct of arrays.

Each simulated enterprise is a cohort of real organisations. Cohorts fall in three size classes
(small, medium, large); every cohort of a class carries the same share of the class's
organisations and of its token demand, and each class holds a fixed share of the world's
organisations and demand (`size_class_*` in the config). So money, tokens and customer shares
come out in real-world units, and do not move with the enterprise count beyond sampling noise.

Tasks differ. A cohort's work mixes modest tasks (need around `need_median`) with a share h_i of
hard ones (need Pareto-distributed from `hard_need_min`: heavy-tailed; each token worth
M = `hard_value_multiple` times more). Large organisations have more hard work: h_i is drawn
around the class's `hard_task_shares`. What an offer's capability is worth, in units of the
cohort's base value per token, adds up the two kinds of work,

    V_ik = (1 - h_i) * v(capability_k, need_i) + h_i * M * v(capability_k, hard_need_i),
    v(c, n) = 1 - exp(-(c / n) ** kappa)                   (saturating: past good enough, more
                                                           capability adds little; short of the
                                                           need, value falls steeply)

so frontier capability is worth most to those with the most hard work.

The monthly decision of all enterprises is one array computation:

1. Trying AI at all (Bass-like hazard): a non-adopter considers adopting with probability
   p + q * (share of its network neighbours that use AI).
2. Choosing (nested logit, `aiecosim.markets.choice`): a considering non-adopter, an adopter
   reconsidering (a share each month) and a customer whose provider exited choose between no AI
   (utility `outside_utility`) and the month's offers, grouped in nests (closed API, integrated
   ecosystem, open weights), with utility

     u_ik = b_v * V_ik - b_p * price_k / value_i + b_priv * privacy_i * private_k
            + b_spec * [sector_i in specialism_k] + b_peer * peers_i(provider_k) + a_nest(k)
            - (switching_cost + lock_in(current provider)) * [k != current_i]

   Leaving for no AI is a switch like any other. The draw uses one uniform per row.
3. Capacity: a provider serves only what its compute allows. When this month's choices would
   need more than its capacity, newcomers are turned away (they keep what they had) until it
   fits; what is still too much is rationed pro rata (unserved tokens).
4. Usage: tokens_i = demand_i(t) * (price_paid / p_ref) ** (-elasticity)          Mtok/month
5. Realised return: tokens_i * (value_i * v_i * ramp(months_i) - price_paid) - F_i   USD/month,
   ramp(m) = 1 - exp(-m / ramp_months): integrating AI takes time before it pays; F_i is the
   monthly cost of running AI in the business (people, integration, oversight), a lognormal
   multiple c_i of its base demand times its value per token.
6. Churn: an adopter whose return has been negative for more than `patience` months in a row
   goes back to using no AI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mesa
import numpy as np
from aiecosim.markets.choice import NestedLogit
from aiecosim.markets.pricing import DemandSample

if TYPE_CHECKING:
    from aiecosim.config import EnterpriseConfig
    from aiecosim.markets.network import AdoptionNetwork

NONE = -1  # provider index of an enterprise that uses no AI
# Privacy sensitivity (0..1): Beta(2, 5) across enterprises (mean 0.29: most care a little, a
# few a lot), plus 0.4 in regulated sectors (mean 0.68 there), clipped to 1. A modelling
# choice, not a measured distribution: with `b_privacy` = 1.5 a private offer is worth about
# 1.0 utility to the average regulated enterprise and 0.4 to the average other one.
PRIVACY_BETA_A = 2
PRIVACY_BETA_B = 5
REGULATED_PRIVACY_BOOST = 0.4
# One sector in three is regulated (finance, health, government: the first third of the sector
# indices, at least one).
REGULATED_SECTORS_ONE_IN = 3
# Concentration (a + b) of the Beta draw of a cohort's hard-work share around its size class's
# mean: 4 spreads cohorts widely (a class mean of 0.35 gives a standard deviation of about 0.21).
HARD_SHARE_CONCENTRATION = 4
SIZE_CLASSES: tuple[str, ...] = ("small", "medium", "large")


@dataclass(frozen=True)
class Offers:
    """The month's offers, one entry per (provider, delivery) pair, sorted by nest."""

    provider: np.ndarray  # int: firm index of the model's builder
    self_hosted: np.ndarray  # bool: open weights run on rented compute by the enterprise
    capability: np.ndarray  # index 0..cap_max
    price_usd_per_mtok: np.ndarray  # what the enterprise pays per Mtok (token price or compute)
    privacy: np.ndarray  # 0..1: 1 = data never leaves the enterprise
    specialised: np.ndarray  # bool (offers x sectors)
    lock_in: np.ndarray  # switching cost customers of this offer face when leaving
    nest: np.ndarray = field(
        default=None
    )  # int index into aiecosim.markets.choice.NESTS; None: all 0
    # Mtok a month the provider can serve on this offer (inf: no limit of its own)
    capacity_mtok: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.nest is None:
            object.__setattr__(self, "nest", np.zeros(len(self.provider), dtype=np.int64))
        if self.capacity_mtok is None:
            object.__setattr__(self, "capacity_mtok", np.full(len(self.provider), np.inf))

    def __len__(self) -> int:
        return len(self.provider)


@dataclass(frozen=True)
class Shoppers:
    """The enterprises that choose this month (`rows`) and what the offers are worth to them
    before price: prices are set against them, then they choose."""

    rows: np.ndarray  # enterprise indices
    current: np.ndarray  # every enterprise's current offer index, NONE for none
    orphaned: np.ndarray  # bool, every enterprise: its provider exited or stopped offering
    delta: np.ndarray  # rows x offers, utility before price (float32)
    outside: np.ndarray  # rows, utility of no AI (-inf: not an option)


@dataclass(frozen=True)
class MonthOutcome:
    """What the enterprises did this month (arrays over offers, counts over the population)."""

    mtok_by_offer: np.ndarray
    spend_usd_by_offer: np.ndarray
    customers_by_offer: np.ndarray  # cohorts
    organisations_by_offer: np.ndarray  # share of the world's organisations
    spend_usd_by_class: np.ndarray  # size classes x offers
    organisations_by_class: np.ndarray  # size classes x offers, share of the class
    adopters: int
    positive_return: int
    switched: int
    churned: int  # back to no AI: a run of negative returns, or a choice on reconsidering
    new_adopters: int
    reconsidered: int
    turned_away: int  # cohorts that chose an offer whose provider had no capacity for them
    unserved_mtok: float  # wanted but not served by the provider's own capacity
    requested_mtok_by_offer: np.ndarray  # wanted, those turned away included: demand seen
    adoption_by_class: np.ndarray  # share of each class's organisations using AI (0: empty)


class Peers:
    """The network's influence on the choice (`AdoptionNetwork`): for rows of the population,
    the share of their neighbours that use AI (`adopting`: the adoption hazard), and that use
    each provider (`by_provider`, rows x firms: the peer term of the utility). The whole
    population's adopting share is computed once a month: prices and the decision both read it
    before anyone's provider changes."""

    def __init__(self, network: AdoptionNetwork, provider: np.ndarray, n_firms: int):
        self.network, self.provider, self.n_firms = network, provider, n_firms
        self._adopting_all = None

    def adopting(self, rows):
        if self._adopting_all is None:
            self._adopting_all = self.network.adopting_neighbour_share(self.provider, None)
        return self._adopting_all if rows is None else self._adopting_all[rows]

    def by_provider(self, rows):
        return self.network.neighbour_shares(self.provider, self.n_firms, rows)


def potential_demand_mtok(cfg: EnterpriseConfig, month: int) -> float:
    """The world's token demand if every organisation used AI at the reference price, in
    `month`: potential * (1 + growth) ** (month / 12), Mtok per month. Read from the config
    each month, so that a change to the world's demand during a run reaches it."""
    return cfg.potential_demand_mtok_per_month * (1 + cfg.demand_growth_per_year) ** (month / 12)


def _class_counts(n: int, shares) -> np.ndarray:
    """Cohorts per size class: largest remainders, so the counts sum to n."""
    shares = np.asarray(shares, dtype=float)
    raw = shares / shares.sum() * n
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


class EnterprisePopulation:
    """All enterprises' state as arrays; index i is enterprise i."""

    def __init__(self, n: int, cfg: EnterpriseConfig, rng: np.random.Generator):
        self.n = n
        self.cfg = cfg
        self.sector = rng.integers(0, cfg.n_sectors, size=n)
        # Size classes in fixed proportions (shuffled, so a class is not a block of the network);
        # a class's organisations and demand are shared equally among its cohorts.
        counts = _class_counts(n, cfg.size_class_cohort_shares)
        self.size_class = rng.permutation(np.repeat(np.arange(len(SIZE_CLASSES)), counts))
        present = counts > 0
        org = np.where(present, cfg.size_class_organisation_shares, 0.0)
        demand = np.where(present, cfg.size_class_demand_shares, 0.0)
        per_cohort = np.divide(1.0, counts, out=np.zeros(len(counts)), where=present)
        self.organisations = (org / org.sum() * per_cohort)[self.size_class]
        self.demand_weight = (demand / demand.sum() * per_cohort)[self.size_class]
        self.class_organisations = np.bincount(
            self.size_class, weights=self.organisations, minlength=len(SIZE_CLASSES)
        )
        # Hard work: more of it in larger organisations (a Beta draw around the class's
        # share); its need is heavy-tailed (Pareto) and a token of it is worth more.
        mean_hard = np.clip(np.asarray(cfg.hard_task_shares)[self.size_class], 1e-6, 1 - 1e-6)
        self.hard_share = rng.beta(
            HARD_SHARE_CONCENTRATION * mean_hard, HARD_SHARE_CONCENTRATION * (1 - mean_hard)
        )
        self.need = np.clip(cfg.need_median * rng.lognormal(0.0, cfg.need_sigma, size=n), 1, None)
        self.hard_need = cfg.hard_need_min * (1.0 + rng.pareto(cfg.hard_need_tail, size=n))
        # value_i: a token of its modest work is worth this (USD/Mtok); hard work M times more
        self.value_usd_per_mtok = cfg.value_usd_per_mtok_median * rng.lognormal(
            0.0, cfg.value_sigma, size=n
        )
        self.modest_weight = 1 - self.hard_share
        self.hard_weight = self.hard_share * cfg.hard_value_multiple
        # Regulated sectors (the first third) care more about keeping data in-house.
        regulated = self.sector < max(1, cfg.n_sectors // REGULATED_SECTORS_ONE_IN)
        self.privacy_sensitivity = np.clip(
            rng.beta(PRIVACY_BETA_A, PRIVACY_BETA_B, size=n) + REGULATED_PRIVACY_BOOST * regulated,
            0,
            1,
        )
        self.integration_cost = cfg.integration_cost_median * rng.lognormal(
            0.0, cfg.integration_cost_sigma, size=n
        )
        # Constants of the monthly computation, computed once.
        # the choice's per-enterprise coefficients; utilities are float32 (half the memory
        # traffic of the rows x offers arrays, ample precision for choice probabilities)
        self._kappa_log_need32 = (cfg.kappa * np.log(self.need)).astype(np.float32)
        self._kappa_log_hard_need32 = (cfg.kappa * np.log(self.hard_need)).astype(np.float32)
        self._modest_weight32 = self.modest_weight.astype(np.float32)
        self._hard_weight32 = self.hard_weight.astype(np.float32)
        self.price_coefficient = cfg.b_price / self.value_usd_per_mtok  # utils per USD/Mtok
        self._b_price_over_value32 = self.price_coefficient.astype(np.float32)
        self._b_privacy32 = (cfg.b_privacy * self.privacy_sensitivity).astype(np.float32)
        self._running_cost_per_mtok = (
            self.integration_cost * self.demand_weight * self.value_usd_per_mtok
        )
        self._ramp = 1.0 - np.exp(-np.arange(601) / cfg.ramp_months)  # by months with provider
        self.lambdas = np.array(
            [cfg.nest_lambda_closed_api, cfg.nest_lambda_ecosystem, cfg.nest_lambda_open_weights]
        )
        self.provider = np.full(n, NONE, dtype=np.int64)  # firm index, or NONE
        self.self_hosted = np.zeros(n, dtype=bool)
        self.months_with_provider = np.zeros(n, dtype=np.int64)
        self.negative_months = np.zeros(n, dtype=np.int64)
        self.monthly_return_usd = np.zeros(n)
        self.mtok = np.zeros(n)
        self._value = np.zeros(n)  # V_i of the current offer ...
        self._value_capability = np.zeros(n)  # ... at this capability (0: no offer, V = 0)
        self._kappa_log_memo = None  # (capability array, its `_kappa_log`)

    # ------------------------------------------------------------------ helpers
    @property
    def adopted(self) -> np.ndarray:
        return self.provider != NONE

    def current_offer(self, offers: Offers, n_firms: int) -> np.ndarray:
        """Index of each enterprise's current offer, NONE when it has none (or it vanished)."""
        # key = 2 * firm + self_hosted; firm NONE (-1) lands on the spare last entries
        lookup = np.full(2 * (n_firms + 1), NONE, dtype=np.int64)
        lookup[2 * offers.provider + offers.self_hosted] = np.arange(len(offers))
        return lookup[2 * self.provider + self.self_hosted]

    def choice_model(self, offers: Offers) -> NestedLogit:
        """The nested logit over these offers' nests (kept while the nests are the same: prices,
        the decision and the surplus read the month's offers, and most months' menus fall in
        the same nests as last month's)."""
        cached = getattr(self, "_choice", None)
        if cached is None or not (
            cached[0] is offers.nest or np.array_equal(cached[0], offers.nest)
        ):
            self._choice = (offers.nest, NestedLogit(offers.nest, self.lambdas))
        return self._choice[1]

    def utilities(
        self,
        rows: np.ndarray,
        offers: Offers,
        current: np.ndarray,
        peer_share: np.ndarray,
        with_price: bool = True,
    ) -> np.ndarray:
        """Utility of each offer (columns) for the enterprises in `rows`, switching cost included
        (float32); without the price term when `with_price` is false (what prices are set
        against)."""
        c = self.cfg
        # saturating value of capability: b_v * V_ik, modest and hard work added up, i.e.
        # b_v * (weights' sum - modest * exp(-(c/n)^k) - hard * exp(-(c/n_hard)^k)); each power
        # taken as exp(kappa * (ln c - ln need))
        f32 = np.float32
        minus_log_cap = -self._kappa_log(offers.capability)
        modest = self._modest_weight32[rows]
        hard = self._hard_weight32[rows]
        u = self._shortfall(self._kappa_log_need32[rows], minus_log_cap)  # exp(-(c/n)^k)
        u *= modest[:, None]
        u += hard[:, None] * self._shortfall(self._kappa_log_hard_need32[rows], minus_log_cap)
        u -= (modest + hard)[:, None]
        u *= f32(-c.b_value)
        # price against what a million tokens is worth to this enterprise
        if with_price:
            price = offers.price_usd_per_mtok.astype(f32)
            u -= np.multiply.outer(self._b_price_over_value32[rows], price)
        if offers.privacy.any():
            u += np.multiply.outer(self._b_privacy32[rows], offers.privacy.astype(f32))
        if offers.specialised.any():
            # b_spec * [sector_i in specialism_k]: the sectors x offers term, row by sector
            by_sector = f32(c.b_specialisation) * offers.specialised.T
            u += by_sector[self.sector[rows]]
        if c.b_peer:
            u += (f32(c.b_peer) * peer_share.astype(f32))[:, offers.provider]
        u += np.asarray(c.nest_utility, dtype=f32)[offers.nest]
        # every offer but the current one costs the switch (plus the current provider's lock-in)
        has = np.flatnonzero(current >= 0)
        if len(has):
            cost = (c.switching_cost + offers.lock_in[current[has]]).astype(f32)
            u[has] -= cost[:, None]
            u[has, current[has]] += cost
        return u

    def _kappa_log(self, capability: np.ndarray) -> np.ndarray:
        """kappa * ln(capability), float32; -inf for a capability of 0 (value 0). Kept for the
        last capability array asked: the shoppers and the surplus read the same month's."""
        memo = self._kappa_log_memo
        if memo is None or memo[0] is not capability:
            with np.errstate(divide="ignore"):
                logs = (self.cfg.kappa * np.log(np.maximum(capability, 0.0))).astype(np.float32)
            memo = self._kappa_log_memo = (capability, logs)
        return memo[1]

    @staticmethod
    def _shortfall(kappa_log_need: np.ndarray, minus_kappa_log_cap: np.ndarray) -> np.ndarray:
        """exp(-(c / n) ** kappa) for rows (needs) x columns (capabilities): 1 - value."""
        x = np.subtract.outer(-kappa_log_need, minus_kappa_log_cap)
        np.exp(x, out=x)
        np.negative(x, out=x)
        return np.exp(x, out=x)

    def _delivered_value(self, capability: np.ndarray) -> np.ndarray:
        """V_i of every enterprise's own offer; recomputed only for the rows whose offer's
        capability changed since last month (a switch, a release), the rest kept."""
        stale = np.flatnonzero(capability != self._value_capability)
        if len(stale):
            self._value[stale] = self.value_of(capability[stale], stale)
            self._value_capability[stale] = capability[stale]
        return self._value

    def value_of(self, capability: np.ndarray, rows) -> np.ndarray:
        """V_i for each row's own offer of `capability`: value delivered per token, in units of
        the row's base value per token (float64, 0..1 - h + h * M)."""
        k = self.cfg.kappa
        c = np.maximum(capability, 0.0)
        modest = -np.expm1(-((c / self.need[rows]) ** k))
        hard = -np.expm1(-((c / self.hard_need[rows]) ** k))
        return self.modest_weight[rows] * modest + self.hard_weight[rows] * hard

    def outside_utility(self, rows: np.ndarray, offers: Offers, current: np.ndarray):
        """Utility of no AI for `rows`: `outside_utility`, less the cost of leaving (switching
        cost plus the provider's lock-in) for those who have a provider now."""
        c = self.cfg
        u0 = np.full(len(rows), c.outside_utility)
        has = current >= 0
        u0[has] -= c.switching_cost + offers.lock_in[current[has]]
        return u0

    # ------------------------------------------------------------------ the month
    def shoppers(
        self,
        offers: Offers,
        n_firms: int,
        peer_shares: Peers,  # the network's influence: adopting(rows), by_provider(rows)
        rng: np.random.Generator,
        initial: bool = False,
    ) -> Shoppers:
        """Who chooses this month, and what every offer is worth to them before its price."""
        c = self.cfg
        n = self.n
        current = self.current_offer(offers, n_firms)
        orphaned = self.adopted & (current == NONE)  # provider exited or stopped offering
        # One uniform draw each: non-adopters compare it with their hazard of trying AI,
        # adopters with the share that reconsiders (the two groups do not overlap).
        draw = rng.random(n)
        if initial:
            considering = draw < c.initial_adoption
            reconsidering = np.zeros(n, dtype=bool)
        else:
            adopted = self.adopted
            hazard = c.bass_p + c.bass_q * peer_shares.adopting(None)
            considering = ~adopted & (draw < hazard)
            reconsidering = adopted & ((draw < c.reconsider_share_per_month) | orphaned)
        rows = np.flatnonzero(considering | reconsidering)
        if len(offers) and len(rows):
            here = current[rows]
            delta = self.utilities(
                rows, offers, here, peer_shares.by_provider(rows), with_price=False
            )
            # Those who use AI at the start did choose it: no AI is not on their menu.
            outside = (
                np.full(len(rows), -np.inf) if initial else self.outside_utility(rows, offers, here)
            )
        else:
            delta = np.zeros((len(rows), len(offers)), dtype=np.float32)
            outside = np.zeros(len(rows))
        return Shoppers(rows, current, orphaned, delta, outside)

    def demand_sample(
        self,
        offers: Offers,
        shopping: Shoppers,
        demand_mtok_per_month: float,
        size: int,
        rng: np.random.Generator,
    ) -> DemandSample:
        """The demand a price setter reads (`aiecosim.markets.pricing`): the enterprises
        shopping this month, each weighted by its demand (Mtok per month at the reference
        price); above `size` of them, that many drawn (systematically, from one uniform) in
        proportion to their demand, each then standing for an equal share of it."""
        c = self.cfg
        rows, delta = shopping.rows, shopping.delta
        weight = self.demand_weight[rows]
        if len(rows) > size:
            points = (rng.random() + np.arange(size)) / size
            pick = np.searchsorted(np.cumsum(weight) / weight.sum(), points)
            pick = np.minimum(pick, len(rows) - 1)
            rows, delta = rows[pick], delta[pick]
            weight = np.full(size, weight.sum() / size)
        # (no AI stays an option here even for those who must adopt at the start)
        current = shopping.current[rows]
        return DemandSample(
            choice=self.choice_model(offers),
            delta=delta,
            alpha=self.price_coefficient[rows].astype(np.float32),
            weight=(weight * demand_mtok_per_month).astype(np.float32),
            outside=self.outside_utility(rows, offers, current).astype(np.float32),
            reference_price_usd_per_mtok=c.reference_price_usd_per_mtok,
            elasticity=c.price_elasticity,
            max_usage_multiple=c.max_usage_multiple,
        )

    def decide(
        self,
        offers: Offers,
        n_firms: int,
        peer_shares: Peers,  # the network's influence: adopting(rows), by_provider(rows)
        demand_mtok_per_month: float,
        rng: np.random.Generator,
        initial: bool = False,
        serve=None,  # callable(mtok_by_offer) -> share of it the compute market can serve
        shopping: Shoppers | None = None,  # who shops (drawn now when not given)
    ) -> MonthOutcome:
        if shopping is None:
            shopping = self.shoppers(offers, n_firms, peer_shares, rng, initial)
        rows, current, orphaned = shopping.rows, shopping.current.copy(), shopping.orphaned
        switched = new_adopters = turned_away = left = 0
        k = len(offers)
        usage_k = self._usage(offers)
        base_mtok = demand_mtok_per_month * self.demand_weight
        if k and len(rows):
            price = offers.price_usd_per_mtok.astype(np.float32)
            u = shopping.delta - np.multiply.outer(self._b_price_over_value32[rows], price)
            choice = self.choice_model(offers).draw(u, shopping.outside, rng.random(len(rows)))
            new_current = np.where(choice < k, choice, NONE)
            old_current = current[rows].copy()
            current[rows] = new_current
        # Offer index per enterprise with "no AI" as an extra slot K (price, capability and
        # usage 0): every quantity below is a gather, no masking.
        idx = np.where(current >= 0, current, k)
        mtok = base_mtok * usage_k[idx]
        wanted = np.bincount(idx, weights=mtok, minlength=k + 1)[:k]
        requested = wanted
        if k and len(rows):
            changed = (new_current != old_current) | orphaned[rows]
            joining = changed & (new_current >= 0)
            # Providers without the capacity for everyone who chose them turn newcomers away.
            over = wanted > offers.capacity_mtok
            if over.any() and joining.any():
                refused = self._turn_away(offers, rows, new_current, joining, mtok, wanted, rng)
                if refused.any():
                    # those turned away keep what they had (an orphan has nothing to keep)
                    turned_away = int(refused.sum())
                    back = rows[refused]
                    new_current[refused] = np.where(orphaned[back], NONE, old_current[refused])
                    wanted = (
                        wanted - np.bincount(idx[back], weights=mtok[back], minlength=k + 1)[:k]
                    )
                    current[back] = new_current[refused]
                    idx[back] = np.where(current[back] >= 0, current[back], k)
                    mtok[back] = base_mtok[back] * usage_k[idx[back]]
                    wanted = (
                        wanted + np.bincount(idx[back], weights=mtok[back], minlength=k + 1)[:k]
                    )
                    changed = (new_current != old_current) | orphaned[rows]
                    # the provider a refused switcher stays with sees its demand too
                    requested = np.maximum(requested, wanted)
            chose_offer = new_current >= 0
            picked = np.where(chose_offer, new_current, 0)
            new_provider = np.where(chose_offer, offers.provider[picked], NONE)
            new_self = np.where(chose_offer, offers.self_hosted[picked], False)
            old_provider = self.provider[rows]
            was_adopter = old_provider != NONE
            # a switch is a new provider (not the same firm's other delivery)
            to_rival = chose_offer & (new_provider != old_provider)
            switched = int((to_rival & was_adopter & ~orphaned[rows]).sum())
            new_adopters = int((~was_adopter & chose_offer).sum())
            left = int((changed & was_adopter & ~chose_offer).sum())  # back to no AI
            moved = rows[changed]
            self.provider[moved] = new_provider[changed]
            self.self_hosted[moved] = new_self[changed]
            self.months_with_provider[moved] = 0
            self.negative_months[moved] = 0
        if not k:  # nothing on offer at all: nobody can use AI this month
            self.provider[:] = NONE
            self.self_hosted[:] = False
        return self._use_and_churn(
            offers,
            current,
            (idx, mtok, wanted, requested),
            demand_mtok_per_month,
            (switched, new_adopters, len(rows), turned_away, left),
            serve,
        )

    def _usage(self, offers: Offers) -> np.ndarray:
        """Tokens used per unit of base demand on each offer, with "no AI" as a last slot (0)."""
        c = self.cfg
        multiple = (
            np.maximum(offers.price_usd_per_mtok, 1e-9) / c.reference_price_usd_per_mtok
        ) ** -c.price_elasticity
        return np.append(np.minimum(multiple, c.max_usage_multiple), 0.0)

    def _turn_away(self, offers, rows, new_current, joining, mtok, wanted, rng):
        """Which of the rows joining an offer its provider cannot serve. A provider whose
        customers, old and new, want more than its capacity takes newcomers in a random order
        (first come, first served) while its capacity lasts and turns the rest away; the last
        one taken may be served in part."""
        k = len(offers)
        refused = np.zeros(len(rows), dtype=bool)
        over = wanted > offers.capacity_mtok
        at = np.flatnonzero(joining & over[np.maximum(new_current, 0)])
        if not len(at):
            return refused
        target = new_current[at]
        demand = mtok[rows[at]]
        # newcomers of each offer in a random order: sort by offer, then by a random key
        order = np.lexsort((rng.random(len(at)), target))
        target, demand, at = target[order], demand[order], at[order]
        cumulative = np.cumsum(demand)
        first = np.concatenate(([True], target[1:] != target[:-1]))
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(at)), 0))
        before = cumulative - demand - (cumulative[group_start] - demand[group_start])
        existing = wanted - np.bincount(target, weights=demand, minlength=k)
        refused[at] = existing[target] + before >= offers.capacity_mtok[target]
        return refused

    def _use_and_churn(
        self, offers, current, usage, demand_mtok_per_month, counts, serve
    ) -> MonthOutcome:
        c = self.cfg
        switched, new_adopters, reconsidered, turned_away, left = counts
        idx, mtok, wanted, requested = usage
        n_offers = len(offers)
        adopted = current >= 0
        price_k = np.append(offers.price_usd_per_mtok, 0.0)
        # What a provider's own capacity cannot serve is cut pro rata among its customers ...
        own = np.minimum(
            1.0, np.divide(offers.capacity_mtok, wanted, out=np.ones(n_offers), where=wanted > 0)
        )
        unserved = float((wanted * (1 - own)).sum())
        if unserved > 0:
            mtok *= np.append(own, 0.0)[idx]
            wanted = np.minimum(wanted, offers.capacity_mtok)
        if serve is not None and n_offers:
            # ... and when the compute market is short, every offer is cut by the same share.
            mtok *= np.append(np.asarray(serve(wanted), dtype=float), 0.0)[idx]
        self.months_with_provider += adopted
        value = self._delivered_value(np.append(offers.capability, 0.0)[idx])
        ramp = self._ramp[np.minimum(self.months_with_provider, len(self._ramp) - 1)]
        price = price_k[idx]
        running_cost = (demand_mtok_per_month * self._running_cost_per_mtok) * adopted
        self.monthly_return_usd = (
            mtok * (self.value_usd_per_mtok * value * ramp - price) - running_cost
        )
        negative = self.monthly_return_usd < 0  # non-adopters have exactly 0
        self.negative_months = np.where(negative, self.negative_months + 1, 0)
        churn = negative & (self.negative_months > c.patience_months)
        adopters = int(adopted.sum())
        positive = int((self.monthly_return_usd > 0).sum())
        slots = n_offers + 1
        mtok_by_offer = np.bincount(idx, weights=mtok, minlength=slots)[:n_offers]
        spend_by_offer = mtok_by_offer * offers.price_usd_per_mtok
        # by size class and offer in one pass each; the totals by offer are their sums
        n_classes = len(SIZE_CLASSES)
        by_class = self.size_class * slots + idx
        bins = n_classes * slots
        spend_by_class = np.bincount(by_class, weights=mtok * price, minlength=bins).reshape(
            n_classes, slots
        )[:, :n_offers]
        org_by_class = np.bincount(by_class, weights=self.organisations, minlength=bins).reshape(
            n_classes, slots
        )
        customers = np.bincount(idx, minlength=slots)[:n_offers]
        organisations = org_by_class.sum(axis=0)[:n_offers]
        class_total = np.where(self.class_organisations > 0, self.class_organisations, 1.0)
        org_by_class = org_by_class / class_total[:, None]
        self.mtok = mtok
        # Churners leave after this month's usage (they paid for it).
        if churn.any():
            self.provider[churn] = NONE
            self.self_hosted[churn] = False
            self.months_with_provider[churn] = 0
            self.negative_months[churn] = 0
        return MonthOutcome(
            mtok_by_offer,
            spend_by_offer,
            customers,
            organisations,
            spend_by_class,
            org_by_class[:, :n_offers],
            adopters,
            positive,
            switched,
            int(churn.sum()) + left,
            new_adopters,
            reconsidered,
            turned_away,
            unserved,
            requested,
            np.where(self.class_organisations > 0, 1.0 - org_by_class[:, n_offers], 0.0),
        )


class Enterprise(mesa.Agent):
    """One enterprise cohort, a view onto row `index` of the shared arrays (Mesa's agent API for
    inspection and visualisation; the monthly decision runs on the whole population at once).
    Created only on request, by `AIEcosystemModel.enterprise_agents()`."""

    def __init__(self, model: mesa.Model, population: EnterprisePopulation, index: int):
        super().__init__(model)
        self.population = population
        self.index = index

    @property
    def sector(self) -> int:
        return int(self.population.sector[self.index])

    @property
    def provider(self) -> int:
        return int(self.population.provider[self.index])

    @property
    def self_hosted(self) -> bool:
        return bool(self.population.self_hosted[self.index])

    @property
    def need(self) -> float:
        return float(self.population.need[self.index])

    @property
    def monthly_return_usd(self) -> float:
        return float(self.population.monthly_return_usd[self.index])

"""Enterprises: thousands of AI buyers as one struct of arrays.

Each simulated enterprise is a cohort of real organisations: its token demand is its share of the
world's demand, so money and tokens come out in real-world units whatever the enterprise count.
The monthly decision of all enterprises is one array computation:

1. Trying AI at all (Bass-like hazard): a non-adopter considers adopting with probability
   p + q * (share of its network neighbours that use AI).
2. Choosing an offer (logit): a considering non-adopter, an adopter reconsidering (a share each
   month) and a customer whose provider exited choose among the month's offers with utility

     u_ik = b_v * v_ik - b_p * price_k / value_i + b_priv * privacy_i * private_k
            + b_spec * [sector_i in specialism_k] + b_peer * peers_i(provider_k)
            - (switching_cost + lock_in(current provider)) * [k != current_i]
     v_ik = 1 - exp(-kappa * capability_k / need_i)        (saturating: past good enough,
                                                             more capability adds little)

   Non-adopters also have a "none" option (utility b_none = the utility of a free, useless
   offer, i.e. 0 with b_v*0). Probabilities are a log-sum-exp softmax; one uniform draw per row.
3. Usage: tokens_i = demand_i(t) * (price_paid / p_ref) ** (-elasticity)          Mtok/month
4. Realised return: tokens_i * (value_i * v_i * ramp(months_i) - price_paid) - F_i   USD/month,
   ramp(m) = 1 - exp(-m / ramp_months): integrating AI takes time before it pays; F_i is the
   monthly cost of running AI in the business (people, integration, oversight), a lognormal
   multiple c_i of its base demand times its value per token.
5. Churn: an adopter whose return has been negative for more than `patience` months in a row
   goes back to using no AI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from aiecosim.config import EnterpriseConfig

NONE = -1


@dataclass(frozen=True)
class Offers:
    """The month's offers, one entry per (provider, delivery) pair."""

    provider: np.ndarray  # int: firm index of the model's builder
    self_hosted: np.ndarray  # bool: open weights run on rented compute by the enterprise
    capability: np.ndarray  # index 0..cap_max
    price_usd_per_mtok: np.ndarray  # what the enterprise pays per Mtok (token price or compute)
    privacy: np.ndarray  # 0..1: 1 = data never leaves the enterprise
    specialised: np.ndarray  # bool (offers x sectors)
    lock_in: np.ndarray  # switching cost customers of this offer face when leaving

    def __len__(self) -> int:
        return len(self.provider)


@dataclass(frozen=True)
class MonthOutcome:
    """What the enterprises did this month (arrays over offers, counts over the population)."""

    mtok_by_offer: np.ndarray
    spend_usd_by_offer: np.ndarray
    customers_by_offer: np.ndarray
    adopters: int
    positive_return: int
    switched: int
    churned: int
    new_adopters: int
    reconsidered: int


class EnterprisePopulation:
    """All enterprises' state as arrays; index i is enterprise i."""

    def __init__(self, n: int, cfg: EnterpriseConfig, rng: np.random.Generator):
        self.n = n
        self.cfg = cfg
        self.sector = rng.integers(0, cfg.n_sectors, size=n)
        size = rng.lognormal(0.0, 1.5, size=n)  # firm sizes are heavy-tailed
        self.demand_weight = size / size.sum()
        self.value_usd_per_mtok = cfg.value_usd_per_mtok_median * rng.lognormal(
            0.0, cfg.value_sigma, size=n
        )
        self.need = np.clip(cfg.need_median * rng.lognormal(0.0, cfg.need_sigma, size=n), 1, None)
        # Regulated sectors (the first third) care more about keeping data in-house.
        regulated = self.sector < max(1, cfg.n_sectors // 3)
        self.privacy_sensitivity = np.clip(rng.beta(2, 5, size=n) + 0.4 * regulated, 0, 1)
        self.integration_cost = cfg.integration_cost_median * rng.lognormal(
            0.0, cfg.integration_cost_sigma, size=n
        )
        # Constants of the monthly computation, computed once.
        self._kappa_over_need = cfg.kappa / self.need
        # the choice's per-enterprise coefficients; utilities are float32 (half the memory
        # traffic of the rows x offers arrays, ample precision for choice probabilities)
        self._kappa_over_need32 = self._kappa_over_need.astype(np.float32)
        self._b_price_over_value32 = (cfg.b_price / self.value_usd_per_mtok).astype(np.float32)
        self._b_privacy32 = (cfg.b_privacy * self.privacy_sensitivity).astype(np.float32)
        self._running_cost_per_mtok = (
            self.integration_cost * self.demand_weight * self.value_usd_per_mtok
        )
        self._ramp = 1.0 - np.exp(-np.arange(601) / cfg.ramp_months)  # by months with provider
        self.provider = np.full(n, NONE, dtype=np.int64)  # firm index, or NONE
        self.self_hosted = np.zeros(n, dtype=bool)
        self.months_with_provider = np.zeros(n, dtype=np.int64)
        self.negative_months = np.zeros(n, dtype=np.int64)
        self.monthly_return_usd = np.zeros(n)
        self.mtok = np.zeros(n)
        self.price_paid = np.zeros(n)

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

    def utilities(
        self, rows: np.ndarray, offers: Offers, current: np.ndarray, peer_share: np.ndarray
    ) -> np.ndarray:
        """Utility of each offer (columns) for the enterprises in `rows`, switching cost included."""
        c = self.cfg
        # saturating value of capability: b_v * (1 - exp(-kappa * capability / need))
        f32 = np.float32
        u = np.multiply.outer(self._kappa_over_need32[rows], -offers.capability.astype(f32))
        np.exp(u, out=u)
        u *= f32(-c.b_value)
        u += f32(c.b_value)
        # price against what a million tokens is worth to this enterprise
        price = offers.price_usd_per_mtok.astype(f32)
        u -= np.multiply.outer(self._b_price_over_value32[rows], price)
        if offers.privacy.any():
            u += np.multiply.outer(self._b_privacy32[rows], offers.privacy.astype(f32))
        if offers.specialised.any():
            u += f32(c.b_specialisation) * offers.specialised[:, self.sector[rows]].T
        if c.b_peer:
            u += (f32(c.b_peer) * peer_share.astype(f32))[:, offers.provider]
        # every offer but the current one costs the switch (plus the current provider's lock-in)
        has = np.flatnonzero(current >= 0)
        if len(has):
            cost = (c.switching_cost + offers.lock_in[current[has]]).astype(f32)
            u[has] -= cost[:, None]
            u[has, current[has]] += cost
        return u

    # ------------------------------------------------------------------ the month
    def decide(
        self,
        offers: Offers,
        n_firms: int,
        peer_shares,  # callable(rows) -> (len(rows) x n_firms) neighbour shares by provider
        demand_mtok_per_month: float,
        rng: np.random.Generator,
        initial: bool = False,
        serve=None,  # callable(mtok_by_offer) -> share of it the compute market can serve
    ) -> MonthOutcome:
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
        switched = new_adopters = 0
        if len(offers) and len(rows):
            shares = peer_shares.by_provider(rows)
            u = self.utilities(rows, offers, current[rows], shares)
            # Non-adopters may stay out: the outside option is worth what a free offer of
            # capability 0 is (utility 0). Adopters choose among offers.
            outside = np.where(self.adopted[rows], -np.inf, 0.0)
            u = np.concatenate([u, outside[:, None]], axis=1)
            # Logit draw, safe at extreme utilities (log-sum-exp: subtract each row's maximum
            # before exponentiating), by inverting the cumulative weights with one uniform.
            u -= u.max(axis=1, keepdims=True)
            np.exp(u, out=u)
            np.cumsum(u, axis=1, out=u)
            choice = (u < rng.random(len(rows))[:, None] * u[:, -1:]).sum(axis=1)
            choice = np.minimum(choice, len(offers))  # rounding at the top end
            chose_offer = choice < len(offers)
            picked = np.where(chose_offer, choice, 0)
            new_provider = np.where(chose_offer, offers.provider[picked], NONE)
            new_self = np.where(chose_offer, offers.self_hosted[picked], False)
            old_provider = self.provider[rows]
            changed = (new_provider != old_provider) | (new_self != self.self_hosted[rows])
            was_adopter = old_provider != NONE
            switched = int((changed & was_adopter & ~orphaned[rows]).sum())
            new_adopters = int((~was_adopter & chose_offer).sum())
            moved = rows[changed]
            self.provider[moved] = new_provider[changed]
            self.self_hosted[moved] = new_self[changed]
            self.months_with_provider[moved] = 0
            self.negative_months[moved] = 0
            current[rows] = np.where(chose_offer, choice, NONE)
        if not len(offers):  # nothing on offer at all: nobody can use AI this month
            self.provider[:] = NONE
            self.self_hosted[:] = False
        return self._use_and_churn(
            offers, current, demand_mtok_per_month, switched, new_adopters, len(rows), serve
        )

    def _use_and_churn(
        self, offers, current, demand_mtok_per_month, switched, new_adopters, reconsidered, serve
    ) -> MonthOutcome:
        c = self.cfg
        n_offers = len(offers)
        # Offer index per enterprise with "no AI" as an extra slot K (price, capability and
        # usage 0): every quantity below is a gather, no masking.
        adopted = current >= 0
        idx = np.where(adopted, current, n_offers)
        price_k = np.append(offers.price_usd_per_mtok, 0.0)
        usage_k = np.append(
            np.minimum(
                (np.maximum(offers.price_usd_per_mtok, 1e-9) / c.reference_price_usd_per_mtok)
                ** -c.price_elasticity,
                c.max_usage_multiple,
            ),
            0.0,
        )
        base_mtok = demand_mtok_per_month * self.demand_weight
        mtok = base_mtok * usage_k[idx]
        if serve is not None and n_offers:
            # When compute is short, every enterprise on a rationed offer gets the same share.
            wanted = np.bincount(idx, weights=mtok, minlength=n_offers + 1)[:n_offers]
            mtok *= np.append(np.asarray(serve(wanted), dtype=float), 0.0)[idx]
        self.months_with_provider += adopted
        value = 1.0 - np.exp(-np.append(offers.capability, 0.0)[idx] * self._kappa_over_need)
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
        mtok_by_offer = np.bincount(idx, weights=mtok, minlength=n_offers + 1)[:n_offers]
        spend_by_offer = mtok_by_offer * offers.price_usd_per_mtok
        customers = np.bincount(idx, minlength=n_offers + 1)[:n_offers]
        self.mtok = mtok
        self.price_paid = price
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
            adopters,
            positive,
            switched,
            int(churn.sum()),
            new_adopters,
            reconsidered,
        )


class Enterprise(mesa.Agent):
    """One enterprise cohort, a view onto row `index` of the shared arrays (Mesa's agent API for
    inspection and visualisation; the monthly decision runs on the whole population at once)."""

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

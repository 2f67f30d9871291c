"""Model builders: one class, many strategies.

A `ModelBuilder` trains models over several months with compute it buys (or owns), releases them,
spends on efficiency R&D, prices tokens by its strategy's rule (by default toward its best
response to its rivals' prices), serves what its compute allows, pays for the inference compute
its customers use, raises money from investors (or, for an incumbent giant, its parent) and
exits when it runs out of cash and nobody funds it. What it spends on, how it prices and whether
its weights are open all come from its frozen `Strategy`.

Every payment goes through the model's ledger (`aiecosim.ledger`): enterprises pay it for
tokens and support, it pays the cloud sector for rented compute, the energy exchange and fuel
for its own fleet's power, staff and suppliers for operations and R&D, chip makers for its
data centres. Its books per month: revenue, costs (cash, capex included), capex, depreciation;
profit = revenue - (costs - capex) - depreciation, free cash flow = revenue - costs.

Its methods return what it did (the GPU-hours it rented, the model it released) and the model
adds the month's totals up. The module's functions act on all builders at once: the month's
menu (`publish_offers`), the posting of prices (`marginal_costs`, `post_prices`) and an
entrant's strategy (`entrant_strategy`: imitation with mutation, or a fresh draw).

Money in USD per month; compute in FLOP (training) and H100-equivalent GPU-hours (rental);
inference in millions of tokens (Mtok).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np
from aiecosim.agents.enterprises import Offers
from aiecosim.agents.parents import Parent
from aiecosim.agents.strategy import Strategy
from aiecosim.markets.choice import NESTS
from aiecosim.markets.energy import HOURS_PER_MONTH
from aiecosim.markets.valuation import trailing_growth

if TYPE_CHECKING:
    from aiecosim.config import BuildersConfig
    from aiecosim.model import AIEcosystemModel

ROUND_MONTHS = 6  # a round that has not filled in half a year closes
# Its own fleet trains first, but with at most half of its hours: the rest stays free to serve
# its customers' tokens and to rent out (a modelling choice: a giant does not starve its own
# API to train).
OWN_FLEET_TRAINING_SHARE = 0.5
# A fleet standing at the start is booked as if half depreciated: its chips are mid-life on
# average.
START_BOOK_VALUE_SHARE = 0.5
# An entrant's first run aims at no less than a quarter of the median run of the incumbents of
# its kind now: it enters to compete with them, on a fraction of their resources.
ENTRANT_FLOP_SHARE_OF_MEDIAN = 0.25
# Incumbents' starting models differ in size around their preset's FLOP: a lognormal factor
# with this sigma (about -33% to +49% for one standard deviation).
INCUMBENT_FLOP_SIGMA = 0.4


@dataclass(frozen=True)
class ReleasedModel:
    capability: float  # index 0..cap_max
    training_flop: float
    open_weights: bool
    release_month: int
    training_cost_usd: float = 0.0  # what the run cost: market hours at their price, own at energy


@dataclass(frozen=True)
class TrainingMonth:
    """What a month of training did: the GPU-hours rented from the cloud, and the model
    released when the run completed (None while it goes on)."""

    market_gpu_hours: float
    released: ReleasedModel | None = None


@dataclass
class TrainingRun:
    flop: float
    months_needed: int
    gpu_hours_total: float
    progress_months: float = 0.0
    spend_usd: float = 0.0

    @property
    def gpu_hours_per_month(self) -> float:
        return self.gpu_hours_total / self.months_needed


def book_rounds(builders: list[ModelBuilder], invested_usd: np.ndarray) -> None:
    """The books of the month's rounds, which the investors have paid for
    (`Ledger.pay_many`): what each investor put into each of `builders` (investors x
    builders, USD, >= 0) adds to the builder's funding and paid-in capital and comes off what
    is left of its round, never below 0, investor after investor:

        funding += a_1 + a_2 + ...         left = max(0, left - a_1 - a_2 - ...)

    The running sums are added left to right (`np.add.accumulate`), as `+=` after `+=`; what
    is left only falls, so clipping once at the end is clipping at every step."""
    amounts = np.asarray(invested_usd, dtype=float).T  # builders x investors
    n_builders, n_investors = amounts.shape
    rows = np.empty((3, n_builders, 1 + n_investors))
    rows[:, :, 0] = [
        [b.funding_usd for b in builders],
        [b.paid_in_usd for b in builders],
        [b.round_left_usd for b in builders],
    ]
    rows[:2, :, 1:] = amounts
    rows[2, :, 1:] = -amounts
    funding, paid_in, left = np.add.accumulate(rows, axis=2)[:, :, -1].tolist()
    for b, funded, paid, still in zip(builders, funding, paid_in, left, strict=True):
        b.funding_usd, b.paid_in_usd, b.round_left_usd = funded, paid, max(0.0, still)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class ModelBuilder(mesa.Agent):
    """A company that builds and sells AI models, following one `Strategy`."""

    def __init__(
        self,
        model: AIEcosystemModel,
        strategy: Strategy,
        name: str,
        cash_usd: float,
        entrant: bool = False,
    ):
        super().__init__(model)
        self.strategy = strategy
        self.name = name
        self.archetype = strategy.archetype
        self.firm_id = 0  # set by the model: index into its firm arrays
        self.cash_usd = cash_usd
        self.paid_in_usd = cash_usd  # equity put in: its founding cash, rounds, transfers
        self.entrant = entrant  # entered during the run (an incumbent was there at the start)
        self.round_left_usd = 0.0  # what its open funding round still seeks
        self.round_opened_month = 0
        self.parent = None  # an incumbent giant's parent company (aiecosim.agents.parents)
        self.released: list[ReleasedModel] = []
        self.training: TrainingRun | None = None
        self.last_training_flop = strategy.initial_model_flop
        self.serving_efficiency = strategy.initial_serving_efficiency
        self.rd_cumulative_usd = 0.0  # efficiency R&D spent so far
        self.rd_released_usd = 0.0  # of it, what its last open release made public
        # API tokens a month its serving compute is lined up for (set once it has a model)
        self.serving_capacity_mtok_per_month = 0.0
        self.owned_gpus_h100e = strategy.owned_gpus_h100e
        self.fleet_book_usd = (
            START_BOOK_VALUE_SHARE
            * strategy.owned_gpus_h100e
            * model.cfg.compute.capex_usd_per_h100e
        )
        self.owned_energy_mw = strategy.owned_energy_mw
        self.dc_build_gpus_h100e_per_month = strategy.dc_build_gpus_h100e_per_month
        self.price_usd_per_mtok = 0.0
        self.customers = 0
        self.alive = True
        self.entry_month = model.month
        self.exit_month: int | None = None
        self.api_mtok = 0.0
        self.last_inference_gpu_hours = 0.0  # last month's, to price its own fleet's share
        self._own_training_hours = 0.0
        self._market_training_request = 0.0
        self.open_books()
        self.revenue_history: list[float] = []
        self.model_revenue_history: list[float] = []  # AI models only: what rivals can imitate
        self.cost_history: list[float] = []
        self.variable_cost_history: list[float] = []  # compute its customers' tokens used
        self.expected_value_usd = 0.0  # its outlook at its funder's discount rate (valuation)
        self.valuation_usd = 0.0  # what a round would price it at (investors' mark)
        self.cum_profit_usd = 0.0
        self.written_off_usd = 0.0  # unpaid bills creditors absorbed when it failed

    @classmethod
    def incumbent(cls, model: AIEcosystemModel, strategy: Strategy, name: str) -> ModelBuilder:
        """A firm present at the start: its preset's cash, fleet and plants, a model released
        at month 0 (the preset's FLOP times a lognormal factor: firms differ in size; open
        weights with the distillation multiplier) and, for an integrated giant, the parent that
        funds its AI unit."""
        builder = cls(model, strategy, name, float(strategy.initial_cash_usd))
        if strategy.archetype == "integrated_giant":
            builder.parent = Parent.from_config(name, model.cfg.parents)
        flop = strategy.initial_model_flop * float(model.rng.lognormal(0.0, INCUMBENT_FLOP_SIGMA))
        capability = model.capability_law.capability(flop, 0, builder.distillation_multiplier)
        builder.released.append(ReleasedModel(capability, flop, strategy.open_weights, 0))
        builder.last_training_flop = flop
        return builder

    @classmethod
    def entrant(
        cls,
        model: AIEcosystemModel,
        strategy: Strategy,
        name: str,
        peer_training_flop: list[float],
    ) -> ModelBuilder:
        """A newcomer: `builders.entrant_cash_share` of an incumbent's assets (cash, fleet,
        plants, build-out), no model yet and no parent. Its first run aims at the preset's
        initial FLOP, or `ENTRANT_FLOP_SHARE_OF_MEDIAN` of the median last run of the alive
        firms of its kind (`peer_training_flop`) if that is more."""
        share = model.cfg.builders.entrant_cash_share
        builder = cls(model, strategy, name, strategy.initial_cash_usd * share, entrant=True)
        builder.owned_gpus_h100e *= share
        builder.owned_energy_mw *= share
        builder.dc_build_gpus_h100e_per_month *= share
        scale = strategy.initial_model_flop
        if peer_training_flop:
            median = float(np.median(peer_training_flop))
            scale = max(scale, ENTRANT_FLOP_SHARE_OF_MEDIAN * median)
        builder.last_training_flop = scale / strategy.scale_growth_per_run
        return builder

    # ------------------------------------------------------------------ what it offers
    @property
    def best_model(self) -> ReleasedModel | None:
        return self.released[-1] if self.released else None

    @property
    def capability(self) -> float:
        return self.best_model.capability if self.released else 0.0

    @property
    def open_weights(self) -> bool:
        return self.strategy.open_weights

    @property
    def distillation_multiplier(self) -> float:
        """Effective-compute multiplier of its training runs (open weights distil from the
        frontier's outputs)."""
        cap = self.model.cfg.capability
        return cap.open_distillation_multiplier if self.open_weights else 1.0

    # (capability law, training FLOP, serving efficiency, GPU-hours per Mtok) of the last
    # `gpu_hours_per_mtok`: asked several times a month by the offers, the prices and the
    # settlement, it changes only with a release or a gain in serving efficiency
    _gpu_hours_memo: tuple = (None, None, None, 0.0)

    def gpu_hours_per_mtok(self) -> float:
        law = self.model.capability_law
        flop, efficiency = self.best_model.training_flop, self.serving_efficiency
        memo = self._gpu_hours_memo
        if memo[0] is not law or memo[1] != flop or memo[2] != efficiency:
            memo = (law, flop, efficiency, law.gpu_hours_per_mtok(flop, efficiency))
            self._gpu_hours_memo = memo
        return memo[3]

    def own_cost_usd_per_gpu_hour(self) -> float:
        """What an hour of its own accelerators costs it: amortised hardware plus energy, the
        energy partly from its own plants; no cloud markup and no scarcity premium."""
        market = self.model.compute_market
        month = self.model.month
        life_hours = market.gpu_life_months * HOURS_PER_MONTH * market.target_utilisation
        hardware = market.capex_usd_per_h100e(month) / life_hours
        return hardware + market.power_kw_per_h100e(month) / 1000 * self.energy_price_usd_per_mwh()

    def energy_price_usd_per_mwh(self) -> float:
        """Blended price of the power for its own data centres."""
        market_price = self.model.energy_price_usd_per_mwh
        if self.owned_gpus_h100e <= 0:
            return market_price
        need_mw = (
            self.owned_gpus_h100e
            * self.model.compute_market.power_kw_per_h100e(self.model.month)
            / 1000
        )
        own_share = min(1.0, self.owned_energy_mw / need_mw) if need_mw > 0 else 1.0
        own_cost = self.strategy.owned_energy_cost_usd_per_mwh
        return own_share * own_cost + (1 - own_share) * market_price

    def unit_compute_cost_usd_per_gpu_hour(self) -> float:
        """Cost of the GPU-hours behind its tokens: its own fleet's hours at cost, and what its
        customers used beyond that last month at the market price."""
        market_price = self.model.compute_market.price_usd_per_gpu_hour
        if self.owned_gpus_h100e <= 0:
            return market_price
        own_hours = self.own_gpu_hours_left()
        wanted = self.last_inference_gpu_hours
        own_share = min(1.0, own_hours / wanted) if wanted > 0 else 1.0
        return own_share * self.own_cost_usd_per_gpu_hour() + (1 - own_share) * market_price

    def inference_cost_usd_per_mtok(self) -> float:
        return self.gpu_hours_per_mtok() * self.unit_compute_cost_usd_per_gpu_hour()

    def in_penetration(self) -> bool:
        s = self.strategy
        return s.pricing == "penetration" and self.model.month - self.entry_month < (
            s.penetration_months
        )

    def sets_price_by_best_response(self) -> bool:
        return self.strategy.pricing != "cost_plus" and not self.in_penetration()

    def set_price(
        self,
        best_response_usd_per_mtok: float | None = None,
        cost_usd_per_mtok: float | None = None,
    ) -> None:
        """Price its API tokens by its strategy's rule:

        - nash: move the share 1 - `builders.price_stickiness` of the way from last month's
          price toward its best response to the rivals' prices (`aiecosim.markets.pricing`), never
          below its marginal cost (a first price starts at the best response);
        - cost_plus: inference cost x (1 + markup);
        - penetration: inference cost x (1 - penetration_discount) for the first
          `penetration_months` after entry, to buy share below cost; then nash.
        """
        if not self.released:
            return
        s = self.strategy
        cost = (
            self.inference_cost_usd_per_mtok() if cost_usd_per_mtok is None else cost_usd_per_mtok
        )
        if s.pricing == "cost_plus" or best_response_usd_per_mtok is None:
            self.price_usd_per_mtok = cost * (1 + s.markup)
        elif self.in_penetration():
            self.price_usd_per_mtok = cost * (1 - s.penetration_discount)
        else:
            target = max(cost, best_response_usd_per_mtok)
            old = self.price_usd_per_mtok
            keep = self.model.cfg.builders.price_stickiness if old > 0 else 0.0
            self.price_usd_per_mtok = max(cost, old + (1 - keep) * (target - old))

    def offers(self, serving_limits: bool = True) -> list[dict]:
        """Its offers this month (none before its first model), each a dict of `Offers` fields
        plus the GPU-hours a Mtok of it takes: its model by API, at its price, up to its
        serving capacity (no limit with `serving_limits` off); for open weights also
        self-hosted by the enterprise, which then rents the compute (with an overhead) and pays
        the builder a support fee, a share of what it spends, instead of a price."""
        if not self.released:
            return []
        cfg = self.model.cfg
        e = cfg.enterprises
        open_weights = self.open_weights
        nest = NESTS.index(
            "open_weights"
            if open_weights
            else "ecosystem"
            if self.archetype == "integrated_giant"
            else "closed_api"
        )
        hours = self.gpu_hours_per_mtok()
        api = {
            "nest": nest,
            "provider": self.firm_id,
            "self_hosted": False,
            "capability": self.capability,
            "price_usd_per_mtok": self.price_usd_per_mtok,
            "privacy": e.open_api_privacy if open_weights else 0.0,
            "specialised": _specialised_row(self.strategy.specialised_sectors, e.n_sectors),
            "lock_in": self.strategy.lock_in_strength,
            "capacity_mtok": self.serving_capacity_mtok() if serving_limits else np.inf,
            "gpu_hours_per_mtok": hours,
        }
        if not open_weights:
            return [api]
        self_host_hours = hours * e.self_host_overhead
        compute_cost = self_host_hours * self.model.compute_market.price_usd_per_gpu_hour
        self_hosted = {
            "self_hosted": True,
            "price_usd_per_mtok": compute_cost / (1 - cfg.builders.open_support_fee_share),
            "privacy": 1.0,
            "lock_in": 0.0,
            "capacity_mtok": np.inf,
            "gpu_hours_per_mtok": self_host_hours,
        }
        return [api, api | self_hosted]

    def serving_capacity_mtok(self) -> float:
        """API tokens a month it can serve: what its serving compute (own fleet or rented)
        is lined up for, and never less than `builders.min_serving_gpu_hours_per_month` buys."""
        floor = self.model.cfg.builders.min_serving_gpu_hours_per_month / self.gpu_hours_per_mtok()
        return max(floor, self.serving_capacity_mtok_per_month)

    def line_up_serving(self, requested_mtok: float) -> None:
        """Line up next month's serving for the demand it saw (those it turned away
        included), with headroom g = `builders.serving_capacity_growth_per_month`. Deploying and
        contracting compute take time, and so do contracts to run out: capacity moves by at
        most a factor 1 + g a month, up or down (a one-month dip in demand does not cost it
        the capacity it built)."""
        grow = 1 + self.model.cfg.builders.serving_capacity_growth_per_month
        now = self.serving_capacity_mtok()
        self.serving_capacity_mtok_per_month = min(
            now * grow, max(now / grow, requested_mtok * grow)
        )

    # ------------------------------------------------------------------ training
    def improve_serving(self, open_released_rd_usd: float = 0.0) -> None:
        """Efficiency R&D (distillation, quantisation, sparsity, mixture of experts) is spending:
        `efficiency_rd_share` of its operating expenses a month, booked as a cost (none while
        it has no cash). Serving efficiency, the divisor of GPU-hours per token, is

            initial x (1 + g) ** (t / 12) x (1 + K / K0) ** elasticity

        with g the industry's shared progress, K its cumulative R&D dollars (for open-weights
        builders plus `open_rd_spillover` of the R&D other open builders have released:
        distillation from open weights), K0 = `capability.rd_reference_usd`. Each dollar buys
        less than the one before: a small builder cannot out-innovate a lab for free."""
        cfg = self.model.cfg.capability
        s = self.strategy
        spend = s.efficiency_rd_share * s.opex_usd_per_month if self.cash_usd > 0 else 0.0
        self.rd_usd = spend
        self._pay(self.model.ledger.outside["staff_and_suppliers"], spend, "efficiency R&D")
        self.rd_cumulative_usd += spend
        knowledge = self.rd_cumulative_usd
        if self.open_weights:
            knowledge += cfg.open_rd_spillover * max(
                0.0, open_released_rd_usd - self.rd_released_usd
            )
        shared = (1 + cfg.serving_efficiency_growth_per_year) ** (self.model.month / 12)
        own = (1 + knowledge / cfg.rd_reference_usd) ** cfg.rd_elasticity
        self.serving_efficiency = s.initial_serving_efficiency * shared * own

    def training_request_gpu_hours(self) -> float:
        """GPU-hours it asks the market for this month (its own fleet trains first, up to half
        of it); starts a new run when none is going."""
        if self.training is None:
            self._plan_training_run()
        # A builder short of cash pauses its run rather than borrow to train.
        if self.training is None or self.cash_usd <= 0:
            self._own_training_hours = self._market_training_request = 0.0
            return 0.0
        wanted = self.training.gpu_hours_per_month
        own_hours = self.owned_gpus_h100e * HOURS_PER_MONTH * OWN_FLEET_TRAINING_SHARE
        self._own_training_hours = min(wanted, own_hours)
        self._market_training_request = wanted - self._own_training_hours
        return self._market_training_request

    def next_run_target_flop(self) -> float:
        """FLOP of the next run: `scale_growth_per_run` times the last, but no further than
        where one more doubling would buy fewer than `builders.min_gain_per_doubling`
        capability points at release (scale that does not pay is not bought); 0 when even that
        run would not improve on its best model by the hurdle (nothing worth training)."""
        law = self.model.capability_law
        hurdle = self.model.cfg.builders.min_gain_per_doubling
        release_month = self.model.month + self.strategy.training_months
        multiplier = self.distillation_multiplier
        worthwhile = law.worthwhile_flop(hurdle, release_month, multiplier)
        target = min(self.last_training_flop * self.strategy.scale_growth_per_run, worthwhile)
        gain = law.capability(target, release_month, multiplier) - self.capability
        return target if gain >= hurdle else 0.0

    def _plan_training_run(self) -> None:
        """Aim at `next_run_target_flop`; spend at most training_share of cash
        over the whole run, its own fleet's hours priced at the
        energy they burn and the rest at the market price; skip when that buys too little."""
        s = self.strategy
        cfg = self.model.cfg
        flop_per_gpu_hour = cfg.compute.training_flop_per_gpu_hour
        target_flop = self.next_run_target_flop()
        if target_flop <= 0:
            return
        budget = max(0.0, self.cash_usd) * s.training_share
        own_hours = (
            self.owned_gpus_h100e * HOURS_PER_MONTH * OWN_FLEET_TRAINING_SHARE * s.training_months
        )
        own_cost = self._own_marginal_cost_usd_per_gpu_hour()
        market_price = self.model.compute_market.price_usd_per_gpu_hour

        def cost(flop: float) -> float:
            hours = flop / flop_per_gpu_hour
            own = min(hours, own_hours)
            return own * own_cost + (hours - own) * market_price

        if cost(target_flop) <= budget:
            flop = target_flop
        else:  # the largest run the budget buys: own hours first, then the market's
            own_budget_hours = min(own_hours, budget / own_cost if own_cost > 0 else own_hours)
            rest = budget - own_budget_hours * own_cost
            hours = own_budget_hours + (rest / market_price if market_price > 0 else 0.0)
            flop = hours * flop_per_gpu_hour
        if flop < cfg.builders.min_training_share_of_target * target_flop:
            return
        self.training = TrainingRun(flop, s.training_months, flop / flop_per_gpu_hour)

    def advance_training(self, granted_share: float) -> TrainingMonth:
        """Use the granted compute for a month; release the model when the run completes.
        Returns the GPU-hours it rented for training and the model it released, if any."""
        run = self.training
        if run is None or self._own_training_hours + self._market_training_request <= 0:
            return TrainingMonth(0.0)
        market_hours = self._market_training_request * granted_share
        own_hours = self._own_training_hours
        rented_usd = market_hours * self.model.compute_market.price_usd_per_gpu_hour
        self._pay(self.model.compute_market, rented_usd, "training compute")
        # its own fleet's hours cost the power they burn (paid with its fleet's power bill);
        # without a fleet there are none to price
        own_usd = own_hours * self._own_marginal_cost_usd_per_gpu_hour() if own_hours > 0 else 0.0
        run.spend_usd += rented_usd + own_usd
        self._own_gpu_hours_used = own_hours
        run.progress_months += (own_hours + market_hours) / run.gpu_hours_per_month
        if run.progress_months >= run.months_needed - 1e-9:
            return TrainingMonth(market_hours, self._release(run))
        return TrainingMonth(market_hours)

    def _own_marginal_cost_usd_per_gpu_hour(self) -> float:
        # Owned accelerators are already paid for (capex): running them costs the energy.
        market = self.model.compute_market
        return market.power_kw_per_h100e(self.model.month) / 1000 * self.energy_price_usd_per_mwh()

    def _release(self, run: TrainingRun) -> ReleasedModel:
        law = self.model.capability_law
        capability = law.capability(run.flop, self.model.month, self.distillation_multiplier)
        released = ReleasedModel(
            capability, run.flop, self.open_weights, self.model.month, run.spend_usd
        )
        self.released.append(released)
        self.last_training_flop = run.flop
        self.training = None
        if self.open_weights:  # what its R&D taught is now in weights anyone can distil
            self.rd_released_usd = self.rd_cumulative_usd
        return released

    def release_event(self, released: ReleasedModel) -> dict:
        """The entry for the run's event log of its release of `released`."""
        return {
            "month": released.release_month,
            "event": "release",
            "firm_id": self.firm_id,
            "name": self.name,
            "archetype": self.archetype,
            "open_weights": released.open_weights,
            "capability": released.capability,
            "training_flop": released.training_flop,
            "training_cost_usd": released.training_cost_usd,
        }

    def entry_event(self, imitated: ModelBuilder | None) -> dict:
        """The entry for the run's event log of its entry: the strategy it entered with, its
        traits, and the firm it imitated (None for a fresh draw)."""
        return {
            "month": self.entry_month,
            "event": "entry",
            "firm_id": self.firm_id,
            "name": self.name,
            "strategy": self.strategy.name,
            "imitated_firm_id": imitated.firm_id if imitated is not None else None,
            "traits": self.strategy.traits(),
        }

    def exit_event(self) -> dict:
        """The entry for the run's event log of its exit."""
        return {
            "month": self.exit_month,
            "event": "exit",
            "firm_id": self.firm_id,
            "name": self.name,
        }

    def own_gpu_hours_left(self) -> float:
        """Hours of its own fleet not used by its training this month."""
        return max(0.0, self.owned_gpus_h100e * HOURS_PER_MONTH - self._own_gpu_hours_used)

    # ------------------------------------------------------------------ the month's books
    def settle(self, api_mtok: float, api_revenue_usd: float, support_revenue_usd: float) -> float:
        """Enterprises pay for API tokens and self-hosting support; it pays the cloud for the
        inference compute beyond its own fleet, its staff and suppliers for operations and, for
        an integrated giant whose parent still funds it, chip makers for its data-centre
        build-out. Its fleet depreciates over the accelerators' life. Returns the inference
        GPU-hours it rented from the cloud."""
        ledger = self.model.ledger
        enterprises = ledger.outside["enterprises"]
        self.api_mtok = api_mtok
        self._earn(enterprises, api_revenue_usd, "API tokens")
        self._earn(enterprises, support_revenue_usd, "self-hosting support")
        inference_hours = api_mtok * self.gpu_hours_per_mtok() if self.released else 0.0
        self.last_inference_gpu_hours = inference_hours
        own_hours_left = self.own_gpu_hours_left()
        own_inference = min(inference_hours, own_hours_left)
        bought = inference_hours - own_inference
        market = self.model.compute_market
        self.variable_costs_usd = bought * market.price_usd_per_gpu_hour
        self._pay(market, self.variable_costs_usd, "inference compute")
        self.spare_gpu_hours = own_hours_left - own_inference
        self._pay(
            ledger.outside["staff_and_suppliers"], self.strategy.opex_usd_per_month, "operations"
        )
        if self.owned_gpus_h100e > 0:
            self.depreciation_usd = self.fleet_book_usd / market.gpu_life_months
            self.fleet_book_usd -= self.depreciation_usd
            building = self.dc_build_gpus_h100e_per_month > 0 and (
                self.parent is None or self.parent.committed
            )
            # A steady capex budget: as chips improve, the same dollars buy more H100e.
            built = (
                self.dc_build_gpus_h100e_per_month
                * 2.0 ** (self.model.month / market.price_performance_doubling_months)
                if building
                else 0.0
            )
            self.capex_usd = built * market.capex_usd_per_h100e(self.model.month)
            self._pay(ledger.outside["chip_makers"], self.capex_usd, "data-centre capex")
            self.fleet_book_usd += self.capex_usd
            retired = self.owned_gpus_h100e / market.gpu_life_months
            fleet_growth = (self.owned_gpus_h100e + built - retired) / self.owned_gpus_h100e
            self.owned_gpus_h100e *= fleet_growth
            # Its own plants grow and shrink with its fleet, keeping the share of power it
            # generates itself.
            self.owned_energy_mw *= fleet_growth
        return bought

    def fleet_power_mw(self) -> float:
        """Power its own accelerators draw (MW)."""
        kw = self.model.compute_market.power_kw_per_h100e(self.model.month)
        return self.owned_gpus_h100e * kw / 1000

    def grid_draw_mw(self) -> float:
        """Power its fleet draws from the grid beyond what its own plants supply (MW)."""
        if self.owned_gpus_h100e <= 0:
            return 0.0  # no fleet, no draw (what the formula gives, without the power trend)
        return max(0.0, self.fleet_power_mw() - self.owned_energy_mw)

    def pay_for_power(self, served_share: float, price_usd_per_mwh: float) -> None:
        """A fleet owner's monthly power bill: its own plants' output at their cost (fuel and
        operations) and what it draws from the grid at the market price (the share served)."""
        if self.owned_gpus_h100e <= 0:
            return
        ledger = self.model.ledger
        own_mw = min(self.owned_energy_mw, self.fleet_power_mw())
        own_usd = own_mw * HOURS_PER_MONTH * self.strategy.owned_energy_cost_usd_per_mwh
        self._pay(ledger.outside["fuel"], own_usd, "own power plants")
        grid_usd = self.grid_draw_mw() * served_share * HOURS_PER_MONTH * price_usd_per_mwh
        self._pay(self.model.energy_exchange, grid_usd, "electricity")

    def sell_spare_compute(self, utilisation: float) -> float:
        """Integrated giants rent out idle accelerators at the market price; the market takes
        as much of it as its utilisation says. Returns GPU-hours sold."""
        spare = self.spare_gpu_hours
        if spare <= 0:
            return 0.0
        market = self.model.compute_market
        if market.price_usd_per_gpu_hour <= self._own_marginal_cost_usd_per_gpu_hour():
            return 0.0  # renting out would not cover the power it burns
        sold = spare * min(1.0, utilisation)
        # the cloud sector resells the hours at the market price and pays that price for them
        self._earn(market, sold * market.price_usd_per_gpu_hour, "spare compute")
        self.spare_gpu_hours_sold = sold
        return sold

    def _pay(self, payee, usd: float, item: str) -> None:
        self.costs_usd += usd
        self.model.ledger.pay(self, payee, usd, item)

    def _earn(self, payer, usd: float, item: str) -> None:
        self.revenue_usd += usd
        self.model.ledger.pay(payer, self, usd, item)

    @property
    def profit_usd(self) -> float:
        """This month's operating profit: revenue less operating costs and depreciation."""
        return self.revenue_usd - (self.costs_usd - self.capex_usd) - self.depreciation_usd

    @property
    def viable(self) -> bool:
        """Alive, and its cash covers what its outlook says it will still lose."""
        return bool(self.alive and self.cash_usd + self.expected_value_usd > 0)

    @property
    def investor_owned(self) -> bool:
        """Whether investors hold a stake in it (a giant's unit belongs to its parent)."""
        return self.model.capital_market.investor_owned(self.firm_id)

    @property
    def free_cash_flow_usd(self) -> float:
        """This month's cash from operations after capex (funding excluded)."""
        return self.revenue_usd - self.costs_usd

    def close_books(self) -> None:
        self.revenue_history.append(self.revenue_usd)
        self.model_revenue_history.append(self.model_revenue_usd)
        self.cost_history.append(self.costs_usd)
        self.variable_cost_history.append(self.variable_costs_usd)
        self.cum_profit_usd += self.profit_usd

    def open_books(self) -> None:
        """Start the month's books at zero."""
        self.cash_at_open_usd = self.cash_usd
        self.revenue_usd = 0.0  # all revenue booked: models, spare compute, external business
        self.model_revenue_usd = 0.0  # from AI models: API tokens and self-hosting support
        self.costs_usd = 0.0
        self.funding_usd = 0.0
        self.parent_transfer_usd = 0.0
        self.capex_usd = 0.0
        self.depreciation_usd = 0.0
        self.variable_costs_usd = 0.0
        self.rd_usd = 0.0  # efficiency R&D this month
        self.spare_gpu_hours_sold = 0.0
        self._own_gpu_hours_used = 0.0
        self.spare_gpu_hours = 0.0

    # ------------------------------------------------------------------ finance
    def funding_ask_usd(self) -> float:
        """What is left to raise of its current round. A firm opens a round when the cash in
        hand covers less than `raise_runway_months` of its costs plus the next training run:
        at least that gap, and as much as selling `investors.round_dilution` of the firm at
        its valuation brings (rounds are sized by the stake sold, not by the burn). The round
        stays open, filling as investors come in, for at most `ROUND_MONTHS`. A unit its
        parent funds does not ask."""
        s = self.strategy
        if not self.alive or s.raise_runway_months <= 0 or self.parent is not None:
            return 0.0
        if self.round_left_usd > 0 and self.model.month - self.round_opened_month < ROUND_MONTHS:
            return self.round_left_usd
        flop_per_gpu_hour = self.model.cfg.compute.training_flop_per_gpu_hour
        next_run = (
            self.next_run_target_flop()
            / flop_per_gpu_hour
            * self.model.compute_market.price_usd_per_gpu_hour
        )
        need = s.raise_runway_months * self.costs_usd_per_month() + next_run
        if self.cash_usd >= need:
            self.round_left_usd = 0.0
            return 0.0
        dilution = self.model.cfg.investors.round_dilution
        self.round_left_usd = max(
            need - self.cash_usd, dilution / (1 - dilution) * self.valuation_usd
        )
        self.round_opened_month = self.model.month
        return self.round_left_usd

    def receive_funding(self, investor, amount_usd: float) -> None:
        """A round: `investor` buys equity for `amount_usd` (the stake is the capital market's)."""
        self.model.ledger.pay(investor, self, amount_usd, "equity rounds")
        book_rounds([self], np.array([[amount_usd]]))

    def receive_parent_transfer(self, amount_usd: float) -> None:
        self.parent_transfer_usd += amount_usd
        self.paid_in_usd += amount_usd
        self.parent.transferred_usd += amount_usd
        self.model.ledger.pay(
            self.model.ledger.outside["parents"], self, amount_usd, "parent transfers"
        )

    def costs_usd_per_month(self) -> float:
        """Its mean costs over the last twelve months (its opex before it has books)."""
        recent = self.cost_history[-12:]
        return sum(recent) / len(recent) if recent else self.strategy.opex_usd_per_month

    def funder_view(
        self, prior_growth_per_month: float, required_return_per_year: float
    ) -> tuple[float, float, float, float, float]:
        """What its funder values it on (`aiecosim.markets.valuation`): its mean revenue and
        variable costs over the last 3 months and fixed costs over the last 12 (USD per
        month), its trailing revenue growth (per month; `prior_growth_per_month` before it has
        a record) and the funder's discount rate (its parent's hurdle, or the investors'
        `required_return_per_year`)."""
        rate = (
            self.parent.hurdle_rate_per_year
            if self.parent is not None
            else required_return_per_year
        )
        return (
            _mean(self.revenue_history[-3:]),
            _mean(self.variable_cost_history[-3:]),
            _mean(self.cost_history[-12:]) - _mean(self.variable_cost_history[-12:]),
            trailing_growth(self.revenue_history, prior=prior_growth_per_month),
            rate,
        )

    def revenue_growth(self, months: int = 6) -> float:
        """Log growth of revenue over `months` (0 when too young or without revenue)."""
        h = self.revenue_history
        if len(h) <= months or h[-months - 1] <= 0 or h[-1] <= 0:
            return 0.0
        return float(np.log(h[-1] / h[-months - 1]))

    def exit_if_insolvent(self) -> bool:
        """A builder whose cash is still negative after this month's funding round (nobody
        funded it, or not enough) leaves the market; its creditors absorb the unpaid bills."""
        if self.alive and self.cash_usd < 0:
            self.written_off_usd = -self.cash_usd
            self.model.ledger.pay(
                self.model.ledger.outside["creditors"], self, -self.cash_usd, "debts written off"
            )
            self.alive = False
            self.expected_value_usd = self.valuation_usd = 0.0
            self.exit_month = self.model.month
            self.training = None
            self.customers = 0
            self.price_usd_per_mtok = 0.0
            return True
        return False


@functools.cache
def _specialised_row(sectors: tuple[int, ...], n_sectors: int) -> np.ndarray:
    """The `specialised` row of an offer specialised in `sectors` (bool, one per sector):
    one read-only array per strategy's sectors, shared by its offers month after month."""
    row = np.zeros(n_sectors, dtype=bool)
    row[list(sectors)] = True
    row.setflags(write=False)
    return row


def publish_offers(
    builders: list[ModelBuilder], n_sectors: int, serving_limits: bool = True
) -> tuple[Offers, np.ndarray]:
    """The month's menu: every offer of the alive `builders`, grouped in the nests of the
    choice (`aiecosim.markets.choice.NESTS`: closed APIs, the integrated giants' ecosystems,
    open weights with API and self-hosted side by side), by firm within a nest; and the
    GPU-hours a Mtok of each offer takes."""
    rows = sorted(
        (row for b in builders for row in b.offers(serving_limits)),
        key=operator.itemgetter("nest", "provider", "self_hosted"),
    )

    def column(name, dtype):
        return np.array([r[name] for r in rows], dtype=dtype)

    offers = Offers(
        provider=column("provider", np.int64),
        self_hosted=column("self_hosted", bool),
        capability=column("capability", float),
        price_usd_per_mtok=column("price_usd_per_mtok", float),
        privacy=column("privacy", float),
        specialised=column("specialised", bool).reshape(len(rows), n_sectors),
        lock_in=column("lock_in", float),
        nest=column("nest", np.int64),
        capacity_mtok=column("capacity_mtok", float),
    )
    return offers, np.array([r["gpu_hours_per_mtok"] for r in rows])


def marginal_costs(
    builders: list[ModelBuilder], offers: Offers, support_fee_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each offer's marginal cost to its firm (USD/Mtok), and whether the firm sets its
    price by best response. On the API the cost is the firm's inference cost; on a
    self-hosted offer the firm keeps only the support fee, so the rest of the price is its
    "cost" (and the enterprise, not the firm, sets nothing: the price is the compute's)."""
    cost = (1 - support_fee_share) * offers.price_usd_per_mtok
    priced = np.zeros(len(offers), dtype=bool)
    api = np.flatnonzero(~offers.self_hosted)
    firms = [builders[firm] for firm in offers.provider[api].tolist()]
    cost[api] = [builder.inference_cost_usd_per_mtok() for builder in firms]
    priced[api] = [builder.sets_price_by_best_response() for builder in firms]
    return cost, priced


def post_prices(
    builders: list[ModelBuilder],
    offers: Offers,
    best_usd_per_mtok: np.ndarray,
    cost_usd_per_mtok: np.ndarray,
    priced: np.ndarray,
    jump: bool = False,
) -> Offers:
    """Every builder prices its API by its rule (`ModelBuilder.set_price`), toward its best
    response where it sets its price by one (`priced`); with `jump` it takes the best response
    at once (no last price to stick to). Returns the offers at their new prices."""
    price = offers.price_usd_per_mtok.copy()
    api = np.flatnonzero(~offers.self_hosted)
    posted = []
    for firm, best, cost, sets in zip(
        offers.provider[api].tolist(),
        best_usd_per_mtok[api].tolist(),
        cost_usd_per_mtok[api].tolist(),
        priced[api].tolist(),
        strict=True,
    ):
        builder = builders[firm]
        if jump and sets:
            builder.price_usd_per_mtok = 0.0
        builder.set_price(best, cost)
        posted.append(builder.price_usd_per_mtok)
    price[api] = posted
    return dataclasses.replace(offers, price_usd_per_mtok=price)


def entrant_strategy(
    alive: list[ModelBuilder],
    strategies: dict[str, Strategy],
    cfg: BuildersConfig,
    rng: np.random.Generator,
) -> tuple[Strategy | None, ModelBuilder | None]:
    """Replicator-like imitation: with probability `imitation_share` the entrant copies a
    survivor drawn with probability proportional to its last 12 months of model revenue (so
    a strategy's chance of being copied is its share of the AI market; a giant's other
    businesses are not part of what an entrant can copy), with each evolving trait
    mutated (`mutation_sd`). Otherwise it draws a fresh strategy from the configured shares.
    Returns the strategy and the firm imitated (None for a fresh draw; None, None when no
    strategy has a share)."""
    draw = rng.random()
    if alive and draw < cfg.imitation_share:
        fitness = np.array([max(0.0, sum(x.model_revenue_history[-12:])) for x in alive])
        if fitness.sum() > 0:
            parent = alive[int(rng.choice(len(alive), p=fitness / fitness.sum()))]
            return parent.strategy.mutate(rng, cfg.mutation_sd), parent
    names = [n for n, w in cfg.entrant_strategy_shares.items() if w > 0]
    if not names:
        return None, None
    weights = np.array([cfg.entrant_strategy_shares[n] for n in names])
    pick = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    return strategies[pick], None

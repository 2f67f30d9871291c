"""The AI industry, one month at a time.

`AIEcosystemModel.step` is the month of DESIGN.md in order: energy, compute, builders,
enterprises, settlement, investors, investment/exit/entry, outputs. Agents decide (builders,
enterprises, suppliers, investors in `aiecosim.agents`); markets clear (the mechanism modules);
the model only sequences them and keeps the books.
"""

from __future__ import annotations

import dataclasses
import math
import time

import mesa
import numpy as np
import pandas as pd
from aiecosim.agents.builders import ModelBuilder, ReleasedModel
from aiecosim.agents.energy import EnergySupplier
from aiecosim.agents.enterprises import (
    SIZE_CLASSES,
    Enterprise,
    EnterprisePopulation,
    Offers,
    Shoppers,
)
from aiecosim.agents.investors import Investor
from aiecosim.agents.parents import Parent
from aiecosim.agents.strategy import ARCHETYPES, EVOLVING_TRAITS, Strategy
from aiecosim.books import check_books
from aiecosim.config import ConfigError, SimConfig
from aiecosim.ledger import Account, Ledger
from aiecosim.markets.capability import CapabilityLaw
from aiecosim.markets.capital import CapitalMarket
from aiecosim.markets.choice import NESTS, consumer_surplus_usd_per_mtok
from aiecosim.markets.compute import ComputeMarket
from aiecosim.markets.energy import HOURS_PER_MONTH, HOURS_PER_YEAR, EnergyMarket
from aiecosim.markets.network import AdoptionNetwork
from aiecosim.markets.pricing import BertrandNashPricer, DemandSample
from aiecosim.markets.valuation import expected_value_usd, trailing_growth

IDLE_POWER_SHARE = 0.4  # an idle accelerator still draws ~40% of its power (cooling, standby)
SURPLUS_SAMPLE_ROWS = 256  # enterprises (drawn by demand) the consumer surplus is measured on

FIRM_COLUMNS = {
    "name": "name",
    "archetype": "archetype",
    "strategy": lambda b: b.strategy.name,
    "cash_usd": "cash_usd",
    "revenue_usd": "revenue_usd",
    "model_revenue_usd": "model_revenue_usd",
    "costs_usd": "costs_usd",
    "funding_usd": "funding_usd",
    "parent_transfer_usd": "parent_transfer_usd",
    "profit_usd": "profit_usd",
    "free_cash_flow_usd": "free_cash_flow_usd",
    "valuation_usd": lambda b: b.valuation_usd if b.investor_owned else float("nan"),
    "expected_value_usd": "expected_value_usd",
    "viable": "viable",
    "capability": "capability",
    "price_usd_per_mtok": "price_usd_per_mtok",
    "customers": "customers",
    "alive": "alive",
}


class _Peers:
    """Network influence for the enterprise decision, by provider (one sparse product each).
    The whole population's share of adopting neighbours is computed once a month (prices and
    the decision both read it before anyone's provider changes)."""

    def __init__(self, network: AdoptionNetwork, provider: np.ndarray, n_firms: int):
        self.network, self.provider, self.n_firms = network, provider, n_firms
        self._adopting_all = None

    def adopting(self, rows):
        if rows is not None:
            return self.network.adopting_neighbour_share(self.provider, rows)
        if self._adopting_all is None:
            self._adopting_all = self.network.adopting_neighbour_share(self.provider, None)
        return self._adopting_all

    def by_provider(self, rows):
        return self.network.neighbour_shares(self.provider, self.n_firms, rows)


def _with_levers(config: SimConfig | None, scenario: str | None, levers: dict) -> SimConfig:
    """`config` (or the named scenario, or the baseline) with `levers` set at their paths."""
    from aiecosim.config import load_config, set_value, validate

    if config is None:
        return load_config(scenario or "baseline", params=levers)
    if scenario is not None:
        raise ConfigError("give a config or a scenario, not both")
    data = config.model_dump()
    for path, value in levers.items():
        data = set_value(data, path, value)
    return validate(data)


class AIEcosystemModel(mesa.Model):
    """Frontier labs, integrated giants and open-source builders competing for enterprises, in
    compute and energy markets, funded by investors whose sentiment can turn."""

    def __init__(
        self,
        config: SimConfig | None = None,
        rng: int | None = None,
        check: bool = False,
        *,
        scenario: str | None = None,
        **levers,
    ):
        """`config` is the world (a SimConfig; the baseline when None); `rng` the seed. Levers
        can also be given flat, by their dotted path, on top of `config` or of a named
        `scenario`, which is how Mesa's batch_run passes parameters::

            AIEcosystemModel(rng=1, **{"capability.alpha": 0.3, "run.steps": 24})
            mesa.batch_run(AIEcosystemModel, {"capability.alpha": [0.1, 0.3]}, rng=[1, 2])

        `seed=` is accepted as Mesa accepts it (with Mesa's FutureWarning; use `rng=`). An
        unknown lever is a ConfigError naming the closest known one."""
        seed = levers.pop("seed", None)
        if levers or scenario is not None:
            config = _with_levers(config, scenario, levers)
        if seed is not None:
            super().__init__(seed=seed)  # Mesa's own deprecation path
            rng = seed
        else:
            super().__init__(rng=rng)
        self.check = check  # check the books after every month (aiecosim.books)
        t0 = time.perf_counter()
        self.cfg = cfg = config if config is not None else SimConfig()
        self.seed = rng
        self.month = 0
        self.start = pd.Timestamp(cfg.run.start_date)

        # --- mechanisms
        self.capability_law = CapabilityLaw(
            cfg.capability.cap_max,
            cfg.capability.alpha,
            cfg.capability.reference_flop,
            cfg.capability.algorithmic_halving_months,
            cfg.capability.tokens_per_param,
            cfg.compute.inference_flop_per_gpu_hour,
        )
        self.energy_market = EnergyMarket(
            cfg.energy.scarcity_threshold, cfg.energy.scarcity_premium_usd_per_mwh
        )
        c = cfg.compute
        self.compute_market = ComputeMarket(
            c.installed_gpus_h100e,
            c.dc_power_capacity_mw,
            c.capex_usd_per_h100e,
            c.gpu_life_months,
            c.price_performance_doubling_months,
            c.power_kw_per_h100e,
            c.power_efficiency_doubling_months,
            c.target_utilisation,
            c.scarcity_multiplier,
            c.cloud_markup,
        )
        self.pricer = BertrandNashPricer(cfg.builders.price_iterations)
        inv = cfg.investors
        self.capital_market = CapitalMarket(
            inv.sentiment_adjustment,
            inv.patience_months,
            inv.optimism,
            inv.required_return_per_year,
            inv.belief_update,
            inv.base_revenue_multiple,
            inv.multiple_sentiment_elasticity,
            inv.funding_sensitivity,
            inv.correction_threshold,
            inv.w_fit,
            inv.w_perf,
            inv.n_investors,
        )
        # --- the flow of funds: every inside account is registered with the ledger
        self.ledger = Ledger()
        self.energy_exchange = Account("energy exchange")
        self.ledger.register(self.compute_market)  # the cloud sector's books
        self.ledger.register(self.energy_exchange)
        self._valuation_usd = np.zeros(0)  # each firm's valuation at last month's rounds

        # --- agents
        self.suppliers = [
            EnergySupplier(
                self,
                spec,
                cfg.energy.lead_time_multiplier,
                cfg.energy.plant_life_years,
                cfg.energy.plant_cost_of_capital,
            )
            for spec in cfg.energy.suppliers
        ]
        for supplier in self.suppliers:
            self.ledger.register(supplier)
        self.investors = self._create_investors()
        for investor in self.investors:
            self.ledger.register(investor)
        self.strategies: dict[str, Strategy] = cfg.strategy_table()
        self.builders: list[ModelBuilder] = []
        for cohort in cfg.builders.initial:
            for _ in range(cohort.count):
                self._add_builder(self.strategies[cohort.strategy], entrant=cohort.entrant)
        self.enterprises = EnterprisePopulation(cfg.run.enterprises, cfg.enterprises, self.rng)
        self.network = AdoptionNetwork(
            cfg.run.enterprises,
            cfg.network.kind,
            cfg.network.mean_degree,
            self.rng,
            sectors=self.enterprises.sector,
            rewire_prob=cfg.network.rewire_prob,
            within_sector_share=cfg.network.within_sector_share,
        )
        Enterprise.create_agents(
            self, cfg.run.enterprises, self.enterprises, np.arange(cfg.run.enterprises)
        )

        # --- state carried between months
        self.energy_price_usd_per_mwh = 0.0
        self.expected_energy_price_usd_per_mwh: float | None = None
        self.ai_dc_mw = self._ai_dc_mw(utilisation=c.target_utilisation)
        self.month_ai_revenue_usd = 0.0
        self.training_gpu_hours = 0.0
        self.inference_gpu_hours = 0.0
        self.last_inference_gpu_hours = self.compute_market.capacity_gpu_hours * 0.5
        # The build-out made before the start date: steady replacement of today's fleet.
        window = int(round(inv.capex_payback_years * 12))
        prior_capex = c.installed_gpus_h100e * c.capex_usd_per_h100e / c.gpu_life_months
        self.capex_history_usd: list[float] = [prior_capex] * window
        self.cum_ai_capex_usd = 0.0
        self.cum_ai_revenue_usd = 0.0
        self.frontier_history: list[float] = []
        self._largest_run_flop = 0.0  # largest training run released so far, any firm
        self._serving_limits = True  # providers serve what their capacity allows
        self.events: list[dict] = []
        self._entrants = self._exits = 0
        self._correction = False
        self._funding_usd = 0.0

        # Adoption as it stands at the start: a share of enterprises already use a provider and
        # have used it for a while.
        peers = self._peers()
        self._offers = self._publish_offers_at_start()
        shopping = self.enterprises.shoppers(
            self._offers, len(self.builders), peers, self.rng, initial=True
        )
        self._offers = self._set_prices(shopping, iterations=60, jump=True)
        start = self.enterprises.decide(
            self._offers,
            len(self.builders),
            peers,
            self._demand_mtok(0),
            self.rng,
            initial=True,
            shopping=shopping,
        )
        # The serving compute each firm has lined up at the start is what its customers use.
        api = ~self._offers.self_hosted
        for firm, mtok in zip(self._offers.provider[api], start.mtok_by_offer[api], strict=True):
            self.builders[firm].serving_capacity_mtok_per_month = float(mtok)
        self.enterprises.months_with_provider[self.enterprises.adopted] = self.rng.integers(
            0, 6, size=int(self.enterprises.adopted.sum())
        )
        self.enterprises.negative_months[:] = 0  # the start is not a month of losses
        # Investors already own part of the venture-funded incumbents, valued on their revenue.
        self._surplus_rows = self._surplus_sample()
        self.network.keep_rows(self._surplus_rows)
        start_revenue = np.bincount(
            self._offers.provider,
            weights=start.spend_usd_by_offer
            * np.where(self._offers.self_hosted, cfg.builders.open_support_fee_share, 1.0),
            minlength=len(self.builders),
        )
        self._give_investors_their_initial_stakes(start_revenue)

        self.datacollector = mesa.DataCollector(
            model_reporters={name: _metric(name) for name in _METRIC_NAMES},
            agenttype_reporters={ModelBuilder: FIRM_COLUMNS},
        )
        self.setup_seconds = time.perf_counter() - t0

    # ================================================================== the month
    def step(self) -> None:
        m = self.month
        cfg = self.cfg
        alive = self.alive_builders()
        self.ledger.open_month()
        for builder in self.builders:
            builder.open_books()
        for supplier in self.suppliers:
            supplier.open_books()
        self.training_gpu_hours = self.inference_gpu_hours = 0.0
        self._entrants = self._exits = 0
        self._funding_usd = 0.0

        # 1. Energy: new plants come online; merit order against last month's demand.
        for supplier in self.suppliers:
            supplier.update_costs(m, cfg.energy.marginal_cost_growth_per_year)
            supplier.commission(m)
        self.ai_dc_mw = self._ai_dc_mw(self.compute_market.utilisation)
        self.energy = self.energy_market.clear(
            np.array([s.capacity_mw for s in self.suppliers]),
            np.array([s.marginal_cost_usd_per_mwh for s in self.suppliers]),
            self._grid_demand_mw(m),
        )
        self.energy_price_usd_per_mwh = self.energy.price_usd_per_mwh
        self._update_price_expectation()
        self._pay_power_bills()

        # 2. Compute: usable capacity = min(installed, what the power allows); price.
        self.compute_market.update_capacity(m, self._giants_grid_draw_mw())
        self.compute_market.set_price(m, self.energy_price_usd_per_mwh)

        # 3. Builders: train (rationed when compute is short), release, price; offers published.
        open_released = sum(b.rd_released_usd for b in alive if b.open_weights)
        for builder in alive:
            builder.improve_serving(open_released)
        requests = np.array([b.training_request_gpu_hours() for b in alive])
        granted = self.compute_market.ration_training(requests, self.last_inference_gpu_hours)
        self.training_gpu_hours_wanted = float(requests.sum())
        self.inference_gpu_hours_wanted = 0.0
        for builder, share in zip(alive, granted, strict=True):
            builder.advance_training(float(share))
        #    Who shops this month is known before prices are set: firms price against them.
        for builder in alive:
            if builder.released and builder.price_usd_per_mtok <= 0:
                builder.set_price(None)  # a first model starts from cost-plus
        peers = self._peers()
        self._offers = self._publish_offers()
        shopping = self.enterprises.shoppers(self._offers, len(self.builders), peers, self.rng)
        self._offers = offers = self._set_prices(shopping, self.cfg.builders.price_iterations)

        # 4. Enterprises choose among the offers (one array computation), use tokens, churn.
        self.outcome = outcome = self.enterprises.decide(
            offers,
            len(self.builders),
            peers,
            self._demand_mtok(m),
            self.rng,
            serve=self._serve,
            shopping=shopping,
        )

        # 5. Settlement: builders book revenue, buy inference compute, pay their costs.
        self._settle(offers, outcome)

        # 6. Funding: investors mark their stakes and fund rounds; parents fund their AI units;
        #    sentiment follows the returns.
        self._invest_and_fund(m)

        # 7. Suppliers invest with lead times; chips are installed; insolvent builders exit;
        #    entrants appear.
        self._build_out(m)
        for builder in self.alive_builders():
            if builder.exit_if_insolvent():
                self._exits += 1
                self.events.append(
                    {"month": m, "event": "exit", "firm_id": builder.firm_id, "name": builder.name}
                )
        self._enter(m)

        # 8. Outputs.
        self.metrics = self._measure(m, outcome)
        if self.check:
            check_books(self)
        self.datacollector.collect(self)
        self.month += 1
        if self.month >= cfg.run.steps:
            self.running = False

    # ================================================================== parts of the month
    def alive_builders(self) -> list[ModelBuilder]:
        return [b for b in self.builders if b.alive]

    def _grid_demand_mw(self, month: int) -> float:
        e = self.cfg.energy
        years = month / 12
        base = (
            e.base_load_twh_per_year
            * 1e6
            / HOURS_PER_YEAR
            * (1 + e.base_load_growth_per_year) ** years
        )
        return base + self._non_ai_dc_mw(month) + self.ai_dc_mw

    def _non_ai_dc_mw(self, month: int) -> float:
        e = self.cfg.energy
        growth = (1 + e.non_ai_dc_growth_per_year) ** (month / 12)
        return e.non_ai_dc_twh_per_year * 1e6 / HOURS_PER_YEAR * growth

    def _ai_dc_mw(self, utilisation: float) -> float:
        """Grid power drawn by AI accelerators, MW: the cloud fleet (idle chips draw part of
        their power) and the giants' own fleets beyond what their own plants supply."""
        kw = self.compute_market.power_kw_per_h100e(self.month)
        duty = IDLE_POWER_SHARE + (1 - IDLE_POWER_SHARE) * min(1.0, utilisation)
        self._cloud_mw = self.compute_market.usable_gpus_h100e * duty * kw / 1000
        return self._cloud_mw + self._giants_grid_draw_mw()

    def _giants_grid_draw_mw(self) -> float:
        """Grid power the integrated giants' fleets draw beyond their own plants, MW."""
        return sum(b.grid_draw_mw() for b in self.builders if b.alive)

    def _pay_power_bills(self) -> None:
        """Every buyer of electricity pays the clearing price for the share of its demand that
        was served, to the exchange; the exchange pays each plant for what it dispatched."""
        e = self.energy
        ledger = self.ledger
        price = self.energy_price_usd_per_mwh
        served = e.served_mw / e.demand_mw if e.demand_mw > 0 else 0.0
        others_mw = max(0.0, e.demand_mw - self.ai_dc_mw)
        exchange = self.energy_exchange
        bill = served * HOURS_PER_MONTH * price
        ledger.pay(ledger.outside["other_power_users"], exchange, others_mw * bill, "electricity")
        self.compute_market.energy_cost_usd = self._cloud_mw * bill
        ledger.pay(
            self.compute_market, exchange, self.compute_market.energy_cost_usd, "electricity"
        )
        for b in self.alive_builders():
            b.pay_for_power(served, price)
        for supplier, dispatched in zip(self.suppliers, e.dispatch_mw, strict=True):
            supplier.sell(exchange, float(dispatched), price)

    def _update_price_expectation(self) -> None:
        price = self.energy_price_usd_per_mwh
        if self.expected_energy_price_usd_per_mwh is None:
            self.expected_energy_price_usd_per_mwh = price
        weight = 1 / self.cfg.energy.price_expectation_months
        self.expected_energy_price_usd_per_mwh += weight * (
            price - self.expected_energy_price_usd_per_mwh
        )

    def _demand_mtok(self, month: int) -> float:
        e = self.cfg.enterprises
        return e.potential_demand_mtok_per_month * (1 + e.demand_growth_per_year) ** (month / 12)

    def _peers(self) -> _Peers:
        return _Peers(self.network, self.enterprises.provider, len(self.builders))

    def _set_prices(self, shopping: Shoppers, iterations: int, jump: bool = False) -> Offers:
        """Every builder prices its API by its rule; the best responses come from the
        Bertrand–Nash fixed point (`aiecosim.markets.pricing`) against the enterprises shopping this
        month, at the rivals' current prices. `jump`: take the best response at once (the start
        of the run), not partway. Returns the month's offers at their new prices."""
        offers = self._offers
        if not len(offers):
            return offers
        api = ~offers.self_hosted
        cost, priced = self._marginal_costs(offers)
        best = offers.price_usd_per_mtok
        if priced.any() and len(shopping.rows):
            best = self.pricer.solve(
                self._demand_sample(offers, shopping),
                offers.price_usd_per_mtok,
                cost,
                offers.provider,
                priced,
                iterations,
            )
        price = offers.price_usd_per_mtok.copy()
        for k in np.flatnonzero(api):
            builder = self.builders[offers.provider[k]]
            if jump and priced[k]:
                builder.price_usd_per_mtok = 0.0  # no last price to stick to
            builder.set_price(float(best[k]), float(cost[k]))
            price[k] = builder.price_usd_per_mtok
        return dataclasses.replace(offers, price_usd_per_mtok=price)

    def _marginal_costs(self, offers: Offers) -> tuple[np.ndarray, np.ndarray]:
        """Each offer's marginal cost to its firm (USD/Mtok), and whether the firm sets its
        price by best response. On the API the cost is the firm's inference cost; on a
        self-hosted offer the firm keeps only the support fee, so the rest of the price is its
        "cost" (and the enterprise, not the firm, sets nothing: the price is the compute's)."""
        cost = (1 - self.cfg.builders.open_support_fee_share) * offers.price_usd_per_mtok
        priced = np.zeros(len(offers), dtype=bool)
        for k in np.flatnonzero(~offers.self_hosted):
            builder = self.builders[offers.provider[k]]
            cost[k] = builder.inference_cost_usd_per_mtok()
            priced[k] = builder.sets_price_by_best_response()
        return cost, priced

    def _demand_sample(self, offers: Offers, shopping: Shoppers) -> DemandSample:
        """The demand a price setter reads: the enterprises shopping this month, each weighted
        by its demand; above `builders.price_sample_rows` of them, that many drawn
        (systematically, from one uniform) in proportion to their demand."""
        pop = self.enterprises
        e = self.cfg.enterprises
        rows, delta = shopping.rows, shopping.delta
        weight = pop.demand_weight[rows]
        size = self.cfg.builders.price_sample_rows
        if len(rows) > size:
            points = (self.rng.random() + np.arange(size)) / size
            pick = np.searchsorted(np.cumsum(weight) / weight.sum(), points)
            pick = np.minimum(pick, len(rows) - 1)
            rows, delta = rows[pick], delta[pick]
            weight = np.full(size, weight.sum() / size)
        # (no AI stays an option here even for those who must adopt at the start)
        current = shopping.current[rows]
        return DemandSample(
            choice=pop.choice_model(offers),
            delta=delta,
            alpha=pop.price_coefficient[rows].astype(np.float32),
            weight=(weight * self._demand_mtok(self.month)).astype(np.float32),
            outside=pop.outside_utility(rows, offers, current).astype(np.float32),
            reference_price_usd_per_mtok=e.reference_price_usd_per_mtok,
            elasticity=e.price_elasticity,
            max_usage_multiple=e.max_usage_multiple,
        )

    def _publish_offers_at_start(self) -> Offers:
        self.energy = self.energy_market.clear(
            np.array([s.capacity_mw for s in self.suppliers]),
            np.array([s.marginal_cost_usd_per_mwh for s in self.suppliers]),
            self._grid_demand_mw(0),
        )
        self.energy_price_usd_per_mwh = self.energy.price_usd_per_mwh
        self.compute_market.update_capacity(0, self._giants_grid_draw_mw())
        self.compute_market.set_price(0, self.energy_price_usd_per_mwh)
        for builder in self.builders:
            builder.set_price(None)  # cost-plus, the Nash prices' starting point
        self._serving_limits = False  # at the start, firms serve the customers they have
        offers = self._publish_offers()
        self._serving_limits = True
        return offers

    def _publish_offers(self) -> Offers:
        """Each alive builder with a model offers it by API; open weights can also be self-hosted
        by the enterprise, which then pays rented compute (with an overhead) instead of a price.
        Offers are grouped in the nests of the choice (`aiecosim.markets.choice.NESTS`): open weights,
        API and self-hosted side by side; the integrated giants' ecosystems; closed APIs."""
        rows = []
        n_sectors = self.cfg.enterprises.n_sectors
        e = self.cfg.enterprises
        fee = self.cfg.builders.open_support_fee_share
        limits = self._serving_limits
        for b in self.alive_builders():
            if not b.released:
                continue
            specialised = np.zeros(n_sectors, dtype=bool)
            specialised[list(b.strategy.specialised_sectors)] = True
            nest = NESTS.index(
                "open_weights"
                if b.open_weights
                else "ecosystem"
                if b.archetype == "integrated_giant"
                else "closed_api"
            )
            hours = b.gpu_hours_per_mtok()
            rows.append(
                {
                    "nest": nest,
                    "provider": b.firm_id,
                    "self_hosted": False,
                    "capability": b.capability,
                    "price_usd_per_mtok": b.price_usd_per_mtok,
                    "privacy": e.open_api_privacy if b.open_weights else 0.0,
                    "specialised": specialised,
                    "lock_in": b.strategy.lock_in_strength,
                    "capacity_mtok": b.serving_capacity_mtok() if limits else np.inf,
                    "gpu_hours_per_mtok": hours,
                }
            )
            if b.open_weights:
                # The enterprise rents the compute and pays the builder a support fee: the fee
                # is a share of what it spends, the rest pays for the GPU-hours.
                self_host_hours = hours * e.self_host_overhead
                compute_cost = self_host_hours * self.compute_market.price_usd_per_gpu_hour
                rows.append(
                    rows[-1]
                    | {
                        "self_hosted": True,
                        "price_usd_per_mtok": compute_cost / (1 - fee),
                        "privacy": 1.0,
                        "lock_in": 0.0,
                        "capacity_mtok": np.inf,
                        "gpu_hours_per_mtok": self_host_hours,
                    }
                )
        rows.sort(key=lambda r: (r["nest"], r["provider"], r["self_hosted"]))
        self._offer_gpu_hours_per_mtok = np.array([r["gpu_hours_per_mtok"] for r in rows])

        def column(name, dtype):
            return np.array([r[name] for r in rows], dtype=dtype)

        return Offers(
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

    def _serve(self, mtok_by_offer: np.ndarray) -> np.ndarray:
        """Share of each offer's wanted tokens that compute can serve. Owners serve their own
        API from their own fleets first; the rest shares the market's capacity left after
        training, plus what owners have spare. When short, every offer is cut by the same share."""
        offers = self._offers
        builders = self.builders
        hours = mtok_by_offer * self._offer_gpu_hours_per_mtok
        own_left = np.array(
            [
                0.0 if hosted else builders[p].own_gpu_hours_left()
                for p, hosted in zip(offers.provider, offers.self_hosted, strict=True)
            ]
        )
        own_used = np.minimum(hours, own_left)
        market_need = hours - own_used
        available = (
            self.compute_market.capacity_gpu_hours
            - self.training_gpu_hours
            + (own_left - own_used).sum()
        )
        need = market_need.sum()
        self.inference_gpu_hours_wanted = float(hours.sum() - own_used.sum())
        cut = min(1.0, max(0.0, available) / need) if need > 0 else 1.0
        return np.divide(
            own_used + market_need * cut, hours, out=np.ones_like(hours), where=hours > 0
        )

    def _settle(self, offers: Offers, outcome) -> None:
        n_firms = len(self.builders)
        api = ~offers.self_hosted
        api_mtok = np.bincount(
            offers.provider[api], weights=outcome.mtok_by_offer[api], minlength=n_firms
        )
        api_rev = np.bincount(
            offers.provider[api], weights=outcome.spend_usd_by_offer[api], minlength=n_firms
        )
        hosted = offers.self_hosted
        fee = self.cfg.builders.open_support_fee_share
        support_rev = fee * np.bincount(
            offers.provider[hosted], weights=outcome.spend_usd_by_offer[hosted], minlength=n_firms
        )
        customers = np.bincount(
            offers.provider, weights=outcome.customers_by_offer, minlength=n_firms
        )
        # Self-hosting enterprises rent compute themselves (the overhead is idle capacity) and
        # pay the cloud for it: the part of their spend that is not the builder's support fee.
        self.inference_gpu_hours += float(
            (outcome.mtok_by_offer[hosted] * self._offer_gpu_hours_per_mtok[hosted]).sum()
        )
        self.ledger.pay(
            self.ledger.outside["enterprises"],
            self.compute_market,
            float(outcome.spend_usd_by_offer[hosted].sum()) * (1 - fee),
            "self-hosted compute",
        )
        requested = np.bincount(
            offers.provider[api], weights=outcome.requested_mtok_by_offer[api], minlength=n_firms
        )
        for b in self.alive_builders():
            i = b.firm_id
            b.customers = int(customers[i])
            b.model_revenue_usd = float(api_rev[i] + support_rev[i])
            b.settle(float(api_mtok[i]), float(api_rev[i]), float(support_rev[i]))
            if b.released:
                b.line_up_serving(float(requested[i]))
        market = self.compute_market
        giants = [b for b in self.alive_builders() if b.owned_gpus_h100e > 0]
        demand = self.training_gpu_hours + self.inference_gpu_hours
        spare_offered = sum(b.spare_gpu_hours for b in giants)
        capacity = market.capacity_gpu_hours + spare_offered
        utilisation = demand / capacity if capacity > 0 else 1.0
        for b in giants:
            b.sell_spare_compute(utilisation)
        wanted = demand + max(0.0, self.inference_gpu_hours_wanted - self.inference_gpu_hours)
        wanted += self.training_gpu_hours_wanted - self.training_gpu_hours
        market.record_use(demand, wanted, spare_offered)
        market.depreciate()
        self.last_inference_gpu_hours = self.inference_gpu_hours
        for b in self.alive_builders():
            b.close_books()
        self.month_ai_revenue_usd = float(outcome.spend_usd_by_offer.sum())
        self.cum_ai_revenue_usd += self.month_ai_revenue_usd

    def _invest_and_fund(self, m: int) -> None:
        """The month's money side, after the books are closed:

        1. every firm's outlook: expected discounted cash flow (`aiecosim.markets.valuation`) at its
           funder's rate (its parent's hurdle, or the investors' required return);
        2. investors mark their stakes to market at today's valuations and learn from them;
        3. parents review their AI units and pay in what they still fund;
        4. rounds: firms short of runway ask; investors fund those with a credible path to
           profit (a positive outlook) and entrants still in their venture years;
        5. limited partners pay new money in; sentiment follows the month's realised return.
        """
        inv = self.cfg.investors
        cm = self.capital_market
        ledger = self.ledger
        builders = self.builders
        firms = self.alive_builders()
        index = np.array([b.firm_id for b in firms], dtype=np.int64)
        alive = np.zeros(len(builders), dtype=bool)
        alive[index] = True

        def books(of) -> np.ndarray:  # one number per live firm, scattered over all firms
            out = np.zeros(len(builders))
            out[index] = [of(b) for b in firms]
            return out

        revenue = books(lambda b: _mean(b.revenue_history[-3:]))
        variable = books(lambda b: _mean(b.variable_cost_history[-3:]))
        fixed = books(lambda b: _mean(b.cost_history[-12:]) - _mean(b.variable_cost_history[-12:]))
        prior = np.log1p(inv.prior_revenue_growth_per_year) / 12
        growth = books(lambda b: trailing_growth(b.revenue_history, prior=prior))
        rate = books(
            lambda b: (
                b.parent.hurdle_rate_per_year
                if b.parent is not None
                else inv.required_return_per_year
            )
        )
        outlook = np.zeros(len(builders))
        outlook[index] = expected_value_usd(
            (revenue - variable)[index], fixed[index], growth[index], rate[index]
        )
        valuation = cm.valuations_usd(revenue, books(lambda b: b.paid_in_usd), alive)
        for b in firms:
            b.expected_value_usd = float(outlook[b.firm_id])
            b.valuation_usd = float(valuation[b.firm_id])

        # --- marks: what the stakes are worth now, and what each investor gained on each
        marked = cm.marked_stakes_usd(valuation)
        realised = cm.realise(marked)
        gains = cm.ownership * (valuation - self._valuation_usd)[None, :]
        orientation = np.array([b.strategy.scale_orientation for b in builders])
        thesis = cm.learn_theses(
            np.array([i.thesis for i in self.investors]),
            gains,
            orientation,
            inv.thesis_learning_rate,
        )
        for investor, value, learned in zip(self.investors, marked, thesis, strict=True):
            investor.stakes_usd, investor.thesis = float(value), float(learned)

        # --- parents fund their AI units while the units clear the hurdle
        for b in firms:
            if b.parent is not None and b.parent.review(b.expected_value_usd):
                transfer = b.parent.transfer_usd(b.cash_usd, b.costs_usd_per_month())
                if transfer > 0:
                    b.receive_parent_transfer(transfer)

        # --- rounds
        if firms and self.investors:
            venture = np.array(
                [b.entrant and m - b.entry_month < inv.venture_months for b in firms]
            )
            credible = outlook[index] > 0
            asks = np.array([b.funding_ask_usd() for b in firms]) * (credible | venture)
            budgets = np.array(
                [
                    i.budget_usd(inv.deploy_share_per_month, cm.funding_factor)
                    for i in self.investors
                ]
            )
            invested = cm.allocate(
                thesis, budgets, orientation[index], self._performance(firms), asks
            )
            for j in np.flatnonzero(invested.sum(axis=0) > 0):
                b = firms[j]
                for investor, amount in zip(self.investors, invested[:, j], strict=True):
                    if amount > 0:
                        b.receive_funding(investor, float(amount))
                cm.buy_equity(b.firm_id, invested[:, j], float(valuation[b.firm_id]))
                # the round prices the firm: pre-money plus the new money
                valuation[b.firm_id] += float(invested[:, j].sum())
                b.valuation_usd = float(valuation[b.firm_id])
            self._funding_usd = float(invested.sum())
        cm.marked_after_rounds_usd = cm.marked_stakes_usd(valuation)
        self._valuation_usd = valuation
        for investor, value in zip(self.investors, cm.marked_after_rounds_usd, strict=True):
            investor.stakes_usd = float(value)
        self._parent_transfers_usd = sum(b.parent_transfer_usd for b in builders)

        # --- new money from limited partners, in proportion to each fund's capital
        total = sum(i.capital_usd for i in self.investors)
        lps = ledger.outside["limited_partners"]
        for investor in self.investors:
            weight = investor.capital_usd / total if total > 0 else 1 / len(self.investors)
            ledger.pay(
                lps, investor, inv.inflow_usd_per_month * cm.funding_factor * weight, "fund inflows"
            )

        # --- beliefs follow the returns
        self._correction = cm.update_sentiment(realised)
        if self._correction:
            self.events.append({"month": m, "event": "valuation correction"})

    def _performance(self, alive: list[ModelBuilder]) -> np.ndarray:
        """Capability relative to the frontier plus recent revenue growth (bounded)."""
        frontier = max((b.capability for b in alive), default=0.0) or 1.0
        capability = np.array([b.capability / frontier for b in alive])
        growth = np.tanh(np.array([b.revenue_growth() for b in alive]))
        return capability + growth

    def _build_out(self, m: int) -> None:
        c = self.cfg.compute
        for supplier in self.suppliers:
            supplier.invest(m, self.expected_energy_price_usd_per_mwh)
        market = self.compute_market
        production = c.gpu_production_h100e_per_month * (1 + c.gpu_production_growth_per_year) ** (
            m / 12
        )
        _, capex = market.retire_and_install(m, production)
        self.ledger.pay(market, self.ledger.outside["chip_makers"], capex, "cloud capex")
        capex += sum(b.capex_usd for b in self.builders)
        # New grid connections for data centres, limited by spare generation.
        connect = c.dc_power_growth_mw_per_month * (1 + c.dc_power_growth_per_year) ** (m / 12)
        spare_generation = max(0.0, self.energy.capacity_mw - self.energy.demand_mw)
        market.dc_power_capacity_mw += min(connect, spare_generation)
        self.capex_history_usd.append(capex)
        self.cum_ai_capex_usd += capex
        self.month_capex_usd = capex

    def _add_builder(self, strategy: Strategy, entrant: bool) -> ModelBuilder:
        cfg = self.cfg
        cash = strategy.initial_cash_usd * (cfg.builders.entrant_cash_share if entrant else 1.0)
        same = sum(1 for b in self.builders if b.strategy.name == strategy.name) + 1
        label = strategy.name.replace("_", " ").title()
        builder = ModelBuilder(self, strategy, f"{label} {same}", cash, entrant)
        builder.firm_id = len(self.builders)
        self.builders.append(builder)
        self.ledger.register(builder)
        self.capital_market.add_firm()
        self._valuation_usd = np.append(self._valuation_usd, 0.0)
        if strategy.archetype == "integrated_giant" and not entrant:
            # an incumbent giant's AI unit is funded by its parent; an entrant has none
            p = cfg.parents
            builder.parent = Parent(
                f"parent of {builder.name}",
                p.hurdle_rate_per_year,
                p.loss_budget_usd,
                p.patience_months,
                p.target_cash_months,
            )
        if entrant:
            # An entrant brings a fraction of an incumbent's assets (cash, fleet, plants) ...
            builder.owned_gpus_h100e *= cfg.builders.entrant_cash_share
            builder.owned_energy_mw *= cfg.builders.entrant_cash_share
            builder.dc_build_gpus_h100e_per_month *= cfg.builders.entrant_cash_share
            # ... and aims at a quarter of what incumbents of its kind train now.
            peers = [
                b.last_training_flop
                for b in self.alive_builders()
                if b.archetype == strategy.archetype and b is not builder
            ]
            scale = (
                max(strategy.initial_model_flop, 0.25 * float(np.median(peers)))
                if peers
                else strategy.initial_model_flop
            )
            builder.last_training_flop = scale / strategy.scale_growth_per_run
        else:
            # Incumbents start with a released model; firms differ in size (lognormal spread).
            flop = strategy.initial_model_flop * float(self.rng.lognormal(0.0, 0.4))
            multiplier = (
                cfg.capability.open_distillation_multiplier if strategy.open_weights else 1.0
            )
            capability = self.capability_law.capability(flop, 0, multiplier)
            builder.released.append(ReleasedModel(capability, flop, strategy.open_weights, 0))
            builder.last_training_flop = flop
        return builder

    def _enter(self, m: int) -> None:
        b = self.cfg.builders
        arrivals = int(self.rng.poisson(b.entry_rate_per_month))
        for _ in range(arrivals):
            if len(self.builders) >= b.max_firms:
                break
            strategy, parent = self._entrant_strategy()
            if strategy is None:
                break
            builder = self._add_builder(strategy, entrant=True)
            self._entrants += 1
            self.events.append(
                {
                    "month": m,
                    "event": "entry",
                    "firm_id": builder.firm_id,
                    "name": builder.name,
                    "strategy": strategy.name,
                    "imitated_firm_id": parent.firm_id if parent is not None else None,
                    "traits": strategy.traits(),
                }
            )

    def _entrant_strategy(self) -> tuple[Strategy | None, ModelBuilder | None]:
        """Replicator-like imitation: with probability `imitation_share` the entrant copies a
        survivor drawn with probability proportional to its last 12 months of model revenue (so a
        strategy's chance of being copied is its share of the AI market; a giant's other
        businesses are not part of what an entrant can copy), with each evolving trait
        mutated (`mutation_sd`). Otherwise it draws a fresh strategy from the configured shares.
        Returns the strategy and the firm imitated (None for a fresh draw)."""
        b = self.cfg.builders
        draw = self.rng.random()
        alive = self.alive_builders()
        if alive and draw < b.imitation_share:
            fitness = np.array([max(0.0, sum(x.model_revenue_history[-12:])) for x in alive])
            if fitness.sum() > 0:
                parent = alive[int(self.rng.choice(len(alive), p=fitness / fitness.sum()))]
                return parent.strategy.mutate(self.rng, b.mutation_sd), parent
        names = [n for n, w in b.entrant_strategy_shares.items() if w > 0]
        if not names:
            return None, None
        weights = np.array([b.entrant_strategy_shares[n] for n in names])
        pick = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
        return self.strategies[pick], None

    def _create_investors(self) -> list[Investor]:
        inv = self.cfg.investors
        n = inv.n_investors
        if n == 0:
            return []
        # Theses spread from pure efficiency (0) to pure scale (1); fund sizes are heavy-tailed.
        theses = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
        sizes = self.rng.lognormal(0.0, 0.8, size=n)
        capital = inv.capital_usd * sizes / sizes.sum()
        return [Investor(self, float(t), float(k)) for t, k in zip(theses, capital, strict=True)]

    def _give_investors_their_initial_stakes(self, revenue_usd_per_month: np.ndarray) -> None:
        """At the start investors own `investors.initial_stake_share` of every incumbent
        without a parent, spread over the funds by how well the firm fits their theses."""
        inv = self.cfg.investors
        cm = self.capital_market
        alive = np.array([b.alive for b in self.builders], dtype=bool)
        paid_in = np.array([b.paid_in_usd for b in self.builders])
        self._valuation_usd = cm.valuations_usd(revenue_usd_per_month, paid_in, alive)
        if not self.investors:
            return
        thesis = np.array([i.thesis for i in self.investors])
        for b in self.builders:
            if b.parent is not None or b.entrant or inv.initial_stake_share <= 0:
                continue
            fit = np.exp(inv.w_fit * (1 - np.abs(thesis - b.strategy.scale_orientation)))
            cm.ownership[:, b.firm_id] = inv.initial_stake_share * fit / fit.sum()
            b.valuation_usd = float(self._valuation_usd[b.firm_id])
        cm.marked_after_rounds_usd = cm.marked_stakes_usd(self._valuation_usd)
        for investor, value in zip(self.investors, cm.marked_after_rounds_usd, strict=True):
            investor.stakes_usd = float(value)

    def _surplus_sample(self) -> np.ndarray:
        """Enterprises the consumer surplus is measured on: a systematic sample drawn in
        proportion to their demand (fixed points, no random draw)."""
        weight = self.enterprises.demand_weight
        size = min(SURPLUS_SAMPLE_ROWS, len(weight))
        points = (np.arange(size) + 0.5) / size
        rows = np.searchsorted(np.cumsum(weight) / weight.sum(), points)
        return np.minimum(rows, len(weight) - 1)

    def consumer_surplus_usd(self, offers: Offers | None = None) -> float:
        """Enterprises' surplus from this month's menu (USD per month): for a demand-weighted
        sample, the nested-logit log-sum over the offers and no AI, less the utility of no
        AI, in USD per Mtok (divided by each one's price coefficient), times the month's
        potential demand. Measured for a fresh choice (no switching costs), so it moves with
        the menu: prices, capabilities and the nests."""
        offers = self._offers if offers is None else offers
        if not len(offers):
            return 0.0
        pop = self.enterprises
        rows = self._surplus_rows
        none = np.full(len(rows), -1, dtype=np.int64)
        u = pop.utilities(rows, offers, none, self._peers().by_provider(rows))
        u0 = pop.outside_utility(rows, offers, none)
        per_mtok = consumer_surplus_usd_per_mtok(
            pop.choice_model(offers), u.astype(np.float64), u0, pop.price_coefficient[rows]
        )
        return float(per_mtok.mean() * self._demand_mtok(self.month))

    # ================================================================== outputs
    def _open_lag_months(self, frontier: float, best_open: float) -> float:
        """Months since the frontier first reached today's best open capability. Before the
        start date the frontier's path is extrapolated from its historic effective-compute
        growth (4.5x compute a year times the algorithmic gain)."""
        if best_open <= 0:
            return float("nan")
        if best_open >= frontier:
            return 0.0
        history = np.asarray(self.frontier_history)
        reached = np.flatnonzero(history >= best_open)
        if len(reached):
            return float(len(history) - 1 - reached[0])
        law = self.capability_law
        first = history[0] if len(history) else frontier
        growth = 4.5 * law.algorithmic_efficiency(12)
        needed = law.flop_for_capability(best_open, 0)
        at_start = law.flop_for_capability(first, 0)
        before = 12 * math.log(at_start / needed) / math.log(growth) if needed > 0 else 0.0
        return float(len(history) - 1 + max(0.0, before))

    def _measure(self, m: int, outcome) -> dict:
        builders = self.builders
        alive = self.alive_builders()
        revenue = np.array([b.model_revenue_usd if b.alive else 0.0 for b in builders])
        offers = self._offers
        # Customers in organisations (each cohort stands for a share of the world's), so the
        # shares do not depend on how many cohorts a size class is simulated with.
        customers = np.bincount(
            offers.provider, weights=outcome.organisations_by_offer, minlength=len(builders)
        )
        archetype = np.array([b.archetype for b in builders])
        total_rev = revenue.sum()
        total_cust = customers.sum()
        out: dict = {"month": m, "date": self.start + pd.DateOffset(months=m)}
        for a in ARCHETYPES:
            mask = archetype == a
            out[f"share_revenue_{a}"] = (
                float(revenue[mask].sum() / total_rev) if total_rev > 0 else 0.0
            )
            out[f"share_customers_{a}"] = (
                float(customers[mask].sum() / total_cust) if total_cust > 0 else 0.0
            )
        for a in ARCHETYPES:
            out[f"alive_{a}"] = sum(1 for b in alive if b.archetype == a)
        out["n_firms_alive"] = len(alive)
        shares = revenue / total_rev if total_rev > 0 else revenue
        out["hhi_revenue"] = float((shares**2).sum() * 10_000)
        frontier = max((b.capability for b in alive), default=0.0)
        best_open = max((b.capability for b in alive if b.open_weights), default=0.0)
        self.frontier_history.append(frontier)
        out["frontier_capability"] = frontier
        out["best_open_capability"] = best_open
        out["open_lag_months"] = self._open_lag_months(frontier, best_open)
        # Largest training run released so far, any firm (exited ones included): the scale trend.
        self._largest_run_flop = max(
            self._largest_run_flop,
            max((b.best_model.training_flop for b in alive if b.released), default=0.0),
        )
        out["frontier_training_flop"] = self._largest_run_flop
        api = ~self._offers.self_hosted
        mtok = outcome.mtok_by_offer[api].sum()
        out["token_price_usd_per_mtok"] = (
            float(outcome.spend_usd_by_offer[api].sum() / mtok) if mtok > 0 else float("nan")
        )
        # What each archetype's API tokens sell for, on average over the tokens sold (NaN when
        # it sold none): the premium one archetype earns over another.
        api_archetype = archetype[self._offers.provider[api]]
        for a in ARCHETYPES:
            mine = api_archetype == a
            sold = outcome.mtok_by_offer[api][mine].sum()
            out[f"token_price_{a}_usd_per_mtok"] = (
                float(outcome.spend_usd_by_offer[api][mine].sum() / sold)
                if sold > 0
                else float("nan")
            )
        market = self.compute_market
        out["compute_price_usd_per_gpu_hour"] = market.price_usd_per_gpu_hour
        out["energy_price_usd_per_mwh"] = self.energy_price_usd_per_mwh
        out["compute_utilisation"] = market.utilisation
        out["installed_gpus_h100e"] = market.installed_gpus_h100e
        out["usable_gpus_h100e"] = market.usable_gpus_h100e
        dc_mw = self._non_ai_dc_mw(m) + self.ai_dc_mw
        out["dc_energy_twh_per_year"] = dc_mw * HOURS_PER_YEAR / 1e6
        out["dc_grid_share"] = (
            dc_mw / self.energy.served_mw if self.energy.served_mw > 0 else float("nan")
        )
        out["grid_demand_twh_per_year"] = self.energy.demand_mw * HOURS_PER_YEAR / 1e6
        adopters = outcome.adopters
        out["adoption_rate"] = float(outcome.organisations_by_offer.sum())
        out["adopters_positive_roi_share"] = outcome.positive_return / adopters if adopters else 0.0
        out["churn_rate"] = outcome.churned / adopters if adopters else 0.0
        out["switch_rate"] = outcome.switched / adopters if adopters else 0.0
        # What a provider calls churn: customers lost this month, to a rival or to no AI at all.
        out["provider_churn_rate"] = out["churn_rate"] + out["switch_rate"]
        # The market by enterprise size: spend (USD/month) and the share of the class's
        # organisations that buy from each archetype, and the class's adoption.
        # one matrix product each: (size classes x offers) @ (offers x archetypes)
        kind = np.array([ARCHETYPES.index(a) for a in archetype], dtype=np.int64)
        to_archetype = np.zeros((len(offers), len(ARCHETYPES)))
        to_archetype[np.arange(len(offers)), kind[offers.provider]] = 1.0
        spend = outcome.spend_usd_by_class @ to_archetype
        organisations = outcome.organisations_by_class @ to_archetype
        for c, size in enumerate(SIZE_CLASSES):
            out[f"adoption_rate_{size}"] = float(outcome.adoption_by_class[c])
            for j, a in enumerate(ARCHETYPES):
                out[f"spend_usd_{size}_{a}"] = float(spend[c, j])
                out[f"customer_share_{size}_{a}"] = float(organisations[c, j])
        out["unserved_mtok"] = outcome.unserved_mtok
        out["customers_turned_away"] = outcome.turned_away
        out["cum_ai_capex_usd"] = self.cum_ai_capex_usd
        out["cum_ai_revenue_usd"] = self.cum_ai_revenue_usd
        out["ai_revenue_usd_per_year"] = self.month_ai_revenue_usd * 12
        # the revenue that would pay back the AI capex of the last `capex_payback_years` at a
        # sustainable capex-to-revenue ratio (an indicator; sentiment follows returns)
        inv = self.cfg.investors
        window = int(round(inv.capex_payback_years * 12))
        out["required_revenue_usd_per_year"] = float(sum(self.capex_history_usd[-window:])) / (
            inv.capex_payback_years * inv.capex_share_of_revenue
        )
        capital = np.array([i.capital_usd for i in self.investors])
        thesis = np.array([i.thesis for i in self.investors])
        out["investor_capital_usd"] = float(capital.sum())
        out["investor_stakes_usd"] = float(sum(i.stakes_usd for i in self.investors))
        out["investor_return"] = self.capital_market.realised_return
        out["revenue_multiple"] = self.capital_market.revenue_multiple
        out["funding_usd"] = self._funding_usd
        out["parent_transfers_usd"] = self._parent_transfers_usd
        out["sentiment"] = self.capital_market.sentiment
        # --- the scoreboard: profit by archetype, the other sectors' books, enterprises' surplus
        for a in ARCHETYPES:
            out[f"profit_usd_{a}"] = float(sum(b.profit_usd for b in alive if b.archetype == a))
        cloud = self.compute_market
        cloud_revenue = self.ledger.received_usd(cloud)
        out["cloud_revenue_usd"] = cloud_revenue
        # its payments are power, spare hours bought and capex; profit counts depreciation
        out["cloud_profit_usd"] = (
            cloud_revenue - (self.ledger.paid_usd(cloud) - cloud.capex_usd) - cloud.depreciation_usd
        )
        out["cloud_cash_usd"] = cloud.cash_usd
        out["energy_revenue_usd"] = float(sum(s.revenue_usd for s in self.suppliers))
        out["energy_profit_usd"] = float(sum(s.profit_usd for s in self.suppliers))
        out["energy_cash_usd"] = float(sum(s.cash_usd for s in self.suppliers))
        out["consumer_surplus_usd"] = self.consumer_surplus_usd()
        if capital.sum() > 0:
            mean = float((capital * thesis).sum() / capital.sum())
            out["investor_thesis_mean"] = mean
            out["investor_disagreement"] = float(
                np.sqrt((capital * (thesis - mean) ** 2).sum() / capital.sum())
            )
        else:
            out["investor_thesis_mean"] = out["investor_disagreement"] = float("nan")
        out["correction"] = bool(self._correction)
        out["entrants"] = self._entrants
        out["exits"] = self._exits
        return out

    # ================================================================== tables
    def strategy_table(self, firms: pd.DataFrame | None = None) -> pd.DataFrame:
        """The strategy mix by month: for each lineage (a strategy and its mutants) the firms
        alive, their share of model revenue and of customers, and the revenue-weighted mean of
        each evolving trait (a plain mean while the lineage earns nothing)."""
        firms = self.firm_table() if firms is None else firms
        columns = [
            "month",
            "date",
            "strategy",
            "archetype",
            "firms_alive",
            "revenue_share",
            "customer_share",
            *(f"mean_{t}" for t in EVOLVING_TRAITS),
        ]
        alive = firms[firms["alive"]]
        if alive.empty:
            return pd.DataFrame(columns=columns)
        traits = pd.DataFrame(
            [{"firm_id": b.firm_id, **b.strategy.traits()} for b in self.builders]
        )
        df = alive[
            ["month", "date", "firm_id", "strategy", "archetype", "model_revenue_usd", "customers"]
        ].merge(traits, on="firm_id")
        # Weight by revenue; a lineage with no revenue this month gets equal weights.
        revenue = df.groupby(["month", "strategy"])["model_revenue_usd"].transform("sum")
        df["w"] = np.where(revenue > 0, df["model_revenue_usd"], 1.0)
        for t in EVOLVING_TRAITS:
            df[f"w_{t}"] = df["w"] * df[t]
        g = df.groupby(["month", "strategy"], sort=True)
        out = g.agg(
            date=("date", "first"),
            archetype=("archetype", "first"),
            firms_alive=("firm_id", "size"),
            revenue_usd=("model_revenue_usd", "sum"),
            customers=("customers", "sum"),
            w=("w", "sum"),
            **{f"w_{t}": (f"w_{t}", "sum") for t in EVOLVING_TRAITS},
        ).reset_index()
        month_revenue = out.groupby("month")["revenue_usd"].transform("sum")
        month_customers = out.groupby("month")["customers"].transform("sum")
        out["revenue_share"] = np.where(month_revenue > 0, out["revenue_usd"] / month_revenue, 0.0)
        out["customer_share"] = np.where(
            month_customers > 0, out["customers"] / month_customers, 0.0
        )
        for t in EVOLVING_TRAITS:
            out[f"mean_{t}"] = out[f"w_{t}"] / out["w"]
        out["firms_alive"] = out["firms_alive"].astype("int64")
        return out[columns]

    def model_table(self) -> pd.DataFrame:
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        df["date"] = pd.to_datetime(df["date"])
        return df

    def firm_table(self) -> pd.DataFrame:
        df = self.datacollector.get_agenttype_vars_dataframe(ModelBuilder).reset_index()
        df = df.dropna(subset=["AgentID"])  # months before any builder existed
        if df.empty:
            return pd.DataFrame(columns=["month", "date", "firm_id", *FIRM_COLUMNS])
        ids = {b.unique_id: b.firm_id for b in self.builders}
        df["firm_id"] = df["AgentID"].map(ids).astype("int64")
        df["month"] = df["Step"].round().astype("int64") - 1
        dates = {m: self.start + pd.DateOffset(months=int(m)) for m in df["month"].unique()}
        df["date"] = df["month"].map(dates)
        df = df.drop(columns=["Step", "AgentID"])
        df["customers"] = df["customers"].astype("int64")
        df["alive"] = df["alive"].astype(bool)
        return df[["month", "date", "firm_id", *FIRM_COLUMNS]].sort_values(
            ["month", "firm_id"], ignore_index=True
        )


_METRIC_NAMES = [
    "month",
    "date",
    *[f"share_revenue_{a}" for a in ARCHETYPES],
    *[f"share_customers_{a}" for a in ARCHETYPES],
    *[f"alive_{a}" for a in ARCHETYPES],
    "n_firms_alive",
    "hhi_revenue",
    "frontier_capability",
    "best_open_capability",
    "open_lag_months",
    "frontier_training_flop",
    "token_price_usd_per_mtok",
    *[f"token_price_{a}_usd_per_mtok" for a in ARCHETYPES],
    "compute_price_usd_per_gpu_hour",
    "energy_price_usd_per_mwh",
    "compute_utilisation",
    "installed_gpus_h100e",
    "usable_gpus_h100e",
    "dc_energy_twh_per_year",
    "dc_grid_share",
    "grid_demand_twh_per_year",
    "adoption_rate",
    *[f"adoption_rate_{c}" for c in SIZE_CLASSES],
    *[f"spend_usd_{c}_{a}" for c in SIZE_CLASSES for a in ARCHETYPES],
    *[f"customer_share_{c}_{a}" for c in SIZE_CLASSES for a in ARCHETYPES],
    "unserved_mtok",
    "customers_turned_away",
    "adopters_positive_roi_share",
    "churn_rate",
    "switch_rate",
    "provider_churn_rate",
    "cum_ai_capex_usd",
    "cum_ai_revenue_usd",
    "ai_revenue_usd_per_year",
    "required_revenue_usd_per_year",
    "investor_capital_usd",
    "investor_stakes_usd",
    "investor_return",
    "revenue_multiple",
    "funding_usd",
    "parent_transfers_usd",
    "sentiment",
    "investor_thesis_mean",
    "investor_disagreement",
    "correction",
    "entrants",
    "exits",
    *[f"profit_usd_{a}" for a in ARCHETYPES],
    "cloud_revenue_usd",
    "cloud_profit_usd",
    "cloud_cash_usd",
    "energy_revenue_usd",
    "energy_profit_usd",
    "energy_cash_usd",
    "consumer_surplus_usd",
]


def _metric(name: str):
    def report(model: AIEcosystemModel):
        return model.metrics[name]

    return report


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0

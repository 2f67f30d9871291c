"""The AI industry, one month at a time.

`AIEcosystemModel.step` is the month of DESIGN.md in order: energy, compute, builders,
enterprises, settlement, investors, investment/exit/entry, outputs. Agents decide (builders,
enterprises, suppliers, investors in `aiecosim.agents`); markets clear (the mechanism modules);
the model only sequences them and keeps the books.
"""

from __future__ import annotations

import math
import time

import mesa
import numpy as np
import pandas as pd
from aiecosim.agents.builders import ModelBuilder, ReleasedModel
from aiecosim.agents.energy import EnergySupplier
from aiecosim.agents.enterprises import Enterprise, EnterprisePopulation, Offers
from aiecosim.agents.investors import Investor
from aiecosim.agents.strategy import ARCHETYPES, EVOLVING_TRAITS, Strategy
from aiecosim.books import check_books
from aiecosim.capability import CapabilityLaw
from aiecosim.capital_market import CapitalMarket
from aiecosim.compute_market import ComputeMarket
from aiecosim.config import SimConfig
from aiecosim.energy_market import HOURS_PER_YEAR, EnergyMarket
from aiecosim.network import AdoptionNetwork

IDLE_POWER_SHARE = 0.4  # an idle accelerator still draws ~40% of its power (cooling, standby)

FIRM_COLUMNS = {
    "name": "name",
    "archetype": "archetype",
    "strategy": lambda b: b.strategy.name,
    "cash_usd": "cash_usd",
    "revenue_usd": "revenue_usd",
    "model_revenue_usd": "model_revenue_usd",
    "costs_usd": "costs_usd",
    "funding_usd": "funding_usd",
    "capability": "capability",
    "price_usd_per_mtok": "price_usd_per_mtok",
    "customers": "customers",
    "alive": "alive",
}


class _Peers:
    """Network influence for the enterprise decision, by provider (one sparse product each)."""

    def __init__(self, network: AdoptionNetwork, provider: np.ndarray, n_firms: int):
        self.network, self.provider, self.n_firms = network, provider, n_firms

    def adopting(self, rows):
        return self.network.adopting_neighbour_share(self.provider, rows)

    def by_provider(self, rows):
        return self.network.neighbour_shares(self.provider, self.n_firms, rows)


class AIEcosystemModel(mesa.Model):
    """Frontier labs, integrated giants and open-source builders competing for enterprises, in
    compute and energy markets, funded by investors whose sentiment can turn."""

    def __init__(
        self, config: SimConfig | None = None, rng: int | None = None, check: bool = False
    ):
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
        inv = cfg.investors
        self.capital_market = CapitalMarket(
            inv.sentiment_adjustment,
            inv.patience_months,
            inv.optimism,
            inv.capex_payback_years,
            inv.capex_share_of_revenue,
            inv.funding_sensitivity,
            inv.correction_threshold,
            inv.correction_markdown,
            inv.w_fit,
            inv.w_perf,
        )

        # --- agents
        self.suppliers = [
            EnergySupplier(self, spec, cfg.energy.lead_time_multiplier)
            for spec in cfg.energy.suppliers
        ]
        self.investors = self._create_investors()
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
        self.events: list[dict] = []
        self._entrants = self._exits = 0
        self._correction = False
        self._funding_usd = 0.0

        # Adoption as it stands at the start: a share of enterprises already use a provider and
        # have used it for a while.
        self._offers = self._publish_offers_at_start()
        self.enterprises.decide(
            self._offers, len(self.builders), self._peers(), 0.0, self.rng, initial=True
        )
        self.enterprises.months_with_provider[self.enterprises.adopted] = self.rng.integers(
            0, 6, size=int(self.enterprises.adopted.sum())
        )

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
        for builder in self.builders:
            builder.open_books()
        self.training_gpu_hours = self.inference_gpu_hours = 0.0
        self._entrants = self._exits = 0
        self._funding_usd = 0.0

        # 1. Energy: new plants come online; merit order against last month's demand.
        for supplier in self.suppliers:
            supplier.update_costs(m, cfg.energy.marginal_cost_growth_per_year)
            supplier.commission(m)
        self.energy = self.energy_market.clear(
            np.array([s.capacity_mw for s in self.suppliers]),
            np.array([s.marginal_cost_usd_per_mwh for s in self.suppliers]),
            self._grid_demand_mw(m),
        )
        self.energy_price_usd_per_mwh = self.energy.price_usd_per_mwh
        self._update_price_expectation()

        # 2. Compute: usable capacity = min(installed, what the power allows); price.
        self.compute_market.update_capacity(m, self._giants_grid_draw_mw())
        self.compute_market.set_price(m, self.energy_price_usd_per_mwh)

        # 3. Builders: train (rationed when compute is short), release, price; offers published.
        for builder in alive:
            builder.improve_serving()
        requests = np.array([b.training_request_gpu_hours() for b in alive])
        granted = self.compute_market.ration_training(requests, self.last_inference_gpu_hours)
        self.training_gpu_hours_wanted = float(requests.sum())
        self.inference_gpu_hours_wanted = 0.0
        for builder, share in zip(alive, granted, strict=True):
            builder.advance_training(float(share))
        for builder in alive:
            builder.set_price()
        self._offers = offers = self._publish_offers()

        # 4. Enterprises choose among the offers (one array computation), use tokens, churn.
        self.outcome = outcome = self.enterprises.decide(
            offers,
            len(self.builders),
            self._peers(),
            self._demand_mtok(m),
            self.rng,
            serve=self._serve,
        )

        # 5. Settlement: builders book revenue, buy inference compute, pay their costs.
        self._settle(offers, outcome)

        # 6. Investors: sentiment from revenue against capex; funding rounds.
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
        """Power drawn by AI accelerators (cloud fleet and the giants' own), MW."""
        kw = self.compute_market.power_kw_per_h100e(self.month)
        duty = IDLE_POWER_SHARE + (1 - IDLE_POWER_SHARE) * min(1.0, utilisation)
        owned = sum(b.owned_gpus_h100e for b in self.builders if b.alive)
        return (self.compute_market.usable_gpus_h100e * duty + owned) * kw / 1000

    def _giants_grid_draw_mw(self) -> float:
        """Grid power the integrated giants' fleets draw beyond their own plants, MW."""
        kw = self.compute_market.power_kw_per_h100e(self.month)
        return sum(
            max(0.0, b.owned_gpus_h100e * kw / 1000 - b.owned_energy_mw)
            for b in self.builders
            if b.alive
        )

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
            builder.set_price()
        return self._publish_offers()

    def _publish_offers(self) -> Offers:
        """Each alive builder with a model offers it by API; open weights can also be self-hosted
        by the enterprise, which then pays rented compute (with an overhead) instead of a price."""
        rows = []
        n_sectors = self.cfg.enterprises.n_sectors
        e = self.cfg.enterprises
        for b in self.alive_builders():
            if not b.released:
                continue
            specialised = np.zeros(n_sectors, dtype=bool)
            specialised[list(b.strategy.specialised_sectors)] = True
            privacy = e.open_api_privacy if b.open_weights else 0.0
            hours = b.gpu_hours_per_mtok()
            rows.append(
                (
                    b.firm_id,
                    False,
                    b.capability,
                    b.price_usd_per_mtok,
                    privacy,
                    specialised,
                    b.strategy.lock_in_strength,
                    hours,
                )
            )
            if b.open_weights:
                self_host_hours = hours * e.self_host_overhead
                # The enterprise rents the compute and pays the builder a support fee: the fee
                # is a share of what it spends, the rest pays for the GPU-hours.
                fee = self.cfg.builders.open_support_fee_share
                compute_cost = self_host_hours * self.compute_market.price_usd_per_gpu_hour
                self_host_price = compute_cost / (1 - fee)
                rows.append(
                    (
                        b.firm_id,
                        True,
                        b.capability,
                        self_host_price,
                        1.0,
                        specialised,
                        0.0,
                        self_host_hours,
                    )
                )
        self._offer_gpu_hours_per_mtok = np.array([r[-1] for r in rows])
        rows = [r[:-1] for r in rows]
        if not rows:
            empty = np.zeros(0)
            return Offers(
                empty.astype(int),
                empty.astype(bool),
                empty,
                empty,
                empty,
                np.zeros((0, n_sectors), dtype=bool),
                empty,
            )
        cols = list(zip(*rows, strict=True))
        return Offers(
            provider=np.array(cols[0], dtype=np.int64),
            self_hosted=np.array(cols[1], dtype=bool),
            capability=np.array(cols[2], dtype=float),
            price_usd_per_mtok=np.array(cols[3], dtype=float),
            privacy=np.array(cols[4], dtype=float),
            specialised=np.array(cols[5], dtype=bool).reshape(len(rows), n_sectors),
            lock_in=np.array(cols[6], dtype=float),
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
        # Self-hosting enterprises rent compute themselves (the overhead is idle capacity).
        self.inference_gpu_hours += float(
            (outcome.mtok_by_offer[hosted] * self._offer_gpu_hours_per_mtok[hosted]).sum()
        )
        for b in self.alive_builders():
            i = b.firm_id
            b.customers = int(customers[i])
            b.model_revenue_usd = float(api_rev[i] + support_rev[i])
            b.settle(float(api_mtok[i]), float(api_rev[i]), float(support_rev[i]))
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
        self.last_inference_gpu_hours = self.inference_gpu_hours
        for b in self.alive_builders():
            b.close_books()
        self.month_ai_revenue_usd = float(outcome.spend_usd_by_offer.sum())
        self.cum_ai_revenue_usd += self.month_ai_revenue_usd

    def _invest_and_fund(self, m: int) -> None:
        inv = self.cfg.investors
        cm = self.capital_market
        self._correction = cm.update_sentiment(
            m, self.month_ai_revenue_usd * 12, np.asarray(self.capex_history_usd)
        )
        if self._correction:
            for investor in self.investors:
                investor.mark_down(inv.correction_markdown)
            self.events.append({"month": m, "event": "valuation correction"})
        alive = self.alive_builders()
        if alive and self.investors:
            asks = np.array([b.funding_ask_usd() for b in alive])
            orientation = np.array([b.strategy.scale_orientation for b in alive])
            performance = self._performance(alive)
            thesis = np.array([i.thesis for i in self.investors])
            budgets = np.array(
                [
                    i.budget_usd(inv.deploy_share_per_month, cm.funding_factor)
                    for i in self.investors
                ]
            )
            invested = cm.allocate(thesis, budgets, orientation, performance, asks)
            for investor, amount in zip(self.investors, invested.sum(axis=1), strict=True):
                investor.invest(float(amount))
            for builder, amount in zip(alive, invested.sum(axis=0), strict=True):
                if amount > 0:
                    builder.receive_funding(float(amount))
            self._funding_usd = float(invested.sum())
        # New money arrives in proportion to each fund's size, more when sentiment is good.
        total = sum(i.capital_usd for i in self.investors)
        for investor in self.investors:
            weight = investor.capital_usd / total if total > 0 else 1 / len(self.investors)
            investor.receive_inflow(inv.inflow_usd_per_month * cm.funding_factor * weight)
        winner = self._winning_orientation()
        if winner is not None:
            for investor in self.investors:
                investor.learn(winner, inv.thesis_learning_rate)

    def _performance(self, alive: list[ModelBuilder]) -> np.ndarray:
        """Capability relative to the frontier plus recent revenue growth (bounded)."""
        frontier = max((b.capability for b in alive), default=0.0) or 1.0
        capability = np.array([b.capability / frontier for b in alive])
        growth = np.tanh(np.array([b.revenue_growth() for b in alive]))
        return capability + growth

    def _winning_orientation(self) -> float | None:
        revenue = np.array([b.model_revenue_usd for b in self.builders])
        if revenue.sum() <= 0:
            return None
        orientation = np.array([b.strategy.scale_orientation for b in self.builders])
        return float((revenue * orientation).sum() / revenue.sum())

    def _build_out(self, m: int) -> None:
        c = self.cfg.compute
        for supplier in self.suppliers:
            supplier.invest(m, self.expected_energy_price_usd_per_mwh)
        market = self.compute_market
        production = c.gpu_production_h100e_per_month * (1 + c.gpu_production_growth_per_year) ** (
            m / 12
        )
        _, capex = market.retire_and_install(m, production)
        capex += sum(b.capex_usd for b in self.builders)
        # New grid connections for data centres, limited by spare generation.
        connect = c.dc_power_growth_mw_per_month * (1 + c.dc_power_growth_per_year) ** (m / 12)
        spare_generation = max(0.0, self.energy.capacity_mw - self.energy.demand_mw)
        market.dc_power_capacity_mw += min(connect, spare_generation)
        self.capex_history_usd.append(capex)
        self.cum_ai_capex_usd += capex
        self.month_capex_usd = capex
        self.ai_dc_mw = self._ai_dc_mw(market.utilisation)

    def _add_builder(self, strategy: Strategy, entrant: bool) -> ModelBuilder:
        cfg = self.cfg
        cash = strategy.initial_cash_usd * (cfg.builders.entrant_cash_share if entrant else 1.0)
        same = sum(1 for b in self.builders if b.strategy.name == strategy.name) + 1
        label = strategy.name.replace("_", " ").title()
        builder = ModelBuilder(self, strategy, f"{label} {same}", cash)
        builder.firm_id = len(self.builders)
        self.builders.append(builder)
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
        customers = np.array([b.customers if b.alive else 0 for b in builders], dtype=float)
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
        out["frontier_training_flop"] = max(
            (r.training_flop for b in builders for r in b.released), default=0.0
        )
        api = ~self._offers.self_hosted
        mtok = outcome.mtok_by_offer[api].sum()
        out["token_price_usd_per_mtok"] = (
            float(outcome.spend_usd_by_offer[api].sum() / mtok) if mtok > 0 else float("nan")
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
        n = self.enterprises.n
        adopters = outcome.adopters
        out["adoption_rate"] = adopters / n
        out["adopters_positive_roi_share"] = outcome.positive_return / adopters if adopters else 0.0
        out["churn_rate"] = outcome.churned / adopters if adopters else 0.0
        out["switch_rate"] = outcome.switched / adopters if adopters else 0.0
        # What a provider calls churn: customers lost this month, to a rival or to no AI at all.
        out["provider_churn_rate"] = out["churn_rate"] + out["switch_rate"]
        out["cum_ai_capex_usd"] = self.cum_ai_capex_usd
        out["cum_ai_revenue_usd"] = self.cum_ai_revenue_usd
        out["ai_revenue_usd_per_year"] = self.month_ai_revenue_usd * 12
        out["required_revenue_usd_per_year"] = self.capital_market.required_revenue_usd_per_year
        capital = np.array([i.capital_usd for i in self.investors])
        thesis = np.array([i.thesis for i in self.investors])
        out["investor_capital_usd"] = float(capital.sum())
        out["funding_usd"] = self._funding_usd
        out["sentiment"] = self.capital_market.sentiment
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
    "compute_price_usd_per_gpu_hour",
    "energy_price_usd_per_mwh",
    "compute_utilisation",
    "installed_gpus_h100e",
    "usable_gpus_h100e",
    "dc_energy_twh_per_year",
    "dc_grid_share",
    "grid_demand_twh_per_year",
    "adoption_rate",
    "adopters_positive_roi_share",
    "churn_rate",
    "switch_rate",
    "provider_churn_rate",
    "cum_ai_capex_usd",
    "cum_ai_revenue_usd",
    "ai_revenue_usd_per_year",
    "required_revenue_usd_per_year",
    "investor_capital_usd",
    "funding_usd",
    "sentiment",
    "investor_thesis_mean",
    "investor_disagreement",
    "correction",
    "entrants",
    "exits",
]


def _metric(name: str):
    def report(model: AIEcosystemModel):
        return model.metrics[name]

    return report

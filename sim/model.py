"""The AI industry, one month at a time.

`AIEcosystemModel.step` is the month of docs/odd.md (section 3) in order: open the month,
energy, compute, builders, enterprises, settlement, funding, build-out/exit/entry, outputs.
Agents decide (builders, enterprises, suppliers, investors in `aiecosim.agents`) and return
what they did; markets clear (the mechanism modules); the model sequences them, adds up the
month's totals and keeps the books. The token market (offers, prices, serving) is
`aiecosim.token_market`, the money side of the month `aiecosim.funding`, the grid's demand and
power bills `aiecosim.power`; what a month measures is `aiecosim.metrics`.
"""

from __future__ import annotations

import time

import mesa
import numpy as np
import pandas as pd
from aiecosim.agents.builders import ModelBuilder, entrant_strategy
from aiecosim.agents.energy import EnergySupplier
from aiecosim.agents.enterprises import (
    Enterprise,
    EnterprisePopulation,
    MonthOutcome,
    Offers,
    Peers,
    potential_demand_mtok,
)
from aiecosim.agents.investors import Investor
from aiecosim.agents.strategy import Strategy
from aiecosim.books import check_books
from aiecosim.config import ConfigError, SimConfig
from aiecosim.funding import FundingMonth, fund, initial_stakes
from aiecosim.ledger import Account, Ledger
from aiecosim.markets.capability import CapabilityLaw
from aiecosim.markets.capital import CapitalMarket
from aiecosim.markets.compute import ComputeMarket
from aiecosim.markets.energy import EnergyMarket
from aiecosim.markets.network import AdoptionNetwork
from aiecosim.metrics import (
    consumer_surplus_usd,
    firm_row,
    firm_table,
    measure,
    model_reporters,
    model_table,
    strategy_table,
    surplus_sample,
)
from aiecosim.power import cloud_draw_mw, grid_demand_mw, pay_power_bills
from aiecosim.token_market import TokenMarket
from mesa.agentset import AgentSet

# Month 0 rations training against "last month's" inference, which the start does not know:
# half the usable cloud capacity, so a first month of training plans meets a market neither
# empty nor full.
START_INFERENCE_SHARE = 0.5


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
        self.start = pd.Timestamp(cfg.run.start_date)
        self._month_open = False  # inside a step (see `month`)

        # --- markets, each from its config section
        self.capability_law = CapabilityLaw.from_config(cfg.capability, cfg.compute)
        self.energy_market = EnergyMarket.from_config(cfg.energy)
        self.compute_market = ComputeMarket.from_config(cfg.compute)
        self.capital_market = CapitalMarket.from_config(cfg.investors)
        # --- the flow of funds: every inside account is registered with the ledger
        self.ledger = Ledger()
        self.energy_exchange = Account("energy exchange")
        self.ledger.register(self.compute_market)  # the cloud sector's books
        self.ledger.register(self.energy_exchange)

        # --- agents: Mesa keeps each kind in an AgentSet, in the order they are created
        e = cfg.energy
        EnergySupplier.create_agents(
            self,
            len(e.suppliers),
            e.suppliers,
            e.lead_time_multiplier,
            e.plant_life_years,
            e.plant_cost_of_capital,
        )
        Investor.funds(self, cfg.investors)
        for account in (*self.suppliers, *self.investors):
            self.ledger.register(account)
        self.strategies: dict[str, Strategy] = cfg.strategy_table()
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
        # the token market, between the builders, the enterprises and the cloud
        self.token_market = TokenMarket.from_config(
            cfg.builders, self.enterprises, self.compute_market
        )

        # --- state carried between months
        c = cfg.compute
        self.energy_price_usd_per_mwh = 0.0
        self.expected_energy_price_usd_per_mwh: float | None = None
        self._draw_ai_power(utilisation=c.target_utilisation)
        self.month_ai_revenue_usd = 0.0
        self.training_gpu_hours = self.inference_gpu_hours = 0.0
        self.last_inference_gpu_hours = (
            self.compute_market.capacity_gpu_hours * START_INFERENCE_SHARE
        )
        # The build-out made before the start date: steady replacement of today's fleet.
        window = int(round(cfg.investors.capex_payback_years * 12))
        prior_capex = c.installed_gpus_h100e * c.capex_usd_per_h100e / c.gpu_life_months
        self.capex_history_usd: list[float] = [prior_capex] * window
        self.cum_ai_capex_usd = 0.0
        self.cum_ai_revenue_usd = 0.0
        self.frontier_history: list[float] = []
        self.largest_run_flop = 0.0  # largest training run released so far, any firm
        self.events: list[dict] = []
        self.entrants_this_month = self.exits_this_month = 0  # counted for the metrics
        self.funding = FundingMonth()  # what the month's funding did
        self._adopt_at_start()

        self.datacollector = mesa.DataCollector(model_reporters=model_reporters())
        # Each month's firm rows, (month, [firm_row(b) for every builder, in firm_id order]),
        # kept here rather than by a DataCollector agent-type reporter: `firm_table` reads them
        # in 10 ms, where Mesa's indexed DataFrame of them took 22-41 ms.
        self.firm_rows: list[tuple[int, list[tuple]]] = []
        self.setup_seconds = time.perf_counter() - t0

    # ================================================================== the month
    def step(self) -> None:
        """One month, in the order of docs/odd.md section 3 (Mesa has counted it in `steps`)."""
        self._month_open = True
        m = self.month
        alive = self._open_month()
        # 1. Energy: new plants come online; merit order against last month's demand; bills.
        self._clear_energy(m)
        # 2. Compute: usable capacity = min(installed, what the power allows); price.
        self.compute_market.update_capacity(m, self._giants_grid_draw_mw())
        self.compute_market.set_price(m, self.energy_price_usd_per_mwh)
        # 3. Builders: train (rationed when compute is short), release; the token market opens:
        #    offers published, shoppers drawn, prices set against them.
        self._train(alive)
        peers, demand_mtok = self.peers(), potential_demand_mtok(self.cfg.enterprises, m)
        shopping = self.token_market.open(self.builders, peers, demand_mtok, self.rng)
        # 4. Enterprises choose among the offers (one array computation), use tokens, churn.
        self.outcome = self.enterprises.decide(
            self.offers,
            len(self.builders),
            peers,
            demand_mtok,
            self.rng,
            serve=self.serve,
            shopping=shopping,
        )
        # 5. Settlement: builders book revenue, buy inference compute, pay their costs.
        self._settle(self.outcome)
        # 6. Funding: outlooks and marks; parents and investors fund; sentiment follows returns.
        self._fund(m)
        # 7. Suppliers and the cloud build out; insolvent builders exit; entrants appear.
        self._build_out(m)
        self._exit_insolvent()
        self._enter()
        # 8. Outputs: the month's measures, the books checked, the model and firm rows recorded.
        self._measure(self.outcome)
        self._month_open = False
        if self.steps >= self.cfg.run.steps:
            self.running = False

    @property
    def month(self) -> int:
        """The month the model is in, from 0, by Mesa's step counter (which Mesa advances
        before a step runs): during a step the month being simulated, between steps the next
        one, which is also the number of months simulated so far."""
        return self.steps - 1 if self._month_open else self.steps

    # ================================================================== the agents
    def _agents(self, kind: type) -> AgentSet:
        """Mesa's AgentSet of the agents of `kind`, in the order they were created."""
        return self.agents_by_type.get(kind) or AgentSet([], random=self.random)

    @property
    def builders(self) -> list[ModelBuilder]:
        """Every builder ever created, exited ones included; list index = firm_id (builders
        are created in firm_id order and never removed)."""
        return list(self._agents(ModelBuilder))

    @property
    def suppliers(self) -> list[EnergySupplier]:
        return list(self._agents(EnergySupplier))

    @property
    def investors(self) -> list[Investor]:
        return list(self._agents(Investor))

    def alive_builders(self) -> list[ModelBuilder]:
        # (a comprehension: AgentSet.select would build a weak-keyed set on every call)
        return [b for b in self._agents(ModelBuilder) if b.alive]

    def enterprise_agents(self) -> AgentSet:
        """A Mesa agent per enterprise cohort, a read-only view onto its row of the population
        (for inspection; the month runs on the arrays). Created on first request: at 200,000
        cohorts they would take half the set-up time."""
        if Enterprise not in self.agents_by_type:
            n = self.enterprises.n
            Enterprise.create_agents(self, n, self.enterprises, np.arange(n))
        return self.agents_by_type[Enterprise]

    def _add_builder(self, strategy: Strategy, entrant: bool) -> ModelBuilder:
        """A new firm (an incumbent, or an entrant sized on the alive firms of its kind), with
        the next firm_id, registered with the ledger and the capital market."""
        builders = self.builders
        same = sum(1 for b in builders if b.strategy.name == strategy.name) + 1
        name = f"{strategy.name.replace('_', ' ').title()} {same}"
        if entrant:
            kind = strategy.archetype
            peers = [b.last_training_flop for b in builders if b.alive and b.archetype == kind]
            builder = ModelBuilder.entrant(self, strategy, name, peers)
        else:
            builder = ModelBuilder.incumbent(self, strategy, name)
        builder.firm_id = len(builders)
        self.ledger.register(builder)
        self.capital_market.add_firm()
        return builder

    # ================================================================== the start
    def _adopt_at_start(self) -> None:
        """Adoption as it stands at the start: a share of enterprises already use a provider,
        at prices near the Nash prices, and have used it for a while; firms have the serving
        compute their customers use; investors own part of the venture-funded incumbents."""
        pop = self.enterprises
        peers, demand_mtok = self.peers(), potential_demand_mtok(self.cfg.enterprises, 0)
        self._clear_electricity(0)
        self.compute_market.update_capacity(0, self._giants_grid_draw_mw())
        self.compute_market.set_price(0, self.energy_price_usd_per_mwh)
        shopping = self.token_market.open(self.builders, peers, demand_mtok, self.rng, start=True)
        offers, n_firms, builders = self.offers, len(self.builders), self.builders
        start = pop.decide(
            offers, n_firms, peers, demand_mtok, self.rng, initial=True, shopping=shopping
        )
        api = ~offers.self_hosted
        for firm, mtok in zip(offers.provider[api], start.mtok_by_offer[api], strict=True):
            builders[firm].serving_capacity_mtok_per_month = float(mtok)
        pop.months_with_provider[pop.adopted] = self.rng.integers(0, 6, size=int(pop.adopted.sum()))
        pop.negative_months[:] = 0  # the start is not a month of losses
        self.surplus_rows = surplus_sample(pop)
        self.network.keep_rows(self.surplus_rows)
        fee_share = np.where(offers.self_hosted, self.cfg.builders.open_support_fee_share, 1.0)
        start_revenue = np.bincount(
            offers.provider, weights=start.spend_usd_by_offer * fee_share, minlength=n_firms
        )
        initial_stakes(
            builders, self.investors, self.capital_market, self.cfg.investors, start_revenue
        )

    # ================================================================== 0-2: open, energy, compute
    def _open_month(self) -> list[ModelBuilder]:
        """The books and the month's totals start at zero. Returns the builders alive now: no
        builder exits before phase 7, so these act in phases 1-6."""
        self.ledger.open_month()
        self._agents(ModelBuilder).do("open_books")
        self._agents(EnergySupplier).do("open_books")
        self.training_gpu_hours = self.inference_gpu_hours = 0.0
        self.inference_gpu_hours_wanted = 0.0
        self.entrants_this_month = self.exits_this_month = 0
        return self.alive_builders()

    def _clear_energy(self, m: int) -> None:
        """Plants whose lead time has passed come online; the AI draw is set from last month's
        compute use; the merit order clears; suppliers update their price expectation (an
        exponential average); every buyer pays its power bill (`aiecosim.power`)."""
        growth = self.cfg.energy.marginal_cost_growth_per_year
        self._agents(EnergySupplier).do("update_costs", m, growth).do("commission", m)
        self._draw_ai_power(self.compute_market.utilisation)
        self._clear_electricity(m)
        price = self.energy_price_usd_per_mwh
        if self.expected_energy_price_usd_per_mwh is None:
            self.expected_energy_price_usd_per_mwh = price
        weight = 1 / self.cfg.energy.price_expectation_months
        self.expected_energy_price_usd_per_mwh += weight * (
            price - self.expected_energy_price_usd_per_mwh
        )
        pay_power_bills(
            self.ledger,
            self.energy_exchange,
            self.energy,
            self.compute_market,
            self._cloud_mw,
            self.ai_dc_mw,
            self.alive_builders(),
            self.suppliers,
        )

    def _clear_electricity(self, month: int) -> None:
        """The merit order against grid demand (`aiecosim.power.grid_demand_mw`)."""
        suppliers = self._agents(EnergySupplier)
        self.energy = self.energy_market.clear(
            np.array(suppliers.get("capacity_mw")),
            np.array(suppliers.get("marginal_cost_usd_per_mwh")),
            grid_demand_mw(self.cfg.energy, month, self.ai_dc_mw),
        )
        self.energy_price_usd_per_mwh = self.energy.price_usd_per_mwh

    def _draw_ai_power(self, utilisation: float) -> None:
        """Grid power drawn by AI accelerators, MW: the cloud fleet at `utilisation`
        (`aiecosim.power.cloud_draw_mw`) and the giants' own fleets beyond their own plants."""
        self._cloud_mw = cloud_draw_mw(self.compute_market, self.month, utilisation)
        self.ai_dc_mw = self._cloud_mw + self._giants_grid_draw_mw()

    def _giants_grid_draw_mw(self) -> float:
        """Grid power the integrated giants' fleets draw beyond their own plants, MW."""
        return sum(b.grid_draw_mw() for b in self.alive_builders())

    # ================================================================== 3-4: builders, enterprises
    def _train(self, alive: list[ModelBuilder]) -> None:
        """Efficiency R&D; training compute asked for, rationed after last month's inference,
        used; models released. Adds up the market hours the runs rented."""
        open_released = sum(b.rd_released_usd for b in alive if b.open_weights)
        for builder in alive:
            builder.improve_serving(open_released)
        requests = np.array([b.training_request_gpu_hours() for b in alive])
        granted = self.compute_market.ration_training(requests, self.last_inference_gpu_hours)
        self.training_gpu_hours_wanted = float(requests.sum())
        for builder, share in zip(alive, granted, strict=True):
            done = builder.advance_training(float(share))
            self.training_gpu_hours += done.market_gpu_hours
            if done.released is not None:
                self.events.append(builder.release_event(done.released))

    def peers(self) -> Peers:
        """The network's influence on the enterprises' choice this month (`Peers`)."""
        return Peers(self.network, self.enterprises.provider, len(self.builders))

    @property
    def offers(self) -> Offers:
        """The month's offers at the month's prices (`TokenMarket.offers`)."""
        return self.token_market.offers

    def serve(self, mtok_by_offer: np.ndarray) -> np.ndarray:
        """Share of each offer's wanted tokens compute can serve, owners' own fleets first
        (`TokenMarket.serve`); records the inference hours wanted of the market."""
        served, self.inference_gpu_hours_wanted = self.token_market.serve(
            mtok_by_offer, self.builders, self.training_gpu_hours
        )
        return served

    # ================================================================== 5: settlement
    def _settle(self, outcome: MonthOutcome) -> None:
        """Self-hosters pay the cloud; each builder is paid for its tokens and support, pays
        its costs and lines up next month's serving; the giants rent out their spare hours;
        the cloud records the month's use and depreciates; the month's AI revenue is added up."""
        sales = self.token_market.sales(outcome, len(self.builders))
        # Self-hosting enterprises rent compute themselves (the overhead is idle capacity) and
        # pay the cloud for it: the part of their spend that is not the builder's support fee.
        self.inference_gpu_hours += sales.self_hosted_gpu_hours
        self.ledger.pay(
            self.ledger.outside["enterprises"],
            self.compute_market,
            sales.self_hosted_compute_usd,
            "self-hosted compute",
        )
        alive = self.alive_builders()
        # by firm, as Python floats (one conversion per array, not one per firm)
        api_mtok, api_usd, support_usd, requested_mtok, customers = (
            sales.api_mtok.tolist(),
            sales.api_revenue_usd.tolist(),
            sales.support_revenue_usd.tolist(),
            sales.requested_mtok.tolist(),
            sales.customers.tolist(),
        )
        for b in alive:
            i = b.firm_id
            b.customers = int(customers[i])
            b.model_revenue_usd = api_usd[i] + support_usd[i]
            self.inference_gpu_hours += b.settle(api_mtok[i], api_usd[i], support_usd[i])
            if b.released:
                b.line_up_serving(requested_mtok[i])
        market = self.compute_market
        giants = [b for b in alive if b.owned_gpus_h100e > 0]
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
        for b in alive:
            b.close_books()
        self.month_ai_revenue_usd = float(outcome.spend_usd_by_offer.sum())
        self.cum_ai_revenue_usd += self.month_ai_revenue_usd

    # ================================================================== 6: funding
    def _fund(self, m: int) -> None:
        """Outlooks and marks, parents' transfers, rounds, new money and sentiment
        (`aiecosim.funding.fund`); a correction is an event."""
        self.funding = fund(
            self.builders, self.investors, self.capital_market, self.ledger, self.cfg.investors, m
        )
        if self.funding.correction:
            self.events.append({"month": m, "event": "valuation correction"})

    # ================================================================== 7: build-out, exit, entry
    def _build_out(self, m: int) -> None:
        """Suppliers order plants; the cloud retires and installs chips; the month's AI capex
        is recorded; new grid connections for data centres, limited by spare generation."""
        c = self.cfg.compute
        self._agents(EnergySupplier).do("invest", m, self.expected_energy_price_usd_per_mwh)
        market = self.compute_market
        production = c.gpu_production_h100e_per_month * (1 + c.gpu_production_growth_per_year) ** (
            m / 12
        )
        _, capex = market.retire_and_install(m, production)
        self.ledger.pay(market, self.ledger.outside["chip_makers"], capex, "cloud capex")
        capex += sum(b.capex_usd for b in self.builders)
        connect = c.dc_power_growth_mw_per_month * (1 + c.dc_power_growth_per_year) ** (m / 12)
        spare_generation = max(0.0, self.energy.capacity_mw - self.energy.demand_mw)
        market.dc_power_capacity_mw += min(connect, spare_generation)
        self.capex_history_usd.append(capex)
        self.cum_ai_capex_usd += capex

    def _exit_insolvent(self) -> None:
        """Every alive builder whose cash is still negative after funding exits."""
        for builder in self.alive_builders():
            if builder.exit_if_insolvent():
                self.exits_this_month += 1
                self.events.append(builder.exit_event())

    def _enter(self) -> None:
        """Entrants arrive, Poisson(`builders.entry_rate_per_month`), up to `builders.max_firms`,
        each by imitation or a fresh draw (`_entrant_strategy`)."""
        b = self.cfg.builders
        for _ in range(int(self.rng.poisson(b.entry_rate_per_month))):
            if len(self.builders) >= b.max_firms:
                break
            strategy, imitated = self._entrant_strategy()
            if strategy is None:
                break
            builder = self._add_builder(strategy, entrant=True)
            self.entrants_this_month += 1
            self.events.append(builder.entry_event(imitated))

    def _entrant_strategy(self) -> tuple[Strategy | None, ModelBuilder | None]:
        """An entrant's strategy, by imitation or a fresh draw, and the firm it imitated
        (`aiecosim.agents.builders.entrant_strategy`)."""
        return entrant_strategy(self.alive_builders(), self.strategies, self.cfg.builders, self.rng)

    # ================================================================== 8: outputs
    def _measure(self, outcome) -> None:
        """Record the frontier and the largest run released so far (any firm, exited ones
        included: the scale trend), measure the month, check the books, collect."""
        alive = self.alive_builders()
        self.frontier_history.append(max((b.capability for b in alive), default=0.0))
        self.largest_run_flop = max(
            self.largest_run_flop,
            max((b.best_model.training_flop for b in alive if b.released), default=0.0),
        )
        self.metrics = measure(self, outcome)
        if self.check:
            check_books(self)
        self.datacollector.collect(self)
        self.firm_rows.append((self.month, list(map(firm_row, self.builders))))

    def consumer_surplus_usd(self, offers: Offers | None = None) -> float:
        """Enterprises' surplus from this month's menu, or from `offers` (USD per month):
        `aiecosim.metrics.consumer_surplus_usd`."""
        return consumer_surplus_usd(self, offers)

    def model_table(self) -> pd.DataFrame:
        return model_table(self)

    def firm_table(self) -> pd.DataFrame:
        return firm_table(self)

    def strategy_table(self, firms: pd.DataFrame | None = None) -> pd.DataFrame:
        return strategy_table(self, firms)

"""What a run measures: the month's row of the model table, the firm and strategy tables.

`measure` computes the month's row (docs/outputs.md defines every column and its unit) from the
model's state at the end of the month. The model keeps it as `model.metrics`, the books check
reads it, and Mesa's DataCollector records one column per name in `METRIC_NAMES` through
`month_value`. The firm table is one row per builder per month (`FIRM_COLUMNS`, collected by
the model month by month as `firm_rows`, each builder's row read by `firm_row`); the strategy
table aggregates it by lineage.

Two measures need more than the month: the open-weights lag reads the frontier's history
(`open_lag_months`), and consumer surplus integrates the nested logit over a fixed,
demand-weighted sample of enterprises (`consumer_surplus_usd`).
"""

from __future__ import annotations

import math
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from aiecosim.agents.builders import ModelBuilder
from aiecosim.agents.enterprises import (
    SIZE_CLASSES,
    EnterprisePopulation,
    MonthOutcome,
    Offers,
    potential_demand_mtok,
)
from aiecosim.agents.strategy import ARCHETYPES, EVOLVING_TRAITS
from aiecosim.markets.capability import CapabilityLaw
from aiecosim.markets.choice import consumer_surplus_usd_per_mtok
from aiecosim.markets.energy import HOURS_PER_YEAR
from aiecosim.power import non_ai_dc_mw

if TYPE_CHECKING:
    from aiecosim.model import AIEcosystemModel

SURPLUS_SAMPLE_ROWS = 256  # enterprises (drawn by demand) the consumer surplus is measured on
# Before the start date the frontier is extrapolated back at the historic growth of training
# compute, 4.5x a year (Epoch AI's trend for notable models, 2010-2024), times the algorithmic
# gain.
HISTORIC_COMPUTE_GROWTH_PER_YEAR = 4.5

METRIC_NAMES = [
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


# ============================================================================ the DataCollector
def month_value(model: AIEcosystemModel, name: str):
    """Mesa model reporter: this month's value of the metric `name`, as `measure` found it."""
    return model.metrics[name]


def model_reporters() -> dict:
    """One reporter per column of the model table, in the table's column order."""
    return {name: partial(month_value, name=name) for name in METRIC_NAMES}


#: The firm table's columns after month and firm_id: the builder's attribute each is read from.
#: valuation_usd is its investors' mark, NaN in the table for a firm no investor holds (a
#: giant's unit is its parent's): `firm_table` masks it with the `investor_owned` read too.
FIRM_COLUMNS = {
    "name": "name",
    "archetype": "archetype",
    "strategy": "strategy.name",
    "cash_usd": "cash_usd",
    "revenue_usd": "revenue_usd",
    "model_revenue_usd": "model_revenue_usd",
    "costs_usd": "costs_usd",
    "funding_usd": "funding_usd",
    "parent_transfer_usd": "parent_transfer_usd",
    "profit_usd": "profit_usd",
    "free_cash_flow_usd": "free_cash_flow_usd",
    "valuation_usd": "valuation_usd",
    "expected_value_usd": "expected_value_usd",
    "viable": "viable",
    "capability": "capability",
    "price_usd_per_mtok": "price_usd_per_mtok",
    "customers": "customers",
    "alive": "alive",
}
_FIRM_ROW_COLUMNS = [*FIRM_COLUMNS, "investor_owned", "firm_id"]
#: A builder's row this month as one tuple (`FIRM_COLUMNS`, `investor_owned`, `firm_id`), read
#: in one call; the model keeps each month's in `firm_rows`; `firm_table` spreads them out.
firm_row = attrgetter(*FIRM_COLUMNS.values(), "investor_owned", "firm_id")


# ============================================================================ the month's row
def measure(model: AIEcosystemModel, outcome: MonthOutcome) -> dict:
    """The month's row of the model table (the model has already recorded this month's
    frontier in `frontier_history` and its largest released run)."""
    m = model.month
    builders = model.builders
    alive = [b for b in builders if b.alive]
    kind = _archetype_index(builders)
    return {
        "month": m,
        "date": month_date(model.start, m),
        **_market_structure(model, outcome, builders, alive, kind),
        **_frontier(model, alive),
        **_token_prices(model, outcome, kind),
        **_compute_and_energy(model),
        **_enterprises(model, outcome, kind),
        **_capex_and_revenue(model),
        **_capital(model),
        **_scoreboard(model, alive),
    }


def month_date(start: pd.Timestamp, month: int) -> pd.Timestamp:
    """The date `month` calendar months after `start`: `start + pd.DateOffset(months=month)`,
    which, when every month has `start`'s day, is only a new year and month (and 20 times
    quicker)."""
    if start.day <= 28:
        years, month_index = divmod(start.month - 1 + month, 12)
        return start.replace(year=start.year + years, month=month_index + 1)
    return start + pd.DateOffset(months=month)


def _archetype_index(builders: list[ModelBuilder]) -> np.ndarray:
    """Each firm's archetype, as its index in `ARCHETYPES` (one per firm_id)."""
    return np.array([ARCHETYPES.index(b.archetype) for b in builders], dtype=np.int64)


def _market_structure(
    model: AIEcosystemModel,
    outcome: MonthOutcome,
    builders: list[ModelBuilder],
    alive: list[ModelBuilder],
    kind: np.ndarray,
) -> dict:
    """Revenue and customer shares by archetype, the firms alive, concentration (HHI)."""
    revenue = np.array([b.model_revenue_usd if b.alive else 0.0 for b in builders])
    # Customers in organisations (each cohort stands for a share of the world's), so the
    # shares do not depend on how many cohorts a size class is simulated with.
    customers = np.bincount(
        model.offers.provider, weights=outcome.organisations_by_offer, minlength=len(builders)
    )
    total_rev = revenue.sum()
    total_cust = customers.sum()
    out = {}
    for j, a in enumerate(ARCHETYPES):
        mask = kind == j
        out[f"share_revenue_{a}"] = float(revenue[mask].sum() / total_rev) if total_rev > 0 else 0.0
        out[f"share_customers_{a}"] = (
            float(customers[mask].sum() / total_cust) if total_cust > 0 else 0.0
        )
    alive_archetypes = [b.archetype for b in alive]
    for a in ARCHETYPES:
        out[f"alive_{a}"] = alive_archetypes.count(a)
    out["n_firms_alive"] = len(alive)
    shares = revenue / total_rev if total_rev > 0 else revenue
    out["hhi_revenue"] = float((shares**2).sum() * 10_000)
    return out


def _frontier(model: AIEcosystemModel, alive: list[ModelBuilder]) -> dict:
    """The best capability, closed and open, the open-weights lag, the largest run so far."""
    frontier = model.frontier_history[-1]
    best_open = max((b.capability for b in alive if b.open_weights), default=0.0)
    return {
        "frontier_capability": frontier,
        "best_open_capability": best_open,
        "open_lag_months": open_lag_months(model.frontier_history, best_open, model.capability_law),
        "frontier_training_flop": model.largest_run_flop,
    }


def open_lag_months(frontier_history: list[float], best_open: float, law: CapabilityLaw) -> float:
    """Months since the frontier first reached today's best open capability. Before the
    start date the frontier's path is extrapolated from its historic effective-compute
    growth (`HISTORIC_COMPUTE_GROWTH_PER_YEAR` times the algorithmic gain)."""
    frontier = frontier_history[-1]
    if best_open <= 0:
        return float("nan")
    if best_open >= frontier:
        return 0.0
    history = np.asarray(frontier_history)
    reached = np.flatnonzero(history >= best_open)
    if len(reached):
        return float(len(history) - 1 - reached[0])
    first = history[0]
    growth = HISTORIC_COMPUTE_GROWTH_PER_YEAR * law.algorithmic_efficiency(12)
    needed = law.flop_for_capability(best_open, 0)
    at_start = law.flop_for_capability(first, 0)
    before = 12 * math.log(at_start / needed) / math.log(growth) if needed > 0 else 0.0
    return float(len(history) - 1 + max(0.0, before))


def _token_prices(model: AIEcosystemModel, outcome: MonthOutcome, kind: np.ndarray) -> dict:
    """The mean API token price, overall and by archetype, over the tokens sold (NaN when none
    were): the premium one archetype earns over another."""
    offers = model.offers
    api = ~offers.self_hosted
    mtok_by_offer, spend_by_offer = outcome.mtok_by_offer[api], outcome.spend_usd_by_offer[api]
    mtok = mtok_by_offer.sum()
    out = {
        "token_price_usd_per_mtok": (
            float(spend_by_offer.sum() / mtok) if mtok > 0 else float("nan")
        )
    }
    api_kind = kind[offers.provider[api]]
    for j, a in enumerate(ARCHETYPES):
        mine = api_kind == j
        sold = mtok_by_offer[mine].sum()
        out[f"token_price_{a}_usd_per_mtok"] = (
            float(spend_by_offer[mine].sum() / sold) if sold > 0 else float("nan")
        )
    return out


def _compute_and_energy(model: AIEcosystemModel) -> dict:
    """The compute market's price, use and fleet; electricity's price, and data centres' share
    of the grid."""
    market = model.compute_market
    energy = model.energy
    dc_mw = non_ai_dc_mw(model.cfg.energy, model.month) + model.ai_dc_mw
    return {
        "compute_price_usd_per_gpu_hour": market.price_usd_per_gpu_hour,
        "energy_price_usd_per_mwh": model.energy_price_usd_per_mwh,
        "compute_utilisation": market.utilisation,
        "installed_gpus_h100e": market.installed_gpus_h100e,
        "usable_gpus_h100e": market.usable_gpus_h100e,
        "dc_energy_twh_per_year": dc_mw * HOURS_PER_YEAR / 1e6,
        "dc_grid_share": dc_mw / energy.served_mw if energy.served_mw > 0 else float("nan"),
        "grid_demand_twh_per_year": energy.demand_mw * HOURS_PER_YEAR / 1e6,
    }


def _enterprises(model: AIEcosystemModel, outcome: MonthOutcome, kind: np.ndarray) -> dict:
    """Adoption, returns and churn; the market by enterprise size: each class's adoption, its
    spend (USD/month) and the share of its organisations buying from each archetype."""
    adopters = outcome.adopters
    churn = outcome.churned / adopters if adopters else 0.0
    switch = outcome.switched / adopters if adopters else 0.0
    out = {
        "adoption_rate": float(outcome.organisations_by_offer.sum()),
        "adopters_positive_roi_share": outcome.positive_return / adopters if adopters else 0.0,
        "churn_rate": churn,
        "switch_rate": switch,
        # what a provider calls churn: customers lost this month, to a rival or to no AI at all
        "provider_churn_rate": churn + switch,
    }
    # one matrix product each: (size classes x offers) @ (offers x archetypes)
    offers = model.offers
    to_archetype = np.zeros((len(offers), len(ARCHETYPES)))
    to_archetype[np.arange(len(offers)), kind[offers.provider]] = 1.0
    # as Python floats, one conversion per array
    spend = (outcome.spend_usd_by_class @ to_archetype).tolist()
    organisations = (outcome.organisations_by_class @ to_archetype).tolist()
    adoption = np.asarray(outcome.adoption_by_class, dtype=float).tolist()
    for c, size in enumerate(SIZE_CLASSES):
        out[f"adoption_rate_{size}"] = adoption[c]
        for j, a in enumerate(ARCHETYPES):
            out[f"spend_usd_{size}_{a}"] = spend[c][j]
            out[f"customer_share_{size}_{a}"] = organisations[c][j]
    out["unserved_mtok"] = outcome.unserved_mtok
    out["customers_turned_away"] = outcome.turned_away
    return out


def _capex_and_revenue(model: AIEcosystemModel) -> dict:
    """AI capex and revenue, and the revenue that would pay back the AI capex of the last
    `capex_payback_years` at a sustainable capex-to-revenue ratio (an indicator; sentiment
    follows returns)."""
    inv = model.cfg.investors
    window = int(round(inv.capex_payback_years * 12))
    return {
        "cum_ai_capex_usd": model.cum_ai_capex_usd,
        "cum_ai_revenue_usd": model.cum_ai_revenue_usd,
        "ai_revenue_usd_per_year": model.month_ai_revenue_usd * 12,
        "required_revenue_usd_per_year": float(sum(model.capex_history_usd[-window:]))
        / (inv.capex_payback_years * inv.capex_share_of_revenue),
    }


def _capital(model: AIEcosystemModel) -> dict:
    """Investors' capital and stakes, returns, the multiple, the month's funding and parent
    transfers, sentiment, the capital-weighted mean thesis and its spread, corrections, entry
    and exit."""
    investors = model.investors
    market = model.capital_market
    capital = np.array([i.capital_usd for i in investors])
    thesis = np.array([i.thesis for i in investors])
    out = {
        "investor_capital_usd": float(capital.sum()),
        "investor_stakes_usd": float(sum(i.stakes_usd for i in investors)),
        "investor_return": market.realised_return,
        "revenue_multiple": market.revenue_multiple,
        "funding_usd": model.funding.funding_usd,
        "parent_transfers_usd": model.funding.parent_transfers_usd,
        "sentiment": market.sentiment,
        "investor_thesis_mean": float("nan"),
        "investor_disagreement": float("nan"),
        "correction": bool(model.funding.correction),
        "entrants": model.entrants_this_month,
        "exits": model.exits_this_month,
    }
    if capital.sum() > 0:
        mean = float((capital * thesis).sum() / capital.sum())
        out["investor_thesis_mean"] = mean
        out["investor_disagreement"] = float(
            np.sqrt((capital * (thesis - mean) ** 2).sum() / capital.sum())
        )
    return out


def _scoreboard(model: AIEcosystemModel, alive: list[ModelBuilder]) -> dict:
    """Profit by archetype, the cloud's and the energy sector's books, enterprises' surplus."""
    profits = {a: [] for a in ARCHETYPES}  # each archetype's, in firm order
    for b in alive:
        profits[b.archetype].append(b.profit_usd)
    out = {f"profit_usd_{a}": float(sum(profits[a])) for a in ARCHETYPES}
    cloud = model.compute_market
    ledger = model.ledger
    cloud_revenue = ledger.received_usd(cloud)
    suppliers = model.suppliers
    out |= {
        "cloud_revenue_usd": cloud_revenue,
        # its payments are power, spare hours bought and capex; profit counts depreciation
        "cloud_profit_usd": (
            cloud_revenue - (ledger.paid_usd(cloud) - cloud.capex_usd) - cloud.depreciation_usd
        ),
        "cloud_cash_usd": cloud.cash_usd,
        "energy_revenue_usd": float(sum(s.revenue_usd for s in suppliers)),
        "energy_profit_usd": float(sum(s.profit_usd for s in suppliers)),
        "energy_cash_usd": float(sum(s.cash_usd for s in suppliers)),
        "consumer_surplus_usd": consumer_surplus_usd(model),
    }
    return out


# ============================================================================ consumer surplus
def surplus_sample(population: EnterprisePopulation) -> np.ndarray:
    """Enterprises the consumer surplus is measured on: a systematic sample drawn in
    proportion to their demand (fixed points, no random draw)."""
    weight = population.demand_weight
    size = min(SURPLUS_SAMPLE_ROWS, len(weight))
    points = (np.arange(size) + 0.5) / size
    rows = np.searchsorted(np.cumsum(weight) / weight.sum(), points)
    return np.minimum(rows, len(weight) - 1)


def consumer_surplus_usd(model: AIEcosystemModel, offers: Offers | None = None) -> float:
    """Enterprises' surplus from this month's menu (USD per month): for a demand-weighted
    sample, the nested-logit log-sum over the offers and no AI, less the utility of no
    AI, in USD per Mtok (divided by each one's price coefficient), times the month's
    potential demand. Measured for a fresh choice (no switching costs), so it moves with
    the menu: prices, capabilities and the nests."""
    offers = model.offers if offers is None else offers
    if not len(offers):
        return 0.0
    pop = model.enterprises
    rows = model.surplus_rows
    none = np.full(len(rows), -1, dtype=np.int64)
    u = pop.utilities(rows, offers, none, model.peers().by_provider(rows))
    u0 = pop.outside_utility(rows, offers, none)
    per_mtok = consumer_surplus_usd_per_mtok(
        pop.choice_model(offers), u.astype(np.float64), u0, pop.price_coefficient[rows]
    )
    return float(per_mtok.mean() * potential_demand_mtok(model.cfg.enterprises, model.month))


# ============================================================================ tables
def model_table(model: AIEcosystemModel) -> pd.DataFrame:
    """One row a month, the columns of `METRIC_NAMES`."""
    df = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    df["date"] = pd.to_datetime(df["date"])
    return df


def firm_table(model: AIEcosystemModel) -> pd.DataFrame:
    """One row per firm per month from its entry on: month, date, firm_id, `FIRM_COLUMNS`."""
    recorded = [(month, rows) for month, rows in model.firm_rows if rows]
    if not recorded:  # no builder yet
        return pd.DataFrame(columns=["month", "date", "firm_id", *FIRM_COLUMNS])
    counts = [len(rows) for _, rows in recorded]
    df = pd.DataFrame.from_records(
        [row for _, rows in recorded for row in rows], columns=_FIRM_ROW_COLUMNS
    )
    df["valuation_usd"] = df["valuation_usd"].where(df.pop("investor_owned"), np.nan)
    month = np.repeat(np.array([m for m, _ in recorded], dtype=np.int64), counts)
    dates = {m: month_date(model.start, m) for m, _ in recorded}
    df.insert(0, "month", month)
    df.insert(1, "date", pd.Series(month).map(dates))
    # each month's rows are in firm_id order (the model lists builders so): sorted already
    df.insert(2, "firm_id", df.pop("firm_id").astype("int64"))
    df["customers"] = df["customers"].astype("int64")
    df["alive"] = df["alive"].astype(bool)
    return df


def strategy_table(model: AIEcosystemModel, firms: pd.DataFrame | None = None) -> pd.DataFrame:
    """The strategy mix by month: for each lineage (a strategy and its mutants) the firms
    alive, their share of model revenue and of customers, and the revenue-weighted mean of
    each evolving trait (a plain mean while the lineage earns nothing)."""
    firms = firm_table(model) if firms is None else firms
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
    traits = pd.DataFrame([{"firm_id": b.firm_id, **b.strategy.traits()} for b in model.builders])
    df = alive[
        ["month", "date", "firm_id", "strategy", "archetype", "model_revenue_usd", "customers"]
    ].merge(traits, on="firm_id")
    # Weight by revenue; a lineage with no revenue this month gets equal weights.
    revenue = df.groupby(["month", "strategy"])["model_revenue_usd"].transform("sum")
    df["w"] = np.where(revenue > 0, df["model_revenue_usd"], 1.0)
    weighted = [f"w_{t}" for t in EVOLVING_TRAITS]
    for t, column in zip(EVOLVING_TRAITS, weighted, strict=True):
        df[column] = df["w"] * df[t]
    g = df.groupby(["month", "strategy"], sort=True)
    # (one sum over all the summed columns, not one aggregation each: 30 ms became 22)
    sums = g[["model_revenue_usd", "customers", "w", *weighted]].sum()
    out = pd.concat(
        [
            g[["date", "archetype"]].first(),
            g.size().rename("firms_alive"),
            sums.rename(columns={"model_revenue_usd": "revenue_usd"}),
        ],
        axis=1,
    ).reset_index()
    month_revenue = out.groupby("month")["revenue_usd"].transform("sum")
    month_customers = out.groupby("month")["customers"].transform("sum")
    out["revenue_share"] = np.where(month_revenue > 0, out["revenue_usd"] / month_revenue, 0.0)
    out["customer_share"] = np.where(month_customers > 0, out["customers"] / month_customers, 0.0)
    for t, column in zip(EVOLVING_TRAITS, weighted, strict=True):
        out[f"mean_{t}"] = out[column] / out["w"]
    out["firms_alive"] = out["firms_alive"].astype("int64")
    return out[columns]

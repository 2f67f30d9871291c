"""The month's money side, after the books are closed: outlooks, marks, parents, rounds, new
money and sentiment (phase 6 of the month, docs/odd.md section 3).

1. Every alive firm's outlook is the expected discounted cash flow of its recent books at its
   funder's rate r (its parent's hurdle, or the investors' required return;
   `aiecosim.markets.valuation`), and its valuation the investors' mark (`CapitalMarket`):

       V_j = sum_{t <= 120} (GP_j(t) - F_j) / (1 + r)^t                                USD
       valuation_j = max(m0 * exp(mu * s) * 12 * revenue_j, paid in_j)                 USD

2. Investors mark their stakes at today's valuations; the month's realised return is what
   sentiment will follow; each investor's thesis learns from its own gains.
3. Parents review their AI units (V_j at the hurdle) and pay in what they still fund
   (`aiecosim.agents.parents`).
4. Rounds: firms short of runway ask (`ModelBuilder.funding_ask_usd`), those with a credible
   path to profit (V_j > 0) or still in their venture years; investors split their budgets by
   w_ij = exp(w_fit * fit_ij + w_perf * perf_j), with perf_j = capability_j / frontier +
   tanh(6-month log revenue growth_j), and buy equity at the pre-money valuation.
5. Limited partners pay new money in (USD per month, in proportion to each fund's capital);
   sentiment follows the realised return, and a correction is the month it falls through the
   threshold.

The array mechanics are the capital market's (`aiecosim.markets.capital`); here the agents take
part: builders show their books and ask, parents and investors pay through the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from aiecosim.agents.builders import book_rounds
from aiecosim.markets.valuation import expected_value_usd

if TYPE_CHECKING:
    from aiecosim.agents.builders import ModelBuilder
    from aiecosim.agents.investors import Investor
    from aiecosim.config import InvestorConfig
    from aiecosim.ledger import Ledger
    from aiecosim.markets.capital import CapitalMarket


@dataclass(frozen=True)
class FundingMonth:
    """What the month's funding did."""

    funding_usd: float = 0.0  # equity investors put in, USD per month
    parent_transfers_usd: float = 0.0  # what parents paid in, USD per month
    correction: bool = False  # sentiment fell through `investors.correction_threshold`


def fund(
    builders: list[ModelBuilder],
    investors: list[Investor],
    market: CapitalMarket,
    ledger: Ledger,
    inv: InvestorConfig,
    month: int,
) -> FundingMonth:
    """The month's funding, in the order of the module docstring. `builders` are all builders
    (list index = firm_id); `investors` the funds in list order."""
    firms = [b for b in builders if b.alive]
    index = np.array([b.firm_id for b in firms], dtype=np.int64)
    outlook, valuation = value_firms(builders, firms, index, market, inv)

    # --- marks: what the stakes are worth now, and what each investor learned from its gains
    orientation = np.array([b.strategy.scale_orientation for b in builders])
    marked, realised, thesis = market.mark(
        valuation,
        np.array([i.thesis for i in investors]),
        orientation,
        inv.thesis_learning_rate,
    )
    for investor, value, learned in zip(investors, marked, thesis, strict=True):
        investor.stakes_usd, investor.thesis = float(value), float(learned)

    # --- parents fund their AI units while the units clear the hurdle
    for b in firms:
        if b.parent is not None and b.parent.review(b.expected_value_usd):
            transfer = b.parent.transfer_usd(b.cash_usd, b.costs_usd_per_month())
            if transfer > 0:
                b.receive_parent_transfer(transfer)

    # --- rounds
    funding_usd = 0.0
    if firms and investors:
        venture = np.array(
            [b.entrant and month - b.entry_month < inv.venture_months for b in firms]
        )
        credible = outlook[index] > 0
        asks = np.array([b.funding_ask_usd() for b in firms]) * (credible | venture)
        factor = market.funding_factor
        budgets = np.array([i.budget_usd(inv.deploy_share_per_month, factor) for i in investors])
        invested = market.fund_rounds(
            thesis, budgets, orientation[index], performance(firms), asks, index, valuation
        )
        funded = np.flatnonzero(invested.sum(axis=0) > 0)
        raised = invested[:, funded]  # investors x the builders whose rounds took money
        rounds = [firms[j] for j in funded]
        ledger.pay_many(investors, rounds, raised, "equity rounds")
        book_rounds(rounds, raised)
        for b in rounds:
            b.valuation_usd = float(valuation[b.firm_id])
        funding_usd = float(invested.sum())
    for investor, value in zip(investors, market.close_rounds(valuation), strict=True):
        investor.stakes_usd = float(value)
    parent_transfers_usd = sum(b.parent_transfer_usd for b in builders)

    # --- new money from limited partners, in proportion to each fund's capital
    inflows = market.inflows_usd([i.capital_usd for i in investors], inv.inflow_usd_per_month)
    lps = ledger.outside["limited_partners"]
    for investor, inflow in zip(investors, inflows, strict=True):
        ledger.pay(lps, investor, float(inflow), "fund inflows")

    # --- beliefs follow the returns
    correction = market.update_sentiment(realised)
    return FundingMonth(funding_usd, parent_transfers_usd, correction)


def value_firms(
    builders: list[ModelBuilder],
    firms: list[ModelBuilder],
    index: np.ndarray,
    market: CapitalMarket,
    inv: InvestorConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Each alive firm's outlook (expected discounted cash flow of its recent books at its
    funder's rate, USD) and valuation (USD), over all firms (0 for the exited); both are set on
    the firms (`firms`, at `index`) too."""
    alive = np.zeros(len(builders), dtype=bool)
    alive[index] = True
    prior = np.log1p(inv.prior_revenue_growth_per_year) / 12
    books = np.zeros((len(builders), 6))  # one row per firm; the exited keep zeros
    if firms:
        books[index] = [
            (*b.funder_view(prior, inv.required_return_per_year), b.paid_in_usd) for b in firms
        ]
    revenue, variable, fixed, growth, rate, paid_in = books.T
    outlook = np.zeros(len(builders))
    outlook[index] = expected_value_usd(
        (revenue - variable)[index], fixed[index], growth[index], rate[index]
    )
    valuation = market.valuations_usd(revenue, paid_in, alive)
    for b, value, mark in zip(
        firms, outlook[index].tolist(), valuation[index].tolist(), strict=True
    ):
        b.expected_value_usd, b.valuation_usd = value, mark
    return outlook, valuation


def performance(firms: list[ModelBuilder]) -> np.ndarray:
    """What investors see of a firm's performance: capability relative to the frontier plus
    recent revenue growth (bounded by tanh)."""
    frontier = max((b.capability for b in firms), default=0.0) or 1.0
    capability = np.array([b.capability / frontier for b in firms])
    growth = np.tanh(np.array([b.revenue_growth() for b in firms]))
    return capability + growth


def initial_stakes(
    builders: list[ModelBuilder],
    investors: list[Investor],
    market: CapitalMarket,
    inv: InvestorConfig,
    revenue_usd_per_month: np.ndarray,
) -> None:
    """At the start investors own `investors.initial_stake_share` of every incumbent without a
    parent, spread over the funds by how well the firm fits their theses; every firm is valued
    on its revenue at the start (USD per month, one per firm)."""
    alive = np.array([b.alive for b in builders], dtype=bool)
    paid_in = np.array([b.paid_in_usd for b in builders])
    valuation = market.valuations_usd(revenue_usd_per_month, paid_in, alive)
    market.valuation_usd = valuation
    if not investors:
        return
    venture_backed = [b for b in builders if b.parent is None and not b.entrant]
    if inv.initial_stake_share > 0:
        market.grant_initial_stakes(
            np.array([i.thesis for i in investors]),
            np.array([b.strategy.scale_orientation for b in builders]),
            np.array([b.firm_id for b in venture_backed], dtype=np.int64),
            inv.initial_stake_share,
        )
        for b in venture_backed:
            b.valuation_usd = float(valuation[b.firm_id])
    for investor, value in zip(investors, market.close_rounds(valuation), strict=True):
        investor.stakes_usd = float(value)

"""The model's books, checked after every month under `--check` (and in the tests).

- The flow of funds balances (`aiecosim.ledger`): every inside account's cash (builders, the
  cloud sector, energy suppliers, the energy exchange, investors) changed by exactly its
  recorded payments, and the sum of all cash changes equals the net flow from outside.
- The energy exchange closes the month at zero: it passes on every bill it collects.
- Each firm's cash changes by exactly its revenue minus its costs plus its funding, its parent's
  transfer and, when it failed, the bills its creditors wrote off.
- What enterprises pay for AI equals what builders book from models (API tokens and the support
  fee on self-hosting) plus what self-hosters pay for rented compute.
- Energy served never exceeds capacity, no supplier dispatches more than it has, and no alive firm
  has a negative fleet, power plant or price.
- Revenue and customer shares by archetype sum to 1; each firm's customers are the enterprises
  that chose it.
- No NaN or infinity in the month's outputs (a few are undefined, NaN, in an empty world: the
  open-weights lag without an open model, the mean token price without a token sold, the
  investors' thesis without investor capital).

A violation raises `BooksError` naming the month, the agent and the quantities.
"""

from __future__ import annotations

import math

import numpy as np
from aiecosim.agents.strategy import ARCHETYPES
from aiecosim.errors import BooksError

UNDEFINED_WHEN_EMPTY = {
    "open_lag_months",  # no open-weights model
    "token_price_usd_per_mtok",  # no token sold
    "token_price_frontier_lab_usd_per_mtok",  # the archetype sold no token
    "token_price_integrated_giant_usd_per_mtok",
    "token_price_open_source_builder_usd_per_mtok",
    "investor_thesis_mean",  # no investor capital
    "investor_disagreement",
    "dc_grid_share",  # no electricity served
}


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6 * max(1.0, scale))


def check_books(model) -> None:
    month = model.month
    where = f"month {month}"
    # --- the flow of funds
    problems = model.ledger.violations(month)
    if problems:
        raise BooksError("; ".join(problems))
    exchange = model.energy_exchange
    if not _close(exchange.cash_usd, 0.0, model.ledger.received_usd(exchange)):
        raise BooksError(f"{where}: the energy exchange holds {exchange.cash_usd:.6g} USD")
    # --- firms' cash against their profit and loss
    for b in model.builders:
        if not (b.alive or b.exit_month == month):
            continue
        change = b.cash_usd - b.cash_at_open_usd
        inflows = (
            b.funding_usd
            + b.parent_transfer_usd
            + (b.written_off_usd if b.exit_month == month else 0.0)
        )
        expected = b.revenue_usd - b.costs_usd + inflows
        if not _close(change, expected, abs(b.revenue_usd) + abs(b.costs_usd) + inflows):
            raise BooksError(
                f"{where}: {b.name} (firm {b.firm_id}) cash changed by {change:.6g} USD but "
                f"revenue {b.revenue_usd:.6g} - costs {b.costs_usd:.6g} + funding "
                f"{b.funding_usd:.6g} + parent {b.parent_transfer_usd:.6g} + written off "
                f"{b.written_off_usd if b.exit_month == month else 0.0:.6g} = {expected:.6g}"
            )
        for name in ("owned_gpus_h100e", "owned_energy_mw", "price_usd_per_mtok"):
            value = getattr(b, name)
            if b.alive and not value >= 0:
                raise BooksError(f"{where}: {b.name} (firm {b.firm_id}) has {name} = {value}")
        if not math.isfinite(b.cash_usd):
            raise BooksError(f"{where}: {b.name} (firm {b.firm_id}) has cash {b.cash_usd}")
    # --- enterprises' spending = builders' model revenue + self-hosters' compute
    offers, outcome = model.offers, model.outcome
    spend = outcome.spend_usd_by_offer
    fee = model.cfg.builders.open_support_fee_share
    paid = float(spend.sum())
    booked = sum(b.model_revenue_usd for b in model.builders if b.alive or b.exit_month == month)
    hosted_compute = float(spend[offers.self_hosted].sum()) * (1 - fee)
    if not _close(paid, booked + hosted_compute, paid):
        raise BooksError(
            f"{where}: enterprises paid {paid:.6g} USD but builders booked {booked:.6g} and "
            f"self-hosting compute {hosted_compute:.6g}"
        )
    # --- customers are the enterprises' choices
    by_firm = np.bincount(
        offers.provider, weights=outcome.customers_by_offer, minlength=len(model.builders)
    )
    for b in model.builders:
        if b.alive and b.customers != int(by_firm[b.firm_id]):
            raise BooksError(
                f"{where}: {b.name} (firm {b.firm_id}) counts {b.customers} customers but "
                f"{int(by_firm[b.firm_id])} enterprises chose it"
            )
    if int(outcome.customers_by_offer.sum()) != outcome.adopters:
        raise BooksError(
            f"{where}: {int(outcome.customers_by_offer.sum())} customers on offers but "
            f"{outcome.adopters} adopting enterprises"
        )
    # --- energy
    e = model.energy
    if e.served_mw > e.capacity_mw * (1 + 1e-12):
        raise BooksError(
            f"{where}: energy served {e.served_mw:.6g} MW exceeds capacity {e.capacity_mw:.6g} MW"
        )
    for s, dispatched in zip(model.suppliers, e.dispatch_mw, strict=True):
        if dispatched > s.capacity_mw * (1 + 1e-12) or s.capacity_mw < 0:
            raise BooksError(
                f"{where}: supplier {s.name} dispatched {dispatched:.6g} MW of "
                f"{s.capacity_mw:.6g} MW"
            )
    # --- shares and finiteness of the outputs
    metrics = model.metrics
    for kind in ("revenue", "customers"):
        total = sum(metrics[f"share_{kind}_{a}"] for a in ARCHETYPES)
        if total != 0 and not math.isclose(total, 1.0, abs_tol=1e-9):
            raise BooksError(f"{where}: {kind} shares by archetype sum to {total}")
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if name in UNDEFINED_WHEN_EMPTY and math.isnan(value):
                continue
            if not math.isfinite(value):
                raise BooksError(f"{where}: output {name} = {value}")

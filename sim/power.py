"""Electricity for the AI industry: what the grid is asked for, what AI data centres draw from
it, and who pays for the power (phase 1 of the month, docs/odd.md section 3).

Grid demand (MW, average over the month) is the base load and conventional data centres, each
growing at its own rate, plus the AI data centres' draw:

    D(t) = base * (1 + g_base)^(t/12) + conventional DCs * (1 + g_dc)^(t/12) + AI draw      MW

The AI draw is the cloud fleet's plus what the integrated giants' fleets draw beyond their own
plants (`ModelBuilder.grid_draw_mw`). An idle accelerator still draws `IDLE_POWER_SHARE` of its
power (cooling, standby), so the cloud fleet draws

    usable H100e * (s_idle + (1 - s_idle) * min(1, utilisation)) * kW per H100e(t) / 1000   MW

After the merit order clears (`aiecosim.markets.energy`) at price p, every buyer pays for the
share of demand that was served (served / demanded, 1 when the grid is not short):

    bill = MW drawn * served share * 730 h * p                                   USD per month

to the energy exchange, which pays each plant for what it dispatched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiecosim.markets.energy import HOURS_PER_MONTH, HOURS_PER_YEAR

if TYPE_CHECKING:
    from aiecosim.agents.builders import ModelBuilder
    from aiecosim.agents.energy import EnergySupplier
    from aiecosim.config import EnergyConfig
    from aiecosim.ledger import Account, Ledger
    from aiecosim.markets.compute import ComputeMarket
    from aiecosim.markets.energy import EnergyClearing

IDLE_POWER_SHARE = 0.4  # an idle accelerator still draws ~40% of its power (cooling, standby)


def non_ai_dc_mw(energy: EnergyConfig, month: int) -> float:
    """Conventional (non-AI) data centres' grid demand in `month`, MW."""
    growth = (1 + energy.non_ai_dc_growth_per_year) ** (month / 12)
    return energy.non_ai_dc_twh_per_year * 1e6 / HOURS_PER_YEAR * growth


def grid_demand_mw(energy: EnergyConfig, month: int, ai_dc_mw: float) -> float:
    """D(t): the base load, conventional data centres and the AI draw `ai_dc_mw`, MW."""
    years = month / 12
    base = (
        energy.base_load_twh_per_year
        * 1e6
        / HOURS_PER_YEAR
        * (1 + energy.base_load_growth_per_year) ** years
    )
    return base + non_ai_dc_mw(energy, month) + ai_dc_mw


def cloud_draw_mw(cloud: ComputeMarket, month: int, utilisation: float) -> float:
    """Grid power the cloud's usable fleet draws at `utilisation`, MW."""
    kw = cloud.power_kw_per_h100e(month)
    duty = IDLE_POWER_SHARE + (1 - IDLE_POWER_SHARE) * min(1.0, utilisation)
    return cloud.usable_gpus_h100e * duty * kw / 1000


def pay_power_bills(
    ledger: Ledger,
    exchange: Account,
    clearing: EnergyClearing,
    cloud: ComputeMarket,
    cloud_mw: float,
    ai_dc_mw: float,
    builders: list[ModelBuilder],
    suppliers: list[EnergySupplier],
) -> None:
    """Every buyer of electricity pays the clearing price for the served share of its demand,
    to the `exchange`: other users (demand less `ai_dc_mw`), the cloud (`cloud_mw`) and each
    alive builder with a fleet (`ModelBuilder.pay_for_power`); the exchange pays each supplier
    for what it dispatched."""
    price = clearing.price_usd_per_mwh
    served = clearing.served_mw / clearing.demand_mw if clearing.demand_mw > 0 else 0.0
    others_mw = max(0.0, clearing.demand_mw - ai_dc_mw)
    bill = served * HOURS_PER_MONTH * price  # USD per MW drawn
    ledger.pay(ledger.outside["other_power_users"], exchange, others_mw * bill, "electricity")
    cloud.energy_cost_usd = cloud_mw * bill
    ledger.pay(cloud, exchange, cloud.energy_cost_usd, "electricity")
    for b in builders:
        b.pay_for_power(served, price)
    for supplier, dispatched in zip(suppliers, clearing.dispatch_mw, strict=True):
        supplier.sell(exchange, float(dispatched), price)

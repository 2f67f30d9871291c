"""Energy market: merit-order clearing with a scarcity premium.

Suppliers are sorted by marginal cost c_s (USD/MWh) and dispatched cheapest first until demand
D (average MW over the month) is met. The price is the marginal cost of the last unit needed plus
a premium that rises steeply as demand nears total capacity C:

    u     = D / C                                                utilisation, dimensionless
    price = c_marginal + premium * (max(0, u - u0) / (1 - u0)) ** 2    USD/MWh

When demand exceeds capacity the shortfall is not served (served MW <= capacity, always) and
the price is the dearest unit plus the full premium times (1 + shortfall share).
Energy in a month = average MW * hours in the month (730 h).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aiecosim.config import EnergyConfig

HOURS_PER_MONTH = 730.0
HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class EnergyClearing:
    price_usd_per_mwh: float
    demand_mw: float
    served_mw: float
    capacity_mw: float
    dispatch_mw: np.ndarray  # per supplier, in the order given

    @property
    def utilisation(self) -> float:
        return self.demand_mw / self.capacity_mw if self.capacity_mw > 0 else float("inf")

    @property
    def shortfall_mw(self) -> float:
        return self.demand_mw - self.served_mw


class EnergyMarket:
    def __init__(self, scarcity_threshold: float, scarcity_premium_usd_per_mwh: float) -> None:
        self.scarcity_threshold = scarcity_threshold
        self.scarcity_premium_usd_per_mwh = scarcity_premium_usd_per_mwh

    @classmethod
    def from_config(cls, energy: EnergyConfig) -> EnergyMarket:
        """The market of the `energy` section."""
        return cls(
            scarcity_threshold=energy.scarcity_threshold,
            scarcity_premium_usd_per_mwh=energy.scarcity_premium_usd_per_mwh,
        )

    def clear(
        self, capacity_mw: np.ndarray, marginal_cost_usd_per_mwh: np.ndarray, demand_mw: float
    ) -> EnergyClearing:
        capacity_mw = np.asarray(capacity_mw, dtype=float)
        cost = np.asarray(marginal_cost_usd_per_mwh, dtype=float)
        order = np.argsort(cost, kind="stable")
        cumulative = np.cumsum(capacity_mw[order])
        total = float(cumulative[-1]) if len(cumulative) else 0.0
        served = min(demand_mw, total)
        # dispatch: each supplier in merit order runs the part of demand it covers
        before = np.concatenate(([0.0], cumulative[:-1]))
        dispatched_sorted = np.clip(served - before, 0.0, capacity_mw[order])
        dispatch = np.empty_like(dispatched_sorted)
        dispatch[order] = dispatched_sorted
        if total <= 0:
            return EnergyClearing(
                float(cost.max(initial=0.0) + 2 * self.scarcity_premium_usd_per_mwh),
                demand_mw,
                0.0,
                0.0,
                dispatch,
            )
        marginal_index = min(int(np.searchsorted(cumulative, served, side="left")), len(order) - 1)
        marginal_cost = float(cost[order][marginal_index])
        utilisation = demand_mw / total
        u0 = self.scarcity_threshold
        tightness = max(0.0, min(utilisation, 1.0) - u0) / (1.0 - u0)
        premium = self.scarcity_premium_usd_per_mwh * tightness**2
        if demand_mw > total:
            premium = self.scarcity_premium_usd_per_mwh * (1.0 + (demand_mw - total) / demand_mw)
        return EnergyClearing(marginal_cost + premium, demand_mw, served, total, dispatch)

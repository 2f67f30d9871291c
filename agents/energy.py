"""Energy suppliers: power plants by technology that bid their marginal cost and invest.

A supplier offers its available capacity (average MW) at its marginal cost (USD/MWh), which may
drift with fuel and carbon prices. It orders new capacity when the price it expects (an
exponential average of recent prices) exceeds the full cost of new plants (LCOE):

    order_mw = capacity_mw * max_build_share * clip(INVESTMENT_RESPONSE * (E[p] / lcoe - 1), 0, 1)

and the plant comes online `lead_time_months` later.
"""

from __future__ import annotations

from collections import deque

import mesa
from aiecosim.config import SupplierConfig

# A price 1/3 above the full cost of new plants is enough to build at the fastest rate.
INVESTMENT_RESPONSE = 3.0


class EnergySupplier(mesa.Agent):
    def __init__(self, model: mesa.Model, spec: SupplierConfig, lead_time_multiplier: float = 1.0):
        super().__init__(model)
        self.name = spec.name
        self.technology = spec.technology
        self.capacity_mw = spec.capacity_mw
        self.base_marginal_cost_usd_per_mwh = spec.marginal_cost_usd_per_mwh
        self.marginal_cost_usd_per_mwh = spec.marginal_cost_usd_per_mwh
        self.lcoe_usd_per_mwh = spec.lcoe_usd_per_mwh
        self.lcoe_now_usd_per_mwh = spec.lcoe_usd_per_mwh  # drifts with fuel and carbon costs
        self.carbon_t_per_mwh = spec.carbon_t_per_mwh
        self.lead_time_months = max(0, round(spec.lead_time_months * lead_time_multiplier))
        self.max_build_share_per_month = spec.max_build_share_per_month
        self.pipeline: deque[tuple[int, float]] = deque()  # (month online, MW)
        self.dispatched_mw = 0.0
        self.revenue_usd = 0.0

    def update_costs(self, month: int, growth_per_year: float) -> None:
        factor = (1 + growth_per_year) ** (month / 12)
        self.marginal_cost_usd_per_mwh = self.base_marginal_cost_usd_per_mwh * factor
        self.lcoe_now_usd_per_mwh = self.lcoe_usd_per_mwh * factor

    def commission(self, month: int) -> float:
        """Plants whose lead time has passed come online."""
        added = 0.0
        while self.pipeline and self.pipeline[0][0] <= month:
            added += self.pipeline.popleft()[1]
        self.capacity_mw += added
        return added

    def invest(self, month: int, expected_price_usd_per_mwh: float) -> float:
        lcoe = self.lcoe_now_usd_per_mwh
        if lcoe <= 0:
            return 0.0
        margin = min(1.0, max(0.0, INVESTMENT_RESPONSE * (expected_price_usd_per_mwh / lcoe - 1)))
        order = self.capacity_mw * self.max_build_share_per_month * margin
        if order > 0:
            self.pipeline.append((month + self.lead_time_months, order))
        return order

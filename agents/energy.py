"""Energy suppliers: power plants by technology that bid their marginal cost and invest.

A supplier offers its available capacity (average MW) at its marginal cost (USD/MWh), which may
drift with fuel and carbon prices. It orders new capacity when the price it expects (an
exponential average of recent prices) exceeds the full cost of new plants (LCOE):

    order_mw = capacity_mw * max_build_share * clip(INVESTMENT_RESPONSE * (E[p] / lcoe - 1), 0, 1)

and the plant comes online `lead_time_months` later.

Each supplier keeps profit and loss. It is paid the clearing price for what it dispatches (by
the energy exchange), pays fuel and operations at its marginal cost, and pays plant builders
for new capacity when it orders it. The overnight cost of a plant is what the capital part of
its LCOE pays back over its life at the cost of capital (a capital-recovery factor):

    capex_usd_per_mw = (lcoe - marginal cost) * 8760 h / CRF(cost_of_capital, life_years)
    depreciation     = book value / (12 * life_years) a month
    profit           = revenue - fuel - depreciation
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import mesa
from aiecosim.markets.energy import HOURS_PER_MONTH, HOURS_PER_YEAR

if TYPE_CHECKING:
    from aiecosim.config import SupplierConfig

# A price 1/3 above the full cost of new plants is enough to build at the fastest rate.
INVESTMENT_RESPONSE = 3.0
# The plants standing at the start are booked as if half depreciated (a fleet built evenly over
# its life is half written off on average).
PLANT_START_BOOK_SHARE = 0.5


class EnergySupplier(mesa.Agent):
    def __init__(
        self,
        model: mesa.Model,
        spec: SupplierConfig,
        lead_time_multiplier: float = 1.0,
        life_years: float = 30.0,
        cost_of_capital: float = 0.07,
    ):
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
        self.life_years = life_years
        r = cost_of_capital
        self.capital_recovery_factor = r / (1 - (1 + r) ** -life_years) if r > 0 else 1 / life_years
        self.cash_usd = 0.0
        self.book_value_usd = PLANT_START_BOOK_SHARE * self.capacity_mw * self.capex_usd_per_mw()
        self.open_books()

    def capex_usd_per_mw(self) -> float:
        """Overnight cost of a MW of average capacity (USD)."""
        capital_usd_per_mwh = max(0.0, self.lcoe_now_usd_per_mwh - self.marginal_cost_usd_per_mwh)
        return capital_usd_per_mwh * HOURS_PER_YEAR / self.capital_recovery_factor

    def open_books(self) -> None:
        self.revenue_usd = self.fuel_usd = self.capex_usd = self.depreciation_usd = 0.0

    @property
    def profit_usd(self) -> float:
        return self.revenue_usd - self.fuel_usd - self.depreciation_usd

    def sell(self, exchange, dispatched_mw: float, price_usd_per_mwh: float) -> None:
        """Paid the clearing price for its output; pays fuel and operations; depreciates."""
        ledger = self.model.ledger
        self.revenue_usd = dispatched_mw * HOURS_PER_MONTH * price_usd_per_mwh
        ledger.pay(exchange, self, self.revenue_usd, "electricity")
        self.fuel_usd = dispatched_mw * HOURS_PER_MONTH * self.marginal_cost_usd_per_mwh
        ledger.pay(self, ledger.outside["fuel"], self.fuel_usd, "fuel and operations")
        self.depreciation_usd = self.book_value_usd / (12 * self.life_years)
        self.book_value_usd -= self.depreciation_usd

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
            # paid when ordered: the builders are paid as they build
            self.capex_usd = order * self.capex_usd_per_mw()
            ledger = self.model.ledger
            ledger.pay(self, ledger.outside["plant_builders"], self.capex_usd, "power-plant capex")
            self.book_value_usd += self.capex_usd
        return order

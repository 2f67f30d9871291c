"""Parent companies: an integrated giant's AI unit is funded by its parent, as an investment.

The parent (a cloud, software or consumer-platform group; outside the model) covers what its AI
unit needs to keep `target_cash_months` of its costs in hand, while the unit is worth it:

    fund this month  <=>  months_below_hurdle <= patience_months
                          and transferred_usd < loss_budget_usd

months_below_hurdle counts the months in a row the unit's expected discounted cash flow at the
parent's hurdle rate (`aiecosim.markets.valuation`) has been negative. A parent that stops funding also
stops the unit's data-centre build-out (capex is the parent's decision); the unit then lives on
its own cash and revenue and retreats (exits) when the cash runs out. Only incumbent giants have
parents: an entrant that imitates a giant brings no parent with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiecosim.config import ParentConfig


class Parent:
    def __init__(
        self,
        name: str,
        hurdle_rate_per_year: float,
        loss_budget_usd: float,
        patience_months: float,
        target_cash_months: float,
    ):
        self.name = name
        self.hurdle_rate_per_year = hurdle_rate_per_year
        self.loss_budget_usd = loss_budget_usd
        self.patience_months = patience_months
        self.target_cash_months = target_cash_months
        self.transferred_usd = 0.0  # cumulative, since the start
        self.months_below_hurdle = 0
        self.committed = True  # still funding the unit

    @classmethod
    def from_config(cls, unit_name: str, cfg: ParentConfig) -> Parent:
        """The parent of the AI unit `unit_name`, on the terms of the `parents` section."""
        return cls(
            f"parent of {unit_name}",
            hurdle_rate_per_year=cfg.hurdle_rate_per_year,
            loss_budget_usd=cfg.loss_budget_usd,
            patience_months=cfg.patience_months,
            target_cash_months=cfg.target_cash_months,
        )

    def review(self, expected_value_usd: float) -> bool:
        """Judge the unit on its expected value at the hurdle; returns whether it still funds.
        A parent that has walked away does not come back."""
        if not self.committed:
            return False
        self.months_below_hurdle = self.months_below_hurdle + 1 if expected_value_usd < 0 else 0
        if (
            self.months_below_hurdle > self.patience_months
            or self.transferred_usd >= self.loss_budget_usd
        ):
            self.committed = False
        return self.committed

    def transfer_usd(self, unit_cash_usd: float, unit_costs_usd_per_month: float) -> float:
        """What it pays in this month: the gap to `target_cash_months` of the unit's costs,
        within what is left of the loss budget."""
        if not self.committed:
            return 0.0
        gap = self.target_cash_months * unit_costs_usd_per_month - unit_cash_usd
        return max(0.0, min(gap, self.loss_budget_usd - self.transferred_usd))

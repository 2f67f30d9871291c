"""Investors: funds with a thesis, from pure scale (1) to pure efficiency (0), that own what
they fund.

An investor holds cash (dry powder, `cash_usd`) and stakes in builders (the capital market's
ownership matrix, marked to market monthly). Its capital is the two together. Each month it
deploys a share of its capital, scaled by sentiment, over the builders raising money that have a
credible path to profit (`aiecosim.markets.capital`), receives new money from its limited
partners in proportion to its size, and learns from its own book: its thesis moves toward the
orientation of the stakes that gained value and away from those that lost it
(`aiecosim.markets.capital.learn_theses`).
"""

from __future__ import annotations

import mesa


class Investor(mesa.Agent):
    def __init__(self, model: mesa.Model, thesis: float, cash_usd: float):
        super().__init__(model)
        self.name = f"Investor {self.unique_id}"
        self.thesis = thesis  # 0 = efficiency, 1 = scale
        self.cash_usd = cash_usd  # dry powder
        self.stakes_usd = 0.0  # its stakes, marked to market

    @property
    def capital_usd(self) -> float:
        return self.cash_usd + self.stakes_usd

    def budget_usd(self, deploy_share: float, funding_factor: float) -> float:
        """What it can put into rounds this month (never more than its cash)."""
        return max(0.0, min(self.cash_usd, self.capital_usd * deploy_share * funding_factor))

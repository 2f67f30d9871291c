"""Investors: capital with a thesis, from pure scale (1) to pure efficiency (0).

Each month an investor deploys a share of its capital, scaled by market sentiment, over the
builders raising money (allocation in `aiecosim.capital_market`). It receives new money in
proportion to its size, and slowly moves its thesis toward the orientation of the archetype that
earns the most revenue: disagreement narrows when one path clearly wins.
"""

from __future__ import annotations

import mesa


class Investor(mesa.Agent):
    def __init__(self, model: mesa.Model, thesis: float, capital_usd: float):
        super().__init__(model)
        self.thesis = thesis  # 0 = efficiency, 1 = scale
        self.capital_usd = capital_usd
        self.invested_usd = 0.0

    def budget_usd(self, deploy_share: float, funding_factor: float) -> float:
        return self.capital_usd * deploy_share * funding_factor

    def invest(self, amount_usd: float) -> None:
        self.capital_usd -= amount_usd
        self.invested_usd += amount_usd

    def receive_inflow(self, amount_usd: float) -> None:
        self.capital_usd += amount_usd

    def mark_down(self, share: float) -> None:
        """A valuation correction: paper wealth and dry powder shrink."""
        self.capital_usd *= 1 - share
        self.invested_usd *= 1 - share

    def learn(self, winning_orientation: float, rate: float) -> None:
        self.thesis += rate * (winning_orientation - self.thesis)

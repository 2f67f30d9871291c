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

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from aiecosim.config import InvestorConfig

# Fund sizes are heavy-tailed: lognormal with this sigma (a fund one standard deviation above
# the median is 2.2 times its size).
FUND_SIZE_SIGMA = 0.8


class Investor(mesa.Agent):
    def __init__(self, model: mesa.Model, thesis: float, cash_usd: float):
        super().__init__(model)
        self.name = f"Investor {self.unique_id}"
        self.thesis = thesis  # 0 = efficiency, 1 = scale
        self.cash_usd = cash_usd  # dry powder
        self.stakes_usd = 0.0  # its stakes, marked to market

    @classmethod
    def funds(cls, model: mesa.Model, cfg: InvestorConfig) -> list[Investor]:
        """`cfg.n_investors` funds holding `cfg.capital_usd` between them, in lognormal fund
        sizes, with theses spread evenly from pure efficiency (0) to pure scale (1)."""
        n = cfg.n_investors
        if n == 0:
            return []
        theses = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
        sizes = model.rng.lognormal(0.0, FUND_SIZE_SIGMA, size=n)
        capital = cfg.capital_usd * sizes / sizes.sum()
        return list(cls.create_agents(model, n, theses.tolist(), capital.tolist()))

    @property
    def capital_usd(self) -> float:
        return self.cash_usd + self.stakes_usd

    def budget_usd(self, deploy_share: float, funding_factor: float) -> float:
        """What it can put into rounds this month (never more than its cash)."""
        return max(0.0, min(self.cash_usd, self.capital_usd * deploy_share * funding_factor))

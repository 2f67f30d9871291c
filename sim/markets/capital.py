"""The capital market of AI: equity rounds, marks, extrapolative sentiment and allocation.

Investors own what they fund. A round buys equity at a valuation: the firm's pre-money value is
a revenue multiple that moves with sentiment s (dimensionless, 0 neutral), never below the
equity paid in so far (a young firm is held at cost):

    valuation_j = max(m0 * exp(mu * s) * 12 * revenue_j, paid_in_j)                      USD
    stake bought = amount / (valuation_j + amount); earlier holders are diluted by the same share

Stakes are marked to market every month (a failed firm is worth 0). The month's realised return
on invested capital is

    r_t = (marked stakes_t - marked stakes after last month's rounds) / the latter

Beliefs are extrapolative. The expected return follows realised returns, and sentiment follows
the expected return against what investors require, relative to how much shortfall they
tolerate (their patience P, in months):

    E_t    = E_{t-1} + beta * (r_t - E_{t-1})                      monthly
    target = clip((12 * E_t - r_req) / (r_req * P / 12), -3, 3)
    s_t    = s_{t-1} + lambda * (target - s_{t-1})

So a year of returns below expectations lowers sentiment, and with it multiples (marks fall
further), deployment and the inflow of new money: the correction comes from the returns, when
they come; patience sets how deep it goes. A correction is the month sentiment falls through
`correction_threshold`. At the start E_0 is the return that makes s_0 (`optimism`) a steady state.
Deployment, and the new money limited partners pay in (split over the funds in proportion to
their capital), scale with exp(k * min(s, 0)).

An investor i with thesis theta_i (0 efficiency .. 1 scale) weights a builder j raising money by

    w_ij = exp(w_fit * fit_ij + w_perf * perf_j),   fit_ij = 1 - |theta_i - orientation_j|

and splits what it deploys this month over them pro rata to w_ij, each builder receiving at most
what it asks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aiecosim.config import InvestorConfig

SENTIMENT_BOUND = 3.0


class CapitalMarket:
    def __init__(
        self,
        sentiment_adjustment: float,
        patience_months: float,
        optimism: float,
        required_return_per_year: float,
        belief_update: float,
        base_revenue_multiple: float,
        multiple_sentiment_elasticity: float,
        funding_sensitivity: float,
        correction_threshold: float,
        w_fit: float,
        w_perf: float,
        n_investors: int,
    ) -> None:
        self.sentiment_adjustment = sentiment_adjustment
        self.patience_months = patience_months
        self.required_return_per_year = required_return_per_year
        self.belief_update = belief_update
        self.base_revenue_multiple = base_revenue_multiple
        self.multiple_sentiment_elasticity = multiple_sentiment_elasticity
        self.funding_sensitivity = funding_sensitivity
        self.correction_threshold = correction_threshold
        self.w_fit = w_fit
        self.w_perf = w_perf
        self.sentiment = optimism
        # the expected (monthly) return that keeps today's sentiment where it is
        self.expected_return = (required_return_per_year + optimism * self._tolerance) / 12
        self.corrected = optimism < correction_threshold
        self.ownership = np.zeros((n_investors, 0))  # investors x firms, share of equity
        self._held: list[bool] | None = None  # `investor_owned`, until the stakes change
        self.valuation_usd = np.zeros(0)  # each firm's valuation after last month's rounds
        self.marked_after_rounds_usd = np.zeros(n_investors)
        self.realised_return = 0.0

    @classmethod
    def from_config(cls, investors: InvestorConfig) -> CapitalMarket:
        """The capital market of the `investors` section, at the start date."""
        return cls(
            sentiment_adjustment=investors.sentiment_adjustment,
            patience_months=investors.patience_months,
            optimism=investors.optimism,
            required_return_per_year=investors.required_return_per_year,
            belief_update=investors.belief_update,
            base_revenue_multiple=investors.base_revenue_multiple,
            multiple_sentiment_elasticity=investors.multiple_sentiment_elasticity,
            funding_sensitivity=investors.funding_sensitivity,
            correction_threshold=investors.correction_threshold,
            w_fit=investors.w_fit,
            w_perf=investors.w_perf,
            n_investors=investors.n_investors,
        )

    @property
    def _tolerance(self) -> float:
        """Annual return shortfall that moves sentiment by one unit."""
        return max(self.required_return_per_year, 1e-6) * self.patience_months / 12

    # ------------------------------------------------------------------ equity
    def add_firm(self) -> None:
        """A new firm, owned by no investor yet and valued at 0 until its first rounds."""
        self.ownership = np.concatenate(
            [self.ownership, np.zeros((self.ownership.shape[0], 1))], axis=1
        )
        self._held = None
        self.valuation_usd = np.append(self.valuation_usd, 0.0)

    def grant_initial_stakes(
        self, thesis: np.ndarray, orientation: np.ndarray, firms: np.ndarray, share: float
    ) -> None:
        """Investors own `share` of each of `firms` at the start, spread over the funds by
        how well the firm's orientation fits their theses: in proportion to exp(w_fit * fit)."""
        for firm in firms:
            fit = np.exp(self.w_fit * (1 - np.abs(thesis - orientation[firm])))
            self.ownership[:, firm] = share * fit / fit.sum()
        self._held = None

    def investor_owned(self, firm: int) -> bool:
        """Whether any investor holds a stake in `firm`. Read for every firm every month (the
        firm table), so answered from one pass over the stakes, kept until they change (the
        stakes change only through this market's methods)."""
        if self._held is None:
            self._held = (self.ownership > 0).any(axis=0).tolist()
        return self._held[firm]

    @property
    def revenue_multiple(self) -> float:
        return self.base_revenue_multiple * float(
            np.exp(self.multiple_sentiment_elasticity * self.sentiment)
        )

    def valuations_usd(
        self, revenue_usd_per_month: np.ndarray, paid_in_usd: np.ndarray, alive: np.ndarray
    ) -> np.ndarray:
        value = np.maximum(self.revenue_multiple * 12 * revenue_usd_per_month, paid_in_usd)
        return np.where(alive, value, 0.0)

    def marked_stakes_usd(self, valuation_usd: np.ndarray) -> np.ndarray:
        """Each investor's stakes at today's valuations."""
        return self.ownership @ valuation_usd

    def mark(
        self,
        valuation_usd: np.ndarray,
        thesis: np.ndarray,
        orientation: np.ndarray,
        learning_rate: float,
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """The month's marks at today's valuations (USD, one per firm): each investor's stakes,
        the realised return since last month's rounds (`realise`), and each investor's thesis
        learned from its own gains on each firm since then (`learn_theses`; `orientation` one
        per firm)."""
        marked = self.marked_stakes_usd(valuation_usd)
        realised = self.realise(marked)
        gains = self.ownership * (valuation_usd - self.valuation_usd)[None, :]
        return marked, realised, self.learn_theses(thesis, gains, orientation, learning_rate)

    def fund_rounds(
        self,
        investor_thesis: np.ndarray,
        investor_budget_usd: np.ndarray,
        builder_orientation: np.ndarray,
        builder_performance: np.ndarray,
        builder_ask_usd: np.ndarray,
        firms: np.ndarray,
        valuation_usd: np.ndarray,
    ) -> np.ndarray:
        """This month's rounds among the builders raising money (`firms`: their firm indices):
        investors split their budgets (`allocate`) and buy equity at the pre-money valuation
        (`buy_equity`); a round prices its firm at pre-money plus the new money, in
        `valuation_usd` (one per firm, updated in place). Returns the matrix (investors x
        builders) of USD invested."""
        invested = self.allocate(
            investor_thesis,
            investor_budget_usd,
            builder_orientation,
            builder_performance,
            builder_ask_usd,
        )
        funded = np.flatnonzero(invested.sum(axis=0) > 0)
        firm = np.asarray(firms, dtype=np.int64)[funded]
        self.buy_equity(firm, invested[:, funded], valuation_usd[firm])
        valuation_usd[firm] += round_sizes_usd(invested[:, funded])
        return invested

    def close_rounds(self, valuation_usd: np.ndarray) -> np.ndarray:
        """The valuations after this month's rounds (USD, one per firm), kept with the stakes
        marked at them for next month's return. Returns those stakes, one per investor."""
        self.valuation_usd = valuation_usd
        self.marked_after_rounds_usd = self.marked_stakes_usd(valuation_usd)
        return self.marked_after_rounds_usd

    def inflows_usd(self, capital_usd: list[float], inflow_usd_per_month: float) -> np.ndarray:
        """New money from limited partners this month, by fund (USD): the normal inflow times
        `funding_factor`, in proportion to each fund's capital (equally when none has any)."""
        total, n = sum(capital_usd), len(capital_usd)
        weight = np.array(capital_usd) / total if total > 0 else np.full(n, 1 / max(n, 1))
        return inflow_usd_per_month * self.funding_factor * weight

    def buy_equity(self, firm, invested_usd: np.ndarray, pre_money_usd) -> None:
        """Rounds in `firm` (a firm index, or an array of distinct ones): investors put in
        `invested_usd` (one amount per investor; a column per firm) at the pre-money valuations
        `pre_money_usd` (one per firm); all earlier holders are diluted by the stake sold:

            own_ij <- own_ij * (1 - bought_j) + bought_j * invested_ij / amount_j

        A firm that raises nothing is left as it was."""
        firm = np.atleast_1d(np.asarray(firm, dtype=np.int64))
        invested = np.asarray(invested_usd, dtype=float)
        if invested.ndim == 1:  # one firm's round
            invested = invested[:, None]
        pre_money = np.broadcast_to(np.asarray(pre_money_usd, dtype=float), firm.shape)
        amount = round_sizes_usd(invested)
        raised = amount > 0
        firm, invested, pre_money, amount = (
            firm[raised],
            invested[:, raised],
            pre_money[raised],
            amount[raised],
        )
        bought = amount / (np.maximum(pre_money, 0.0) + amount)
        kept = self.ownership[:, firm] * (1.0 - bought)
        self.ownership[:, firm] = kept + bought * invested / amount
        self._held = None

    # ------------------------------------------------------------------ beliefs
    def realise(self, marked_now_usd: np.ndarray) -> float:
        """The month's return on the stakes held since last month's rounds (aggregate)."""
        before = float(self.marked_after_rounds_usd.sum())
        now = float(marked_now_usd.sum())
        self.realised_return = now / before - 1.0 if before > 0 else 0.0
        return self.realised_return

    def update_sentiment(self, realised_return: float) -> bool:
        """Extrapolate the return, move sentiment; True when a correction happens now."""
        self.expected_return += self.belief_update * (realised_return - self.expected_return)
        shortfall = 12 * self.expected_return - self.required_return_per_year
        target = float(np.clip(shortfall / self._tolerance, -SENTIMENT_BOUND, SENTIMENT_BOUND))
        self.sentiment += self.sentiment_adjustment * (target - self.sentiment)
        below = self.sentiment < self.correction_threshold
        correction = below and not self.corrected
        self.corrected = below
        return correction

    @staticmethod
    def learn_theses(
        thesis: np.ndarray, gains_usd: np.ndarray, orientation: np.ndarray, rate: float
    ) -> np.ndarray:
        """Confidence follows each investor's own book (investors x firms gains, USD):

            theta_i <- theta_i + rate * sum_j gain_ij * (orientation_j - theta_i) / sum_j |gain_ij|

        toward the orientation of what made it money, away from what lost it; unchanged
        without gains or losses."""
        weight = np.abs(gains_usd).sum(axis=1)
        pull = (gains_usd * (orientation[None, :] - thesis[:, None])).sum(axis=1)
        step = np.divide(pull, weight, out=np.zeros_like(pull), where=weight > 0)
        return np.clip(thesis + rate * step, 0.0, 1.0)

    @property
    def funding_factor(self) -> float:
        """Share of normal deployment investors make at today's sentiment (1 when s >= 0)."""
        return float(np.exp(self.funding_sensitivity * min(self.sentiment, 0.0)))

    def allocate(
        self,
        investor_thesis: np.ndarray,
        investor_budget_usd: np.ndarray,
        builder_orientation: np.ndarray,
        builder_performance: np.ndarray,
        builder_ask_usd: np.ndarray,
    ) -> np.ndarray:
        """Matrix (investors x builders) of USD invested this month."""
        n_inv, n_b = len(investor_thesis), len(builder_orientation)
        if n_inv == 0 or n_b == 0:
            return np.zeros((n_inv, n_b))
        fit = 1.0 - np.abs(investor_thesis[:, None] - builder_orientation[None, :])
        log_w = self.w_fit * fit + self.w_perf * builder_performance[None, :]
        log_w -= log_w.max(axis=1, keepdims=True)
        weights = np.exp(log_w) * (builder_ask_usd[None, :] > 0)
        totals = weights.sum(axis=1, keepdims=True)
        shares = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
        offers = shares * investor_budget_usd[:, None]
        # Each builder takes at most its ask; over-subscribed rounds are scaled down pro rata.
        offered = offers.sum(axis=0)
        scale = np.divide(
            builder_ask_usd, offered, out=np.zeros_like(offered), where=offered > builder_ask_usd
        )
        scale = np.where(offered > builder_ask_usd, scale, 1.0)
        return offers * scale[None, :]


def round_sizes_usd(invested_usd: np.ndarray) -> np.ndarray:
    """Each round's size (USD): the column sums of `invested_usd` (investors x firms), each
    added up as numpy adds up one firm's column on its own (pairwise), so the sizes do not
    depend on how many rounds close together."""
    return np.ascontiguousarray(invested_usd.T).sum(axis=1)

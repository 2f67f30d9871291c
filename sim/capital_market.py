"""Investors' sentiment and the allocation of funding: the capital market of AI.

Sentiment s (dimensionless, 0 neutral) moves each month a fraction lambda toward a target set by
how industry revenue compares with the revenue that would pay back the capex:

    required_usd_per_year = capex of the last `payback` years / payback / capex_share_of_revenue
    target = log(revenue_usd_per_year / required_usd_per_year) + optimism * max(0, 1 - t/patience)
    s     <- s + lambda * (target - s)

Early on investors forgive low revenue (the optimism credit decays over `patience` months). When s
falls below `correction_threshold` from above, a valuation correction happens: investors mark
their capital down by `correction_markdown`. The funding pool scales with exp(k * min(s, 0)).

An investor i with thesis theta_i (0 efficiency .. 1 scale) weights builder j by

    w_ij = exp(w_fit * fit_ij + w_perf * perf_j),   fit_ij = 1 - |theta_i - orientation_j|

and splits the capital it deploys this month over the builders raising money, pro rata to w_ij,
each builder receiving at most what it asks for.
"""

from __future__ import annotations

import numpy as np


class CapitalMarket:
    def __init__(
        self,
        sentiment_adjustment: float,
        patience_months: float,
        optimism: float,
        capex_payback_years: float,
        capex_share_of_revenue: float,
        funding_sensitivity: float,
        correction_threshold: float,
        correction_markdown: float,
        w_fit: float,
        w_perf: float,
    ) -> None:
        self.sentiment_adjustment = sentiment_adjustment
        self.patience_months = patience_months
        self.optimism = optimism
        self.capex_payback_years = capex_payback_years
        self.capex_share_of_revenue = capex_share_of_revenue
        self.funding_sensitivity = funding_sensitivity
        self.correction_threshold = correction_threshold
        self.correction_markdown = correction_markdown
        self.w_fit = w_fit
        self.w_perf = w_perf
        self.sentiment = optimism
        self.corrected = False  # below threshold: a correction already happened
        self.required_revenue_usd_per_year = 0.0

    def update_sentiment(
        self, month: int, revenue_usd_per_year: float, capex_history_usd: np.ndarray
    ) -> bool:
        """Move sentiment toward its target; return True when a correction happens now."""
        # The caller seeds the history with the build-out made before the start date.
        window = int(round(self.capex_payback_years * 12))
        self.required_revenue_usd_per_year = float(capex_history_usd[-window:].sum()) / (
            self.capex_payback_years * self.capex_share_of_revenue
        )
        required = max(self.required_revenue_usd_per_year, 1.0)
        credit = self.optimism * max(0.0, 1.0 - month / self.patience_months)
        target = np.log(max(revenue_usd_per_year, 1.0) / required) + credit
        self.sentiment += self.sentiment_adjustment * (target - self.sentiment)
        below = self.sentiment < self.correction_threshold
        correction = below and not self.corrected
        self.corrected = below
        return correction

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

"""What a firm's future is worth: expected discounted cash flow from its recent books.

Funders (investors, parent companies) and the survival scoreboard judge a firm the same way,
by extrapolating its books. Its gross profit GP (revenue less the compute its customers used,
USD/month, the last three months' mean) grows at its trailing rate g (log growth of revenue per
month over the last year, within [G_MIN, G_MAX]), and that growth fades with a half-life of H
months; its other costs F (operations, R&D, training, capex, the last twelve months' mean) stay:

    GP_t = GP_0 * exp(g * H / ln 2 * (1 - 2 ** (-t / H)))                       USD/month
    V    = sum_{t=1..T} (GP_t - F) / (1 + r) ** t                               USD

with r the funder's monthly discount rate (an investor's required return, a parent's hurdle).
V > 0: the firm has a credible path to profit, and money put in now is expected to come back.
A firm is *viable* when its cash covers what V says it will still lose: cash + V > 0.
"""

from __future__ import annotations

import functools

import numpy as np

HORIZON_MONTHS = 120  # ten years of cash flows
GROWTH_HALF_LIFE_MONTHS = 24.0  # extrapolated growth halves every two years
G_MIN, G_MAX = -0.05, 0.08  # log growth a month: from -45% to +160% a year


MONTHS_AHEAD = np.arange(1, HORIZON_MONTHS + 1, dtype=float)[None, :]  # t = 1..T
# How far along its fading growth a firm is by month t, 1 - 2 ** (-t / H): the same for every
# firm, so computed once.
GROWTH_FADE = 1.0 - 2.0 ** (-MONTHS_AHEAD / GROWTH_HALF_LIFE_MONTHS)


def monthly_rate(rate_per_year) -> np.ndarray:
    return np.power(1.0 + np.asarray(rate_per_year, dtype=float), 1.0 / 12.0) - 1.0


@functools.lru_cache(maxsize=256)
def discount_factors(rate_per_month: float) -> np.ndarray:
    """(1 + r) ** -t for t = 1..T (a row; read-only). Funders' rates are few (the investors'
    required return, the parents' hurdles), so each row is computed once."""
    row = (1.0 + np.array([[rate_per_month]])) ** -MONTHS_AHEAD
    row.flags.writeable = False
    return row


def expected_value_usd(
    gross_profit_usd: np.ndarray,
    fixed_costs_usd: np.ndarray,
    growth_per_month: np.ndarray,
    discount_per_year,
) -> np.ndarray:
    """V for each firm (arrays of equal length; `discount_per_year` a scalar or an array)."""
    gp = np.asarray(gross_profit_usd, dtype=float)[:, None]
    fixed = np.asarray(fixed_costs_usd, dtype=float)[:, None]
    # (clipped to [G_MIN, G_MAX], as np.clip does)
    g = np.minimum(np.maximum(np.asarray(growth_per_month, dtype=float), G_MIN), G_MAX)[:, None]
    h = GROWTH_HALF_LIFE_MONTHS
    growth = np.exp(g * h / np.log(2.0) * GROWTH_FADE)
    r = np.broadcast_to(monthly_rate(discount_per_year), (gp.shape[0],))
    discount = _discount_rows(tuple(r.tolist()))
    return ((gp * growth - fixed) * discount).sum(axis=1)


@functools.lru_cache(maxsize=256)
def _discount_rows(rates_per_month: tuple[float, ...]) -> np.ndarray:
    """`discount_factors` of each rate, one row each (read-only): the firms' funders change
    only with entry and exit, so the month's table is most often last month's."""
    rows = np.concatenate(
        [discount_factors(rate) for rate in rates_per_month] or [np.empty((0, HORIZON_MONTHS))]
    )
    rows.flags.writeable = False
    return rows


def trailing_growth(revenue_history: list[float], prior: float = 0.0, months: int = 12) -> float:
    """Log growth of revenue per month: the last three months' mean against the same three
    months `months` earlier. A young firm's short record is blended with `prior` (the growth
    funders expect of the industry), weighted by the months it does not cover."""
    h = revenue_history
    span = min(months, len(h) - 3)
    if span < 1:
        return prior
    now = sum(h[-3:]) / 3
    then = sum(h[-3 - span : -span]) / min(3, len(h) - span)
    if now <= 0 or then <= 0:
        seen = G_MAX if now > 0 else (G_MIN if then > 0 else prior)
    else:
        seen = float(np.log(now / then) / span)
    return (span * seen + (months - span) * prior) / months

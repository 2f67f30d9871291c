"""Prices set against rivals: multi-product Bertrand–Nash under the nested logit.

Each firm sets the token prices of its offers to maximise its profit given the others' prices.
Demand for offer k is the tokens the shopping enterprises would buy from it,

    s_k(p)  = g(p_k) * sum_i w_i P_ik(p)                                   Mtok/month
    g(p)    = min((p / p_ref) ** -elasticity, max_usage_multiple)          usage per base Mtok

with P_ik the nested-logit probability (`aiecosim.markets.choice`) for row i, whose utility falls by
alpha_i = b_price / value_i utils per USD/Mtok of price. The derivatives split, as in Morrow and
Skerlos (2011), into a diagonal part Lambda and a cross part Gamma, ds/dp = -Lambda + Gamma:

    Lambda_k   = g_k sum_i w_i alpha_i P_ik / lambda_k  -  g'_k sum_i w_i P_ik
    Gamma_kj   = g_k sum_i w_i alpha_i P_ik [ (1/lambda_k - 1) P_i(j|nest) [same nest] + P_ij ]

and the first-order conditions of every firm, with Omega_jk = 1 when j and k belong to the same
firm and margins m = p - c, are the fixed point

    p = c + zeta(p),   zeta(p) = Lambda^-1 [ (Omega o Gamma)^T m + s ]        USD/Mtok

Offers whose price the firm does not set (self-hosted open weights: the enterprise pays the
compute, the firm a support fee) enter with a fixed margin. Iterating zeta converges where a
plain best-response iteration may cycle; each month starts from last month's prices (warm
start), so a few iterations a month suffice. Nobody prices below marginal cost here: a rule
that does (penetration pricing) is the firm's own choice (`ModelBuilder.set_price`).

The sums run over a sample of enterprise rows drawn in proportion to their chance of shopping
this month times their demand (`DemandSample`), so the aggregate derivatives cost
O(rows x offers) and not O(enterprises x offers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from aiecosim.markets.choice import NestedLogit
from threadpoolctl import ThreadpoolController

# The products here are small (offers x sample rows): one BLAS thread is faster than several,
# and gives the same bits on every machine and in every worker process.
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class DemandSample:
    """The demand a price setter faces: a sample of shopping enterprises (rows) and the offers
    (columns, sorted by nest).

    delta: utility of each offer before its price (rows x offers), utils
    alpha: utils lost per USD/Mtok of price, per row
    weight: base demand each row stands for, Mtok/month at the reference price
    outside: utility of no AI, per row (-inf where it is not an option)
    """

    choice: NestedLogit
    delta: np.ndarray
    alpha: np.ndarray
    weight: np.ndarray
    outside: np.ndarray
    reference_price_usd_per_mtok: float
    elasticity: float
    max_usage_multiple: float

    def _utility(self, price: np.ndarray) -> np.ndarray:
        # in the sample's own precision (float32 in the model: probabilities need no more)
        return self.delta - np.multiply.outer(self.alpha, price.astype(self.delta.dtype))

    def usage(self, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Usage multiple g(p) and its derivative dg/dp, per offer."""
        p = np.maximum(price, 1e-12)
        g = (p / self.reference_price_usd_per_mtok) ** -self.elasticity
        capped = g >= self.max_usage_multiple
        dg = np.where(capped, 0.0, -self.elasticity * g / p)
        return np.minimum(g, self.max_usage_multiple), dg

    def demand(self, price: np.ndarray) -> np.ndarray:
        """Tokens demanded from each offer at `price`, Mtok/month (for the sample)."""
        p, _, _ = self.choice.parts(self._utility(price), self.outside)
        g, _ = self.usage(price)
        return g * (self.weight @ p)

    def derivatives(self, price: np.ndarray):
        """Demand s, the diagonal Lambda and the cross matrix Gamma at `price`."""
        p, within, _ = self.choice.parts(self._utility(price), self.outside)
        g, dg = self.usage(price)
        wp = self.weight @ p  # sum_i w_i P_ik
        wap = (self.weight * self.alpha)[:, None] * p  # w_i alpha_i P_ik
        lam = self.choice.column_lambda
        s = g * wp
        diagonal = g * wap.sum(axis=0) / lam - dg * wp
        cross = wap.T @ p + (1 / lam - 1)[:, None] * (wap.T @ within) * self.choice.same_nest
        return s, diagonal, g[:, None] * cross


class BertrandNashPricer:
    """Multi-product Bertrand–Nash prices by the zeta fixed point of Morrow and Skerlos (2011).

    `solve` runs `iterations` steps of p <- c + zeta(p) from the given prices: from a cold
    start, enough of them reach the equilibrium; from last month's prices, a few track it.
    """

    def __init__(self, iterations: int = 4, tolerance: float = 1e-6):
        self.iterations = iterations
        self.tolerance = tolerance  # relative change of the prices (per USD above 1 USD)

    def solve(
        self,
        demand: DemandSample,
        price: np.ndarray,
        cost: np.ndarray,
        owner: np.ndarray,
        priced: np.ndarray,
        iterations: int | None = None,
    ) -> np.ndarray:
        """Prices after the iterations. `cost` is the marginal cost of each offer (USD/Mtok);
        `owner` the firm of each offer; `priced` marks the offers whose firm sets the price:
        the others keep theirs, and earn their firm the fixed margin price - cost."""
        with _BLAS.limit(limits=1, user_api="blas"):
            return self._iterate(demand, price, cost, owner, priced, iterations)

    def _iterate(self, demand, price, cost, owner, priced, iterations):
        price = np.asarray(price, dtype=float).copy()
        cost = np.asarray(cost, dtype=float)
        same_firm = owner[:, None] == owner[None, :]
        for _ in range(self.iterations if iterations is None else iterations):
            s, diagonal, cross = demand.derivatives(price)
            margin = price - cost
            zeta = ((same_firm * cross).T @ margin + s) / np.maximum(diagonal, 1e-300)
            # An offer nobody in the sample would buy keeps its price: there is no demand to
            # read a best response from.
            update = priced & (diagonal > 0)
            new = np.where(update, cost + np.maximum(zeta, 0.0), price)
            # converged when no price moves by more than the tolerance (relative to it)
            step = np.abs(new - price) / np.maximum(np.abs(price), 1.0)
            done = np.max(step, initial=0.0) < self.tolerance
            price = new
            if done:
                break
        return price


def first_order_residual(
    demand: DemandSample, price: np.ndarray, cost: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """d profit_f / d p_k for every offer k of firm f, by finite differences of the demand:
    zero at a Nash equilibrium. Used to check the solver, not by it."""

    def profit(p: np.ndarray, firm: int) -> float:
        return float(((p - cost) * demand.demand(p))[owner == firm].sum())

    residual = np.zeros(len(price))
    for k in range(len(price)):
        h = 1e-6 * max(1.0, abs(price[k]))
        up, down = price.copy(), price.copy()
        up[k] += h
        down[k] -= h
        residual[k] = (profit(up, owner[k]) - profit(down, owner[k])) / (2 * h)
    return residual

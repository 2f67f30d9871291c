"""Nested-logit choice: no AI, or an offer within a nest of close substitutes.

Offers are grouped in nests (closed API, integrated ecosystem, open weights). A chooser first
picks "no AI" or a nest, then an offer within the nest:

    I_g      = lambda_g * logsumexp_{k in g}(u_k / lambda_g)          inclusive value, utils
    P(g)     = exp(I_g) / (exp(u_0) + sum_h exp(I_h))
    P(k | g) = exp(u_k / lambda_g) / sum_{j in g} exp(u_j / lambda_g)
    P(k)     = P(g) * P(k | g)

lambda_g in (0, 1] is the nest's dissimilarity: near 0 its offers are near-perfect substitutes
(ten clones of one offer take about the share of one, plus lambda_g * ln 10 utils), at 1 the
nest is no nest at all and the formula is the plain logit P(k) = exp(u_k) / sum exp(u).

Everything is one array computation over rows (choosers) x columns (offers sorted by nest):
the per-nest row-wise log-sum-exp is a `reduceat` over the nest's columns, each nest shifted by
its own row maximum, so no utility overflows or underflows a whole nest. Drawing the nest and
then the offer with one uniform per row is the same as inverting the cumulative unconditional
probabilities over the sorted columns, which is what `draw` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Nest of an offer, in column order: offers must be sorted by this index.
NESTS: tuple[str, ...] = ("closed_api", "ecosystem", "open_weights")


@dataclass(frozen=True)
class NestedLogit:
    """Nest index of each offer column (non-decreasing) and each nest's lambda."""

    nest: np.ndarray  # int, one per offer column, sorted
    lambdas: np.ndarray  # float, one per nest index, each in (0, 1]

    def __post_init__(self):
        nest = np.asarray(self.nest, dtype=np.int64)
        if len(nest) and np.any(np.diff(nest) < 0):
            raise ValueError("offer columns must be sorted by nest")
        object.__setattr__(self, "nest", nest)
        object.__setattr__(self, "lambdas", np.asarray(self.lambdas, dtype=float))
        # the first column of each non-empty nest, and which nest each run of columns is
        starts = np.flatnonzero(np.r_[True, np.diff(nest) != 0]) if len(nest) else np.zeros(0, int)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_present", nest[starts] if len(nest) else np.zeros(0, int))
        # column -> position of its nest among the present nests, and the number of columns
        # of each present nest (a rows x present-nests array spread over the columns is
        # np.repeat(x, _sizes, axis=1), i.e. x[:, _group], without a fancy-index gather)
        object.__setattr__(self, "_group", np.cumsum(np.r_[0, np.diff(nest) != 0]))
        object.__setattr__(self, "_sizes", np.diff(np.r_[starts, len(nest)]))
        object.__setattr__(self, "column_lambda", self.lambdas[nest])
        object.__setattr__(self, "_nest_lambda", self.lambdas[self._present])
        object.__setattr__(self, "same_nest", nest[:, None] == nest[None, :])

    def parts(self, u: np.ndarray, u0: np.ndarray | float):
        """Unconditional probabilities P (rows x offers), within-nest probabilities P(k|g)
        (rows x offers) and the probability of no AI (rows), for utilities `u` and outside
        utility `u0` (a scalar or one per row; -inf: no AI is not an option)."""
        dtype = u.dtype
        sizes = self._sizes
        a = u / self.column_lambda.astype(dtype, copy=False)  # scaled utilities
        top = np.maximum.reduceat(a, self._starts, axis=1)  # rows x present nests
        a -= np.repeat(top, sizes, axis=1)  # each nest shifted by its row maximum: no overflow
        np.exp(a, out=a)
        within_sum = np.add.reduceat(a, self._starts, axis=1)
        a /= np.repeat(within_sum, sizes, axis=1)  # P(k | g)
        inclusive = np.log(within_sum)
        inclusive += top
        inclusive *= self._nest_lambda.astype(dtype, copy=False)  # I_g, rows x present nests
        u0 = np.asarray(u0, dtype=dtype)
        if u0.ndim == 0:
            u0 = np.full(u.shape[0], u0, dtype=dtype)
        # the larger of no AI and the best nest, column by column (a max is exact, so in any
        # order the same as the row maximum; a row reduction over a few columns is slower)
        shift = u0
        for g in range(inclusive.shape[1]):
            shift = np.maximum(inclusive[:, g], shift)  # finite even where u0 is -inf
        inclusive -= shift[:, None]
        nest_w = np.exp(inclusive, out=inclusive)
        out_w = np.exp(u0 - shift)
        total = nest_w.sum(axis=1) + out_w
        nest_w /= total[:, None]
        return a * np.repeat(nest_w, sizes, axis=1), a, out_w / total

    def log_sum(self, u: np.ndarray, u0: np.ndarray | float) -> np.ndarray:
        """The expected maximum utility, log(exp(u_0) + sum_g exp(I_g)), per row (utils): the
        chooser's welfare from the menu, up to a constant."""
        a = u / self.column_lambda.astype(u.dtype, copy=False)
        top = np.maximum.reduceat(a, self._starts, axis=1)
        shifted = a - np.repeat(top, self._sizes, axis=1)
        within_sum = np.add.reduceat(np.exp(shifted), self._starts, axis=1)
        inclusive = self._nest_lambda * (top + np.log(within_sum))
        u0 = np.broadcast_to(np.asarray(u0, dtype=float), (u.shape[0],))
        both = np.concatenate([inclusive, u0[:, None]], axis=1)
        shift = both.max(axis=1)
        return shift + np.log(np.exp(both - shift[:, None]).sum(axis=1))

    def draw(self, u: np.ndarray, u0: np.ndarray | float, uniform: np.ndarray) -> np.ndarray:
        """One choice per row from one uniform each: an offer column, or len(offers) for no
        AI. Drawing the nest and then the offer with the same uniform equals inverting the
        cumulative probabilities over the nest-sorted columns."""
        p, _, p0 = self.parts(u, u0)
        cum = np.cumsum(p, axis=1)
        total = cum[:, -1] + p0
        choice = (cum < (uniform * total)[:, None]).sum(axis=1)
        return np.minimum(choice, u.shape[1])  # rounding at the top end


def consumer_surplus_usd_per_mtok(
    choice: NestedLogit, u: np.ndarray, u0: np.ndarray, price_coefficient: np.ndarray
) -> np.ndarray:
    """Each row's expected surplus from the menu over no AI, in USD per Mtok: the log-sum
    less the outside utility, divided by the row's price coefficient (utils per USD/Mtok)
    (Small and Rosen 1981; McFadden 1978 for the nested logit)."""
    return (choice.log_sum(u, u0) - np.asarray(u0, dtype=float)) / price_coefficient


def plain_logit(nest: np.ndarray) -> NestedLogit:
    """Every nest lambda = 1: the plain multinomial logit."""
    nest = np.asarray(nest, dtype=np.int64)
    return NestedLogit(nest, np.ones(max(len(NESTS), int(nest.max(initial=0)) + 1)))

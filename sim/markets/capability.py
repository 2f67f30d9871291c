"""Capability law: what a training run buys.

Effective compute is hardware FLOP times algorithmic efficiency, and algorithmic efficiency
doubles every `halving_months` (the compute needed for a given capability halves):

    A(t)   = 2 ** (t / halving_months)                       t in months since the start
    cap(F) = cap_max * (1 - (F * A(t) * m / F0) ** (-alpha))  for F * A * m > F0, else 0

cap is a dimensionless capability index on 0..cap_max; F is training FLOP; F0 the reference
compute at which capability is zero; m an effective-compute multiplier (open-weights models
distil from frontier outputs, m > 1). alpha is the strength of diminishing returns: a large alpha
pushes every model toward the ceiling, so the gap between frontier and open shrinks.

Each doubling of effective compute E buys d cap / d log2(E) = alpha * ln 2 * (cap_max - cap)
points: the closer to the ceiling, the less. A builder scales a run only while a doubling still
buys at least h points, i.e. up to the effective compute

    E*(h) = F0 * (alpha * ln 2 * cap_max / h) ** (1 / alpha)        (capability cap_max - h / (alpha ln 2))

beyond which scale does not pay (`worthwhile_flop`). A plateau (large alpha) brings E* near
today's frontier: the race to scale stops and followers catch up.

Model size follows a compute-optimal rule (tokens = tokens_per_param * params, F = 6 N D):
    N = sqrt(F / (6 * tokens_per_param))                     parameters
and serving a million tokens costs 2 N 1e6 FLOP, divided by the builder's serving efficiency.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aiecosim.config import CapabilityConfig, ComputeConfig


class CapabilityLaw:
    def __init__(
        self,
        cap_max: float,
        alpha: float,
        reference_flop: float,
        algorithmic_halving_months: float,
        tokens_per_param: float,
        inference_flop_per_gpu_hour: float,
    ) -> None:
        self.cap_max = cap_max
        self.alpha = alpha
        self.reference_flop = reference_flop
        self.halving_months = algorithmic_halving_months
        self.tokens_per_param = tokens_per_param
        self.inference_flop_per_gpu_hour = inference_flop_per_gpu_hour
        self._worthwhile: dict[tuple, float] = {}  # worthwhile_flop's answers

    @classmethod
    def from_config(cls, capability: CapabilityConfig, compute: ComputeConfig) -> CapabilityLaw:
        """The law of the `capability` section; serving cost also needs the `compute`
        section's inference FLOP per GPU-hour."""
        return cls(
            cap_max=capability.cap_max,
            alpha=capability.alpha,
            reference_flop=capability.reference_flop,
            algorithmic_halving_months=capability.algorithmic_halving_months,
            tokens_per_param=capability.tokens_per_param,
            inference_flop_per_gpu_hour=compute.inference_flop_per_gpu_hour,
        )

    def algorithmic_efficiency(self, month: float) -> float:
        """A(t): how many times less compute a given capability needs than at month 0."""
        return 2.0 ** (month / self.halving_months)

    def capability(self, training_flop: float, month: float, multiplier: float = 1.0) -> float:
        """Capability index (0..cap_max) of a model trained with `training_flop` at `month`."""
        effective = training_flop * self.algorithmic_efficiency(month) * multiplier
        ratio = effective / self.reference_flop
        if ratio <= 1.0:
            return 0.0
        return self.cap_max * (1.0 - ratio ** (-self.alpha))

    def flop_for_capability(
        self, capability: float, month: float, multiplier: float = 1.0
    ) -> float:
        """Inverse of `capability`: training FLOP needed at `month` (inf at or above the ceiling)."""
        if capability >= self.cap_max:
            return float("inf")
        if capability <= 0:
            return 0.0
        ratio = (1.0 - capability / self.cap_max) ** (-1.0 / self.alpha)
        return ratio * self.reference_flop / (self.algorithmic_efficiency(month) * multiplier)

    def worthwhile_flop(
        self, min_gain_per_doubling: float, month: float, multiplier: float = 1.0
    ) -> float:
        """Training FLOP at `month` past which one more doubling buys fewer than
        `min_gain_per_doubling` capability points (inf when the hurdle is 0)."""
        # Asked by every builder planning or pricing a run, a few distinct questions a month:
        # each answered once (the law's parameters are in the key, should one be changed).
        key = (
            self.alpha,
            self.cap_max,
            self.reference_flop,
            self.halving_months,
            min_gain_per_doubling,
            month,
            multiplier,
        )
        answer = self._worthwhile.get(key)
        if answer is None:
            answer = self._worthwhile[key] = self._solve_worthwhile_flop(
                min_gain_per_doubling, month, multiplier
            )
        return answer

    def _solve_worthwhile_flop(
        self, min_gain_per_doubling: float, month: float, multiplier: float
    ) -> float:
        if min_gain_per_doubling <= 0:
            return float("inf")
        # In logs: (slope / h) ** (1 / alpha) overflows for a small alpha.
        first_doubling_points = self.alpha * np.log(2.0) * self.cap_max
        log_effective = np.log(self.reference_flop) + (
            np.log(first_doubling_points / min_gain_per_doubling) / self.alpha
        )
        log_flop = log_effective - np.log(self.algorithmic_efficiency(month) * multiplier)
        return float(np.exp(log_flop)) if log_flop < 700 else float("inf")

    def parameters(self, training_flop: float) -> float:
        """Compute-optimal parameter count N for a run of `training_flop` FLOP."""
        return math.sqrt(training_flop / (6.0 * self.tokens_per_param))

    def gpu_hours_per_mtok(self, training_flop: float, serving_efficiency: float) -> float:
        """H100-equivalent GPU-hours to serve one million tokens of a model of that size."""
        flop_per_mtok = 2.0 * self.parameters(training_flop) * 1e6
        return flop_per_mtok / (self.inference_flop_per_gpu_hour * serving_efficiency)

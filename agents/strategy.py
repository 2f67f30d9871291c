"""Strategies of model builders: data, not code.

A model builder's behaviour is one class (`aiecosim.agents.builders.ModelBuilder`); what makes a
frontier lab differ from an integrated giant or an open-source builder is the frozen `Strategy` it
carries. The three archetypes of DESIGN.md are presets below; a scenario or experiment file can
define a variant in TOML (``[strategies.lean_frontier] base = "frontier_lab", markup = 1.2``)
without writing code.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from aiecosim.agents.archetypes import (  # noqa: F401 (the archetypes, named here too)
    ARCHETYPE_COLOURS,
    ARCHETYPE_LABELS,
    ARCHETYPES,
    Archetype,
)
from aiecosim.bounds import real_numbers
from pydantic import ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass


@dataclass(frozen=True, config=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False))
class Strategy:
    """The parameters of one strategic path (units in the names).

    Classifier-like fields (`archetype`, `open_weights`, `scale_orientation`) say what the
    strategy is; the rest say how a builder following it spends, prices and grows.
    """

    name: str
    archetype: Archetype
    description: str = ""
    # --- classifier
    open_weights: bool = False
    scale_orientation: float = Field(0.5, ge=0, le=1)  # 1 = pure scale bet, 0 = pure efficiency bet
    # --- training: each run aims at `scale_growth_per_run` times the last run's FLOP (no
    # further than scale still pays, `builders.min_gain_per_doubling`), spending at most
    # `training_share` of cash on it.
    initial_model_flop: float = Field(1e24, gt=0)
    training_share: float = Field(0.3, gt=0, le=5)  # above 1: counts on raising the rest
    scale_growth_per_run: float = Field(2.0, ge=1)
    training_months: int = Field(5, ge=1, le=36)
    # --- efficiency R&D (distillation, quantisation, sparsity, MoE): spent each month as a
    # share of operating expenses; serving efficiency grows with the cumulative dollars, with
    # diminishing returns (ModelBuilder.improve_serving).
    efficiency_rd_share: float = Field(0.05, ge=0, le=1)
    initial_serving_efficiency: float = Field(1.0, gt=0)
    # --- pricing rule (ModelBuilder.set_price):
    #   "nash": move toward the best response to rivals' prices (aiecosim.markets.pricing);
    #   "cost_plus": inference cost * (1 + markup);
    #   "penetration": inference cost * (1 - penetration_discount) for `penetration_months`
    #   after entry (below cost, to buy share), then "nash".
    pricing: Literal["nash", "cost_plus", "penetration"] = "nash"
    markup: float = Field(1.0, ge=0)
    penetration_months: int = Field(0, ge=0, le=1200)
    penetration_discount: float = Field(0.3, ge=0, le=1)
    # --- vertical integration
    owned_gpus_h100e: float = Field(0.0, ge=0)
    owned_energy_mw: float = Field(0.0, ge=0)
    owned_energy_cost_usd_per_mwh: float = Field(40.0, ge=0)
    dc_build_gpus_h100e_per_month: float = Field(0.0, ge=0)
    # --- market position
    specialised_sectors: tuple[int, ...] = ()
    lock_in_strength: float = Field(0.0, ge=0)
    # --- finance
    initial_cash_usd: float = Field(1e9, ge=0)
    opex_usd_per_month: float = Field(1e7, ge=0)
    raise_runway_months: float = Field(18.0, ge=0)  # 0: never raises from investors

    @field_validator("*", mode="after")
    @classmethod
    def _within_range(cls, value):
        return real_numbers(value)

    def variant(self, name: str, **changes) -> Strategy:
        """A new strategy equal to this one except for `changes`."""
        return dataclasses.replace(self, name=name, **changes)

    def traits(self) -> dict[str, float]:
        """The values of the traits that evolve (`EVOLVING_TRAITS`)."""
        return {t: float(getattr(self, t)) for t in EVOLVING_TRAITS}

    def mutate(self, rng: np.random.Generator, sd: float) -> Strategy:
        """A copy with each evolving trait perturbed: multiplied by exp(sd * N(0, 1)), or for
        `scale_orientation` (a position on 0..1) shifted by sd * N(0, 1); then clipped to the
        trait's range. The name stays: a mutant belongs to its parent's lineage. Always draws
        one normal per trait, so the random stream does not depend on `sd`."""
        shocks = rng.standard_normal(len(EVOLVING_TRAITS))
        if sd <= 0:
            return self
        changes = {}
        for shock, (trait, (low, high)) in zip(shocks, EVOLVING_TRAITS.items(), strict=True):
            value = float(getattr(self, trait))
            moved = (
                value + sd * shock if trait == "scale_orientation" else value * np.exp(sd * shock)
            )
            changes[trait] = float(np.clip(moved, low, high))
        return dataclasses.replace(self, **changes)


#: The traits an entrant inherits from the firm it imitates, each with the range a mutant stays
#: in. Assets (cash, fleets, plants) and the archetype are not traits: they come with entry.
EVOLVING_TRAITS: dict[str, tuple[float, float]] = {
    "markup": (0.0, 20.0),  # price over inference cost
    "training_share": (0.01, 5.0),  # of cash committed to the next run
    "scale_growth_per_run": (1.0, 10.0),  # next run's FLOP over the last
    "efficiency_rd_share": (0.0, 1.0),  # of spending on serving efficiency
    "scale_orientation": (0.0, 1.0),  # 1 = pure scale bet (what scale investors look for)
}


PRESETS: dict[str, Strategy] = {
    "frontier_lab": Strategy(
        name="frontier_lab",
        archetype="frontier_lab",
        description="Compute maximalism: scale training compute, closed weights, investor-funded.",
        open_weights=False,
        scale_orientation=1.0,
        initial_model_flop=5e25,
        training_share=1.2,
        scale_growth_per_run=2.2,
        training_months=6,
        efficiency_rd_share=0.03,
        initial_serving_efficiency=4.0,
        markup=3.0,
        specialised_sectors=(),
        lock_in_strength=0.3,
        initial_cash_usd=12e9,
        opex_usd_per_month=250e6,
        raise_runway_months=24.0,
    ),
    "integrated_giant": Strategy(
        name="integrated_giant",
        archetype="integrated_giant",
        description="Energy foundation: own power, data centres and a locked-in customer ecosystem.",
        open_weights=False,
        scale_orientation=0.7,
        initial_model_flop=3e25,
        training_share=0.2,
        scale_growth_per_run=2.0,
        training_months=6,
        efficiency_rd_share=0.08,
        initial_serving_efficiency=4.0,
        markup=1.5,
        owned_gpus_h100e=400_000,
        owned_energy_mw=300.0,
        owned_energy_cost_usd_per_mwh=40.0,
        dc_build_gpus_h100e_per_month=40_000,
        lock_in_strength=1.5,
        initial_cash_usd=30e9,
        opex_usd_per_month=400e6,
        raise_runway_months=12.0,  # only without a parent (an entrant)
    ),
    "open_source_builder": Strategy(
        name="open_source_builder",
        archetype="open_source_builder",
        description="Pragmatism: small, efficient, open-weights models; cheap, private, specialised.",
        open_weights=True,
        scale_orientation=0.1,
        initial_model_flop=4e24,
        training_share=0.6,
        scale_growth_per_run=1.6,
        training_months=3,
        efficiency_rd_share=0.3,
        initial_serving_efficiency=3.0,
        markup=0.4,
        lock_in_strength=0.0,
        initial_cash_usd=300e6,
        opex_usd_per_month=6e6,
        raise_runway_months=18.0,
    ),
}

"""Validated configuration: schema, scenario presets and overrides.

A run is described by one `SimConfig`. It is assembled in layers, each a nested dict merged into
the previous one: the schema's defaults (the baseline world), a named scenario file from
``aiecosim/experiments/scenarios/``, an optional user TOML file, and ``--set key.path=value``
overrides. The merged dict is validated once by pydantic; every failure becomes a `ConfigError`
whose message names the field path, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from aiecosim.agents.strategy import ARCHETYPES, PRESETS, Strategy
from aiecosim.bounds import real_numbers
from aiecosim.errors import ConfigError, list_scenarios, scenario_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

EARLIEST_START = dt.date(1950, 1, 1)
LATEST_START = dt.date(2200, 1, 1)


class _Section(BaseModel):
    # strict: a number must be a number (true, "5" and 2.5-for-an-integer are refused), a
    # date a date; allow_inf_nan: inf and nan are not numbers a market can run on.
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False
    )

    @field_validator("*", mode="after")
    @classmethod
    def _within_range(cls, value: Any) -> Any:
        return real_numbers(value)


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_folder_name(name: str) -> str:
    """A name that becomes a folder (runs/<scenario>-<seed>, sweeps/<experiment>) must stay one
    folder: letters, digits and _ . + -, starting with a letter or digit, no "..", so it can
    neither climb out of its parent nor be an absolute path."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            "not a safe folder name; allowed: letters, digits and _ . + - (starting with a "
            "letter or digit, no '..', no / or \\)"
        )
    return name


class ScenarioInfo(_Section):
    name: str = Field("baseline", min_length=1, max_length=100)
    description: str = "The world as it stands at the start date, trends continuing."

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return check_folder_name(value)


class RunConfig(_Section):
    steps: int = Field(120, gt=0, le=1200, description="months simulated")
    start_date: dt.date = Field(dt.date(2025, 1, 1), ge=EARLIEST_START, le=LATEST_START)
    enterprises: int = Field(5000, gt=0, le=2_000_000, description="simulated enterprise cohorts")
    max_memory_gb: float = Field(
        8.0, gt=0, le=4096, description="refuse a world estimated to need more memory than this"
    )


class SupplierConfig(_Section):
    name: str = Field(min_length=1)
    technology: Literal[
        "hydro", "nuclear", "renewables_storage", "coal", "gas", "gas_peaker", "oil"
    ]
    capacity_mw: float = Field(ge=0, description="average available capacity, MW")
    marginal_cost_usd_per_mwh: float = Field(ge=0)
    lead_time_months: int = Field(ge=0, le=240)
    carbon_t_per_mwh: float = Field(ge=0)
    lcoe_usd_per_mwh: float = Field(ge=0, description="full cost of new capacity (capex + fuel)")
    max_build_share_per_month: float = Field(
        0.01, ge=0, le=1, description="most new capacity ordered in a month, share of capacity"
    )


def _default_suppliers() -> list[SupplierConfig]:
    rows = [
        # name, technology, average MW, marginal $/MWh, lead months, tCO2/MWh, LCOE $/MWh, build
        ("hydro", "hydro", 480_000, 5, 84, 0.0, 90, 0.001),
        ("renewables + storage", "renewables_storage", 520_000, 10, 18, 0.02, 55, 0.012),
        ("nuclear", "nuclear", 310_000, 14, 96, 0.0, 110, 0.002),
        ("coal", "coal", 1_200_000, 45, 48, 0.95, 95, 0.0),
        ("gas combined cycle", "gas", 1_000_000, 70, 60, 0.37, 85, 0.004),
        ("gas peakers", "gas_peaker", 200_000, 130, 18, 0.55, 160, 0.004),
        ("oil and imports", "oil", 150_000, 190, 12, 0.75, 230, 0.0),
        ("on-site gas for data centres", "gas", 20_000, 85, 12, 0.45, 100, 0.03),
    ]
    keys = (
        "name",
        "technology",
        "capacity_mw",
        "marginal_cost_usd_per_mwh",
        "lead_time_months",
        "carbon_t_per_mwh",
        "lcoe_usd_per_mwh",
        "max_build_share_per_month",
    )
    return [SupplierConfig(**dict(zip(keys, row, strict=True))) for row in rows]


class EnergyConfig(_Section):
    base_load_twh_per_year: float = Field(29_000, ge=0, description="non-data-centre demand")
    base_load_growth_per_year: float = Field(0.033, ge=-0.5, le=1)
    non_ai_dc_twh_per_year: float = Field(370, ge=0, description="conventional data centres")
    non_ai_dc_growth_per_year: float = Field(0.09, ge=-0.5, le=1)
    marginal_cost_growth_per_year: float = Field(0.0, ge=-0.5, le=2)
    scarcity_threshold: float = Field(
        0.92, gt=0, lt=1, description="utilisation where premium starts"
    )
    scarcity_premium_usd_per_mwh: float = Field(400, ge=0)
    price_expectation_months: float = Field(12, ge=1)
    lead_time_multiplier: float = Field(1.0, gt=0, le=10)
    plant_life_years: float = Field(30.0, gt=0, le=100, description="book life of power plants")
    plant_cost_of_capital: float = Field(
        0.07, ge=0, le=1, description="a year: turns the capital part of LCOE into overnight cost"
    )
    suppliers: list[SupplierConfig] = Field(default_factory=_default_suppliers, min_length=1)


class ComputeConfig(_Section):
    installed_gpus_h100e: float = Field(4.0e6, ge=0, description="rentable accelerators at start")
    gpu_production_h100e_per_month: float = Field(700_000, ge=0)
    gpu_production_growth_per_year: float = Field(0.5, ge=-0.9, le=10)
    gpu_life_months: int = Field(48, gt=0)
    capex_usd_per_h100e: float = Field(40_000, gt=0, description="chip plus data-centre share")
    price_performance_doubling_months: float = Field(24, gt=0)
    power_kw_per_h100e: float = Field(1.4, gt=0, description="all-in, cooling included")
    power_efficiency_doubling_months: float = Field(30, gt=0)
    dc_power_capacity_mw: float = Field(9_000, ge=0, description="grid connections for AI DCs")
    dc_power_growth_mw_per_month: float = Field(600, ge=0)
    dc_power_growth_per_year: float = Field(0.2, ge=-0.9, le=10)
    target_utilisation: float = Field(0.8, gt=0, lt=1)
    scarcity_multiplier: float = Field(2.0, ge=0)
    cloud_markup: float = Field(0.5, ge=0)
    training_flop_per_gpu_hour: float = Field(1.4e18, gt=0)
    inference_flop_per_gpu_hour: float = Field(4.0e17, gt=0)


class CapabilityConfig(_Section):
    cap_max: float = Field(100.0, gt=0)
    alpha: float = Field(0.12, gt=0, le=5, description="strength of diminishing returns")
    reference_flop: float = Field(1e21, gt=0)
    algorithmic_halving_months: float = Field(8.0, gt=0)
    open_distillation_multiplier: float = Field(3.0, ge=1, description="effective compute bonus")
    tokens_per_param: float = Field(20.0, gt=0)
    rd_reference_usd: float = Field(
        5e7,
        gt=0,
        description="cumulative R&D at which serving efficiency has grown 2**rd_elasticity",
    )
    rd_elasticity: float = Field(
        0.3, ge=0, le=2, description="serving efficiency ~ (1 + R&D / reference) ** elasticity"
    )
    open_rd_spillover: float = Field(
        0.3, ge=0, le=1, description="share of other open builders' released R&D one absorbs"
    )
    serving_efficiency_growth_per_year: float = Field(0.3, ge=0, description="industry-wide")


class EnterpriseConfig(_Section):
    n_sectors: int = Field(10, ge=1, le=100)
    potential_demand_mtok_per_month: float = Field(
        6e9, gt=0, description="world token demand if every organisation adopted, at p_ref"
    )
    demand_growth_per_year: float = Field(0.6, ge=-0.9, le=100)
    price_elasticity: float = Field(0.5, ge=0, le=3)
    reference_price_usd_per_mtok: float = Field(3.0, gt=0)
    initial_adoption: float = Field(0.25, ge=0, le=1)
    reconsider_share_per_month: float = Field(0.08, ge=0, le=1)
    value_usd_per_mtok_median: float = Field(8.0, gt=0)
    value_sigma: float = Field(1.0, ge=0)
    need_median: float = Field(60.0, gt=0)
    need_sigma: float = Field(0.3, ge=0)
    kappa: float = Field(
        6.0, gt=0, le=50, description="steepness of value in capability around the need"
    )
    b_value: float = Field(15.0, ge=0)
    b_price: float = Field(
        8.0, gt=0, description="utils per (price / value): > 0, or no price would be too high"
    )
    b_privacy: float = Field(1.5, ge=0)
    b_peer: float = Field(2.0, ge=0)
    b_specialisation: float = Field(0.6, ge=0)
    switching_cost: float = Field(1.0, ge=0)
    bass_p: float = Field(0.005, ge=0, le=1)
    bass_q: float = Field(0.05, ge=0, le=1)
    ramp_months: float = Field(14.0, gt=0, description="months to realise full value")
    integration_cost_median: float = Field(
        0.6, ge=0, description="monthly cost of running AI, per unit of base demand x value"
    )
    integration_cost_sigma: float = Field(0.8, ge=0)
    max_usage_multiple: float = Field(10.0, ge=1, description="cap on price-driven extra usage")
    patience_months: int = Field(18, ge=0)
    self_host_overhead: float = Field(1.6, ge=1, description="self-hosting cost vs cloud compute")
    open_api_privacy: float = Field(0.3, ge=0, le=1)
    # --- the outside option and the nests of the nested logit
    outside_utility: float = Field(
        11.0, description="utility of using no AI, against which every offer is weighed"
    )
    nest_utility: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, -1.5],
        description="utility of an offer's nest (closed API, ecosystem, open weights): support, "
        "reliability and integration beyond capability and price",
    )
    nest_lambda_closed_api: float = Field(0.6, gt=0, le=1, description="(0, 1]; 1 = no nest")
    nest_lambda_ecosystem: float = Field(0.6, gt=0, le=1, description="(0, 1]; 1 = no nest")
    nest_lambda_open_weights: float = Field(0.35, gt=0, le=1, description="(0, 1]; 1 = no nest")
    # --- size classes (small, medium, large) and hard tasks
    size_class_cohort_shares: list[float] = Field(
        default_factory=lambda: [0.5, 0.3, 0.2],
        description="how the simulated cohorts are spread over small, medium, large",
    )
    size_class_organisation_shares: list[float] = Field(
        default_factory=lambda: [0.9, 0.08, 0.02],
        description="share of the world's organisations in each class",
    )
    size_class_demand_shares: list[float] = Field(
        default_factory=lambda: [0.2, 0.3, 0.5],
        description="share of the world's token demand in each class",
    )
    hard_task_shares: list[float] = Field(
        default_factory=lambda: [0.05, 0.15, 0.35],
        description="mean share of hard work in a cohort's tasks, by size class",
    )
    hard_need_min: float = Field(75.0, gt=0, description="least capability need of hard work")
    hard_need_tail: float = Field(3.0, gt=0, description="Pareto tail index of hard needs")
    hard_value_multiple: float = Field(5.0, ge=1, description="value per token of hard work")

    @field_validator("nest_utility")
    @classmethod
    def _one_per_nest(cls, value: list[float]) -> list[float]:
        if len(value) != 3:
            raise ValueError(
                f"needs 3 values (closed API, ecosystem, open weights), got {len(value)}"
            )
        return value

    @field_validator(
        "size_class_cohort_shares",
        "size_class_organisation_shares",
        "size_class_demand_shares",
        "hard_task_shares",
    )
    @classmethod
    def _three_shares(cls, value: list[float], info) -> list[float]:
        if len(value) != 3:
            raise ValueError(f"needs 3 values (small, medium, large), got {len(value)}")
        for v in value:
            if not 0 <= v <= 1:
                raise ValueError(f"{v} is not a share in [0, 1]")
        if info.field_name != "hard_task_shares" and not math.isclose(sum(value), 1.0):
            raise ValueError(f"shares sum to {sum(value):g}; they must sum to 1")
        return value

    @model_validator(mode="after")
    def _simulated_classes_have_organisations_and_demand(self) -> EnterpriseConfig:
        sizes = ("small", "medium", "large")
        for cohorts, orgs, demand, size in zip(
            self.size_class_cohort_shares,
            self.size_class_organisation_shares,
            self.size_class_demand_shares,
            sizes,
            strict=True,
        ):
            if cohorts > 0 and (orgs <= 0 or demand <= 0):
                raise ValueError(
                    f"the {size} class has cohorts but size_class_organisation_shares {orgs} "
                    f"and size_class_demand_shares {demand}; both must be > 0 where cohorts are "
                    "simulated"
                )
        return self


class NetworkConfig(_Section):
    kind: Literal["small_world", "scale_free", "sector_blocks"] = "small_world"
    mean_degree: float = Field(10.0, ge=0)
    rewire_prob: float = Field(0.1, ge=0, le=1)
    within_sector_share: float = Field(0.8, ge=0, le=1)


class BuilderCohort(_Section):
    strategy: str = Field(min_length=1)
    count: int = Field(ge=0, le=1000)
    entrant: bool = Field(
        False, description="start as a newcomer: an entrant's share of assets and no model yet"
    )


class BuildersConfig(_Section):
    initial: list[BuilderCohort] = Field(
        default_factory=lambda: [
            BuilderCohort(strategy="frontier_lab", count=4),
            BuilderCohort(strategy="integrated_giant", count=3),
            BuilderCohort(strategy="open_source_builder", count=10),
        ]
    )
    entry_rate_per_month: float = Field(0.15, ge=0, le=10)
    entrant_strategy_shares: dict[str, float] = Field(
        default_factory=lambda: {"frontier_lab": 0.2, "open_source_builder": 0.8}
    )
    imitation_share: float = Field(0.3, ge=0, le=1)
    mutation_sd: float = Field(
        0.1, ge=0, le=2, description="log-scale spread of an imitator's traits around its model's"
    )
    entrant_cash_share: float = Field(0.5, gt=0, le=10, description="of the preset's cash")
    open_support_fee_share: float = Field(
        0.15, ge=0, lt=1, description="share of self-hosting spend paid to the model's builder"
    )
    min_training_share_of_target: float = Field(0.25, gt=0, le=1)
    min_gain_per_doubling: float = Field(
        0.2, ge=0, le=100, description="capability points a doubling of compute must buy"
    )
    max_firms: int = Field(200, ge=1, le=5000)
    # --- prices set against rivals (aiecosim.markets.pricing)
    price_stickiness: float = Field(
        0.5, ge=0, lt=1, description="share of the gap to the best response left each month"
    )
    price_sample_rows: int = Field(
        256, ge=8, le=100_000, description="shopping enterprises the price setters read"
    )
    price_iterations: int = Field(
        2, ge=1, le=200, description="fixed-point steps toward the best response a month"
    )
    # --- finite serving capacity
    serving_capacity_growth_per_month: float = Field(
        0.3, ge=0, le=10, description="most a firm's serving compute can grow in a month"
    )
    min_serving_gpu_hours_per_month: float = Field(
        2e6, gt=0, description="serving compute any firm with a model can contract"
    )

    @field_validator("entrant_strategy_shares")
    @classmethod
    def _shares_valid(cls, value: dict[str, float]) -> dict[str, float]:
        for name, share in value.items():
            if share < 0:
                raise ValueError(f"share of {name!r} is {share}; shares must be >= 0")
        return value


class InvestorConfig(_Section):
    n_investors: int = Field(20, ge=0, le=10_000)
    capital_usd: float = Field(250e9, ge=0, description="dry powder for AI at the start")
    inflow_usd_per_month: float = Field(12e9, ge=0)
    deploy_share_per_month: float = Field(0.06, ge=0, le=1)
    w_fit: float = Field(3.0, ge=0)
    w_perf: float = Field(1.0, ge=0)
    thesis_learning_rate: float = Field(0.02, ge=0, le=1)
    sentiment_adjustment: float = Field(0.15, gt=0, le=1)
    patience_months: float = Field(
        48,
        gt=0,
        le=1200,
        description="how long a return shortfall is tolerated: sets how far "
        "sentiment falls for a given shortfall",
    )
    optimism: float = Field(0.5, ge=-3, le=3, description="sentiment at the start (0 neutral)")
    required_return_per_year: float = Field(
        0.25, gt=0, le=5, description="return investors require on venture stakes"
    )
    belief_update: float = Field(
        0.15,
        gt=0,
        le=1,
        description="share of the gap to the realised return expectations close a month",
    )
    base_revenue_multiple: float = Field(
        25.0, gt=0, le=1000, description="valuation / annual revenue at neutral sentiment"
    )
    multiple_sentiment_elasticity: float = Field(
        0.5, ge=0, le=5, description="multiple = base * exp(elasticity * sentiment)"
    )
    initial_stake_share: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="share of each venture-funded incumbent investors own at the start",
    )
    prior_revenue_growth_per_year: float = Field(
        1.5,
        ge=-0.99,
        le=100,
        description="revenue growth funders expect before a firm has a record",
    )
    round_dilution: float = Field(
        0.2, ge=0, lt=1, description="share of a firm a round sells when it raises"
    )
    venture_months: float = Field(
        36,
        ge=0,
        le=1200,
        description="months after entry a firm may raise on promise, before "
        "its cash flows must show a path to profit",
    )
    capex_payback_years: float = Field(5.0, gt=0)
    capex_share_of_revenue: float = Field(
        0.25, gt=0, le=1, description="capex a mature AI industry can sustain per dollar of revenue"
    )
    funding_sensitivity: float = Field(1.0, ge=0)
    correction_threshold: float = Field(-0.7, le=0, ge=-3)


class ParentConfig(_Section):
    """The parent companies of incumbent integrated giants (aiecosim.agents.parents)."""

    hurdle_rate_per_year: float = Field(
        0.12, ge=0, le=5, description="return the parent requires of its AI unit"
    )
    loss_budget_usd: float = Field(
        150e9, ge=0, description="most the parent puts into its AI unit over the run"
    )
    patience_months: float = Field(
        24, ge=0, le=1200, description="months in a row the unit may miss the hurdle"
    )
    target_cash_months: float = Field(
        3, ge=0, le=120, description="months of the unit's costs the parent keeps it funded for"
    )


class SimConfig(_Section):
    scenario: ScenarioInfo = Field(default_factory=ScenarioInfo)
    run: RunConfig = Field(default_factory=RunConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    capability: CapabilityConfig = Field(default_factory=CapabilityConfig)
    enterprises: EnterpriseConfig = Field(default_factory=EnterpriseConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    builders: BuildersConfig = Field(default_factory=BuildersConfig)
    investors: InvestorConfig = Field(default_factory=InvestorConfig)
    parents: ParentConfig = Field(default_factory=ParentConfig)
    # Strategy variants defined in files: {name: {base: preset, field: value, ...}}
    strategies: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_resolve(self) -> SimConfig:
        known = set(self.strategy_table())
        for i, cohort in enumerate(self.builders.initial):
            if cohort.strategy not in known:
                raise ValueError(_unknown(f"builders.initial.{i}.strategy", cohort.strategy, known))
        for name in self.builders.entrant_strategy_shares:
            if name not in known:
                raise ValueError(_unknown("builders.entrant_strategy_shares", name, known))
        for name, strategy in self.strategy_table().items():
            if strategy.pricing == "penetration" and strategy.penetration_months > self.run.steps:
                raise ValueError(
                    f"strategies.{name}.penetration_months = {strategy.penetration_months}: "
                    f"longer than the run ({self.run.steps} months); allowed: 0..{self.run.steps}"
                )
        for name, strategy in self.strategy_table().items():
            for sector in strategy.specialised_sectors:
                if not 0 <= sector < self.enterprises.n_sectors:
                    raise ValueError(
                        f"strategies.{name}.specialised_sectors: sector {sector} is outside "
                        f"0..{self.enterprises.n_sectors - 1} (enterprises.n_sectors)"
                    )
        return self

    def estimated_memory_gb(self) -> float:
        """Memory a run of this world needs, estimated before anything is allocated: about
        100 bytes per adoption-network edge (the CSR matrix and its generation), 1 KB per
        enterprise cohort and 0.3 GB for the interpreter and libraries (measured: 50,000 cohorts
        at mean degree 200 peak at 0.5 GB)."""
        n = self.run.enterprises
        edges = n * min(self.network.mean_degree, max(n - 1, 0)) / 2
        return (100 * edges + 1024 * n) / 1e9 + 0.3

    @model_validator(mode="after")
    def _fits_in_memory(self) -> SimConfig:
        need = self.estimated_memory_gb()
        if need > self.run.max_memory_gb:
            raise ValueError(
                f"run.enterprises = {self.run.enterprises} with network.mean_degree = "
                f"{self.network.mean_degree:g} needs about {need:.1f} GB, above "
                f"run.max_memory_gb = {self.run.max_memory_gb:g}; lower them, or raise "
                "run.max_memory_gb if the machine has the memory"
            )
        return self

    def strategy_table(self) -> dict[str, Strategy]:
        """Presets plus the variants this config defines, by name."""
        table = dict(PRESETS)
        for name, spec in self.strategies.items():
            if not isinstance(spec, dict):
                raise ValueError(f"strategies.{name} = {spec!r}: expected a table of fields")
            spec = dict(spec)
            if "name" in spec:
                raise ValueError(
                    f"strategies.{name}.name: a strategy is named by its table's key "
                    f"([strategies.{name}]); remove 'name'"
                )
            base_name = spec.pop("base", None)
            if base_name is not None and not isinstance(base_name, str):
                raise ValueError(
                    f"strategies.{name}.base = {base_name!r}: expected one name; allowed: "
                    + ", ".join(sorted(table))
                )
            if base_name is None:
                archetype = spec.get("archetype")
                if archetype not in ARCHETYPES:
                    close = difflib.get_close_matches(name, list(table), n=1)
                    hint = (
                        f"unknown strategy (did you mean {close[0]!r}?); a new one needs "
                        if close
                        else "give "
                    )
                    raise ValueError(
                        f"strategies.{name}: {hint}'base' (one of {sorted(table)}) "
                        f"or an 'archetype' (one of {list(ARCHETYPES)})"
                    )
                base_name = archetype
            if base_name not in table:
                raise ValueError(_unknown(f"strategies.{name}.base", base_name, table))
            if "specialised_sectors" in spec:
                sectors = spec["specialised_sectors"]
                if not isinstance(sectors, list | tuple):
                    raise ValueError(
                        f"strategies.{name}.specialised_sectors = {sectors!r}: expected a list "
                        "of sector indices, e.g. [0, 3]"
                    )
                spec["specialised_sectors"] = tuple(sectors)
            unknown = set(spec) - {f.name for f in Strategy.__dataclass_fields__.values()}
            for key in unknown:
                raise ValueError(
                    _unknown(f"strategies.{name}.{key}", key, Strategy.__dataclass_fields__)
                )
            try:
                table[name] = table[base_name].variant(name, **spec)
            except ValidationError as err:
                first = err.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise ValueError(
                    f"strategies.{name}.{field} = {first.get('input')!r}: {first['msg'].lower()}"
                ) from None
        return table


# ----------------------------------------------------------------------------- loading


def _unknown(path: str, value: object, allowed) -> str:
    allowed = sorted(str(a) for a in allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{path}: unknown value {value!r}{hint}; allowed: {', '.join(allowed)}"


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err}") from None


def scenario_overrides(name: str) -> dict[str, Any]:
    scenarios = list_scenarios()
    if name not in scenarios:
        raise ConfigError(_unknown("scenario", name, scenarios))
    data = tomllib.loads((scenario_dir() / f"{name}.toml").read_text())
    data.setdefault("scenario", {})["name"] = name
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merge key by key; any other value (lists included) replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_value(text: str) -> Any:
    """A --set value is read as a TOML value (numbers, booleans, strings, arrays); bare words
    that are not TOML stay strings, so `--set network.kind=scale_free` works unquoted."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``key.path=value`` (the value read as TOML) to a nested dict."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    path, text = assignment.split("=", 1)
    return set_value(data, path.strip(), _parse_value(text.strip()))


def set_value(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `data` with the setting at the dotted `path` (lists indexed by number) set to
    `value`. A preset's parameter can be set directly
    (``strategies.integrated_giant.opex_usd_per_month``): the preset is redefined on itself with
    that change, as a scenario file would do; a new name under ``strategies`` starts a variant.
    An unknown key is a ConfigError naming the closest known one."""
    keys = path.split(".")
    if not all(keys):
        raise ConfigError(f"{path!r}: empty key in the path")
    out = deep_merge({}, data)
    node: Any = out
    for depth, key in enumerate(keys[:-1]):
        here = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            node = node[_list_index(here, key, node)]
        elif isinstance(node, dict):
            if depth == 1 and keys[0] == "strategies" and key not in node:
                # a preset redefined on itself, or a new variant whose base is set next
                node[key] = {"base": key} if key in PRESETS else {}
            if key not in node:
                raise ConfigError(_unknown(here, key, node).replace("unknown value", "unknown key"))
            node[key] = deep_merge({}, node[key]) if isinstance(node[key], dict) else node[key]
            node = node[key]
        else:
            parent = ".".join(keys[:depth])
            raise ConfigError(f"{path}: {parent} is {node!r}, not a table of settings")
    last = keys[-1]
    if isinstance(node, list):
        node[_list_index(path, last, node)] = value
    elif isinstance(node, dict):
        if len(keys) > 1 and last not in node and not _open_table(keys[:-1]):
            section = _model_at(tuple(k for k in keys[:-1] if not k.isdigit()))
            known = list(section.model_fields) if section is not None else list(node)
            raise ConfigError(_unknown(path, last, known).replace("unknown value", "unknown key"))
        node[last] = value
    else:
        parent = ".".join(keys[:-1])
        raise ConfigError(f"{path}: {parent} is {node!r}, not a table of settings")
    return out


def _open_table(keys: list[str]) -> bool:
    """Tables whose keys are the user's to name: strategy variants and entrant shares."""
    return keys[0] == "strategies" or keys[-1] == "entrant_strategy_shares"


def _list_index(path: str, key: str, node: list) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise ConfigError(f"{path}: index {key!r} is not in 0..{len(node) - 1}")
    return int(key)


def _explain(err: ValidationError, data: dict[str, Any]) -> str:
    # a misspelt key explains the "field required" that usually comes with it: name it first
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        parent = data
        for part in first["loc"][:-1]:
            parent = parent[part] if not isinstance(parent, list) else parent[int(part)]
        section_model = _model_at(first["loc"][:-1])
        allowed = list(section_model.model_fields) if section_model else list(parent)
        return _unknown(loc, first["loc"][-1], allowed).replace("unknown value", "unknown key")
    value = first.get("input")
    if isinstance(value, dt.date):
        value = _Raw(value.isoformat())
    msg = first["msg"]
    if first["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
        if loc and not isinstance(value, dict):
            return f"{loc} = {value!r}: {msg}"
        return f"{loc}: {msg}" if loc else msg  # a whole-config check names its own path
    return f"{loc} = {value!r}: {msg.lower()}"


class _Raw(str):
    """A value shown as it was written (a date), not quoted."""

    def __repr__(self) -> str:
        return str(self)


def _model_at(loc) -> type[BaseModel] | None:
    model: Any = SimConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", None)
        model = args[0] if args and isinstance(args[0], type) else annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
    return model


def validate(data: dict[str, Any]) -> SimConfig:
    try:
        return SimConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_explain(err, data)) from None


def load_config(
    scenario: str = "baseline",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
    **sections: Any,
) -> SimConfig:
    """Defaults <- scenario file <- user TOML <- keyword sections <- --set overrides <- params
    (``{"capability.alpha": 0.3}``: Python values at dotted paths)."""
    data = SimConfig().model_dump(mode="python")
    data = deep_merge(data, scenario_overrides(scenario))
    if config_file is not None:
        data = deep_merge(data, read_toml(config_file))
    for key, value in sections.items():
        data = deep_merge(data, {key: value})
    for assignment in overrides:
        data = apply_override(data, assignment)
    for path, value in (params or {}).items():
        data = set_value(data, path, value)
    return validate(data)

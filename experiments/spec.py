"""Experiment specs: which parameters to vary, how, and how many replicates.

An experiment is a TOML file:

    [experiment]
    name = "which-strategy-survives"
    scenario = "baseline"          # the world every point starts from
    seed = 2025                    # experiment seed: run seeds derive from it
    design = "grid"                # grid | lhs | sobol | morris
    samples = 64                   # lhs: points; sobol: base N; morris: trajectories
    replicates = 4                 # runs per point, replicate k shares its seed across points
    steps = 120
    enterprises = 2000
    thin = 3                       # keep every 3rd month of the monthly table (1 = all)
    outputs = ["final_share_frontier_lab", "hhi_revenue"]   # for sensitivity indices

    [fixed]                        # overrides applied to every run
    "investors.n_investors" = 20

    [parameters."capability.alpha"]
    values = [0.08, 0.12, 0.3]     # grid: the values; other designs: low/high (+ log = true)

The model knows nothing of experiments: a point is a list of ``key.path=value`` overrides.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from aiecosim.config import ConfigError, _unknown, check_folder_name, load_config
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

SUMMARY_OUTPUTS = (
    "survived_frontier_lab",
    "survived_integrated_giant",
    "survived_open_source_builder",
    "alive_frontier_lab",
    "alive_integrated_giant",
    "alive_open_source_builder",
    "survivors_frontier_lab",
    "survivors_integrated_giant",
    "survivors_open_source_builder",
    "cum_profit_usd_frontier_lab",
    "cum_profit_usd_integrated_giant",
    "cum_profit_usd_open_source_builder",
    "consumer_surplus_usd",
    "consumer_surplus_usd_total",
    "final_share_frontier_lab",
    "final_share_integrated_giant",
    "final_share_open_source_builder",
    "hhi_revenue",
    "open_lag_months",
    "adoption_rate",
    "adopters_positive_roi_share",
    "dc_grid_share",
    "token_price_usd_per_mtok",
    "sentiment_min",
    "corrections",
    "exits",
    "entrants",
)


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Parameter:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give either 'values' or both 'low' and 'high'")
        if self.values is not None and len(self.values) == 0:
            raise ValueError("'values' is empty")
        if self.low is not None and self.high is not None:
            if not self.low < self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")
            if self.log and self.low <= 0:
                raise ValueError(f"log = true needs low > 0, got {self.low}")
        return self


class ExperimentInfo(BaseModel):
    # strict: seed = true or replicates = 2.5 are not numbers of runs
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return check_folder_name(value)  # it names the results folder, sweeps/<name>

    description: str = ""
    scenario: str = "baseline"
    seed: int = Field(0, ge=0)
    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: int = Field(16, ge=1, le=100_000)
    replicates: int = Field(1, ge=1, le=10_000)
    steps: int = Field(120, gt=0, le=1200)
    enterprises: int = Field(2000, gt=0, le=2_000_000)
    thin: int = Field(1, ge=1, le=120)
    outputs: list[str] = Field(default_factory=lambda: ["final_share_frontier_lab", "hhi_revenue"])
    morris_levels: int = Field(4, ge=2, le=20)


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment: ExperimentInfo
    fixed: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _design_fits(self) -> ExperimentSpec:
        design = self.experiment.design
        for name, p in self.parameters.items():
            if design == "grid" and p.values is None:
                raise ValueError(f"parameters.{name}: a grid needs 'values'")
            if design != "grid" and (p.low is None or p.high is None):
                raise ValueError(f"parameters.{name}: the {design} design needs 'low' and 'high'")
        for output in self.experiment.outputs:
            if output not in SUMMARY_OUTPUTS:
                raise ValueError(_unknown("experiment.outputs", output, SUMMARY_OUTPUTS))
        return self

    def overrides(self, point: dict[str, Any]) -> list[str]:
        """The ``key.path=value`` list that makes one run of this point."""
        e = self.experiment
        out = [f"run.steps={e.steps}", f"run.enterprises={e.enterprises}"]
        out += [f"{k}={_toml(v)}" for k, v in self.fixed.items()]
        out += [f"{k}={_toml(v)}" for k, v in point.items()]
        return out

    def digest(self) -> str:
        """A hash of what the results depend on (not the name or description)."""
        content = self.model_dump(mode="json")
        content["experiment"].pop("description", None)
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- size
MAX_RUNS = 1_000_000  # runs a sweep may hold unless `sweep --max-runs` raises it
MAX_GB = 50.0  # estimated gigabytes of results a sweep may write unless `--max-gb` raises it
COLUMNS_ESTIMATE = 90  # columns of a stored monthly table (83 model outputs + run, point, ...)
RUN_OVERHEAD_BYTES = 100_000  # per run: the two parquet files' schemas and footers (measured)


def count_points(spec: ExperimentSpec) -> int:
    """Points of the spec's design, counted without building it."""
    e = spec.experiment
    d = len(spec.parameters)
    if e.design == "grid":
        return math.prod(len(p.values or ()) for p in spec.parameters.values())
    if e.design == "lhs":
        return e.samples
    if e.design == "sobol":  # Saltelli without second-order terms: N (d + 2)
        return e.samples * (d + 2)
    return e.samples * (d + 1)  # morris: trajectories of d + 1 points


def estimate_bytes(spec: ExperimentSpec) -> int:
    """Rough size of the stored results: runs x stored months x ~90 columns x 8 bytes, plus
    the files' fixed overhead."""
    e = spec.experiment
    runs = count_points(spec) * e.replicates
    months = -(-e.steps // e.thin)
    return runs * (months * COLUMNS_ESTIMATE * 8 + RUN_OVERHEAD_BYTES)


def check_size(
    spec: ExperimentSpec, max_runs: int = MAX_RUNS, max_gb: float = MAX_GB, source: str = "spec"
) -> None:
    """Refuse a spec too big to mean (a grid of ten 100-value levers...) before anything is
    allocated or written."""
    e = spec.experiment
    points = count_points(spec)
    runs = points * e.replicates
    if runs > max_runs:
        raise ConfigError(
            f"{source}: {runs:,} runs ({points:,} points x {e.replicates} replicates) is over "
            f"the bound of {max_runs:,}; shrink the design, or raise the bound with --max-runs"
        )
    gb = estimate_bytes(spec) / 1e9
    if gb > max_gb:
        raise ConfigError(
            f"{source}: {runs:,} runs would store an estimated {gb:,.1f} GB ({-(-e.steps // e.thin)}"
            f" months x ~{COLUMNS_ESTIMATE} columns a run), over the bound of {max_gb:g} GB; "
            "thin the monthly table (experiment.thin), or raise the bound with --max-gb"
        )


def _fields_at(loc: tuple) -> list[str]:
    """Field names of the spec section at `loc` (for suggesting the key meant)."""
    if not loc:
        return list(ExperimentSpec.model_fields)
    if loc[0] == "experiment":
        return list(ExperimentInfo.model_fields)
    if loc[0] == "parameters":
        return list(Parameter.model_fields)
    return []


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def load_spec(path: str | Path) -> ExperimentSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"spec file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"spec file {str(path)!r} is a folder, not a TOML file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"spec file {str(path)!r} is not a text file (byte {err.start} is not UTF-8); "
            "give the experiment's TOML file"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read spec file {str(path)!r}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"spec file {str(path)!r} is not valid TOML: {err}") from None
    return parse_spec(data, source=str(path))


def parse_spec(data: dict[str, Any], source: str = "spec") -> ExperimentSpec:
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            allowed = _fields_at(first["loc"][:-1])
            raise ConfigError(
                f"{source}: "
                + _unknown(loc, first["loc"][-1], allowed).replace("unknown value", "unknown key")
            ) from None
        if first["type"] == "value_error":
            message = first["msg"].removeprefix("Value error, ")
            where = f"{loc} = {first.get('input')!r}: " if loc else ""  # a field's own check
            raise ConfigError(f"{source}: {where}{message}") from None
        raise ConfigError(
            f"{source}: {loc} = {first.get('input')!r}: {first['msg'].lower()}"
        ) from None
    # Every parameter and fixed key must be a real config path; every bound a valid value.
    from aiecosim.experiments.design import lever_type

    probes = [(k, v) for k, v in spec.fixed.items()]
    for key, p in spec.parameters.items():
        if p.values is not None:
            probes += [(key, v) for v in p.values]
            continue
        bounds = (p.low, p.high)
        if lever_type(key) is int:  # sampled values are rounded: the bounds must be whole
            for bound in bounds:
                if not float(bound).is_integer():
                    raise ConfigError(
                        f"{source}: parameters.{key}: {bound} is not a whole number; "
                        f"{key} is an integer, so low and high must be whole numbers"
                    )
            bounds = tuple(int(b) for b in bounds)
        probes += [(key, v) for v in bounds]
    for key, value in probes:
        try:
            load_config(spec.experiment.scenario, overrides=[f"{key}={_toml(value)}"])
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    return spec

"""The model for the EMA workbench: uncertainties and levers typed from the schema, scalar and
time-series outcomes, one seed per replication.

    from ema_workbench import perform_experiments
    from aiecosim.experiments.ema import ema_model

    model = ema_model(
        uncertainties={"capability.alpha": (0.05, 0.4), "compute.gpu_life_months": (36, 72),
                       "network.kind": ["small_world", "scale_free"]},
        levers={"strategies.open_source_builder.opex_usd_per_month": (3e6, 1e8)},
        outcomes=["survived_open_source_builder", "final_share_frontier_lab"],
        series=["share_revenue_open_source_builder"],
        replications=3, steps=60, enterprises=1000,
    )
    experiments, outcomes = perform_experiments(model, scenarios=50, policies=2)

A parameter is named by its dotted config path with the dots written as double underscores
(`capability__alpha`; `name_of` and `path_of` convert), because the workbench's names are
Python identifiers. Its kind follows the schema: an integer field becomes an IntegerParameter,
a real field a RealParameter, a list of choices (or a Literal field) a CategoricalParameter, a
boolean a BooleanParameter. Scalar outcomes are the columns of a sweep's run summary (the
`SUMMARY_OUTPUTS` of experiments/spec.py and every numeric column of
`runner.summary_row`); time-series outcomes are model-table columns, one value a month. Each
replication runs with its own seed, derived from `seed` as a sweep's replicates are
(`design.run_seed`), so replication k of every experiment shares its random draws (common
random numbers); an outcome is the mean over the replications (a probability for a 0/1
outcome such as `survived_open_source_builder`), a series the mean path. The workbench is a development dependency: importing this module needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args, get_origin

import numpy as np
from aiecosim.config import ConfigError, _unknown, load_config
from aiecosim.experiments.design import lever_type, run_seed

SEPARATOR = "__"


def name_of(path: str) -> str:
    """The workbench name of a config path: `capability.alpha` -> `capability__alpha`."""
    return path.replace(".", SEPARATOR)


def path_of(name: str) -> str:
    """The config path of a workbench name: `capability__alpha` -> `capability.alpha`."""
    return name.replace(SEPARATOR, ".")


def parameter(path: str, spec: Any):
    """A typed workbench parameter for the lever at `path`: `spec` is (low, high) for a
    number, a list of choices for a categorical lever."""
    import ema_workbench as ew

    kind = lever_type(path)
    name = name_of(path)
    if kind is None and not isinstance(spec, list):
        raise ConfigError(
            f"{path}: the schema does not say this lever's type; give a list of choices"
        )
    if kind is bool:
        return ew.BooleanParameter(name)
    if isinstance(spec, list):
        return ew.CategoricalParameter(name, spec)
    if get_origin(kind) is Literal:
        return ew.CategoricalParameter(name, list(get_args(kind)))
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ConfigError(f"{path}: give (low, high) for a number, or a list of choices")
    low, high = spec
    if kind is int:
        return ew.IntegerParameter(name, int(low), int(high))
    if kind is float:
        return ew.RealParameter(name, float(low), float(high))
    raise ConfigError(f"{path}: a {kind} lever cannot be sampled; give a list of choices")


class AiecosimRun:
    """The function the workbench calls: one run of the world at one parameter set and seed,
    returning the scalar outcomes and the monthly series. A plain class, so that the
    workbench's process pool can pickle it."""

    def __init__(
        self,
        scenario: str,
        steps: int | None,
        enterprises: int | None,
        outcomes: Sequence[str],
        series: Sequence[str],
    ):
        self.scenario, self.steps, self.enterprises = scenario, steps, enterprises
        self.outcomes, self.series = tuple(outcomes), tuple(series)

    def params(self, levers: Mapping[str, Any]) -> dict[str, Any]:
        params = {path_of(k): _plain(v) for k, v in levers.items()}
        if self.steps is not None:
            params["run.steps"] = self.steps
        if self.enterprises is not None:
            params["run.enterprises"] = self.enterprises
        return params

    def __call__(self, seed: int, **levers: Any) -> dict[str, Any]:
        from aiecosim.experiments.runner import summary_row
        from aiecosim.outputs import run_model

        config = load_config(self.scenario, params=self.params(levers))
        result = run_model(config, int(seed))
        summary = summary_row(result.summary, result.model)
        out: dict[str, Any] = {k: float(summary[k]) for k in self.outcomes}
        for column in self.series:
            out[column] = result.model[column].to_numpy(dtype=float)
        return out


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (the schema is strict about types)."""
    return value.item() if hasattr(value, "item") else value


def mean_over_replications(values: Sequence[float]) -> float:
    return float(np.mean(values))


def mean_path(paths: Sequence[np.ndarray]) -> np.ndarray:
    return np.mean(np.stack(paths), axis=0)


def scalar_outcomes() -> list[str]:
    """The names a scalar outcome may take: the numeric columns of a run's summary row."""
    from aiecosim.experiments.spec import SUMMARY_OUTPUTS

    extra = [
        "consumer_surplus_usd_total",
        "corrections",
        "exits",
        "entrants",
        "sentiment_min",
        *(
            f"cum_profit_usd_{a}"
            for a in ("frontier_lab", "integrated_giant", "open_source_builder")
        ),
        *(
            f"firm_survival_{a}"
            for a in ("frontier_lab", "integrated_giant", "open_source_builder")
        ),
    ]
    return sorted(set(SUMMARY_OUTPUTS) | set(extra))


def ema_model(
    uncertainties: Mapping[str, Any],
    levers: Mapping[str, Any] | None = None,
    outcomes: Sequence[str] = ("survived_frontier_lab", "final_share_frontier_lab"),
    series: Sequence[str] = (),
    replications: int = 1,
    seed: int = 0,
    scenario: str = "baseline",
    steps: int | None = None,
    enterprises: int | None = None,
    name: str = "aiecosim",
):
    """An `ema_workbench.ReplicatorModel` of `scenario`: `uncertainties` and `levers` map
    config paths to (low, high) or a list of choices; `outcomes` are scalar (see
    `scalar_outcomes`), `series` model-table columns; each of `replications` seeds is derived
    from `seed`. Unknown paths and outcomes are ConfigErrors naming the closest known one."""
    import ema_workbench as ew
    from aiecosim.metrics import METRIC_NAMES

    known = scalar_outcomes()
    for outcome in outcomes:
        if outcome not in known:
            raise ConfigError(_unknown("outcome", outcome, known))
    columns = [c for c in METRIC_NAMES if c not in ("month", "date")]
    for column in series:
        if column not in columns:
            raise ConfigError(_unknown("series", column, columns))
    if replications < 1:
        raise ConfigError(f"replications = {replications}: must be at least 1")
    function = AiecosimRun(scenario, steps, enterprises, outcomes, series)
    # every path resolves and takes its low end: fail here, not in the first experiment
    probe = {p: (s[0] if isinstance(s, list | tuple) else s) for p, s in (levers or {}).items()}
    probe.update(
        {p: (s[0] if isinstance(s, list | tuple) else s) for p, s in uncertainties.items()}
    )
    load_config(scenario, params=function.params({name_of(p): v for p, v in probe.items()}))
    model = ew.ReplicatorModel(name, function=function)
    model.uncertainties = [parameter(p, s) for p, s in uncertainties.items()]
    model.levers = [parameter(p, s) for p, s in (levers or {}).items()]
    # over the replications: a scalar's mean (for a 0/1 outcome, the probability) and a
    # series' mean path
    model.outcomes = [ew.ScalarOutcome(o, function=mean_over_replications) for o in outcomes] + [
        ew.TimeSeriesOutcome(c, function=mean_path) for c in series
    ]
    model.replications = [{"seed": run_seed(seed, k)} for k in range(replications)]
    return model

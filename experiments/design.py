"""Experimental designs: from a spec to a table of points.

Each design returns a DataFrame with one row per point and one column per varied parameter,
reproducible from the experiment seed: a full factorial grid; a Latin hypercube
(scipy.stats.qmc); Saltelli's scheme for Sobol indices and Morris trajectories (SALib).

A lever whose config field is an integer (`compute.gpu_life_months`, a strategy's
`training_months`, a cohort's `count`...) is rounded to the nearest whole number in every design,
so no run is refused for a fractional month; the sampled table keeps an integer column and lists
those levers in ``points.attrs["rounded_to_int"]`` (stored in points.parquet).
"""

from __future__ import annotations

import itertools
import types
import typing
from typing import Any

import numpy as np
import pandas as pd
from aiecosim.experiments.spec import ExperimentSpec
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample
from scipy.stats import qmc


def salib_problem(spec: ExperimentSpec) -> dict:
    names = list(spec.parameters)
    bounds = []
    for p in spec.parameters.values():
        lo, hi = (np.log(p.low), np.log(p.high)) if p.log else (p.low, p.high)
        bounds.append([lo, hi])
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def _from_unit_scale(spec: ExperimentSpec, values: np.ndarray) -> pd.DataFrame:
    """Columns of a design drawn on the problem's bounds, back to parameter values."""
    out = {}
    for j, (name, p) in enumerate(spec.parameters.items()):
        out[name] = np.exp(values[:, j]) if p.log else values[:, j]
    return pd.DataFrame(out)


def _unwrap(annotation: Any) -> Any:
    """`int | None`, `Annotated[int, ...]`, `Optional[int]` -> `int`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def lever_type(path: str) -> Any:
    """The type the config schema gives the field at a ``key.path`` (None when it cannot tell):
    the SimConfig sections, list items by index, dict values by key, and for
    ``strategies.<name>.<field>`` the fields of the Strategy dataclass."""
    from aiecosim.agents.strategy import Strategy
    from aiecosim.config import SimConfig
    from pydantic import BaseModel

    keys = path.split(".")
    if len(keys) == 3 and keys[0] == "strategies":
        return _unwrap(typing.get_type_hints(Strategy).get(keys[2]))
    node: Any = SimConfig
    for key in keys:
        node = _unwrap(node)
        origin = typing.get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(key)
            if field is None:
                return None
            node = field.annotation
        elif origin in (list, tuple) and key.isdigit():
            node = typing.get_args(node)[0]
        elif origin is dict:
            node = typing.get_args(node)[1]
        else:
            return None
    return _unwrap(node)


def integer_levers(spec: ExperimentSpec) -> list[str]:
    """The spec's levers whose config field is an integer (bool excluded)."""
    return [name for name in spec.parameters if lever_type(name) is int]


def _round_integers(points: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    for name in names:
        points[name] = np.rint(points[name].astype(float)).astype(np.int64)
    return points


def build_design(spec: ExperimentSpec, round_integers: bool = True) -> pd.DataFrame:
    """The design's points; integer levers rounded unless `round_integers` is False (the raw
    draws, which Morris's analysis needs to tell the trajectories' steps apart)."""
    e = spec.experiment
    names = list(spec.parameters)
    if e.design == "grid":
        rows = list(itertools.product(*(spec.parameters[n].values for n in names)))
        points = pd.DataFrame(rows, columns=names)
    elif e.design == "lhs":
        sampler = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(e.seed))
        problem = salib_problem(spec)
        lo, hi = np.array(problem["bounds"]).T
        points = _from_unit_scale(spec, qmc.scale(sampler.random(e.samples), lo, hi))
    elif e.design == "sobol":
        problem = salib_problem(spec)
        values = sobol_sample.sample(problem, e.samples, calc_second_order=False, seed=e.seed)
        points = _from_unit_scale(spec, values)
    else:  # morris
        problem = salib_problem(spec)
        values = morris_sample.sample(problem, e.samples, num_levels=e.morris_levels, seed=e.seed)
        points = _from_unit_scale(spec, values)
    rounded: list[str] = []
    if round_integers:
        ints = integer_levers(spec)
        if e.design == "grid":  # values the user wrote: whole already (the spec was validated)
            ints = [n for n in ints if all(float(v).is_integer() for v in points[n])]
        else:
            rounded = ints
        points = _round_integers(points, ints)
    points.attrs["rounded_to_int"] = rounded
    points.index.name = "point"
    return points


def run_seed(experiment_seed: int, replicate: int) -> int:
    """Seed of replicate k, the same at every point (common random numbers): differences
    between points are effects of the parameters, not of different random draws."""
    sequence = np.random.SeedSequence(experiment_seed, spawn_key=(replicate,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])

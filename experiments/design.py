"""Experimental designs: from a spec to a table of points.

Each design returns a DataFrame with one row per point and one column per varied parameter,
reproducible from the experiment seed: a full factorial grid; a Latin hypercube
(scipy.stats.qmc); Saltelli's scheme for Sobol indices and Morris trajectories (SALib).
"""

from __future__ import annotations

import itertools

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


def build_design(spec: ExperimentSpec) -> pd.DataFrame:
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
    points.index.name = "point"
    return points


def run_seed(experiment_seed: int, replicate: int) -> int:
    """Seed of replicate k, the same at every point (common random numbers): differences
    between points are effects of the parameters, not of different random draws."""
    sequence = np.random.SeedSequence(experiment_seed, spawn_key=(replicate,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])

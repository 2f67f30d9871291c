"""The Python API for parameter studies: simulate(params=...), levers as keyword arguments of the
model class (so Mesa's batch_run can pass them), Mesa's seed= deprecation path, and the model as
an EMA workbench model with typed parameters, replications and outcomes PRIM can read."""

from __future__ import annotations

import warnings

import mesa
import numpy as np
import pandas as pd
import pytest
from aiecosim import AIEcosystemModel, simulate
from aiecosim.config import ConfigError, load_config


def test_simulate_takes_levers_sections_and_a_cohort_count():
    result = simulate(
        "baseline",
        seed=1,
        params={"capability.alpha": 0.3, "investors.optimism": -0.5},
        steps=6,
        n_enterprises=200,
        enterprises={"switching_cost": 2.5},
    )
    cfg = result.config
    assert cfg.capability.alpha == 0.3 and cfg.investors.optimism == -0.5
    assert cfg.enterprises.switching_cost == 2.5
    assert (cfg.run.steps, cfg.run.enterprises) == (6, 200)
    assert len(result.model) == 6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"capability.alhpa": 0.3}, "did you mean 'alpha'"),
        ({"capabilty.alpha": 0.3}, "did you mean 'capability'"),
        ({"capability.alpha": "high"}, "capability.alpha"),
    ],
)
def test_an_unknown_or_bad_lever_names_the_key_and_not_set(params, message):
    with pytest.raises(ConfigError) as err:
        simulate(params=params, steps=2, n_enterprises=50)
    assert message in str(err.value)
    assert "--set" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        AIEcosystemModel(rng=1, **params)
    assert message in str(err.value) and "--set" not in str(err.value)


def test_the_model_class_takes_flat_levers_next_to_rng():
    model = AIEcosystemModel(
        rng=1, **{"capability.alpha": 0.3, "run.steps": 3, "run.enterprises": 100}
    )
    assert model.cfg.capability.alpha == 0.3
    while model.running:
        model.step()
    assert model.month == 3
    on_scenario = AIEcosystemModel(rng=1, scenario="energy-crunch", **{"run.enterprises": 100})
    assert on_scenario.cfg.scenario.name == "energy-crunch"
    assert on_scenario.cfg.run.enterprises == 100
    base = load_config(overrides=["run.steps=4", "run.enterprises=100"])
    on_config = AIEcosystemModel(base, rng=1, **{"enterprises.switching_cost": 3.0})
    assert on_config.cfg.enterprises.switching_cost == 3.0 and on_config.cfg.run.steps == 4


def test_seed_follows_mesas_deprecation_path_and_equals_rng():
    cfg = load_config(overrides=["run.steps=2", "run.enterprises=100"])
    with pytest.warns(FutureWarning, match="rng"):
        old = AIEcosystemModel(cfg, seed=42)
    new = AIEcosystemModel(cfg, rng=42)
    for m in (old, new):
        m.step()
        m.step()
    pd.testing.assert_frame_equal(old.model_table(), new.model_table())


def test_mesa_batch_run_passes_levers_and_seeds():
    """With a larger alpha, capability approaches its ceiling faster in compute
    (cap = 100 (1 - (F/F0)^-alpha)), so the frontier is more capable at the same scale, whatever
    the seed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rows = mesa.batch_run(
            AIEcosystemModel,
            {"capability.alpha": [0.1, 0.3], "run.steps": 6, "run.enterprises": 200},
            rng=[1, 2],
            display_progress=False,
        )
    table = pd.DataFrame(rows).drop_duplicates("RunId")  # the model row, not each firm's
    assert len(table) == 4 and set(table["capability.alpha"]) == {0.1, 0.3}
    assert (table["Step"] == 6).all()
    by_alpha = table.groupby(["iteration", "capability.alpha"])["frontier_capability"].first()
    for seed in (0, 1):
        assert by_alpha[(seed, 0.3)] > by_alpha[(seed, 0.1)]


def test_mesa_batch_run_refuses_an_unknown_lever():
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        mesa.batch_run(
            AIEcosystemModel, {"capability.alph": [0.1]}, rng=[1], display_progress=False
        )


# ------------------------------------------------------------------------------ EMA workbench
ema = pytest.importorskip("ema_workbench")


def test_the_ema_adapter_types_levers_runs_an_lhs_and_prim_reads_it():
    from aiecosim.experiments.ema import ema_model, name_of
    from ema_workbench import SequentialEvaluator
    from ema_workbench.analysis import prim

    model = ema_model(
        uncertainties={
            "capability.alpha": (0.05, 0.5),
            "compute.gpu_life_months": (36, 72),
            "network.kind": ["small_world", "scale_free"],
        },
        levers={"enterprises.switching_cost": (0.0, 4.0)},
        outcomes=["final_share_frontier_lab", "survived_open_source_builder"],
        series=["share_revenue_frontier_lab"],
        replications=2,
        steps=12,
        enterprises=200,
    )
    kinds = {p.name: type(p).__name__ for p in [*model.uncertainties, *model.levers]}
    assert kinds == {
        name_of("capability.alpha"): "RealParameter",
        name_of("compute.gpu_life_months"): "IntegerParameter",
        name_of("network.kind"): "CategoricalParameter",
        name_of("enterprises.switching_cost"): "RealParameter",
    }
    assert [r["seed"] for r in model.replications] == [
        r["seed"] for r in ema_model({"capability.alpha": (0.1, 0.2)}, replications=2).replications
    ]  # the same seeds as a sweep's replicates, whatever the levers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SequentialEvaluator(model) as evaluator:
            experiments, outcomes = evaluator.perform_experiments(
                scenarios=8, policies=1, uncertainty_sampling_kwargs={"rng": 7}
            )
    assert len(experiments) == 8
    assert experiments[name_of("compute.gpu_life_months")].dtype.kind == "i"
    share = outcomes["final_share_frontier_lab"]
    assert share.shape == (8,) and np.isfinite(share).all()
    assert outcomes["share_revenue_frontier_lab"].shape == (8, 12)
    # PRIM peels at midpoints, so it wants real-valued columns (an int column refuses 50.5)
    x = experiments[[name_of("capability.alpha"), name_of("compute.gpu_life_months")]]
    x = x.astype(float)
    y = share > np.median(share)
    box = prim.Prim(x, y, mass_min=0.1).find_box()
    assert len(box.peeling_trajectory) >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uncertainties": {"capability.alhpa": (0.1, 0.2)}}, "did you mean 'alpha'"),
        (
            {"uncertainties": {"capability.alpha": (0.1, 0.2)}, "outcomes": ["final_shar"]},
            "outcome: unknown value 'final_shar'",
        ),
        ({"uncertainties": {"capability.alpha": (0.1, 0.2)}, "replications": 0}, "replications"),
    ],
)
def test_the_ema_adapter_refuses_bad_input_with_the_closest_key(kwargs, message):
    from aiecosim.experiments.ema import ema_model

    with pytest.raises(ConfigError, match=message):
        ema_model(**kwargs)

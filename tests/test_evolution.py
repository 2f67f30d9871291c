"""Evolution of strategies: entrants imitate success with a small mutation, and the pairwise
invasion tournament (`aiecosim tournament`) over presets and TOML-defined variants."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from aiecosim.agents.strategy import EVOLVING_TRAITS, PRESETS
from aiecosim.experiments.tournament import Tournament, play, play_pair
from aiecosim.model import AIEcosystemModel
from aiecosim.outputs import run_model
from aiecosim.views.cli import app
from conftest import small_config
from typer.testing import CliRunner

runner = CliRunner()


# ------------------------------------------------------------------ imitation and mutation
def test_entrants_copy_firms_in_proportion_to_their_revenue():
    """Replicator-like imitation: a firm earning three times another's revenue is copied three
    times as often; a firm earning nothing is never copied."""
    cfg = small_config("baseline", 1, 200, "builders.imitation_share=1", "builders.mutation_sd=0")
    model = AIEcosystemModel(cfg, rng=1)
    builders = model.alive_builders()
    for b in builders:
        b.model_revenue_history = [0.0]
    builders[0].model_revenue_history = [3e9]
    builders[5].model_revenue_history = [1e9]
    parents = [model._entrant_strategy()[1].firm_id for _ in range(4000)]
    counts = pd.Series(parents).value_counts()
    assert set(counts.index) == {0, 5}
    assert counts[0] / len(parents) == pytest.approx(0.75, abs=0.03)


def test_mutants_spread_around_their_parent_and_keep_its_lineage():
    parent = PRESETS["frontier_lab"]
    rng = np.random.default_rng(3)
    assert parent.mutate(np.random.default_rng(3), 0.0) == parent
    mutants = [parent.mutate(rng, 0.1) for _ in range(2000)]
    assert {m.name for m in mutants} == {parent.name}
    log_markup = np.log([m.markup / parent.markup for m in mutants])
    assert abs(log_markup.mean()) < 0.01
    assert log_markup.std() == pytest.approx(0.1, rel=0.1)
    for trait, (low, high) in EVOLVING_TRAITS.items():
        values = np.array([getattr(m, trait) for m in mutants])
        assert values.min() >= low and values.max() <= high
    # scale_orientation starts at its upper bound: mutants can only move towards efficiency
    assert np.mean([m.scale_orientation for m in mutants]) < parent.scale_orientation


def test_imitators_follow_the_revenue_leaders_into_the_market():
    """With imitation, entrants come in the lineages that earn; without it, only the configured
    fresh strategy (open-source builders) enters."""
    entrants = {}
    for share in (0.0, 1.0):
        cfg = small_config(
            "baseline",
            60,
            1000,
            f"builders.imitation_share={share}",
            "builders.entry_rate_per_month=1.0",
            "builders.entrant_strategy_shares.frontier_lab=0",
        )
        result = run_model(cfg, seed=2)
        entry = [e for e in result.summary["events"] if e["event"] == "entry"]
        entrants[share] = pd.Series([e["strategy"] for e in entry]).value_counts(normalize=True)
    # `result` is the imitating world (share 1.0), the last one run
    revenue_share = result.strategies.groupby("strategy")["revenue_share"].mean()
    assert set(entrants[0.0].index) == {"open_source_builder"}
    imitated = entrants[1.0]
    assert len(imitated) == 3
    # each lineage's share of entrants tracks its share of revenue over the run
    for lineage, share in imitated.items():
        assert share == pytest.approx(revenue_share[lineage], abs=0.2)


def test_strategy_mix_table_adds_up(baseline_run):
    mix, model = baseline_run.strategies, baseline_run.model
    by_month = mix.groupby("month")
    assert np.allclose(by_month["revenue_share"].sum(), 1.0)
    assert np.allclose(by_month["customer_share"].sum(), 1.0)
    assert (by_month["firms_alive"].sum().to_numpy() == model["n_firms_alive"].to_numpy()).all()
    # a lineage without mutants (no entrant copied giants at month 0) keeps its preset traits
    first = mix[(mix["month"] == 0) & (mix["strategy"] == "integrated_giant")].iloc[0]
    assert first["mean_markup"] == PRESETS["integrated_giant"].markup


# ------------------------------------------------------------------ the invasion tournament
def test_entry_barriers_show_in_the_invasion_table():
    """A small frontier-lab newcomer takes hold among open-source builders far more often than
    among integrated giants, whose own fleets, energy and locked-in customers keep it out."""
    t = Tournament(
        ("frontier_lab", "integrated_giant", "open_source_builder"),
        overrides=("run.enterprises=1000",),
        seeds=4,
    )
    runs = pd.DataFrame(
        [
            play_pair(task)
            for task in t.tasks()
            if task["invader"] == "frontier_lab" and task["resident"] != "frontier_lab"
        ]
    )
    hold = runs.groupby("resident")["took_hold"].mean()
    assert hold["open_source_builder"] > hold["integrated_giant"]


def test_tournament_is_the_same_on_any_worker_count_and_plays_file_strategies(tmp_path):
    spec = tmp_path / "strategies.toml"
    spec.write_text(
        "[strategies.penniless]\n"
        'base = "open_source_builder"\n'
        "initial_cash_usd = 0\n"
        "raise_runway_months = 0\n"
        "opex_usd_per_month = 5e7\n"
    )
    t = Tournament(
        ("open_source_builder", "penniless"),
        config_file=str(spec),
        overrides=("run.enterprises=300", "run.steps=24"),
        seeds=2,
    )
    table_1, runs_1 = play(t, workers=1)
    table_2, runs_2 = play(t, workers=2)
    pd.testing.assert_frame_equal(runs_1, runs_2)
    assert len(table_1) == 4 and (table_1["runs"] == 2).all()
    assert (table_1["p_take_hold_lo"] <= table_1["p_take_hold"]).all()
    assert (table_1["p_take_hold"] <= table_1["p_take_hold_hi"]).all()
    # common random numbers: replicate k has the same seed in every cell
    assert runs_1.groupby("replicate")["seed"].nunique().eq(1).all()
    doomed = table_1.set_index(["invader", "resident"]).loc[("penniless", "open_source_builder")]
    assert doomed["p_take_hold"] == 0.0 and doomed["p_survive"] == 0.0


def test_tournament_cli_writes_the_table_and_refuses_bad_input(tmp_path):
    out = tmp_path / "t"
    args = ["tournament", "--seeds", "1", "--steps", "12", "--enterprises", "200"]
    result = runner.invoke(
        app, [*args, "--only", "frontier_lab,open_source_builder", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "invasion.csv")
    assert len(table) == 4
    assert (out / "invasion.png").stat().st_size > 0 and (out / "runs.csv").exists()
    record = json.loads((out / "provenance.json").read_text())
    assert record["command"] == "tournament" and record["spec"]["seeds"] == 1
    assert record["config"]["run"]["enterprises"] == 200

    bad = tmp_path / "bad.toml"
    bad.write_text('[strategies.fast]\nbase = "frontier_lab"\nmarkupp = 2\n')
    result = runner.invoke(app, [*args, "--strategies", str(bad)])
    assert result.exit_code == 2
    assert "strategies.fast.markupp" in result.output and "markup" in result.output
    result = runner.invoke(app, [*args, "--only", "frontier_lab,moonshot"])
    assert result.exit_code == 2 and "moonshot" in result.output
    result = runner.invoke(app, [*args, "--seeds", "0"])
    assert result.exit_code == 2 and "--seeds" in result.output

"""Sweeps: specs, designs, common random numbers, backends, resumption, analysis."""

import filecmp
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from aiecosim.config import ConfigError
from aiecosim.experiments.analysis import analyze, discovery_table, wilson
from aiecosim.experiments.design import build_design, run_seed
from aiecosim.experiments.runner import local_backend, make_tasks, run_sweep, run_task
from aiecosim.experiments.spec import ExperimentSpec, load_spec, parse_spec
from aiecosim.experiments.store import ResultsStore, StoreError, load_results

TINY = {
    "experiment": {
        "name": "tiny",
        "seed": 3,
        "design": "grid",
        "replicates": 2,
        "steps": 12,
        "enterprises": 300,
        "thin": 2,
    },
    "parameters": {
        "capability.alpha": {"values": [0.12, 0.3]},
        "enterprises.switching_cost": {"values": [0.5, 3.0]},
    },
}


def tiny(**experiment) -> ExperimentSpec:
    data = {**TINY, "experiment": {**TINY["experiment"], **experiment}}
    return parse_spec(data)


def serial(tasks):
    return map(run_task, tasks)


# ---------------------------------------------------------------- specs and designs
def test_shipped_specs_are_valid():
    root = Path(__file__).parents[1] / "experiments"
    grid = load_spec(root / "which-strategy-survives.toml")
    sobol = load_spec(root / "sobol-levers.toml")
    assert grid.experiment.design == "grid" and grid.experiment.replicates > 1
    assert sobol.experiment.design == "sobol" and len(sobol.parameters) >= 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"experiment": {"name": "x", "desing": "grid"}},
            "experiment.desing: unknown key 'desing' (did you mean 'design'?)",
        ),
        ({"parameters": {"capability.alpha": {"low": 0.1, "high": 0.3}}}, "a grid needs 'values'"),
        ({"parameters": {"capability.alpa": {"values": [0.1]}}}, "did you mean 'alpha'"),
        ({"parameters": {"capability.alpha": {"values": [-1.0]}}}, "capability.alpha = -1.0"),
        ({"experiment": {"name": "x", "replicates": 0}}, "experiment.replicates = 0"),
        (
            {"experiment": {"name": "x", "outputs": ["nope"]}},
            "experiment.outputs: unknown value 'nope'",
        ),
    ],
)
def test_a_malformed_spec_names_the_field(change, message):
    data = {**TINY, **change}
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_spec(data)


def test_grid_is_the_full_factorial():
    points = build_design(tiny())
    assert len(points) == 4
    assert set(map(tuple, points.to_numpy())) == {(0.12, 0.5), (0.12, 3.0), (0.3, 0.5), (0.3, 3.0)}


def test_lhs_and_sobol_designs_cover_the_bounds_reproducibly():
    data = {
        "experiment": {"name": "s", "design": "lhs", "samples": 20, "seed": 1},
        "parameters": {
            "capability.alpha": {"low": 0.1, "high": 0.3},
            "capability.open_distillation_multiplier": {"low": 1, "high": 30, "log": True},
        },
    }
    lhs = build_design(parse_spec(data))
    assert len(lhs) == 20 and lhs["capability.alpha"].between(0.1, 0.3).all()
    # Latin hypercube: one point in each of the 20 strata of every parameter
    strata = np.floor((lhs["capability.alpha"] - 0.1) / 0.2 * 20).astype(int)
    assert sorted(strata) == list(range(20))
    pd.testing.assert_frame_equal(lhs, build_design(parse_spec(data)))
    data["experiment"] |= {"design": "sobol", "samples": 8}
    sobol = build_design(parse_spec(data))
    assert len(sobol) == 8 * (2 + 2)


def test_replicate_k_shares_its_seed_across_points():
    tasks = make_tasks(tiny(), build_design(tiny()))
    seeds = {}
    for t in tasks:
        seeds.setdefault(t["replicate"], set()).add(t["seed"])
    assert all(len(s) == 1 for s in seeds.values())  # common random numbers
    assert seeds[0] != seeds[1]
    assert run_seed(3, 0) != run_seed(4, 0)


# ---------------------------------------------------------------- running and storing
def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "runs").iterdir())
    return names == sorted(p.name for p in (b / "runs").iterdir()) and all(
        filecmp.cmp(a / "runs" / n, b / "runs" / n, shallow=False) for n in names
    )


def test_results_are_identical_across_worker_counts_and_backends(tmp_path):
    spec = tiny()
    run_sweep(spec, tmp_path / "serial", serial)
    run_sweep(spec, tmp_path / "pool", local_backend(2))
    assert same_files(tmp_path / "serial", tmp_path / "pool")

    from aiecosim.experiments.runner import dask_backend
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        run_sweep(spec, tmp_path / "dask", dask_backend(cluster.scheduler_address))
    assert same_files(tmp_path / "serial", tmp_path / "dask")
    runs, monthly = load_results(tmp_path / "dask")
    assert len(runs) == 8 and set(runs["replicate"]) == {0, 1}
    assert monthly["month"].max() == 10 and set(monthly["month"]) == set(range(0, 12, 2))


def test_a_run_that_raises_is_recorded_and_retried_on_the_next_start(tmp_path):
    spec = tiny()
    broken_run = "p000001-r0000"

    def flaky(tasks):
        for task in tasks:
            if task["run"] == broken_run:
                task = {**task, "scenario": "no-such-scenario"}
            yield run_task(task)

    report = run_sweep(spec, tmp_path / "s", flaky)
    assert report.failed == 1 and report.ran == 7
    failure = (tmp_path / "s" / "failed" / f"{broken_run}.json").read_text()
    assert "Traceback" in failure and "no-such-scenario" in failure
    assert ResultsStore(tmp_path / "s").read_manifest()["finished"] is None
    again = run_sweep(spec, tmp_path / "s", serial)
    assert (again.skipped, again.ran, again.failed) == (7, 1, 0)
    assert not list((tmp_path / "s" / "failed").iterdir())
    assert ResultsStore(tmp_path / "s").read_manifest()["finished"] is not None


def test_a_changed_spec_or_a_foreign_folder_is_refused_and_left_alone(tmp_path):
    run_sweep(tiny(), tmp_path / "s", serial)
    before = sorted(p.name for p in (tmp_path / "s" / "runs").iterdir())
    with pytest.raises(StoreError, match="different spec"):
        run_sweep(tiny(replicates=3), tmp_path / "s", serial)
    assert sorted(p.name for p in (tmp_path / "s" / "runs").iterdir()) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not an aiecosim results folder"):
        run_sweep(tiny(), foreign, serial)
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    (tmp_path / "s" / "manifest.json").write_text("{broken")
    with pytest.raises(StoreError, match="damaged"):
        load_results(tmp_path / "s")


def test_a_sweep_killed_midway_resumes_with_every_run_exactly_once(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(
        '[experiment]\nname = "kill"\nseed = 1\nreplicates = 3\nsteps = 24\nenterprises = 400\n'
        '[parameters."capability.alpha"]\nvalues = [0.1, 0.15, 0.2, 0.25]\n'
    )
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "aiecosim.views.cli",
        "sweep",
        str(spec_file),
        "--out",
        str(out),
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.sha256"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, at once
    proc.wait()
    # a run counts as done once its checksum file is written (after both of its tables)
    done_before = len(list((out / "runs").glob("*.sha256")))
    assert 3 <= done_before < 12
    finished = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"{done_before} already done" in finished.stdout
    runs, _ = load_results(out)
    assert len(runs) == 12 and not runs["run"].duplicated().any()
    assert not list(out.rglob(".*.tmp-*"))


# ---------------------------------------------------------------- analysis
def synthetic_store(root: Path, n_per_point: int = 40) -> None:
    """A store whose answer is known: frontier labs survive exactly when energy growth is low,
    open-source builders win when alpha is high."""
    spec = parse_spec(
        {
            "experiment": {
                "name": "known",
                "design": "grid",
                "replicates": n_per_point,
                "steps": 12,
            },
            "parameters": {
                "energy.marginal_cost_growth_per_year": {"values": [0.0, 0.1]},
                "capability.alpha": {"values": [0.1, 0.4]},
            },
        }
    )
    points = build_design(spec)
    store = ResultsStore(root)
    store.open(spec, points, "test")
    for task in make_tasks(spec, points):
        energy = task["params"]["energy.marginal_cost_growth_per_year"]
        alpha = task["params"]["capability.alpha"]
        winner = "open_source_builder" if alpha > 0.2 else "frontier_lab"
        row = {
            "run": task["run"],
            "point": task["point"],
            "replicate": task["replicate"],
            "seed": task["seed"],
            **task["params"],
            "winner_archetype": winner,
            "winner_strategy": winner,
            "hhi_revenue": 1000.0,
            "exits": 0,
        }
        for a in ("frontier_lab", "integrated_giant", "open_source_builder"):
            survived = energy < 0.05 if a == "frontier_lab" else True
            row |= {
                f"survived_{a}": survived,
                f"firm_survival_{a}": float(survived),
                f"alive_{a}": int(survived),
                f"final_share_{a}": 1.0 if a == winner else 0.0,
                f"started_strategy__{a}": 1,
                f"alive_strategy__{a}": int(survived),
            }
        monthly = pd.DataFrame(
            {
                "run": task["run"],
                "point": task["point"],
                "replicate": task["replicate"],
                "seed": task["seed"],
                "month": range(12),
                "date": pd.date_range("2025-01-01", periods=12, freq="MS"),
                **{
                    f"share_revenue_{a}": 1.0 if a == winner else 0.0
                    for a in ("frontier_lab", "integrated_giant", "open_source_builder")
                },
            }
        )
        store.write_run(task["run"], pd.DataFrame([row]), monthly)


def test_analysis_recovers_a_known_answer(tmp_path):
    synthetic_store(tmp_path / "s")
    result, _ = analyze(tmp_path / "s")
    survival = result.survival.set_index("energy.marginal_cost_growth_per_year")
    assert (survival.loc[0.0, "survive_frontier_lab"] == 1.0).all()
    assert (survival.loc[0.1, "survive_frontier_lab"] == 0.0).all()
    assert (survival.loc[0.1, "survive_frontier_lab_hi"] < 0.15).all()  # 0 of 40: tight interval
    headline = result.headline.set_index("archetype")
    assert headline.loc["frontier_lab", "survival_probability"] == pytest.approx(0.5)
    assert headline.loc["open_source_builder", "win_probability"] == pytest.approx(0.5)
    boxes = result.discovery.set_index("archetype")
    assert "capability.alpha > 0.25" in boxes.loc["open_source_builder", "box"]
    assert boxes.loc["open_source_builder", "density"] == 1.0
    assert {"trajectories", "heatmap"} <= set(result.figures)


def test_wilson_interval_is_the_textbook_one():
    p, lo, hi = wilson(8, 10)
    assert (
        p == 0.8 and lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    )


def test_discovery_needs_two_outcomes():
    runs = pd.DataFrame({"a": [1.0, 2.0], "winner_archetype": ["frontier_lab"] * 2})
    assert discovery_table(runs, ["a"]).empty


def test_cli_sweep_and_analyze(tmp_path):
    from aiecosim.views.cli import app
    from typer.testing import CliRunner

    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[experiment]\nname = "cli"\nreplicates = 2\nsteps = 12\nenterprises = 300\n'
        '[parameters."capability.alpha"]\nvalues = [0.1, 0.3]\n'
        '[parameters."enterprises.b_peer"]\nvalues = [0.0, 3.0]\n'
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "8 ran, 0 failed" in result.output
    record = json.loads((tmp_path / "o" / "provenance.json").read_text())
    assert record["command"] == "sweep" and len(record["source_sha256"]) == 64
    assert record["config"]["run"]["steps"] == 12  # the base world, before each point's levers
    assert record["spec"]["parameters"]["capability.alpha"]["values"] == [0.1, 0.3]
    result = runner.invoke(app, ["analyze", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "survival over all runs" in result.output
    html = (tmp_path / "o" / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html and "Which strategies survive" in html
    bad = runner.invoke(app, ["analyze", str(tmp_path / "o"), "--x", "nope"])
    assert bad.exit_code == 2 and "not a parameter of this sweep" in bad.output
    bad = runner.invoke(app, ["analyze", str(tmp_path)])
    assert bad.exit_code == 2 and "not an aiecosim results folder" in bad.output


def test_a_full_disk_stops_the_sweep_with_a_clear_error_and_a_readable_store(tmp_path, monkeypatch):
    import errno

    from aiecosim.views.cli import app
    from typer.testing import CliRunner

    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[experiment]\nname = "disk"\nreplicates = 3\nsteps = 6\nenterprises = 200\n'
        '[parameters."capability.alpha"]\nvalues = [0.1, 0.3]\n'
    )
    real_write = ResultsStore.write_run
    written = []

    def filling_disk(self, rid, summary, monthly):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, rid, summary, monthly)
        written.append(rid)

    monkeypatch.setattr(ResultsStore, "write_run", filling_disk)
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert "Traceback" not in result.output
    runs, _ = load_results(out)  # what was stored is intact and readable
    assert sorted(runs["run"]) == sorted(written)
    monkeypatch.setattr(ResultsStore, "write_run", real_write)
    again = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "1"])
    assert again.exit_code == 0 and "2 already done" in again.output
    assert len(load_results(out)[0]) == 6


def test_an_unreachable_scheduler_is_a_clear_error():
    from aiecosim.experiments.runner import BackendError, dask_backend

    with pytest.raises(BackendError, match="cannot reach the Dask scheduler"):
        list(dask_backend("tcp://127.0.0.1:9", timeout="2s")([{"run": "x"}]))


def test_a_misspelt_spec_key_suggests_the_right_one():
    data = {**TINY, "experiment": {**TINY["experiment"], "replicats": 2}}
    with pytest.raises(ConfigError, match="did you mean 'replicates'"):
        parse_spec(data)

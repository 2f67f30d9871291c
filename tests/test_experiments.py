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
from conftest import write_made_up_run

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
        write_made_up_run(store, task, winner, frontier_survives=energy < 0.05)


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


# ---------------------------------------------------------------- indices with known answers
def _replicated(points: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """A results table of two replicates a point whose noise cancels in the point's mean (the
    indices are computed on the mean over replicates)."""
    noise = np.sin(np.arange(len(points)) * 1.7)
    return pd.DataFrame(
        {
            "point": np.tile(points.index.to_numpy(), 2),
            "replicate": np.repeat([0, 1], len(points)),
            "hhi_revenue": np.concatenate([y + noise, y - noise]),
        }
    )


def test_sobol_indices_of_the_ishigami_function_are_its_analytic_ones():
    """Ishigami, y = sin x1 + a sin^2 x2 + b x3^4 sin x1 on [-pi, pi]^3 (a = 7, b = 0.1), has
    known variance shares: x2 acts alone, x3 only with x1, so S1(x3) = 0 < ST(x3). The levers
    span [0, 1] (the spec refuses values a config field cannot take); mapping them onto
    [-pi, pi] is affine, which leaves the indices unchanged."""
    from aiecosim.experiments.analysis import sensitivity_table

    a, b, pi = 7.0, 0.1, np.pi
    levers = [
        "enterprises.initial_adoption",
        "enterprises.reconsider_share_per_month",
        "network.rewire_prob",
    ]
    spec = parse_spec(
        {
            "experiment": {
                "name": "ishigami",
                "design": "sobol",
                "samples": 4096,
                "seed": 1,
                "outputs": ["hhi_revenue"],
            },
            "parameters": {name: {"low": 0.0, "high": 1.0} for name in levers},
        }
    )
    points = build_design(spec)
    x1, x2, x3 = (-pi + 2 * pi * points[name].to_numpy() for name in levers)
    y = np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)
    table = sensitivity_table(spec, _replicated(points, y), points)
    got = table.set_index("parameter")

    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    s1 = {levers[0]: v1 / total, levers[1]: v2 / total, levers[2]: 0.0}
    st = {levers[0]: (v1 + v13) / total, levers[1]: v2 / total, levers[2]: v13 / total}
    for name in levers:  # 0.314, 0.442, 0 and 0.558, 0.442, 0.244
        assert got.loc[name, "S1"] == pytest.approx(s1[name], abs=0.03), name
        assert got.loc[name, "ST"] == pytest.approx(st[name], abs=0.03), name


def test_morris_mu_star_of_a_linear_function_is_its_slope_times_the_range():
    """For y = sum c_i x_i every elementary effect of x_i is c_i times its range (the step is
    a share of the range), so mu* = |c_i| (high - low) exactly and sigma = 0; a log lever's
    range is ln(high / low)."""
    from aiecosim.experiments.analysis import sensitivity_table

    spec = parse_spec(
        {
            "experiment": {
                "name": "linear",
                "design": "morris",
                "samples": 20,
                "seed": 2,
                "outputs": ["hhi_revenue"],
            },
            "parameters": {
                "network.rewire_prob": {"low": 0.0, "high": 1.0},
                "enterprises.b_peer": {"low": 0.0, "high": 2.0},
                "enterprises.kappa": {"low": 1.0, "high": 5.0},
                "enterprises.b_value": {"low": 1.0, "high": float(np.e**2), "log": True},
            },
        }
    )
    points = build_design(spec)
    y = (
        3.0 * points["network.rewire_prob"]
        - 2.0 * points["enterprises.b_peer"]
        + 0.5 * points["enterprises.kappa"]
        + 1.5 * np.log(points["enterprises.b_value"])
    ).to_numpy()
    table = sensitivity_table(spec, _replicated(points, y), points).set_index("parameter")
    expected = {
        "network.rewire_prob": 3.0 * 1.0,
        "enterprises.b_peer": 2.0 * 2.0,
        "enterprises.kappa": 0.5 * 4.0,
        "enterprises.b_value": 1.5 * 2.0,
    }
    for name, mu_star in expected.items():
        assert table.loc[name, "mu_star"] == pytest.approx(mu_star, rel=1e-9), name
        assert table.loc[name, "sigma"] == pytest.approx(0.0, abs=1e-9), name


# ---------------------------------------------------------------- failed runs
def test_a_sweep_whose_runs_all_failed_says_so_and_where_the_errors_are(tmp_path):
    from aiecosim.views.cli import app
    from typer.testing import CliRunner

    def broken(tasks):
        for task in tasks:
            yield run_task({**task, "scenario": "no-such-scenario"})

    out = tmp_path / "s"
    report = run_sweep(tiny(), out, broken)
    assert report.failed == 8 and report.ran == 0
    with pytest.raises(StoreError) as err:
        analyze(out)
    message = str(err.value)
    assert "no finished runs" in message and "8 run(s) failed" in message
    assert str(out / "failed") in message and "no-such-scenario" in message
    result = CliRunner().invoke(app, ["analyze", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "8 run(s) failed" in result.output and "failed/" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _sobol_store_with_failures(root: Path, failing_points: set[int]) -> None:
    """A made-up Sobol sweep whose runs at `failing_points` raised (their failure records
    written as the runner writes them); concentration rises with switching costs."""
    spec = parse_spec(
        {
            "experiment": {"name": "holes", "design": "sobol", "samples": 8, "seed": 4},
            "parameters": {
                "enterprises.switching_cost": {"low": 0.0, "high": 5.0},
                "capability.alpha": {"low": 0.1, "high": 0.4},
            },
        }
    )
    points = build_design(spec)
    store = ResultsStore(root)
    store.open(spec, points, "test")
    for task in make_tasks(spec, points):
        if task["point"] in failing_points:
            store.write_failure(
                task["run"],
                {"error": "FloatingPointError: overflow in training", "traceback": "Traceback"},
            )
            continue
        cost = task["params"]["enterprises.switching_cost"]
        write_made_up_run(store, task, "frontier_lab", True, hhi=1000.0 + 1000.0 * cost)


def test_an_analysis_with_failed_runs_says_what_it_lacks_rather_than_an_empty_table(tmp_path):
    from aiecosim.experiments.analysis import IncompleteDesign, sensitivity_table, write_report
    from aiecosim.views.cli import app
    from typer.testing import CliRunner

    whole, holed = tmp_path / "whole", tmp_path / "holed"
    _sobol_store_with_failures(whole, set())
    _sobol_store_with_failures(holed, {3, 17})
    complete, _ = analyze(whole)
    assert not complete.sensitivity.empty and complete.incomplete is None
    assert complete.sensitivity.set_index("parameter")["ST"].idxmax() == (
        "enterprises.switching_cost"
    )

    result, spec = analyze(holed)
    assert sorted(result.failed) == ["p000003-r0000", "p000017-r0000"]
    assert result.sensitivity.empty  # the indices need every point ...
    line = result.incomplete  # ... and the analysis says why, how many failed and where
    assert "2 run(s) failed" in line and str(holed / "failed") in line
    assert "FloatingPointError: overflow in training" in line
    assert "no Sobol indices: 2 of the design's 32 points have no finished run" in line
    assert int(result.survival["runs"].sum()) == 30  # the other tables cover what finished
    page = write_report(result, spec, tmp_path / "report", 30).read_text()
    assert "Incomplete:" in page and "2 run(s) failed" in page

    # sensitivity_table itself refuses to hand back a table that looks whole
    from aiecosim.experiments.store import read_results

    loaded_runs = read_results(holed).runs
    with pytest.raises(IncompleteDesign, match="point 3, 17"):
        sensitivity_table(spec, loaded_runs, ResultsStore(holed).read_points())

    cli = CliRunner().invoke(app, ["analyze", str(holed), "--out", str(tmp_path / "r2")])
    assert cli.exit_code == 1, cli.output
    assert "Traceback" not in cli.output
    assert "incomplete:" in cli.output and "2 run(s) failed" in cli.output
    assert (tmp_path / "r2" / "report.html").exists()


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

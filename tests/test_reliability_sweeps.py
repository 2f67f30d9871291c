"""Sweeps under bad input, changed inputs, damaged files, rival and killed processes, oversized
specs, integer levers and failing runs (docs/reliability.md, "Sweeps")."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from aiecosim.config import ConfigError
from aiecosim.experiments.design import build_design, integer_levers, lever_type
from aiecosim.experiments.runner import make_tasks, run_sweep, run_task
from aiecosim.experiments.spec import check_size, count_points, estimate_bytes, parse_spec
from aiecosim.experiments.store import (
    ResultsStore,
    StoreError,
    SweepLock,
    _process_start,
    pid_alive,
    read_results,
)
from aiecosim.views.cli import app
from conftest import write_made_up_run
from typer.testing import CliRunner

ARCHETYPES = ("frontier_lab", "integrated_giant", "open_source_builder")

SMALL = {
    "experiment": {
        "name": "small",
        "seed": 5,
        "design": "grid",
        "replicates": 2,
        "steps": 6,
        "enterprises": 100,
    },
    "parameters": {"capability.alpha": {"values": [0.12, 0.3]}},
}


def small(**experiment):
    return parse_spec({**SMALL, "experiment": {**SMALL["experiment"], **experiment}})


def serial(tasks):
    return map(run_task, tasks)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, code: int = 2) -> str:
    """The command exited with `code` after one line on stderr and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def synthetic_store(root: Path, replicates: int = 3) -> ResultsStore:
    """A store of made-up runs (fast: no simulation) with the columns analysis reads."""
    spec = parse_spec(
        {
            "experiment": {"name": "synthetic", "replicates": replicates, "steps": 12},
            "parameters": {
                "capability.alpha": {"values": [0.1, 0.4]},
                "enterprises.switching_cost": {"values": [0.5, 3.0]},
            },
        }
    )
    points = build_design(spec)
    store = ResultsStore(root)
    store.open(spec, points, "test")
    for task in make_tasks(spec, points):
        winner = (
            "open_source_builder" if task["params"]["capability.alpha"] > 0.2 else ARCHETYPES[0]
        )
        write_made_up_run(store, task, winner, frontier_survives=True)
    return store


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------- 1. bad input to analyze/sweep
def test_analyze_refuses_bad_results_folders_with_one_line(tmp_path):
    good = synthetic_store(tmp_path / "good").root

    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    assert "is a file, not a results folder" in one_line_error(invoke("analyze", a_file))
    assert "does not exist" in one_line_error(invoke("analyze", tmp_path / "nowhere"))

    line = one_line_error(invoke("analyze", good, "--out", a_file))
    assert "is a file; give --out a folder" in line
    assert a_file.read_text() == "not a folder"

    no_points = tmp_path / "no-points"
    shutil.copytree(good, no_points)
    (no_points / "points.parquet").unlink()
    assert "has no points.parquet" in one_line_error(invoke("analyze", no_points))

    bad_points = tmp_path / "bad-points"
    shutil.copytree(good, bad_points)
    (bad_points / "points.parquet").write_bytes(b"PAR1 garbage")
    assert "points.parquet is damaged" in one_line_error(invoke("analyze", bad_points))

    no_spec = tmp_path / "no-spec"
    shutil.copytree(good, no_spec)
    manifest = json.loads((no_spec / "manifest.json").read_text())
    del manifest["spec"]
    (no_spec / "manifest.json").write_text(json.dumps(manifest))
    assert "has no 'spec'" in one_line_error(invoke("analyze", no_spec))

    bad_spec = tmp_path / "bad-spec"
    shutil.copytree(good, bad_spec)
    manifest = json.loads((bad_spec / "manifest.json").read_text())
    manifest["spec"]["experiment"]["design"] = "fractal"
    (bad_spec / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(invoke("analyze", bad_spec))
    assert "recorded spec is not valid: experiment.design" in line

    manifest["spec"] = ["not", "a", "table"]
    (bad_spec / "manifest.json").write_text(json.dumps(manifest))
    assert "recorded spec is not valid" in one_line_error(invoke("analyze", bad_spec))

    only_foreign = tmp_path / "only-foreign"
    shutil.copytree(good, only_foreign)
    shutil.rmtree(only_foreign / "runs")
    (only_foreign / "runs").mkdir()
    pd.DataFrame({"x": [1, 2]}).to_parquet(only_foreign / "runs" / "p000000-r0000.summary.parquet")
    line = one_line_error(invoke("analyze", only_foreign))
    assert "no finished runs yet (1 damaged or foreign file(s) left out)" in line


def test_analyze_refuses_a_read_only_results_folder_before_any_work(tmp_path):
    root = synthetic_store(tmp_path / "s").root
    before = listing(root)
    if os.geteuid() != 0:
        root.chmod(0o555)
        undo = ["chmod", "755", str(root)]
    else:  # root ignores permission bits: make the folder immutable instead
        made = subprocess.run(["chattr", "+i", str(root)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make a read-only folder here: {made.stderr.decode().strip()}")
        undo = ["chattr", "-i", str(root)]
    try:
        line = one_line_error(invoke("analyze", root))
        assert "cannot write the report to" in line and "give --out a folder" in line
        # the same results, analysed into a folder that can be written
        result = invoke("analyze", root, "--out", tmp_path / "report")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "report" / "report.html").exists()
    finally:
        subprocess.run(undo, check=True)
    assert listing(root) == before


def test_sweep_refuses_a_folder_or_a_binary_file_as_spec(tmp_path):
    line = one_line_error(invoke("sweep", tmp_path, "--out", tmp_path / "o"))
    assert "is a folder, not a TOML file" in line
    binary = tmp_path / "spec.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    line = one_line_error(invoke("sweep", binary, "--out", tmp_path / "o"))
    assert "is not a text file" in line and "not UTF-8" in line
    assert not (tmp_path / "o").exists()
    spec = write_spec(
        tmp_path / "good.toml",
        '[experiment]\nname = "g"\n[parameters."capability.alpha"]\nvalues = [0.1]\n',
    )
    a_file = tmp_path / "results.txt"
    a_file.write_text("mine")
    line = one_line_error(invoke("sweep", spec, "--out", a_file))
    assert "exists and is not a folder" in line and a_file.read_text() == "mine"


# ---------------------------------------------------------------- 2. the resume fingerprint
def test_a_resume_is_refused_when_spec_scenario_or_model_changed(tmp_path, monkeypatch):
    import aiecosim.config as config
    from aiecosim import provenance

    scenarios = tmp_path / "scenarios"
    shutil.copytree(config.scenario_dir(), scenarios)
    monkeypatch.setattr(config, "scenario_dir", lambda: scenarios)
    out = tmp_path / "s"
    run_sweep(small(), out, serial)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["config_sha256"]) == 64 and len(manifest["source_sha256"]) == 64
    before = listing(out)

    with pytest.raises(StoreError, match="different spec") as err:
        run_sweep(small(replicates=3), out, serial)
    assert "another --out" in str(err.value) and "\n" not in str(err.value)
    assert listing(out) == before

    baseline = scenarios / "baseline.toml"
    original = baseline.read_text()
    baseline.write_text(original + "\n[compute]\ngpu_life_months = 36\n")
    with pytest.raises(StoreError, match="different base config") as err:
        run_sweep(small(), out, serial)
    assert "scenario file edited" in str(err.value) and "different spec" not in str(err.value)
    assert listing(out) == before
    baseline.write_text(original)  # restored: the sweep resumes
    assert run_sweep(small(), out, serial).skipped == 4

    before = listing(out)
    monkeypatch.setattr(provenance, "source_sha256", lambda: "f" * 64)
    with pytest.raises(StoreError, match="different model version"):
        run_sweep(small(), out, serial)
    spec_file = write_spec(
        tmp_path / "spec.toml",
        '[experiment]\nname = "small"\nseed = 5\nreplicates = 2\nsteps = 6\nenterprises = 100\n'
        '[parameters."capability.alpha"]\nvalues = [0.12, 0.3]\n',
    )
    line = one_line_error(invoke("sweep", spec_file, "--out", out, "--workers", "1"))
    assert "different model version" in line and "use another --out, or restore" in line
    monkeypatch.undo()
    assert listing(out) == before

    del manifest["config_sha256"]  # a manifest from before the fingerprint
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="older aiecosim that did not record config_sha256"):
        run_sweep(small(), out, serial)


# ---------------------------------------------------------------- 3. checksums
def test_damaged_runs_are_not_counted_and_are_redone_identically(tmp_path):
    out = tmp_path / "s"
    run_sweep(small(), out, serial)
    store = ResultsStore(out)
    assert len(store.done()) == 4
    runs = out / "runs"
    pristine = listing(runs)

    truncated = runs / "p000000-r0000.monthly.parquet"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    altered = runs / "p000000-r0001.summary.parquet"
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    (runs / "p000001-r0000.sha256").unlink()  # killed between its tables and its checksum
    done, damaged = store.scan()
    assert done == {"p000001-r0001"}
    assert "does not match its checksum" in damaged["p000000-r0000"]
    assert "does not match its checksum" in damaged["p000000-r0001"]
    assert "no checksum file" in damaged["p000001-r0000"]

    loaded = read_results(out)  # analysis reads the whole run and reports the others
    assert list(loaded.runs["run"]) == ["p000001-r0001"]
    assert set(loaded.skipped) == set(damaged)
    result = invoke("analyze", out)
    assert result.exit_code == 0, result.output
    assert "3 damaged run(s) left out" in result.stderr
    assert "3 damaged run(s) left out" in (out / "report" / "report.html").read_text()

    report = run_sweep(small(), out, serial)
    assert (report.skipped, report.ran, report.redone) == (1, 3, 3)
    assert listing(runs) == pristine  # redone byte for byte
    assert len(store.done()) == 4 and not store.damaged()


def test_a_foreign_summary_among_good_runs_is_left_out_and_reported(tmp_path):
    store = synthetic_store(tmp_path / "s")
    pd.DataFrame({"x": [1]}).to_parquet(store.runs / "notes.summary.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(store.runs / "p000003-r0002.summary.parquet")
    result = invoke("analyze", store.root)
    assert result.exit_code == 0, result.output
    assert "2 damaged run(s) left out" in result.stderr
    loaded = read_results(store.root)
    assert len(loaded.runs) == 11
    assert "foreign" in loaded.skipped["notes.summary.parquet"]


# ---------------------------------------------------------------- 4. the lock
def test_a_live_lock_is_refused_and_a_stale_one_taken_over(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock = {
            "pid": holder.pid,
            "host": socket.gethostname(),
            "start": _process_start(holder.pid),
            "since": "2025-01-01T00:00:00+00:00",
        }
        (root / ".lock").write_text(json.dumps(lock))
        with pytest.raises(StoreError, match=f"in use by another sweep \\(pid {holder.pid}"):
            SweepLock(root).acquire()
        spec_file = write_spec(
            tmp_path / "spec.toml",
            '[experiment]\nname = "small"\nsteps = 6\nenterprises = 100\n'
            '[parameters."capability.alpha"]\nvalues = [0.12]\n',
        )
        line = one_line_error(invoke("sweep", spec_file, "--out", root, "--workers", "1"))
        assert f"pid {holder.pid}" in line
        assert [p.name for p in root.iterdir()] == [".lock"]  # nothing else was written
    finally:
        holder.kill()
        holder.wait()
    assert not pid_alive(holder.pid, lock["start"])
    taken = SweepLock(root).acquire()
    assert taken.took_over["pid"] == holder.pid
    assert json.loads((root / ".lock").read_text())["pid"] == os.getpid()
    taken.release()
    assert not (root / ".lock").exists()

    # a pid reused by another process (another start time) is not the sweep's
    (root / ".lock").write_text(json.dumps({**lock, "pid": os.getpid(), "start": "1"}))
    with SweepLock(root) as again:
        assert again.took_over["pid"] == os.getpid()
    # another host's sweep cannot be checked from here: refused, with how to clear it
    (root / ".lock").write_text(json.dumps({**lock, "host": "elsewhere"}))
    with pytest.raises(StoreError, match="on host elsewhere.*remove"):
        SweepLock(root).acquire()


def test_the_lock_is_released_when_a_sweep_stops_on_an_error(tmp_path, monkeypatch):
    def broken(tasks):
        yield run_task(tasks[0])
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        run_sweep(small(), tmp_path / "s", broken)
    assert not (tmp_path / "s" / ".lock").exists()
    assert run_sweep(small(), tmp_path / "s", serial).skipped == 1
    assert not (tmp_path / "s" / ".lock").exists()

    def refuse(self, *args, **kwargs):
        raise StoreError("refused")

    monkeypatch.setattr(ResultsStore, "open", refuse)
    with pytest.raises(StoreError, match="refused"):
        run_sweep(small(), tmp_path / "fresh", serial)
    assert not (tmp_path / "fresh").exists()  # a refused start leaves no folder behind


# ---------------------------------------------------------------- 5. workers die with the sweep
def children(pid: int) -> dict[int, str]:
    """Child processes of `pid`: {pid: start time}, from /proc/*/stat."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out[int(stat.parent.name)] = fields[19]
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_workers_die_within_seconds_of_a_killed_sweep_and_its_lock_is_taken_over(tmp_path):
    spec_file = write_spec(
        tmp_path / "spec.toml",
        '[experiment]\nname = "orphans"\nseed = 2\nreplicates = 2\nsteps = 240\n'
        'enterprises = 6000\n[parameters."capability.alpha"]\nvalues = [0.1, 0.3]\n',
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "aiecosim.views.cli", "sweep", str(spec_file), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kids: dict[int, str] = {}
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not list((out / "runs").glob("*.sha256")):
            assert proc.poll() is None, "the sweep ended before the test could kill it"
            time.sleep(0.05)
        kids = children(proc.pid)
        assert len(kids) >= 2 and proc.poll() is None  # workers busy with the next runs

        # a second sweep on the folder while the first runs: refused, naming its pid
        line = one_line_error(invoke("sweep", spec_file, "--out", out, "--workers", "1"))
        assert f"pid {proc.pid}" in line

        os.kill(proc.pid, signal.SIGKILL)  # the sweep alone, not its process group
        killed = time.time()
        proc.wait()
        while time.time() - killed < 20 and any(pid_alive(k, s) for k, s in kids.items()):
            time.sleep(0.02)
        gone_after = time.time() - killed
        print(f"\n{len(kids)} child processes gone {gone_after:.2f} s after SIGKILL")
        assert not any(pid_alive(k, s) for k, s in kids.items())
        assert gone_after < 5
    finally:
        for pid, start in kids.items():  # never leave our own orphans behind
            if pid_alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    stale = json.loads((out / ".lock").read_text())
    assert stale["pid"] == proc.pid
    # resumed by a fresh process, as a user would (and with the source hash of the files now)
    result = subprocess.run([*cmd, "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"took over the lock of a sweep that no longer runs (pid {proc.pid})" in result.stdout
    assert not (out / ".lock").exists()
    runs = read_results(out).runs
    assert len(runs) == 4 and not runs["run"].duplicated().any()


# ---------------------------------------------------------------- 6. size bounds
def test_an_oversized_spec_is_refused_before_anything_is_written(tmp_path):
    levers = {
        f'"{key}"': "values = [" + ", ".join(str(v) for v in values) + "]"
        for key, values in {
            "capability.alpha": [0.1 + 0.01 * i for i in range(20)],
            "enterprises.switching_cost": [0.1 * i for i in range(20)],
            "enterprises.b_peer": [0.1 * i for i in range(20)],
            "investors.optimism": [-0.5 + 0.05 * i for i in range(20)],
            "compute.gpu_life_months": list(range(24, 44)),
            "capability.open_distillation_multiplier": [1 + i for i in range(20)],
        }.items()
    }
    text = '[experiment]\nname = "huge"\nreplicates = 4\n' + "".join(
        f"[parameters.{k}]\n{v}\n" for k, v in levers.items()
    )
    spec_file = write_spec(tmp_path / "huge.toml", text)
    out = tmp_path / "o"
    started = time.perf_counter()
    line = one_line_error(invoke("sweep", spec_file, "--out", out))
    assert time.perf_counter() - started < 30
    assert "256,000,000 runs (64,000,000 points x 4 replicates)" in line
    assert "bound of 1,000,000" in line and "--max-runs" in line
    assert not out.exists()

    lhs = write_spec(
        tmp_path / "lhs.toml",
        '[experiment]\nname = "big"\ndesign = "lhs"\nsamples = 100000\nreplicates = 9\n'
        '[parameters."capability.alpha"]\nlow = 0.1\nhigh = 0.3\n',
    )
    line = one_line_error(invoke("sweep", lhs, "--out", out, "--max-runs", "1000000"))
    assert "900,000 runs would store an estimated" in line and "bound of 50 GB" in line
    assert "--max-gb" in line and not out.exists()
    line = one_line_error(invoke("sweep", lhs, "--out", out, "--max-runs", "10"))
    assert "900,000 runs" in line and "bound of 10" in line


def test_run_counts_match_the_designs():
    for design, samples in (("lhs", 7), ("sobol", 4), ("morris", 3)):
        spec = parse_spec(
            {
                "experiment": {"name": "n", "design": design, "samples": samples},
                "parameters": {
                    "capability.alpha": {"low": 0.1, "high": 0.3},
                    "compute.gpu_life_months": {"low": 24, "high": 72},
                },
            }
        )
        assert count_points(spec) == len(build_design(spec))
    assert count_points(small()) == 2
    assert estimate_bytes(small()) == 4 * (6 * 90 * 8 + 100_000)
    with pytest.raises(ConfigError, match="4 runs"):
        check_size(small(), max_runs=3)


# ---------------------------------------------------------------- 7. integer levers
def test_integer_levers_are_found_in_the_schema_and_rounded_in_every_design():
    assert lever_type("compute.gpu_life_months") is int
    assert lever_type("strategies.frontier_lab.training_months") is int
    assert lever_type("builders.initial.0.count") is int
    assert lever_type("capability.alpha") is float
    assert lever_type("no.such.lever") is None
    for design in ("lhs", "sobol", "morris"):
        spec = parse_spec(
            {
                "experiment": {"name": "i", "design": design, "samples": 8},
                "parameters": {
                    "compute.gpu_life_months": {"low": 24, "high": 72},
                    "strategies.frontier_lab.training_months": {"low": 2, "high": 12, "log": True},
                    "capability.alpha": {"low": 0.1, "high": 0.3},
                },
            }
        )
        points = build_design(spec)
        ints = ["compute.gpu_life_months", "strategies.frontier_lab.training_months"]
        assert integer_levers(spec) == ints == points.attrs["rounded_to_int"]
        for name in ints:
            assert points[name].dtype == "int64"
        assert points["compute.gpu_life_months"].between(24, 72).all()
        assert points["strategies.frontier_lab.training_months"].between(2, 12).all()
        assert points["capability.alpha"].dtype == "float64"
        assert points["capability.alpha"].nunique() > 1
    with pytest.raises(ConfigError, match="not a whole number"):
        parse_spec(
            {
                "experiment": {"name": "i", "design": "lhs"},
                "parameters": {"compute.gpu_life_months": {"low": 24.5, "high": 72}},
            }
        )


def test_an_lhs_over_an_integer_lever_runs_without_failures(tmp_path):
    spec_file = write_spec(
        tmp_path / "spec.toml",
        '[experiment]\nname = "gpu-life"\ndesign = "lhs"\nsamples = 4\nseed = 1\nsteps = 6\n'
        'enterprises = 100\n[parameters."compute.gpu_life_months"]\nlow = 24\nhigh = 72\n',
    )
    out = tmp_path / "o"
    result = invoke("sweep", spec_file, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "rounded to whole numbers (integer config fields): compute.gpu_life_months" in (
        result.output
    )
    assert "4 ran, 0 failed" in result.output
    points = pd.read_parquet(out / "points.parquet")
    assert points["compute.gpu_life_months"].dtype == "int64"
    assert points.attrs["rounded_to_int"] == ["compute.gpu_life_months"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rounded_to_int"] == ["compute.gpu_life_months"]
    runs = read_results(out).runs
    assert runs["compute.gpu_life_months"].dtype == "int64"


# ---------------------------------------------------------------- 8. failed runs
def test_a_sweep_with_a_failed_run_exits_1_after_storing_the_others(tmp_path, monkeypatch):
    from aiecosim.experiments import runner

    def flaky(workers):
        def execute(tasks):
            for task in tasks:
                if task["run"] == "p000001-r0000":
                    task = {**task, "scenario": "no-such-scenario"}
                yield run_task(task)

        return execute

    spec_file = write_spec(
        tmp_path / "spec.toml",
        '[experiment]\nname = "small"\nseed = 5\nreplicates = 2\nsteps = 6\nenterprises = 100\n'
        '[parameters."capability.alpha"]\nvalues = [0.12, 0.3]\n',
    )
    out = tmp_path / "o"
    monkeypatch.setattr(runner, "local_backend", flaky)
    result = invoke("sweep", spec_file, "--out", out)
    line = one_line_error(result, code=1)
    assert f"1 of 4 runs failed; their tracebacks are in {out / 'failed'}/" in line
    assert "3 ran, 1 failed" in result.stdout
    assert len(ResultsStore(out).done()) == 3
    assert "no-such-scenario" in (out / "failed" / "p000001-r0000.json").read_text()
    monkeypatch.undo()
    again = invoke("sweep", spec_file, "--out", out, "--workers", "1")
    assert again.exit_code == 0, again.output
    assert "3 already done, 1 ran, 0 failed" in again.output

"""The command line: runs write their outputs, bad input exits 2 with one clear line."""

import json

import numpy as np
import pandas as pd
import pytest
from aiecosim.views.cli import app
from typer.testing import CliRunner

runner = CliRunner()


def test_scenarios_lists_all_six():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    for name in (
        "baseline",
        "energy-crunch",
        "scaling-plateau",
        "open-surge",
        "funding-winter",
        "lock-in",
    ):
        assert name in result.output


def test_run_writes_tables_summary_and_report(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "--scenario",
            "open-surge",
            "--steps",
            "12",
            "--enterprises",
            "600",
            "--seed",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "winner by revenue" in result.output and "open-weights lag" in result.output
    model = pd.read_parquet(out / "model.parquet")
    firms = pd.read_parquet(out / "firms.parquet")
    assert len(model) == 12 and firms["month"].max() == 11
    run = json.loads((out / "run.json").read_text())
    assert run["scenario"] == "open-surge" and run["seed"] == 4
    assert run["config"]["run"]["enterprises"] == 600
    assert set(run["survivors_by_archetype"]) == {
        "frontier_lab",
        "integrated_giant",
        "open_source_builder",
    }
    assert (out / "report.png").stat().st_size > 10_000


def test_set_overrides_reach_the_model(tmp_path, monkeypatch):
    """`--set network.kind=scale_free` changes the world the run simulates, not only what
    run.json echoes: the enterprises' network gets hubs (a Barabasi-Albert graph's largest
    degree is many times its mean; a small world's stays near the mean), and with them the
    path of adoption, which spreads by word of mouth over that network."""
    from aiecosim.markets.network import AdoptionNetwork

    built: list[AdoptionNetwork] = []
    original_init = AdoptionNetwork.__init__

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(AdoptionNetwork, "__init__", recording_init)

    def run(out, *extra):
        args = ["run", "--steps", "12", "--enterprises", "1000", "--seed", "2", "--no-report"]
        result = runner.invoke(app, [*args, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return pd.read_parquet(out / "model.parquet")

    default = run(tmp_path / "default")
    scale_free = run(tmp_path / "scale_free", "--set", "network.kind=scale_free")
    assert (
        json.loads((tmp_path / "scale_free" / "run.json").read_text())["config"]["network"]["kind"]
        == "scale_free"
    )
    small_world_net, scale_free_net = built
    assert (small_world_net.kind, scale_free_net.kind) == ("small_world", "scale_free")
    # both about ten neighbours on average (the default mean_degree) ...
    for net in built:
        assert net.degree.mean() == pytest.approx(10, rel=0.05)
    # ... but only the scale-free one has hubs
    assert small_world_net.degree.max() < 2 * small_world_net.degree.mean()
    assert scale_free_net.degree.max() > 8 * scale_free_net.degree.mean()
    # and adoption, which peers drive, takes a different path
    assert not np.allclose(default["adoption_rate"], scale_free["adoption_rate"])


def bad(*args):
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    assert "unknown value 'nope'" in bad("--scenario", "nope")
    assert "run.steps = 0" in bad("--steps", "0")
    assert "did you mean 'switching_cost'" in bad("--set", "enterprises.switchng_cost=2")
    assert "does not exist" in bad("--config", str(tmp_path / "nope.toml"))
    assert "greater than 0" in bad("--enterprises", "-3")


def test_bench_refuses_worker_counts_it_cannot_run():
    for counts in ("0", "1,x", ""):
        result = runner.invoke(app, ["bench", "--quick", "--workers", counts])
        assert result.exit_code == 2, result.output
        assert "--workers" in result.output and "at least 1" in result.output


@pytest.mark.parametrize(
    ("args", "toml", "expected"),
    [
        (["--set", "enterprises.nest_lambda_open_weights=0"], None, "nest_lambda_open_weights = 0"),
        (["--set", "enterprises.nest_lambda_closed_api=1.5"], None, "less than or equal to 1"),
        (["--set", "builders.price_stickiness=-0.1"], None, "price_stickiness = -0.1"),
        (
            [],
            '[strategies.cheap]\nbase = "open_source_builder"\npricing = "predatory"\n',
            "strategies.cheap.pricing = 'predatory'",
        ),
        (
            [],
            '[strategies.cheap]\nbase = "open_source_builder"\npricing = "penetration"\n'
            "penetration_months = 500\n",
            "longer than the run",
        ),
        (["--set", "enterprises.size_class_demand_shares=[0.5,0.5,0.5]"], None, "sum to 1"),
    ],
)
def test_bad_market_core_parameters_exit_2_with_one_line(tmp_path, args, toml, expected):
    if toml is not None:
        spec = tmp_path / "bad.toml"
        spec.write_text(toml)
        args = [*args, "--config", str(spec)]
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--steps", "6", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_the_command_line_loads_no_model_code_until_a_command_needs_it():
    """`aiecosim --help` and `aiecosim scenarios` answer without loading numpy, pandas,
    pydantic, matplotlib or mesa: what the user waits for is the interpreter and typer."""
    import subprocess
    import sys

    code = (
        "import sys; sys.argv = ['aiecosim', '--help']\n"
        "from aiecosim.views.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'pandas', 'pydantic', 'matplotlib', 'mesa', 'rich.table')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-300:]


def test_the_command_ends_as_the_interpreter_would_without_its_teardown(tmp_path):
    """`aiecosim` skips the interpreter's teardown (`exit_now`), but nothing else of its exit:
    the output is flushed, exit handlers run (a temporary folder is removed), the status is
    the command's, and nothing after it runs."""
    import subprocess
    import sys

    mark = tmp_path / "handler-ran"
    code = (
        "import atexit, pathlib, sys, tempfile\n"
        f"atexit.register(pathlib.Path({str(mark)!r}).write_text, 'ran')\n"
        f"scratch = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})\n"
        "sys.argv = ['aiecosim', *sys.argv[1:]]\n"
        "from aiecosim.views.cli import main\n"
        "main()\n"
        "print('after the command')\n"
    )
    for args, status, said in (
        (["scenarios"], 0, "energy-crunch"),
        (["run", "--steps", "x"], 2, "Invalid value for '--steps'"),
    ):
        mark.unlink(missing_ok=True)
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert out.returncode == status, out.stderr[-500:]
        assert said in out.stdout + out.stderr
        assert "after the command" not in out.stdout
        assert mark.read_text() == "ran"
        assert [p.name for p in tmp_path.iterdir()] == [mark.name]  # the folder was removed


def test_help_shows_defaults_and_bracketed_notes():
    result = runner.invoke(app, ["validate", "--help"])
    assert "[default: 10]" in result.output
    assert "[all cores]" in result.output and "[validation/<scenario>]" in result.output


def test_a_report_drawer_that_fails_loudly_is_reported_and_the_tables_kept(tmp_path, monkeypatch):
    """A drawer that writes more than a pipe holds (64 KiB) before it dies neither stalls the
    run nor hides why: the last line of its messages is shown, the tables stay, exit 1."""

    from aiecosim.views import cli

    fake = tmp_path / "fake-python"
    fake.write_text(
        "#!/bin/sh\n"
        'head -c 300000 /dev/zero | tr "\\0" "w" >&2\n'
        'printf "\\nno display for the figure\\n" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(cli.sys, "executable", str(fake))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--steps", "3", "--enterprises", "300", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "report.png could not be drawn: no display for the figure" in result.output
    assert (out / "model.parquet").exists() and (out / "run.json").exists()
    assert not (out / "report.png").exists()


def test_a_run_is_the_same_with_one_blas_thread_or_several(tmp_path):
    """The command runs on one BLAS thread unless the user sets OPENBLAS_NUM_THREADS (more
    threads only add work on the model's small matrices); the outputs do not depend on it.
    Nor on the garbage collector: the command simulates with it off, and its tables are
    those of the same run made in this process, where it is on."""
    import os
    import subprocess
    import sys

    from aiecosim.config import load_config
    from aiecosim.outputs import run_model, write_run

    here = run_model(load_config("baseline", overrides=["run.steps=18", "run.enterprises=1500"]), 2)
    write_run(here, tmp_path / "in-process")
    tables = {
        "in-process": [
            pd.read_parquet(tmp_path / "in-process" / f"{t}.parquet") for t in ("model", "firms")
        ]
    }
    for threads in (None, "2"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if threads is not None:
            env["OPENBLAS_NUM_THREADS"] = threads
        out = tmp_path / f"threads-{threads}"
        command = [sys.executable, "-m", "aiecosim.views.cli", "run", "--no-report"]
        options = ["--steps", "18", "--enterprises", "1500", "--seed", "2", "--out", str(out)]
        subprocess.run(command + options, env=env, check=True, capture_output=True)
        tables[threads] = [pd.read_parquet(out / f"{t}.parquet") for t in ("model", "firms")]
    for one, several, in_process in zip(
        tables[None], tables["2"], tables["in-process"], strict=True
    ):
        pd.testing.assert_frame_equal(one, several, check_exact=True)
        pd.testing.assert_frame_equal(one, in_process, check_exact=True)


def test_the_report_drawer_runs_on_one_blas_thread_unless_told_otherwise(tmp_path, monkeypatch):
    """The drawer (matplotlib, no matrices) is started with OPENBLAS_NUM_THREADS=1, so that
    its idle BLAS threads take no CPU from the simulation beside it; a user's setting stands."""

    from aiecosim.views import cli

    fake = tmp_path / "fake-python"
    fake.write_text('#!/bin/sh\necho "blas threads: $OPENBLAS_NUM_THREADS" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setattr(cli.sys, "executable", str(fake))
    for preset, expected in ((None, "1"), ("3", "3")):
        if preset is None:
            monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OPENBLAS_NUM_THREADS", preset)
        out = tmp_path / f"run-{preset}"
        args = ["run", "--steps", "2", "--enterprises", "300", "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert f"could not be drawn: blas threads: {expected}" in result.output

"""Reliability of the inputs and the run folder: every bad value of every field is one line
and exit 2, a run never writes over what it did not write, and a name never escapes its folder.

The fuzz tests walk the whole schema (every section, every supplier and cohort field, every
strategy field) and draw bad values for each with hypothesis: infinities, NaN, true for a
number, strings for numbers, 2.5 for an integer, numbers beyond any quantity the model handles,
impossible dates, path-like names. A valid value drawn near the edge of its range must run.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
from aiecosim.agents.strategy import Strategy
from aiecosim.config import ConfigError, SimConfig, load_config
from aiecosim.views.cli import app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

runner = CliRunner()


# ------------------------------------------------------------------------------ the schema
def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    """(path, annotation) of every settable leaf of a config section, lists and dicts of
    sections entered at their first item."""
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _leaves(annotation, f"{path}.")
        elif (
            origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel)
        ):
            out += _leaves(args[0], f"{path}.0.")
        elif path == "strategies":
            for f in dataclasses.fields(Strategy):
                if f.name != "name":
                    out.append((f"strategies.frontier_lab.{f.name}", f.type))
        else:
            out.append((path, annotation))
    return out


LEAVES = _leaves(SimConfig)


def _kind(annotation) -> str:
    text = str(annotation)
    if "Literal" in text or text == "Archetype":
        return "literal"
    if text.startswith("list[float]"):
        return "floats"
    for kind in ("bool", "int", "float", "date", "str"):
        if text in (kind, f"<class '{kind}'>", f"<class 'datetime.{kind}'>", f"datetime.{kind}"):
            return kind
    if text.startswith("dict[str, float]"):
        return "shares"
    if text.startswith("tuple[int"):
        return "sectors"
    return "other"


BAD = {
    "float": ["inf", "-inf", "nan", "true", '"twenty"', "1e308", "-1e308", "[1]"],
    "int": ["2.5", "true", "inf", '"3"', "1e308", "-1e40"],
    "bool": ["1", '"yes"', "2.5"],
    "str": ["5", "[1]", "true"],
    "date": ["0", '"soon"', "9999-12-01", "1066-10-14", "true"],
    "literal": ['"nope"', "5"],
    "shares": ["5", "{frontier_lab=inf}", "{frontier_lab=nan}", "{frontier_lab=true}"],
    "sectors": ["5", '["a"]', "[1.5]", "[true]"],
    "floats": ["5", "[inf, 1.0]", "[nan, 1.0]", "[true, 1.0]", '["a", 1.0]', "[1e308, 1.0]"],
}
KINDS = {path: _kind(annotation) for path, annotation in LEAVES}
FUZZED = sorted(p for p, k in KINDS.items() if k in BAD)


def test_the_walk_covers_the_schema():
    """Every section and every strategy field is reached, with a kind the fuzz knows."""
    assert {p.split(".")[0] for p in FUZZED} >= {
        "scenario", "run", "energy", "compute", "capability", "enterprises", "network",
        "builders", "investors", "parents", "strategies",
    }  # fmt: skip
    assert "energy.suppliers.0.capacity_mw" in FUZZED
    assert "builders.initial.0.count" in FUZZED
    assert "strategies.frontier_lab.initial_model_flop" in FUZZED
    assert not [p for p, k in KINDS.items() if k == "other"]


def _one_line_refusal(result) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_field_refuses_every_bad_value_naming_the_field(data):
    path = data.draw(st.sampled_from(FUZZED))
    value = data.draw(st.sampled_from(BAD[KINDS[path]]))
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[f"{path}={value}"])
    message = str(err.value)
    assert "\n" not in message
    # the message names the field (a list or table named by its parent path)
    assert path.rsplit(".", 1)[0].split(".0")[0] in message, message


@pytest.mark.parametrize("path", FUZZED)
def test_the_cli_refuses_a_bad_value_of_each_field_in_one_line(tmp_path, path):
    value = BAD[KINDS[path]][0]
    out = tmp_path / "run"
    small = ["--set", "run.steps=2", "--set", "run.enterprises=50"]  # the bad value comes last
    result = runner.invoke(app, ["run", *small, "--set", f"{path}={value}", "--out", out])
    _one_line_refusal(result)
    assert not out.exists()


NAMES = ['"../../x"', '"/tmp/x"', '"a/b"', '".."', '"..hidden"', '"a\\\\b"', '""', '" x"']


@pytest.mark.parametrize("name", NAMES)
def test_a_name_that_would_escape_its_folder_is_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="scenario.name"):
        load_config(overrides=[f"scenario.name={name}"])
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f"[experiment]\nname = {name}\nsteps = 2\nenterprises = 50\n"
        '[parameters."capability.alpha"]\nvalues = [0.1]\n'
    )
    result = runner.invoke(app, ["sweep", str(spec), "--workers", "1"], catch_exceptions=False)
    _one_line_refusal(result)
    assert "experiment.name" in result.output


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--seed", "-1"),
        ("--steps", "0"),
        ("--steps", "1201"),
        ("--enterprises", "0"),
        ("--enterprises", "3000000"),
    ],
)
def test_bad_run_flags_are_one_line(tmp_path, flag, value):
    result = runner.invoke(app, ["run", flag, value, "--out", str(tmp_path / "o")])
    _one_line_refusal(result)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("validate", ["--seeds", "0"]),
        ("validate", ["--workers", "0"]),
        ("backtest", ["--seeds", "-3"]),
        ("tournament", ["--seeds", "0"]),
        ("tournament", ["--residents", "0"]),
        ("tournament", ["--hold-ratio", "-1"]),
    ],
)
def test_bad_flags_of_other_commands_are_one_line(tmp_path, command, args):
    result = runner.invoke(app, [command, *args, "--out", str(tmp_path / "o")])
    _one_line_refusal(result)
    assert not (tmp_path / "o").exists()


SPEC_BAD = [
    ("seed", "-1"),
    ("seed", "true"),
    ("samples", "0"),
    ("replicates", "2.5"),
    ("steps", "inf"),
    ("enterprises", '"many"'),
    ("design", '"random"'),
    ("thin", "0"),
    ("outputs", '["nope"]'),
]


@pytest.mark.parametrize(("field", "value"), SPEC_BAD)
def test_bad_spec_fields_are_one_line(tmp_path, field, value):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'[experiment]\nname = "fuzz"\n{field} = {value}\n'
        '[parameters."capability.alpha"]\nvalues = [0.1]\n'
    )
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "o")])
    _one_line_refusal(result)
    assert f"experiment.{field}" in result.output
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------ valid edges
EDGES = {
    "capability.alpha": (0.0001, 5.0),
    "enterprises.value_sigma": (-0.0, 5.0),
    "enterprises.switching_cost": (0.0, 50.0),
    "compute.capex_usd_per_h100e": (1.0, 1e9),
    "compute.scarcity_multiplier": (0.0, 100.0),
    "investors.capital_usd": (0.0, 1e15),
    "investors.capex_payback_years": (0.01, 100.0),
    "network.mean_degree": (0.0, 40.0),
    "energy.scarcity_premium_usd_per_mwh": (0.0, 1e6),
    "strategies.frontier_lab.initial_model_flop": (1e15, 1e29),
    "strategies.integrated_giant.owned_gpus_h100e": (0.0, 1e7),
    "strategies.open_source_builder.markup": (0.0, 20.0),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_values_at_the_edges_run_or_are_refused_never_crash(data, tmp_path_factory):
    """A value the schema accepts gives a run with finite tables (exit 0); the model never
    answers an accepted input with a traceback or NaN-filled output."""
    path = data.draw(st.sampled_from(sorted(EDGES)))
    low, high = EDGES[path]
    value = data.draw(st.sampled_from([low, high]) | st.floats(low, high))
    out = tmp_path_factory.mktemp("edge") / "run"
    result = runner.invoke(
        app,
        ["run", "--steps", "3", "--enterprises", "60", "--no-report", "--out", str(out)]
        + ["--set", f"{path}={value!r}"],
    )
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert json.loads((out / "run.json").read_text())["steps"] == 3


def test_a_giant_that_builds_data_centres_with_no_fleet_to_start_runs(tmp_path):
    spec = tmp_path / "giant.toml"
    spec.write_text(
        '[strategies.x]\nbase = "integrated_giant"\nowned_gpus_h100e = 0\n'
        "dc_build_gpus_h100e_per_month = 1000\n"
        '[[builders.initial]]\nstrategy = "x"\ncount = 2\n'
    )
    result = runner.invoke(
        app,
        ["run", "--config", str(spec), "--steps", "6", "--enterprises", "100", "--no-report"]
        + ["--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[strategies.x]\nbase = ["frontier_lab"]\n', "strategies.x.base"),
        ('[strategies.x]\nbase = "frontier_lab"\nname = "y"\n', "strategies.x.name"),
        ('[strategies.x]\nbase = "frontier_lab"\nspecialised_sectors = 5\n', "specialised_sectors"),
        ('[strategies.x]\nbase = "frontier_lab"\nmarkup = -1\n', "strategies.x.markup"),
        ("run = 5\n", "run"),
        ('[[builders.initial]]\nstrategy = "frontier_lab"\ncountt = 3\n', "did you mean 'count'"),
        ("[run]\nstart_date = 0\n", "run.start_date"),
    ],
)
def test_config_files_that_used_to_raise_are_one_line(tmp_path, toml, message):
    spec = tmp_path / "c.toml"
    spec.write_text(toml)
    result = runner.invoke(app, ["run", "--config", str(spec), "--out", str(tmp_path / "o")])
    _one_line_refusal(result)
    assert message in result.output
    assert "--set" not in result.output


def test_a_new_strategy_can_be_defined_from_the_command_line():
    cfg = load_config(overrides=["strategies.lean.base=frontier_lab", "strategies.lean.markup=1.2"])
    assert cfg.strategy_table()["lean"].markup == 1.2


def test_memory_is_estimated_before_anything_is_allocated(tmp_path):
    args = ["run", "--enterprises", "50000", "--set", "network.mean_degree=1e6"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    _one_line_refusal(result)
    assert "run.max_memory_gb" in result.output and "GB" in result.output
    ok = load_config(
        overrides=["run.enterprises=50000", "network.mean_degree=1e6"] + ["run.max_memory_gb=200"]
    )
    assert ok.estimated_memory_gb() > 100


def test_negative_zero_is_zero():
    cfg = load_config(overrides=["enterprises.value_sigma=-0.0"])
    assert str(cfg.enterprises.value_sigma) == "0.0"


# ------------------------------------------------------------------------------ run folders
def _run(tmp_path, *args):
    return runner.invoke(
        app, ["run", "--steps", "2", "--enterprises", "60", *args], catch_exceptions=False
    )


def test_run_refuses_a_folder_it_did_not_write_and_touches_nothing(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "model.parquet").write_text("the user's data")
    result = _run(tmp_path, "--out", str(user))
    _one_line_refusal(result)
    assert "holds no aiecosim run" in result.output
    result = _run(tmp_path, "--out", str(user), "--force")
    _one_line_refusal(result)
    assert (user / "model.parquet").read_text() == "the user's data"
    assert sorted(p.name for p in user.iterdir()) == ["model.parquet"]


def test_run_replaces_an_earlier_run_only_with_force_and_leaves_no_stale_files(tmp_path):
    out = tmp_path / "r"
    assert _run(tmp_path, "--out", str(out)).exit_code == 0
    assert (out / "report.png").exists()
    again = _run(tmp_path, "--out", str(out), "--seed", "3", "--no-report")
    _one_line_refusal(again)
    assert "--force" in again.output
    assert json.loads((out / "run.json").read_text())["seed"] == 0
    forced = _run(tmp_path, "--out", str(out), "--seed", "3", "--no-report", "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "run.json").read_text())["seed"] == 3
    assert not (out / "report.png").exists()  # the old run's figure went with it


def test_an_earlier_run_with_a_users_file_beside_it_is_not_replaced(tmp_path):
    out = tmp_path / "r"
    assert _run(tmp_path, "--out", str(out), "--no-report").exit_code == 0
    (out / "notes.md").write_text("my notes")
    result = _run(tmp_path, "--out", str(out), "--force")
    _one_line_refusal(result)
    assert "notes.md" in result.output
    assert (out / "notes.md").read_text() == "my notes"


def test_the_default_folder_is_fresh_each_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        assert _run(tmp_path, "--no-report").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "baseline-0",
        "baseline-0-2",
        "baseline-0-3",
    ]


def test_a_run_that_overflows_is_reported_not_written(tmp_path, monkeypatch):
    """If the model ever produces inf, the run says so and writes nothing (exit 1, a bug)."""
    import numpy as np
    from aiecosim import model as model_module

    real = model_module.AIEcosystemModel.model_table

    def overflowing(self):
        table = real(self)
        table.loc[table.index[-1], "energy_price_usd_per_mwh"] = np.inf
        return table

    monkeypatch.setattr(model_module.AIEcosystemModel, "model_table", overflowing)
    out = tmp_path / "o"
    result = _run(tmp_path, "--out", str(out))
    assert result.exit_code == 1
    assert "energy_price_usd_per_mwh is inf in month 1" in result.output.replace("\n", " ")
    assert not out.exists()

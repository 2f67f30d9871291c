"""Provenance: every output folder says which code and which world made it."""

from __future__ import annotations

import json
import shutil

from aiecosim import __version__, provenance
from aiecosim.views.cli import app
from typer.testing import CliRunner

runner = CliRunner()


def test_version_prints_the_version_and_the_source_hash():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert (
        result.output.strip()
        == f"aiecosim {__version__} (source {provenance.source_sha256()[:12]})"
    )


def test_the_source_hash_follows_contents_and_names_not_location(tmp_path):
    a = tmp_path / "a" / "sim"
    (a / "sub").mkdir(parents=True)
    (a / "model.py").write_text("x = 1\n")
    (a / "sub" / "s.toml").write_text("[scenario]\n")
    (a / "notes.txt").write_text("not source")
    before = provenance.hash_tree({"aiecosim": a})
    b = tmp_path / "elsewhere" / "sim"
    shutil.copytree(a, b)
    assert provenance.hash_tree({"aiecosim": b}) == before  # moved: same hash
    (b / "notes.txt").write_text("changed, but not source")
    assert provenance.hash_tree({"aiecosim": b}) == before
    (b / "model.py").write_text("x = 2\n")
    assert provenance.hash_tree({"aiecosim": b}) != before  # code changed
    (b / "model.py").write_text("x = 1\n")
    (b / "sub" / "s.toml").rename(b / "sub" / "t.toml")
    assert provenance.hash_tree({"aiecosim": b}) != before  # a scenario renamed


def test_a_run_folder_records_version_source_date_and_config(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--steps", "3", "--enterprises", "200", "--seed", "4", "--no-report"]
    result = runner.invoke(app, [*args, "--out", str(out), "--set", "capability.alpha=0.2"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "provenance.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert record["aiecosim_version"] == __version__
    assert record["source_sha256"] == provenance.source_sha256()
    assert record["created_utc"].startswith("20")
    assert record["command"] == "run" and record["seed"] == 4
    assert record["config"] == run["config"]
    assert record["config"]["capability"]["alpha"] == 0.2

"""The backtest: the world of January 2023 run to December 2025 against what happened.

These tests run it at a reduced size and check the machinery: the observed points are loaded
and sourced, every point is compared, the errors are the arithmetic they claim to be, and bad
input is refused in one line. Whether the model tracks history is judged by `aiecosim backtest`
(its verdicts are in docs/calibration.md), not here, where a threshold could be tuned to pass.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from aiecosim.config import ConfigError, load_config
from aiecosim.experiments import backtest as bt
from aiecosim.views.cli import app
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def small():
    cfg = load_config(bt.SCENARIO, overrides=["run.enterprises=400"])
    observed = bt.load_observed()
    points, series, paths = bt.backtest([1, 2], cfg, observed, workers=1)
    return observed, points, series, paths


def test_the_start_state_is_january_2023_and_the_run_reaches_december_2025():
    cfg = load_config(bt.SCENARIO)
    assert str(cfg.run.start_date) == "2023-01-01"
    assert cfg.run.steps == 36
    assert cfg.strategy_table()["frontier_lab"].initial_model_flop < 1e25  # before GPT-4


def test_observed_points_are_loaded_with_sources_listed_in_the_calibration_page(small):
    observed, *_ = small
    raw = pd.read_csv(bt.observed_file())
    assert len(observed) == len(raw) > 20
    assert set(observed["series"]) == set(bt.SERIES_KEYS)
    calibration = open("docs/calibration.md").read()
    for sources in observed["sources"]:
        for key in sources.split():
            assert f"**{key}**" in calibration, f"{key} is not in docs/calibration.md"


def test_every_point_is_compared_and_its_error_computed(small):
    observed, points, series, paths = small
    assert len(points) == len(observed)
    checked = points[points["role"] == "check"]
    assert np.isfinite(checked["simulated_median"]).all()
    assert np.isfinite(checked["log_error"]).all()
    assert (checked["simulated_low"] <= checked["simulated_high"]).all()
    assert set(series["series"]) == set(bt.SERIES_KEYS)
    assert set(series["verdict"]) <= {"tracks", "rough", "misses"}
    assert paths["date"].min() == pd.Timestamp("2023-01-01")
    assert paths["date"].max() == pd.Timestamp("2025-12-01")
    assert set(paths["seed"]) == {1, 2}


def test_errors_are_log_ratios_and_flows_sum_over_the_year():
    """A model exactly twice history is off by a factor of 2, high; a yearly flow is the sum of
    its months and a price the mean."""
    dates = pd.date_range("2023-01-01", periods=36, freq="MS")
    paths = pd.concat(
        [
            pd.DataFrame({"seed": s, "series": "lab_revenue", "date": dates, "value": 1.0})
            for s in (1, 2, 3)
        ]
        + [
            pd.DataFrame({"seed": s, "series": "gpu_rental_price", "date": dates, "value": 4.0})
            for s in (1, 2, 3)
        ]
    )
    observed = pd.DataFrame(
        {
            "series": ["lab_revenue", "gpu_rental_price"],
            "period": ["2024", "2024-06"],
            "value": [6.0, 2.0],  # the model: 12 a year (twice), 4 an hour (twice)
            "low": [5.0, 1.5],
            "high": [7.0, 2.5],
            "role": ["check", "check"],
            "sources": ["", ""],
            "note": ["", ""],
        }
    )
    points = bt.compare(paths, observed)
    assert list(points["simulated_median"]) == [12.0, 4.0]
    assert points["ratio"].tolist() == pytest.approx([2.0, 2.0])
    assert not points["overlaps"].any()
    table = bt.series_table(points).set_index("series")
    assert table.loc["lab_revenue", "typical_factor"] == pytest.approx(2.0)
    assert table.loc["lab_revenue", "bias_factor"] == pytest.approx(2.0)
    assert table.loc["lab_revenue", "verdict"] == "rough"
    assert bt.verdict(1.2) == "tracks" and bt.verdict(3.0) == "misses"
    one_run = paths.iloc[:36].set_index("date")["value"]
    assert math.isnan(bt.simulated_at(bt.SERIES[0], one_run, "2026"))  # beyond the run


runner = CliRunner()


def test_backtest_command_writes_table_figure_and_provenance(tmp_path):
    out = tmp_path / "bt"
    result = runner.invoke(
        app,
        ["backtest", "--seeds", "2", "--enterprises", "300", "--workers", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    for name in ("backtest.md", "backtest.png", "points.csv", "series.csv", "paths.parquet"):
        assert (out / name).stat().st_size > 0, name
    text = (out / "backtest.md").read_text()
    assert "| Frontier labs' revenue |" in text and "typical error" in text
    record = json.loads((out / "provenance.json").read_text())
    assert record["command"] == "backtest"
    assert record["config"]["run"]["start_date"] == "2023-01-01"
    assert "series track history" in result.output


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (None, "no such file"),
        ("series,period\n", "missing column"),
        (
            "series,period,value,low,high,role\nlab_revenu,2024,1,1,2,check\n",
            "did you mean 'lab_revenue'",
        ),
        ("series,period,value,low,high,role\nlab_revenue,24,1,1,2,check\n", "period '24'"),
        ("series,period,value,low,high,role\nlab_revenue,2024,inf,1,2,check\n", "value"),
        ("series,period,value,low,high,role\nlab_revenue,2024,3,1,2,check\n", "outside low..high"),
        ("series,period,value,low,high,role\nlab_revenue,2024,1,1,2,guess\n", "role 'guess'"),
    ],
)
def test_bad_observed_file_is_one_line_and_exit_2(tmp_path, csv, message):
    path = tmp_path / "observed.csv"
    if csv is not None:
        path.write_text(csv)
    with pytest.raises(ConfigError, match=message):
        bt.load_observed(path)
    result = runner.invoke(app, ["backtest", "--observed", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_backtest_zero_seeds_is_refused(tmp_path):
    result = runner.invoke(app, ["backtest", "--seeds", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--seeds 0" in result.output

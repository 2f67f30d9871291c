"""report.png: nine titled panels at a known pixel size, no error on degenerate runs, and the
same picture whether drawn at once or in two layers by the `aiecosim run` drawer process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from aiecosim.views.charts import CHARTS
from aiecosim.views.report import (
    ARCHETYPE_COLOURS,
    DPI,
    FIGSIZE_IN,
    PANEL_TITLES,
    ReportFigure,
    build_report_figure,
    firms_from_frame,
    months_from_frame,
    plot_report,
    read_run_tables,
)
from matplotlib.image import imread
from PIL import Image

ARCHETYPES = ("frontier_lab", "integrated_giant", "open_source_builder")
FIRMS = [
    ("Apex AI", "frontier_lab", "compute_maximalist"),
    ("Summit Labs", "frontier_lab", "compute_maximalist"),
    ("Northwind Cloud", "integrated_giant", "ecosystem_lock_in"),
    ("Gigacorp", "integrated_giant", "ecosystem_lock_in"),
    ("OpenWeave", "open_source_builder", "efficient_open"),
    ("Lumen Collective", "open_source_builder", "efficient_open"),
    ("Tiny Tensor", "open_source_builder", "efficient_open"),
    ("Late Entrant", "frontier_lab", "lean_frontier"),
]


def synthetic_run(months: int = 24, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model and firm tables with the columns and rough magnitudes of a real run."""
    rng = np.random.default_rng(seed)
    t = np.arange(months, dtype=float)
    dates = pd.date_range("2025-01-01", periods=months, freq="MS")
    raw = np.vstack(
        [
            0.55 - 0.004 * t,
            0.35 + 0.001 * t,
            0.10 + 0.003 * t,
        ]
    ).clip(0.01)
    shares = raw / raw.sum(axis=0)
    frontier = 60 + 25 * (1 - np.exp(-t / 60))
    best_open = frontier - 6 * np.exp(-t / 80)
    cum_capex = np.cumsum(np.full(months, 30e9) * 1.02**t)
    revenue = 5e9 * 1.04**t
    sentiment = 0.4 * np.cos(t / 8) - 0.01 * t
    correction = np.zeros(months, dtype=bool)
    correction[[m for m in (9, 17) if m < months]] = True
    model = pd.DataFrame(
        {
            "month": np.arange(months),
            "date": dates,
            **{f"share_revenue_{a}": shares[i] for i, a in enumerate(ARCHETYPES)},
            **{f"share_customers_{a}": shares[::-1][i] for i, a in enumerate(ARCHETYPES)},
            "alive_frontier_lab": np.where(t < 15, 2, 1) + (t >= 20),
            "alive_integrated_giant": np.full(months, 2),
            "alive_open_source_builder": np.where(t < 11, 3, 2),
            "hhi_revenue": 2500 + 20 * t,
            "frontier_capability": frontier,
            "best_open_capability": best_open,
            "open_lag_months": np.clip(14 - 0.3 * t, 0, None),
            "token_price_usd_per_mtok": 12.0 * 0.95**t,
            "compute_price_usd_per_gpu_hour": 2.4 * 0.99**t,
            "energy_price_usd_per_mwh": 68 + 0.8 * t + rng.normal(0, 1, months),
            "compute_utilisation": np.clip(0.7 + 0.01 * t, 0, 1),
            "installed_gpus_h100e": 4e6 * 1.03**t,
            "usable_gpus_h100e": 3.8e6 * 1.03**t,
            "dc_energy_twh_per_year": 420 * 1.02**t,
            "dc_grid_share": 0.015 * 1.012**t,
            "adoption_rate": 0.1 + 0.6 * (1 - np.exp(-t / 30)),
            "adopters_positive_roi_share": 0.4 + 0.2 * (1 - np.exp(-t / 20)),
            "churn_rate": np.full(months, 0.01),
            "switch_rate": np.full(months, 0.02),
            "cum_ai_capex_usd": cum_capex,
            "cum_ai_revenue_usd": np.cumsum(revenue),
            "ai_revenue_usd_per_year": revenue * 12,
            "required_revenue_usd_per_year": np.full(months, 600e9),
            "investor_capital_usd": np.full(months, 2e12),
            "funding_usd": np.full(months, 10e9),
            "sentiment": sentiment,
            "investor_thesis_mean": np.full(months, 0.6),
            "investor_disagreement": 0.2 + 0.05 * np.sin(t / 5),
            "correction": correction,
            "entrants": (t == 20).astype(int),
            "exits": ((t == 11) | (t == 15)).astype(int),
        }
    )
    rows = []
    for firm_id, (name, archetype, strategy) in enumerate(FIRMS):
        joins = 20 if name == "Late Entrant" else 0
        exits = {"Summit Labs": 15, "Tiny Tensor": 11}.get(name)
        size = {"frontier_lab": 2e9, "integrated_giant": 1.5e9, "open_source_builder": 2e8}
        for m in range(joins, months):
            alive = exits is None or m < exits
            rev = size[archetype] * (1 + 0.3 * firm_id) * 1.04**m if alive else 0.0
            rows.append(
                {
                    "month": m,
                    "date": dates[m],
                    "firm_id": firm_id,
                    "name": name,
                    "archetype": archetype,
                    "strategy": strategy,
                    "cash_usd": 5e9 - 1e8 * m,
                    "revenue_usd": rev * 1.1,
                    "model_revenue_usd": rev,
                    "costs_usd": rev * 1.3,
                    "funding_usd": 0.0,
                    "capability": frontier[m] - firm_id,
                    "price_usd_per_mtok": 10.0 * 0.9**m,
                    "customers": int(100 * (firm_id + 1)) if alive else 0,
                    "alive": alive,
                }
            )
    return model, pd.DataFrame(rows)


def panel_titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]


def test_plot_report_writes_a_png_of_the_expected_size(tmp_path):
    model, firms = synthetic_run(24)
    out = plot_report(model, firms, tmp_path / "report.png", title="synthetic, seed 0")
    assert out == tmp_path / "report.png"
    assert out.stat().st_size > 50_000
    pixels = imread(out)
    width, height = round(FIGSIZE_IN[0] * DPI), round(FIGSIZE_IN[1] * DPI)
    assert pixels.shape[:2] == (height, width)
    # not a blank page: the archetype colours are drawn
    assert pixels[..., :3].std() > 0.05


def test_png_is_written_whatever_the_suffix(tmp_path):
    # write_run saves to a temporary name without .png and renames it afterwards
    model, firms = synthetic_run(6)
    out = plot_report(model, firms, tmp_path / ".report.png.tmp-1")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_has_nine_titled_panels_in_order():
    model, firms = synthetic_run(24)
    fig = build_report_figure(model, firms, "synthetic")
    assert panel_titles(fig) == list(PANEL_TITLES)
    assert len(PANEL_TITLES) == 9
    assert "synthetic" in fig.get_suptitle()
    # every panel labels its y axis with a unit or a meaning
    for ax in fig.axes:
        if ax.get_title(loc="left"):
            assert ax.get_ylabel(), ax.get_title(loc="left")


def test_top_firms_panel_names_the_largest_firms_in_archetype_colours():
    model, firms = synthetic_run(24)
    fig = build_report_figure(model, firms)
    ax = next(a for a in fig.axes if a.get_title(loc="left") == PANEL_TITLES[8])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    totals = firms.groupby("name")["model_revenue_usd"].sum().sort_values(ascending=False)
    assert labels[:6] == list(totals.index[:6])
    lines = {line.get_label(): line for line in ax.get_lines()}
    archetype = firms.drop_duplicates("name").set_index("name")["archetype"]
    for name in labels[:6]:
        assert lines[name].get_color() == ARCHETYPE_COLOURS[archetype[name]]


def test_archetype_colours_are_three_distinct_colours():
    assert set(ARCHETYPE_COLOURS) == set(ARCHETYPES)
    assert len(set(ARCHETYPE_COLOURS.values())) == 3


def _one_month():
    model, firms = synthetic_run(1)
    return model, firms


def _zero_revenue():
    model, firms = synthetic_run(12)
    for a in ARCHETYPES:
        model[f"share_revenue_{a}"] = 0.0
    model["token_price_usd_per_mtok"] = np.nan
    model[["cum_ai_revenue_usd", "ai_revenue_usd_per_year", "hhi_revenue"]] = 0.0
    firms[["revenue_usd", "model_revenue_usd"]] = 0.0
    return model, firms


def _nan_lag():
    model, firms = synthetic_run(12)
    model["open_lag_months"] = np.nan
    model["best_open_capability"] = 0.0
    model["dc_grid_share"] = np.nan
    model["investor_disagreement"] = np.nan
    return model, firms


def _empty_firms():
    model, firms = synthetic_run(12)
    return model, firms.iloc[0:0]


def _no_firm_columns():
    model, _ = synthetic_run(12)
    return model, pd.DataFrame()


def _all_exited():
    model, firms = synthetic_run(12)
    firms["alive"] = False
    for a in ARCHETYPES:
        model[f"alive_{a}"] = 0
    return model, firms


def _from_parquet_roundtrip_types():
    # correction as object with missing values, dates as strings: what a careless reader may pass
    model, firms = synthetic_run(12)
    model["correction"] = model["correction"].astype(object)
    model.loc[3, "correction"] = None
    model["date"] = model["date"].dt.strftime("%Y-%m-%d")
    return model, firms


@pytest.mark.parametrize(
    "make",
    [
        _one_month,
        _zero_revenue,
        _nan_lag,
        _empty_firms,
        _no_firm_columns,
        _all_exited,
        _from_parquet_roundtrip_types,
    ],
)
def test_degenerate_runs_still_give_a_report(make, tmp_path):
    model, firms = make()
    out = plot_report(model, firms, tmp_path / "report.png", title=make.__name__)
    assert out.stat().st_size > 10_000
    assert imread(out).shape[:2] == (round(FIGSIZE_IN[1] * DPI), round(FIGSIZE_IN[0] * DPI))
    assert panel_titles(build_report_figure(model, firms)) == list(PANEL_TITLES)


def test_empty_model_table_still_gives_a_report(tmp_path):
    model, firms = synthetic_run(3)
    out = plot_report(model.iloc[0:0], firms.iloc[0:0], tmp_path / "report.png")
    assert out.stat().st_size > 10_000


def test_panels_are_the_chart_definitions_in_order():
    assert PANEL_TITLES == tuple(spec.title for spec in CHARTS.values())
    report = ReportFigure.from_frames(*synthetic_run(12))
    for key, plot in report.plots.items():
        spec = CHARTS[key]
        assert plot.ax.get_title(loc="left") == spec.title
        assert [line.get_color() for line in plot.lines] == [s.colour for s in spec.lines]
        # dashed lines, and only they, read on the right axis
        for line, series in zip(plot.lines, spec.lines, strict=True):
            assert (line.get_linestyle() == "--") == series.right == (line.axes is plot.twin)


def test_prices_legend_gives_each_index_its_starting_price():
    model, firms = synthetic_run(24)
    report = ReportFigure.from_frames(model, firms)
    texts = [t.get_text() for t in report.plots["prices"].ax.get_legend().get_texts()]
    assert texts == [
        "Tokens (left, log)",
        "Compute (right, 100 = $2.40/GPU-h)",
        f"Energy (right, 100 = ${model['energy_price_usd_per_mwh'][0]:,.0f}/MWh)",
    ]
    compute = report.plots["prices"].lines[1].get_ydata()
    assert compute[0] == pytest.approx(100) and compute[12] == pytest.approx(100 * 0.99**12)


def test_corrections_are_marked_in_the_sentiment_panel():
    model, firms = synthetic_run(24)  # corrections in months 9 and 17
    plot = ReportFigure.from_frames(model, firms).plots["sentiment"]
    marks = [segment[0][0] for segment in plot.marks.get_segments()]
    assert len(marks) == 2 and marks == sorted(marks)
    texts = [t.get_text() for t in plot.ax.get_legend().get_texts()]
    assert "Valuation correction" in texts


def png_pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize(
    "announced, months",
    [((2025, 24), 24), ((2025, 120), 24), ((2031, 6), 24), (None, 24)]
    + [((2025, 12), 1), ((2025, 12), 0)],
)
def test_drawn_in_two_layers_the_report_is_the_report_drawn_at_once(announced, months):
    """`aiecosim run`'s drawer draws the fixed parts while the model simulates, from the
    months the run will span, and the data over them once the tables exist. Whatever months
    it was told (right, too many, others, none), the picture is the one drawn at once."""
    model, firms = synthetic_run(max(months, 1))
    model, firms = model.iloc[:months], firms[firms["month"] < months]
    first = np.datetime64(f"{announced[0]}-01", "M") if announced else None
    layered = ReportFigure("two layers", first, announced[1] if announced else 0)
    layered.draw_base()
    layered.fill(months_from_frame(model), firms_from_frame(firms))
    layered.render()
    if months:  # the data's own months, as if nothing had been announced
        whole = ReportFigure.from_frames(model, firms, "two layers")
    else:  # no data: the months announced
        whole = ReportFigure("two layers", first, announced[1])
        whole.fill(months_from_frame(model), firms_from_frame(firms))
    whole.render()  # no base: drawn at once
    np.testing.assert_array_equal(png_pixels(layered.png()), png_pixels(whole.png()))


def test_y_axes_with_a_fixed_range_are_drawn_with_the_base():
    """The share panels (0-100%) and the HHI (0-10,000) show the same y axis whatever the
    data, so the drawer draws it before the tables come; axes that follow the data wait."""
    report = ReportFigure("fixed", np.datetime64("2025-01", "M"), 24)
    changing = {id(a) for a in report._changing()}
    drawn_early = [
        report.axes[key].yaxis
        for key, plot in report.plots.items()
        if isinstance(plot.spec.left.limits, tuple)
    ]
    assert len(drawn_early) >= 2
    assert not any(id(axis) in changing for axis in drawn_early)
    following = [p.ax.yaxis for p in report.plots.values() if p.spec.left.limits == "log"]
    assert following and all(id(axis) in changing for axis in following)


@pytest.mark.parametrize("months", [120, 24, 1])
def test_the_rows_of_panels_drawn_apart_make_the_report_drawn_at_once(months):
    """The drawer's helper draws the bottom row of panels over its own copy of the base while
    the drawer draws the two rows above; each stays inside its band, so the drawer's rows
    with the helper's band pasted under them are the picture drawn at once."""
    model, firms = synthetic_run(months)
    tables = months_from_frame(model), firms_from_frame(firms)

    def drawn(rows):
        report = ReportFigure("rows", np.datetime64("2025-01", "M"), months)
        report.draw_base()
        report.fill(*tables)
        report.render(rows=rows)
        return report

    above, below = drawn((0, 1)), drawn((2,))
    top = above.band_top(2)
    height = above.pixels().shape[0]
    assert 0 < top < height
    assert above.unchanged_outside(0, top) and below.unchanged_outside(top, height)
    assert not above.unchanged_outside(0, 0) and not below.unchanged_outside(0, 0)
    pasted = above.pixels().copy()
    pasted[top:] = below.pixels()[top:]
    whole = ReportFigure.from_frames(model, firms, "rows")
    whole.render()
    np.testing.assert_array_equal(pasted, whole.pixels())


HELPED_DRAWING = """
import json, os, pickle, sys
import numpy as np
from aiecosim.views.report import ReportFigure, RowHelper
tables, months, mode = pickle.load(open(sys.argv[1], "rb"))
if mode == "helper dies":
    RowHelper._help = classmethod(lambda cls, *args: os._exit(3))
elif mode == "helper strays":  # the band said to begin 5 px from the bottom: its row is above
    ReportFigure.band_top = lambda self, row: self.pixels().shape[0] - 5
elif mode == "drawer strays":  # the band said to begin 10 px from the top: the rows above are in it
    ReportFigure.band_top = lambda self, row: 10
split = ReportFigure("helped", np.datetime64("2025-01", "M"), months)
split.draw_base()
split.rehearse()
helper = RowHelper.start(split)
helped = helper is not None and helper.draw(split, tables)
if helper is not None:
    helper.close()
if not helped:
    split.render()
whole = ReportFigure("helped", np.datetime64("2025-01", "M"), months)
whole.fill(*tables)
whole.render()  # no base: at once, in one process
print(json.dumps({"forked": helper is not None, "helped": bool(helped),
                  "same": bool(np.array_equal(split.pixels(), whole.pixels()))}))
"""


@pytest.mark.parametrize("mode", ["helper draws", "helper dies", "helper strays", "drawer strays"])
def test_the_drawer_forks_a_helper_for_the_bottom_row_and_draws_alone_if_it_fails(mode, tmp_path):
    """With one BLAS thread (as `aiecosim run` starts its drawer) the drawer is a process of
    one thread once its base is drawn: it forks a helper that draws the bottom row. When the
    helper dies, or either process draws outside its band, the drawer draws the whole figure
    itself. Either way the picture is the one drawn at once."""
    import pickle

    model, firms = synthetic_run(36)
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps(((months_from_frame(model), firms_from_frame(firms)), 36, mode)))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", HELPED_DRAWING, str(job)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"forked": True, "helped": mode == "helper draws", "same": True}


def write_tables(folder, model: pd.DataFrame, firms: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.to_parquet(folder / "model.parquet", index=False)
    firms.to_parquet(folder / "firms.parquet", index=False)


def test_tables_read_from_parquet_are_the_tables_given_as_frames(tmp_path):
    model, firms = synthetic_run(18)
    firms = firms.sample(frac=1.0, random_state=0)  # the reader puts months back in order
    firms["alive"] = firms["alive"].astype(object)
    firms.loc[firms.index[:3], "alive"] = None  # missing: alive
    write_tables(tmp_path, model, firms)
    months, firm_rows = read_run_tables(tmp_path)
    expected, expected_firms = months_from_frame(model), firms_from_frame(firms)
    np.testing.assert_array_equal(months.dates, expected.dates)
    assert set(months.columns) == set(expected.columns)
    for name, values in expected.columns.items():
        np.testing.assert_array_equal(months[name], values, name)
    for field in ("firm_id", "name", "archetype", "dates", "revenue_usd", "alive"):
        np.testing.assert_array_equal(
            getattr(firm_rows, field), getattr(expected_firms, field), field
        )
    assert firm_rows.model_revenue and expected_firms.model_revenue


def run_drawer(lines: list[dict]) -> subprocess.CompletedProcess:
    # on one BLAS thread, as `aiecosim run` starts it: the drawer can then fork its helper
    return subprocess.run(
        [sys.executable, "-m", "aiecosim.views.report"],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )


def test_the_drawer_process_writes_report_png_once_the_tables_are_there(tmp_path):
    model, firms = synthetic_run(24)
    write_tables(tmp_path, model, firms)
    header = {"title": "aiecosim: synthetic, seed 0", "first": "2025-01", "months": 24}
    done = run_drawer([header, {"folder": str(tmp_path)}])
    assert done.returncode == 0, done.stderr
    drawn = png_pixels((tmp_path / "report.png").read_bytes())
    expected = ReportFigure.from_frames(model, firms, header["title"])
    expected.render()
    np.testing.assert_array_equal(drawn, png_pixels(expected.png()))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "firms.parquet",
        "model.parquet",
        "report.png",
    ]


def test_the_drawer_draws_tables_handed_over_early_and_writes_them_into_the_folder(tmp_path):
    # `aiecosim run` hands the tables over as Arrow files when the simulation ends; the folder
    # (written after, and emptied of an earlier run's report.png) comes last.
    from types import SimpleNamespace

    from aiecosim.views.cli import _hand_over_tables

    model, firms = synthetic_run(24)
    scratch, folder = tmp_path / "scratch", tmp_path / "run"
    scratch.mkdir()
    # the run's own hand-over, to a drawer that is a scratch folder and a pipe
    drawer = SimpleNamespace(scratch=SimpleNamespace(name=str(scratch)), stdin=io.StringIO())
    _hand_over_tables(drawer, model, firms)
    tables_job = json.loads(drawer.stdin.getvalue())
    write_tables(folder, model.iloc[:0], firms.iloc[:0])  # the folder's own tables: not read
    header = {"title": "aiecosim: synthetic, seed 0", "first": "2025-01", "months": 24}
    done = run_drawer([header, tables_job, {"folder": str(folder)}])
    assert done.returncode == 0, done.stderr
    expected = ReportFigure.from_frames(model, firms, header["title"])
    expected.render()
    drawn = png_pixels((folder / "report.png").read_bytes())
    np.testing.assert_array_equal(drawn, png_pixels(expected.png()))
    # a run that fails after its simulation sends no folder: nothing is written anywhere
    (folder / "report.png").unlink()
    done = run_drawer([header, tables_job])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["firms.parquet", "model.parquet"]


def test_the_drawer_draws_nothing_when_the_run_stops_before_its_tables(tmp_path):
    done = run_drawer([{"title": "t", "first": "2025-01", "months": 120}])
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_drawer_reports_a_folder_without_tables_as_a_failure(tmp_path):
    done = run_drawer([{"title": "t", "first": "2025-01", "months": 12, "folder": str(tmp_path)}])
    assert done.returncode != 0 and "model.parquet" in done.stderr
    assert list(tmp_path.iterdir()) == []

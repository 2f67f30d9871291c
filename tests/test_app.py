"""The browser visualiser without a browser: the app's components rendered with solara's test
renderer (reacton), its model parameters, its charts (the report's definitions), and
`aiecosim viz` failing cleanly."""

from __future__ import annotations

import io
import os
import re
import socket
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from aiecosim.agents.strategy import ARCHETYPE_COLOURS
from aiecosim.config import list_scenarios, load_config
from aiecosim.model import AIEcosystemModel
from aiecosim.views import app as viz
from aiecosim.views import charts
from aiecosim.views import report as report_figure
from aiecosim.views.cli import app as cli
from PIL import Image
from typer.testing import CliRunner

LEVER_LABELS = {lever.label for lever in viz.LEVERS.values()}


@solara.component
def AppPage():
    """The page as the server shows it: inside solara's app layout (sidebar and app bar)."""
    with solara.AppLayout():
        viz.Page()


@pytest.fixture
def viz_page(monkeypatch):
    """The whole app, rendered at a small size, with the widgets to poke at."""
    monkeypatch.setenv(viz.ENV_SCENARIO, "baseline")
    monkeypatch.setenv(viz.ENV_SEED, "3")
    monkeypatch.setenv(viz.ENV_ENTERPRISES, "600")
    _, rc = solara.render(AppPage(), handle_error=False)
    yield rc
    rc.close()


def button(rc, label):
    return rc.find(v.Btn, children=[label]).widget


def month_text(rc) -> str:
    return rc.find(v.Html, class_="aiecosim-month").widget.children[0]


def details_text(rc) -> str:
    return rc.find(v.Html, class_="aiecosim-details").widget.children[0]


def levers_text(rc) -> str:
    return rc.find(v.Html, class_="aiecosim-levers").widget.children[0]


def slider(rc, name: str):
    return rc.find(v.Slider, label=viz.LEVERS[name].label).widget


def select_scenario(rc, name: str) -> None:
    rc.find(v.Select, label="Scenario").widget.v_model = name


def seed_box(rc):
    return rc.find(v.TextField, label="Random seed").widget


def enter_seed(rc, text: str) -> None:
    box = seed_box(rc)
    box.v_model = text
    box.fire_event("keyup.enter", None)  # the seed box applies on Enter or on leaving it


def banner(rc) -> str | None:
    """The text of the "Reset to apply" banner, None when there is none."""
    found = rc.find(v.Alert, class_="aiecosim-pending-banner")
    return found.widget.children[0] if found.widgets else None


def pending_notes(rc) -> list[str]:
    return [w.children[0] for w in rc.find(v.Html, class_="aiecosim-pending").widgets]


def chart_images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def firm_table(rc) -> str:
    return (
        rc.find(v.Card, class_="ma-0 aiecosim-panel aiecosim-firms-card")
        .find(solara.widgets.HTML)
        .widget.unsafe_innerHTML
    )


# ------------------------------------------------------------------------- the rendered page
def test_controls_exist(viz_page):
    assert {"Reset", "▶", "Step"} <= {b.children[0] for b in viz_page.find(v.Btn).widgets}
    sliders = {s.label for s in viz_page.find(v.Slider).widgets}
    assert LEVER_LABELS | {"Enterprises"} <= sliders
    select = viz_page.find(v.Select, label="Scenario").widget
    assert select.v_model == "baseline" and set(select.items) == set(list_scenarios())
    assert seed_box(viz_page).v_model == "3" and not seed_box(viz_page).error
    # every panel is there: six charts, the network, the firm table
    assert len(viz_page.find(ipywidgets.Image).widgets) == len(viz.PANELS) + 1
    assert "Open Source Builder 1" in firm_table(viz_page)
    # nothing differs from the running model yet
    assert banner(viz_page) is None and pending_notes(viz_page) == []


def test_a_step_advances_the_month_and_the_panels_get_new_data(viz_page):
    assert month_text(viz_page).startswith("Month 0 of 120")
    before_images, before_table = chart_images(viz_page), firm_table(viz_page)
    button(viz_page, "Step").click()
    assert month_text(viz_page) == "Month 1 of 120 · Jan 2025"
    button(viz_page, "Step").click()
    assert month_text(viz_page) == "Month 2 of 120 · Feb 2025"
    after_images = chart_images(viz_page)
    changed = sum(a != b for a, b in zip(before_images, after_images, strict=True))
    assert changed == len(after_images), "every chart is redrawn with the new month"
    assert firm_table(viz_page) != before_table  # customers and cash have moved
    # the status line reports this month's redraw (the panels are drawn before it is written)
    model = current_model(viz_page)
    shown = re.search(r"last step (\d+) ms, redraw (\d+) ms", details_text(viz_page))
    assert shown, details_text(viz_page)
    assert int(shown[2]) == round(sum(model.render_seconds.values()) * 1000)
    assert int(shown[1]) == round(model.last_step_seconds * 1000)


def test_a_moved_slider_is_marked_until_reset_applies_it(viz_page):
    button(viz_page, "Step").click()
    slider(viz_page, "scale_alpha").v_model = 0.3
    enter_seed(viz_page, "11")
    # the running model is untouched, and the page says so
    assert month_text(viz_page).startswith("Month 1 of 120")
    assert "alpha 0.12 ·" in levers_text(viz_page)
    text = banner(viz_page)
    assert text.startswith("Reset to apply:")
    assert "seed 11 (running: 3)" in text and "alpha 0.3 (running: 0.12)" in text
    assert "running: 0.12 · Reset to apply" in pending_notes(viz_page)
    assert "running: 3 · Reset to apply" in pending_notes(viz_page)

    button(viz_page, "Reset").click()
    assert month_text(viz_page).startswith("Month 0 of 120")
    assert "alpha 0.3 ·" in levers_text(viz_page)
    assert details_text(viz_page).startswith("baseline, seed 11 · 600 enterprises")
    assert banner(viz_page) is None and pending_notes(viz_page) == []


def test_a_bad_seed_is_refused_in_the_box_and_reset_keeps_the_last_good_one(viz_page):
    """A seed must be a whole number, 0 or more (as `aiecosim run --seed`): other text stays
    in the box, marked with the reason, changes nothing and is never handed to Reset (which
    would fail on it, or silently run some other seed)."""
    button(viz_page, "Step").click()
    before = current_model(viz_page)
    for bad in ("abc", "-5", "2.5", "1e3", ""):
        enter_seed(viz_page, bad)
        assert seed_box(viz_page).error
        (message,) = seed_box(viz_page).messages
        assert "not a seed: must be a whole number, 0 or more" in message
        assert "Reset uses seed 3" in message
        # the running model goes on untouched, and nothing is pending
        assert month_text(viz_page).startswith("Month 1 of 120")
        assert current_model(viz_page) is before
        assert banner(viz_page) is None and pending_notes(viz_page) == []
    button(viz_page, "Reset").click()  # runs the last good seed, from month 0
    assert month_text(viz_page).startswith("Month 0 of 120")
    assert details_text(viz_page).startswith("baseline, seed 3 · 600 enterprises")
    assert current_model(viz_page) is not before
    # a good seed clears the mark and is pending until Reset, like any other parameter
    enter_seed(viz_page, " 012 ")
    assert not seed_box(viz_page).error and not seed_box(viz_page).messages
    assert "seed 012 (running: 3)" in banner(viz_page)
    button(viz_page, "Reset").click()
    assert details_text(viz_page).startswith("baseline, seed 12 ·")
    with pytest.raises(ValueError, match="must be a whole number"):
        viz.VizModel(seed="abc", enterprises=300)


def test_a_scenario_switch_moves_every_slider_and_reset_runs_that_scenario(viz_page):
    """The reported bug: after picking energy-crunch, Reset ran baseline while the picker and
    the sliders showed energy-crunch."""
    button(viz_page, "Step").click()
    select_scenario(viz_page, "energy-crunch")
    expected = viz.scenario_levers("energy-crunch")
    cfg = load_config("energy-crunch")
    for name, lever in viz.LEVERS.items():
        assert slider(viz_page, name).v_model == pytest.approx(expected[name]), name
        assert expected[name] == pytest.approx(viz.config_value(cfg, lever.path))
    assert expected["energy_price_growth"] == pytest.approx(0.08)
    # nothing applies before Reset: the old run goes on, marked as such
    assert month_text(viz_page).startswith("Month 1 of 120")
    assert details_text(viz_page).startswith("baseline, seed 3")
    text = banner(viz_page)
    assert "scenario energy-crunch (running: baseline)" in text
    assert "energy price growth +8%/yr (running: +0%/yr)" in text
    assert "running: baseline · Reset to apply" in pending_notes(viz_page)

    button(viz_page, "Reset").click()
    assert month_text(viz_page).startswith("Month 0 of 120")
    assert details_text(viz_page).startswith("energy-crunch, seed 3 · 600 enterprises")
    assert "energy price growth +8%/yr" in levers_text(viz_page)
    assert viz_page.find(v.Select, label="Scenario").widget.v_model == "energy-crunch"
    assert banner(viz_page) is None
    button(viz_page, "Step").click()
    assert month_text(viz_page).startswith("Month 1 of 120")


def test_a_slider_moved_before_a_scenario_switch_takes_the_new_scenarios_value(viz_page):
    """The reported bug: alpha showed 0.21 while the run used 0.12."""
    slider(viz_page, "scale_alpha").v_model = 0.21
    select_scenario(viz_page, "open-surge")
    assert slider(viz_page, "scale_alpha").v_model == pytest.approx(
        load_config("open-surge").capability.alpha
    )
    assert slider(viz_page, "open_efficiency").v_model == pytest.approx(30.0)
    slider(viz_page, "switching_cost").v_model = 2.5  # a lever moved after the switch counts
    button(viz_page, "Reset").click()
    cfg = load_config("open-surge")
    model = current_model(viz_page)
    assert model.preset == "open-surge"
    assert model.cfg.capability.alpha == pytest.approx(cfg.capability.alpha)
    assert model.cfg.capability.open_distillation_multiplier == pytest.approx(30.0)
    assert model.cfg.enterprises.switching_cost == pytest.approx(2.5)
    assert model.enterprises.n == 600 and model.seed == 3  # seed and size carry over


def test_every_scenario_puts_its_own_values_on_the_sliders(viz_page):
    for scenario in list_scenarios():
        select_scenario(viz_page, scenario)
        cfg = load_config(scenario)
        for name, lever in viz.LEVERS.items():
            shown = slider(viz_page, name)
            value = viz.config_value(cfg, lever.path)
            assert shown.v_model == pytest.approx(value), (scenario, name)
            assert shown.min <= shown.v_model <= shown.max


def current_model(rc) -> viz.VizModel:
    """The model the page shows: the one its header describes."""
    details = details_text(rc)
    models = [m for m in list(viz._LIVE_MODELS) if viz.status_details(m) == details]
    assert models, details
    return models[-1]


# ------------------------------------------------------------------------- model parameters
def test_scenario_params_are_the_scenarios_resolved_config():
    for scenario in ("baseline", "energy-crunch", "scaling-plateau", "funding-winter"):
        params = viz.scenario_params(scenario, seed=5, enterprises=800)
        cfg = load_config(scenario)
        assert params["scenario_name"] == scenario
        assert params["enterprises"] == 800 and params["seed"] == "5"
        for name, lever in viz.LEVERS.items():
            assert params[name] == pytest.approx(viz.config_value(cfg, lever.path))
        # what Reset builds from them runs exactly that config
        model = viz.VizModel(**{**params, "enterprises": 300})
        assert viz.pending_changes({**params, "enterprises": 300}, model) == []
    assert viz.scenario_params("scaling-plateau")["scale_alpha"] == pytest.approx(0.3)


def test_pending_changes_name_each_difference_and_ignore_rounding():
    model = viz.VizModel(scenario_name="baseline", seed="3", enterprises=300)
    params = viz.running_params(model)
    assert viz.pending_changes(params, model) == []
    # what a browser sends back for unchanged values is not a change
    same = {**params, "scale_alpha": 0.12000000000000001, "seed": "03"}
    same["investor_patience_months"] = int(params["investor_patience_months"])
    assert viz.pending_changes(same, model) == []
    moved = {**params, "scale_alpha": 0.3, "energy_price_growth": 0.05, "scenario_name": "lock-in"}
    changes = viz.pending_changes(moved, model)
    assert [c.name for c in changes] == ["scenario_name", "energy_price_growth", "scale_alpha"]
    assert viz.pending_text(changes) == (
        "Reset to apply: scenario lock-in (running: baseline) · "
        "energy price growth +5%/yr (running: +0%/yr) · alpha 0.3 (running: 0.12)"
    )


def test_viz_model_builds_its_config_from_scenario_and_levers():
    model = viz.VizModel(
        scenario_name="lock-in", seed="7", enterprises=400, scale_alpha=0.25, open_efficiency=9
    )
    cfg = model.cfg
    assert cfg.scenario.name == "lock-in" and model.preset == "lock-in"
    assert cfg.run.enterprises == 400 and model.enterprises.n == 400
    assert cfg.capability.alpha == pytest.approx(0.25)
    assert cfg.capability.open_distillation_multiplier == pytest.approx(9.0)
    assert cfg.enterprises.switching_cost == pytest.approx(5.0)  # the scenario's, untouched
    assert model.seed == 7
    # integer slider values go into the config's float fields
    model = viz.VizModel(enterprises=300, hardware_doubling_months=30, investor_patience_months=60)
    assert model.cfg.compute.price_performance_doubling_months == 30.0
    assert model.cfg.investors.patience_months == 60.0


def test_the_visualiser_leaves_the_simulation_as_it_is():
    """Sampling the network, laying it out and drawing every panel each month must not draw
    from the model's random stream: the run equals a plain one with the same seed."""
    plain = AIEcosystemModel(load_config("baseline", overrides=["run.enterprises=600"]), rng=4)
    shown = viz.VizModel(seed=4, enterprises=600)
    for _ in range(4):
        plain.step()
        shown.step()
        for spec in (*viz.PANELS, viz.NETWORK_PANEL):
            viz.render_panel(spec, shown)
    pd.testing.assert_frame_equal(plain.model_table(), shown.model_table())


# ------------------------------------------------------------------------- charts
ALL_PANELS = (*viz.PANELS, viz.NETWORK_PANEL)
PANEL = {spec.key: spec for spec in ALL_PANELS}


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_charts_are_built_once_per_model_and_redrawn_each_month():
    model = viz.VizModel(enterprises=600)
    drawn = {spec.key: viz.render_panel(spec, model) for spec in ALL_PANELS}
    charts = dict(model._viz_charts)
    view = viz.network_view(model)
    model.step()
    for spec in ALL_PANELS:
        now = viz.render_panel(spec, model)
        assert now.png.startswith(b"\x89PNG") and now.png != drawn[spec.key].png, spec.key
        assert model._viz_charts[spec.key] is charts[spec.key]  # updated in place
        assert model.render_seconds[spec.key] > 0
    assert viz.network_view(model) is view  # layout computed once


def test_a_month_redraws_only_what_moved_and_looks_as_if_drawn_afresh():
    """Blitting: over two years each chart's frame (axes, ticks, labels) is drawn again only
    the few times its axis range moves, and the picture after any month equals the one a new
    chart draws from scratch for that month."""
    model = viz.VizModel(enterprises=800, seed=2)
    for spec in ALL_PANELS:
        viz.render_panel(spec, model)
    for month in range(1, 25):
        model.step()
        for spec in ALL_PANELS:
            drawn = viz.render_panel(spec, model)
            if month in (1, 7, 24):
                fresh, _ = spec.chart(model).render(spec.data(model))
                np.testing.assert_array_equal(pixels(drawn.png), pixels(fresh), spec.key)
    frames = {key: chart.frames_drawn for key, chart in model._viz_charts.items()}
    assert frames["network"] == 1 and frames["revenue"] <= 2 and frames["adoption"] <= 2
    # most months redraw no frame at all
    assert sum(frames.values()) <= len(ALL_PANELS) * 2 + 24, frames


def test_the_report_and_the_visualiser_draw_each_chart_from_one_definition():
    """Every chart of the page is a chart of report.png, drawn from the same definition
    (`charts.CHARTS`): same title, same y axes, same series in the same colours and dashes,
    with the same values month by month, and the same names in the legends."""
    assert list(report_figure.PANEL_TITLES) == [spec.title for spec in charts.CHARTS.values()]
    assert [p.title for p in viz.PANELS] == [charts.CHARTS[k].title for k in viz.APP_CHARTS]
    # the page shows every chart of the model table; the report adds the firm-table one
    assert set(report_figure.PANELS) - set(viz.APP_CHARTS) == {"top_firms"}

    model = viz.VizModel(enterprises=600, seed=1)
    for _ in range(8):
        model.step()
    shown = {key: viz.render_panel(PANEL[key], model) for key in viz.APP_CHARTS}
    drawn = report_figure.ReportFigure.from_frames(model.model_table(), pd.DataFrame())

    def series(plot: charts.Plot) -> list[tuple]:
        return [
            (line.get_color(), line.get_linestyle(), line.get_linewidth(), line.axes is plot.twin)
            for line in plot.lines
        ]

    for key in viz.APP_CHARTS:
        spec = charts.CHARTS[key]
        live, still = model._viz_charts[key].plot, drawn.plots[key]
        assert live.spec is still.spec is spec
        assert still.ax.get_title(loc="left") == spec.title
        assert live.ax.get_ylabel() == still.ax.get_ylabel() == spec.left.label
        if spec.right is not None:
            assert live.twin.get_ylabel() == still.twin.get_ylabel() == spec.right.label
        assert series(live) == series(still) and len(live.lines) == len(spec.lines)
        for a, b in zip(live.lines, still.lines, strict=True):  # the same numbers, same months
            np.testing.assert_array_equal(a.get_xdata(), b.get_xdata())
            np.testing.assert_allclose(a.get_ydata(), b.get_ydata())
        for a, b in zip(live.areas, still.areas, strict=True):
            np.testing.assert_allclose(a.get_paths()[0].vertices, b.get_paths()[0].vertices)
        legend = still.ax.get_legend()
        texts = [t.get_text() for t in legend.get_texts()] if legend else []
        for line in spec.lines:
            assert f"{line.name} " in shown[key].legend, (key, line.name)
            assert any(t.startswith(line.name) for t in texts), (key, line.name, texts)
        colours = [line.colour for line in spec.lines]
        assert not set(colours) & set(ARCHETYPE_COLOURS.values()) - {
            ARCHETYPE_COLOURS["open_source_builder"]  # the best open-weights model's line
        }


def test_axis_ranges_are_round_and_only_widen():
    assert charts.round_up(0.93) == 1.0 and charts.round_up(1.01) == 1.5
    assert charts.round_up(4.1) == 5
    assert charts.round_down(0.93) == 0.8 and charts.round_down(57) == 50
    assert charts.round_up(130, charts.LOG_STEPS) == 200
    assert charts.round_down(45, charts.LOG_STEPS) == 20
    model = viz.VizModel(enterprises=600)
    viz.render_panel(PANEL["capex"], model)
    chart = model._viz_charts["capex"]
    tops = []
    for _ in range(12):
        model.step()
        viz.render_panel(PANEL["capex"], model)
        tops.append(chart.plot.ax.get_ylim()[1])
        values = viz.history(model)["cum_ai_capex_usd"] / 1e9
        assert values.max() <= tops[-1]
    assert tops == sorted(tops)


def test_legends_carry_the_months_values_as_html():
    model = viz.VizModel(enterprises=600)
    assert "Frontier labs</span>" in viz.render_panel(PANEL["revenue"], model).legend
    model.step()
    legend = viz.render_panel(PANEL["prices"], model).legend
    assert legend.startswith("<div class='aiecosim-legend'>")
    assert legend.count("<svg") == 3 and "/Mtok" in legend and "/GPU-h" in legend
    network = viz.render_panel(viz.NETWORK_PANEL, model).legend
    assert network.count("<circle") == 4 and "No AI" in network


def test_network_sample_is_small_and_coloured_by_provider():
    model = viz.VizModel(enterprises=3000)
    view = viz.network_view(model)
    assert 0 < len(view.nodes) <= viz.NETWORK_NODES
    assert view.xy.shape == (len(view.nodes), 2) and np.isfinite(view.xy).all()
    assert view.edges.max() < len(view.nodes)
    assert set(view.nodes.tolist()) <= set(range(3000))
    kinds = viz.provider_archetypes(model, view.nodes)
    provider = model.enterprises.provider[view.nodes]
    assert ((kinds == "") == (provider < 0)).all()
    for i in np.flatnonzero(provider >= 0)[:20]:
        assert kinds[i] == model.builders[provider[i]].archetype


def test_history_follows_the_datacollector():
    model = viz.VizModel(enterprises=600)
    assert len(viz.history(model)) == 0
    for _ in range(3):
        model.step()
    h = viz.history(model)
    table = model.model_table()
    assert len(h) == 3
    np.testing.assert_allclose(h["adoption_rate"], table["adoption_rate"])
    assert h.dates[0] == np.datetime64("2025-01-01") and h.dates[-1] == np.datetime64("2025-03-01")
    assert viz.status_line(model) == "Month 3 of 120 · Mar 2025"


# ------------------------------------------------------------------------- aiecosim viz
runner = CliRunner()


def test_viz_on_a_port_in_use_exits_2_with_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["viz", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert "Traceback" not in result.output


def test_viz_rejects_bad_input_with_exit_2():
    for args, message in (
        (["--scenario", "nope"], "unknown value 'nope'"),
        (["--port", "70000"], "must be in 0..65535"),
        (["--enterprises", "0"], "greater than 0"),
        (["--seed", "-1"], "--seed -1: must be 0 or more"),
        (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid"),
    ):
        result = runner.invoke(cli, ["viz", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def assert_one_line_exit_2(args: list[str], message: str, env: dict | None = None) -> None:
    result = runner.invoke(cli, ["viz", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_viz_screenshot_refuses_a_bad_path_in_one_line(tmp_path):
    existing = tmp_path / "old.png"
    existing.write_bytes(b"keep me")
    for args, message in (
        ([str(tmp_path)], "is a folder"),
        ([str(tmp_path / "shot.jpeg")], "must end in .png"),
        ([str(tmp_path / "no-such-folder" / "shot.png")], "does not exist"),
        ([str(existing / "shot.png")], "old.png is not a folder"),
        ([str(tmp_path / "shot.png"), "--months", "0"], "--months 0: must be in 1..120"),
        ([str(tmp_path / "shot.png"), "--months", "121"], "must be in 1..120"),
    ):
        assert_one_line_exit_2(["--screenshot", *args], message)
    assert existing.read_bytes() == b"keep me"  # probing a path writes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


@pytest.mark.skipif(
    not Path("/sys").is_dir() or os.access("/sys/aiecosim-test.png", os.F_OK),
    reason="needs /sys, where nobody may create files",
)
def test_viz_screenshot_refuses_an_unwritable_path():
    assert_one_line_exit_2(["--screenshot", "/sys/aiecosim-test.png"], "cannot write there")


def test_viz_screenshot_without_chromium_says_so(tmp_path, monkeypatch):
    target = str(tmp_path / "shot.png")
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on the PATH
    monkeypatch.delenv("AIECOSIM_CHROMIUM", raising=False)
    assert_one_line_exit_2(["--screenshot", target], "needs Chromium and none was found")
    monkeypatch.setenv("AIECOSIM_CHROMIUM", str(tmp_path / "not-there"))
    assert_one_line_exit_2(["--screenshot", target], "not an executable file")

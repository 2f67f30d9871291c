"""The browser visualiser without a browser: the app's components rendered with solara's test
renderer (reacton), its model factory, its charts, and `aiecosim viz` failing cleanly."""

from __future__ import annotations

import socket

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from aiecosim import app as viz
from aiecosim.cli import app as cli
from aiecosim.config import list_scenarios, load_config
from aiecosim.model import AIEcosystemModel
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
    assert viz_page.find(v.TextField, label="Random seed").widget.v_model == "3"
    # every panel is there: six charts, the network, the firm table
    assert len(viz_page.find(ipywidgets.Image).widgets) == len(viz.PANELS) + 1
    assert "Open Source Builder 1" in firm_table(viz_page)


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


def test_reset_builds_the_model_from_the_sliders(viz_page):
    button(viz_page, "Step").click()
    alpha = viz_page.find(v.Slider, label=viz.LEVERS["scale_alpha"].label).widget
    alpha.v_model = 0.3
    seed = viz_page.find(v.TextField, label="Random seed").widget
    seed.v_model = "11"
    seed.fire_event("keyup.enter", None)  # the seed box applies on Enter or on leaving it
    button(viz_page, "Reset").click()
    assert month_text(viz_page).startswith("Month 0 of 120")
    status = viz_page.find(v.Html, class_="aiecosim-month").widget
    assert status.children[0].startswith("Month 0")
    texts = [w.children[0] for w in viz_page.find(v.Html, tag="span").widgets if w.children]
    assert any("alpha 0.3 ·" in t for t in texts)
    assert any("baseline, seed 11" in t for t in texts)


def test_picking_a_scenario_starts_it_with_its_own_lever_values(viz_page):
    button(viz_page, "Step").click()
    viz_page.find(v.Select, label="Scenario").widget.v_model = "open-surge"
    assert month_text(viz_page).startswith("Month 0 of 120")
    open_slider = viz_page.find(v.Slider, label=viz.LEVERS["open_efficiency"].label).widget
    assert open_slider.v_model == pytest.approx(30.0)
    texts = [w.children[0] for w in viz_page.find(v.Html, tag="span").widgets if w.children]
    assert any(t.startswith("open-surge, seed 3 · 600 enterprises") for t in texts)
    button(viz_page, "Step").click()
    assert month_text(viz_page).startswith("Month 1 of 120")


# ------------------------------------------------------------------------- model factory
def test_model_params_start_at_the_scenarios_lever_values():
    for scenario in ("baseline", "energy-crunch", "scaling-plateau", "funding-winter"):
        params = viz.model_params(scenario, seed=5, enterprises=800)
        cfg = load_config(scenario)
        assert params["scenario_name"] == scenario
        assert params["enterprises"].value == 800
        assert params["seed"]["value"] == "5"
        for name, lever in viz.LEVERS.items():
            slider = params[name]
            assert slider.value == pytest.approx(viz.config_value(cfg, lever.path))
            assert slider.min <= slider.value <= slider.max
    assert viz.model_params("scaling-plateau")["scale_alpha"].value == pytest.approx(0.3)
    assert viz.model_params("energy-crunch")["energy_price_growth"].value == pytest.approx(0.08)


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
    assert viz.parse_seed(" 12 ") == 12 and viz.parse_seed("abc") == viz.parse_seed("abc")


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
def test_charts_are_built_once_per_model_and_redrawn_each_month():
    model = viz.VizModel(enterprises=600)
    pngs = {spec.key: viz.render_panel(spec, model) for spec in (*viz.PANELS, viz.NETWORK_PANEL)}
    charts = dict(model._viz_charts)
    view = viz.network_view(model)
    model.step()
    for spec in (*viz.PANELS, viz.NETWORK_PANEL):
        png = viz.render_panel(spec, model)
        assert png.startswith(b"\x89PNG") and png != pngs[spec.key], spec.key
        assert model._viz_charts[spec.key] is charts[spec.key]  # updated in place
        assert model.render_seconds[spec.key] > 0
    assert viz.network_view(model) is view  # layout computed once


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
        (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid"),
    ):
        result = runner.invoke(cli, ["viz", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output

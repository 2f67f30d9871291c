"""End to end: `aiecosim viz` serves the app and a real headless Chromium drives it: Step advances
the month and redraws the charts; a picked scenario and a moved lever are marked "Reset to apply"
and run after Reset; `aiecosim viz --screenshot` writes the page as PNG.

Playwright cannot download its own browsers here, so the test drives Debian's chromium
(`apt-get install chromium`) and is skipped, saying why, where that is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aiecosim.views.app import CHROMIUM_ARGS  # the flags the screenshot command uses too
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")

SERVER_START_S = 60  # imports of mesa, solara and altair take seconds on a small machine

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium); "
        "Playwright cannot download its own browser builds here",
    ),
    # pytest-playwright's base_url fixture (pytest-base-url) trips a pytest deprecation notice
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches the system chromium instead of a downloaded build."""
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, log: Path, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"aiecosim viz exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"aiecosim viz did not answer at {url} within {deadline_s} s:\n{log.read_text()}")


@pytest.fixture
def viz_server(tmp_path):
    """`aiecosim viz` on a free localhost port, killed at the end whatever happens."""
    from aiecosim.views.assets import ensure_browser_assets

    missing = ensure_browser_assets(log=lambda msg: None)
    if missing:
        pytest.skip(
            f"solara's browser assets {missing} are not cached and could not be fetched "
            "(neither npm nor solara's CDN is reachable)"
        )
    port = free_port()
    log = tmp_path / "viz.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "aiecosim.views.cli", "viz", "--port", str(port), "--seed", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, log, SERVER_START_S)
        yield url, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def test_stepping_in_the_browser_advances_the_month_and_redraws_the_charts(viz_server, page):
    url, log = viz_server
    page.set_default_timeout(30_000)
    page.set_viewport_size({"width": 1600, "height": 1250})
    page.goto(url)
    month = page.locator(".aiecosim-month")
    month.wait_for()
    assert month.inner_text().startswith("Month 0 of 120")
    assert f"open {url}" in log.read_text()  # the command printed its address

    # the controls: Mesa's buttons, the scenario picker, the seed and every lever slider
    for name in ("Reset", "▶", "Step"):
        assert page.get_by_role("button", name=name).is_visible()
    assert page.locator(".v-slider").count() >= 9
    assert page.get_by_label("Scenario").count() >= 1

    revenue = page.locator(".aiecosim-revenue img")
    revenue.wait_for()
    before = revenue.screenshot()
    step = page.get_by_role("button", name="Step")
    for k in range(1, 4):
        step.click()
        page.wait_for_function(
            "k => document.querySelector('.aiecosim-month').innerText.startsWith(`Month ${k} `)",
            arg=k,
        )
    assert month.inner_text() == "Month 3 of 120 · Mar 2025"
    assert revenue.screenshot() != before, "the revenue-share chart did not change"
    details = page.locator(".aiecosim-month + span").inner_text()
    assert details.startswith("baseline, seed 1 · 5,000 enterprises") and "last step" in details


def lever_thumb(page, label: str):
    """The thumb of the slider labelled `label` (Vuetify's thumbs carry no name of their own)."""
    return page.locator(".v-slider", has=page.get_by_text(label, exact=True)).get_by_role("slider")


def test_a_picked_scenario_and_a_moved_lever_are_marked_then_run_after_reset(viz_server, page):
    url, _ = viz_server
    page.set_default_timeout(30_000)
    page.set_viewport_size({"width": 1600, "height": 1250})
    page.goto(url)
    page.locator(".aiecosim-month").wait_for()
    details = page.locator(".aiecosim-details")
    levers = page.locator(".aiecosim-levers")
    banner = page.locator(".aiecosim-pending-banner")
    assert details.inner_text().startswith("baseline, seed 1")
    assert banner.count() == 0

    # pick a scenario: the sliders move to its values, the page marks what Reset will change
    page.locator(".v-select", has=page.get_by_label("Scenario")).click()
    page.get_by_role("option", name="energy-crunch").click()
    energy = lever_thumb(page, "Energy price growth / year")
    expect(energy).to_have_attribute("aria-valuenow", "0.08")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Reset to apply")
    expect(banner).to_contain_text("scenario energy-crunch (running: baseline)")

    # move a lever with the keyboard: three steps of 0.01 up from 0.12
    alpha = lever_thumb(page, "Diminishing returns (α)")
    expect(alpha).to_have_attribute("aria-valuenow", "0.12")
    alpha.focus()
    for _ in range(3):
        alpha.press("ArrowRight")
    expect(alpha).to_have_attribute("aria-valuenow", "0.15")
    expect(banner).to_contain_text("alpha 0.15 (running: 0.12)")
    note = page.locator(".aiecosim-pending", has_text="running: 0.12 · Reset to apply")
    expect(note).to_be_visible()
    assert details.inner_text().startswith("baseline, seed 1")  # nothing applied yet

    page.get_by_role("button", name="Reset").click()
    expect(details).to_contain_text("energy-crunch, seed 1 · 5,000 enterprises")
    expect(levers).to_contain_text("alpha 0.15")
    expect(levers).to_contain_text("energy price growth +8%/yr")
    expect(banner).to_have_count(0)
    expect(page.locator(".aiecosim-month")).to_contain_text("Month 0 of 120")
    step = page.get_by_role("button", name="Step")
    step.click()
    expect(page.locator(".aiecosim-month")).to_contain_text("Month 1 of 120")
    assert details.inner_text().startswith("energy-crunch, seed 1")


def test_viz_screenshot_writes_the_page_as_png(tmp_path):
    from PIL import Image

    target = tmp_path / "viz.png"
    result = subprocess.run(
        [sys.executable, "-m", "aiecosim.views.cli", "viz", "--screenshot", str(target)]
        + ["--months", "3", "--enterprises", "1000"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "AIECOSIM_CHROMIUM": str(CHROMIUM)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"wrote {target}" in result.stdout
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (1600, 1250)
        # not a blank page: the charts and the sidebar put many colours on it
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 500

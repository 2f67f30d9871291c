"""End to end: `aiecosim viz` serves the app, a real headless Chromium opens it, presses Step and
sees the month advance and the charts change.

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

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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
    from aiecosim.app import ensure_browser_assets

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
            [sys.executable, "-m", "aiecosim.cli", "viz", "--port", str(port), "--seed", "1"],
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

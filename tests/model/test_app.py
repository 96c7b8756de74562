"""The explore page in a real headless Chromium (``make test-integration``).

``deter-sim explore`` is started as a subprocess (the installed command, on a free port of
127.0.0.1); Selenium drives Debian's ``chromium`` through its ``chromedriver`` (no browser is
downloaded). The test presses Reset (the page's model is shared by every session), moves the
prosecution-rate slider, resets, steps the model and checks that the numbers and the chart
change; then runs the settings "at full scale" (a small full scale here) and finds the
downloads. Its screenshot goes to ``$DETER_SIM_SCREENSHOT`` (``make explore-figure`` writes
``docs/figures/explore.png``) or to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import DETER_SIM

from sim.scenario import load_scenario

pytestmark = pytest.mark.integration

webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("solara")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

FULL_SCALE = ["population.sellers=2000", "replications=2", "weeks=30", "burn_in_weeks=10"]
TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check: Callable[[], object], what: str, timeout: float = TIMEOUT) -> object:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # an element replaced while the page redraws
            found = None
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The URL of the explore page served by the installed command, and its (empty) folder."""
    folder = tmp_path_factory.mktemp("explore")
    port = free_port()
    args = [DETER_SIM, "explore", "--port", str(port), "--no-open", "--workers", "1"]
    for item in FULL_SCALE:
        args += ["--set", item]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        args, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: urllib.request.urlopen(url, timeout=2).status == 200, "the server")
        yield url, folder
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and anything it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1500,1350")
    session = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def button(browser, label: str):
    for element in browser.find_elements(By.TAG_NAME, "button"):
        if element.text.strip().upper() == label.upper():
            return element
    return None


def press(browser, label: str) -> None:
    wait_for(lambda: button(browser, label) and button(browser, label).is_enabled(), label)
    button(browser, label).click()


def week(browser) -> int:
    text = browser.find_element(By.CSS_SELECTOR, "p.deter-week").text
    return int(re.search(r"Week (-?\d+)", text).group(1))


def number(browser, metric: str, run: str) -> float:
    cell = browser.find_element(By.CSS_SELECTOR, f'tr[data-metric="{metric}"] td.{run}')
    return float(cell.text.replace(",", ""))


def chart(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".v-card img").get_attribute("src")


def slider(browser, label: str):
    return browser.find_element(By.CSS_SELECTOR, f'[role="slider"][aria-label="{label}"]')


def test_moving_a_lever_and_stepping_changes_the_numbers_and_the_chart(served, browser, tmp_path):
    browser.get(served[0])
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "p.deter-week"), "the page")
    press(browser, "Reset")  # the page's model is shared by every session
    wait_for(lambda: week(browser) == 0, "week 0 after Reset")
    before = chart(browser)

    prosecution = slider(browser, "Prosecution rate")
    start = float(prosecution.get_attribute("aria-valuenow"))
    prosecution.send_keys(Keys.END)  # the slider's maximum: every referred case pursued
    wait_for(lambda: float(prosecution.get_attribute("aria-valuenow")) == 1.0, "the slider")
    # Mesa's sliders take one value per gesture: drag the maximum sentence's thumb (a range
    # of 0 to 20 years) from 7 to about 10 years in one move.
    sentence = slider(browser, "Maximum sentence (years)")
    track = sentence.find_element(By.XPATH, "..").find_element(
        By.CSS_SELECTOR, ".v-slider__track-container"
    )
    offset = round(track.size["width"] * 3 / 20)
    ActionChains(browser).click_and_hold(sentence).move_by_offset(offset, 0).release().perform()
    wait_for(
        lambda: (
            float(slider(browser, "Maximum sentence (years)").get_attribute("aria-valuenow")) >= 9
        ),
        "the sentence slider",
    )
    press(browser, "Reset")
    wait_for(
        lambda: "maximum sentence" in browser.find_element(By.CSS_SELECTOR, "p.deter-levers").text,
        "the moved levers on the page",
    )
    moved = browser.find_element(By.CSS_SELECTOR, "p.deter-levers").text
    baseline_rate = load_scenario("baseline_2016").enforcement.prosecution_rate
    assert f"prosecution rate {baseline_rate:.3g} → 1" in moved
    assert start < 1.0

    for steps in range(1, 13):
        press(browser, "Step")
        wait_for(lambda steps=steps: week(browser) == steps, f"week {steps}")
    after = wait_for(lambda: chart(browser) if chart(browser) != before else None, "the chart")
    assert after != before
    pursued_policy = number(browser, "cases_pursued", "policy")
    pursued_baseline = number(browser, "cases_pursued", "baseline")
    assert pursued_policy > pursued_baseline  # every referral pursued against about 30%
    assert number(browser, "active_sellers", "policy") > 0

    target = Path(os.environ.get("DETER_SIM_SCREENSHOT") or tmp_path / "explore.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(target))
    assert target.stat().st_size > 10_000


def test_the_full_scale_button_runs_the_levers_and_offers_the_tables(served, browser):
    url, folder = served
    browser.get(url)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "p.deter-week"), "the page")
    press(browser, "Run at full scale")
    wait_for(
        lambda: "done: saved in" in browser.find_element(By.TAG_NAME, "body").text,
        "the full-scale run",
        timeout=180,
    )
    labels = [b.text.lower() for b in browser.find_elements(By.TAG_NAME, "button")]
    for table in ("summary_stats.csv", "summary.csv", "timeseries.csv"):
        assert any(table in label for label in labels), labels
    saved = folder / "results" / "baseline_2016_explore"
    assert (saved / "summary_stats.csv").is_file()  # under ./results of the command's folder


def test_stopping_the_command_stops_the_page(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [DETER_SIM, "explore", "--port", str(port), "--no-open", "--sellers", "1000"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: urllib.request.urlopen(url, timeout=2).status == 200, "the server")
        server.terminate()  # the command itself, as a shell's kill would
        server.wait(timeout=30)
        with socket.socket() as probe:  # nothing left serving the page
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        server.kill()

"""The run report in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Real pipeline runs on SQLite, the report served by uvicorn on 127.0.0.1, the browser opens the list,
clicks through to a run and reads what a person would see. Screenshots land in artifacts/ (git-ignored):
report.png (a run's report), report-list.png and report-gate-failed.png.

Without /usr/bin/chromium the test skips, unless LEADS_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.conftest import ROOT
from tests.helpers import insert, legacy_row, sync

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
REQUIRE = os.environ.get("LEADS_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("LEADS_ARTIFACTS_DIR") or ROOT / "artifacts")  # CI keeps this folder
PREFIX = "/leads-flow"


def _need(ok: bool, why: str) -> None:
    if ok:
        return
    if REQUIRE:
        pytest.fail(why + " (LEADS_REQUIRE_BROWSER=1)")
    pytest.skip("!!! SKIPPING BROWSER TEST !!! " + why + ": apt-get install -y chromium chromium-driver")


@pytest.fixture
def browser(tmp_path):
    _need(CHROMIUM.exists(), f"{CHROMIUM} is missing")
    _need(CHROMEDRIVER.exists(), f"{CHROMEDRIVER} is missing")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need(False, "selenium is not installed (pip install selenium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,900",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def served(sqlite_dbs):
    """The report app mounted at /leads-flow (as the api-server mounts it), on a free port of 127.0.0.1."""
    import uvicorn
    from fastapi import FastAPI

    from leads_flow.report.views import create_app

    app = FastAPI()
    app.mount(PREFIX, create_app())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def shoot(driver, name: str) -> Path:
    """A full-page screenshot: the window is made as tall as the page first."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height + 160, 600), 8000))  # + the window's own chrome
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    return path


def test_report_in_a_real_browser(sqlite_dbs, served, browser):
    from selenium.webdriver.common.by import By

    day1, day2 = datetime(2026, 11, 20, 10), datetime(2026, 11, 21, 10)

    def rows(d):
        return [
            legacy_row(phone="13912345678", update_time=d),
            legacy_row(phone="+86 158 8765 4321", unionId="oU2", update_time=d),
            legacy_row(phone="12345", update_time=d),  # phone_invalid
            legacy_row(phone=None, unionId=None, has_tool=3, update_time=d),
        ]  # two reasons

    insert(sqlite_dbs, rows(day1) + rows(day2))
    [good] = sync("2026-11-20", run_id="manual__browser", max_reject_ratio=0.5)
    with pytest.raises(AirflowFailException):
        sync("2026-11-21", run_id="manual__strict", max_reject_ratio=0.1)

    # the list
    browser.get(f"{served}{PREFIX}/")
    assert browser.title.startswith("Recent partition runs")
    runs = browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    assert len(runs) == 2
    assert [r.find_element(By.CSS_SELECTOR, ".badge").text for r in runs] == ["gate failed", "published"]
    assert "FAIL" in runs[0].text and "PASS" in runs[1].text
    shoot(browser, "report-list.png")

    # click through to the published partition
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{good["etl_run_id"]}"]')
    row.find_element(By.CSS_SELECTOR, "a.run-link").click()
    assert browser.current_url.startswith(f"{served}{PREFIX}/runs/")
    h1 = browser.find_element(By.TAG_NAME, "h1").text
    assert h1 == "Partition 2026-11-20 published"
    counts = {
        e.get_attribute("id"): e.find_element(By.CLASS_NAME, "v").text
        for e in browser.find_elements(By.CSS_SELECTOR, "#counts .card")
    }
    assert counts == {
        "count-extracted": "4",
        "count-staged": "2",
        "count-rejected": "2",
        "count-coerced": "0",
        "count-published": "2",
        "count-reject-ratio": "50.00 %",
    }
    reasons = browser.find_element(By.ID, "rejects").text
    assert "phone_invalid" in reasons and "no_identity" in reasons and "flag_invalid" in reasons
    chart = browser.find_element(By.ID, "rejects-chart")
    assert chart.is_displayed() and chart.size["width"] > 300
    assert len(chart.find_elements(By.CSS_SELECTOR, "rect.bar")) == 3
    [(recorded,)] = sqlite_dbs.flow_rows(
        "SELECT gate_results FROM leads_flow_run WHERE etl_run_id = ?", (good["etl_run_id"],)
    )
    expected = [r["check"] for r in json.loads(recorded)]
    table = browser.find_element(By.ID, "expectations")
    checks = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    names = [c.get_attribute("data-check") for c in checks]
    assert names == expected and "reject_ratio_within_limit" in names  # every expectation, in order
    assert all(c.find_element(By.CSS_SELECTOR, ".pf").text == "PASS" for c in checks)
    timings = browser.find_element(By.ID, "timings").text
    assert "Extract and stage" in timings and "Data-quality gate" in timings and "Publish" in timings
    body = browser.find_element(By.TAG_NAME, "body").text
    assert not re.search(r"\d{11,}", body)  # no phone, masked or not, anywhere on the page
    shot = shoot(browser, "report.png")
    assert shot.stat().st_size > 10_000

    # back, then the partition whose gate failed
    browser.back()
    browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="manual__strict@2026-11-21T00:00"] a.run-link').click()
    assert browser.find_element(By.ID, "status").text == "gate failed"
    assert browser.find_element(By.ID, "gate").text == "FAIL"
    failed = [r for r in browser.find_elements(By.CSS_SELECTOR, "#expectations tbody tr.fail")]
    assert [r.get_attribute("data-check") for r in failed] == ["reject_ratio_within_limit"]
    assert failed[0].find_element(By.CSS_SELECTOR, ".pf").text == "FAIL"
    shoot(browser, "report-gate-failed.png")

    # a DAG that is not this project's: the report refuses it, as a page a person can read
    browser.get(f"{served}{PREFIX}/dag-runs/someone_elses_dag/manual__x")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "leads_flow_sync and leads_flow_reconcile runs only" in browser.find_element(By.ID, "message").text
    browser.get(f"{served}{PREFIX}/?dag_id=someone_elses_dag")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"

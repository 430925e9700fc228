"""The path a new user takes, in a real headless Chromium against `make ui`'s own start script (scripts/ui.sh):
trigger a window from the Trigger dialog (Window fields typed in, "Unpause on trigger" unticked: no scheduled run
appears; the run waits until the DAG's pause switch is turned on), see the mapped partitions named by their day,
open the run report (times in Asia/Shanghai, then in another zone picked for the UI), trigger a reversed window
from the form and read its error in the report, backfill three days picked in the Backfill dialog in Asia/Shanghai
time and get three runs; then `ui.sh stop` stops every process the script started.

scripts/ui.sh runs as `make ui` does (demo setup under a temporary LEADS_DEMO_DIR: 3,000 generated leads over
2026-11-20 .. 2026-11-22 in SQLite), with Airflow's metadata on PostgreSQL (LEADS_UI_METADATA_URL; a real scheduler
on SQLite metadata hit "database is locked", tests/e2e/conftest.py) and the UI on a free 127.0.0.1 port. Every run
is created by the UI's own dialogs, clicked in the browser (selectors read off the rendered Airflow 3.3 UI: the
dialog's labels and buttons by their text, the Window's date fields by their names, the Backfill picker's date and
time fields by their placeholders); the REST API only reads states back. What the user reads is checked on screen,
in the zone picked in the UI (as its user menu stores it: JSON in localStorage "timezone"). Screenshots: artifacts/ui-path/*.png (LEADS_ARTIFACTS_DIR moves artifacts/).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.test_report_browser import ARTIFACTS, browser  # noqa: F401 - fixture
from tests.e2e.conftest import pg_metadata  # noqa: F401 - fixture
from tests.e2e.test_backfill import DAG_ID, AirflowStack, Deadline

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ARTIFACTS / "ui-path"
TZ = "Asia/Shanghai"
DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]
BUDGET_S = 900
MAX_PROCESSES = 16  # 4 components + their children + 2 x cores executor workers on this 2-core machine (was 41)


class UiScript(AirflowStack):
    """scripts/ui.sh as the stack: started and stopped by the script itself; REST helpers from AirflowStack."""

    def __init__(self, demo: Path, deadline: Deadline, pg: str):
        super().__init__(demo / "airflow", deadline, pg)
        self.demo = demo
        self.script_env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not (k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "PYTEST_", "_AIRFLOW")) or k == "AIRFLOW_HOME")
            },
            "LEADS_DEMO_DIR": str(demo),
            "LEADS_UI_METADATA_URL": f"postgresql+psycopg2://{pg}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",  # demo.py --setup-only too
            "UI_PORT": str(self.port),
            "VENV": str(Path(sys.executable).parent.parent),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),  # as the Makefile exports it
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        setup = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--setup-only"],
            env=self.script_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=self.deadline.left(300),
        )
        assert setup.returncode == 0, f"demo.py --setup-only: {setup.stdout[-2000:]}{setup.stderr[-3000:]}"
        out = open(self.logs / "ui.sh.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "ui.sh")],
            env=self.script_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"scripts/ui.sh exited early with {self.proc.returncode}")

    def component_pids(self) -> list[int]:
        path = self.home / "ui.pids"
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def processes(self, sessions: set[int] | None = None) -> list:
        """Every process in the sessions of the components ui.sh started (each is its own session)."""
        import psutil

        sessions = set(self.component_pids()) if sessions is None else sessions
        out = []
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getsid(p.pid) in sessions:
                    out.append(p)
            except (ProcessLookupError, PermissionError):
                continue
        return out

    def stop_with_script(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "ui.sh"), "stop"],
            env=self.script_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )

    def stop(self, grace: float = 15.0) -> None:
        """The script's own stop; then, whatever survived it, by pid (a failed test must not leave Airflow)."""
        import psutil

        left = self.processes()
        try:
            self.stop_with_script()
        finally:
            for p in left:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            if self.proc is not None:
                if self.proc.poll() is None:
                    self.proc.terminate()
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()

    def dump_logs(self, lines: int = 60) -> None:
        logs = [self.logs / "ui.sh.log", *sorted((self.home / "ui-logs").glob("*.log"))]
        for path in logs:
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                print(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text))

    def trigger(self, conf: dict) -> str:
        status, body = self.http("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
        assert status in (200, 201), f"trigger: HTTP {status}: {str(body)[:500]}"
        return body["dag_run_id"]  # type: ignore[index]

    def wait_state(self, run_id: str, timeout: float) -> str:
        until = time.monotonic() + self.deadline.left(timeout)
        rid = urllib.parse.quote(run_id, safe="")
        state = "?"
        while time.monotonic() < until:
            self.check_alive()
            state = self.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}")["state"]  # type: ignore[index]
            if state in ("success", "failed"):
                return state
            time.sleep(3)
        raise AssertionError(f"run {run_id} still {state} after {timeout:.0f} s")


def shot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height + 160, 700), 6000))
    path = SHOTS / name
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 5_000
    return path


def text_when(driver, want: list[str], timeout: float = 60) -> str:
    """The page's visible text once it holds every string of ``want`` (the UI renders after its API calls)."""
    from selenium.webdriver.common.by import By

    until = time.monotonic() + timeout
    text = ""
    while time.monotonic() < until:
        text = driver.find_element(By.TAG_NAME, "body").text
        if all(w in text for w in want):
            return text
        time.sleep(1)
    missing = [w for w in want if w not in text]
    raise AssertionError(f"{driver.current_url}: not on screen after {timeout:.0f} s: {missing}; text: {text[:1500]}")


def dialog_button(driver, label: str, timeout: float = 60):
    """The button of the open dialog whose text is ``label`` (the header's Trigger button is outside it)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            found = [
                b
                for b in driver.find_elements(By.XPATH, f"//*[@role='dialog']//button[normalize-space()='{label}']")
                if b.is_displayed()
            ]
        except StaleElementReferenceException:
            found = []
        if found:
            return found[-1]
        time.sleep(1)
    raise AssertionError(f"no {label!r} button in the dialog")


def open_trigger(driver, base: str) -> None:
    """The DAG page's Trigger button opens the dialog (Single Run / Backfill)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/dags/{DAG_ID}")
    until = time.monotonic() + 90
    while time.monotonic() < until:
        try:  # the page re-renders while its API calls return: a button found may be gone at once
            buttons = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"]
            if buttons:
                buttons[0].click()
                break
        except WebDriverException:
            pass
        time.sleep(1)
    else:
        raise AssertionError("no Trigger button on the DAG page")
    text_when(driver, ["Trigger Dag", "Window", "Safety", "Logical Date"])


def open_section(driver, section: str, first_field: str) -> None:
    """Open an accordion section of the dialog (one is open at a time) unless its first field is on screen."""
    from selenium.webdriver.common.by import By

    if first_field in driver.find_element(By.TAG_NAME, "body").text:
        return
    heads = driver.find_elements(
        By.XPATH, f"//*[@role='dialog']//*[self::button or @role='button'][normalize-space()='{section}']"
    ) or driver.find_elements(By.XPATH, f"//*[@role='dialog']//*[normalize-space(text())='{section}']")
    assert heads, f"no {section} section in the trigger form"
    heads[-1].click()
    text_when(driver, [first_field], timeout=20)


def read_trigger_form(driver) -> None:
    """Read the open Trigger dialog as a user does, section by section."""
    sections = (
        ("Window", ["First day", "Last day", "Overlap (minutes)"], ["First day", "Last day"]),
        ("Safety", ["Dry run (publish nothing)", "Volume check"], ["Dry run (publish nothing)", "Volume check"]),
    )
    for section, titles, optional in sections:
        open_section(driver, section, titles[0])
        text = text_when(driver, titles, timeout=20)
        lines = [line.strip() for line in text.splitlines()]
        for title in optional:  # a switch, an optional day, volume_check: not marked required (*)
            i = lines.index(title) if title in lines else next(n for n, v in enumerate(lines) if v.startswith(title))
            assert not lines[i].endswith("*") and lines[i + 1] != "*", f"{title} is marked required"
        assert "null" not in lines, f"{section}: a field shows a literal null"
        if section == "Window":
            assert "Logical Date only names the run" in text and "Backfill" in text  # how they relate
        shot(driver, f"0-trigger-form-{section.lower()}.png")


def untick_unpause(driver) -> bool:
    """Untick "Unpause leads_flow_sync on trigger" when the dialog shows it ticked; whether it was shown."""
    from selenium.webdriver.common.by import By

    boxes = [
        b
        for b in driver.find_elements(
            By.XPATH, f"//*[@role='dialog']//label[contains(normalize-space(), 'Unpause {DAG_ID} on trigger')]"
        )
        if b.is_displayed()
    ]
    if not boxes:
        return False
    box = boxes[-1].find_element(By.TAG_NAME, "input")
    if box.is_selected():
        boxes[-1].click()
    until = time.monotonic() + 10
    while box.is_selected() and time.monotonic() < until:
        time.sleep(0.5)
    assert not box.is_selected(), "Unpause on trigger is still ticked"
    return True


def fill_window(driver, first: str, last: str) -> None:
    """Type the Window's First day / Last day as a user does (Chromium's date fields, en-US: MM/DD/YYYY)."""
    from selenium.webdriver.common.by import By

    open_section(driver, "Window", "First day")
    for name, day in (("element_start_date", first), ("element_end_date", last)):
        field = [f for f in driver.find_elements(By.NAME, name) if f.is_displayed()][-1]
        y, m, d = day.split("-")
        field.send_keys(f"{m}{d}{y}")
        assert field.get_attribute("value") == day, f"{name}: {field.get_attribute('value')!r}, wanted {day}"


def submit_trigger(driver) -> str:
    """Click the dialog's Trigger; the UI opens the new run's page: its run id, from the address."""
    before = driver.current_url
    dialog_button(driver, "Trigger").click()
    until = time.monotonic() + 60
    while time.monotonic() < until:
        url = driver.current_url
        if url != before and "/runs/" in url:
            return urllib.parse.unquote(url.split("/runs/", 1)[1].split("/")[0].split("?")[0])
        time.sleep(1)
    raise AssertionError(f"the Trigger button did not open a run page: {driver.current_url}")


def pick_backfill_day(driver, index: int, day: str) -> None:
    """The Backfill dialog's From (0) / To (1): its picker's date and time fields, typed, in the UI's zone."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_elements(By.CSS_SELECTOR, "[data-testid=datetime-input]")[index].click()
    until = time.monotonic() + 20
    pops: list = []
    while not pops and time.monotonic() < until:
        pops = [
            p
            for p in driver.find_elements(By.CSS_SELECTOR, "[data-scope=popover][data-part=content]")
            if p.is_displayed() and p.find_elements(By.CSS_SELECTOR, "input[placeholder='YYYY/MM/DD']")
        ]
        time.sleep(0.5)
    assert pops, "the date picker did not open"
    for placeholder, value in (("YYYY/MM/DD", day.replace("-", "/")), ("HH:mm", "00:00")):
        field = pops[-1].find_element(By.CSS_SELECTOR, f"input[placeholder='{placeholder}']")
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(value, Keys.ENTER)
        time.sleep(0.5)
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # closes the picker, not the dialog
    time.sleep(1)


def unpause_in_ui(driver, ui: UiScript) -> None:
    """The DAG page's pause switch, flipped as a user does; the DAG is unpaused."""
    from selenium.webdriver.common.by import By

    driver.get(f"{ui.base}/dags/{DAG_ID}")
    until = time.monotonic() + 60
    switch = []
    while not switch and time.monotonic() < until:
        switch = driver.find_elements(By.CSS_SELECTOR, "[data-testid=toggle-pause]")
        time.sleep(1)
    assert switch, "no pause switch on the DAG page"
    switch[0].click()
    until = time.monotonic() + 30
    while time.monotonic() < until:
        if not ui.get(f"/api/v2/dags/{DAG_ID}")["is_paused"]:  # type: ignore[index]
            return
        confirm = [
            b
            for b in driver.find_elements(By.XPATH, "//*[@role='dialog' or @role='alertdialog']//button")
            if b.is_displayed() and b.text.strip() in ("Confirm", "Unpause", "Yes")
        ]
        if confirm:
            confirm[0].click()
        time.sleep(1)
    raise AssertionError("the pause switch did not unpause the DAG")


def scheduled_runs(ui: UiScript) -> list[dict]:
    runs = ui.get(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]  # type: ignore[index]
    return [r for r in runs if r["run_type"] == "scheduled"]


def shown_in(zone: str, utc: str) -> str:
    """What the report shows for a UTC instant in ``zone`` (as tz.js renders it)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=ZoneInfo("UTC"))
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S}"


def set_ui_zone(driver, zone: str) -> None:
    """The zone picked in the UI's user menu (Timezone), as the UI stores it: JSON in localStorage 'timezone'."""
    driver.execute_script(f"window.localStorage.setItem('timezone', {json.dumps(json.dumps(zone))})")


def test_the_new_users_path(tmp_path, pg_metadata, browser):  # noqa: F811 - fixtures
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ui = UiScript(tmp_path / "demo", Deadline(BUDGET_S), pg_metadata)
    t0 = time.monotonic()
    ui.start()
    try:
        try:
            ui.wait_ready(360)
            procs = ui.processes()
            print(f"[ui] ready after {time.monotonic() - t0:.0f} s, {len(procs)} processes")
            assert len(ui.component_pids()) == 4
            assert len(procs) <= MAX_PROCESSES, [" ".join(p.cmdline()[:4]) for p in procs]
            assert ui.get(f"/api/v2/dags/{DAG_ID}")["is_paused"]  # type: ignore[index]

            browser.get(ui.base + "/")
            browser.add_cookie({"name": "_token", "value": ui.token(), "path": "/"})
            set_ui_zone(browser, TZ)  # the user picks Asia/Shanghai in the UI's user menu

            # 1. the Trigger form: read it, fill the Window, untick "Unpause on trigger", click Trigger
            open_trigger(browser, ui.base)
            read_trigger_form(browser)
            fill_window(browser, DAYS[0], DAYS[-1])
            assert untick_unpause(browser), "the form does not offer 'Unpause on trigger' on a paused DAG"
            shot(browser, "0-trigger-form-filled.png")
            run_id = submit_trigger(browser)
            text_when(browser, [run_id, "Queued", "Manual"])
            shot(browser, "1-run-queued-dag-paused.png")
            conf = ui.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["conf"]  # type: ignore[index]
            assert (conf["start_date"], conf["end_date"]) == (DAYS[0], DAYS[-1])
            time.sleep(10)  # a scheduler loop or more: the unticked box kept the DAG paused, nothing scheduled
            assert ui.get(f"/api/v2/dags/{DAG_ID}")["is_paused"]  # type: ignore[index]
            assert scheduled_runs(ui) == [], "an unrequested scheduled run appeared"
            # Airflow starts no run of a paused DAG: the user unpauses it with the DAG's switch
            unpause_in_ui(browser, ui)
            assert ui.wait_state(run_id, 300) == "success"
            tis = ui.task_instances(run_id)
            named = sorted(ti["rendered_map_index"] for ti in tis if ti["task_id"] == "partition.stage")
            assert named == DAYS

            rid = urllib.parse.quote(run_id, safe="")
            browser.get(f"{ui.base}/dags/{DAG_ID}/runs/{rid}/tasks/partition.stage/mapped")
            text_when(browser, [*DAYS, "+08:00"])
            shot(browser, "1-mapped-partitions-by-day.png")

            # 2. the run report: the DAG run's partitions, by day, times in Asia/Shanghai
            browser.get(f"{ui.base}/leads-flow/dag-runs/{DAG_ID}/{rid}")
            text = text_when(browser, DAYS + ["published", f"({TZ})", f"Other times are shown in {TZ}"])
            assert [text.index(d) for d in DAYS] == sorted(text.index(d) for d in DAYS)
            assert not re.search(r"\d{11,}", text)
            shot(browser, "2-report-dag-run.png")
            moments = browser.find_elements(By.CSS_SELECTOR, "time[data-instant]")
            assert moments
            for m in moments:
                assert m.text == shown_in(TZ, m.get_attribute("datetime"))

            # 2b. the report follows the UI's zone: pick another one, the same instants show in it, labelled
            other = "Europe/London"
            set_ui_zone(browser, other)
            browser.get(f"{ui.base}/leads-flow/dag-runs/{DAG_ID}/{rid}")
            text = text_when(browser, DAYS + [f"({other})", f"Other times are shown in {other}"])
            assert f"Partitions, windows and days are {TZ} days" in text  # days stay the partitions' days
            moments = browser.find_elements(By.CSS_SELECTOR, "time[data-instant]")
            assert moments
            for m in moments:
                assert m.text == shown_in(other, m.get_attribute("datetime")), m.get_attribute("outerHTML")
            shot(browser, "2b-report-in-the-ui-zone.png")
            set_ui_zone(browser, TZ)

            # 3. a reversed window, through the form: the run fails at its plan, and the report says why
            open_trigger(browser, ui.base)
            fill_window(browser, DAYS[-1], DAYS[0])
            untick_unpause(browser)  # shown ticked or not at all once the DAG is unpaused
            reversed_id = submit_trigger(browser)
            assert ui.wait_state(reversed_id, 180) == "failed"
            browser.get(f"{ui.base}/leads-flow/dag-runs/{DAG_ID}/{urllib.parse.quote(reversed_id, safe='')}")
            text_when(browser, ["plan failed", f"end_date {DAYS[0]} is before start_date {DAYS[-1]}"])
            shot(browser, "3-report-reversed-window.png")
            browser.get(f"{ui.base}/leads-flow/")
            text_when(browser, ["plan failed", "the window is reversed"])
            shot(browser, "4-report-list.png")

            # 4. the Backfill dialog, days picked in Asia/Shanghai (the UI's zone): three runs, one per day
            open_trigger(browser, ui.base)
            browser.find_element(By.XPATH, "//*[@role='dialog']//label[.//*[normalize-space()='Backfill']]").click()
            text_when(browser, ["Run Backfill", "Date Range", "From", "To"])
            pick_backfill_day(browser, 0, DAYS[0])
            pick_backfill_day(browser, 1, DAYS[-1])
            runs_field = browser.find_element(By.NAME, "max_active_runs")
            runs_field.send_keys(Keys.CONTROL, "a")
            runs_field.send_keys("3")
            untick_unpause(browser)
            text_when(browser, ["3 runs will be triggered"])
            shot(browser, "5-backfill-dialog.png")
            dialog_button(browser, "Run Backfill").click()
            runs = ui.wait_runs(lambda r: r["run_type"] == "backfill", 3, 420, "backfill")
            starts = sorted(r["data_interval_start"].replace("+00:00", "Z") for r in runs)
            assert starts == ["2026-11-19T16:00:00Z", "2026-11-20T16:00:00Z", "2026-11-21T16:00:00Z"]
            browser.get(f"{ui.base}/dags/{DAG_ID}/runs")
            text_when(browser, ["backfill"])
            shot(browser, "5-backfill-runs.png")
            browser.get(f"{ui.base}/leads-flow/?limit=20")
            text = text_when(browser, DAYS)
            assert text.count("backfill__") >= 3 or sum(r["dag_run_id"] in text for r in runs) == 3
            shot(browser, "6-report-after-backfill.png")
            extra = scheduled_runs(ui)
            print(f"[ui] scheduled runs after the user unpaused the DAG: {[r['dag_run_id'] for r in extra]}")
        except BaseException:
            ui.dump_logs()
            raise
    finally:
        pids = ui.component_pids()
        result = ui.stop_with_script()
        survivors = ui.processes(set(pids)) if pids else []
        ui.stop()
    print(f"[ui] total {time.monotonic() - t0:.0f} s; stop: {result.stdout.strip()}")
    assert result.returncode == 0 and "stopped 4 Airflow component(s)" in result.stdout
    assert not survivors, f"left running after `ui.sh stop`: {[p.pid for p in survivors]}"

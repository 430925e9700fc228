"""The path a new user takes, in a real headless Chromium against `make ui`'s own start script (scripts/ui.sh):
trigger a window, see the mapped partitions named by their day, open the run report, trigger a reversed window
and read its error in the report, backfill three days in Asia/Shanghai time and get three runs; then `ui.sh stop`
stops every process the script started.

scripts/ui.sh runs as `make ui` does (demo setup under a temporary LEADS_DEMO_DIR: 3,000 generated leads over
2026-11-20 .. 2026-11-22 in SQLite), with Airflow's metadata on PostgreSQL (LEADS_UI_METADATA_URL; a real scheduler
on SQLite metadata hit "database is locked", tests/e2e/conftest.py) and the UI on a free 127.0.0.1 port. The runs
are created through the REST API the UI's forms call (the trigger form posts the same conf; the Backfill dialog
posts the same bounds, picked in Asia/Shanghai); what the user reads is checked in the browser, in the zone
Asia/Shanghai picked in the UI. Screenshots: artifacts/ui-path/*.png (LEADS_ARTIFACTS_DIR moves artifacts/).
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


def trigger_form(driver) -> None:
    """Open the DAG's Trigger dialog and read the form as a user does (sections expanded)."""
    from selenium.webdriver.common.by import By

    until = time.monotonic() + 60
    while time.monotonic() < until:
        buttons = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"]
        if buttons:
            buttons[0].click()
            break
        time.sleep(1)
    else:
        raise AssertionError("no Trigger button on the DAG page")
    text_when(driver, ["Trigger Dag", "Window", "Safety", "Logical Date"])
    # one section is open at a time: open each as a user does and read it
    sections = (
        ("Window", ["First day", "Last day", "Overlap (minutes)"], ["First day", "Last day"]),
        ("Safety", ["Dry run (publish nothing)", "Volume check"], ["Dry run (publish nothing)", "Volume check"]),
    )
    for section, titles, optional in sections:
        if titles[0] not in driver.find_element(By.TAG_NAME, "body").text:
            heads = driver.find_elements(
                By.XPATH, f"//*[@role='dialog']//*[self::button or @role='button'][normalize-space()='{section}']"
            ) or driver.find_elements(By.XPATH, f"//*[@role='dialog']//*[normalize-space(text())='{section}']")
            assert heads, f"no {section} section in the trigger form"
            heads[0].click()
        text = text_when(driver, titles, timeout=20)
        lines = [line.strip() for line in text.splitlines()]
        for title in optional:  # a switch, an optional day, volume_check: not marked required (*)
            i = lines.index(title) if title in lines else next(n for n, v in enumerate(lines) if v.startswith(title))
            assert not lines[i].endswith("*") and lines[i + 1] != "*", f"{title} is marked required"
        assert "null" not in lines, f"{section}: a field shows a literal null"
        if section == "Window":
            assert "Logical Date only names the run" in text and "Backfill" in text  # how they relate
        shot(driver, f"0-trigger-form-{section.lower()}.png")


def test_the_new_users_path(tmp_path, pg_metadata, browser):  # noqa: F811 - fixtures
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
            status, _ = ui.http("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
            assert status == 200

            # 1. a window of three days: the mapped partitions are named by their day
            run_id = ui.trigger({"start_date": DAYS[0], "end_date": DAYS[-1]})
            assert ui.wait_state(run_id, 300) == "success"
            tis = ui.task_instances(run_id)
            named = sorted(ti["rendered_map_index"] for ti in tis if ti["task_id"] == "partition.stage")
            assert named == DAYS

            browser.get(ui.base + "/")
            browser.add_cookie({"name": "_token", "value": ui.token(), "path": "/"})
            # the user picks Asia/Shanghai in the UI's Timezone menu (stored as JSON in the browser)
            browser.execute_script(f"window.localStorage.setItem('timezone', {json.dumps(json.dumps(TZ))})")
            rid = urllib.parse.quote(run_id, safe="")
            browser.get(f"{ui.base}/dags/{DAG_ID}/runs/{rid}/tasks/partition.stage/mapped")
            text_when(browser, [*DAYS, "+08:00"])
            shot(browser, "1-mapped-partitions-by-day.png")

            # the trigger form explains itself: titles, no switch marked required, volume_check readable
            browser.get(f"{ui.base}/dags/{DAG_ID}")
            trigger_form(browser)

            # 2. the run report: the DAG run's partitions, by day, times in Asia/Shanghai
            browser.get(f"{ui.base}/leads-flow/dag-runs/{DAG_ID}/{rid}")
            text = text_when(browser, DAYS + ["published", f"({TZ})", f"All times are {TZ}"])
            assert [text.index(d) for d in DAYS] == sorted(text.index(d) for d in DAYS)
            assert not re.search(r"\d{11,}", text)
            shot(browser, "2-report-dag-run.png")

            # 3. a reversed window: the run fails at its plan, and the report says why
            reversed_id = ui.trigger({"start_date": DAYS[-1], "end_date": DAYS[0]})
            assert ui.wait_state(reversed_id, 180) == "failed"
            browser.get(f"{ui.base}/leads-flow/dag-runs/{DAG_ID}/{urllib.parse.quote(reversed_id, safe='')}")
            text_when(browser, ["plan failed", f"end_date {DAYS[0]} is before start_date {DAYS[-1]}"])
            shot(browser, "3-report-reversed-window.png")
            browser.get(f"{ui.base}/leads-flow/")
            text_when(browser, ["plan failed", "the window is reversed"])
            shot(browser, "4-report-list.png")

            # 4. a backfill of three days picked in Asia/Shanghai: three runs, one per day
            status, body = ui.http(
                "POST",
                "/api/v2/backfills",
                {
                    "dag_id": DAG_ID,
                    "from_date": f"{DAYS[0]}T00:00:00+08:00",
                    "to_date": f"{DAYS[-1]}T00:00:00+08:00",
                    "reprocess_behavior": "completed",
                    "max_active_runs": 3,
                },
            )
            assert status in (200, 201), f"backfill: HTTP {status}: {str(body)[:500]}"
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

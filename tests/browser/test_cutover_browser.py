"""The cutover page of the run report (issue #15): its data from real reconcile runs on MariaDB and SQLite, and
the page in a real headless Chromium (fixtures of test_report_browser.py). Screenshot: artifacts/cutover.png.

The story: 16 days of leads synced; one lead lost from leads_flow on day 3; a report-only reconcile over the
range (day 3 drifts: gates 1 and 2 not met); a repair of day 3; a report-only reconcile over the range again
(every day matches: the history run and 16 good days in a row: ready).
"""

from __future__ import annotations

import random
import re
from datetime import date, datetime

from airflow.sdk.exceptions import AirflowSkipException

from devkit.seed import random_mobile
from tests.browser.test_report_browser import PREFIX, browser, served, shoot  # noqa: F401 - fixtures
from tests.helpers import insert, legacy_row, sync

DAG = "leads_flow_reconcile"
FIRST, LAST = "2026-11-01", "2026-11-16"
LOST_LEAD = 8  # day 3's second lead (3 leads a day, ids in day order)


def _seed(dbs) -> None:
    rng = random.Random(15)
    insert(
        dbs,
        [
            legacy_row(
                phone=random_mobile(rng),
                update_time=datetime(2026, 11, day, 9, i),
                join_time=datetime(2026, 11, day, 8),
            )
            for day in range(1, 17)
            for i in range(3)
        ],
    )
    sync(FIRST, LAST)


def _reconcile(run_id: str, start: str, end: str, *, repair: bool = False) -> dict:
    """The reconcile DAG's tasks in order, as the DAG runs them."""
    from leads_flow.tasks import reconcile as rec

    p = {"start_date": start, "end_date": end, "repair": repair, "decrypt_sample": 2}
    for window in rec.plan(p, None, None):
        compared = rec.compare(window, p, DAG, run_id)
        try:
            rec.repair(compared, p, DAG, run_id)
        except AirflowSkipException:
            pass
    return rec.summary(p, DAG, run_id)


def _lose_a_lead(dbs) -> None:
    db = dbs.flow()
    try:
        db.conn.cursor().execute(f"DELETE FROM leads_flow WHERE lead_id = {LOST_LEAD}")
        db.conn.commit()
    finally:
        db.close()


def test_the_page_data_follows_the_reconcile_runs(any_dbs):
    from leads_flow.report.cutover import cutover_json, cutover_view

    today = date(2026, 11, 18)
    empty = cutover_view(today=today)
    assert empty["days"] == [] and empty["runs"] == [] and not empty["ready"]

    _seed(any_dbs)
    _lose_a_lead(any_dbs)
    first = _reconcile("manual__range_1", FIRST, LAST)
    assert first["missing_in_flow"] == 1

    view = cutover_view(today=today)
    assert [d["day"] for d in view["days"]] == [date(2026, 11, d) for d in range(1, 17)]
    day3 = view["days"][2]
    assert (day3["missing_in_flow"], day3["matched"], day3["expected_rows"], day3["ok"]) == (1, 2, 3, False)
    assert abs(day3["match_rate"] - 2 / 3) < 1e-9 and day3["blocking"] == 1
    assert all(d["ok"] and d["match_rate"] == 1.0 for i, d in enumerate(view["days"]) if i != 2)
    assert view["streak"] == 13 and view["streak_start"] == date(2026, 11, 4)  # days 4..16
    assert [(g["n"], g["met"]) for g in view["gates"]] == [(1, False), (2, False), (3, False)]
    assert not view["ready"] and view["totals"]["missing_in_flow"] == 1
    assert [r["reconcile_run_id"] for r in view["runs"]] == ["manual__range_1"]
    assert view["runs"][0]["cutover_ready"] is False and view["latest_day"] == date(2026, 11, 16)

    repaired = _reconcile("manual__repair_day_3", "2026-11-03", "2026-11-03", repair=True)
    assert repaired["repair_fixed"] == 1
    view = cutover_view(today=today)
    assert view["days"][2]["reconcile_run_id"] == "manual__repair_day_3" and view["days"][2]["compares"] == 2
    assert view["days"][2]["status"] == "repaired" and not view["days"][2]["ok"]  # it drifted that day

    again = _reconcile("manual__range_2", FIRST, LAST)
    assert again["cutover_ready"] and again["match_rate"] == 1.0
    view = cutover_view(today=today)
    assert all(d["ok"] for d in view["days"]) and view["streak"] == 16
    assert [(g["n"], g["met"]) for g in view["gates"]] == [(1, True), (2, True), (3, True)]
    assert view["gates"][0]["run"]["reconcile_run_id"] == "manual__range_2" and view["ready"]
    assert [r["reconcile_run_id"] for r in view["runs"]] == [
        "manual__range_2",
        "manual__repair_day_3",
        "manual__range_1",
    ]
    # a shorter period still judges gate 2 over 14 days
    short = cutover_view(days=5, today=today)
    assert len(short["days"]) == 4 and short["gates"][1]["met"]  # days 13..16
    as_json = cutover_json(view)
    assert as_json["days"][0]["day"] == "2026-11-01" and as_json["ready"] is True


def test_the_cutover_page_in_a_real_browser(sqlite_dbs, served, browser):  # noqa: F811 - fixtures
    from selenium.webdriver.common.by import By

    browser.get(f"{served}{PREFIX}/cutover")
    assert browser.title.startswith("Cutover readiness")
    assert browser.find_element(By.ID, "no-days").text.startswith("No reconcile compared a day")
    assert "NOT READY" in browser.find_element(By.ID, "verdict").text

    _seed(sqlite_dbs)
    _lose_a_lead(sqlite_dbs)
    _reconcile("manual__range_1", FIRST, LAST)

    browser.get(f"{served}{PREFIX}/")  # from the run list, through the menu
    browser.find_element(By.LINK_TEXT, "Cutover").click()
    assert browser.current_url == f"{served}{PREFIX}/cutover"
    assert "NOT READY" in browser.find_element(By.ID, "verdict").text
    gates = [browser.find_element(By.ID, f"gate-{n}") for n in (1, 2, 3)]
    assert [g.find_element(By.CSS_SELECTOR, ".badge").text for g in gates] == ["not met"] * 3
    assert "13 of 14 consecutive days" in gates[1].text
    svg = browser.find_element(By.ID, "trend")
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle")) == 16
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle.bad")) == 1
    assert len(svg.find_elements(By.CSS_SELECTOR, "rect.drift")) == 1
    day3 = browser.find_element(By.CSS_SELECTOR, 'table#days tr[data-day="2026-11-03"]')
    assert "bad" in day3.get_attribute("class") and "66.67 %" in day3.text
    link = day3.find_element(By.CSS_SELECTOR, "a.run")
    assert link.text == "manual__range_1"
    assert link.get_attribute("href").endswith(f"/dags/{DAG}/runs/manual__range_1")
    shoot(browser, "cutover-not-ready.png")

    _reconcile("manual__repair_day_3", "2026-11-03", "2026-11-03", repair=True)
    _reconcile("manual__range_2", FIRST, LAST)
    browser.refresh()
    assert "READY" in browser.find_element(By.ID, "verdict").text
    assert "NOT READY" not in browser.find_element(By.ID, "verdict").text
    assert [
        browser.find_element(By.ID, f"gate-{n}").find_element(By.CSS_SELECTOR, ".badge").text for n in (1, 2, 3)
    ] == ["met"] * 3
    assert browser.find_element(By.ID, "streak").text == "16"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trend circle.bad")) == 0
    runs = browser.find_elements(By.CSS_SELECTOR, "table#runs tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "a.run").text for r in runs] == [
        "manual__range_2",
        "manual__repair_day_3",
        "manual__range_1",
    ]
    assert "repair partitions" in runs[1].text
    repair_link = runs[1].find_element(By.LINK_TEXT, "repair partitions").get_attribute("href")
    assert repair_link.endswith(f"{PREFIX}/dag-runs/{DAG}/manual__repair_day_3")
    day3 = browser.find_element(By.CSS_SELECTOR, 'table#days tr[data-day="2026-11-03"]')
    assert re.search(r"100(\.00)? %", day3.text) and "latest of 3" in day3.text
    body = browser.find_element(By.TAG_NAME, "body").text
    assert not re.search(r"1[3-9]\d{9}", body)  # no phone number anywhere on the page
    path = shoot(browser, "cutover.png")
    assert path.stat().st_size > 10_000
    # one script, the report's own inline tz.js (the UI's time zone), and nothing loaded from elsewhere
    scripts = browser.execute_script("return [...document.scripts].map(s => [s.src, s.text])")
    assert len(scripts) == 1 and scripts[0][0] == "" and "Intl.DateTimeFormat" in scripts[0][1]
    assert (
        browser.execute_script(
            "return [...document.querySelectorAll('[src],link[href]')].filter(e => !(e.src||e.href).startsWith(location.origin)).length"
        )
        == 0
    )

"""The reconcile on real databases (MariaDB and SQLite): each drift class, hard deletes, repair, and a
large range in bounded memory.

Phones are generated (devkit.seed.random_mobile) and never printed; assertions on them go through
booleans so a failure message cannot echo one.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import tracemalloc
from datetime import datetime

import pytest

from devkit.seed import SEED_COLUMNS, insert_legacy, legacy_rows, random_mobile
from leads_flow.names import RECONCILE_DAG_ID
from leads_flow.reconcile import model
from leads_flow.submit import submit_lead
from leads_flow.tasks import reconcile
from tests.helpers import insert, legacy_row, sync

DAY = "2026-11-20"
RUN = "manual__reconcile"
_RNG = random.Random(20261120)
PHONES = [random_mobile(_RNG) for _ in range(12)]


def crafted() -> list[tuple]:
    """Eight valid leads (ids 1-8) and one the rules reject (id 9), all on DAY."""
    rows = [legacy_row(phone=PHONES[i], update_time=datetime(2026, 11, 20, 9, i)) for i in range(8)]
    rows.append(legacy_row(phone="12345", update_time=datetime(2026, 11, 20, 10)))
    return rows


def run_reconcile(run_id: str = RUN, start: str = DAY, end: str | None = None, **params) -> dict:
    """plan → compare (→ repair) per window → summary, as the DAG's tasks do."""
    p = {"start_date": start, "end_date": end or start, "decrypt_sample": 20, **params}
    for window in reconcile.plan(p, None, None):
        compared = reconcile.compare(window, p, RECONCILE_DAG_ID, run_id)
        if p.get("repair"):
            reconcile.repair(compared, p, RECONCILE_DAG_ID, run_id)
    return reconcile.summary(p, RECONCILE_DAG_ID, run_id)


def drift(dbs, run_id: str = RUN) -> dict[int, tuple]:
    """lead_id -> (drift_class, next_action, detail dict, repair_result)."""
    rows = dbs.flow_rows(
        "SELECT lead_id, drift_class, next_action, detail, repair_result FROM leads_flow_drift "
        f"WHERE reconcile_run_id = '{run_id}' ORDER BY lead_id"
    )
    return {int(r[0]): (r[1], r[2], json.loads(r[3]) if r[3] else {}, r[4]) for r in rows}


def flow_exec(dbs, sql: str) -> None:
    db = dbs.flow()
    try:
        db.conn.cursor().execute(sql)
        db.conn.commit()
    finally:
        db.close()


def online_write(dbs, cipher, lead_id: int, **over) -> None:
    """What a dual-writing service puts into leads_flow for a legacy-shaped row (its own fingerprint)."""
    legacy = dict(zip(SEED_COLUMNS, crafted()[lead_id - 1]))
    db = dbs.flow()
    try:
        submit_lead(db, cipher, {**legacy, "id": lead_id, **over}, etl_run_id="online-test")
    finally:
        db.close()


def no_phone_anywhere(dbs) -> bool:
    """No generated phone's digits in any drift or summary row (detail is names, codes and timings only)."""
    text = json.dumps(
        [dbs.flow_rows("SELECT * FROM leads_flow_drift"), dbs.flow_rows("SELECT * FROM leads_flow_reconcile_run")],
        default=str,
    )
    return not any(p in text or p[3:] in text for p in PHONES) and not re.search(r"(?<![\d.])1[3-9]\d{9}(?!\d)", text)


@pytest.fixture
def synced(any_dbs):
    insert(any_dbs, crafted())
    sync(DAY, max_reject_ratio=0.5)
    return any_dbs


def test_tables_in_step_match_and_expected_rejects_are_apart(synced):
    s = run_reconcile()
    assert (s["legacy_rows"], s["expected_rows"], s["matched"], s["rejected_by_rule"]) == (9, 8, 8, 1)
    assert s["match_rate"] == 1.0 and s["cutover_ready"] is True and s["open_drift"] == 0
    assert s["phone_sampled"] == 8 and s["phone_sample_failed"] == 0
    assert drift(synced) == {
        9: ("rejected_by_rule", "none", {"flow_row": "absent", "reasons": ["phone_invalid"]}, None)
    }
    [row] = synced.flow_rows(
        "SELECT scope, windows, match_rate, cutover_ready, status FROM leads_flow_reconcile_run "
        f"WHERE reconcile_run_id = '{RUN}' AND scope = 'run'"
    )
    assert tuple(row) == ("run", 1, 1.0, 1, "done")
    # a rerun under the same run id replaces its rows
    assert run_reconcile()["matched"] == 8 and len(drift(synced)) == 1


def test_missing_in_flow(synced):
    flow_exec(synced, "DELETE FROM leads_flow WHERE lead_id = 2")
    insert(synced, [legacy_row(phone=PHONES[9], update_time=datetime(2026, 11, 20, 23, 59))])  # id 10, not synced
    s = run_reconcile()
    assert s["missing_in_flow"] == 2 and s["matched"] == 7 and s["expected_rows"] == 9
    assert s["match_rate"] == pytest.approx(7 / 9) and not s["cutover_ready"]
    d = drift(synced)
    assert d[2][:2] == d[10][:2] == ("missing_in_flow", "repair")


def test_hard_delete_marks_is_deleted_and_keeps_the_row(synced):
    synced.legacy_exec("DELETE FROM leads_aggr WHERE id = 3")
    s = run_reconcile()
    assert s["missing_in_legacy"] == 1 and s["marked_deleted"] == 1
    assert s["match_rate"] == 1.0 and s["expected_rows"] == 7 and s["cutover_ready"]
    assert drift(synced)[3][:3] == ("missing_in_legacy", "marked_deleted", {"flow_is_deleted": 0})
    [(deleted, chash, run_id)] = synced.flow_rows(
        "SELECT is_deleted, content_hash, etl_run_id FROM leads_flow WHERE lead_id = 3"
    )
    assert (deleted, chash, run_id) == (1, None, f"reconcile:{RUN}")
    assert synced.flow_rows("SELECT COUNT(*) FROM leads_flow") == [(8,)]
    # the next run sees it already marked: reported, nothing to do
    s2 = run_reconcile("manual__again")
    assert s2["missing_in_legacy"] == 1 and s2["marked_deleted"] == 0 and s2["cutover_ready"]
    assert drift(synced, "manual__again")[3][:2] == ("missing_in_legacy", "none")


def test_field_drift_names_the_fields(synced, cipher):
    online_write(synced, cipher, 4, from_channel="toutiao_feed", has_tool=1)  # same timestamp, other content
    flow_exec(synced, "UPDATE leads_flow SET user_agent = 'edited by hand' WHERE lead_id = 5")  # hash untouched
    s = run_reconcile()
    assert s["field_drift"] == 2 and s["phone_drift"] == 0 and s["matched"] == 6
    d = drift(synced)
    assert d[4][:3] == ("field_drift", "repair", {"fields": ["from_channel", "has_tool"]})
    # the stored fingerprint still equals the legacy one: the repair must clear it before the upsert
    assert d[5][:3] == ("field_drift", "rewrite", {"fields": ["user_agent"]})


def test_phone_drift_by_blind_index_and_by_decrypt_sample(synced, cipher):
    online_write(synced, cipher, 6, phone=PHONES[10])  # a service stored another phone at the same timestamp
    t1, t2 = [
        r[0] for r in synced.flow_rows("SELECT phone_cipher FROM leads_flow WHERE lead_id IN (7, 8) ORDER BY lead_id")
    ]
    flow_exec(synced, f"UPDATE leads_flow SET phone_cipher = '{t2}' WHERE lead_id = 7")  # index right, token wrong
    flow_exec(synced, f"UPDATE leads_flow SET phone_cipher = '{t1}' WHERE lead_id = 8")
    s = run_reconcile()
    assert s["phone_drift"] == 3 and s["phone_sample_failed"] == 2 and s["field_drift"] == 0
    d = drift(synced)
    assert d[6][:3] == ("phone_drift", "repair", {"fields": ["phone"]})
    assert d[7][:3] == d[8][:3] == ("phone_drift", "rewrite", {"check": "decrypt_sample", "result": "mismatch"})
    assert no_phone_anywhere(synced)


def test_stale_in_flow_and_flow_ahead(synced, cipher):
    # legacy updated later the same day, the sync has not run since: flow is behind
    synced.legacy_exec(
        "UPDATE leads_aggr SET from_channel = 'gdt_feed', update_time = '2026-11-20 15:00:00' WHERE id = 1"
    )
    # a service wrote a newer version into flow that legacy never got
    online_write(synced, cipher, 2, update_time=datetime(2026, 11, 20, 16), is_group=1)
    s = run_reconcile()
    assert s["stale_in_flow"] == 1 and s["flow_ahead"] == 1 and s["matched"] == 6
    d = drift(synced)
    assert d[1][:2] == ("stale_in_flow", "repair")
    assert d[1][2]["fields"] == ["from_channel", "source_updated_at"] and d[1][2]["behind_s"] > 0
    assert d[2][:2] == ("flow_ahead", "investigate")
    assert d[2][2]["fields"] == ["is_group", "source_updated_at"] and d[2][2]["ahead_s"] > 0
    assert s["open_by_class"] == {"flow_ahead": 1, "stale_in_flow": 1} and not s["cutover_ready"]


def test_rejected_by_rule_is_expected_not_drift(synced):
    # a synced lead later edited in legacy into something the rules reject: flow keeps the older version
    synced.legacy_exec(
        "UPDATE leads_aggr SET phone = 'abc', unionId = NULL, update_time = '2026-11-20 18:00:00' WHERE id = 5"
    )
    s = run_reconcile()
    assert s["rejected_by_rule"] == 2 and s["expected_rows"] == 7 and s["matched"] == 7
    assert s["match_rate"] == 1.0 and s["cutover_ready"]
    d = drift(synced)
    assert d[5][:3] == ("rejected_by_rule", "none", {"flow_row": "older", "reasons": ["phone_invalid"]})
    assert d[9][2]["flow_row"] == "absent"


def test_repair_resyncs_through_the_pipeline_until_only_expected_rows_remain(synced, cipher):
    flow_exec(synced, "DELETE FROM leads_flow WHERE lead_id = 2")  # missing
    synced.legacy_exec("DELETE FROM leads_aggr WHERE id = 3")  # hard delete
    online_write(synced, cipher, 4, from_channel="toutiao_feed")  # field drift
    flow_exec(synced, "UPDATE leads_flow SET user_agent = 'edited by hand' WHERE lead_id = 5")  # under the hash
    online_write(synced, cipher, 6, phone=PHONES[10])  # phone drift
    t8 = synced.flow_rows("SELECT phone_cipher FROM leads_flow WHERE lead_id = 8")[0][0]
    flow_exec(synced, f"UPDATE leads_flow SET phone_cipher = '{t8}' WHERE lead_id = 7")  # token swap
    synced.legacy_exec(
        "UPDATE leads_aggr SET from_channel = 'gdt_feed', update_time = '2026-11-20 15:00:00' WHERE id = 1"
    )  # stale
    s = run_reconcile(repair=True)
    assert s["matched"] == 1 and s["repaired"] == 6 and s["repair_fixed"] == 6
    assert s["match_rate_after_repair"] == 1.0 and s["open_drift"] == 0 and s["cutover_ready"]
    assert {k: v[3] for k, v in drift(synced).items() if v[1] in ("repair", "rewrite")} == {
        1: "fixed",
        2: "fixed",
        4: "fixed",
        5: "fixed",
        6: "fixed",
        7: "fixed",
    }
    # the repair went through the sync pipeline: audited in leads_flow_run, published
    runs = synced.flow_rows(
        "SELECT etl_run_id, dag_id, status, extracted FROM leads_flow_run WHERE dag_id = 'leads_flow_reconcile'"
    )
    assert [(r[1], r[2], r[3]) for r in runs] == [("leads_flow_reconcile", "published", 6)]
    # a fresh compare: everything matches but the expected reject and the (marked) hard delete
    after = run_reconcile("manual__verify")
    assert after["match_rate"] == 1.0 and after["matched"] == 7 and after["cutover_ready"]
    assert {v[0] for v in drift(synced, "manual__verify").values()} == {"rejected_by_rule", "missing_in_legacy"}
    tokens = dict(synced.flow_rows("SELECT lead_id, phone_cipher FROM leads_flow WHERE lead_id IN (6, 7)"))
    restored = cipher.decrypt(tokens[6]) == "+86" + PHONES[5] and cipher.decrypt(tokens[7]) == "+86" + PHONES[6]
    assert restored, "repaired tokens do not decrypt to the legacy phones"
    assert no_phone_anywhere(synced)


def test_repair_is_off_by_default_and_leaves_flow_alone(synced):
    flow_exec(synced, "DELETE FROM leads_flow WHERE lead_id = 2")
    p = {"start_date": DAY, "end_date": DAY}
    [window] = reconcile.plan(p, None, None)
    compared = reconcile.compare(window, p, RECONCILE_DAG_ID, RUN)
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException):
        reconcile.repair(compared, p, RECONCILE_DAG_ID, RUN)
    assert synced.flow_rows("SELECT COUNT(*) FROM leads_flow WHERE lead_id = 2") == [(0,)]


def test_scheduled_interval_compares_the_last_complete_day():
    import pendulum

    tz = pendulum.timezone("Asia/Shanghai")
    start, end = reconcile.resolve_reconcile_window(
        {}, pendulum.datetime(2026, 11, 19, 1, 30, tz=tz), pendulum.datetime(2026, 11, 20, 1, 30, tz=tz)
    )
    assert (start, end) == (datetime(2026, 11, 19), datetime(2026, 11, 20))
    assert reconcile.resolve_reconcile_window({"start_date": "2026-11-01", "end_date": "2026-11-03"}, None, None) == (
        datetime(2026, 11, 1),
        datetime(2026, 11, 4),
    )


LARGE_ROWS = int(os.environ.get("LEADS_RECONCILE_LARGE_ROWS", "120000"))
LARGE_DAYS = 3


def test_large_range_in_bounded_memory(mysql_dbs):
    """Generated leads (40k a day by default) synced by the pipeline, then 1% dropped from flow and 1% changed
    under their fingerprint: the compare finds exactly those, and one window's compare (eight chunks) grows
    the Python heap by far less than its rows would take."""
    db = mysql_dbs.legacy()
    try:
        insert_legacy(
            db,
            legacy_rows(LARGE_ROWS, datetime(2026, 11, 1), datetime(2026, 11, 1 + LARGE_DAYS), seed=11),
            batch=10_000,
        )
    finally:
        db.close()
    last = f"2026-11-{LARGE_DAYS:02d}"
    sync("2026-11-01", last)
    [(dropped,)] = mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow WHERE MOD(lead_id, 101) = 0")
    flow_exec(mysql_dbs, "DELETE FROM leads_flow WHERE MOD(lead_id, 101) = 0")
    flow_exec(mysql_dbs, "UPDATE leads_flow SET from_channel = 'drifted' WHERE MOD(lead_id, 103) = 0")
    [(changed,)] = mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow WHERE from_channel = 'drifted'")
    [(in_flow,)] = mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")

    p = {"start_date": "2026-11-01", "end_date": last, "decrypt_sample": 20}
    first, *rest = reconcile.plan(p, None, None)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        traced = reconcile.compare(first, p, RECONCILE_DAG_ID, "manual__large")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    t0 = time.perf_counter()
    untraced = [reconcile.compare(w, p, RECONCILE_DAG_ID, "manual__large") for w in rest]
    seconds = time.perf_counter() - t0
    s = reconcile.summary(p, RECONCILE_DAG_ID, "manual__large")
    rows = sum(r["legacy_rows"] for r in untraced)
    print(
        f"\nreconcile: {s['legacy_rows']} legacy rows in {1 + len(rest)} windows; untraced {rows} rows in "
        f"{seconds:.1f}s ({rows / seconds:.0f} rows/s); one window of {traced['legacy_rows']} rows under "
        f"tracemalloc: peak heap growth {peak / 2**20:.1f} MiB"
    )
    assert s["legacy_rows"] == LARGE_ROWS and s["unfinished_windows"] == 0
    assert s["missing_in_flow"] == dropped > LARGE_ROWS // 200
    assert s["field_drift"] == changed > LARGE_ROWS // 200
    assert s["phone_drift"] == s["stale_in_flow"] == s["flow_ahead"] == s["missing_in_legacy"] == 0
    assert s["matched"] + s["missing_in_flow"] + s["field_drift"] == s["expected_rows"]
    assert s["matched"] == in_flow - changed and s["phone_sample_failed"] == 0
    assert traced["legacy_rows"] >= model.CHUNK_ROWS * 7  # the traced window is many chunks
    assert peak < 50 * 2**20, f"compare heap grew {peak / 2**20:.1f} MiB"


def test_old_drift_rows_are_purged_by_the_next_plan(synced, monkeypatch):
    """Every run writes a row per drifting lead: rows older than LEADS_FLOW_DRIFT_RETENTION_DAYS go."""
    flow_exec(synced, "DELETE FROM leads_flow WHERE lead_id = 2")
    run_reconcile("manual__old")
    run_reconcile("manual__recent")
    assert set(drift(synced, "manual__old")) == set(drift(synced, "manual__recent")) == {2, 9}  # 9: a reject
    flow_exec(
        synced, "UPDATE leads_flow_drift SET detected_at = '2026-01-01 00:00:00' WHERE reconcile_run_id = 'manual__old'"
    )
    monkeypatch.setenv("LEADS_FLOW_DRIFT_RETENTION_DAYS", "30")
    reconcile.plan({"start_date": DAY, "end_date": DAY}, None, None)
    assert drift(synced, "manual__old") == {} and set(drift(synced, "manual__recent")) == {2, 9}
    assert (
        synced.flow_rows("SELECT COUNT(*) FROM leads_flow_reconcile_run WHERE reconcile_run_id = 'manual__old'")[0][0]
        > 0
    )  # the summaries stay

    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("LEADS_FLOW_DRIFT_RETENTION_DAYS", "0")
    with pytest.raises(AirflowFailException, match="LEADS_FLOW_DRIFT_RETENTION_DAYS"):
        reconcile.plan({"start_date": DAY, "end_date": DAY}, None, None)


# --- erased leads (issue #12) ---------------------------------------------------------------------------

_PERSONAL_SQL = "phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, ip_address, user_agent, window_url"


def _erase(ids: list[int]) -> None:
    from leads_flow.io.connect import connected
    from leads_flow.lifecycle.erase import erase_leads

    with connected("leads_flow") as flow:
        erase_leads(flow, ids, "test:reconcile")


def _personal(dbs, lead_id: int) -> tuple:
    return tuple(dbs.flow_rows(f"SELECT is_deleted, {_PERSONAL_SQL} FROM leads_flow WHERE lead_id = {int(lead_id)}")[0])


def test_erased_lead_is_its_own_class_not_drift_and_repair_leaves_it_erased(synced):
    insert(synced, [legacy_row(phone=PHONES[9], update_time=datetime(2026, 11, 20, 23, 0))])  # id 10, never synced
    _erase([2, 10])
    flow_exec(synced, "DELETE FROM leads_flow WHERE lead_id = 4")  # real drift, so the repair has work to do
    s = run_reconcile(repair=True)
    assert (s["legacy_rows"], s["rejected_by_rule"], s["erased"]) == (10, 1, 2)
    assert (s["expected_rows"], s["matched"], s["missing_in_flow"], s["missing_in_legacy"]) == (7, 6, 1, 0)
    assert s["match_rate"] == pytest.approx(6 / 7) and s["repaired"] == 1 and s["repair_fixed"] == 1
    assert s["match_rate_after_repair"] == 1.0 and s["open_drift"] == 0 and s["cutover_ready"]
    assert "erased" not in s["open_by_class"] and s["drift_by_class"]["erased"] == {"none": 2}
    d = drift(synced)
    assert d[2] == ("erased", "none", {"flow_row": "tombstone"}, None)
    assert d[10] == ("erased", "none", {"flow_row": "absent"}, None)
    assert d[4][:2] == ("missing_in_flow", "repair")
    # the repair re-synced lead 4 only: the erased leads keep no personal value, lead 10 stays absent
    assert _personal(synced, 2) == (1,) + (None,) * 8
    assert synced.flow_rows("SELECT COUNT(*) FROM leads_flow WHERE lead_id = 10") == [(0,)]
    [(window_json,)] = synced.flow_rows(
        f"SELECT drift_by_class FROM leads_flow_reconcile_run WHERE reconcile_run_id = '{RUN}' AND scope = 'window'"
    )
    assert json.loads(window_json) == {"erased": 2, "missing_in_flow": 1, "rejected_by_rule": 1}
    assert no_phone_anywhere(synced)


def test_erased_tombstone_without_legacy_row_is_erased_not_a_hard_delete(synced):
    _erase([3, 5])
    synced.legacy_exec("DELETE FROM leads_aggr WHERE id = 3")
    flow_exec(synced, "UPDATE leads_flow SET is_deleted = 0 WHERE lead_id = 5")  # a write the guards missed
    s = run_reconcile()
    assert s["missing_in_legacy"] == 0 and s["marked_deleted"] == 0 and s["erased"] == 2
    assert s["expected_rows"] == 6 and s["matched"] == 6 and s["match_rate"] == 1.0 and s["cutover_ready"]
    d = drift(synced)
    assert d[3] == ("erased", "none", {"flow_row": "tombstone", "legacy_row": "gone"}, None)
    assert d[5] == ("erased", "none", {"flow_row": "not_scrubbed"}, None)
    [(run_id,)] = synced.flow_rows("SELECT etl_run_id FROM leads_flow WHERE lead_id = 3")
    assert run_id != f"reconcile:{RUN}"  # not marked deleted by the compare

"""Rejects (issue #12): one row per lead and source version, the raw phone's blind index beside its token,
found and erased by phone, and the migration of a table written by the first release.

Phones are generated (devkit.seed.random_mobile); assertions never print them.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

import pytest

from devkit.seed import random_mobile
from leads_flow.io.connect import connected
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.lifecycle.erase import erase_leads, lead_ids_for_phones
from tests.helpers import insert, legacy_row, sync

DAY = "2026-11-20"
PARAMS = {"max_reject_ratio": 1.0}


def _rejects(dbs) -> list[tuple]:
    return [
        tuple(r)
        for r in dbs.flow_rows(
            "SELECT lead_id, etl_run_id, reasons, source_version FROM leads_flow_reject ORDER BY lead_id, source_version"
        )
    ]


def _seed(dbs) -> list[str]:
    """Lead 1 published; lead 2 rejected for a phone in its unionId (its own phone valid); lead 3 rejected
    for an invalid phone."""
    rng = random.Random(5)
    phones = [random_mobile(rng) for _ in range(3)]
    insert(
        dbs,
        [
            legacy_row(phone=phones[0], update_time=datetime(2026, 11, 20, 9)),
            legacy_row(phone=phones[1], unionId="wx" + random_mobile(rng), update_time=datetime(2026, 11, 20, 9)),
            legacy_row(phone=phones[2][:9], update_time=datetime(2026, 11, 20, 9)),
        ],
    )
    return phones


def test_a_rerun_keeps_one_reject_per_lead_and_version(any_dbs):
    _seed(any_dbs)
    sync(DAY, run_id="manual__first", **PARAMS)
    first = _rejects(any_dbs)
    assert [(r[0], r[1], r[2]) for r in first] == [
        (2, "manual__first@2026-11-20T00:00", "union_id_invalid"),
        (3, "manual__first@2026-11-20T00:00", "phone_invalid"),
    ]
    sync(DAY, run_id="manual__second", **PARAMS)  # another run of the same window: replaces, adds nothing
    assert [(r[0], r[1]) for r in _rejects(any_dbs)] == [
        (2, "manual__second@2026-11-20T00:00"),
        (3, "manual__second@2026-11-20T00:00"),
    ]
    # A new version of lead 3 (still invalid) is a second reject; the first stays until retention purges it.
    any_dbs.legacy_exec("UPDATE leads_aggr SET update_time = '2026-11-20 10:00:00' WHERE id = 3")
    sync(DAY, run_id="manual__third", **PARAMS)
    assert [(r[0], r[1], str(r[3])) for r in _rejects(any_dbs)] == [
        (2, "manual__third@2026-11-20T00:00", "2026-11-20 09:00:00"),
        (3, "manual__second@2026-11-20T00:00", "2026-11-20 09:00:00"),
        (3, "manual__third@2026-11-20T00:00", "2026-11-20 10:00:00"),
    ]


def test_an_overlapping_run_taking_the_rejects_over_does_not_weaken_the_gate(any_dbs):
    """Run A stages, run B stages the same window (its upserts take A's reject rows over), then A's gate: it
    counts the two rejects its stage made, not the rows still under its run id (none), and fails."""
    from airflow.sdk.exceptions import AirflowFailException

    from leads_flow.tasks import sync as pipeline

    _seed(any_dbs)
    p = {"start_date": DAY, "end_date": DAY, "max_reject_ratio": 0.5}  # 2 of 3 rejected: over the limit
    [part] = pipeline.plan(p, None, None)
    staged_a = pipeline.stage(part, p, "leads_flow_sync", "manual__a")
    pipeline.stage(part, p, "leads_flow_sync", "manual__b")
    assert {r[1] for r in _rejects(any_dbs)} == {"manual__b@2026-11-20T00:00"}  # A owns no reject row now
    with pytest.raises(AirflowFailException, match="reject_ratio_within_limit"):
        pipeline.gate(staged_a, p)
    [results] = any_dbs.flow_rows(
        "SELECT gate_results FROM leads_flow_run WHERE etl_run_id = 'manual__a@2026-11-20T00:00'"
    )
    [ratio] = [r for r in json.loads(results[0]) if r["check"] == "reject_ratio_within_limit"]
    assert (ratio["success"], ratio["observed_value"]) == (False, 2)


def test_blind_index_beside_the_raw_token_finds_and_erases_a_rejected_lead(any_dbs, cipher):
    phones = _seed(any_dbs)
    sync(DAY, **PARAMS)
    rows = {
        r[0]: r[1:]
        for r in any_dbs.flow_rows("SELECT lead_id, phone_bidx, phone_bidx_kid, raw_values FROM leads_flow_reject")
    }
    bidx, kid, raw = rows[2]
    assert (bidx, kid) == (cipher.bidx("+86" + phones[1]), "1")
    assert cipher.decrypt_raw(json.loads(raw)["phone"]) == phones[1]
    assert rows[3][:2] == (None, None)  # an invalid phone has no blind index
    with connected("leads_flow") as flow:
        assert lead_ids_for_phones(flow, cipher, [phones[1], "+86 " + phones[0]]) == [1, 2]
        erase_leads(flow, [2], "test")
    assert [r[0] for r in _rejects(any_dbs)] == [3]


OLD_REJECT_DDL = {
    "mysql": """CREATE TABLE leads_flow_reject (
  etl_run_id VARCHAR(250) NOT NULL, lead_id BIGINT UNSIGNED NOT NULL, reasons VARCHAR(255) NOT NULL,
  raw_values TEXT NULL, source_updated_at DATETIME NULL, rejected_at DATETIME(6) NOT NULL,
  PRIMARY KEY (etl_run_id, lead_id), KEY idx_reject_lead (lead_id))""",
    "sqlite": """CREATE TABLE leads_flow_reject (
  etl_run_id TEXT NOT NULL, lead_id INTEGER NOT NULL, reasons TEXT NOT NULL, raw_values TEXT NULL,
  source_updated_at TEXT NULL, rejected_at TEXT NOT NULL, PRIMARY KEY (etl_run_id, lead_id))""",
}


def test_migration_of_a_first_release_table_keeps_the_latest_reject(any_dbs):
    db = any_dbs.flow()
    try:
        cur = db.conn.cursor()
        cur.execute(OLD_REJECT_DDL[any_dbs.dialect])
        q = "INSERT INTO leads_flow_reject VALUES (?, ?, ?, ?, ?, ?)"
        if any_dbs.dialect == "mysql":
            q = q.replace("?", "%s")
        cur.executemany(
            q,
            [
                ("run@a", 7, "phone_invalid", "{}", "2026-11-20 09:00:00", "2026-11-20 09:05:00"),
                ("run@b", 7, "phone_invalid", "{}", "2026-11-20 09:00:00", "2026-11-21 09:05:00"),
                ("run@c", 7, "phone_invalid", "{}", "2026-11-20 09:30:00", "2026-11-21 09:06:00"),
                ("run@a", 8, "no_identity", "{}", None, "2026-11-20 09:05:00"),
                ("run@b", 8, "no_identity", "{}", None, "2026-11-21 09:05:00"),
            ],
        )
        db.conn.commit()
        ensure_flow_schema(db)
        ensure_flow_schema(db)  # idempotent
    finally:
        db.close()
    assert [(r[0], r[1]) for r in _rejects(any_dbs)] == [(7, "run@b"), (7, "run@c"), (8, "run@b")]
    db = any_dbs.flow()
    try:
        dup = "INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, source_version, rejected_at) VALUES "
        with pytest.raises(Exception, match="(?i)duplicate|unique"):
            db.conn.cursor().execute(dup + "('run@d', 8, 'x', '1000-01-01 00:00:00', '2026-11-22 00:00:00')")
    finally:
        db.close()

"""Test-data builders and a direct driver of the pipeline's task functions."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from devkit.seed import SEED_COLUMNS, insert_legacy, random_mobile
from leads_flow.tasks import sync as pipeline

BASE: dict[str, Any] = {
    "phone": None,
    "unionId": None,
    "window_url": "https://m.example.cn/lp/1",
    "ip_address": "58.1.2.3",
    "user_agent": "Mozilla/5.0 test",
    "from_channel": "baidu_sem",
    "has_tool": 0,
    "is_group": 0,
    "join_time": datetime(2026, 11, 20, 8),
    "leads_type": 0,
    "main_business_id": 3,
    "sales_name": None,
    "follow_id": None,
    "ad_id": None,
    "campaign_id": None,
    "create_time": datetime(2026, 11, 20, 8),
    "update_time": datetime(2026, 11, 20, 9),
    "is_deleted": 0,
}


def legacy_row(**over: Any) -> tuple:
    row = {**BASE, **over}
    return tuple(row[c] for c in SEED_COLUMNS)


def insert(dbs, rows: list[tuple]) -> None:
    db = dbs.legacy()
    try:
        insert_legacy(db, rows)
    finally:
        db.close()


def sync(start: str, end: str | None = None, run_id: str = "manual__test", **params: Any) -> list[dict]:
    """Run plan → stage → gate → publish for every partition, then the bulk publish (a bulk plan), as the DAG's
    tasks do; return publish results (the bulk publish's last)."""
    from airflow.sdk.exceptions import AirflowSkipException

    p = {"start_date": start, "end_date": end or start, **params}
    out = []
    parts = pipeline.plan(p, None, None)
    for part in parts:
        out.append(pipeline.publish(pipeline.gate(pipeline.stage(part, p, "leads_flow_sync", run_id), p), p))
    try:
        out.append(pipeline.publish_bulk(parts, p, "leads_flow_sync", run_id))
    except AirflowSkipException:
        pass
    return out


FLOW_DATA_COLUMNS = (
    "lead_id, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address, "
    "user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, "
    "is_deleted, source_updated_at"
)


def flow_table(dbs) -> list[tuple]:
    """leads_flow without the per-call random parts (cipher nonce, run ids), in lead order."""
    return [
        tuple(str(v) if isinstance(v, datetime) else v for v in r)
        for r in dbs.flow_rows(f"SELECT {FLOW_DATA_COLUMNS} FROM leads_flow ORDER BY lead_id")
    ]


def truncate_flow(dbs) -> None:
    """Empty leads_flow, so the next run's result can be compared with another's."""
    db = dbs.flow()
    try:
        db.conn.cursor().execute("DELETE FROM leads_flow")
        db.conn.commit()
    finally:
        db.close()
    assert dbs.flow_rows("SELECT COUNT(*) FROM leads_flow") == [(0,)]


def fail_unless(ok: bool, message: str) -> None:
    """Assert without echoing values (they may be phone numbers)."""
    if not ok:
        pytest.fail(message, pytrace=False)


def distinct_phones(n: int, seed: int) -> list[str]:
    """``n`` different generated mainland mobiles, the same for the same ``seed``."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        if (p := random_mobile(rng)) not in out:
            out.append(p)
    return out

"""Rollback (leads_flow_reverse_export, issue #15): leads written only to leads_flow after the cutover mark go back
to leads_aggr in its own shape, idempotently, through the dedicated writer login; MariaDB round trip and SQLite.

Phones are generated (devkit.seed.random_mobile); checks that involve a phone never print it (_fail_unless).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.seed import random_mobile
from leads_flow import submit
from leads_flow.config import Settings
from leads_flow.io.connect import connected
from leads_flow.lifecycle.erase import erase_leads
from leads_flow.lifecycle.reverse_export import LEGACY_TYPES, legacy_phone, legacy_values
from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.mapping import Mapper
from leads_flow.tasks.reverse_export import export
from tests.helpers import distinct_phones, fail_unless, flow_table, insert, legacy_row, sync

DAY = "2026-11-20"
SINCE = "2026-11-20 00:00:00"
N = 12
# The columns the field rules map, as leads_aggr holds them (update_time only through the version it stands for).
MAPPED = (
    "id, phone, unionId, window_url, ip_address, user_agent, from_channel, has_tool, is_group, join_time, "
    "leads_type, main_business_id, create_time, COALESCE(update_time, create_time), is_deleted"
)
# docs/cutover.md step 5: the leads_legacy_writer login's privileges on leads_aggr (column lists as documented).
WRITER_COLUMNS = (
    "phone, unionId, window_url, ip_address, user_agent, from_channel, has_tool, is_group, join_time, "
    "leads_type, main_business_id, create_time, update_time, is_deleted"
)
WRITER_GRANT = f"SELECT (id, {WRITER_COLUMNS}), INSERT (id, {WRITER_COLUMNS}), UPDATE ({WRITER_COLUMNS})"


def _seed(dbs) -> list[str]:
    """Leads 1..N on DAY: varied flags, types, identities; lead 4 never updated, lead 5 soft-deleted."""
    phones = distinct_phones(N, 21)
    rows = []
    for i, p in enumerate(phones, start=1):
        t = datetime(2026, 11, 20, 8, i)
        rows.append(
            legacy_row(
                phone=p if i != 6 else None,  # lead 6: a unionId only
                unionId=f"o{i:016x}WX" if i % 2 == 0 else None,
                window_url=f"https://m.example.cn/lp/{i}?ch=gdt",
                from_channel=("baidu_sem", "gdt_feed", "wechat_ad")[i % 3],
                has_tool=(0, 1, None)[i % 3],
                is_group=(1, 0)[i % 2],
                leads_type=i % 2,
                main_business_id=None if i == 3 else i,
                join_time=t,
                create_time=t,
                update_time=None if i == 4 else t + timedelta(minutes=30),
                is_deleted=1 if i == 5 else 0,
            )
        )
    insert(dbs, rows)
    return phones


def _legacy(dbs, where: str = "1 = 1") -> list[tuple]:
    db = dbs.legacy()
    try:
        cur = db.conn.cursor()
        cur.execute(f"SELECT {MAPPED} FROM leads_aggr WHERE {where} ORDER BY id")
        return [tuple(str(v) if isinstance(v, datetime) else v for v in r) for r in cur.fetchall()]
    finally:
        db.close()


def _export(**params) -> dict:
    return export({"since": SINCE, **params}, "leads_flow_reverse_export", "manual__rollback")


@pytest.fixture
def writer(any_dbs, monkeypatch):
    """The leads_legacy_writer connection: on MariaDB a login with exactly the documented GRANTs."""
    if any_dbs.dialect == "sqlite":
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY_WRITER", f"sqlite:///{any_dbs.legacy_name}")
        yield None
        return
    from tests.reliability import _support as S

    with S.login(any_dbs.legacy_name, WRITER_GRANT, table="leads_aggr") as login:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY_WRITER", login.uri)
        yield login


def test_round_trip_legacy_flow_rollback_gives_back_the_legacy_rows(any_dbs, writer, cipher, caplog):
    phones = _seed(any_dbs)
    original = _legacy(any_dbs)
    sync(DAY)
    flow_before = any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0]
    assert flow_before == N
    # cutover: leads 3.. exist only in leads_flow (deleted from legacy here); lead 9 is erased meanwhile
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id >= 3")
    with connected("leads_flow") as flow:
        erase_leads(flow, [9], "manual__erase")

    with caplog.at_level("DEBUG"):
        out = _export()

    assert out == {
        "since": SINCE,
        "until": None,
        "dry_run": False,
        "read": N - 1,  # the erased lead is not read
        "inserted": N - 3,
        "updated": 0,
        "unchanged": 2,  # leads 1 and 2: leads_aggr holds them at the same version
        "unreadable": 0,
    }
    fail_unless(_legacy(any_dbs) == [r for r in original if r[0] != 9], "leads_aggr differs from the original")
    text = caplog.text + json.dumps(out)
    fail_unless(not any(p in text or p[3:] in text for p in phones), "a phone appears in the logs or the result")

    # rerun: nothing new, the same values
    before = _legacy(any_dbs)
    again = _export()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, N - 1)
    fail_unless(_legacy(any_dbs) == before, "a rerun changed leads_aggr")

    # the written-back rows map to the very versions leads_flow holds: a sync changes nothing, journals nothing
    history = any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_history")[0][0]
    flow = flow_table(any_dbs)
    sync(DAY, run_id="manual__after_rollback")
    assert flow_table(any_dbs) == flow
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_history")[0][0] == history

    if writer is not None:  # the writer login can do nothing else
        import MySQLdb

        conn = writer.connect()
        try:
            with pytest.raises((MySQLdb.OperationalError, MySQLdb.ProgrammingError)) as denied:
                conn.cursor().execute("DELETE FROM leads_aggr WHERE id = 1")
            assert denied.value.args[0] == 1142
            with pytest.raises((MySQLdb.OperationalError, MySQLdb.ProgrammingError)) as denied:
                conn.cursor().execute("UPDATE leads_aggr SET sales_name = 'x' WHERE id = 1")
            assert denied.value.args[0] in (1142, 1143)
        finally:
            conn.close()


def test_a_lead_changed_only_in_flow_is_updated_and_a_newer_legacy_write_wins(any_dbs, writer, cipher):
    phones = _seed(any_dbs)
    sync(DAY)
    # a column leads_flow does not carry (update_time kept: its ON UPDATE CURRENT_TIMESTAMP would make it newer)
    any_dbs.legacy_exec("UPDATE leads_aggr SET sales_name = 'kept', update_time = update_time WHERE id = 2")
    online = {
        "id": 2,
        "phone": phones[1],
        "unionId": f"o{2:016x}WX",
        "window_url": "https://m.example.cn/lp/2?ch=gdt",
        "ip_address": "58.1.2.3",
        "user_agent": "Mozilla/5.0 test",
        "from_channel": "douyin",
        "has_tool": 1,
        "is_group": 1,
        "join_time": datetime(2026, 11, 20, 8, 2),
        "leads_type": 1,
        "main_business_id": 2,
        "create_time": datetime(2026, 11, 20, 8, 2),
        "update_time": datetime(2026, 11, 21, 10),
        "is_deleted": 0,
    }
    with connected("leads_flow") as flow:
        submit.submit_lead(flow, cipher, online, etl_run_id="svc-after-cutover")  # written to flow only
    # lead 7: legacy was written after the flow version (e.g. the rollback already switched the services back)
    any_dbs.legacy_exec(
        "UPDATE leads_aggr SET from_channel = 'legacy_newer', update_time = '2026-11-22 09:00:00' WHERE id = 7"
    )
    legacy7 = _legacy(any_dbs, "id = 7")

    dry = _export(dry_run=True)
    assert (dry["inserted"], dry["updated"], dry["unchanged"]) == (0, 1, N - 1)
    assert _legacy(any_dbs, "id = 2")[0][6] == "wechat_ad"  # nothing written by the dry run

    out = _export()

    assert (out["inserted"], out["updated"], out["unchanged"]) == (0, 1, N - 1)
    [row] = _legacy(any_dbs, "id = 2")
    assert row[2:12] == (
        f"o{2:016x}WX",
        "https://m.example.cn/lp/2?ch=gdt",
        "58.1.2.3",
        "Mozilla/5.0 test",
        "douyin",
        1,
        1,
        "2026-11-20 08:02:00",
        1,
        2,
    )
    assert row[13] == "2026-11-21 10:00:00" and row[12] == "2026-11-20 08:02:00"  # create_time kept
    fail_unless(row[1] == phones[1], "the phone written back is not the lead's")
    db = any_dbs.legacy()
    try:
        cur = db.conn.cursor()
        cur.execute("SELECT sales_name FROM leads_aggr WHERE id = 2")
        assert cur.fetchall()[0][0] == "kept"
    finally:
        db.close()
    assert _legacy(any_dbs, "id = 7") == legacy7  # the newer legacy write won
    assert _export(since="2026-11-21 11:00:00")["read"] == 0  # nothing in flow is that recent


def test_parameters_are_checked():
    from airflow.sdk.exceptions import AirflowFailException

    for params in (
        {},
        {"since": "yesterday"},
        {"since": SINCE, "until": "2026-11-19"},
        {"since": SINCE, "batch_size": 0},
    ):
        with pytest.raises(AirflowFailException):
            export(params, "leads_flow_reverse_export", "manual__bad")


# --- the reversed field rules, on generated legacy rows ----------------------------------------------


def test_leads_type_and_phone_reverse():
    assert LEGACY_TYPES == {"normal": 0, "internal": 1}
    assert legacy_phone("+8613800138000") == "13800138000" and legacy_phone("+14155550100") == "+14155550100"


_TIMES = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 11, 20, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0)
)
_TEXT = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    union=_TEXT,
    url=_TEXT,
    ua=_TEXT,
    channel=_TEXT,
    ip=st.sampled_from([None, "58.1.2.3", " 10.0.0.1 ", "::ffff:172.16.0.9", "unknown", "2408:8207::1"]),
    has_tool=st.sampled_from([None, 0, 1]),
    is_group=st.sampled_from([None, 0, 1]),
    leads_type=st.sampled_from([0, 1]),
    business=st.one_of(st.none(), st.integers(1, 10_000)),
    join=st.one_of(st.none(), _TIMES),
    created=_TIMES,
    updated_after=st.one_of(st.none(), st.integers(0, 10**6)),
    deleted=st.sampled_from([0, 1]),
    with_phone=st.booleans(),
)
def test_reversed_rows_map_to_the_same_flow_row(
    cipher,
    seed,
    union,
    url,
    ua,
    channel,
    ip,
    has_tool,
    is_group,
    leads_type,
    business,
    join,
    created,
    updated_after,
    deleted,
    with_phone,
):
    """legacy → rules → flow row → reversed → rules again gives the same flow row (same fingerprint): what the
    rollback writes back is, for the pipeline and for reconcile, the version leads_flow holds."""
    phone = random_mobile(random.Random(seed)) if with_phone else None
    updated = None if updated_after is None else created + timedelta(seconds=updated_after)
    legacy = dict(
        id=7,
        phone=phone,
        unionId=union if with_phone else (union or "oUNION"),
        window_url=url,
        ip_address=ip,
        user_agent=ua,
        from_channel=channel,
        has_tool=has_tool,
        join_time=join,
        create_time=created,
        leads_type=leads_type,
        is_group=is_group,
        main_business_id=business,
        is_deleted=deleted,
        update_time=updated,
    )
    end = datetime(2026, 11, 30)
    mapper = Mapper(cipher, Settings.from_env(), end, "prop", datetime(2026, 11, 30))
    first = mapper.map_rows([tuple(legacy[c] for c in LEGACY_COLUMNS)])
    if first.rejects:
        return  # a rejected lead never reached leads_flow: nothing to roll back
    flow = dict(zip(STAGE_COLUMNS, first.staged[0]))
    back = legacy_values(flow, None if flow["phone_cipher"] is None else cipher.decrypt(flow["phone_cipher"]))
    second = mapper.map_rows([tuple(back[c] for c in LEGACY_COLUMNS)])
    assert not second.rejects
    again = dict(zip(STAGE_COLUMNS, second.staged[0]))
    same = {c for c in STAGE_COLUMNS if c not in ("phone_cipher", "etl_run_id", "etl_loaded_at")}
    fail_unless(all(again[c] == flow[c] for c in same), "the reversed row maps to another flow row")

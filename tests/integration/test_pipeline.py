"""The sync pipeline on real databases (MariaDB and SQLite): rows, reasons, decrypted values, reruns."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from leads_flow.io import stage
from leads_flow.io.retry import TransientDbError, is_duplicate_key
from leads_flow.tasks import sync as pipeline
from leads_flow.window import Partition
from tests.helpers import flow_table, insert, legacy_row, sync

# Generated phones (not real subscribers).
P1, P2, P3 = "13912345678", "15887654321", "18611112222"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def crafted() -> list[tuple]:
    d = datetime(2026, 11, 20, 10)
    return [
        legacy_row(phone=f"{P1[:3]} {P1[3:7]} {P1[7:]}", update_time=d),  # 1 ok
        legacy_row(phone=f"+86-{P2}", unionId=" oU2 ", ip_address="unknown, 10.0.0.1", update_time=d),  # 2 ok
        legacy_row(
            phone=P3.translate(FULL_WIDTH),
            window_url=f"https://x.cn/?tel={P3}",
            update_time=None,
            create_time=datetime(2026, 11, 20, 7),
        ),  # 3 ok, create_time
        legacy_row(phone="12345", update_time=d),  # 4 phone_invalid
        legacy_row(phone=None, unionId=None, has_tool=3, update_time=d),  # 5 two reasons
        legacy_row(phone=None, unionId="oU6", join_time=None, update_time=d),  # 6 ok, no phone
        legacy_row(phone=P1, update_time=datetime(2026, 11, 19, 10)),  # 7 other day
    ]


def test_crafted_rows_land_row_for_row(any_dbs, cipher):
    insert(any_dbs, crafted())
    [res] = sync("2026-11-20", max_reject_ratio=0.5)
    assert res["dry_run"] is False
    rows = {
        r[0]: r
        for r in any_dbs.flow_rows(
            "SELECT lead_id, phone_cipher, phone_bidx, phone_masked, union_id, ip_address, window_url, join_time "
            "FROM leads_flow"
        )
    }
    assert sorted(rows) == [1, 2, 3, 6]
    assert cipher.decrypt(rows[1][1]) == "+86" + P1 and rows[1][2] == cipher.bidx("+86" + P1)
    assert cipher.decrypt(rows[2][1]) == "+86" + P2 and rows[2][4] == "oU2" and rows[2][5] == "10.0.0.1"
    assert cipher.decrypt(rows[3][1]) == "+86" + P3 and rows[3][3] == "186****2222"
    assert P3 not in rows[3][6] and "186****2222" in rows[3][6]
    assert rows[6][1] is None and rows[6][4] == "oU6" and str(rows[6][7]).startswith("2026-11-20 08:00")
    rejects = dict(any_dbs.flow_rows("SELECT lead_id, reasons FROM leads_flow_reject"))
    assert rejects == {4: "phone_invalid", 5: "flag_invalid,no_identity"}
    [run] = any_dbs.flow_rows("SELECT status, extracted, staged, rejected, gate_success FROM leads_flow_run")
    assert tuple(run) == ("published", 6, 4, 2, 1)


def test_rerun_is_idempotent_and_backfill_equals_one_range_run(any_dbs):
    insert(any_dbs, crafted())
    sync("2026-11-19", "2026-11-20", max_reject_ratio=0.5)
    first = any_dbs.flow_rows("SELECT lead_id, phone_cipher, etl_run_id FROM leads_flow ORDER BY lead_id")
    one_run = flow_table(any_dbs)
    sync("2026-11-19", "2026-11-20", run_id="manual__again", max_reject_ratio=0.5)
    assert any_dbs.flow_rows("SELECT lead_id, phone_cipher, etl_run_id FROM leads_flow ORDER BY lead_id") == first
    # day-by-day, out of order, gives the same table as one range run
    db = any_dbs.flow()
    db.conn.cursor().execute("DELETE FROM leads_flow")
    db.conn.commit()
    db.close()
    sync("2026-11-20", run_id="backfill__d2", max_reject_ratio=0.5)
    sync("2026-11-19", run_id="backfill__d1", max_reject_ratio=0.5)
    assert flow_table(any_dbs) == one_run


def test_newer_wins_when_a_stale_run_publishes_last(any_dbs, cipher):
    insert(any_dbs, [legacy_row(phone=P1, from_channel="old", update_time=datetime(2026, 11, 19, 12))])
    params = {"start_date": "2026-11-19", "end_date": "2026-11-19"}
    [part] = pipeline.plan(params, None, None)
    stale = pipeline.stage(part, params, "leads_flow_sync", "manual__slow")  # reads the old version
    any_dbs.legacy_exec(
        "UPDATE leads_aggr SET from_channel = 'new', phone = '"
        + P2
        + "', update_time = '2026-11-20 12:00:00' WHERE id = 1"
    )
    sync("2026-11-20")  # a later window publishes the new version first
    pipeline.publish(pipeline.gate(stale, params), params)  # then the slow run publishes the old one
    [(channel, token)] = any_dbs.flow_rows("SELECT from_channel, phone_cipher FROM leads_flow")
    assert channel == "new" and cipher.decrypt(token) == "+86" + P2


def test_failing_gate_publishes_nothing_and_says_why(any_dbs):
    insert(any_dbs, crafted())
    with pytest.raises(AirflowFailException, match="reject_ratio_within_limit"):
        sync("2026-11-20", max_reject_ratio=0.1)
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0] == 0
    [(status, ok, failed)] = any_dbs.flow_rows("SELECT status, gate_success, gate_failed_checks FROM leads_flow_run")
    assert (status, ok, failed) == ("gate_failed", 0, "reject_ratio_within_limit")


def test_dry_run_stages_and_gates_but_publishes_nothing(any_dbs):
    insert(any_dbs, crafted())
    [res] = sync("2026-11-20", dry_run=True, max_reject_ratio=0.5)
    assert res["dry_run"] is True
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0] == 0
    assert any_dbs.flow_rows("SELECT status FROM leads_flow_run")[0][0] == "dry_run"


def test_missing_required_column_fails_before_any_write(any_dbs):
    insert(any_dbs, crafted())
    any_dbs.legacy_exec("ALTER TABLE leads_aggr DROP COLUMN leads_type")
    with pytest.raises(AirflowFailException, match="leads_type"):
        sync("2026-11-20")
    tables = any_dbs.flow_rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        if any_dbs.dialect == "mysql"
        else "SELECT name FROM sqlite_master"
    )
    assert tables == []


def test_new_and_widened_legacy_columns_do_not_break_runs(mysql_dbs):
    insert(mysql_dbs, crafted())
    mysql_dbs.legacy_exec(
        "ALTER TABLE leads_aggr ADD COLUMN utm_source VARCHAR(64) NULL, MODIFY from_channel VARCHAR(255) NULL"
    )
    sync("2026-11-20", max_reject_ratio=0.5)
    assert mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0] == 4


@pytest.mark.parametrize(
    "tamper, check",
    [
        ("UPDATE {t} SET user_agent = 'Mozilla tel:" + P1 + "' WHERE lead_id = 1", "plaintext_mobile"),
        ("UPDATE {t} SET union_id = 'o-" + P2 + "-x' WHERE lead_id = 2", "plaintext_mobile"),
        ("INSERT INTO {t} SELECT * FROM {t} WHERE lead_id = 1", "lead_id_not_unique_or_null"),
        ("UPDATE {t} SET phone_bidx = NULL WHERE lead_id = 1", "phone_cipher_without_bidx"),
        ("UPDATE {t} SET has_tool = 7 WHERE lead_id = 1", "flag_not_0_1_null"),
        ("UPDATE {t} SET ip_address = 'not-an-ip' WHERE lead_id = 1", "ip_address_invalid"),
        ("UPDATE {t} SET phone_cipher = 'e2:x' WHERE lead_id = 1", "phone_cipher_not_e1"),
    ],
)
def test_gate_catches_what_the_mapping_should_never_stage(any_dbs, tamper, check):
    insert(any_dbs, crafted())
    params = {"start_date": "2026-11-20", "end_date": "2026-11-20", "max_reject_ratio": 0.5}
    [part] = pipeline.plan(params, None, None)
    staged = pipeline.stage(part, params, "leads_flow_sync", "manual__tamper")
    db = any_dbs.flow()
    try:
        db.conn.cursor().execute(tamper.format(t=staged["stage_table"]))
    except Exception as exc:  # noqa: BLE001 - MySQL's staging table is keyed by lead_id: it refuses a duplicate
        assert any_dbs.dialect == "mysql" and check == "lead_id_not_unique_or_null" and is_duplicate_key(exc)
        return
    finally:
        db.conn.commit()
        db.close()
    with pytest.raises(AirflowFailException, match=check):
        pipeline.gate(staged, params)
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0] == 0
    [(failed,)] = any_dbs.flow_rows("SELECT gate_failed_checks FROM leads_flow_run")
    assert check in failed.split(",")


def test_a_day_without_changes_publishes_nothing_and_passes(any_dbs):
    insert(any_dbs, crafted())
    [res] = sync("2026-11-25")
    assert res["published"] == 0
    assert any_dbs.flow_rows("SELECT status, extracted, gate_success FROM leads_flow_run") == [("published", 0, 1)]


@pytest.mark.parametrize("share", [0.0, 1.0])  # primary-key scan slices, or index-range time slices
def test_both_extraction_strategies_stage_the_same_rows(mysql_dbs, monkeypatch, share):
    from leads_flow.io import slices

    monkeypatch.setattr(slices, "SCAN_SHARE", share)
    insert(
        mysql_dbs,
        crafted()
        + [legacy_row(phone=f"1391234{i:04d}", update_time=datetime(2026, 11, 20, i % 24)) for i in range(200)],
    )
    sync("2026-11-20", max_reject_ratio=0.5)
    assert mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")[0][0] == 204
    assert mysql_dbs.flow_rows("SELECT extracted, staged FROM leads_flow_run") == [(206, 204)]


def test_a_lead_read_twice_fails_the_stage_transiently_not_the_gate(mysql_dbs, cipher):
    """An update can move a lead from one time slice to another while they are read: the keyed staging
    table refuses the second copy and the stage reads again (a transient error, retried), instead of
    the gate failing the run for a duplicate."""
    insert(mysql_dbs, crafted())
    params = {"start_date": "2026-11-20", "end_date": "2026-11-20", "max_reject_ratio": 0.5}
    [part] = pipeline.plan(params, None, None)
    staged = pipeline.stage(part, params, "leads_flow_sync", "manual__twice")
    window = Partition.from_dict(part)
    again = stage._Job(
        window,
        window,
        staged["etl_run_id"],
        staged["stage_table"],
        pipeline.settings_from(params),
        "leads_legacy",
        "leads_flow",
        datetime.now(),
    )
    with pytest.raises(TransientDbError, match="read twice"):
        stage._run_job(again, cipher, None)

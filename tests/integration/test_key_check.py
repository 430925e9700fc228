"""Key check values : a key swapped behind an existing kid, or an active kid nobody registered,
fails the next plan and every task that uses the keys before anything is written; scripts/register_keys.py
registers a rotation's new kid. Real MariaDB and SQLite."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.conftest import BIDX_ROOT, BOTH, ENC2, ENC_ROOT, keyring_extra, rotation_extra
from tests.helpers import insert, legacy_row, sync

DAY = "2026-11-20"


def _rows(n: int = 20, hour: int = 9) -> list[tuple]:
    return [legacy_row(phone=f"1391234{i:04d}", update_time=datetime(2026, 11, 20, hour)) for i in range(n)]


def _counts(dbs) -> tuple[int, int]:
    [(flow,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")
    [(runs,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_run")
    return flow, runs


def _set_keyring(monkeypatch, extra: dict) -> None:
    from leads_flow.io.keyring import load_keyring

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": extra}))
    load_keyring.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_keyring_cache():
    from leads_flow.io.keyring import load_keyring

    load_keyring.cache_clear()
    yield
    load_keyring.cache_clear()


@pytest.mark.parametrize("ring", ["enc", "bidx"])
def test_a_key_swapped_behind_its_kid_fails_the_next_run_naming_the_kid_and_writes_nothing(any_dbs, monkeypatch, ring):
    insert(any_dbs, _rows())
    sync(DAY)  # first use: the check values of kid 1 of both rings are recorded
    recorded = any_dbs.flow_rows("SELECT ring, kid FROM leads_flow_key_check ORDER BY ring")
    assert [tuple(r) for r in recorded] == [("bidx", "1"), ("enc", "1")]
    before = _counts(any_dbs)
    other = bytes(range(200, 232))
    _set_keyring(monkeypatch, keyring_extra(enc=other) if ring == "enc" else keyring_extra(bidx=other))
    insert(any_dbs, [legacy_row(phone="13912349999", update_time=datetime(2026, 11, 20, 10))])
    with pytest.raises(AirflowFailException, match=rf"kid '1' of the {ring} ring is not the key recorded") as err:
        sync(DAY, run_id="manual__swapped")
    assert "check value" in str(err.value) and other.hex() not in str(err.value)
    assert _counts(any_dbs) == before  # nothing written: no flow row, no run row


def test_the_ops_patch_an_active_kid_nobody_registered_fails_until_it_is_registered(any_dbs, monkeypatch, capsys):
    """The attack of issue 21: kid 1 kept, kid 2 (a key the attacker knows) added and made active."""
    from scripts import register_keys

    insert(any_dbs, _rows())
    sync(DAY)
    before = _counts(any_dbs)
    patched = rotation_extra({"1": ENC_ROOT, "2": ENC2}, {"1": BIDX_ROOT}, "1") | {"active_enc_kid": "2"}
    _set_keyring(monkeypatch, patched)
    with pytest.raises(AirflowFailException, match=r"active kid '2' of the enc ring was never registered"):
        sync(DAY, run_id="manual__patched")
    assert _counts(any_dbs) == before
    # the stage task of an already planned run refuses too (it loads the keyring itself)
    from leads_flow.tasks import sync as pipeline

    p = {"start_date": DAY, "end_date": DAY}
    part = {"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00", "overlap_minutes": 60}
    with pytest.raises(AirflowFailException, match="never registered"):
        pipeline.stage(part, p, "leads_flow_sync", "manual__patched_stage")
    # whoever holds the flow database's credentials compares the check value and registers the kid
    assert register_keys.main([]) == 0
    shown = capsys.readouterr().out
    assert "enc:2 (active)" in shown and "not registered" in shown and ENC2.hex() not in shown
    assert register_keys.main(["--register", "enc:2"]) == 0
    insert(any_dbs, [legacy_row(phone="13912348888", update_time=datetime(2026, 11, 20, 11))])
    out = sync(DAY, run_id="manual__registered")
    assert all(r["published"] >= 0 for r in out)
    [(kid,)] = any_dbs.flow_rows(
        "SELECT DISTINCT phone_enc_kid FROM leads_flow WHERE etl_run_id = ?"
        if any_dbs.dialect == "sqlite"
        else "SELECT DISTINCT phone_enc_kid FROM leads_flow WHERE etl_run_id = %s",
        ("manual__registered@2026-11-20T00:00",),
    )
    assert kid == "2"


def test_a_registered_key_is_never_replaced_and_a_rotation_registers_its_new_kid(any_dbs, use_keyring):
    from scripts import register_keys

    insert(any_dbs, _rows())
    sync(DAY)
    use_keyring(BOTH)  # the runbook: kid 2 added and active, registered by the operator (the fixture does it)
    sync(DAY, run_id="manual__rotated")
    rows = any_dbs.flow_rows("SELECT ring, kid, recorded_by FROM leads_flow_key_check ORDER BY ring, kid")
    assert [tuple(r)[:2] for r in rows] == [("bidx", "1"), ("bidx", "2"), ("enc", "1"), ("enc", "2")]
    use_keyring(
        rotation_extra({"1": bytes(range(150, 182)), "2": ENC2}, {"1": BIDX_ROOT, "2": BIDX_ROOT[::-1]}, "2"),
        register=False,
    )
    assert register_keys.main(["--register", "enc:1"]) == 2  # already registered with another key: refused
    with pytest.raises(AirflowFailException, match="kid '1' of the enc ring is not the key recorded"):
        sync(DAY, run_id="manual__swapped_old")

"""Erasure (issue #12): tombstones, rejects and staged rows gone, no resurrection, lookup by phone, the script.

Phones are generated (devkit.seed.random_mobile). Checks that involve a phone never put it in a failure
message (``_fail_unless``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from leads_flow.io.connect import connected
from leads_flow.lifecycle.erase import erase_leads, lead_ids_for_phones, scrub_stage, stage_tables
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.keyring import Keyring
from leads_flow.tasks import sync as pipeline
from tests.conftest import BIDX_ROOT, ENC_ROOT, ROOT
from tests.helpers import distinct_phones, fail_unless, flow_table, insert, legacy_row, sync

DAY = "2026-11-20"
PERSONAL = ("phone_cipher", "phone_bidx", "phone_bidx_kid", "phone_masked", "union_id", "ip_address", "user_agent")
PERSONAL_SQL = ", ".join((*PERSONAL, "window_url", "content_hash"))
PARAMS = {"max_reject_ratio": 0.5}


def _seed(dbs, seed: int = 11) -> list[str]:
    """Leads 1-6 with generated phones (lead 6 shares lead 3's phone), lead 7 rejected (invalid phone)."""
    phones = distinct_phones(5, seed)
    phones.append(phones[2])
    rows = [
        legacy_row(
            phone=p,
            unionId=f"o{i:016x}WX",
            update_time=datetime(2026, 11, 20, 9, i),
        )
        for i, p in enumerate(phones, start=1)
    ]
    rows.append(legacy_row(phone="12345", update_time=datetime(2026, 11, 20, 10)))
    insert(dbs, rows)
    return phones


def _flow_row(dbs, lead_id: int, columns: str = PERSONAL_SQL) -> tuple | None:
    rows = dbs.flow_rows(f"SELECT {columns} FROM leads_flow WHERE lead_id = {int(lead_id)}")
    return tuple(rows[0]) if rows else None


def _erasures(dbs) -> list[tuple]:
    return [tuple(r) for r in dbs.flow_rows("SELECT lead_id, requested_by FROM leads_flow_erasure ORDER BY lead_id")]


def _rejects_of(dbs, lead_id: int) -> int:
    return dbs.flow_rows(f"SELECT COUNT(*) FROM leads_flow_reject WHERE lead_id = {int(lead_id)}")[0][0]


def _erase(ids: list[int], who: str) -> dict[str, int]:
    with connected("leads_flow") as flow:
        return erase_leads(flow, ids, who)


def _no_phone_in(text: str, phones: list[str], where: str) -> None:
    for p in phones:
        fail_unless(p not in text and p[3:] not in text and p[-8:] not in text, f"a phone appears in {where}")


def _sync_scrubbed(run_id: str) -> None:
    """The sync's stage → gate → scrub_stage → publish, with the guard where the publish will call it."""
    p = {"start_date": DAY, "end_date": DAY, **PARAMS}
    for part in pipeline.plan(p, None, None):
        gated = pipeline.gate(pipeline.stage(part, p, "leads_flow_sync", run_id), p)
        with connected("leads_flow") as flow, flow.transaction():
            scrub_stage(flow, gated["stage_table"], gated["etl_run_id"])
        pipeline.publish(gated, p)


def test_erase_leaves_tombstones_and_removes_rejects(any_dbs):
    phones = _seed(any_dbs)
    sync(DAY, **PARAMS)
    before = {r[0]: r for r in flow_table(any_dbs)}
    assert sorted(before) == [1, 2, 3, 4, 5, 6] and _rejects_of(any_dbs, 7) == 1

    counts = _erase([2, 7], "manual__erase_1")

    assert counts == {
        "requested": 2,
        "recorded": 2,
        "already_erased": 0,
        "tombstoned": 1,
        "rejects_deleted": 1,
        "staged_deleted": 0,
    }
    assert _flow_row(any_dbs, 2) == (None,) * 9
    [(deleted, updated_at, join_time)] = any_dbs.flow_rows(
        "SELECT is_deleted, source_updated_at, join_time FROM leads_flow WHERE lead_id = 2"
    )
    assert deleted == 1
    assert (str(updated_at), str(join_time)) == (str(before[2][-1]), str(before[2][10]))  # timestamps kept
    assert _rejects_of(any_dbs, 7) == 0
    # the other leads are untouched
    after = {r[0]: r for r in flow_table(any_dbs)}
    assert {k: v for k, v in after.items() if k != 2} == {k: v for k, v in before.items() if k != 2}
    assert all(v is not None for v in _flow_row(any_dbs, 1))
    assert _erasures(any_dbs) == [(2, "manual__erase_1"), (7, "manual__erase_1")]
    erased_at = any_dbs.flow_rows("SELECT erased_at FROM leads_flow_erasure")
    assert len(erased_at) == 2 and all(r[0] is not None for r in erased_at)
    _no_phone_in(repr(any_dbs.flow_rows("SELECT * FROM leads_flow_erasure")), phones, "leads_flow_erasure")


def test_erasing_twice_is_a_no_op(any_dbs):
    _seed(any_dbs)
    sync(DAY, **PARAMS)
    _erase([2, 7], "manual__erase_1")
    flow, erasures = flow_table(any_dbs), any_dbs.flow_rows("SELECT * FROM leads_flow_erasure ORDER BY lead_id")

    counts = _erase([7, 2, 2], "manual__erase_2")

    assert counts == {
        "requested": 2,
        "recorded": 0,
        "already_erased": 2,
        "tombstoned": 0,
        "rejects_deleted": 0,
        "staged_deleted": 0,
    }
    assert flow_table(any_dbs) == flow
    assert any_dbs.flow_rows("SELECT * FROM leads_flow_erasure ORDER BY lead_id") == erasures  # first record kept


def test_a_later_sync_does_not_resurrect(any_dbs):
    phones = _seed(any_dbs)
    sync(DAY, **PARAMS)
    _erase([2, 7], "manual__erase_1")
    # The legacy rows change after the erasure (newer wins would overwrite the tombstone), and lead 3 too,
    # which proves the second sync does publish.
    any_dbs.legacy_exec(
        "UPDATE leads_aggr SET update_time = ?, user_agent = ? WHERE id IN (2, 3, 7)".replace(
            "?", "%s" if any_dbs.dialect == "mysql" else "?"
        ),
        (datetime(2026, 11, 20, 11), "Mozilla/5.0 changed"),
    )

    _sync_scrubbed("manual__rerun")

    assert _flow_row(any_dbs, 2) == (None,) * 9
    assert any_dbs.flow_rows("SELECT is_deleted FROM leads_flow WHERE lead_id = 2") == [(1,)]
    assert _flow_row(any_dbs, 3, "user_agent, is_deleted") == ("Mozilla/5.0 changed", 0)
    assert _flow_row(any_dbs, 7) is None
    assert _rejects_of(any_dbs, 7) == 0  # rejected again by the rerun, and cleared
    runs = any_dbs.flow_rows("SELECT etl_run_id, status FROM leads_flow_run ORDER BY started_at")
    assert [(r[0].split("@")[0], r[1]) for r in runs] == [("manual__test", "published"), ("manual__rerun", "published")]
    _no_phone_in(repr(any_dbs.flow_rows("SELECT * FROM leads_flow_reject")), phones, "leads_flow_reject")


def test_erase_removes_rows_of_staging_tables(any_dbs):
    _seed(any_dbs)
    p = {"start_date": DAY, "end_date": DAY, **PARAMS}
    [part] = pipeline.plan(p, None, None)
    gated = pipeline.gate(pipeline.stage(part, p, "leads_flow_sync", "manual__staged"), p)
    table = gated["stage_table"]
    with connected("leads_flow") as flow:
        assert stage_tables(flow) == [table]  # the gate's audit table is not one

    counts = _erase([2, 4], "ticket-1")

    assert (counts["staged_deleted"], counts["tombstoned"], counts["recorded"]) == (2, 0, 2)
    assert any_dbs.flow_rows(f"SELECT lead_id FROM {table} ORDER BY lead_id") == [(1,), (3,), (5,), (6,)]
    pipeline.publish(gated, p)
    assert [r[0] for r in flow_table(any_dbs)] == [1, 3, 5, 6]


def test_lead_ids_for_phones_under_an_old_bidx_kid(any_dbs):
    phones = _seed(any_dbs)
    sync(DAY, **PARAMS)  # indexed under bidx kid "1"
    rotated = PhoneCipher(Keyring({"1": ENC_ROOT}, "1", {"1": BIDX_ROOT, "2": bytes(range(64, 96))}, "2"))
    assert rotated.active_bidx_kid == "2"
    assert any_dbs.flow_rows("SELECT DISTINCT phone_bidx_kid FROM leads_flow") == [("1",)]
    stats: dict[str, int] = {}
    unknown = distinct_phones(8, 99)[-1]
    typed = [f"+86 {phones[2][:3]} {phones[2][3:7]} {phones[2][7:]}", phones[4], "12345", unknown]
    fail_unless(unknown not in phones, "generated phones collide")

    with connected("leads_flow") as flow:
        ids = lead_ids_for_phones(flow, rotated, typed, stats=stats)

    assert ids == [3, 5, 6]  # lead 6 has lead 3's phone
    assert stats == {"phones": 4, "invalid": 1, "unmatched": 1}
    # tombstones have no phone left to find
    _erase([3], "ticket-2")
    with connected("leads_flow") as flow:
        assert lead_ids_for_phones(flow, rotated, typed[:1]) == [6]


def test_lead_ids_for_phones_logs_no_phone(any_dbs, cipher, caplog):
    phones = _seed(any_dbs)
    sync(DAY, **PARAMS)
    caplog.set_level("DEBUG")
    with connected("leads_flow") as flow:
        assert lead_ids_for_phones(flow, cipher, phones[:2]) == [1, 2]
    _no_phone_in(caplog.text, phones, "the log")


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_script_erases_phones_from_a_file(request, dialect, tmp_path):
    dbs = request.getfixturevalue(f"{dialect}_dbs")
    phones = _seed(dbs)
    sync(DAY, **PARAMS)
    file = tmp_path / "phones.txt"
    file.write_text(f"{phones[1]}\n\n  +86-{phones[3]}  \nnot a phone\n", encoding="utf-8")

    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "erase.py"), str(file), "--requested-by", "ticket-4711"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=ROOT,
        timeout=120,
    )

    _no_phone_in(proc.stdout + proc.stderr, phones, "the script's output")
    fail_unless(proc.returncode == 0, f"scripts/erase.py exited {proc.returncode}")
    out = json.loads(proc.stdout)
    assert out["lead_ids"] == [2, 4]
    assert (out["phones"], out["invalid"], out["unmatched"]) == (3, 1, 0)
    assert (out["recorded"], out["tombstoned"]) == (2, 2)
    assert _flow_row(dbs, 2) == (None,) * 9 and _flow_row(dbs, 4) == (None,) * 9
    assert _erasures(dbs) == [(2, "ticket-4711"), (4, "ticket-4711")]

"""The change journal leads_flow_history (issue #15), on MariaDB and SQLite: written by the publish and by the
online submit_lead, one row per distinct version (reruns add nothing), read back by reads.history, removed by
erasure, moved by key rotation.

Phones are generated (devkit.seed.random_mobile); checks that involve a phone never print it (_fail_unless).
"""

from __future__ import annotations

from datetime import datetime

from leads_flow import reads, submit
from leads_flow.io.connect import connected
from leads_flow.lifecycle.erase import erase_leads
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.keyring import Keyring
from tests.conftest import BOTH, ONLY_NEW
from tests.helpers import distinct_phones, fail_unless, insert, legacy_row, sync

DAY, DAY2 = "2026-11-20", "2026-11-21"
T1 = datetime(2026, 11, 20, 9, 0)


def _seed(dbs, n: int = 4, day: int = 20) -> list[str]:
    """Leads 1..n on 2026-11-<day>, each with a generated phone."""
    phones = distinct_phones(n, day)
    insert(
        dbs,
        [
            legacy_row(
                phone=p,
                unionId=f"o{i:016x}WX",
                join_time=datetime(2026, 11, day, 8),
                create_time=datetime(2026, 11, day, 8),
                update_time=datetime(2026, 11, day, 9, i),
            )
            for i, p in enumerate(phones, start=1)
        ],
    )
    return phones


def _legacy_update(dbs, lead_id: int, **values) -> None:
    ph = "%s" if dbs.dialect == "mysql" else "?"
    sets = ", ".join(f"{k} = {ph}" for k in values)
    dbs.legacy_exec(f"UPDATE leads_aggr SET {sets} WHERE id = {int(lead_id)}", tuple(values.values()))


def _count(dbs, where: str = "1 = 1") -> int:
    return dbs.flow_rows(f"SELECT COUNT(*) FROM leads_flow_history WHERE {where}")[0][0]


def _history(lead_id: int) -> list[reads.Lead]:
    with connected("leads_flow") as db:
        return reads.history(db, lead_id)


def _flow_lead(dbs, lead_id: int) -> reads.Lead:
    [row] = dbs.flow_rows(f"SELECT {', '.join(reads.LEAD_COLUMNS)} FROM leads_flow WHERE lead_id = {int(lead_id)}")
    return reads.Lead.from_row(tuple(row))


def test_publish_records_each_version_once_and_reruns_add_nothing(any_dbs):
    _seed(any_dbs)
    sync(DAY, run_id="manual__first")
    assert _count(any_dbs) == 4
    assert sorted(r[0] for r in any_dbs.flow_rows("SELECT lead_id FROM leads_flow_history")) == [1, 2, 3, 4]
    # the journal holds the phone only as token, blind index, kid and mask, like leads_flow
    for lead_id in range(1, 5):
        [version] = _history(lead_id)
        assert version == _flow_lead(any_dbs, lead_id)
        assert version.phone_cipher.startswith("e1:1:") and version.phone_bidx_kid == "1"
        assert "****" in version.phone_masked
        assert version.etl_run_id.startswith("manual__first@")

    sync(DAY, run_id="manual__first")  # the same run again
    sync(DAY, run_id="manual__second")  # another run over the same window
    assert _count(any_dbs) == 4
    assert all(h.etl_run_id.startswith("manual__first@") for i in range(1, 5) for h in _history(i))  # untouched


def test_a_changed_lead_gets_a_second_version_in_order(any_dbs):
    _seed(any_dbs)
    sync(DAY)
    _legacy_update(any_dbs, 2, from_channel="gdt_feed", update_time=datetime(2026, 11, 20, 15))
    sync(DAY, run_id="manual__resync")

    versions = _history(2)
    assert [v.from_channel for v in versions] == ["baidu_sem", "gdt_feed"]
    assert [v.source_updated_at for v in versions] == [datetime(2026, 11, 20, 9, 2), datetime(2026, 11, 20, 15)]
    assert versions[-1] == _flow_lead(any_dbs, 2)  # the newest version is the published row
    assert versions[1].etl_run_id.startswith("manual__resync@")
    assert versions[0].phone_bidx == versions[1].phone_bidx  # same phone, same index
    assert _count(any_dbs) == 5  # the other leads did not change
    # a same-timestamp change of content is a version of its own, recorded after the one it replaced
    _legacy_update(any_dbs, 2, is_group=1, update_time=datetime(2026, 11, 20, 15))
    sync(DAY, run_id="manual__same_ts")
    assert [(v.from_channel, v.is_group) for v in _history(2)] == [
        ("baidu_sem", False),
        ("gdt_feed", False),
        ("gdt_feed", True),
    ]


def test_submit_lead_records_its_version_and_the_sync_of_the_same_row_adds_nothing(any_dbs, cipher):
    [phone] = _seed(any_dbs, n=1)
    sync(DAY)
    assert len(_history(1)) == 1
    online = {
        "id": 1,
        "phone": phone,
        "unionId": f"o{1:016x}WX",
        "window_url": "https://m.example.cn/lp/1",
        "ip_address": "58.1.2.3",
        "user_agent": "Mozilla/5.0 test",
        "from_channel": "wechat_ad",
        "has_tool": 1,
        "is_group": 0,
        "join_time": datetime(2026, 11, 20, 8),
        "leads_type": 0,
        "main_business_id": 3,
        "create_time": datetime(2026, 11, 20, 8),
        "update_time": datetime(2026, 11, 20, 18),
        "is_deleted": 0,
    }
    with connected("leads_flow") as db:
        assert submit.submit_lead(db, cipher, online, etl_run_id="svc-leads") == submit.SUBMIT_WRITTEN
        assert submit.submit_lead(db, cipher, online, etl_run_id="svc-leads") == submit.SUBMIT_WRITTEN  # a retry
    versions = _history(1)
    assert [(v.from_channel, v.has_tool, v.etl_run_id) for v in versions][1:] == [("wechat_ad", True, "svc-leads")]
    assert len(versions) == 2
    # the dual write lands in leads_aggr too; the sync of that legacy row is the same version: nothing added
    _legacy_update(any_dbs, 1, from_channel="wechat_ad", has_tool=1, update_time=datetime(2026, 11, 20, 18))
    sync(DAY, run_id="manual__after_online")
    assert len(_history(1)) == 2
    assert _history(1)[-1].etl_run_id == "svc-leads"


def test_erasure_removes_the_history_and_keeps_the_tombstone(any_dbs):
    _seed(any_dbs)
    sync(DAY)
    _legacy_update(any_dbs, 3, from_channel="gdt_feed", update_time=datetime(2026, 11, 20, 15))
    sync(DAY, run_id="manual__resync")
    assert len(_history(3)) == 2

    with connected("leads_flow") as flow:
        erase_leads(flow, [3], "manual__erase")

    assert _history(3) == [] and _count(any_dbs, "lead_id = 3") == 0
    assert [
        (r[0], r[1]) for r in any_dbs.flow_rows("SELECT is_deleted, phone_cipher FROM leads_flow WHERE lead_id = 3")
    ] == [(1, None)]
    assert _count(any_dbs) == 3  # the other leads keep theirs
    sync(DAY, run_id="manual__after_erase")  # no resurrection in the journal either
    assert _count(any_dbs, "lead_id = 3") == 0 and _count(any_dbs) == 3


def test_rekey_moves_the_history_to_the_active_kids(any_dbs, use_keyring):
    from leads_flow.io.keyring import load_keyring
    from leads_flow.lifecycle.rekey import rekey

    def run(run_id: str) -> dict:  # batches of 2 leads: several batches, lead 1's two versions in one
        return rekey(load_keyring(), run_id, flow_conn_id="leads_flow", batch_size=2).to_dict()

    phones = {i: "+86" + p for i, p in enumerate(_seed(any_dbs, n=3, day=20), start=1)}
    phones.update({i: "+86" + p for i, p in enumerate(_seed(any_dbs, n=3, day=21), start=4)})
    sync(DAY, DAY2)
    _legacy_update(any_dbs, 1, from_channel="gdt_feed", update_time=datetime(2026, 11, 20, 15))
    sync(DAY, run_id="manual__resync")
    assert _count(any_dbs) == 7 and _count(any_dbs, "phone_bidx_kid = '1'") == 7

    use_keyring(BOTH)  # kid 2 becomes active; the sync of day 2 records its leads again under the new index
    sync(DAY2, run_id="manual__new_kid")
    assert _count(any_dbs) == 10 and _count(any_dbs, "phone_bidx_kid = '2'") == 3

    out = run("manual__rekey")

    assert out["before"]["leads_flow_history"] == {"enc": {"1": 7, "2": 3}, "bidx": {"1": 7, "2": 3}}
    assert out["after"]["leads_flow_history"] == {"enc": {"2": 7}, "bidx": {"2": 7}}
    assert out["moved"]["leads_flow_history"] == 7  # 4 moved, 3 duplicates of day 2 deleted
    assert out["unreadable"]["leads_flow_history"] == 0
    new = PhoneCipher(Keyring.from_extra(ONLY_NEW))
    rows = any_dbs.flow_rows("SELECT lead_id, phone_cipher, phone_bidx, phone_bidx_kid FROM leads_flow_history")
    bad = [
        r[0]
        for r in rows
        if not (r[1].startswith("e1:2:") and new.decrypt(r[1]) == phones[r[0]] and r[2] == new.bidx(phones[r[0]]))
        or r[3] != "2"
    ]
    fail_unless(bad == [], f"{len(bad)} journal row(s) not under kid 2")
    assert [v.from_channel for v in _history(1)] == ["baidu_sem", "gdt_feed"]

    # the fingerprints were recomputed: syncing everything again under kid 2 adds no version
    use_keyring(ONLY_NEW)
    sync(DAY, DAY2, run_id="manual__after_rekey")
    assert _count(any_dbs) == 7
    second = run("manual__rekey2")
    assert second["moved"].get("leads_flow_history", 0) == 0

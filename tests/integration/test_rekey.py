"""Key rotation (leads_flow_rekey, issue #12): every token and blind index moves to the active kids, on MariaDB
and SQLite; dry run, rerun, a concurrent newer write, and the kid check of the sync's plan.

Generated phones only; assertions compare values without printing them."""

from __future__ import annotations

import json
import random
import re

import pytest

from devkit.seed import random_mobile
from leads_flow.rules.phone import normalize
from tests.conftest import BOTH, ONLY_NEW

N_FLOW, N_REJECT = 250, 7
N_REJECT_INDEXED = (N_REJECT + 1) // 2  # rejects whose raw phone is valid: their blind index is stored


def _cipher(extra: dict):
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    return PhoneCipher(Keyring.from_extra(extra))


def _q(dbs, sql: str) -> str:
    return sql.replace("?", "%s") if dbs.dialect == "mysql" else sql


def _exec(dbs, sql: str, rows: list[tuple]) -> None:
    db = dbs.flow()
    try:
        db.conn.cursor().executemany(_q(dbs, sql), rows)
        db.conn.commit()
    finally:
        db.close()


def seed(dbs, cipher, n_flow: int = N_FLOW, n_reject: int = N_REJECT) -> tuple[dict[int, str], dict[int, str]]:
    """leads_flow and leads_flow_reject rows under the old kid ("1"); returns the phones and raw phones by id."""
    from leads_flow.io.schema import ensure_flow_schema

    db = dbs.flow()
    try:
        ensure_flow_schema(db)
    finally:
        db.close()
    rng = random.Random(12)
    phones = {i: "+86" + random_mobile(rng) for i in range(1, n_flow + 1)}
    flow_rows = []
    for i, e164 in phones.items():
        p = cipher.protect(e164)
        flow_rows.append((i, p.cipher, p.bidx, p.bidx_kid, p.masked, "2026-11-20 09:00:00"))
    flow_rows.append((n_flow + 1, None, None, None, None, "2026-11-20 09:00:00"))  # no phone: nothing to move
    _exec(
        dbs,
        "INSERT INTO leads_flow (lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, source_updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        flow_rows,
    )
    # Even: a valid phone rejected for another field (its blind index stored); odd: an invalid phone as typed.
    raws = {10_000 + i: random_mobile(rng)[: 11 if i % 2 == 0 else 9] for i in range(n_reject)}
    reject_rows = []
    for i, (lead_id, raw) in enumerate(raws.items()):
        bidx, kid = (cipher.bidx("+86" + raw), "1") if i % 2 == 0 else (None, None)
        values = {"id": lead_id, "phone": cipher.encrypt_raw(raw), "from_channel": "baidu_sem"}
        why = "union_id_invalid" if bidx is not None else "phone_invalid"
        reject_rows.append(
            (f"run@{i % 3}", lead_id, why, json.dumps(values), "2026-11-20 09:00:00", bidx, kid, "2026-11-20 09:05:00")
        )
    reject_rows.append(
        ("run@0", 20_000, "phone_missing", json.dumps({"id": 20_000, "phone": None}), None, None, None, "2026-11-20")
    )
    _exec(
        dbs,
        "INSERT INTO leads_flow_reject (etl_run_id, lead_id, reasons, raw_values, source_updated_at, phone_bidx, "
        "phone_bidx_kid, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        reject_rows,
    )
    return phones, raws


def flow_state(dbs) -> list[tuple]:
    return dbs.flow_rows(
        "SELECT lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked FROM leads_flow ORDER BY lead_id"
    )


def reject_state(dbs) -> list[tuple]:
    return dbs.flow_rows(
        "SELECT etl_run_id, lead_id, raw_values, phone_bidx, phone_bidx_kid FROM leads_flow_reject "
        "ORDER BY etl_run_id, lead_id"
    )


def assert_all_under_new_kid(dbs, phones: dict[int, str], raws: dict[int, str]) -> None:
    """Every token decrypts with a cipher that holds kid 2 only; every index is kid 2's HMAC of the phone."""
    new = _cipher(ONLY_NEW)
    bad = []
    for lead_id, token, bidx, bidx_kid, _masked in flow_state(dbs):
        if lead_id not in phones:
            assert (token, bidx, bidx_kid) == (None, None, None)
            continue
        ok = (
            token.startswith("e1:2:")
            and new.decrypt(token) == phones[lead_id]
            and bidx_kid == "2"
            and bidx == new.bidx(phones[lead_id])
        )
        if not ok:
            bad.append(lead_id)
    assert bad == [], f"{len(bad)} leads_flow row(s) not under kid 2"
    seen = 0
    for _run, lead_id, raw, bidx, bidx_kid in reject_state(dbs):
        phone = json.loads(raw)["phone"]
        if lead_id not in raws:
            assert phone is None
            continue
        seen += 1
        assert phone.startswith("e1:2:") and new.decrypt_raw(phone) == raws[lead_id], lead_id
        # A stored blind index is the new kid's HMAC of the normalised raw phone.
        assert bidx is None or (bidx_kid, bidx) == ("2", new.bidx(normalize(raws[lead_id]))), lead_id
    assert seen == len(raws)


def run(**params) -> dict:
    from leads_flow.tasks.rekey import rekey_task

    hook = params.pop("before_update", None)
    return rekey_task(params, "leads_flow_rekey", params.pop("run_id", "manual__rekey"), before_update=hook)


def test_rekey_moves_every_token_and_index(any_dbs, cipher, use_keyring):
    phones, raws = seed(any_dbs, cipher)
    use_keyring(BOTH)
    out = run(batch_size=100)
    assert out["before"] == {
        "leads_flow": {"enc": {"1": N_FLOW}, "bidx": {"1": N_FLOW}},
        "leads_flow_reject": {"enc": {"1": N_REJECT}, "bidx": {"1": N_REJECT_INDEXED}},
    }
    assert out["after"] == {
        "leads_flow": {"enc": {"2": N_FLOW}, "bidx": {"2": N_FLOW}},
        "leads_flow_reject": {"enc": {"2": N_REJECT}, "bidx": {"2": N_REJECT_INDEXED}},
    }
    assert out["moved"] == {"leads_flow": N_FLOW, "leads_flow_reject": N_REJECT}
    assert out["skipped_newer"] == {"leads_flow": 0, "leads_flow_reject": 0}
    assert out["unreadable"] == {"leads_flow": 0, "leads_flow_reject": 0}
    json.dumps(out)  # XCom-safe
    assert_all_under_new_kid(any_dbs, phones, raws)
    audit = any_dbs.flow_rows(
        "SELECT phase, table_name, key_kind, kid, row_count, active_kid FROM leads_flow_key_audit "
        "ORDER BY phase DESC, table_name, key_kind"
    )
    assert [tuple(r) for r in audit] == [
        ("before", "leads_flow", "bidx", "1", N_FLOW, "2"),
        ("before", "leads_flow", "enc", "1", N_FLOW, "2"),
        ("before", "leads_flow_reject", "bidx", "1", N_REJECT_INDEXED, "2"),
        ("before", "leads_flow_reject", "enc", "1", N_REJECT, "2"),
        ("after", "leads_flow", "bidx", "2", N_FLOW, "2"),
        ("after", "leads_flow", "enc", "2", N_FLOW, "2"),
        ("after", "leads_flow_reject", "bidx", "2", N_REJECT_INDEXED, "2"),
        ("after", "leads_flow_reject", "enc", "2", N_REJECT, "2"),
    ]
    masks = [r[4] for r in flow_state(any_dbs) if r[0] in phones]
    assert all(m and "****" in m for m in masks)  # the mask is untouched


def test_dry_run_writes_nothing(any_dbs, cipher, use_keyring):
    seed(any_dbs, cipher)
    flow0, rejects0 = flow_state(any_dbs), reject_state(any_dbs)
    use_keyring(BOTH)
    out = run(dry_run=True)
    assert out["dry_run"] is True and out["moved"] == {"leads_flow": 0, "leads_flow_reject": 0}
    assert out["before"]["leads_flow"]["enc"] == {"1": N_FLOW} and out["after"] == out["before"]
    assert flow_state(any_dbs) == flow0 and reject_state(any_dbs) == rejects0
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_key_audit") == [(0,)]


def test_rerun_is_a_no_op(any_dbs, cipher, use_keyring):
    phones, raws = seed(any_dbs, cipher)
    use_keyring(BOTH)
    first = run(batch_size=100, run_id="manual__first")
    assert first["moved"] == {"leads_flow": N_FLOW, "leads_flow_reject": N_REJECT}
    flow1, rejects1 = flow_state(any_dbs), reject_state(any_dbs)
    second = run(batch_size=100, run_id="manual__second")
    assert second["moved"] == {"leads_flow": 0, "leads_flow_reject": 0}
    assert second["before"] == second["after"] == first["after"]
    assert flow_state(any_dbs) == flow1 and reject_state(any_dbs) == rejects1  # not even re-encrypted
    assert_all_under_new_kid(any_dbs, phones, raws)


def test_resumes_after_a_partial_run(mysql_dbs, cipher, use_keyring):
    """A run killed midway (here: the hook raises in the third batch) leaves a mix; the next run finishes it."""
    phones, raws = seed(mysql_dbs, cipher)
    use_keyring(BOTH)
    batches = []

    def kill(table, rows):
        batches.append(table)
        if len(batches) == 3:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        run(batch_size=100, before_update=kill)
    enc_kids = dict(mysql_dbs.flow_rows("SELECT LEFT(phone_cipher, 5), COUNT(*) FROM leads_flow GROUP BY 1"))
    assert enc_kids == {"e1:1:": N_FLOW - 200, "e1:2:": 200, None: 1}
    out = run(batch_size=100)
    assert out["moved"] == {"leads_flow": N_FLOW - 200, "leads_flow_reject": N_REJECT}
    assert_all_under_new_kid(mysql_dbs, phones, raws)


def test_concurrent_newer_write_wins(any_dbs, cipher, use_keyring):
    phones, raws = seed(any_dbs, cipher)
    use_keyring(BOTH)
    writer = _cipher(BOTH)  # a sync publishing a newer phone for lead 5 (and a reject) after the batch was read
    rng = random.Random(99)
    newer_phone = "+86" + random_mobile(rng)
    newer = writer.protect(newer_phone)
    newer_raw_phone = random_mobile(rng)[:-3]
    newer_raw = json.dumps({"id": 10_001, "phone": writer.encrypt_raw(newer_raw_phone), "from_channel": "x"})
    done = set()

    def concurrent_write(table, rows):
        if table in done:
            return
        done.add(table)
        db = any_dbs.flow()
        try:
            cur = db.conn.cursor()
            if table == "leads_flow":
                assert 5 in [r[0] for r in rows]
                cur.execute(
                    _q(
                        any_dbs,
                        "UPDATE leads_flow SET phone_cipher = ?, phone_bidx = ?, phone_bidx_kid = ? WHERE lead_id = 5",
                    ),
                    (newer.cipher, newer.bidx, newer.bidx_kid),
                )
            else:
                assert 10_001 in [r[1] for r in rows]
                cur.execute(
                    _q(any_dbs, "UPDATE leads_flow_reject SET raw_values = ? WHERE lead_id = 10001"), (newer_raw,)
                )
            db.conn.commit()
        finally:
            db.close()

    out = run(batch_size=100, before_update=concurrent_write)
    assert out["skipped_newer"] == {"leads_flow": 1, "leads_flow_reject": 1}
    assert out["moved"] == {"leads_flow": N_FLOW - 1, "leads_flow_reject": N_REJECT - 1}
    [(token, bidx, kid)] = any_dbs.flow_rows(
        "SELECT phone_cipher, phone_bidx, phone_bidx_kid FROM leads_flow WHERE lead_id = 5"
    )
    assert (token, bidx, kid) == (newer.cipher, newer.bidx, newer.bidx_kid)  # the newer write, untouched
    [(raw,)] = any_dbs.flow_rows("SELECT raw_values FROM leads_flow_reject WHERE lead_id = 10001")
    assert raw == newer_raw
    assert_all_under_new_kid(any_dbs, {**phones, 5: newer_phone}, {**raws, 10_001: newer_raw_phone})


def test_check_kids_held_names_the_missing_kid(any_dbs, cipher, use_keyring):
    from airflow.sdk.exceptions import AirflowFailException

    from leads_flow.io.kids import check_kids_held, kids_in_use
    from leads_flow.rules.keyring import Keyring, KeyringError

    seed(any_dbs, cipher)
    only_new, both = Keyring.from_extra(ONLY_NEW), Keyring.from_extra(BOTH)
    db = any_dbs.flow()
    try:
        assert kids_in_use(db) == (frozenset({"1"}), frozenset({"1"}))
        with pytest.raises(KeyringError, match=r"enc kid '1'.*bidx kid '1'"):
            check_kids_held(db, only_new)
        check_kids_held(db, both)
    finally:
        db.close()
    use_keyring(ONLY_NEW)  # the old kid removed too early: the rekey itself refuses, naming it, before writing
    flow0 = flow_state(any_dbs)
    with pytest.raises(AirflowFailException, match="enc kid '1'"):
        run()
    assert flow_state(any_dbs) == flow0
    use_keyring(BOTH)
    run(batch_size=100)
    db = any_dbs.flow()
    try:
        assert kids_in_use(db) == (frozenset({"2"}), frozenset({"2"}))
        check_kids_held(db, only_new)  # passes after the rekey
    finally:
        db.close()


@pytest.mark.parametrize("bad", [99, 50_001, "5000", True, None])
def test_batch_size_is_checked(bad):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="batch_size"):
        run(batch_size=bad)


def test_plan_fails_fast_naming_a_kid_no_longer_held(any_dbs, cipher, use_keyring):
    """The sync's own plan: an old kid removed while rows (tokens, blind indexes, reject tokens) still use it
    fails the plan, without retries, naming the kid; after the rekey the old kid can go."""
    from airflow.sdk.exceptions import AirflowFailException

    from leads_flow.tasks import sync as pipeline

    def plan() -> list[dict]:
        return pipeline.plan({"start_date": "2026-11-20", "end_date": "2026-11-20"}, None, None)

    seed(any_dbs, cipher)
    use_keyring(ONLY_NEW)
    with pytest.raises(AirflowFailException, match=r"enc kid '1'.*bidx kid '1'"):
        plan()
    use_keyring(BOTH)
    assert len(plan()) == 1  # both kids held: the plan goes on
    run(batch_size=100)
    use_keyring(ONLY_NEW)
    assert len(plan()) == 1  # after the rekey the old kid can go


def test_run_report_shows_the_rekey_audit(any_dbs, cipher, use_keyring):
    """The report's key-rotation page and API: rows per kid before and after each rekey run, gated by read
    access to leads_flow_rekey."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from leads_flow.report.views import create_app

    seed(any_dbs, cipher)
    use_keyring(BOTH)
    run(batch_size=100, run_id="manual__report")
    readers: set[str] = {"leads_flow_rekey"}
    parent = FastAPI()
    parent.mount("/leads-flow", create_app(key_readers=lambda: frozenset(readers)))
    with TestClient(parent) as c:
        page = c.get("/leads-flow/keys")
        assert page.status_code == 200
        html = page.text
        assert "leads_flow_rekey@manual__report" in html and "every row under the active kids" in html
        row = r'<td>after</td><td class="mono">leads_flow</td><td>enc</td>\s*<td class="mono">2</td><td class="num">'
        assert re.search(row + str(N_FLOW) + "<", html)
        [rotation] = c.get("/leads-flow/api/keys").json()["rotations"]
        assert rotation["active"] == {"enc": "2", "bidx": "2"} and rotation["left_off_active"] == 0
        before = {
            (x["table_name"], x["key_kind"], x["kid"]): x["row_count"]
            for x in rotation["counts"]
            if x["phase"] == "before"
        }
        assert before[("leads_flow", "enc", "1")] == N_FLOW and before[("leads_flow_reject", "enc", "1")] == N_REJECT
        readers.clear()
        assert c.get("/leads-flow/keys").status_code == 403
        assert c.get("/leads-flow/api/keys").status_code == 403

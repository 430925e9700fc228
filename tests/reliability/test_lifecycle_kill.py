"""SIGKILL in the middle of a key rotation and of an erasure (issue #12), on MariaDB.

The task process is killed for real (a forked process, like a task under Airflow's supervisor) while it is
between batches; afterwards no row is half-changed (a phone token and its blind index move together; a lead
is erased with all its data and its record, or not at all) and a rerun completes the work.
"""

from __future__ import annotations

import time

import pytest

from leads_flow.io.connect import connected
from tests.conftest import BOTH
from tests.integration.test_rekey import _cipher, assert_all_under_new_kid, flow_state, seed
from tests.reliability import _support as S

pytestmark = pytest.mark.mysql
N = 3000


def _kid(token: str | None) -> str | None:
    return None if token is None else token.split(":")[1]


def test_sigkill_mid_rekey_leaves_no_half_moved_row_and_a_rerun_completes(mysql_dbs, cipher, use_keyring):
    from leads_flow.tasks.rekey import rekey_task

    phones, raws = seed(mysql_dbs, cipher, n_flow=N)
    use_keyring(BOTH)
    watch = S.admin(mysql_dbs.flow_name)

    def slow(_table: str, _rows: list) -> None:
        time.sleep(0.05)  # between the read and the update of each batch: the kill lands mid-run

    with S.task(
        lambda: rekey_task({"batch_size": 100}, "leads_flow_rekey", "manual__killed", before_update=slow)
    ) as tk:
        moved = S.wait_for(
            lambda: S.scalar(watch, "SELECT COUNT(*) FROM leads_flow WHERE phone_bidx_kid = '2'") or None,
            60,
            "the rekey to move its first batch",
        )
        tk.kill()
        assert tk.proc.exitcode == -9
    at_kill = S.scalar(watch, "SELECT COUNT(*) FROM leads_flow WHERE phone_bidx_kid = '2'")
    assert 0 < moved <= at_kill < N, "the kill must land mid-rekey"
    both = _cipher(BOTH)
    half = []
    for lead_id, token, bidx, bidx_kid, _mask in flow_state(mysql_dbs):
        if lead_id not in phones:
            continue
        e164 = phones[lead_id]
        if _kid(token) != bidx_kid or both.decrypt(token) != e164 or bidx != both.bidx(e164, bidx_kid):
            half.append(lead_id)
    assert half == [], f"{len(half)} row(s) half-moved after the kill"
    out = rekey_task({"batch_size": 100}, "leads_flow_rekey", "manual__rerun")
    assert out["moved"]["leads_flow"] == N - at_kill
    assert_all_under_new_kid(mysql_dbs, phones, raws)


def test_sigkill_mid_erasure_erases_whole_leads_only_and_a_rerun_completes(mysql_dbs, cipher):
    from leads_flow.lifecycle import erase as erasure

    seed(mysql_dbs, cipher, n_flow=N)
    ids = list(range(1, N + 1))
    watch = S.admin(mysql_dbs.flow_name)
    real_batch = erasure._erase_batch

    def slow_batch(flow, chunk, who):
        time.sleep(0.05)
        return real_batch(flow, chunk, who)

    def erase_slowly() -> dict:
        erasure._erase_batch = slow_batch  # in the forked task process only
        with connected("leads_flow") as flow:
            return erasure.erase_leads(flow, ids, "manual__killed", batch=50)

    with S.task(erase_slowly) as tk:
        S.wait_for(lambda: S.scalar(watch, "SELECT COUNT(*) FROM leads_flow_erasure") or None, 60, "a first batch")
        tk.kill()
        assert tk.proc.exitcode == -9
    recorded = {r[0] for r in S.rows(watch, "SELECT lead_id FROM leads_flow_erasure")}
    assert 0 < len(recorded) < N, "the kill must land mid-erasure"
    rows = S.rows(watch, "SELECT lead_id, is_deleted, phone_cipher IS NULL, phone_bidx IS NULL FROM leads_flow")
    torn = [r[0] for r in rows if r[0] in ids and ((r[0] in recorded) != (r[1] == 1 and r[2] == 1 and r[3] == 1))]
    assert torn == [], f"{len(torn)} lead(s) erased in part"
    with connected("leads_flow") as flow:
        counts = erasure.erase_leads(flow, ids, "manual__rerun")
    assert counts["already_erased"] == len(recorded) and counts["recorded"] == N - len(recorded)
    assert (
        S.scalar(watch, "SELECT COUNT(*) FROM leads_flow WHERE phone_cipher IS NOT NULL AND lead_id <= %s", (N,)) == 0
    )

"""The daily hard-delete watch (issue #12): vanished legacy rows are marked deleted, a mass vanish marks nothing.

Runs on MariaDB and SQLite with leads published by the real sync; phones are generated.
"""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from devkit.seed import random_mobile
from leads_flow.io.connect import connected
from leads_flow.reconcile.deletes import MassVanish, watch_hard_deletes
from leads_flow.tasks import deletes as task
from tests.helpers import insert, legacy_row, sync

DAY = "2026-11-20"
N = 60


def _seed(dbs) -> None:
    rng = random.Random(7)
    insert(
        dbs,
        [legacy_row(phone=random_mobile(rng), update_time=datetime(2026, 11, 20, 9, i % 60)) for i in range(N)],
    )
    sync(DAY)
    assert dbs.flow_rows("SELECT COUNT(*) FROM leads_flow WHERE is_deleted = 0") == [(N,)]


def _deleted(dbs) -> list[int]:
    return [r[0] for r in dbs.flow_rows("SELECT lead_id FROM leads_flow WHERE is_deleted = 1 ORDER BY lead_id")]


def _watch(**kw):
    with connected("leads_flow") as flow, connected("leads_legacy") as legacy:
        return watch_hard_deletes(flow, legacy, "leads_aggr", "hard_deletes@test", **kw)


def test_vanished_leads_are_marked_and_nothing_else(any_dbs):
    _seed(any_dbs)
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id IN (5, 17)")
    res = _watch(max_share=0.05, chunk=7)  # chunks smaller than the table: ranges stitched correctly
    assert (res.compared, res.vanished, res.marked) == (N, 2, 2)
    assert _deleted(any_dbs) == [5, 17]
    kept = any_dbs.flow_rows(
        "SELECT phone_cipher IS NOT NULL, content_hash, etl_run_id FROM leads_flow WHERE lead_id = 5"
    )
    assert kept == [(1, None, "hard_deletes@test")]  # the row is kept, its fingerprint cleared
    # The next day: nothing new vanished, nothing marked again.
    again = _watch(max_share=0.05)
    assert (again.compared, again.vanished, again.marked) == (N - 2, 0, 0)


def test_mass_vanish_is_refused_and_marks_nothing(any_dbs):
    _seed(any_dbs)
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id > 10 AND id < 51")  # a partial read looks like this
    with pytest.raises(MassVanish, match="40 of 60"):
        _watch(max_share=0.10)
    assert _deleted(any_dbs) == []
    # An operator who checked the deletes are real raises the share for one run.
    res = _watch(max_share=1.0)
    assert res.marked == 40 and _deleted(any_dbs) == list(range(11, 51))


def test_a_missing_tail_counts_in_the_guard_but_is_never_marked(any_dbs):
    _seed(any_dbs)
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id > 20")  # a reload in progress: only the head is there
    with pytest.raises(MassVanish, match=r"40 of 60 .*0 vanished, 40 above its highest id 20"):
        _watch(max_share=0.10)
    res = _watch(max_share=1.0)
    assert (res.compared, res.beyond, res.marked) == (20, 40, 0) and _deleted(any_dbs) == []


def test_dry_run_and_leads_above_the_legacy_maximum(any_dbs):
    _seed(any_dbs)
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id = 3")
    # A lead written only to leads_flow (after a cutover) lies above the legacy maximum: never compared.
    any_dbs.legacy_exec(f"DELETE FROM leads_aggr WHERE id = {N}")
    res = _watch(max_share=0.05, dry_run=True)
    assert (res.compared, res.vanished, res.beyond, res.marked, res.legacy_max_id) == (N - 1, 1, 1, 0, N - 1)
    assert _deleted(any_dbs) == []


def test_task_fails_without_retries_on_a_mass_vanish(any_dbs, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    _seed(any_dbs)
    any_dbs.legacy_exec("DELETE FROM leads_aggr WHERE id <= 30")
    monkeypatch.setenv("LEADS_FLOW_VANISH_MAX_SHARE", "0.2")
    with pytest.raises(AirflowFailException, match="nothing was marked"):
        task.watch_task({}, "leads_flow_hard_deletes", "scheduled__2026-11-21")
    assert _deleted(any_dbs) == []
    out = task.watch_task({"max_vanish_share": 0.6}, "leads_flow_hard_deletes", "manual__2026-11-21")
    assert out["marked"] == 30 and _deleted(any_dbs) == list(range(1, 31))
    with pytest.raises(AirflowFailException, match="max_vanish_share"):
        task.watch_task({"max_vanish_share": 2}, "leads_flow_hard_deletes", "manual__x")

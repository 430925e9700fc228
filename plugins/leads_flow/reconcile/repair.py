"""Repair one window: re-sync its drifting leads through the sync's own partition runner.

:func:`repair_window` re-syncs the window's ``next_action`` ``repair`` and ``rewrite`` leads through
:class:`~leads_flow.pipeline.PartitionRun` (stage with ``ids`` → gate → publish: same mapping, same gate, same
newer-wins upsert, each batch audited in ``leads_flow_run``), then checks each repaired lead again and records
the outcome on its drift row.
``rewrite`` leads (content changed under a stored fingerprint equal to the legacy one, or a token that
is not the legacy phone) first have their stored ``content_hash`` cleared: the upsert rewrites a
same-timestamp row only when the fingerprints differ. ``flow_ahead`` is never overwritten (newer wins).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime

from leads_flow.config import Settings
from leads_flow.io import runlog
from leads_flow.io.connect import connected
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID, RECONCILE_DAG_ID
from leads_flow.pipeline import PartitionRun
from leads_flow.reconcile.model import REPAIR_BATCH, RepairResult
from leads_flow.reconcile.verify import verify_ids
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.window import Partition

log = logging.getLogger(__name__)


def repair_window(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    *,
    dag_id: str | None = RECONCILE_DAG_ID,
    dag_run_id: str | None = None,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    expected_rows: int | None = None,
    matched: int | None = None,
    batch: int = REPAIR_BATCH,
) -> RepairResult:
    """Re-sync the window's ``repair`` and ``rewrite`` leads through the sync's steps, then check each again.

    stage (:func:`~leads_flow.io.stage.stage_partition` with ``ids``; the window bounds join_time as in the
    sync) → the data-quality gate → publish (newer wins): a ``leads_flow_run`` row per batch, with this
    DAG's id, audits it like any sync run. The gate's reject ratio does not apply (a repair batch is a
    handful of chosen leads; one that the rules now reject is recorded in ``leads_flow_reject`` and is
    reported by the next compare). Every drift row gets ``repair_result``: ``fixed``, ``gone`` or the
    class still found.
    """
    t0 = time.perf_counter()
    run_id = runlog.short_id(run_id)
    out = RepairResult(run_id, partition.start.isoformat())
    with connected(flow_conn_id) as flow, flow.transaction():
        key = {"run_id": run_id, "window_start": partition.start}
        ids = [int(r[0]) for r in flow.query("reconcile_repair_ids", key)]
        if ids:
            flow.run("reconcile_invalidate_fingerprint", key)
    still: Counter = Counter()
    gate_settings = replace(settings, max_reject_ratio=1.0)
    for n, start in enumerate(range(0, len(ids), batch)):
        chunk = ids[start : start + batch]
        etl_run_id = runlog.short_id(
            f"{dag_run_id or run_id}@repair@{partition.start:%Y-%m-%dT%H:%M}" + (f"#{n}" if n else "")
        )
        run = PartitionRun(
            partition,
            etl_run_id,
            gate_settings,
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            legacy_conn_id=legacy_conn_id,
            flow_conn_id=flow_conn_id,
        )
        changed = run.run(cipher, ids=chunk)
        out.etl_run_ids.append(etl_run_id)
        out.published += changed
        results = verify_ids(
            partition, chunk, cipher, settings, legacy_conn_id=legacy_conn_id, flow_conn_id=flow_conn_id
        )
        done_at = datetime.now()
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.executemany(
                "reconcile_repair_result",
                [(etl_run_id, done_at, results[lid], run_id, partition.start, lid) for lid in chunk],
            )
        out.repaired += len(chunk)
        for lid in chunk:
            if results[lid] == "fixed":
                out.fixed += 1
            else:
                still[results[lid]] += 1
    out.still = dict(sorted(still.items()))
    if expected_rows:
        out.match_rate_after_repair = min(1.0, ((matched or 0) + out.fixed) / expected_rows)
    with connected(flow_conn_id) as flow, flow.transaction():
        flow.run(
            "reconcile_window_repaired",
            {
                "run_id": run_id,
                "window_start": partition.start,
                "repaired": out.repaired,
                "repair_fixed": out.fixed,
                "match_rate_after_repair": out.match_rate_after_repair,
            },
        )
    out.seconds = round(time.perf_counter() - t0, 3)
    log.info(
        "repair %s: %d lead(s) re-synced, %d fixed, still drifting %s, %d row change(s) published",
        partition.label,
        out.repaired,
        out.fixed,
        out.still or "none",
        out.published,
    )
    return out

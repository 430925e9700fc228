"""Publish: one transaction moves a gated staging table into leads_flow, newer data winning."""

from __future__ import annotations

import logging
import time

from leads_flow.config import ident
from leads_flow.io import runlog
from leads_flow.io.connect import connected
from leads_flow.io.db import Db
from leads_flow.io.retry import retrying
from leads_flow.names import FLOW_CONN_ID

log = logging.getLogger(__name__)


def publish_stage(
    stage_table: str,
    etl_run_id: str,
    timings: dict[str, float],
    *,
    dry_run: bool = False,
    flow_conn_id: str = FLOW_CONN_ID,
) -> int:
    """Upsert the staged rows, record their new versions in leads_flow_history and mark the run published,
    atomically; then drop the staging table.

    Readers see either none or all of the partition. Rerunning after a crash is safe: the upsert is
    idempotent and the run row says whether the commit happened. A retry after the commit (the
    connection or the task died before reporting success) finds the staging table gone and the run
    marked published, and succeeds without doing anything.
    """

    def once() -> int:
        t0 = time.perf_counter()
        with connected(flow_conn_id) as flow:
            if _already_published(flow, stage_table, etl_run_id):
                log.info("%s was already published and its staging table dropped: nothing left to do", etl_run_id)
                return 0
            changed = 0
            with flow.transaction():
                scrub_stage(flow, stage_table, etl_run_id)  # an erased lead is never published again
                if not dry_run:
                    changed = flow.run("publish", stage=stage_table)
                    flow.run("history_publish", stage=stage_table)  # the change journal, same transaction
                timings["publish_s"] = round(time.perf_counter() - t0, 3)
                runlog.published(flow, etl_run_id, dry_run=dry_run, changed=changed, timings=timings)
            drop_stage(flow, stage_table)
            return changed

    with runlog.recording(etl_run_id, flow_conn_id):  # a failure is recorded in the run's row
        return retrying(once, what=f"publish {etl_run_id}")


def _already_published(flow: Db, stage_table: str, etl_run_id: str) -> bool:
    """True when an earlier attempt committed this publish (its staging table is gone, its run row says so)."""
    try:
        if flow.query("table_columns", {"table": stage_table}):
            return False
        return runlog.is_done(flow, etl_run_id)
    finally:
        flow.conn.rollback()  # end the reads' transaction: the publish starts afresh


def drop_stage(flow: Db, stage_table: str) -> None:
    flow.run("stage_drop", stage=stage_table)
    flow.conn.commit()


def scrub_stage(flow_db: Db, stage_table: str, etl_run_id: str) -> dict[str, int]:
    """Resurrection guard: delete the staged rows and this run's rejects of erased leads.

    Does not commit: run it inside the publish's transaction, just before the upsert, so that a lead erased
    while its partition was staging is caught as well (the caller commits). Returns the counts
    ``staged_scrubbed`` and ``rejects_scrubbed``.
    """
    staged = flow_db.run("erasure_scrub_stage", stage=ident(stage_table))
    rejects = flow_db.run("erasure_clear_rejects", {"etl_run_id": etl_run_id})
    if staged or rejects:
        log.info(
            "%s: %d staged row(s) and %d reject(s) of erased leads removed before publishing",
            etl_run_id,
            staged,
            rejects,
        )
    return {"staged_scrubbed": max(staged, 0), "rejects_scrubbed": max(rejects, 0)}

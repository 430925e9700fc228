"""One window of the reconcile, run: the compare of :mod:`leads_flow.reconcile.compare` retried as one unit, its
``leads_flow_reconcile_run`` row written, and a failure recorded there."""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from datetime import datetime

from leads_flow.config import Settings
from leads_flow.io.connect import connected
from leads_flow.io.extract import check_legacy_schema
from leads_flow.io.retry import retrying
from leads_flow.io.runlog import short_id
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID
from leads_flow.reconcile.compare import WindowCompare, merge_streams
from leads_flow.reconcile.model import (
    ERASED,
    WINDOW_COUNTS,
    WindowResult,
    ensure_reconcile_schema,
)
from leads_flow.reconcile.rowmap import RowMapper
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.redact import reason_of
from leads_flow.window import Partition

log = logging.getLogger(__name__)


def reconcile_window(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    *,
    decrypt_sample: int = 0,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    now: datetime | None = None,
) -> WindowResult:
    """Compare one window; write its drift rows and its ``leads_flow_reconcile_run`` row; mark hard deletes.

    Safe to retry: the window's rows of this run are replaced, and marking a deleted lead twice is a no-op.
    """
    run_id = short_id(run_id)
    try:
        return retrying(
            lambda: _reconcile_once(
                partition,
                run_id,
                cipher,
                settings,
                decrypt_sample,
                dag_id,
                dag_run_id,
                legacy_conn_id,
                flow_conn_id,
                now,
            ),
            what=f"reconcile {partition.label}",
        )
    except Exception as exc:
        try:
            with connected(flow_conn_id) as flow, flow.transaction():
                flow.run(
                    "reconcile_window_failed",
                    {
                        "run_id": run_id,
                        "window_start": partition.start,
                        "error": reason_of(exc),
                        "now": datetime.now(),
                    },
                )
        except Exception:  # noqa: BLE001 - the original error matters more
            log.warning("could not record the failure of reconcile %s %s", run_id, partition.label)
        raise


def _reconcile_once(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    decrypt_sample: int,
    dag_id: str | None,
    dag_run_id: str | None,
    legacy_conn_id: str,
    flow_conn_id: str,
    now: datetime | None,
) -> WindowResult:
    t0 = time.perf_counter()
    now = now or datetime.now()
    res = WindowResult(run_id, partition.start.isoformat(), partition.end.isoformat())
    with ExitStack() as stack:
        # MySQL: a server-side cursor owns its connection until exhausted, so each stream gets its own and
        # lookups and writes use a third and fourth. SQLite: one connection per file (a second writer would
        # wait for our own open read).
        legacy_stream = stack.enter_context(connected(legacy_conn_id))
        flow_stream = stack.enter_context(connected(flow_conn_id))
        legacy = legacy_stream if legacy_stream.dialect == "sqlite" else stack.enter_context(connected(legacy_conn_id))
        flow = flow_stream if flow_stream.dialect == "sqlite" else stack.enter_context(connected(flow_conn_id))
        check_legacy_schema(legacy, settings)
        ensure_reconcile_schema(flow)
        with flow.transaction():
            flow.run(
                "reconcile_window_start",
                {
                    "run_id": run_id,
                    "window_start": partition.start,
                    "window_end": partition.end,
                    "dag_id": dag_id,
                    "dag_run_id": dag_run_id,
                    "now": now,
                },
            )
        cmp = WindowCompare(
            cipher=cipher,
            settings=settings,
            partition=partition,
            run_id=run_id,
            legacy=legacy,
            flow=flow,
            res=res,
            decrypt_sample=decrypt_sample,
            now=now,
        )
        mapper = RowMapper(cipher, settings, partition, f"reconcile:{run_id}")
        legacy_items = cmp.legacy_items(legacy_stream, mapper)
        for item, flow_row in merge_streams(legacy_items, cmp.flow_rows(flow_stream)):
            cmp.pair(item, flow_row)
        cmp.finish()
        res.seconds = round(time.perf_counter() - t0, 3)
        with flow.transaction():
            if res.marked_deleted:
                flow.run(
                    "reconcile_mark_deleted",
                    {
                        "run_id": run_id,
                        "window_start": partition.start,
                        "etl_run_id": short_id(f"reconcile:{run_id}"),
                        "now": now,
                    },
                )
            flow.run(
                "reconcile_window_done",
                {
                    **{k: v for k, v in res.to_dict().items() if k in WINDOW_COUNTS},
                    "match_rate": res.match_rate,
                    "drift_by_class": json.dumps(
                        {**res.drift, **({ERASED: res.erased} if res.erased else {})}, sort_keys=True
                    ),
                    "seconds": res.seconds,
                    "now": datetime.now(),
                    "run_id": run_id,
                    "window_start": partition.start,
                },
            )
    rate = "n/a" if res.match_rate is None else f"{res.match_rate:.4%}"
    log.info(
        "reconcile %s: legacy=%d flow=%d expected=%d matched=%d match rate %s; drift %s; erased=%d; flow_moved=%d; "
        "decrypt sample %d/%d ok; %.1fs (%.0f rows/s)",
        partition.label,
        res.legacy_rows,
        res.flow_rows,
        res.expected_rows,
        res.matched,
        rate,
        res.drift or "none",
        res.erased,
        res.flow_moved,
        res.phone_sampled - res.phone_sample_failed,
        res.phone_sampled,
        res.seconds,
        res.legacy_rows / max(res.seconds, 1e-9),
    )
    return res

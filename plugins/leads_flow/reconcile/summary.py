"""The run's summary: its windows summed into one ``leads_flow_reconcile_run`` row, cutover readiness judged."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime
from typing import Any

from leads_flow.io.connect import connected
from leads_flow.io.db import as_datetime
from leads_flow.io.runlog import short_id
from leads_flow.names import BLOCKING, DRIFT_CLASSES, FLOW_CONN_ID, RECONCILE_DAG_ID
from leads_flow.reconcile.model import ACTION_WAIT, ERASED, OPEN_ACTIONS, WINDOW_COUNTS, ensure_reconcile_schema

log = logging.getLogger(__name__)


def summarize(
    run_id: str,
    *,
    dag_id: str | None = RECONCILE_DAG_ID,
    dag_run_id: str | None = None,
    flow_conn_id: str = FLOW_CONN_ID,
    started_at: datetime | None = None,
) -> dict[str, Any]:
    """Sum the run's windows into its ``scope = 'run'`` row, judge cutover readiness, log it; return it.

    ``open_drift`` counts drift rows still needing action: blocking classes not fixed by a repair, hard
    deletes still in their grace period. ``cutover_ready`` is true when every window compared, there was
    something to compare, and nothing is open.
    """
    run_id = short_id(run_id)
    t0 = time.perf_counter()
    with connected(flow_conn_id) as flow:
        ensure_reconcile_schema(flow)
        [tot] = flow.query("reconcile_totals", {"run_id": run_id})
        classes = flow.query("reconcile_classes", {"run_id": run_id})
    windows = int(tot[0] or 0)
    names = (*WINDOW_COUNTS, "repaired", "repair_fixed")
    s: dict[str, Any] = {k: int(v or 0) for k, v in zip(names, tot[3 : 3 + len(names)])}
    unfinished = int(tot[3 + len(names)] or 0)
    by_class: dict[str, dict[str, int]] = {}
    open_by_class: Counter = Counter()
    erased = 0  # not drift: counted apart, kept in drift_by_class, never open
    for cls, action, result, n in classes:
        if cls == ERASED:
            erased += int(n)
        key = action + (f":{result}" if result else "")
        by_class.setdefault(cls, {})[key] = int(n)
        if action in OPEN_ACTIONS and result != "fixed" and (cls in BLOCKING or action == ACTION_WAIT):
            open_by_class[cls] += int(n)
    expected = s["expected_rows"]
    match_rate = s["matched"] / expected if expected else None
    after = min(1.0, (s["matched"] + s["repair_fixed"]) / expected) if expected and s["repaired"] else None
    open_drift = sum(open_by_class.values())
    ready = bool(windows and not unfinished and expected and open_drift == 0)
    window_start = as_datetime(tot[1])
    window_end = as_datetime(tot[2])
    status = "done" if not unfinished else "incomplete"
    summary = {
        "reconcile_run_id": run_id,
        "windows": windows,
        "unfinished_windows": unfinished,
        "window_start": window_start.isoformat() if window_start else None,
        "window_end": window_end.isoformat() if window_end else None,
        **s,
        ERASED: erased,
        "match_rate": match_rate,
        "match_rate_after_repair": after,
        "open_drift": open_drift,
        "open_by_class": dict(sorted(open_by_class.items())),
        "drift_by_class": by_class,
        "cutover_ready": ready,
        "status": status,
    }
    if windows:
        now = datetime.now()
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.run(
                "reconcile_run_write",
                {
                    "run_id": run_id,
                    "window_start": window_start,
                    "window_end": window_end,
                    "dag_id": dag_id,
                    "dag_run_id": dag_run_id,
                    "status": status,
                    "windows": windows,
                    **s,
                    "match_rate": match_rate,
                    "match_rate_after_repair": after,
                    "open_drift": open_drift,
                    "cutover_ready": int(ready),
                    "drift_by_class": json.dumps(by_class, sort_keys=True),
                    "seconds": round(time.perf_counter() - t0, 3),
                    "now": started_at or now,
                },
            )
    fmt = lambda r: "n/a" if r is None else f"{r:.4%}"  # noqa: E731
    log.info(
        "reconcile %s over [%s, %s), %d window(s): legacy=%d expected=%d matched=%d match rate %s%s",
        run_id,
        summary["window_start"],
        summary["window_end"],
        windows,
        s["legacy_rows"],
        expected,
        s["matched"],
        fmt(match_rate),
        f", after repair {fmt(after)}" if after is not None else "",
    )
    for cls in DRIFT_CLASSES:
        if s[cls]:
            log.info("  %-18s %8d  %s", cls, s[cls], by_class.get(cls, {}))
    log.info(
        "  erased=%d (not drift) flow_moved=%d marked_deleted=%d decrypt sample %d checked, %d failed",
        erased,
        s["flow_moved"],
        s["marked_deleted"],
        s["phone_sampled"],
        s["phone_sample_failed"],
    )
    log.info(
        "cutover readiness for this range: %s%s",
        "READY" if ready else "NOT READY",
        f" (open drift: {dict(open_by_class)})"
        if open_drift
        else (" (unfinished windows)" if unfinished else (" (nothing to compare)" if not expected else "")),
    )
    return summary

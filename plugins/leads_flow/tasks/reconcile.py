"""The reconcile as the DAG's tasks run it: plan → (compare → repair) per daily window → summary.

Each function takes and returns small JSON-able metadata, never row data, so XCom carries only that.
The tests call the same functions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from leads_flow.config import TZ, ConfigError, drift_retention_days
from leads_flow.io.cleanup import purge_drift
from leads_flow.io.connect import connected
from leads_flow.io.db import Db, as_datetime
from leads_flow.io.retry import retrying
from leads_flow.names import FLOW_CONN_ID, SYNC_DAG_ID
from leads_flow.reconcile.model import MAX_DECRYPT_SAMPLE as MAX_DECRYPT_SAMPLE
from leads_flow.reconcile.model import RepairResult, ensure_reconcile_schema
from leads_flow.reconcile.repair import repair_window
from leads_flow.reconcile.summary import summarize
from leads_flow.reconcile.window import reconcile_window
from leads_flow.tasks import failure, metrics, notify
from leads_flow.tasks.boundary import checked_cipher, failing_fast, plan_partitions, settings_from
from leads_flow.window import Partition, resolve_window

log = logging.getLogger(__name__)


def _day(d: datetime) -> datetime:
    return datetime.combine(d.date(), datetime.min.time())


def sync_runs_of(events: Mapping[Any, Sequence[Any]] | None) -> list[str]:
    """The leads_flow_sync run ids behind an asset-triggered run's ``triggering_asset_events`` (in order, once
    each); empty for a run that no sync triggered."""
    out: dict[str, None] = {}
    for evs in (events or {}).values():
        for e in evs:
            if getattr(e, "source_dag_id", None) == SYNC_DAG_ID and getattr(e, "source_run_id", None):
                out[str(e.source_run_id)] = None
    return list(out)


def published_days(flow: Db, sync_runs: Sequence[str], now: datetime | None = None) -> list[date]:
    """The local days the partitions published by these sync runs touch, before today (a day still being
    written is never compared), in order; empty when they published nothing (e.g. dry runs) or only today."""
    today = (now or datetime.now(TZ)).astimezone(TZ).date()
    days: set[date] = set()
    for rid in sync_runs:
        for start, end in flow.query("cutover_sync_windows", {"dag_id": SYNC_DAG_ID, "dag_run_id": rid}):
            first, last = as_datetime(start), as_datetime(end)
            d = first.date()
            while datetime.combine(d, datetime.min.time()) < last and d < today:
                days.add(d)
                d += timedelta(days=1)
    return sorted(days)


def resolve_reconcile_window(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
    now: datetime | None = None,
    *,
    published: tuple[datetime, datetime] | None = None,
) -> tuple[datetime, datetime]:
    """The range to compare: the params' dates first; then, for a run triggered by the sync's Asset, the days
    the triggering sync runs published (``published``: from the first to the last of :func:`published_days`,
    which :func:`plan` then keeps alone, so a gap between them is not compared); then a non-empty data
    interval snapped to whole local days; else yesterday. An asset-triggered run has no data interval of its
    own, and a sync that published nothing (dry run) or only today's partial day falls through to yesterday."""
    if published is not None and not (params.get("start_date") or params.get("end_date")):
        return published
    start, end = resolve_window(params, interval_start, interval_end, now)
    if not (params.get("start_date") or params.get("end_date")):
        start, end = _day(start), _day(end)
        if end <= start:
            end = start + timedelta(days=1)
    return start, end


def plan(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
    *,
    asset_events: Mapping[Any, Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Resolve the range, check the keyring, the legacy schema and the tables; one dict per daily window.

    ``asset_events``: the run's ``triggering_asset_events`` (a run scheduled by the sync's Asset compares the
    days those sync runs published, :func:`resolve_reconcile_window`)."""
    days: list[date] = []
    if (runs := sync_runs_of(asset_events)) and not (params.get("start_date") or params.get("end_date")):

        def read() -> list[date]:
            with connected(FLOW_CONN_ID) as flow:
                return published_days(flow, runs)

        with failing_fast():
            days = retrying(read, what="reconcile: days the sync published")
        log.info("triggered by sync run(s) %s: published days %s", runs, [str(d) for d in days])
    midnight = lambda d: datetime.combine(d, datetime.min.time())  # noqa: E731
    published = (midnight(days[0]), midnight(days[-1] + timedelta(days=1))) if days else None
    try:
        settings = settings_from(params)
        start, end = resolve_reconcile_window(params, interval_start, interval_end, published=published)
        if int(params.get("decrypt_sample") or 0) < 0:
            raise ConfigError("decrypt_sample must be >= 0")
    except (ConfigError, ValueError) as exc:
        raise AirflowFailException(f"bad parameters: {exc}") from exc
    log.info("reconcile: repair=%s", bool(params.get("repair")))

    def prepare(flow: Db) -> None:
        ensure_reconcile_schema(flow)
        purge_drift(flow, drift_retention_days())

    windows = plan_partitions(
        settings,
        start,
        end,
        prepare_flow=prepare,
        what="reconcile window",
    )
    if published is not None and (start, end) == published:  # only the days published, not the gaps between
        windows = [w for w in windows if datetime.fromisoformat(w["start"]).date() in set(days)]
    return windows


def compare(window: Mapping[str, Any], params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    """:func:`~leads_flow.reconcile.window.reconcile_window` on one window; permanent errors fail fast."""
    part = Partition.from_dict(window)
    with failing_fast():
        res = reconcile_window(
            part,
            dag_run_id,
            checked_cipher(),
            settings_from(params),
            decrypt_sample=int(params.get("decrypt_sample") or 0),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
        )
    return {**res.to_dict(), "window": dict(window)}


def repair(compared: Mapping[str, Any], params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    """Skip unless ``params['repair']``; otherwise :func:`~leads_flow.reconcile.repair.repair_window` on the compared window."""
    if not params.get("repair"):
        raise AirflowSkipException(
            f"repair=False: {compared.get('repairable', 0)} repairable lead(s) reported, nothing re-synced"
        )
    part = Partition.from_dict(compared["window"])
    if not compared.get("repairable"):
        log.info("repair %s: nothing to repair", part.label)
        return RepairResult(compared["reconcile_run_id"], part.start.isoformat()).to_dict()
    with failing_fast():
        res = repair_window(
            part,
            dag_run_id,
            checked_cipher(),
            settings_from(params),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            expected_rows=compared.get("expected_rows"),
            matched=compared.get("matched"),
        )
    return res.to_dict()


def summary(params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    """:func:`~leads_flow.reconcile.summary.summarize`; fails the task when the match rate is below ``min_match_rate`` (after repair, if any)."""
    out = summarize(dag_run_id, dag_id=dag_id, dag_run_id=dag_run_id)
    floor = float(params.get("min_match_rate") or 0)
    rate = out["match_rate_after_repair"] if out["match_rate_after_repair"] is not None else out["match_rate"]
    metrics.match_rate(rate)
    if floor > 0 and (rate is None or rate < floor):
        raise AirflowFailException(f"match rate {rate} is below min_match_rate {floor}")
    return out


def on_failure(context: Any) -> None:
    """The sync's failure alert (:mod:`leads_flow.tasks.notify`: the same message, masked the same way, through
    the same channels), without the sync's leads_flow_run row: a reconcile window is not a partition run (the
    compare records its own failure in leads_flow_reconcile_run, a repair batch in its own run row)."""
    what = failure.failure_of(context)
    what = dataclasses.replace(what, etl_run_id=None, report_url=failure.report_url(None, what.dag_id, what.run_id))
    notify.send_alert(failure.message_of(what), context)

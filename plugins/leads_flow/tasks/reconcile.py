"""The reconcile as the DAG's tasks run it: plan → (compare → repair) per daily window → summary.

Each function takes and returns small JSON-able metadata, never row data, so XCom carries only that.
The tests call the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from leads_flow.config import FLOW_CONN_ID, LEGACY_CONN_ID, PII_CONN_ID, ConfigError, drift_retention_days
from leads_flow.io.cleanup import purge_drift
from leads_flow.io.db import Db
from leads_flow.reconcile.compare import reconcile_window
from leads_flow.reconcile.model import DAG_ID as DAG_ID  # the DAG file's id and param bound
from leads_flow.reconcile.model import MAX_DECRYPT_SAMPLE as MAX_DECRYPT_SAMPLE
from leads_flow.reconcile.model import RepairResult, ensure_reconcile_schema
from leads_flow.reconcile.repair import repair_window
from leads_flow.reconcile.summary import summarize
from leads_flow.rules.crypto import PhoneCipher, load_keyring
from leads_flow.tasks import metrics
from leads_flow.tasks.boundary import failing_fast, plan_partitions, settings_from
from leads_flow.window import Partition, resolve_window

log = logging.getLogger(__name__)


def resolve_reconcile_window(
    params: Mapping[str, Any], interval_start: Any, interval_end: Any, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The sync's window rules (:func:`~leads_flow.window.resolve_window`), with a scheduled data interval
    snapped to whole local days: the 01:30 run's interval [D-1 01:30, D 01:30) compares day D-1, which the
    00:00 sync has published, and never the day still being written."""
    start, end = resolve_window(params, interval_start, interval_end, now)
    if not (params.get("start_date") or params.get("end_date")):
        day = lambda d: datetime.combine(d.date(), datetime.min.time())  # noqa: E731
        start, end = day(start), day(end)
        if end <= start:
            end = start + timedelta(days=1)
    return start, end


def plan(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> list[dict[str, Any]]:
    """Resolve the range, check the keyring, the legacy schema and the tables; one dict per daily window."""
    try:
        settings = settings_from(params)
        start, end = resolve_reconcile_window(params, interval_start, interval_end)
        if int(params.get("decrypt_sample") or 0) < 0:
            raise ConfigError("decrypt_sample must be >= 0")
    except (ConfigError, ValueError) as exc:
        raise AirflowFailException(f"bad parameters: {exc}") from exc
    log.info("reconcile: repair=%s", bool(params.get("repair")))

    def prepare(flow: Db) -> None:
        ensure_reconcile_schema(flow)
        purge_drift(flow, drift_retention_days())

    return plan_partitions(
        settings,
        start,
        end,
        prepare_flow=prepare,
        what="reconcile window",
        legacy_conn_id=legacy_conn_id,
        flow_conn_id=flow_conn_id,
        pii_conn_id=pii_conn_id,
    )


def compare(
    window: Mapping[str, Any],
    params: Mapping[str, Any],
    dag_id: str,
    dag_run_id: str,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> dict[str, Any]:
    """:func:`~leads_flow.reconcile.compare.reconcile_window` on one window; permanent errors fail fast."""
    part = Partition.from_dict(window)
    res = failing_fast(
        lambda: reconcile_window(
            part,
            dag_run_id,
            PhoneCipher(load_keyring(pii_conn_id)),
            settings_from(params),
            decrypt_sample=int(params.get("decrypt_sample") or 0),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            legacy_conn_id=legacy_conn_id,
            flow_conn_id=flow_conn_id,
        )
    )
    return {**res.to_dict(), "window": dict(window)}


def repair(
    compared: Mapping[str, Any],
    params: Mapping[str, Any],
    dag_id: str,
    dag_run_id: str,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> dict[str, Any]:
    """Skip unless ``params['repair']``; otherwise :func:`~leads_flow.reconcile.repair.repair_window` on the compared window."""
    if not params.get("repair"):
        raise AirflowSkipException(
            f"repair=False: {compared.get('repairable', 0)} repairable lead(s) reported, nothing re-synced"
        )
    part = Partition.from_dict(compared["window"])
    if not compared.get("repairable"):
        log.info("repair %s: nothing to repair", part.label)
        return RepairResult(compared["reconcile_run_id"], part.start.isoformat()).to_dict()
    res = failing_fast(
        lambda: repair_window(
            part,
            dag_run_id,
            PhoneCipher(load_keyring(pii_conn_id)),
            settings_from(params),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            legacy_conn_id=legacy_conn_id,
            flow_conn_id=flow_conn_id,
            expected_rows=compared.get("expected_rows"),
            matched=compared.get("matched"),
        )
    )
    return res.to_dict()


def summary(
    params: Mapping[str, Any], dag_id: str, dag_run_id: str, *, flow_conn_id: str = FLOW_CONN_ID
) -> dict[str, Any]:
    """:func:`~leads_flow.reconcile.summary.summarize`; fails the task when the match rate is below ``min_match_rate`` (after repair, if any)."""
    out = summarize(dag_run_id, dag_id=dag_id, dag_run_id=dag_run_id, flow_conn_id=flow_conn_id)
    floor = float(params.get("min_match_rate") or 0)
    rate = out["match_rate_after_repair"] if out["match_rate_after_repair"] is not None else out["match_rate"]
    metrics.match_rate(rate)
    if floor > 0 and (rate is None or rate < floor):
        raise AirflowFailException(f"match rate {rate} is below min_match_rate {floor}")
    return out

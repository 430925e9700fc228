"""The run report's data: ``leads_flow_run`` and ``leads_flow_reject`` read and shaped for the pages and the API.

Read-only; SQL in ``include/sql/report/``, through :func:`leads_flow.io.connect.connected`. Only the
runs of this project's DAGs (:func:`project_dag_ids`) are shown; :mod:`leads_flow.report.views` narrows the
lists with :func:`list_runs_of`. Every string the JSON API returns passes :func:`leads_flow.rules.redact.redact`
(:func:`to_json`), although the audit tables hold no phone numbers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from leads_flow.io.connect import connected
from leads_flow.io.db import as_datetime
from leads_flow.io.runlog import RunStatus
from leads_flow.names import FLOW_CONN_ID, RECONCILE_DAG_ID, SYNC_DAG_ID
from leads_flow.rules.redact import redact, redact_all
from leads_flow.window import label_of

log = logging.getLogger(__name__)


def project_dag_ids() -> tuple[str, ...]:
    """The DAGs whose runs the report shows."""
    return SYNC_DAG_ID, RECONCILE_DAG_ID


DEFAULT_LIMIT, MAX_LIMIT = 50, 500
REJECT_SAMPLE, MAX_REJECTS = 100, 10_000
"""Rejected leads a run page lists first, and at most (its "show all")."""
REJECT_VALUE_CHARS = 60


def shown_values(raw: Any) -> dict[str, str]:
    """A reject's legacy values as the page shows them: the phone only as "e1 token" (it is stored encrypted, and
    the report holds no key), every other non-empty value masked (:func:`redact`) and cut short; not the id or
    the timestamps (shown beside)."""
    out: dict[str, str] = {}
    for col, v in _json(raw, dict).items():
        if col in ("id", "update_time", "create_time") or v is None or v == "":
            continue
        text = "e1 token (encrypted)" if col == "phone" else redact(str(v))
        out[str(col)] = text if len(text) <= REJECT_VALUE_CHARS else text[: REJECT_VALUE_CHARS - 1] + "…"
    return out


LIST_COLUMNS = (
    "etl_run_id",
    "dag_id",
    "dag_run_id",
    "partition_start",
    "partition_end",
    "window_start",
    "window_end",
    "status",
    "extracted",
    "staged",
    "rejected",
    "coerced",
    "published",
    "gate_success",
    "gate_failed_checks",
    "error",
    "started_at",
    "finished_at",
)
RUN_COLUMNS = LIST_COLUMNS + ("rejects_by_reason", "gate_results", "timings")
DATETIME_COLUMNS = ("partition_start", "partition_end", "window_start", "window_end", "started_at", "finished_at")
RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


class ReportUnavailable(RuntimeError):
    """The flow database cannot be read (down, wrong credentials)."""


def _json(text: Any, kind: type) -> Any:
    if text is None or text == "":
        return kind()
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else text
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def missing_table(exc: BaseException) -> bool:
    """leads_flow_run does not exist until the DAG's first plan task ran."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return code == 1146 or "no such table" in str(exc)


def read_rows(name: str, params: dict[str, Any], conn_id: str, page: str = "run report", **idents: str) -> list[tuple]:
    """The rows of a report query; none while its table does not exist yet, :class:`ReportUnavailable` (message
    masked) when the flow database cannot be read."""
    try:
        with connected(conn_id) as db:
            return db.query(name, params, **idents)
    except Exception as exc:  # noqa: BLE001 - classified below
        cause = exc.__cause__ or exc
        if missing_table(cause):
            return []
        log.warning("%s: cannot read %s: %s", page, conn_id, redact(f"{type(exc).__name__}: {exc}")[:500])
        raise ReportUnavailable(f"cannot read the flow database ({type(cause).__name__})") from exc


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """One leads_flow_run row as the pages and the API use it (datetimes parsed, JSON decoded)."""
    run = dict(row)
    for k in DATETIME_COLUMNS:
        run[k] = as_datetime(run.get(k))
    start, end, done = run["partition_start"], run["partition_end"], run["finished_at"]
    run["duration_s"] = round((done - run["started_at"]).total_seconds(), 3) if done and run["started_at"] else None
    bulk_id = str(run.get("etl_run_id") or "").rpartition("#")[2]
    run["partition_label"] = label_of(start, end, int(bulk_id) if bulk_id.isdigit() else None)  # as Airflow's grid
    if run.get("status") == RunStatus.PLAN_FAILED:  # no partition: the row stands for the DAG run's plan
        run["partition_label"] = "not planned"
    run["gate_success"] = None if run.get("gate_success") is None else bool(run["gate_success"])
    run["gate_failed_checks"] = [c for c in (run.get("gate_failed_checks") or "").split(",") if c]
    if "rejects_by_reason" in run:
        reasons = _json(run["rejects_by_reason"], dict)
        run["rejects_by_reason"] = dict(
            sorted(((str(k), int(v or 0)) for k, v in reasons.items()), key=lambda kv: (-kv[1], kv[0]))
        )
        blank = dict.fromkeys(("check", "expectation", "success", "error") + RESULT_KEYS)
        run["gate_results"] = [
            {**blank, **r, "success": bool(r.get("success"))}
            for r in _json(run["gate_results"], list)
            if isinstance(r, dict)
        ]
        run["timings"] = {k: v for k, v in _json(run["timings"], dict).items() if isinstance(v, (int, float))}
    ext, rej = run.get("extracted"), run.get("rejected")
    run["reject_ratio"] = (rej / ext) if ext and rej is not None else None
    return run


def list_runs(
    *,
    limit: int = DEFAULT_LIMIT,
    status: str | None = None,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    conn_id: str = FLOW_CONN_ID,
) -> list[dict[str, Any]]:
    """Recent partition runs, newest first (any DAG: the app narrows it with :func:`list_runs_of`)."""
    rows = read_rows(
        "report_runs",
        {"limit": int(limit), "status": status or None, "dag_id": dag_id or None, "dag_run_id": dag_run_id or None},
        conn_id,
    )
    return [_shape(dict(zip(LIST_COLUMNS, r))) for r in rows]


def list_runs_of(
    dag_ids: Sequence[str],
    *,
    limit: int = DEFAULT_LIMIT,
    status: str | None = None,
    dag_run_id: str | None = None,
    conn_id: str = FLOW_CONN_ID,
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of these DAGs only (one query per DAG, merged in the SQL's order)."""
    runs = [
        r
        for d in sorted(set(dag_ids))
        for r in list_runs(limit=limit, status=status, dag_id=d, dag_run_id=dag_run_id, conn_id=conn_id)
    ]
    runs.sort(key=lambda r: r["etl_run_id"])
    runs.sort(key=lambda r: (r["started_at"] or datetime.min, r["partition_start"] or datetime.min), reverse=True)
    return runs[:limit]


def get_run(etl_run_id: str, *, conn_id: str = FLOW_CONN_ID, rejects: int = REJECT_SAMPLE) -> dict[str, Any] | None:
    """One partition run with its gate results, rejects by reason, timings and its first ``rejects`` rejected
    leads (at most :data:`MAX_REJECTS`) with their legacy values, masked."""
    rows = read_rows("report_run", {"etl_run_id": etl_run_id}, conn_id)
    if not rows:
        return None
    run = _shape(dict(zip(RUN_COLUMNS, rows[0])))
    limit = max(1, min(int(rejects), MAX_REJECTS))
    sample = read_rows("report_rejects", {"etl_run_id": etl_run_id, "limit": limit}, conn_id) if run["rejected"] else []
    run["rejected_sample"] = [
        {
            "lead_id": lid,
            "reasons": [r for r in (why or "").split(",") if r],
            "source_updated_at": as_datetime(sua),
            "values": shown_values(raw),
        }
        for lid, why, sua, raw in sample
    ]
    run["volume_check"] = volume_check_of(etl_run_id, conn_id=conn_id)
    return run


def _missing_column(exc: BaseException) -> bool:
    """A table from before a column's migration (the next sync's plan adds it)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    return code == 1054 or "no such column" in str(exc)


def volume_check_of(etl_run_id: str, *, conn_id: str = FLOW_CONN_ID) -> dict[str, Any] | None:
    """The gate's volume check of a run (quality.VolumeResult as recorded); None when it was not checked (a
    repair, a run from before the check) or the column is not there yet."""
    try:
        with connected(conn_id) as db:
            rows = db.query("volume_report", {"etl_run_id": etl_run_id})
    except Exception as exc:  # noqa: BLE001 - classified below
        cause = exc.__cause__ or exc
        if missing_table(cause) or _missing_column(cause):
            return None
        raise ReportUnavailable(f"cannot read the flow database ({type(cause).__name__})") from exc
    return (_json(rows[0][0], dict) or None) if rows else None


KEY_AUDIT_COLUMNS = ("rekey_run_id", "phase", "table_name", "key_kind", "kid", "row_count", "active_kid", "recorded_at")


def key_rotations(limit: int = 20, *, conn_id: str = FLOW_CONN_ID) -> list[dict[str, Any]]:
    """The latest rekey runs, newest first: per run, its counts per table, key kind and kid before and after.

    ``leads_flow_key_audit`` holds counts and kids only (no value of any row), written by each rekey run.
    """
    runs: dict[str, dict[str, Any]] = {}
    for row in read_rows("report_key_audit", {"limit": int(limit)}, conn_id):
        r = dict(zip(KEY_AUDIT_COLUMNS, row))
        run = runs.setdefault(
            r["rekey_run_id"],
            {"rekey_run_id": r["rekey_run_id"], "recorded_at": as_datetime(r["recorded_at"]), "counts": []},
        )
        run["active"] = run.get("active", {}) | {r["key_kind"]: r["active_kid"]}
        run["counts"].append({k: r[k] for k in ("phase", "table_name", "key_kind", "kid", "row_count")})
    for run in runs.values():
        off = [c for c in run["counts"] if c["phase"] == "after" and c["kid"] != run["active"].get(c["key_kind"])]
        run["left_off_active"] = sum(int(c["row_count"]) for c in off)
    return list(runs.values())


def kids_now(*, conn_id: str = FLOW_CONN_ID) -> list[dict[str, Any]]:
    """Rows of ``leads_flow`` per key kind (enc, bidx) and kid, now: what a rekey would move (none before the
    first sync created the table)."""
    rows = read_rows("report_kids_now", {}, conn_id, page="key rotation page")
    return [{"key_kind": kind, "kid": kid, "row_count": int(n)} for kind, kid, n in rows]


def to_json(run: dict[str, Any]) -> dict[str, Any]:
    """A run (or any page's data) for the JSON API: ISO dates and datetimes, phones masked in every string."""

    def conv(v: Any) -> Any:
        if isinstance(v, date):  # datetimes too
            return v.isoformat()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return redact_all(conv(run))

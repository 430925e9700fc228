"""The gate's expectations, run by Great Expectations over the audit table of a staged partition.

GX is imported inside :func:`run_gate` (it costs seconds to import; DAG parsing must not pay it).
Only counts and observed values leave GX: unexpected *values* are never copied into results or logs,
because a failing no-plaintext check would otherwise echo the very phone number it found.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import Settings
from leads_flow.io.connect import get_connection, sqlalchemy_url
from leads_flow.io.sql import Dialect
from leads_flow.quality.audit import AUDIT_CHECKS, build_audit, drop_audit
from leads_flow.quality.gx import import_gx

log = logging.getLogger(__name__)

_SAFE_RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


@dataclass
class GateResult:
    success: bool
    failed: list[str]
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checks(expected_staged: int, max_rejects: int) -> list[tuple[str, Any]]:
    """(name, expectation) pairs, all over the one-row audit table.

    Every staged-row check reads it (one scan of the staged rows, counted by gate_audit.sql): GX validating
    the staging table itself would scan it once or twice per check. The reject ratio reads the stage's count
    there, not the rows of leads_flow_reject under this run id: an overlapping run of the same window takes
    shared reject rows over (one per lead and source version), which made that count smaller, never larger.
    """
    import great_expectations.expectations as gxe

    def exactly(column: str, value: int) -> Any:
        return gxe.ExpectColumnMaxToBeBetween(column=column, min_value=value, max_value=value)

    checks: list[tuple[str, Any]] = [("extracted_equals_staged_plus_rejected", exactly("staged_rows", expected_staged))]
    checks += [(name, exactly(column, 0)) for name, column in AUDIT_CHECKS.items()]
    checks.append(
        (
            "reject_ratio_within_limit",
            gxe.ExpectColumnMaxToBeBetween(column="rejected_rows", min_value=0, max_value=max_rejects),
        )
    )
    return checks


def run_gate(
    conn_id: str,
    dialect: Dialect,
    stage_table: str,
    etl_run_id: str,
    *,
    extracted: int,
    rejected: int,
    partition_end: datetime,
    settings: Settings,
) -> GateResult:
    """Validate the staging table; every expectation is reported, pass or fail, with its observed value."""
    t0 = time.perf_counter()
    # The audit scan runs on the server while this process imports GX (seconds each): the driver releases
    # the GIL while it waits, so the two overlap instead of adding up.
    with ThreadPoolExecutor(1) as pool:
        audit_future = pool.submit(
            build_audit,
            conn_id,
            stage_table,
            settings.min_join_time,
            partition_end + timedelta(days=1),
            get_connection(conn_id),
            rejected=rejected,
        )
        import_gx()  # the import itself is what overlaps the scan

        audit = audit_future.result()
    log.info("gate %s: %d extracted, %d rejected by the stage", etl_run_id, extracted, rejected)
    return _validate(
        conn_id,
        dialect,
        stage_table,
        audit,
        extracted=extracted,
        rejected=rejected,
        settings=settings,
        t0=t0,
    )


def _validate(
    conn_id: str,
    dialect: Dialect,
    stage_table: str,
    audit: str,
    *,
    extracted: int,
    rejected: int,
    settings: Settings,
    t0: float,
) -> GateResult:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.core", "great_expectations.expectations"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    url = sqlalchemy_url(conn_id)
    ds = (
        ctx.data_sources.add_sqlite(name="flow", connection_string=url)
        if dialect == "sqlite"
        else ctx.data_sources.add_sql(name="flow", connection_string=url)
    )
    max_rejects = math.floor(settings.max_reject_ratio * extracted + 1e-9)
    suite = gx.ExpectationSuite(name="leads_flow_gate")
    for name, exp in _checks(extracted - rejected, max_rejects):
        exp.meta = {"check": name}
        suite.add_expectation(exp)
    results: list[dict[str, Any]] = []
    batch = ds.add_table_asset(name="audit", table_name=audit).add_batch_definition_whole_table("all").get_batch()
    outcome = batch.validate(suite, result_format="BASIC")
    for r in outcome.results:
        cfg = r.expectation_config
        res = r.result or {}
        err = _exception_message(r.exception_info) if not r.success else None
        results.append(
            {
                "check": (cfg.meta or {}).get("check", cfg.type),
                "expectation": cfg.type,
                "success": bool(r.success),
                **{k: cfg.kwargs[k] for k in ("min_value", "max_value") if cfg.kwargs.get(k) is not None},
                **{k: _jsonable(res[k]) for k in _SAFE_RESULT_KEYS if k in res},
                **({"error": "expectation raised: see task log"} if err else {}),
            }
        )
        if err:
            log.error("expectation %s raised: %s", cfg.type, err)
    drop_audit(conn_id, stage_table)
    failed = [r["check"] for r in results if not r["success"]]
    out = GateResult(not failed, failed, results, round(time.perf_counter() - t0, 3))
    for r in results:
        log.info(
            "gate %-40s %s %s",
            r["check"],
            "PASS" if r["success"] else "FAIL",
            {k: v for k, v in r.items() if k in _SAFE_RESULT_KEYS},
        )
    return out


def _exception_message(info: Any) -> str | None:
    """GX nests exception info by metric; find the first message, if any."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for v in info.values():
        if isinstance(v, dict) and (msg := _exception_message(v)):
            return msg
    return None


def _jsonable(v: Any) -> Any:
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)

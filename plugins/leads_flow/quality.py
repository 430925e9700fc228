"""Audit: the data-quality gate, run by Great Expectations on the staged rows inside the database.

GX is imported inside :func:`run_gate` (it costs seconds to import; DAG parsing must not pay it).
Only counts and observed values leave GX: unexpected *values* are never copied into results or logs,
because a failing no-plaintext check would otherwise echo the very phone number it found.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from leads_flow.config import Settings
from leads_flow.db import Dialect, dialect_of, get_connection, sql_text, sqlite_path
from leads_flow.mapping import LEADS_TYPES

log = logging.getLogger(__name__)

E1_PATTERN = r"^e1:[0-9a-z]{1,8}:[A-Za-z0-9_-]+$"
# No {n} quantifiers: GX formats the query text, and braces would be taken for placeholders.
_MOBILE = r"1[3-9][0-9][- ]?[0-9][0-9][0-9][0-9][- ]?[0-9][0-9][0-9][0-9]"
MOBILE_PATTERN = rf"(^|[^0-9]){_MOBILE}([^0-9]|$)"
MOBILE_APART_PATTERN = rf"(^|[^0-9A-Za-z]){_MOBILE}([^0-9A-Za-z]|$)"
_SAFE_RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent",
                     "missing_count")


@dataclass
class GateResult:
    success: bool
    failed: list[str]
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL for an Airflow connection, so GX reads the same database as the pipeline."""
    from sqlalchemy.engine import URL

    c = get_connection(conn_id)
    if dialect_of(conn_id, c) == "sqlite":
        return f"sqlite:///{sqlite_path(conn_id, c)}"
    return URL.create("mysql+mysqldb", username=c.login or None, password=c.password or None,
                      host=c.host or "127.0.0.1", port=c.port or 3306, database=c.schema or None,
                      query={"charset": "utf8mb4"}).render_as_string(hide_password=False)


def _checks(dialect: Dialect, expected_staged: int, max_rejects: int, etl_run_id: str,
            min_join: datetime, max_join: datetime) -> list[tuple[str, Any, str]]:
    """(name, expectation, asset) triples; ``asset`` is "stage" or "rejects"."""
    import great_expectations.expectations as gxe

    def rows(name: str, **fmt: str) -> Any:
        text = sql_text(dialect, name)
        for k, v in fmt.items():
            text = text.replace("{" + k + "}", v)
        return gxe.UnexpectedRowsExpectation(unexpected_rows_query=text, description=name)

    fmt_dt = "%Y-%m-%d %H:%M:%S"
    return [
        ("extracted_equals_staged_plus_rejected", gxe.ExpectTableRowCountToEqual(value=expected_staged), "stage"),
        ("lead_id_not_null", gxe.ExpectColumnValuesToNotBeNull(column="lead_id"), "stage"),
        ("lead_id_unique", gxe.ExpectColumnValuesToBeUnique(column="lead_id"), "stage"),
        ("phone_cipher_e1_shape", gxe.ExpectColumnValuesToMatchRegex(column="phone_cipher", regex=E1_PATTERN), "stage"),
        ("phone_cipher_iff_bidx", rows("gate_phone_pair"), "stage"),
        ("no_plaintext_mobile", rows("gate_no_plaintext", mobile=MOBILE_PATTERN,
                                                     mobile_apart=MOBILE_APART_PATTERN), "stage"),
        ("leads_type_in_set", gxe.ExpectColumnValuesToBeInSet(column="leads_type",
                                                              value_set=sorted(LEADS_TYPES.values())), "stage"),
        ("leads_type_not_null", gxe.ExpectColumnValuesToNotBeNull(column="leads_type"), "stage"),
        ("has_tool_flag", gxe.ExpectColumnValuesToBeInSet(column="has_tool", value_set=[0, 1]), "stage"),
        ("is_group_flag", gxe.ExpectColumnValuesToBeInSet(column="is_group", value_set=[0, 1]), "stage"),
        ("join_time_in_range", rows("gate_join_time", min=min_join.strftime(fmt_dt),
                                    max=max_join.strftime(fmt_dt)), "stage"),
        ("ip_address_valid_or_null", rows("gate_ip"), "stage"),
        ("reject_ratio_within_limit", gxe.ExpectTableRowCountToBeBetween(min_value=0, max_value=max_rejects),
         "rejects"),
    ]


def run_gate(conn_id: str, dialect: Dialect, stage_table: str, etl_run_id: str, *, extracted: int,
             rejected: int, partition_end: datetime, settings: Settings) -> GateResult:
    """Validate the staging table; every expectation is reported, pass or fail, with its observed value."""
    t0 = time.perf_counter()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from datetime import timedelta

    for name in ("great_expectations", "great_expectations.core", "great_expectations.expectations"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ds = ctx.data_sources.add_sql(name="flow", connection_string=sqlalchemy_url(conn_id))
    assets = {
        "stage": ds.add_table_asset(name="stage", table_name=stage_table),
        "rejects": ds.add_query_asset(name="rejects", query=sql_text(dialect, "gate_rejects").replace(
            "{etl_run_id}", etl_run_id.replace("'", "''"))),
    }
    max_rejects = math.floor(settings.max_reject_ratio * extracted + 1e-9)
    checks = _checks(dialect, extracted - rejected, max_rejects, etl_run_id, settings.min_join_time,
                     partition_end + timedelta(days=1))
    names: dict[str, list[str]] = {"stage": [], "rejects": []}
    suites = {k: gx.ExpectationSuite(name=f"leads_flow_gate_{k}") for k in assets}
    for name, exp, asset in checks:
        exp.meta = {"check": name}
        suites[asset].add_expectation(exp)
        names[asset].append(name)
    results: list[dict[str, Any]] = []
    for key, asset in assets.items():
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        outcome = batch.validate(suites[key], result_format="BASIC")
        for r in outcome.results:
            cfg = r.expectation_config
            res = r.result or {}
            err = _exception_message(r.exception_info) if not r.success else None
            results.append({
                "check": (cfg.meta or {}).get("check", cfg.type),
                "expectation": cfg.type,
                "success": bool(r.success),
                **{k: _jsonable(res[k]) for k in _SAFE_RESULT_KEYS if k in res},
                **({"error": "expectation raised: see task log"} if err else {}),
            })
            if err:
                log.error("expectation %s raised: %s", cfg.type, err)
    failed = [r["check"] for r in results if not r["success"]]
    out = GateResult(not failed, failed, results, round(time.perf_counter() - t0, 3))
    for r in results:
        log.info("gate %-40s %s %s", r["check"], "PASS" if r["success"] else "FAIL",
                 {k: v for k, v in r.items() if k in _SAFE_RESULT_KEYS})
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

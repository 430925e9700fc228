"""Audit: the data-quality gate, run by Great Expectations on the staged rows inside the database.

GX is imported inside :func:`run_gate` (it costs seconds to import; DAG parsing must not pay it).
Only counts and observed values leave GX: unexpected *values* are never copied into results or logs,
because a failing no-plaintext check would otherwise echo the very phone number it found.
"""

from __future__ import annotations

import importlib
import logging
import math
import statistics
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import Settings, VolumePolicy, ident
from leads_flow.io import runlog
from leads_flow.io.connect import connected, dialect_of, get_connection, sqlite_path
from leads_flow.io.db import Db
from leads_flow.io.sql import Dialect, fill, sql_text
from leads_flow.rules.mapping import LEADS_TYPES

log = logging.getLogger(__name__)

# An e1 token's body is nonce + ciphertext + tag, more than 12 + 4 + 16 bytes: 44+ base64url characters. A
# shorter body cannot be a token (a plain phone written into the column, say). The token itself is not
# searched for phones: random base64url holds digit runs by chance.
E1_PATTERN = r"^e1:[0-9a-z]{1,8}:[A-Za-z0-9_-]{44,}$"
_SAFE_RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")


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
    return URL.create(
        "mysql+mysqldb",
        username=c.login or None,
        password=c.password or None,
        host=c.host or "127.0.0.1",
        port=c.port or 3306,
        database=c.schema or None,
        query={"charset": "utf8mb4"},
    ).render_as_string(hide_password=False)


GX_DEFERRED_MODULES = ("scipy.stats", "altair")
"""Modules ``import great_expectations`` pulls in (for the KL-divergence and KS-test expectations, which the gate
never runs) but calls only inside those expectations: stand-ins load them on first use. Importing GX took
2.3-2.9 s with them and 1.7-1.8 s without, alternated on the 2-core development machine (issue 14)."""


class _DeferredModule(types.ModuleType):
    """A stand-in in ``sys.modules`` that imports the real module on the first use of any attribute."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__path__", "__file__", "__all__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def import_gx() -> types.ModuleType:
    """``import great_expectations``, GX's import-time log lines silenced and :data:`GX_DEFERRED_MODULES` deferred."""
    if (gx := sys.modules.get("great_expectations")) is not None:
        return gx
    # about 200 INFO lines of its API-docs registry ("Skipping registering function ...") while importing
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name in GX_DEFERRED_MODULES:
        if name not in sys.modules:
            sys.modules[name] = _DeferredModule(name)
    return importlib.import_module("great_expectations")


AUDIT_CHECKS: dict[str, str] = {
    "leads_type_in_set": "leads_type_not_in_set",
    "leads_type_not_null": "leads_type_null",
    **{
        c: c
        for c in (
            "lead_id_not_unique_or_null",
            "phone_cipher_not_e1",
            "phone_cipher_without_bidx",
            "plaintext_mobile",
            "flag_not_0_1_null",
            "join_time_out_of_range",
            "ip_address_invalid",
        )
    },
}
"""check → column of gate_audit.sql that counts the staged rows breaking it; every count must be 0."""


def audit_table_name(stage_table: str) -> str:
    return ident(stage_table + "_audit")


def build_audit(
    conn_id: str,
    stage_table: str,
    min_join: datetime,
    max_join: datetime,
    connection: Any = None,
    *,
    rejected: int = 0,
) -> str:
    """Count every row-level violation in one scan of the staged rows, into a one-row audit table (with the
    stage's count of rejects beside them, for the reject ratio)."""
    audit = audit_table_name(stage_table)
    fmt = "%Y-%m-%d %H:%M:%S"
    with connected(conn_id, connection=connection) as db:
        # Great Expectations reads the audit through its own engine, which binds no parameters: the
        # constants are literals of the package's own making, the names checked identifiers.
        text = fill(
            sql_text(db.dialect, "gate_audit"),
            e1=E1_PATTERN,
            leads_types=", ".join(f"'{t}'" for t in sorted(LEADS_TYPES.values())),
            min_join=min_join.strftime(fmt),
            max_join=max_join.strftime(fmt),
            rejected=str(int(rejected)),
            stage=ident(stage_table),
            audit=audit,
        )
        db.run("stage_drop", stage=audit)
        cur = db.conn.cursor()
        cur.execute(text)  # no parameters: the driver leaves '%' alone
        cur.close()
        db.conn.commit()
    return audit


def drop_audit(conn_id: str, stage_table: str) -> None:
    with connected(conn_id) as db:
        db.run("stage_drop", stage=audit_table_name(stage_table))
        db.conn.commit()


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


VOLUME_CHECK = "volume_within_range"
"""The volume check's name in the gate results (and in ``gate_failed_checks`` when it fails the gate)."""
VOLUME_LOOKBACK_WEEKS = 2
"""History read for the volume check: ``days`` × this many weeks back, so a few missing weeks still leave
``days`` same-weekday partitions."""


@dataclass(frozen=True)
class VolumeResult:
    """The volume check of one partition: its extracted rows against the median of the same weekday."""

    verdict: str  # pass | warn | fail | exempt | off
    mode: str
    extracted: int
    median: float | None
    ratio: float | None
    history_days: int
    floor: float
    ceiling: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gate_result(self) -> dict[str, Any]:
        """The check as one of the gate's results: it fails only in fail mode; the reason is its observed value."""
        return {
            "check": VOLUME_CHECK,
            "expectation": "extracted_vs_same_weekday_median",
            "success": self.verdict != "fail",
            "observed_value": f"{self.verdict}: {self.reason}",
            "element_count": self.history_days,
        }


def same_weekday_volumes(history: list[tuple[datetime, int]], partition_start: datetime, days: int) -> list[int]:
    """The extracted rows of the last ``days`` partitions that started a whole number of weeks before
    ``partition_start`` (same weekday, same time of day); ``history`` newest first, the latest publish of a
    partition first, which is the one kept."""
    seen: set[datetime] = set()
    out: list[int] = []
    for start, n in history:
        if start in seen or start >= partition_start or (partition_start - start) % timedelta(days=7):
            continue
        seen.add(start)
        out.append(n)
        if len(out) == days:
            break
    return out


def judge_volume(
    extracted: int, volumes: list[int], policy: VolumePolicy, weekday: str = "same weekday"
) -> VolumeResult:
    """Pure verdict: ``extracted`` inside [floor, ceiling] × the median of ``volumes`` passes; outside it warns
    or fails by ``policy.mode``; fewer than ``policy.min_days`` volumes is exempt (a new pipeline)."""

    def result(verdict: str, reason: str, median: float | None = None, ratio: float | None = None) -> VolumeResult:
        return VolumeResult(
            verdict, policy.mode, extracted, median, ratio, len(volumes), policy.floor, policy.ceiling, reason
        )

    if policy.mode == "off":
        return result("off", "volume check switched off")
    if len(volumes) < policy.min_days:
        return result("exempt", f"{len(volumes)} of the {policy.min_days} published {weekday}s needed for a median")
    median = float(statistics.median(volumes))
    ratio = round(extracted / median, 4) if median else None
    inside = policy.floor * median <= extracted <= policy.ceiling * median
    verdict = "pass" if inside else ("fail" if policy.mode == "fail" else "warn")
    shown = f"{ratio:g} ×" if ratio is not None else ("as many as" if extracted == 0 else "above")
    reason = (
        f"{extracted} rows extracted, {shown} the median {median:g} of the last {len(volumes)} {weekday}s "
        f"(allowed {policy.floor:g}–{policy.ceiling:g} ×)"
    )
    return result(verdict, reason, median, ratio)


def check_volume(
    flow: Db, etl_run_id: str, partition_start: datetime, extracted: int, policy: VolumePolicy
) -> VolumeResult:
    """The volume check of a partition run against the published history of its own DAG in ``leads_flow_run``."""
    if policy.mode == "off":
        return judge_volume(extracted, [], policy)
    since = partition_start - timedelta(weeks=policy.days * VOLUME_LOOKBACK_WEEKS)
    history = runlog.volume_history(flow, etl_run_id, since)
    volumes = same_weekday_volumes(history, partition_start, policy.days)
    return judge_volume(extracted, volumes, policy, f"{partition_start:%A}")


class GateRejected(Exception):
    """The data-quality gate failed: nothing may be published until the data changes."""

    def __init__(
        self,
        message: str,
        *,
        failed: list[str] | None = None,
        seconds: float | None = None,
        volume: VolumeResult | None = None,
    ) -> None:
        super().__init__(message)
        self.failed = list(failed or [])
        self.seconds = seconds
        self.volume = volume


@dataclass(frozen=True)
class GateOutcome:
    """A passed gate step: the timings so far and the volume check, when it ran."""

    timings: dict[str, float]
    volume: VolumeResult | None = None


def gate_staged(
    flow_conn_id: str,
    stage_table: str,
    etl_run_id: str,
    *,
    extracted: int,
    rejected: int,
    stage_seconds: float,
    partition_end: datetime,
    settings: Settings,
) -> dict[str, float]:
    """The gate as a step of a partition run without the volume check (a repair: its volume says nothing about
    the day); the timings so far. See :func:`gate_partition`."""
    return gate_partition(
        flow_conn_id,
        stage_table,
        etl_run_id,
        extracted=extracted,
        rejected=rejected,
        stage_seconds=stage_seconds,
        partition_end=partition_end,
        settings=settings,
    ).timings


def gate_partition(
    flow_conn_id: str,
    stage_table: str,
    etl_run_id: str,
    *,
    extracted: int,
    rejected: int,
    stage_seconds: float,
    partition_end: datetime,
    settings: Settings,
    volume_policy: VolumePolicy | None = None,
    partition_start: datetime | None = None,
) -> GateOutcome:
    """The gate as a step of a partition run: run it, record its verdict and every result in
    ``leads_flow_run``, raise :class:`GateRejected` when a check fails.

    With ``volume_policy`` and ``partition_start`` (the sync) the volume check runs first: its result is one
    of the gate's results (failing it only in fail mode) and is recorded in ``volume_check``."""

    def checks() -> tuple[VolumeResult | None, GateResult]:
        volume = None
        if volume_policy is not None and partition_start is not None:
            with connected(flow_conn_id) as flow:
                volume = check_volume(flow, etl_run_id, partition_start, extracted, volume_policy)
            log.log(
                logging.WARNING if volume.verdict in ("warn", "fail") else logging.INFO,
                "volume %s %s: %s",
                etl_run_id,
                volume.verdict.upper(),
                volume.reason,
            )
        return volume, run_gate(
            flow_conn_id,
            dialect_of(flow_conn_id),
            stage_table,
            etl_run_id,
            extracted=extracted,
            rejected=rejected,
            partition_end=partition_end,
            settings=settings,
        )

    volume, result = runlog.recording_failure(etl_run_id, flow_conn_id, checks)
    results, failed = list(result.results), list(result.failed)
    if volume is not None:
        results.append(volume.gate_result())
        if volume.verdict == "fail":
            failed.append(VOLUME_CHECK)
    timings = {"stage_s": stage_seconds, "gate_s": result.seconds}
    with connected(flow_conn_id) as flow, flow.transaction():
        runlog.gated(flow, etl_run_id, success=not failed, failed=failed, results=results, timings=timings)
        if volume is not None:
            runlog.volume_recorded(flow, etl_run_id, volume.to_dict())
    if failed:
        why = f" ({volume.reason})" if volume is not None and volume.verdict == "fail" else ""
        raise GateRejected(
            f"data-quality gate failed for {etl_run_id}: {', '.join(failed)}{why}; nothing published",
            failed=failed,
            seconds=result.seconds,
            volume=volume,
        )
    return GateOutcome(timings, volume)

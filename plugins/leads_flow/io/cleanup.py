"""Retention: the staging tables that failed runs leave behind, and reconcile's old drift rows.

A published partition drops its staging table at once. A run that fails (gate, crash, kill) leaves
``leads_flow_stage_<hash>`` (and the gate's ``…_audit``) in the flow database so that it can be
inspected or retried; it holds protected values only (e1 tokens, blind indexes, masks). Every run's
plan step drops those older than the retention window (LEADS_FLOW_STAGE_RETENTION_HOURS, default 72).

Age: on MySQL the table's CREATE_TIME (information_schema, in the session's time zone like NOW());
the staging table is rebuilt on every attempt, so its age is that of its latest attempt. On SQLite,
which keeps no creation time, the ``started_at`` of the leads_flow_run row of the run that owns the
table; a table no run row owns is kept.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from leads_flow.config import (
    DEFAULT_DRIFT_RETENTION_DAYS,
    DEFAULT_REJECT_RETENTION_DAYS,
    DEFAULT_RETENTION_HOURS,
    ConfigError,
    ident,
)
from leads_flow.io.db import Db, as_datetime
from leads_flow.io.stage import stage_table_name

log = logging.getLogger(__name__)

STAGE_TABLE = re.compile(r"^leads_flow_stage_[0-9a-f]{16}(?:_audit)?$")
_LIKE = r"leads\_flow\_stage\_%"


def purge_drift(db: Db, older_than_days: int = DEFAULT_DRIFT_RETENTION_DAYS) -> int:
    """Delete leads_flow_drift rows detected more than ``older_than_days`` ago; return how many.

    Every reconcile run writes one row per drifting lead, so without this the table only grows.
    """
    return _purge(db, "reconcile_drift_purge", "leads_flow_drift", older_than_days)


def purge_rejects(db: Db, older_than_days: int = DEFAULT_REJECT_RETENTION_DAYS) -> int:
    """Delete leads_flow_reject rows older than ``older_than_days``: raw values are kept no longer than needed."""
    return _purge(db, "reject_purge", "leads_flow_reject", older_than_days)


def _purge(db: Db, sql: str, table: str, older_than_days: int) -> int:
    if older_than_days < 1:
        raise ConfigError("retention must be at least one day")
    n = db.run(sql, {"before": datetime.now() - timedelta(days=older_than_days)})
    db.conn.commit()
    if n:
        log.info("deleted %d %s row(s) older than %d days", n, table, older_than_days)
    return n


def stale_stages(db: Db, older_than_hours: int = DEFAULT_RETENTION_HOURS) -> list[str]:
    """Names of the staging and audit tables older than the window (oldest attempt first)."""
    if older_than_hours < 1:
        raise ConfigError("older_than_hours must be >= 1")
    if db.dialect == "mysql":
        names = [r[0] for r in db.query("stale_stages", {"pattern": _LIKE, "hours": int(older_than_hours)})]
    else:
        tables = [r[0] for r in db.query("stage_tables", {"pattern": _LIKE})]
        started = {stage_table_name(run_id): as_datetime(at) for run_id, at in db.query("stage_owners")}
        cutoff = datetime.now() - timedelta(hours=older_than_hours)
        aged = [(started.get(t.removesuffix("_audit")), t) for t in tables]
        names = [t for at, t in sorted((a, t) for a, t in aged if a is not None) if at < cutoff]
    db.conn.rollback()
    return [n for n in names if STAGE_TABLE.match(n)]


def drop_stale_stages(db: Db, older_than_hours: int = DEFAULT_RETENTION_HOURS) -> list[str]:
    """Drop the staging (and audit) tables older than ``older_than_hours``; return their names."""
    dropped = []
    for name in stale_stages(db, older_than_hours):
        db.run("stage_drop", stage=ident(name))
        db.conn.commit()
        dropped.append(name)
    if dropped:
        log.info("dropped %d staging table(s) older than %d h left by failed runs", len(dropped), older_than_hours)
    return dropped

"""Names and settings shared by every stage.

Connection ids and table names are a contract with other teams: they live here once, and every
identifier that reaches SQL text (never a value) is validated by :func:`ident`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

LEGACY_CONN_ID = "leads_legacy"
FLOW_CONN_ID = "leads_flow"
PII_CONN_ID = "leads_pii"
LEGACY_POOL = "leads_legacy"

DB_TASK: dict = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}
"""Retry policy of every task that talks to a database (transient errors; permanent ones fail fast)."""

LEGACY_TABLE = "leads_aggr"
FLOW_TABLE = "leads_flow"
REJECT_TABLE = "leads_flow_reject"
RUN_TABLE = "leads_flow_run"

REPORT_PREFIX = "/leads-flow"
"""Where the run report plugin is mounted on the api-server (plugins/leads_flow_report.py)."""
REPORT_UI_ROUTE = "leads-flow-runs"
"""The report's page inside the Airflow UI: ``/plugin/<route>`` frames the report, ``/plugin/<route>/<path>``
opens ``<path>`` of it (after the UI's own login, if needed)."""

TZ = ZoneInfo("Asia/Shanghai")
"""Legacy DATETIME columns are naive wall-clock time in this zone."""

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ConfigError(ValueError):
    """A setting is malformed; raised before anything touches a database."""


def ident(name: str) -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise: identifiers cannot be bound."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ConfigError(f"not a valid SQL identifier: {name!r}")
    return name


@dataclass(frozen=True)
class Settings:
    """Tunables of a run; defaults suit production, env vars override them for operators."""

    overlap_minutes: int = 60
    chunk_rows: int = 20_000
    workers: int = min(2, os.cpu_count() or 1)  # processes that extract, map and load slices of a partition
    # Processes for a window read through index ranges (a daily increment): each row costs a random read
    # that waits on the legacy server's disk, not on a core, so more readers than cores pay (10M-row
    # table, 1% changed: 2 readers 4.6 s, 4 readers 3.5 s, 8 readers 2.7 s). Each holds a legacy connection.
    read_workers: int = 8
    max_reject_ratio: float = 0.05
    main_business_ids: frozenset[int] | None = None  # None: any positive integer
    min_join_time: datetime = datetime(2015, 1, 1)
    legacy_table: str = LEGACY_TABLE
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        ident(self.legacy_table)
        if self.overlap_minutes < 0:
            raise ConfigError("overlap_minutes must be >= 0")
        if not 0 <= self.max_reject_ratio <= 1:
            raise ConfigError("max_reject_ratio must lie in [0, 1]")
        if not 1 <= self.workers <= 64 or not 1 <= self.read_workers <= 64:
            raise ConfigError("workers and read_workers must lie in [1, 64]")
        if self.chunk_rows < 1:
            raise ConfigError("chunk_rows must be >= 1")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read ``LEADS_FLOW_*`` variables; explicit overrides (DAG params) win."""
        kw: dict[str, object] = {}
        if v := os.environ.get("LEADS_FLOW_CHUNK_ROWS"):
            kw["chunk_rows"] = int(v)
        if v := os.environ.get("LEADS_FLOW_WORKERS"):
            kw["workers"] = int(v)
        if v := os.environ.get("LEADS_FLOW_READ_WORKERS"):
            kw["read_workers"] = int(v)
        if v := os.environ.get("LEADS_FLOW_LEGACY_TABLE"):
            kw["legacy_table"] = v
        if v := os.environ.get("LEADS_FLOW_MAIN_BUSINESS_IDS"):
            try:
                kw["main_business_ids"] = frozenset(int(x) for x in json.loads(v))
            except (ValueError, TypeError) as exc:
                raise ConfigError("LEADS_FLOW_MAIN_BUSINESS_IDS must be a JSON list of integers") from exc
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)  # type: ignore[arg-type]

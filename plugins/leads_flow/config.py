"""Settings and the environment: tunables of a run (:class:`Settings`), the ``LEADS_FLOW_*`` variables (read here
and nowhere else), task retry policy, and :func:`ident`, which validates every identifier that reaches SQL text
(never a value). The names other teams rely on live in :mod:`leads_flow.names`."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from leads_flow.errors import Permanent
from leads_flow.names import LEGACY_TABLE, TZ_NAME

DB_TASK: dict = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}
"""Retry policy of every task that talks to a database (transient errors; permanent ones fail fast)."""

TZ = ZoneInfo(TZ_NAME)
"""Legacy DATETIME columns are naive wall-clock time in this zone."""

_log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ConfigError(Permanent, ValueError):
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
    # The bulk path (docs/scaling.md): a window of at least this many legacy rows, and at least half as many as
    # leads_flow holds, is imported by row-sized partitions and one bulk publish instead of daily upserts.
    bulk_min_rows: int = 500_000
    bulk_partition_rows: int = 500_000  # legacy rows of the window per bulk partition (an estimate)

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
        if self.bulk_min_rows < 1 or self.bulk_partition_rows < 1:
            raise ConfigError("bulk_min_rows and bulk_partition_rows must be >= 1")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read ``LEADS_FLOW_*`` variables; explicit overrides (DAG params) win."""
        kw: dict[str, object] = {}
        for key, name, hi in (
            ("chunk_rows", "LEADS_FLOW_CHUNK_ROWS", 10_000_000),
            ("workers", "LEADS_FLOW_WORKERS", 64),
            ("read_workers", "LEADS_FLOW_READ_WORKERS", 64),
            ("bulk_min_rows", "LEADS_FLOW_BULK_MIN_ROWS", 10**12),
            ("bulk_partition_rows", "LEADS_FLOW_BULK_PARTITION_ROWS", 10**12),
        ):
            if env_text(name) is not None:
                kw[key] = env_int(name, 0, 1, hi, key.replace("_", " "))
        if v := env_text("LEADS_FLOW_LEGACY_TABLE"):
            kw["legacy_table"] = v
        if v := env_text("LEADS_FLOW_MAIN_BUSINESS_IDS"):
            try:
                kw["main_business_ids"] = frozenset(int(x) for x in json.loads(v))
            except (ValueError, TypeError) as exc:
                raise ConfigError("LEADS_FLOW_MAIN_BUSINESS_IDS must be a JSON list of integers") from exc
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)  # type: ignore[arg-type]


# --- the environment: read here and nowhere else -------------------------------------------------------

LOCK_WAIT_TIMEOUT_ENV = "LEADS_FLOW_LOCK_WAIT_TIMEOUT"
RETENTION_ENV = "LEADS_FLOW_STAGE_RETENTION_HOURS"
DEFAULT_RETENTION_HOURS = 72
DRIFT_RETENTION_ENV = "LEADS_FLOW_DRIFT_RETENTION_DAYS"
DEFAULT_DRIFT_RETENTION_DAYS = 90
REJECT_RETENTION_ENV = "LEADS_FLOW_REJECT_RETENTION_DAYS"
DEFAULT_REJECT_RETENTION_DAYS = 90


def env_text(name: str) -> str | None:
    """An environment variable as set; empty means unset. Not stripped: a value of spaces reaches the
    check of its setting and is refused there (a table name of " " must fail, not fall back)."""
    return os.environ.get(name) or None


def env_int(name: str, default: int, lo: int, hi: int, unit: str) -> int:
    """A whole-number setting in [lo, hi]; anything else is a :class:`ConfigError` naming the variable."""
    raw = (env_text(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of {unit}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must lie in [{lo}, {hi}] {unit}")
    return value


def lock_wait_timeout() -> int:
    """Seconds a statement waits for a row lock or a metadata lock (LOCK TABLES, ALTER) before 1205.

    Both limits are set: MariaDB's default metadata-lock wait is a day, so a publish stuck behind a
    table lock would hang the task instead of failing transiently and being retried.
    """
    return env_int(LOCK_WAIT_TIMEOUT_ENV, 50, 1, 3600, "seconds")


def retention_hours() -> int:
    """How long failed runs' staging tables are kept; at least an hour, so runs in flight are never touched."""
    return env_int(RETENTION_ENV, DEFAULT_RETENTION_HOURS, 1, 24 * 366, "hours")


def drift_retention_days() -> int:
    """How long reconcile's per-lead drift rows are kept (their run summaries stay)."""
    return env_int(DRIFT_RETENTION_ENV, DEFAULT_DRIFT_RETENTION_DAYS, 1, 3660, "days")


def reject_retention_days() -> int:
    """How long rejected rows (their raw values, phone encrypted) are kept in leads_flow_reject."""
    return env_int(REJECT_RETENTION_ENV, DEFAULT_REJECT_RETENTION_DAYS, 1, 3660, "days")


VANISH_SHARE_ENV = "LEADS_FLOW_VANISH_MAX_SHARE"
DEFAULT_VANISH_SHARE = 0.01


def vanish_max_share() -> float:
    """The hard-delete watch's guard: the largest share of compared leads that may vanish in one day (default
    1%); more, and nothing is marked (a partial legacy read must never look like a mass delete)."""
    return env_float(VANISH_SHARE_ENV, DEFAULT_VANISH_SHARE, 0, 1)


def env_float(name: str, default: float, lo: float, hi: float) -> float:
    """A decimal setting in [lo, hi]; anything else is a :class:`ConfigError` naming the variable."""
    raw = (env_text(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number in [{lo}, {hi}]") from None
    if not lo <= value <= hi:  # NaN fails this too
        raise ConfigError(f"{name} must lie in [{lo}, {hi}]")
    return value


# --- operators hear first: the freshness deadline and the volume check --------------------------------

FRESHNESS_DEADLINE_ENV = "LEADS_FLOW_FRESHNESS_DEADLINE"
DEFAULT_FRESHNESS_DEADLINE = "09:00"
_HH_MM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def freshness_deadline() -> time:
    """The Asia/Shanghai time of day by which yesterday's partition must be published (``HH:MM``); the
    watchdog DAG is scheduled at it, so a DAG file reads it at parse time and a change needs a re-parse."""
    raw = (env_text(FRESHNESS_DEADLINE_ENV) or DEFAULT_FRESHNESS_DEADLINE).strip()
    if not (m := _HH_MM.fullmatch(raw)):
        raise ConfigError(f"{FRESHNESS_DEADLINE_ENV} must be a time of day HH:MM (Asia/Shanghai)")
    return time(int(m.group(1)), int(m.group(2)))


VOLUME_MODE_ENV = "LEADS_FLOW_VOLUME_CHECK"
VOLUME_FLOOR_ENV = "LEADS_FLOW_VOLUME_FLOOR"
VOLUME_CEILING_ENV = "LEADS_FLOW_VOLUME_CEILING"
VOLUME_DAYS_ENV = "LEADS_FLOW_VOLUME_DAYS"
VOLUME_MIN_DAYS_ENV = "LEADS_FLOW_VOLUME_MIN_DAYS"
VOLUME_MODES = ("warn", "fail", "off")


@dataclass(frozen=True)
class VolumePolicy:
    """The gate's volume check: a partition's extracted rows against the median of the last ``days`` published
    partitions on the same weekday. Below ``floor`` × median or above ``ceiling`` × median it warns (the run
    goes on) or fails (nothing published); with fewer than ``min_days`` such partitions the check is exempt."""

    mode: str = "warn"
    floor: float = 0.3
    ceiling: float = 3.0
    days: int = 4
    min_days: int = 3

    def __post_init__(self) -> None:
        if self.mode not in VOLUME_MODES:
            raise ConfigError(f"{VOLUME_MODE_ENV} must be one of {', '.join(VOLUME_MODES)}")
        if not 0 <= self.floor <= 1 <= self.ceiling:
            raise ConfigError("the volume floor must lie in [0, 1] and the ceiling be >= 1")
        if not 1 <= self.min_days <= self.days:
            raise ConfigError("the volume check needs 1 <= min_days <= days")


VOLUME_AUTO = "auto"
"""The ``volume_check`` param's default: the deployment's ``LEADS_FLOW_VOLUME_CHECK`` decides (as null does)."""


def volume_policy(mode: str | None = None) -> VolumePolicy:
    """The volume check's settings from ``LEADS_FLOW_VOLUME_*`` (defaults: warn, 0.3, 3.0, 4 days, 3 needed);
    ``mode`` (a run's ``volume_check`` param, e.g. to rerun a holiday in warn mode) wins over the variable;
    ``auto`` and None leave it to the variable."""
    d = VolumePolicy()
    mode = None if (mode or "").strip().lower() == VOLUME_AUTO else mode
    return VolumePolicy(
        mode=(mode or env_text(VOLUME_MODE_ENV) or d.mode).strip().lower(),
        floor=env_float(VOLUME_FLOOR_ENV, d.floor, 0, 1),
        ceiling=env_float(VOLUME_CEILING_ENV, d.ceiling, 1, 1000),
        days=env_int(VOLUME_DAYS_ENV, d.days, 1, 52, "days"),
        min_days=env_int(VOLUME_MIN_DAYS_ENV, d.min_days, 1, 52, "days"),
    )


# --- alerts (tasks.notify, tasks.webhook): an Airflow connection or Variable, else the environment ------------

WEBHOOK_CONN_ID = "leads_flow_alert_webhook"
"""The alert webhook's connection: the whole URL in its ``password``, a field Airflow masks in the REST API and UI."""
WEBHOOK_VARIABLE, WEBHOOK_ENV = "leads_flow_alert_webhook", "LEADS_FLOW_ALERT_WEBHOOK"
EMAIL_VARIABLE, EMAIL_ENV = "leads_flow_alert_email", "LEADS_FLOW_ALERT_EMAIL"
EMAIL_FROM_ENV, SMTP_CONN_ENV = "LEADS_FLOW_ALERT_EMAIL_FROM", "LEADS_FLOW_ALERT_SMTP_CONN_ID"
WEBHOOK_CA_ENV = "LEADS_FLOW_ALERT_WEBHOOK_CA_FILE"


def _blank_is_unset(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return _blank_is_unset(Variable.get(name, default=None))
    except Exception:  # noqa: BLE001 - no Variable backend here: the env var decides
        return None


def alert_setting(variable: str, env: str) -> str | None:
    """An Airflow Variable if set, else the env var; blank means unset. Not for secrets (a Variable is shown in
    clear to every user who may read Variables): the webhook has :func:`alert_webhook_url`."""
    return _variable(variable) or _blank_is_unset(env_text(env))


def _connection_password(conn_id: str) -> str | None:
    """The password of an Airflow connection; None when the connection does not exist or cannot be read (logged,
    without a value: an alert must still go to the other channels)."""
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    try:
        return _blank_is_unset(BaseHook.get_connection(conn_id).password)
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # noqa: BLE001 - a secrets backend down, access denied
        _log.warning("connection %r could not be read (%s)", conn_id, type(exc).__name__)
        return None


def alert_webhook_url() -> str | None:
    """The alert webhook URL (a secret: it usually carries a token), from the first of

    1. the env var ``LEADS_FLOW_ALERT_WEBHOOK`` of the task processes, when a deployment sets one: no Airflow
       user can override it (an op may create connections in the metadata database, which a lookup reaches
       last);
    2. the connection ``leads_flow_alert_webhook``, the URL as its password (secrets backend, environment or
       metadata database: Airflow masks a password in the REST API, the UI and task logs);
    3. the Variable ``leads_flow_alert_webhook``, still read but deprecated, with a warning: Airflow shows that
       Variable in clear to every user who may read Variables, and any op may set it.

    The log line names the source, never the value."""
    url = _blank_is_unset(env_text(WEBHOOK_ENV)) or _connection_password(WEBHOOK_CONN_ID)
    if url:
        return url
    url = _variable(WEBHOOK_VARIABLE)
    if url:
        _log.warning(
            "leads-flow alert webhook read from the Airflow Variable %r, which every user who may read Variables "
            "sees in clear: move the URL to the password of the connection %r and delete the Variable "
            "(docs/operations.md, Alerts)",
            WEBHOOK_VARIABLE,
            WEBHOOK_CONN_ID,
        )
    return url

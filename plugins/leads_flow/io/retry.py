"""Retries of database work and the transient/permanent split of driver errors.

The one retry layer inside a task (:func:`retrying`); Airflow's task retries are the only layer around it.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from leads_flow.errors import Permanent, Transient

log = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL error numbers worth a retry: the server went away or is shutting down, the connection was
# killed or broke, too many connections, deadlock, lock wait timeout (row or metadata lock), read-only.
_TRANSIENT_MYSQL = {
    1205,
    1213,
    2002,
    2003,
    2006,
    2013,
    2055,
    1927,
    4031,
    1290,
    1836,
    1040,
    1203,
    1226,
    1053,
    1158,
    1159,
    1160,
    1161,
}


class TransientDbError(Transient, RuntimeError):
    """A database error that a retry can cure (lost connection, deadlock, lock wait timeout)."""


class PermanentDbError(Permanent, RuntimeError):
    """A database error no retry will cure (missing table or column, permission, bad data)."""


def classify(exc: BaseException) -> type[RuntimeError] | None:
    """Map a driver exception to the project's transient/permanent split (None: not a DB error)."""
    try:
        import MySQLdb
    except ImportError:  # pragma: no cover - mysqlclient is a hard dependency
        MySQLdb = None  # type: ignore[assignment]
    if MySQLdb is not None and isinstance(exc, MySQLdb.Error):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in _TRANSIENT_MYSQL or isinstance(exc, MySQLdb.OperationalError) and code is None:
            return TransientDbError
        return PermanentDbError
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return TransientDbError
    if isinstance(exc, sqlite3.Error):
        return PermanentDbError
    return None


def is_duplicate_key(exc: BaseException) -> bool:
    """A unique key refused a row (MySQL 1062, or SQLite's UNIQUE/PRIMARY KEY constraint)."""
    import MySQLdb

    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return isinstance(exc, MySQLdb.IntegrityError) and bool(exc.args) and exc.args[0] == 1062


_IN_UNIT: ContextVar[bool] = ContextVar("leads_flow_retried_unit", default=False)


def retrying(fn: Callable[[], T], *, attempts: int = 4, base_delay: float = 0.5, what: str = "db") -> T:
    """Run ``fn``; on a transient DB error wait (exponential backoff with jitter) and run it again.

    The one retry layer inside a task. Budget: ``attempts`` (4) runs of ``fn``, waiting 0.5, 1 and 2 s
    (+ up to 50 % jitter) between them, so at most ~5 s of waiting; Airflow's task retries
    (:data:`leads_flow.config.DB_TASK`, 3) multiply that to at most 16 runs of one unit per DAG run.
    Connections opened inside ``fn`` make one attempt each (:func:`leads_flow.io.connect.connect`): their failure is this
    layer's to retry, never a nested loop.

    ``fn`` must be safe to repeat (it opens its own connection and transaction). Permanent errors
    are raised at once as :class:`PermanentDbError` with the server's message.
    """
    if _IN_UNIT.get():  # already inside a retried unit: one layer only
        return fn()
    token = _IN_UNIT.set(True)
    try:
        return _retry(fn, attempts, base_delay, what)
    finally:
        _IN_UNIT.reset(token)


def _retry(fn: Callable[[], T], attempts: int, base_delay: float, what: str) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (TransientDbError, PermanentDbError):
            raise
        except Exception as exc:  # noqa: BLE001 - classified just below
            kind = classify(exc)
            if kind is None:
                raise
            if kind is PermanentDbError or attempt == attempts:
                raise kind(f"{what}: {type(exc).__name__}: {exc}") from exc
            delay = base_delay * 2 ** (attempt - 1) * (1 + random.random() / 2)
            log.warning(
                "%s: transient %s (attempt %d/%d), retrying in %.1fs",
                what,
                type(exc).__name__,
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")

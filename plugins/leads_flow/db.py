"""Database access for both dialects the project runs on: MySQL/MariaDB in production, SQLite for the demo.

Every statement lives in ``include/sql/<dialect>/`` or ``include/sql/common/`` and is written with
``:name`` (or ``?`` for executemany) placeholders; :class:`Db` turns them into the driver's style.
Identifiers (table names) are formatted in only after :func:`leads_flow.config.ident` accepted them.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar

from leads_flow.config import SQL_DIR, ConfigError, ident

log = logging.getLogger(__name__)

Dialect = Literal["mysql", "sqlite"]
T = TypeVar("T")

# MySQL error numbers worth a retry: the server went away or is shutting down, the connection was
# killed or broke, too many connections, deadlock, lock wait timeout (row or metadata lock), read-only.
_TRANSIENT_MYSQL = {1205, 1213, 2002, 2003, 2006, 2013, 2055, 1927, 4031, 1290, 1836,
                    1040, 1203, 1226, 1053, 1158, 1159, 1160, 1161}
LOCK_WAIT_TIMEOUT_ENV = "LEADS_FLOW_LOCK_WAIT_TIMEOUT"


def lock_wait_timeout() -> int:
    """Seconds a statement waits for a row lock or a metadata lock (LOCK TABLES, ALTER) before 1205.

    Both limits are set: MariaDB's default metadata-lock wait is a day, so a publish stuck behind a
    table lock would hang the task instead of failing transiently and being retried.
    """
    raw = os.environ.get(LOCK_WAIT_TIMEOUT_ENV, "50")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{LOCK_WAIT_TIMEOUT_ENV} must be an integer number of seconds") from None
    if not 1 <= value <= 3600:
        raise ConfigError(f"{LOCK_WAIT_TIMEOUT_ENV} must lie in [1, 3600]")
    return value


class TransientDbError(RuntimeError):
    """A database error that a retry can cure (lost connection, deadlock, lock wait timeout)."""


class PermanentDbError(RuntimeError):
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


def retrying(fn: Callable[[], T], *, attempts: int = 4, base_delay: float = 0.5, what: str = "db") -> T:
    """Run ``fn``; on a transient DB error wait (exponential backoff with jitter) and run it again.

    ``fn`` must be safe to repeat (it opens its own connection and transaction). Permanent errors
    are raised at once as :class:`PermanentDbError` with the server's message.
    """
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
            log.warning("%s: transient %s (attempt %d/%d), retrying in %.1fs",
                        what, type(exc).__name__, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def sql_text(dialect: Dialect, name: str) -> str:
    """The raw text of a SQL file without its comment lines (for SQL handed to other tools, e.g. GX)."""
    return _strip_comments(_sql_text(dialect, name)).strip()


_INCLUDE = re.compile(r"^-- include: ([a-z_][a-z0-9_]*)$", re.MULTILINE)


@lru_cache(maxsize=None)
def _sql_text(dialect: Dialect, name: str) -> str:
    """A SQL file's text; a line ``-- include: other`` stands for the text of ``other.sql`` (same lookup)."""
    for folder in (dialect, "common"):
        path = SQL_DIR / folder / f"{name}.sql"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            return _INCLUDE.sub(lambda m: _sql_text(dialect, m.group(1)).rstrip("\n"), text)
    raise FileNotFoundError(f"no SQL named {name!r} for {dialect}")


_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def render(dialect: Dialect, name: str, **idents: str) -> list[str]:
    """The statements of ``include/sql/.../name.sql`` in the driver's placeholder style."""
    fmt = {k: (v if k in ("columns", "placeholders", "ids") else ident(v)) for k, v in idents.items()}
    text = _strip_comments(_sql_text(dialect, name)).format(**fmt)
    if dialect == "mysql":
        text = text.replace("%", "%%")
        text = _NAMED.sub(r"%(\1)s", text).replace("?", "%s")
    return [s.strip().rstrip(";") for s in text.split(";\n") if s.strip()]


class Db:
    """A DB-API connection plus its dialect; commits are explicit (``transaction``)."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def sql(self, name: str, **idents: str) -> list[str]:
        return render(self.dialect, name, **idents)

    def run(self, name: str, params: dict[str, Any] | None = None, **idents: str) -> int:
        """Execute every statement of a SQL file; return the last statement's rowcount."""
        cur = self.conn.cursor()
        try:
            rowcount = 0
            for stmt in self.sql(name, **idents):
                cur.execute(stmt, self._params(params))
                rowcount = cur.rowcount
            return rowcount
        finally:
            cur.close()

    def query(self, name: str, params: dict[str, Any] | None = None, **idents: str) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            cur.execute(self.sql(name, **idents)[0], self._params(params))
            return list(cur.fetchall())
        finally:
            cur.close()

    def executemany(self, name: str, rows: Sequence[Sequence[Any]], **idents: str) -> None:
        if not rows:
            return
        cur = self.conn.cursor()
        try:
            cur.executemany(self.sql(name, **idents)[0], [self._row(r) for r in rows])
        finally:
            cur.close()

    def stream(self, name: str, params: dict[str, Any], batch: int, **idents: str) -> Iterator[list[tuple]]:
        """Yield the result in lists of at most ``batch`` rows without holding the whole result."""
        if self.dialect == "mysql":
            import MySQLdb.cursors

            cur = self.conn.cursor(MySQLdb.cursors.SSCursor)
        else:
            cur = self.conn.cursor()
        try:
            cur.execute(self.sql(name, **idents)[0], self._params(params))
            while rows := cur.fetchmany(batch):
                yield list(rows)
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator["Db"]:
        try:
            yield self
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a dead connection must not mask the real error
            pass

    def _params(self, params: dict[str, Any] | None) -> dict[str, Any] | tuple:
        if params is None:
            return () if self.dialect == "sqlite" else None  # type: ignore[return-value]
        if self.dialect == "mysql":
            return params
        return {k: _sqlite_value(v) for k, v in params.items()}

    def _row(self, row: Sequence[Any]) -> Sequence[Any]:
        return row if self.dialect == "mysql" else [_sqlite_value(v) for v in row]


def _sqlite_regexp(pattern: str, value: Any) -> bool:
    """``value REGEXP pattern`` for SQLite, which has the operator but no function behind it."""
    return value is not None and re.search(pattern, str(value)) is not None


def _sqlite_regexp_replace(value: Any, pattern: str, replacement: str) -> Any:
    """MariaDB's ``REGEXP_REPLACE`` for SQLite (the gate's phone check folds text with it)."""
    return None if value is None else re.sub(pattern, replacement, str(value))


def _sqlite_value(v: Any) -> Any:
    # sqlite3's implicit datetime adapter is deprecated; store the same text MySQL would show.
    if hasattr(v, "isoformat") and not isinstance(v, str):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return v


def get_connection(conn_id: str) -> Any:
    """The Airflow connection (from any secrets backend, or the task's supervisor)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def dialect_of(conn_id: str, connection: Any = None) -> Dialect:
    conn_type = ((connection or get_connection(conn_id)).conn_type or "").lower()
    if conn_type in ("mysql", "mariadb"):
        return "mysql"
    if conn_type == "sqlite":
        return "sqlite"
    raise PermanentDbError(f"connection {conn_id!r}: unsupported conn_type {conn_type!r} (mysql or sqlite)")


def sqlite_path(conn_id: str, connection: Any = None) -> str:
    """The file of a sqlite connection: JSON connections put it in host, URIs (sqlite:////abs) in schema."""
    c = connection or get_connection(conn_id)
    path = c.host or c.schema
    if not path:
        raise PermanentDbError(f"connection {conn_id!r}: sqlite connection without a file path")
    return path


def connect(conn_id: str, *, local_infile: bool = False, connection: Any = None) -> Db:
    """Open a connection through the provider's hook, so any secrets backend can hold it.

    ``connection`` is an already resolved Airflow Connection: worker processes forked by a task get
    one from their parent instead of asking the task's supervisor themselves.
    """

    def _open() -> Db:
        wait = lock_wait_timeout()
        c = connection or get_connection(conn_id)
        dialect = dialect_of(conn_id, c)
        if dialect == "mysql":
            from airflow.providers.mysql.hooks.mysql import MySqlHook

            conn = MySqlHook(mysql_conn_id=conn_id, connection=c, local_infile=local_infile).get_conn()
            _fast_datetimes(conn)
            conn.set_character_set("utf8mb4")
            conn.autocommit(False)
            cur = conn.cursor()
            cur.execute("SET SESSION time_zone = '+08:00', SESSION innodb_lock_wait_timeout = %s, "
                        "SESSION lock_wait_timeout = %s", (wait, wait))
            cur.close()
            return Db(conn, "mysql")
        conn = sqlite3.connect(sqlite_path(conn_id, c), timeout=30)
        conn.create_function("REGEXP", 2, _sqlite_regexp, deterministic=True)
        conn.create_function("REGEXP_REPLACE", 3, _sqlite_regexp_replace, deterministic=True)
        return Db(conn, "sqlite")

    return retrying(_open, what=f"connect {conn_id}")


def _datetime_or_none(text: str, _parse: Callable[[str], datetime] = datetime.fromisoformat) -> datetime | None:
    """DATETIME/TIMESTAMP text to datetime in C; anything else (zero or invalid dates) as mysqlclient does."""
    try:
        return _parse(text)
    except (ValueError, TypeError):
        from MySQLdb.times import DateTime_or_None

        return DateTime_or_None(text)


def _fast_datetimes(conn: Any) -> None:
    """mysqlclient converts datetimes in Python (~1.1 µs each, 3 per legacy row): a fifth of the extraction.

    The connection's own converter table is changed, never the module's.
    """
    from MySQLdb.constants import FIELD_TYPE

    conn.converter[FIELD_TYPE.DATETIME] = conn.converter[FIELD_TYPE.TIMESTAMP] = _datetime_or_none


@contextmanager
def connected(conn_id: str, *, local_infile: bool = False, connection: Any = None) -> Iterator[Db]:
    db = connect(conn_id, local_infile=local_infile, connection=connection)
    try:
        yield db
    finally:
        db.close()

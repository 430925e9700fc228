"""Database access for both dialects the project runs on: MySQL/MariaDB in production, SQLite for the demo.

Every statement lives in ``include/sql/<dialect>/`` or ``include/sql/common/`` and is written with
``:name`` (or ``?`` for executemany) placeholders; :class:`Db` turns them into the driver's style.
Identifiers (table names) are formatted in only after :func:`leads_flow.config.ident` accepted them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from typing import Any, Literal, TypeVar

from leads_flow.config import SQL_DIR, ident, lock_wait_timeout

log = logging.getLogger(__name__)

Dialect = Literal["mysql", "sqlite"]
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


_IN_UNIT: ContextVar[bool] = ContextVar("leads_flow_retried_unit", default=False)


def retrying(fn: Callable[[], T], *, attempts: int = 4, base_delay: float = 0.5, what: str = "db") -> T:
    """Run ``fn``; on a transient DB error wait (exponential backoff with jitter) and run it again.

    The one retry layer inside a task. Budget: ``attempts`` (4) runs of ``fn``, waiting 0.5, 1 and 2 s
    (+ up to 50 % jitter) between them, so at most ~5 s of waiting; Airflow's task retries
    (:data:`leads_flow.config.DB_TASK`, 3) multiply that to at most 16 runs of one unit per DAG run.
    Connections opened inside ``fn`` make one attempt each (:func:`connect`): their failure is this
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


def sql_text(dialect: Dialect, name: str) -> str:
    """The raw text of a SQL file without its comment lines (for SQL handed to other tools, e.g. GX)."""
    return _strip_comments(_sql_text(dialect, name)).strip()


_INCLUDE = re.compile(r"^-- include: ([a-z_][a-z0-9_]*)$", re.MULTILINE)


@cache
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


_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
"""The one substitution syntax of include/sql: ``{name}`` (a regex quantifier such as ``{9}`` is no slot)."""
_SQL_LISTS = ("columns", "placeholders", "ids")  # built by the package from its own column lists and ints


def fill(text: str, **slots: str) -> str:
    """Fill every ``{name}`` slot of ``text``; a slot without a value is an error, never left in the SQL."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in slots:
            raise KeyError(f"SQL slot {{{m.group(1)}}} has no value")
        return slots[m.group(1)]

    return _SLOT.sub(value, text)


@cache
def _column_slots() -> dict[str, str]:
    """Column lists every statement may use, derived from the field rules (never written out by hand)."""
    from leads_flow.rules.mapping import STAGE_COLUMNS

    return {"flow_columns": ", ".join(STAGE_COLUMNS), "flow_values": ", ".join(f":{c}" for c in STAGE_COLUMNS)}


def render(dialect: Dialect, name: str, **idents: str) -> list[str]:
    """The statements of ``include/sql/.../name.sql`` in the driver's placeholder style.

    Slots hold identifiers (checked by :func:`ident`) or the package's own lists (``columns``, ``ids``,
    ``placeholders``); values are always bound (``:name``), never filled in.
    """
    fmt = {**_column_slots(), **{k: (v if k in _SQL_LISTS else ident(v)) for k, v in idents.items()}}
    text = fill(_strip_comments(_sql_text(dialect, name)), **fmt)
    if dialect == "mysql":
        text = text.replace("%", "%%")
        text = _NAMED.sub(r"%(\1)s", text).replace("?", "%s")
    return [s.strip().rstrip(";") for s in text.split(";\n") if s.strip()]


class Db:
    """A DB-API connection plus its dialect; commits are explicit (``transaction``)."""

    def __init__(self, conn: Any, dialect: Dialect, infile: _InfileGuard | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self._infile = infile

    @contextmanager
    def local_infile(self, path: str) -> Iterator[None]:
        """Let the server read ``path``, and nothing else, through one LOAD DATA LOCAL INFILE in the block.

        Outside such a block the connection sends no file at all, whatever the server asks for.
        """
        if self._infile is None:
            raise PermanentDbError("LOAD DATA LOCAL INFILE on a connection opened without local_infile=True")
        self._infile.allow(path)
        try:
            yield
        finally:
            self._infile.allow(None)

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
    def transaction(self) -> Iterator[Db]:
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


# Connector/C's MYSQL_OPT_LOCAL_INFILE value "auto": a file request is accepted only as the answer to a
# query that starts with LOAD (any other answer gets "Load data local infile forbidden").
_LOCAL_INFILE_AUTO = 2
_INFILE_REFUSED = 2000  # CR_UNKNOWN_ERROR: mysqlclient raises OperationalError, classified permanent


def connect(conn_id: str, *, local_infile: bool = False, connection: Any = None) -> Db:
    """Open a connection through the provider's hook, so any secrets backend can hold it.

    ``connection`` is an already resolved Airflow Connection: worker processes forked by a task get
    one from their parent instead of asking the task's supervisor themselves.

    ``local_infile`` allows LOAD DATA LOCAL INFILE, restricted: the client sends a file only inside
    :meth:`Db.local_infile` and only the file named there (see :class:`_InfileGuard`). Without it the
    client refuses every file request. TLS comes from the connection's ``ssl``/``ssl_mode`` extras
    (docs/operations.md, "TLS to the databases").
    """

    def _open() -> Db:
        wait = lock_wait_timeout()
        c = connection or get_connection(conn_id)
        dialect = dialect_of(conn_id, c)
        if dialect == "mysql":
            hook = _hook_class()(mysql_conn_id=conn_id, connection=c, local_infile=local_infile)
            conn = hook.get_conn()
            guard = None
            try:
                if not hook.leads_flow_configured:  # the provider renamed the method we refine: fail closed
                    raise PermanentDbError(
                        f"connection {conn_id!r}: the MySQL provider's connection config "
                        "was not checked (provider version not supported)"
                    )
                if local_infile:
                    guard = _InfileGuard.install(conn, conn_id)
            except BaseException:
                conn.close()
                raise
            _fast_datetimes(conn)
            conn.set_character_set("utf8mb4")
            conn.autocommit(False)
            cur = conn.cursor()
            cur.execute(
                "SET SESSION time_zone = '+08:00', SESSION innodb_lock_wait_timeout = %s, "
                "SESSION lock_wait_timeout = %s",
                (wait, wait),
            )
            cur.close()
            return Db(conn, "mysql", guard)
        conn = sqlite3.connect(sqlite_path(conn_id, c), timeout=30)
        conn.create_function("REGEXP", 2, _sqlite_regexp, deterministic=True)
        conn.create_function("REGEXP_REPLACE", 3, _sqlite_regexp_replace, deterministic=True)
        return Db(conn, "sqlite")

    return retrying(_open, what=f"connect {conn_id}")  # inside a retried unit: a single attempt


_TLS_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")


def tls_config(conn_id: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Check the TLS part of mysqlclient's connect arguments (from the ``ssl``/``ssl_mode`` extras).

    A CA given without ``ssl_mode`` means "verify the server" (VERIFY_IDENTITY: chain and host name);
    mysqlclient alone would then only *prefer* TLS and verify nothing. A weaker explicit mode is kept
    but logged, since it lets anyone who can answer on the server's address impersonate it.
    """
    ssl, mode = cfg.get("ssl"), cfg.get("ssl_mode")
    if mode is not None:
        mode = str(mode).strip().upper()
        if mode not in _TLS_MODES:
            raise PermanentDbError(f"connection {conn_id!r}: ssl_mode must be one of {', '.join(_TLS_MODES)}")
        cfg["ssl_mode"] = mode
    if isinstance(ssl, dict) and (ssl.get("ca") or ssl.get("capath")) and mode is None:
        cfg["ssl_mode"] = mode = "VERIFY_IDENTITY"
    if ssl and mode in ("PREFERRED", "REQUIRED"):
        log.warning(
            "connection %s: TLS without server verification (ssl_mode %s): set ssl.ca and ssl_mode VERIFY_IDENTITY",
            conn_id,
            mode,
        )
    return cfg


@cache
def _hook_class() -> type:
    """MySqlHook whose mysqlclient arguments pin local_infile (off, or Connector/C's "auto") and TLS."""
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    class _Hook(MySqlHook):
        leads_flow_configured = False

        def _get_conn_config_mysql_client(self, conn: Any) -> dict:
            cfg = super()._get_conn_config_mysql_client(conn)
            # Always explicit: the client library's compiled-in default may accept file requests.
            cfg["local_infile"] = _LOCAL_INFILE_AUTO if self.local_infile else 0
            self.leads_flow_configured = True
            return tls_config(self.get_conn_id(), cfg)

    return _Hook


_INIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_void_p)
_READ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint)
_END = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_ERROR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint)


class _InfileGuard:
    """The connection's LOAD DATA LOCAL INFILE handler: it sends only the one file armed by ``allow``.

    Installed with Connector/C's ``mysql_set_local_infile_handler`` (mysqlclient has no path option for
    MariaDB's client library: its ``local_infile_dir`` needs MySQL's libmysqlclient >= 8.0.21). A server
    that answers a query with a file request gets the armed file when it names exactly that path (as the
    LOAD statement does), and an empty file plus a client error otherwise: no other path, no symlink, no
    device, nothing while no file is armed. The armed file is sent at most once.
    """

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._allowed: bytes | None = None
        self._fd = -1
        self._lock = threading.Lock()
        self.refused = 0
        # ctypes callbacks: keep references for the connection's lifetime (the C side stores the pointers).
        self._callbacks = (_INIT(self._init), _READ(self._read), _END(self._end), _ERROR(self._error))

    @classmethod
    def install(cls, conn: Any, conn_id: str) -> _InfileGuard:
        guard = cls(conn_id)
        try:
            import MySQLdb._mysql

            capsule = conn._get_native_connection()
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            mysql = get_pointer(capsule, b"_mysql.connection.native_connection")
            # dlsym through the extension module finds the client library it is linked with (or contains).
            set_handler = ctypes.CDLL(MySQLdb._mysql.__file__).mysql_set_local_infile_handler
        except (AttributeError, OSError, ValueError, ImportError) as exc:
            raise PermanentDbError(
                f"connection {conn_id!r}: cannot restrict LOAD DATA LOCAL INFILE with this "
                f"client library ({type(exc).__name__}); mysqlclient is required"
            ) from exc
        set_handler.restype = None
        set_handler.argtypes = [ctypes.c_void_p, _INIT, _READ, _END, _ERROR, ctypes.c_void_p]
        set_handler(mysql, *guard._callbacks, None)
        conn._leads_flow_infile_guard = guard  # the callbacks live as long as the connection
        return guard

    def allow(self, path: str | None) -> None:
        with self._lock:
            self._allowed = os.fsencode(path) if path is not None else None

    # The callbacks run inside the client library, with the GIL taken back by ctypes. An exception
    # must never escape one (ctypes would print it and return 0, which init would read as success).
    def _init(self, info: Any, filename: bytes | None, _userdata: Any) -> int:
        try:
            with self._lock:
                allowed, self._allowed = self._allowed, None  # one request per arming
            self._fd = -1
            if allowed is None or filename != allowed:
                self.refused += 1
                log.error(
                    "connection %s: the server asked for a file other than the staging file "
                    "(LOAD DATA LOCAL INFILE); refused, nothing sent",
                    self.conn_id,
                )
                return 1
            fd = os.open(allowed, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                os.close(fd)
                self.refused += 1
                log.error("connection %s: the staging file is not a regular file of ours; refused", self.conn_id)
                return 1
            self._fd = fd
            return 0
        except BaseException:  # noqa: BLE001 - see above
            self.refused += 1
            log.error("connection %s: cannot open the staging file for LOAD DATA; refused", self.conn_id)
            return 1

    def _read(self, _info: Any, buf: int, size: int) -> int:
        try:
            data = os.read(self._fd, size)
            ctypes.memmove(buf, data, len(data))
            return len(data)
        except BaseException:  # noqa: BLE001
            return -1

    def _end(self, _info: Any) -> None:
        try:
            if self._fd >= 0:
                os.close(self._fd)
        except BaseException:  # noqa: BLE001
            pass
        self._fd = -1

    def _error(self, _info: Any, buf: int, size: int) -> int:
        # A constant text: Connector/C uses it as a printf format, so nothing the server sent goes in.
        msg = b"LOAD DATA LOCAL INFILE refused: the server asked for a file other than the staging file"
        try:
            if size > 0:
                data = msg[: size - 1] + b"\0"
                ctypes.memmove(buf, data, len(data))
        except BaseException:  # noqa: BLE001
            pass
        return _INFILE_REFUSED


def as_datetime(v: object) -> datetime | None:
    """The one conversion of a DATETIME read back from either dialect: MySQL hands back datetimes (zero dates
    as None), SQLite the ISO text the pipeline stored; a DATE becomes midnight; anything unparsable is None."""
    if v is None or isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v, datetime.min.time())
    try:
        return datetime.fromisoformat(str(v))
    except ValueError:  # zero dates and other garbage the legacy data may hold
        return None


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

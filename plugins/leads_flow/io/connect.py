"""Opening connections: Airflow connections through the MySQL provider's hook (so any secrets backend can
hold them), TLS as the connection's extras say, SQLite for the demo."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from leads_flow.config import lock_wait_timeout
from leads_flow.io.db import Db
from leads_flow.io.infile import LOCAL_INFILE_AUTO, InfileGuard
from leads_flow.io.retry import PermanentDbError, retrying
from leads_flow.io.sql import Dialect

log = logging.getLogger(__name__)


def sqlite_regexp(pattern: str, value: Any) -> bool:
    """``value REGEXP pattern`` for SQLite, which has the operator but no function behind it."""
    return value is not None and re.search(pattern, str(value)) is not None


def sqlite_regexp_replace(value: Any, pattern: str, replacement: str) -> Any:
    """MariaDB's ``REGEXP_REPLACE`` for SQLite (the gate's phone check folds text with it)."""
    return None if value is None else re.sub(pattern, replacement, str(value))


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


def connect(conn_id: str, *, local_infile: bool = False, connection: Any = None) -> Db:
    """Open a connection through the provider's hook, so any secrets backend can hold it.

    ``connection`` is an already resolved Airflow Connection: worker processes forked by a task get
    one from their parent instead of asking the task's supervisor themselves.

    ``local_infile`` allows LOAD DATA LOCAL INFILE, restricted: the client sends a file only inside
    :meth:`Db.local_infile` and only the file named there (see :class:`InfileGuard`). Without it the
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
                    guard = InfileGuard.install(conn, conn_id)
            except BaseException:
                conn.close()
                raise
            _fast_datetimes(conn)
            conn.set_character_set("utf8mb4")
            conn.autocommit(False)
            db = Db(conn, "mysql", guard)
            db.run("session_settings", {"wait": wait})
            return db
        conn = sqlite3.connect(sqlite_path(conn_id, c), timeout=30)
        conn.create_function("REGEXP", 2, sqlite_regexp, deterministic=True)
        conn.create_function("REGEXP_REPLACE", 3, sqlite_regexp_replace, deterministic=True)
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
            cfg["local_infile"] = LOCAL_INFILE_AUTO if self.local_infile else 0
            self.leads_flow_configured = True
            return tls_config(self.get_conn_id(), cfg)

    return _Hook


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


_SSL_FILES = ("ca", "capath", "cert", "key", "cipher")


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL for an Airflow connection, so GX reads the same database as the pipeline, with the same TLS:
    the connection's ``ssl``/``ssl_mode`` extras go through :func:`tls_config` exactly as for :func:`connect`
    (SQLAlchemy's mysqldb dialect turns ``ssl_*`` query parameters back into mysqlclient's ``ssl`` and
    ``ssl_mode`` arguments)."""
    from sqlalchemy.engine import URL

    c = get_connection(conn_id)
    if dialect_of(conn_id, c) == "sqlite":
        return f"sqlite:///{sqlite_path(conn_id, c)}"
    cfg = _hook_class()(mysql_conn_id=conn_id, connection=c)._get_conn_config_mysql_client(c)
    query = {"charset": "utf8mb4"}
    ssl = cfg.get("ssl") if isinstance(cfg.get("ssl"), dict) else {}
    query.update({f"ssl_{k}": str(ssl[k]) for k in _SSL_FILES if ssl.get(k)})
    if cfg.get("ssl_mode"):
        query["ssl_mode"] = cfg["ssl_mode"]
    return URL.create(
        "mysql+mysqldb",
        username=c.login or None,
        password=c.password or None,
        host=c.host or "127.0.0.1",
        port=c.port or 3306,
        database=c.schema or None,
        query=query,
    ).render_as_string(hide_password=False)

"""The :class:`Db` wrapper both dialects share (MySQL/MariaDB in production, SQLite for the demo), and the
conversion of DATETIME values read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from leads_flow.io.retry import PermanentDbError
from leads_flow.io.sql import Dialect, render

if TYPE_CHECKING:
    from leads_flow.io.infile import InfileGuard


class Db:
    """A DB-API connection plus its dialect; commits are explicit (``transaction``)."""

    def __init__(self, conn: Any, dialect: Dialect, infile: InfileGuard | None = None) -> None:
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


def _sqlite_value(v: Any) -> Any:
    # sqlite3's implicit datetime adapter is deprecated; store the same text MySQL would show.
    if hasattr(v, "isoformat") and not isinstance(v, str):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return v


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

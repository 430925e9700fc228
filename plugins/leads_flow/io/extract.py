"""Read a window of legacy leads, streaming, index-driven, never altering the legacy table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from leads_flow.config import Settings
from leads_flow.io.db import Db, as_datetime
from leads_flow.io.retry import PermanentDbError
from leads_flow.io.sql import id_list
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.window import Partition

_DATETIME_COLUMNS = [i for i, c in enumerate(LEGACY_COLUMNS) if c in ("join_time", "create_time", "update_time")]


class LegacySchemaError(PermanentDbError):
    """The legacy table lacks a column the field rules need; nothing has been written."""


def check_legacy_schema(db: Db, settings: Settings) -> None:
    """Fail before any write when a required column is missing; extra or widened columns are fine."""
    present = {r[0] for r in db.query("table_columns", {"table": settings.legacy_table})}
    if not present:
        raise LegacySchemaError(f"legacy table {settings.legacy_table!r} not found")
    missing = [c for c in LEGACY_COLUMNS if c not in present]
    if missing:
        raise LegacySchemaError(
            f"legacy table {settings.legacy_table!r} lacks required column(s): {', '.join(missing)}"
        )


def read_window(
    db: Db,
    settings: Settings,
    partition: Partition,
    ids: Sequence[int] | None = None,
    id_range: tuple[int, int] | None = None,
) -> Iterator[list[tuple]]:
    """Yield chunks of legacy rows (tuples in LEGACY_COLUMNS order) whose source_updated_at is in the window,
    or, with ``ids``, exactly those rows whatever their time (the reconcile DAG's repair); ``id_range``
    [from, to) reads the window's rows of that primary-key slice by a sequential scan instead.

    MySQL streams through a server-side cursor, so memory does not grow with the window; the connection
    must not be used for anything else until the iterator is exhausted.
    """
    if ids is not None:
        for i in range(0, len(ids), 1000):
            part = id_list(ids[i : i + 1000])
            yield from _typed(
                db,
                db.stream(
                    "extract_ids",
                    {},
                    settings.chunk_rows,
                    legacy=settings.legacy_table,
                    columns=", ".join(LEGACY_COLUMNS),
                    ids=part,
                ),
            )
        return
    params = {"start": partition.read_start, "end": partition.end}
    if id_range is not None:  # a primary-key slice, scanned in order (history-sized windows, MySQL)
        params.update(id_from=id_range[0], id_to=id_range[1])
        yield from db.stream(
            "extract_scan", params, settings.chunk_rows, legacy=settings.legacy_table, columns=", ".join(LEGACY_COLUMNS)
        )
        return
    yield from _typed(
        db,
        db.stream(
            "extract_window",
            params,
            settings.chunk_rows,
            legacy=settings.legacy_table,
            columns=", ".join(LEGACY_COLUMNS),
        ),
    )


def _typed(db: Db, chunks: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    for chunk in chunks:
        yield typed_legacy_rows(db, chunk)


def typed_legacy_rows(db: Db, rows: list[tuple]) -> list[tuple]:
    """SQLite hands back DATETIME columns as text: parse them like mysqlclient would."""
    if db.dialect == "mysql":  # mysqlclient already returns datetime (None for zero dates)
        return rows
    out = []
    for row in rows:
        r = list(row)
        for i in _DATETIME_COLUMNS:
            r[i] = as_datetime(r[i])
        out.append(tuple(r))
    return out

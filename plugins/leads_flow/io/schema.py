"""The pipeline's own tables: created and migrated idempotently at the start of every run."""

from __future__ import annotations

from leads_flow.io.db import Db

# Columns added after the first release: (table, column, DDL fragment per dialect). Appending an entry
# here is how a column is added to a live deployment; CREATE TABLE in flow_ddl.sql holds the full shape.
MIGRATIONS: tuple[tuple[str, str, dict[str, str]], ...] = ()


def ensure_flow_schema(db: Db) -> None:
    """Create the pipeline's tables if missing (flow, rejects, runs; key-rotation and erasure records; the
    change journal), then add missing columns."""
    for ddl in ("flow_ddl", "rekey_ddl", "erasure_ddl", "history_ddl"):
        db.run(ddl)
    for table, column, ddl in MIGRATIONS:
        present = {r[0] for r in db.query("table_columns", {"table": table})}
        if column not in present:
            db.conn.cursor().execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl[db.dialect]}")
    db.conn.commit()


def create_legacy_table(db: Db) -> None:
    """For tests and demos only: the pipeline never creates or alters a real legacy table."""
    db.run("legacy_ddl")
    db.conn.commit()

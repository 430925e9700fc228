"""The pipeline's own tables: created and migrated idempotently at the start of every run."""

from __future__ import annotations

from datetime import datetime

from leads_flow.io.db import Db, as_datetime
from leads_flow.rules.fields import STAGE_COLUMNS
from leads_flow.rules.fingerprint import FINGERPRINT_VERSION, content_hash

MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("leads_flow_run", "volume_check", "add_run_volume_check"),
    ("leads_flow_reject", "source_version", "add_reject_source_version"),
    ("leads_flow_reject", "phone_bidx", "add_reject_phone_bidx"),
    ("leads_flow", "phone_enc_kid", "add_flow_phone_enc_kid"),
    ("leads_flow_reject", "phone_bidx_kid", "add_reject_phone_bidx_kid"),
)
"""Columns added after the first release: (table, column, the SQL file that adds it, in include/sql/schema/).
Appending an entry (and its file) is how a column is added to a live deployment; CREATE TABLE in flow_ddl.sql
holds the full shape."""
BACKFILLS: dict[tuple[str, str], str] = {("leads_flow_reject", "source_version"): "reject_version_backfill"}
"""SQL run once, right after its column was added to a live deployment (before flow_indexes needs it)."""


def ensure_flow_schema(db: Db) -> None:
    """Create the pipeline's tables if missing (flow, rejects, runs; key-rotation and erasure records; the
    change journal; the keys' check values), then add missing columns (filling those that need it once) and missing indexes."""
    for ddl in ("flow_ddl", "rekey_ddl", "erasure_ddl", "history_ddl", "key_check_ddl"):
        db.run(ddl)
    present: dict[str, set[str]] = {}  # each table's columns, read once per run
    for table, column, add in MIGRATIONS:
        if table not in present:
            present[table] = {r[0] for r in db.query("table_columns", {"table": table})}
        if column not in present[table]:
            db.run(add)
            if backfill := BACKFILLS.get((table, column)):
                db.run(backfill)
    db.conn.commit()
    db.run("flow_indexes")
    db.conn.commit()
    migrate_fingerprint(db)


FINGERPRINT_BATCH = 2000


def migrate_fingerprint(db: Db, batch: int = FINGERPRINT_BATCH) -> int:
    """Recompute every stored ``content_hash`` once per fingerprint version; the rows changed.

    Reconcile compares fingerprints recomputed from the stored columns and the newer-wins upsert compares
    ``content_hash`` on equal timestamps, so hashes of an older encoding would read as drift and rewrites.
    Primary-key batches, each committed; a row is updated only while it still holds the hash that was read
    (a concurrent writer wins); NULL hashes stay NULL (repair's marker). Interrupted, it starts over on the
    next run (recomputing is idempotent); ``leads_flow_fingerprint`` records the version once all are done.
    """
    db.run("fingerprint_ddl")
    done = db.query("fingerprint_version")[0][0]
    if done is not None and int(done) >= FINGERPRINT_VERSION:
        return 0
    columns = STAGE_COLUMNS[: STAGE_COLUMNS.index("content_hash") + 1]
    datetimes = [i for i, c in enumerate(columns) if c in ("join_time", "source_updated_at")]
    after, changed = -1, 0
    while rows := db.query("fingerprint_batch", {"after": after, "batch": batch}, columns=", ".join(columns)):
        after = int(rows[-1][0])
        moved = []
        for row in rows:
            r = list(row)
            for i in datetimes:
                r[i] = as_datetime(r[i])
            new = content_hash(r)
            if new != r[-1]:
                moved.append((int(r[0]), int(r[-1]), new))
        if moved:
            cur = db.conn.cursor()
            try:
                stmt = db.sql("fingerprint_update", placeholders=", ".join(["(?, ?, ?)"] * len(moved)))[0]
                cur.execute(stmt, [v for m in moved for v in m])
                changed += cur.rowcount
            finally:
                cur.close()
        db.conn.commit()
    db.run(
        "fingerprint_mark", {"version": FINGERPRINT_VERSION, "rows_recomputed": changed, "migrated_at": datetime.now()}
    )
    db.conn.commit()
    return changed


def create_legacy_table(db: Db) -> None:
    """For tests and demos only: the pipeline never creates or alters a real legacy table."""
    db.run("legacy_ddl")
    db.conn.commit()

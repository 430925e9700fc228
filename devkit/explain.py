"""EXPLAIN of the extraction query: tests and the incremental benchmark prove the plan is index-driven."""

from __future__ import annotations

from leads_flow.io.db import Db
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.window import Partition


def explain_window(db: Db, legacy_table: str, partition: Partition) -> list[tuple[str, str | None, str | None]]:
    """(access type, key, Extra) per table access of the extraction plan (MySQL), to prove it is index-driven."""
    [sql] = db.sql("extract_window", legacy=legacy_table, columns=", ".join(LEGACY_COLUMNS))
    cur = db.conn.cursor()
    cur.execute("EXPLAIN " + sql, {"start": partition.read_start, "end": partition.end})
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    cur.close()
    return [(r["type"], r["key"], r["Extra"]) for r in rows if r.get("table") not in (None, "<union1,2>")]

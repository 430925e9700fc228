#!/usr/bin/env python3
"""Fill the legacy table leads_aggr with generated leads (demo and local stacks only, never production).

The compose stack's one-shot ``seed`` service runs

    python /opt/airflow/scripts/seed_legacy.py --rows 20000

It opens the ``leads_legacy`` Airflow connection (AIRFLOW_CONN_LEADS_LEGACY; the compose file points it
at a seeding login, since the pipeline's own login may only SELECT), creates leads_aggr from
include/sql/schema/legacy_ddl.sql (or its SQLite variant) if it is missing, and inserts generated rows whose update/create
times spread over the last ``--days`` days as naive Asia/Shanghai wall-clock times, like the legacy
columns. A table that already holds rows is left alone unless ``--append`` is given, so that starting
the stack again does not double the data. Phones are random (devkit.seed); none is printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

# Airflow puts its plugins folder on sys.path for its own processes; a plain `python` run does not.
# devkit (the generator) sits at the project root, beside plugins/.
ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "plugins", ROOT):
    if _path.is_dir() and str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

log = logging.getLogger("seed_legacy")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=_positive, default=20_000, help="rows to insert (default 20000)")
    p.add_argument("--days", type=_positive, default=7, help="spread them over the last N days (default 7)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the generator (default 7)")
    p.add_argument("--append", action="store_true", help="insert even if leads_aggr already has rows")
    return p.parse_args(argv)


def window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[now - days, now) as naive Asia/Shanghai wall-clock datetimes."""
    from leads_flow.config import TZ

    end = (now or datetime.now(TZ)).astimezone(TZ).replace(tzinfo=None, microsecond=0)
    return end - timedelta(days=days), end


def _has_rows(db, table: str) -> bool:
    cur = db.conn.cursor()
    try:
        cur.execute(f"SELECT 1 FROM {table} LIMIT 1")  # table: a constant from leads_flow.config
        return cur.fetchone() is not None
    finally:
        cur.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from devkit import seed
    from leads_flow.io import schema
    from leads_flow.io.connect import connect
    from leads_flow.names import LEGACY_CONN_ID, LEGACY_TABLE

    start, end = window(args.days)
    db = connect(LEGACY_CONN_ID)
    try:
        schema.create_legacy_table(db)
        if not args.append and _has_rows(db, LEGACY_TABLE):
            log.info("%s already has rows: nothing inserted (pass --append to add more)", LEGACY_TABLE)
            return 0
        t0 = time.monotonic()
        n = seed.insert_legacy(db, seed.legacy_rows(args.rows, start, end, seed=args.seed))
        log.info(
            "inserted %d generated rows into %s (%s dialect), times in [%s, %s), %.1fs",
            n,
            LEGACY_TABLE,
            db.dialect,
            start,
            end,
            time.monotonic() - t0,
        )
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the change journal costs the publish (issue #15): a ROWS-row publish with and without leads_flow_history.

    .venv/bin/python benchmarks/bench_journal.py --rows 200000 [--repeat 2]

One script run on MariaDB (LEADS_BENCH_MYSQL_URL, database LEADS_BENCH_JOURNAL_DB, default lf_bench_journal):
ROWS generated legacy rows are mapped by the pipeline's Mapper into one staging table (not measured); then,
alternately and ``--repeat`` times each, the publish transaction runs on emptied tables

- ``before``: publish.sql alone (the publish as it was),
- ``after``: publish.sql + history_publish.sql (the publish now), in the same transaction,

and once more on full tables (a rerun: the upsert changes nothing, the journal ignores every version). Prints
the best time of each and the ratios after/before.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pipeline as bp  # noqa: E402 - sets sys.path for the package and devkit

DB = os.environ.get("LEADS_BENCH_JOURNAL_DB", "lf_bench_journal")
STAGE = "leads_flow_stage_00000000000b1515"


def seed(rows: int) -> None:
    """A fresh database with the flow tables and one staging table of ``rows`` mapped rows."""
    from devkit.seed import SEED_COLUMNS, legacy_rows
    from leads_flow.config import Settings
    from leads_flow.io.connect import connected
    from leads_flow.io.keyring import load_keyring
    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
    from leads_flow.rules.mapping import Mapper

    cur = bp.admin().cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4")
    t = time.perf_counter()
    start, end = datetime(2026, 11, 20), datetime(2026, 11, 21)
    mapper = Mapper(PhoneCipher(load_keyring()), Settings.from_env(), end, "bench@2026-11-20", datetime.now())
    legacy = []
    for i, row in enumerate(legacy_rows(rows, start, end, dirty=0.0), start=1):
        d = dict(zip(SEED_COLUMNS, row), id=i)
        legacy.append(tuple(d[c] for c in LEGACY_COLUMNS))
    staged = mapper.map_rows(legacy).staged
    with connected("leads_flow") as db:
        ensure_flow_schema(db)
        db.run("stage_create", stage=STAGE)
        for i in range(0, len(staged), 5000):
            db.executemany(
                "insert_rows",
                staged[i : i + 5000],
                table=STAGE,
                columns=", ".join(STAGE_COLUMNS),
                placeholders=", ".join(["?"] * len(STAGE_COLUMNS)),
            )
        db.conn.commit()
    print(f"seed: {len(staged)} staged rows in {time.perf_counter() - t:.0f}s", flush=True)


def publish(with_history: bool, empty: bool) -> float:
    """One publish transaction (as io/publish.publish_stage runs it, without the run log); seconds."""
    from leads_flow.io.connect import connected

    with connected("leads_flow") as db:
        if empty:
            cur = db.conn.cursor()
            cur.execute("TRUNCATE TABLE leads_flow")
            cur.execute("TRUNCATE TABLE leads_flow_history")
            db.conn.commit()
        t = time.perf_counter()
        with db.transaction():
            db.run("publish", stage=STAGE)
            if with_history:
                db.run("history_publish", stage=STAGE)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    bp.setup_env()
    os.environ["AIRFLOW_CONN_LEADS_FLOW"] = bp.conn_uri(DB)
    seed(args.rows)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.repeat):
        for variant in ("before", "after"):
            times[variant].append(publish(variant == "after", empty=True))
    rerun_before = publish(False, empty=False)  # the tables hold the "after" run's rows now
    rerun_after = publish(True, empty=False)
    before, after = min(times["before"]), min(times["after"])
    print(f"first publish of {args.rows} rows: before {before:.2f}s, after {after:.2f}s, ratio {after / before:.2f}")
    print(
        f"rerun publish: before {rerun_before:.2f}s, after {rerun_after:.2f}s, ratio {rerun_after / rerun_before:.2f}"
    )
    print(f"all runs: {times}")
    print(f"machine: {os.cpu_count()} cores (shared)")
    bp.admin().cursor().execute(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()

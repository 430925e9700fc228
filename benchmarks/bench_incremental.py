"""`make bench-incremental`: one day's incremental run on a big legacy table.

    .venv/bin/python benchmarks/bench_incremental.py [--rows 10000000]

Generates ROWS legacy leads server-side (reused when already there), 1% of them changed inside the
window day, shows the extraction's EXPLAIN plan (index ranges, no full scan) and times the run's tasks
(plan, stage, gate, publish), each in its own process like Airflow runs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
os.environ.setdefault("LEADS_BENCH_LEGACY_DB", "lf_bench_incr_legacy")  # the task processes read it too
LEGACY_DB = os.environ["LEADS_BENCH_LEGACY_DB"]

import bench_pipeline as bp  # noqa: E402
from bench_sql import seed_sql  # noqa: E402


def ensure(rows: int) -> None:
    """Server-side generation (MariaDB's sequence engine): 10M rows in minutes instead of an hour."""
    from leads_flow.io.connect import connected
    from leads_flow.io.schema import create_legacy_table

    def generate() -> None:
        with connected("leads_legacy") as db:
            create_legacy_table(db)
            sql = seed_sql("bench_incremental_seed", legacy_db=LEGACY_DB, rows=str(int(rows)), day=bp.DAY)
            db.conn.cursor().execute(sql)
            db.conn.commit()

    bp.prepare_legacy(LEGACY_DB, rows, "SELECT MAX(id) FROM {db}.leads_aggr", generate)


def explain() -> list[tuple]:
    from devkit.explain import explain_window
    from leads_flow.io.connect import connected
    from leads_flow.window import Partition

    with connected("leads_legacy") as db:
        return explain_window(db, "leads_aggr", Partition(bp.START, bp.END, 60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    if args.rows % 100 or args.rows < 1000:
        raise SystemExit("--rows must be a multiple of 100, at least 1000")
    bp.setup_env()
    ensure(args.rows)
    for row in explain():
        print("explain:", row)
    res = bp.run_pipeline()
    print(f"incremental window {bp.DAY}: {res['rows']} of {args.rows} rows changed")
    print(
        f"tasks: plan {res['plan_s']:.2f}s, stage {res['stage_s']:.2f}s, gate {res['gate_s']:.2f}s, "
        f"publish {res['publish_s']:.2f}s"
    )
    print(f"incremental_task_seconds={res['total_s']:.2f}")


if __name__ == "__main__":
    main()

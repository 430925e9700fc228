"""`make bench-deletes`: the daily hard-delete watch (leads_flow_hard_deletes) on a 10M-row legacy table.

    .venv/bin/python benchmarks/bench_deletes.py [--rows 10000000] [--chunk 100000]

ROWS legacy leads generated server-side as for `make bench-incremental` (reused when already there), every
1000th id deleted outright (ROWS/1000 hard deletes); leads_flow holds every id as a live lead. Times the whole
watch (compare + guard + mark) and reports its peak RSS, which must stay flat whatever the table's size.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
os.environ.setdefault("LEADS_BENCH_LEGACY_DB", "lf_bench_deletes_legacy")
os.environ.setdefault("LEADS_BENCH_FLOW_DB", "lf_bench_deletes_flow")

import bench_incremental as bi  # noqa: E402
import bench_pipeline as bp  # noqa: E402
from bench_rekey import _reset_peak_rss  # noqa: E402
from bench_sql import seed_sql  # noqa: E402


def seed(rows: int) -> int:
    """The legacy table with every 1000th id deleted, and a fresh leads_flow holding every id; the deletes."""
    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    bi.ensure(rows)
    with connected("leads_legacy") as legacy:
        cur = legacy.conn.cursor()
        cur.execute("SELECT COUNT(*) FROM leads_aggr WHERE id = 7")
        if cur.fetchone()[0]:
            cur.execute("DELETE FROM leads_aggr WHERE id % 1000 = 7")
            legacy.conn.commit()
    bp.fresh_flow_db()
    t = time.perf_counter()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
        sql = seed_sql("bench_deletes_flow_seed", rows=str(int(rows)), day=bp.DAY)
        flow.conn.cursor().execute(sql)
        flow.conn.commit()
    print(f"flow: {rows} live leads in {time.perf_counter() - t:.0f}s", flush=True)
    return len(range(7, rows + 1, 1000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=None)
    args = ap.parse_args()
    if args.rows % 100 or args.rows < 1000:
        raise SystemExit("--rows must be a multiple of 100, at least 1000")
    bp.setup_env()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("leads_flow.reconcile").setLevel(logging.INFO)
    deleted = seed(args.rows)

    from leads_flow.io.connect import connected
    from leads_flow.names import LEGACY_TABLE
    from leads_flow.reconcile.deletes import CHUNK, watch_hard_deletes

    chunk = args.chunk or CHUNK
    _reset_peak_rss()
    t = time.perf_counter()
    with connected("leads_flow") as flow, connected("leads_legacy") as legacy:
        res = watch_hard_deletes(flow, legacy, LEGACY_TABLE, "bench_deletes", max_share=0.01, chunk=chunk)
    secs = time.perf_counter() - t
    assert (res.compared, res.vanished, res.marked) == (args.rows, deleted, deleted), res.to_dict()
    print(f"hard-delete watch: {res.compared:,} leads compared, {res.marked:,} marked in {secs:.2f}s (chunk {chunk})")
    print(f"compared rows/s={res.compared / secs:,.0f}")
    print(f"peak_rss_mb={bp._peak_rss_mb():.0f}")
    print(f"machine: {os.cpu_count()} cores, rows={args.rows}")


if __name__ == "__main__":
    main()

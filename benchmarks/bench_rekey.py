"""`make bench-rekey`: key rotation speed (leads_flow_rekey) on ROWS generated leads_flow rows in MariaDB.

    .venv/bin/python benchmarks/bench_rekey.py --rows 1000000 [--batch-size 5000]

Seeds a fresh database (LEADS_BENCH_REKEY_DB, default lf_bench_rekey, on LEADS_BENCH_MYSQL_URL) with ROWS
rows of leads_flow whose generated phones are protected under kid 1 (seeding is not measured), then runs the
DAG's task function with a keyring whose active kids are 2 and prints `rekey rows/s` and the peak RSS of the
rekey alone (the high-water mark is reset after seeding).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pipeline as bp  # noqa: E402 - sets sys.path for the package and devkit
import bench_sql  # noqa: E402

DB = os.environ.get("LEADS_BENCH_REKEY_DB", "lf_bench_rekey")


def setup_env() -> dict:
    """Connections for the run; returns the keyring extra (kids 1 and 2, active 2)."""
    os.environ.setdefault("AIRFLOW_HOME", str(bp.ROOT / ".demo" / "bench-airflow"))
    os.environ["AIRFLOW_CONN_LEADS_FLOW"] = bp.conn_uri(DB)
    k = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    extra = {
        "enc_keys": {"1": k(), "2": k()},
        "active_enc_kid": "2",
        "bidx_keys": {"1": k(), "2": k()},
        "active_bidx_kid": "2",
    }
    os.environ["AIRFLOW_CONN_LEADS_PII"] = json.dumps({"conn_type": "generic", "extra": extra})
    return extra


def seed(rows: int, extra: dict, batch: int = 10_000) -> None:
    """A fresh database with ``rows`` leads_flow rows under kid 1 (generated phones)."""
    from devkit.seed import random_mobile
    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    cur = bp.admin().cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB} CHARACTER SET utf8mb4")
    old = PhoneCipher(Keyring.from_extra({**extra, "active_enc_kid": "1", "active_bidx_kid": "1"}))
    rng = random.Random(7)
    t = time.perf_counter()
    [insert] = bench_sql.render("rekey_bench_seed")
    with connected("leads_flow") as db:
        ensure_flow_schema(db)
        for start in range(1, rows + 1, batch):
            chunk = []
            for lead_id in range(start, min(start + batch, rows + 1)):
                p = old.protect("+86" + random_mobile(rng))
                chunk.append((lead_id, p.cipher, p.bidx, p.bidx_kid, p.masked, "2026-11-20 09:00:00"))
            with db.transaction():
                db.conn.cursor().executemany(insert, chunk)
    print(f"seed: {rows} leads_flow rows under kid 1 in {time.perf_counter() - t:.0f}s", flush=True)


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        print("(could not reset the peak RSS: it includes the seeding)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=5000)
    args = ap.parse_args()
    extra = setup_env()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("leads_flow.lifecycle").setLevel(logging.INFO)
    seed(args.rows, extra)

    from leads_flow.tasks.rekey import rekey_task

    _reset_peak_rss()
    t = time.perf_counter()
    out = rekey_task({"batch_size": args.batch_size}, "bench_rekey", f"bench_{int(time.time())}")
    secs = time.perf_counter() - t
    moved = out["moved"]["leads_flow"]
    assert out["after"]["leads_flow"] == {"enc": {"2": args.rows}, "bidx": {"2": args.rows}}, out["after"]
    print(f"rekey: {moved} rows in {secs:.2f}s (batch {args.batch_size})")
    print(f"rekey rows/s={moved / secs:,.0f}")
    print(f"peak_rss_mb={bp._peak_rss_mb():.0f}")
    print(f"machine: {os.cpu_count()} cores, rows={args.rows}")


if __name__ == "__main__":
    main()

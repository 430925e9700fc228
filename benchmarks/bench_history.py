"""`make bench-history`: the history import as users run it, beside the server-side floor and dlt, in one run.

    .venv/bin/python benchmarks/bench_history.py [--rows 2000000] [--days 20] [--only airflow|floor|dlt]

ROWS generated legacy leads (the seed's dirty-data mix) spread over DAYS days in MariaDB
(LEADS_BENCH_MYSQL_URL; database LEADS_BENCH_LEGACY_DB, default lf_bench_hist_legacy; reused when already
there), then, on those same rows:

- floor: one server-side INSERT … SELECT over the DAYS-day window (benchmarks/sql/bench_floor.sql), the same
  columns with no Python in the path;
- airflow: ONE manual date-range run of leads_flow_sync (params start_date/end_date) through a real Airflow:
  api-server + scheduler + dag-processor, LocalExecutor at Airflow's default parallelism, PostgreSQL metadata
  in a fresh database on 127.0.0.1:5432, the pool leads_legacy with its documented 2 slots (docs/running.md), so
  one partition stages while another is gated or published. Timed from the trigger (REST) to the DAG run's
  success; peak RSS sampled over the scheduler's process tree (the task processes and their stage workers);
  a profile from the task instances: task time per kind, scheduler latency between a task and the next,
  overlap;
- dlt: dlt 1.x (`dlt[sqlalchemy]`) in its own virtualenv (.bench-venvs/dlt, created here), sql_database's
  sql_table → the sqlalchemy destination on the same MariaDB, write disposition merge on lead_id, the project's
  own Mapper applied with ``add_map`` (rejects dropped with ``add_filter``).

Prints rows/s of each, ``ratio_vs_floor=``, ``ratio_vs_dlt=`` (airflow's rate over theirs) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("LEADS_BENCH_LEGACY_DB", "lf_bench_hist_legacy")
os.environ.setdefault("LEADS_BENCH_FLOW_DB", "lf_bench_hist_flow")
sys.path[:0] = [str(Path(__file__).resolve().parent)]
import bench_pipeline as bp  # noqa: E402 - sets sys.path for the package and devkit

ROOT = bp.ROOT
DLT_DB = os.environ.get("LEADS_BENCH_DLT_DB", "lf_bench_hist_dlt")
DLT_VENV = ROOT / ".bench-venvs" / "dlt"
DLT_REQUIREMENTS = [
    "dlt[sqlalchemy]==1.31.0",
    "mysqlclient==2.3.2",
    # what leads_flow.rules imports (the Mapper runs inside dlt's pipeline), at the project's pins
    "phonenumbers==9.0.43",
    "cryptography==50.0.2",
]
START = datetime(2026, 11, 1)
DAG_ID = "leads_flow_sync"
POOL_SLOTS = "2"  # docs/running.md "The pool"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}  # Airflow's metadata: a fresh database per run


def window(days: int) -> tuple[datetime, datetime]:
    return START, START + timedelta(days=days)


def ensure_legacy(rows: int, days: int) -> None:
    """The seed's generator over ``days`` days (realistic shapes, 2 % dirty), reused while rows and days match."""
    from devkit import seed
    from leads_flow.io import schema
    from leads_flow.io.connect import connected

    start, end = window(days)

    def generate() -> None:
        with connected("leads_legacy") as db:
            schema.create_legacy_table(db)
            seed.insert_legacy(db, seed.legacy_rows(rows, start, end, seed=11, dirty=0.02), batch=10_000)

    probe = (
        f"SELECT IF(MIN(COALESCE(update_time, create_time)) >= '{start}' AND MAX(COALESCE(update_time, create_time)) "
        f"< '{end}' AND DATEDIFF(MAX(COALESCE(update_time, create_time)), '{start}') = {days - 1}, COUNT(*), -1) "
        "FROM {db}.leads_aggr"
    )
    bp.prepare_legacy(bp.LEGACY_DB, rows, probe, generate)


def flow_counts() -> tuple[int, int]:
    """(leads_flow rows, leads_flow_reject rows) in the benchmark's flow database."""
    cur = bp.admin().cursor()
    cur.execute(
        f"SELECT (SELECT COUNT(*) FROM {bp.FLOW_DB}.leads_flow), (SELECT COUNT(*) FROM {bp.FLOW_DB}.leads_flow_reject)"
    )
    return cur.fetchone()


# ----------------------------------------------------------------------------------------------------- floor


def run_floor(days: int) -> dict:
    from bench_sql import render

    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    start, end = window(days)
    bp.fresh_flow_db()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
        [sql] = render("bench_floor", target="leads_flow", legacy_db=bp.LEGACY_DB)
        cur = flow.conn.cursor()
        t0 = time.perf_counter()
        cur.execute(sql, {"start": start, "end": end})
        flow.conn.commit()
        return {"rows": cur.rowcount, "total_s": time.perf_counter() - t0, "peak_rss_mb": mysqld_rss_mb()}


SERVER_COUNTERS = ("Innodb_data_written", "Innodb_data_read", "Innodb_buffer_pool_reads")


def server_counters() -> dict[str, float]:
    """The MariaDB counters that say what the server did (global: other clients count too), and its CPU seconds."""
    import psutil

    cur = bp.admin().cursor()
    slots = ", ".join(["%s"] * len(SERVER_COUNTERS))
    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({slots})", SERVER_COUNTERS)
    out = {k: float(v) for k, v in cur.fetchall()}
    procs = [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("mariadbd", "mysqld")]
    out["server_cpu_s"] = sum(sum(p.cpu_times()[:2]) for p in procs)
    return out


def server_delta(before: dict[str, float], seconds: float) -> str:
    after = server_counters()
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    return (
        f"server: wrote {d['Innodb_data_written'] / 2**30:.2f} GiB, read {d['Innodb_data_read'] / 2**30:.2f} GiB "
        f"({d['Innodb_buffer_pool_reads']:,.0f} buffer-pool misses), "
        f"CPU {d['server_cpu_s']:.0f} s = {d['server_cpu_s'] / seconds:.2f} cores"
    )


def mysqld_rss_mb() -> float:
    """The server's resident memory (the floor's whole footprint is the server's)."""
    import psutil

    return (
        max(
            (p.memory_info().rss for p in psutil.process_iter(["name"]) if p.info["name"] in ("mariadbd", "mysqld")),
            default=0,
        )
        / 2**20
    )


# ---------------------------------------------------------------------------------------------------- airflow


class RssSampler(threading.Thread):
    """Peak RSS of the largest process under ``root`` (the scheduler: its task processes and their stage workers)
    and of their sum (shared pages counted in each process), sampled every 0.2 s."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid, self.stop = root_pid, threading.Event()
        self.largest_mb = self.tree_mb = 0.0
        self.largest_name = ""

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.root_pid)
        while not self.stop.wait(0.2):
            total = 0
            try:
                procs = root.children(recursive=True)
            except psutil.Error:
                continue
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    total += rss
                    if rss / 2**20 > self.largest_mb:
                        self.largest_mb, self.largest_name = rss / 2**20, (" ".join(p.cmdline()) or p.name())[:120]
                except psutil.Error:
                    pass
            self.tree_mb = max(self.tree_mb, total / 2**20)


def _ts(s: str | None) -> float | None:
    return datetime.fromisoformat(s).timestamp() if s else None


def profile(tis: list[dict], trigger_at: float, done_at: float) -> dict:
    """Where the run's time went, from the task instances' own start/end times."""
    by: dict[str, list[dict]] = {}
    for ti in tis:
        by.setdefault(ti["task_id"].split(".")[-1], []).append(ti)
    out: dict = {"tasks": {}}
    for kind, group in by.items():
        secs = [_ts(t["end_date"]) - _ts(t["start_date"]) for t in group]
        out["tasks"][kind] = {"n": len(group), "sum_s": sum(secs), "max_s": max(secs), "min_s": min(secs)}
    # scheduler latency: downstream start - upstream end, per partition
    idx = {(t["task_id"].split(".")[-1], t["map_index"]): t for t in tis}
    plan_end = _ts(idx[("plan", -1)]["end_date"])
    gaps = {"plan→stage": [], "stage→gate": [], "gate→publish": []}
    for (kind, mi), t in idx.items():
        if kind == "stage":
            gaps["plan→stage"].append(_ts(t["start_date"]) - plan_end)
        elif kind == "gate":
            gaps["stage→gate"].append(_ts(t["start_date"]) - _ts(idx[("stage", mi)]["end_date"]))
        elif kind == "publish":
            gaps["gate→publish"].append(_ts(t["start_date"]) - _ts(idx[("gate", mi)]["end_date"]))
    out["latency"] = {k: {"mean_s": sum(v) / len(v), "max_s": max(v)} for k, v in gaps.items() if v}
    out["trigger→plan_start_s"] = _ts(idx[("plan", -1)]["start_date"]) - trigger_at
    last_end = max(_ts(t["end_date"]) for t in tis)
    out["last_task_end→success_seen_s"] = done_at - last_end
    stages = [(_ts(t["start_date"]), _ts(t["end_date"])) for t in by.get("stage", [])]
    out["stage_span_s"] = max(e for _, e in stages) - min(s for s, _ in stages)
    # seconds in which a stage ran while a gate or publish of another partition ran too
    others = [(_ts(t["start_date"]), _ts(t["end_date"])) for k in ("gate", "publish") for t in by.get(k, [])]
    out["stage_overlapping_gate_or_publish_s"] = _covered(stages, others)
    return out


def _covered(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Length of time covered by some interval of ``a`` and some interval of ``b`` at once."""

    def union(iv: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[list[float]] = []
        for s, e in sorted(iv):
            if out and s <= out[-1][1]:
                out[-1][1] = max(out[-1][1], e)
            else:
                out.append([s, e])
        return [(s, e) for s, e in out]

    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in union(a) for s2, e2 in union(b))


def run_airflow(rows: int, days: int) -> dict:
    """One manual date-range run of leads_flow_sync under a real scheduler; trigger → success."""
    import psycopg2

    from tests.e2e.test_backfill import AirflowStack, Deadline  # the e2e tests' stack: start, drive, stop by pid

    bp.fresh_flow_db()
    admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    admin.autocommit = True
    meta_db = f"lf_bench_hist_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {meta_db}")
    home = Path(tempfile.mkdtemp(prefix="lf-bench-history-"))
    stack = AirflowStack(home, Deadline(3600), f"{PG['user']}@{PG['host']}:{PG['port']}/{meta_db}")
    stack.env.pop("AIRFLOW__CORE__PARALLELISM")  # Airflow's default (32), as deployed: the pool is the limit
    start, end = window(days)
    conf = {"start_date": f"{start:%Y-%m-%d}", "end_date": f"{end - timedelta(days=1):%Y-%m-%d}"}
    try:
        try:
            stack.cli("db", "migrate")
            stack.cli("pools", "set", "leads_legacy", POOL_SLOTS, "legacy reads")
            stack.start()
            stack.wait_ready(timeout=300)
            # Unpausing creates the scheduled run of the latest day (no legacy rows): let it finish first.
            stack.cli("dags", "unpause", DAG_ID)
            stack.wait_runs(lambda r: r["run_type"] == "scheduled", 1, 300, "scheduled run")
            sampler = RssSampler(stack.procs["scheduler"].pid)
            sampler.start()
            trigger_at = time.time()
            status, run = stack.http("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
            assert status in (200, 201), f"trigger: HTTP {status}: {run}"
            rid = run["dag_run_id"]  # type: ignore[index]
            path = f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}"
            while True:
                state = stack.get(path)["state"]  # type: ignore[index]
                if state in ("success", "failed"):
                    break
                stack.check_alive()
                time.sleep(0.2)
            done_at = time.time()
            sampler.stop.set()
            sampler.join()
            if state != "success":
                raise AssertionError(f"the manual run {rid} ended {state}")
            tis = stack.task_instances(rid)
        except BaseException:
            stack.dump_logs()
            raise
    finally:
        stack.stop()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {meta_db} WITH (FORCE)")
        admin.close()
    shutil.rmtree(home, ignore_errors=True)  # kept only when the run failed (its logs are there)
    flow, rejects = flow_counts()
    return {
        "rows": flow + rejects,
        "flow_rows": flow,
        "rejects": rejects,
        "total_s": done_at - trigger_at,
        "peak_rss_mb": sampler.largest_mb,
        "peak_rss_of": sampler.largest_name,
        "tree_rss_mb": sampler.tree_mb,
        "profile": profile(tis, trigger_at, done_at),
        "timings": run_timings(),
    }


def run_timings() -> dict:
    """Sum of each partition's recorded stage/gate/publish seconds (leads_flow_run.timings)."""
    cur = bp.admin().cursor()
    cur.execute(f"SELECT * FROM {bp.FLOW_DB}.leads_flow_run LIMIT 0")
    cols = [d[0] for d in cur.description]
    if "timings" not in cols:
        return {}
    cur.execute(f"SELECT timings FROM {bp.FLOW_DB}.leads_flow_run WHERE status = 'published'")
    total: dict[str, float] = {}
    for (t,) in cur.fetchall():
        for k, v in (json.loads(t) if t else {}).items():
            if isinstance(v, (int, float)):
                total[k] = total.get(k, 0.0) + v
    return total


# -------------------------------------------------------------------------------------------------------- dlt


def ensure_dlt_venv() -> Path:
    """.bench-venvs/dlt with dlt and what the Mapper imports (pip reaches PyPI); reused when complete."""
    py = DLT_VENV / "bin" / "python"
    marker = DLT_VENV / ".installed"
    want = "\n".join(DLT_REQUIREMENTS)
    if not (marker.exists() and marker.read_text() == want):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(DLT_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *DLT_REQUIREMENTS], check=True)
        marker.write_text(want)
        print(f"dlt: virtualenv {DLT_VENV} created in {time.perf_counter() - t:.0f}s", flush=True)
    return py


def run_dlt(rows: int, days: int) -> dict:
    py = ensure_dlt_venv()
    cur = bp.admin().cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DLT_DB}")
    cur.execute(f"DROP DATABASE IF EXISTS {DLT_DB}_staging")  # dlt's merge stages the load there
    cur.execute(f"CREATE DATABASE {DLT_DB} CHARACTER SET utf8mb4")
    proc = subprocess.run(
        [str(py), __file__, "--dlt-child", "--days", str(days)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])},
    )
    if proc.returncode:
        raise SystemExit(f"the dlt run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    cur.execute(f"SELECT COUNT(*) FROM {DLT_DB}.leads_flow")
    r["rows"] = r["flow_rows"] = cur.fetchone()[0]
    r["rows"] += r["rejects"]
    return r


def dlt_child(days: int) -> None:
    """Runs inside .bench-venvs/dlt: legacy leads_aggr → Mapper (add_map) → merge on lead_id in MariaDB."""
    import resource

    import dlt
    from dlt.sources.sql_database import sql_table

    from leads_flow.config import Settings
    from leads_flow.rules.crypto import Keyring, PhoneCipher
    from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
    from leads_flow.rules.mapping import Mapper

    start, end = window(days)
    extra = json.loads(os.environ["AIRFLOW_CONN_LEADS_PII"])["extra"]
    mapper = Mapper(PhoneCipher(Keyring.from_extras(extra, None)), Settings(), end, "dlt", datetime.now())
    rejects = 0

    def to_flow(row: dict) -> dict | None:
        nonlocal rejects
        mapped = mapper.map_rows([tuple(row[c] for c in LEGACY_COLUMNS)])
        if not mapped.staged:
            rejects += 1
            return None
        return dict(zip(STAGE_COLUMNS, mapped.staged[0]))

    url = bp.URL.replace("mysql://", "mysql+mysqldb://", 1).rstrip("/")
    source = (
        sql_table(credentials=f"{url}/{bp.LEGACY_DB}", table="leads_aggr", included_columns=list(LEGACY_COLUMNS))
        .add_map(to_flow)
        .add_filter(lambda r: r is not None)
    )
    source.apply_hints(
        table_name="leads_flow",
        columns={},  # not the reflected legacy columns: dlt infers the mapped rows' columns from the data
        primary_key="lead_id",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    )
    pipelines_dir = tempfile.mkdtemp(prefix="lf-bench-dlt-")
    pipe = dlt.pipeline(
        pipeline_name="lf_bench_history",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.sqlalchemy(credentials=f"{url}/{DLT_DB}"),
        dataset_name=DLT_DB,
    )
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    pipe.extract(source)
    phases["extract_s"] = time.perf_counter() - t0
    pipe.normalize()
    phases["normalize_s"] = time.perf_counter() - t0 - phases["extract_s"]
    pipe.load()
    total = time.perf_counter() - t0
    phases["load_s"] = total - phases["extract_s"] - phases["normalize_s"]
    shutil.rmtree(pipelines_dir, ignore_errors=True)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    print(
        json.dumps(
            {"total_s": total, "rejects": rejects, "peak_rss_mb": rss / 1024, "phases": phases, "dlt": dlt.__version__}
        )
    )


# ------------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--only", choices=["floor", "airflow", "dlt"], action="append")
    ap.add_argument("--dlt-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dlt_child:
        dlt_child(args.days)
        return
    bp.setup_env()
    ensure_legacy(args.rows, args.days)
    only = args.only or ["floor", "airflow", "dlt"]
    res: dict[str, dict] = {}
    for name, fn in (("floor", run_floor), ("airflow", run_airflow), ("dlt", run_dlt)):
        if name not in only:
            continue
        before = server_counters()
        res[name] = r = fn(args.rows, args.days) if name != "floor" else fn(args.days)
        r["server"] = server_delta(before, r["total_s"])
        print(
            f"{name:<8} {r['rows']:>9} rows in {r['total_s']:8.2f}s = {r['rows'] / r['total_s']:>9,.0f} rows/s  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        print(f"{name:<8} {r['server']} (over its {r['total_s']:.0f} s)", flush=True)
    rate = {k: v["rows"] / v["total_s"] for k, v in res.items()}
    if "airflow" in res:
        a = res["airflow"]
        print(f"airflow: {a['flow_rows']} published + {a['rejects']} rejected; largest process: {a['peak_rss_of']}")
        print(
            f"airflow: sum of RSS over the scheduler's tree at its peak {a['tree_rss_mb']:.0f} MB (shared pages counted per process)"
        )
        print("airflow profile:", json.dumps(a["profile"], indent=1, default=str))
        print("airflow recorded timings (sum over partitions):", json.dumps(a["timings"]))
        for other in ("floor", "dlt"):
            if other in rate:
                print(f"ratio_vs_{other}={rate['airflow'] / rate[other]:.2f}")
    if "dlt" in res:
        print("dlt phases:", json.dumps(res["dlt"]["phases"]), "dlt", res["dlt"]["dlt"])
    print(f"machine: {os.cpu_count()} cores, rows={args.rows}, days={args.days}")


if __name__ == "__main__":
    main()

"""`make bench-history`: the history import as users run it, beside the server-side floors and dlt, in one run.

    .venv/bin/python benchmarks/bench_history.py [--rows 2000000] [--days 20] [--pool 128M[,1G]]
        [--only floor|bulk_floor|airflow|dlt] [--dlt-config rows|arrow]

Every path runs against a MariaDB the script starts itself (devkit/mariadb.py): mariadb-install-db + mariadbd on
a private datadir under a temporary directory, a free loopback port and its own socket, MariaDB's defaults except
``--innodb-buffer-pool-size`` (POOL: one size or a comma-separated list, each measured in turn on the same rows),
local_infile on, no binary log; restarted before every path (each starts on a cold buffer pool, no dump/load),
stopped by its pid and its directory removed at the end, also on an error, Ctrl-C or SIGTERM. The Airflow
connections (leads_legacy, leads_flow) point at it. ROWS generated legacy leads (the seed's dirty-data mix) spread
over DAYS days are generated there once per script run, then, on those same rows:

- floor: one server-side INSERT … SELECT over the DAYS-day window (benchmarks/sql/bench_floor.sql) into the
  indexed leads_flow, the same columns with no Python in the path;
- bulk_floor: the same INSERT … SELECT into leads_flow with its primary key only (its secondary indexes dropped
  while empty), then the same secondary indexes built by ONE ``ALTER TABLE … ADD INDEX …`` (InnoDB's sorted
  builds): the limit of any bulk path on that server; timed together and separately;
- airflow: ONE manual date-range run of leads_flow_sync (params start_date/end_date) through a real Airflow:
  api-server + scheduler + dag-processor, LocalExecutor at Airflow's default parallelism, PostgreSQL metadata
  in a fresh database on 127.0.0.1:5432, the pool leads_legacy with its documented 2 slots (docs/running.md), so
  one partition stages while another is gated or published. Timed from the trigger (REST) to the DAG run's
  success; peak RSS sampled over the scheduler's process tree (the task processes and their stage workers);
  a profile from the task instances: task time per kind, scheduler latency between a task and the next,
  overlap;
- dlt: dlt 1.x (`dlt[sqlalchemy]`, pyarrow) in its own virtualenv (.bench-venvs/dlt, created here), sql_database's
  sql_table → the sqlalchemy destination on the same server, the project's own Mapper in the pipeline, the
  columns typed as leads_flow's (VARCHAR lengths, DATETIME precision), then the table a user needs: leads_flow's
  primary key, its virtual column and its secondary indexes added by one ALTER TABLE, timed as part of the run.
  Two configurations, the faster reported as dlt:
  rows: sqlalchemy backend, the Mapper per row (``add_map``, rejects dropped by ``add_filter``), merge on lead_id;
  arrow: pyarrow backend, the Mapper over each Arrow batch (a parallelized transformer returning an Arrow table
  typed as leads_flow), --dlt-chunk rows per batch, the id range cut into --dlt-parallel parallelized sql_table
  resources (dlt's parallel extract), parquet load files loaded by parallel load workers, append (a first load
  of distinct ids: the primary key added afterwards proves it).

Prints rows/s and peak RSS of each, then ``ratio_vs_floor=``, ``ratio_vs_bulk_floor=``, ``ratio_vs_dlt=``
(airflow's rate over theirs) per buffer-pool size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

os.environ.setdefault("LEADS_BENCH_LEGACY_DB", "lf_bench_hist_legacy")
os.environ.setdefault("LEADS_BENCH_FLOW_DB", "lf_bench_hist_flow")
sys.path[:0] = [str(Path(__file__).resolve().parent)]
import bench_pipeline as bp  # noqa: E402 - sets sys.path for the package and devkit

from devkit.mariadb import PrivateMariaDB  # noqa: E402

ROOT = bp.ROOT
DLT_DB = os.environ.get("LEADS_BENCH_DLT_DB", "lf_bench_hist_dlt")
DLT_VENV = ROOT / ".bench-venvs" / "dlt"
DLT_REQUIREMENTS = [
    "dlt[sqlalchemy]==1.31.0",
    "mysqlclient==2.3.2",
    # what leads_flow.rules imports (the Mapper runs inside dlt's pipeline), at the project's pins
    "phonenumbers==9.0.43",
    "cryptography==50.0.2",
    "pyarrow==26.0.1",  # the arrow configuration: sql_table's pyarrow backend, parquet load files
]
DLT_CONFIGS = ("rows", "arrow")
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


def admin():
    """A root connection to the benchmark's server in autocommit: its reads hold no metadata lock afterwards."""
    conn = bp.admin()
    conn.autocommit(True)
    return conn


def flow_counts() -> tuple[int, int]:
    """(leads_flow rows, leads_flow_reject rows) in the benchmark's flow database."""
    cur = admin().cursor()
    cur.execute(
        f"SELECT (SELECT COUNT(*) FROM {bp.FLOW_DB}.leads_flow), (SELECT COUNT(*) FROM {bp.FLOW_DB}.leads_flow_reject)"
    )
    return cur.fetchone()


# ---------------------------------------------------------------------------------------------------- server

SERVER: PrivateMariaDB | None = None  # the private server every path runs against (main starts it)


def server() -> PrivateMariaDB:
    assert SERVER is not None, "the private MariaDB is not started"
    return SERVER


SERVER_COUNTERS = ("Innodb_data_written", "Innodb_data_read", "Innodb_buffer_pool_reads")


def server_counters() -> dict[str, float]:
    """The private server's counters that say what it did (only the benchmark talks to it), and its CPU seconds."""
    cur = admin().cursor()
    slots = ", ".join(["%s"] * len(SERVER_COUNTERS))
    cur.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({slots})", SERVER_COUNTERS)
    out = {k: float(v) for k, v in cur.fetchall()}
    out["server_cpu_s"] = server().cpu_s()
    return out


def server_delta(before: dict[str, float], seconds: float) -> str:
    after = server_counters()
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    cur = admin().cursor()
    cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_bytes_dirty'")
    dirty = float(cur.fetchone()[1])
    return (
        f"server: wrote {d['Innodb_data_written'] / 2**30:.2f} GiB, read {d['Innodb_data_read'] / 2**30:.2f} GiB "
        f"({d['Innodb_buffer_pool_reads']:,.0f} buffer-pool misses), "
        f"CPU {d['server_cpu_s']:.0f} s = {d['server_cpu_s'] / seconds:.2f} cores, "
        f"peak RSS {server().peak_rss_mb():.0f} MB, {dirty / 2**20:.0f} MB of dirty pages left unflushed"
    )


# ----------------------------------------------------------------------------------------- leads_flow's shape

_SHAPE: dict | None = None


def flow_shape() -> dict:
    """leads_flow as the pipeline creates it (ensure_flow_schema): its columns and keys, read from the server.

    ``columns``: dlt column hints for the stored columns (types and lengths as leads_flow's); ``virtual``: the
    ``ADD COLUMN`` clauses of its computed columns; ``primary``: the primary key's columns; ``secondary``: one
    ``ADD [UNIQUE] INDEX`` clause per secondary index. Read once, from the flow database (created when missing).
    """
    global _SHAPE
    if _SHAPE is not None:
        return _SHAPE
    cur = admin().cursor()
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=%s AND table_name='leads_flow'",
        (bp.FLOW_DB,),
    )
    if not cur.fetchone()[0]:
        from leads_flow.io.connect import connected
        from leads_flow.io.schema import ensure_flow_schema

        bp.fresh_flow_db()
        with connected("leads_flow") as flow:
            ensure_flow_schema(flow)
    cur.execute(
        "SELECT column_name, data_type, character_maximum_length, is_nullable, column_type, datetime_precision, "
        "generation_expression, character_set_name, collation_name, extra FROM information_schema.columns "
        "WHERE table_schema=%s AND table_name='leads_flow' ORDER BY ordinal_position",
        (bp.FLOW_DB,),
    )
    columns: dict[str, dict] = {}
    virtual: list[str] = []
    for name, dtype, length, nullable, ctype, dt_prec, gen, charset, coll, extra in cur.fetchall():
        if gen:  # computed by the server: added with the keys, after the load
            cs = f" CHARACTER SET {charset} COLLATE {coll}" if charset else ""
            kind = "STORED" if "STORED" in (extra or "").upper() else "VIRTUAL"
            virtual.append(f"ADD COLUMN `{name}` {ctype}{cs} AS ({gen}) {kind}")
            continue
        hint: dict = {"nullable": nullable == "YES"}
        if dtype in ("varchar", "char"):
            hint.update(data_type="text", precision=int(length))
        elif dtype in ("text", "mediumtext", "longtext"):
            hint.update(data_type="text")
        elif dtype == "bigint":
            hint.update(data_type="bigint")
        elif dtype in ("int", "mediumint"):
            hint.update(data_type="bigint", precision=32)
        elif dtype in ("tinyint", "smallint"):
            hint.update(data_type="bigint", precision=16)
        elif dtype in ("datetime", "timestamp"):
            hint.update(data_type="timestamp", precision=int(dt_prec or 0), timezone=False)
        else:
            raise SystemExit(f"flow_shape: no dlt type for leads_flow.{name} {ctype}")
        columns[name] = hint
    cur.execute(
        "SELECT index_name, non_unique, column_name, sub_part FROM information_schema.statistics "
        "WHERE table_schema=%s AND table_name='leads_flow' ORDER BY index_name, seq_in_index",
        (bp.FLOW_DB,),
    )
    keys: dict[str, tuple[bool, list[str]]] = {}
    for index, non_unique, column, sub_part in cur.fetchall():
        part = f"`{column}`" + (f"({sub_part})" if sub_part else "")
        keys.setdefault(index, (not int(non_unique), []))[1].append(part)
    primary = keys.pop("PRIMARY")[1]
    secondary = {
        name: f"ADD {'UNIQUE ' if unique else ''}INDEX `{name}` ({', '.join(cols)})"
        for name, (unique, cols) in sorted(keys.items())
    }
    _SHAPE = {"columns": columns, "virtual": virtual, "primary": primary, "secondary": secondary}
    return _SHAPE


def table_keys(cur, db: str, table: str) -> tuple[list[str], set[str]]:
    """(primary key columns, secondary index names) of ``db.table`` as the server has them now."""
    cur.execute(
        "SELECT index_name, column_name FROM information_schema.statistics "
        "WHERE table_schema=%s AND table_name=%s ORDER BY index_name, seq_in_index",
        (db, table),
    )
    rows = cur.fetchall()
    return [f"`{c}`" for i, c in rows if i == "PRIMARY"], {i for i, _ in rows if i != "PRIMARY"}


# ---------------------------------------------------------------------------------------------------- floors


def run_floor(days: int) -> dict:
    from bench_sql import render

    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    start, end = window(days)
    bp.fresh_flow_db()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
        flow_shape()
        [sql] = render("bench_floor", target="leads_flow", legacy_db=bp.LEGACY_DB)
        cur = flow.conn.cursor()
        t0 = time.perf_counter()
        cur.execute(sql, {"start": start, "end": end})
        flow.conn.commit()
        return {"rows": cur.rowcount, "total_s": time.perf_counter() - t0, "peak_rss_mb": server().peak_rss_mb()}


def run_bulk_floor(days: int) -> dict:
    """The same INSERT … SELECT into leads_flow with its primary key only, then its secondary indexes in one ALTER.

    The table is the pipeline's own (ensure_flow_schema), its secondary indexes dropped while it is empty; the
    ALTER puts back the same definitions (checked), so the result is the indexed leads_flow of the floor.
    """
    from bench_sql import render

    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    start, end = window(days)
    bp.fresh_flow_db()
    with connected("leads_flow") as flow:
        ensure_flow_schema(flow)
        shape = flow_shape()
        cur = flow.conn.cursor()
        cur.execute("ALTER TABLE leads_flow " + ", ".join(f"DROP INDEX `{n}`" for n in shape["secondary"]))
        [sql] = render("bench_floor", target="leads_flow", legacy_db=bp.LEGACY_DB)
        t0 = time.perf_counter()
        cur.execute(sql, {"start": start, "end": end})
        flow.conn.commit()
        rows = cur.rowcount
        t1 = time.perf_counter()
        cur.execute("ALTER TABLE leads_flow " + ", ".join(shape["secondary"].values()))
        t2 = time.perf_counter()
        primary, secondary = table_keys(cur, bp.FLOW_DB, "leads_flow")
        assert primary == shape["primary"] and secondary == set(shape["secondary"]), (primary, secondary)
    return {
        "rows": rows,
        "total_s": t2 - t0,
        "insert_s": t1 - t0,
        "indexes_s": t2 - t1,
        "peak_rss_mb": server().peak_rss_mb(),
    }


# ---------------------------------------------------------------------------------------------------- airflow


def cpu_kind(cmdline: list[str], name: str) -> str:
    """A process's part in the run, from its command line (Airflow 3 titles its task processes)."""
    text = " ".join(cmdline) or name
    if text.startswith("airflow worker -- ") and text[18:].strip() and "Executor" not in text:
        return f"task {text[18:].strip()}"  # a task process (and its forked stage workers), titled by its TI id
    for key, kind in (
        ("mariadbd", "mariadbd (the private server)"),
        ("postgres", "postgres (metadata)"),
        ("scheduler", "airflow scheduler"),
        ("api-server", "airflow api-server"),
        ("api_server", "airflow api-server"),
        ("dag-processor", "airflow dag-processor"),
        ("dag_processor", "airflow dag-processor"),
        ("LocalExecutor", "executor workers"),
        ("bench_history", "the benchmark"),
    ):
        if key in text:
            return kind
    return f"other: {text[:60]}"


class RssSampler(threading.Thread):
    """Peak RSS of the largest process under ``root`` (the scheduler: its task processes and their stage workers)
    and of their sum (shared pages counted in each process), sampled every 0.2 s; and the CPU seconds every
    process of the machine spent meanwhile, by its part in the run (a process's last sample counts: up to 1 s
    of a short-lived one is missed)."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid, self.stop = root_pid, threading.Event()
        self.largest_mb = self.tree_mb = 0.0
        self.largest_name = ""
        self.cpu_start: dict[int, float] = {}
        self.cpu_last: dict[int, tuple[str, float]] = {}
        self.machine: list[tuple[float, float, float]] = []  # (time, busy and iowait CPU seconds so far)

    def busy_timeline(self, step: float = 10.0) -> list[str]:
        """Cores in use in each ``step`` seconds of the run (of os.cpu_count()), and cores idle waiting for the
        disk after a slash when any."""
        out: list[str] = []
        if not self.machine:
            return out
        t0, b0, w0 = self.machine[0]
        for t, b, w in self.machine[1:]:
            if t - t0 >= step or (t, b, w) == self.machine[-1]:
                wait = (w - w0) / (t - t0)
                out.append(f"{(b - b0) / (t - t0):.2f}" + (f"/{wait:.2f}" if wait >= 0.01 else ""))
                t0, b0, w0 = t, b, w
        return out

    def sample_cpu(self, first: bool) -> None:
        import psutil

        with open("/proc/stat") as f:  # the whole machine's busy time: cores in use over the run
            user, nice, system, idle, iowait, *rest = (int(x) for x in f.readline().split()[1:])
        hz = os.sysconf("SC_CLK_TCK")
        self.machine.append((time.time(), (user + nice + system + sum(rest[:3])) / hz, iowait / hz))

        for p in psutil.process_iter(["cmdline", "name", "cpu_times"]):
            t = p.info["cpu_times"]
            if t is None:
                continue
            used = t.user + t.system
            if first:
                self.cpu_start[p.pid] = used
            elif p.pid in self.cpu_last:
                self.cpu_last[p.pid] = (self.cpu_last[p.pid][0], used)
            else:
                self.cpu_last[p.pid] = (cpu_kind(p.info["cmdline"] or [], p.info["name"] or "?"), used)

    def cpu_by_kind(self, tis: list[dict]) -> dict[str, float]:
        """CPU seconds per part of the run between start and stop, largest first; task processes summed by
        task (stage, gate, publish, …) through the task instances' ids."""
        task_of = {t.get("id"): f"{t['task_id'].split('.')[-1]} tasks" for t in tis}
        out: Counter[str] = Counter()
        for pid, (kind, used) in self.cpu_last.items():
            if kind.startswith("task "):
                kind = task_of.get(kind[5:], "other task processes")
            out[kind] += used - self.cpu_start.get(pid, 0.0)
        return {k: round(v, 1) for k, v in out.most_common() if v >= 0.05}

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.root_pid)
        self.sample_cpu(first=True)
        tick = 0
        while not self.stop.wait(0.2):
            tick += 1
            if tick % 5 == 0:  # once a second: a walk over every process costs CPU of its own
                self.sample_cpu(first=False)
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
    out["timeline"] = [  # each task's seconds from the trigger: start-end
        f"{t['task_id'].split('.')[-1]}[{t['map_index']}] {_ts(t['start_date']) - trigger_at:.0f}-"
        f"{_ts(t['end_date']) - trigger_at:.0f}"
        for t in sorted(tis, key=lambda t: _ts(t["start_date"]) or 0)
    ]
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

    from tests.e2e.airflow_stack import AirflowStack, Deadline  # the e2e tests' stack: start, drive, stop by pid

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
                time.sleep(0.5)  # each poll is a REST call the api-server and PostgreSQL answer on the same cores
            done_at = time.time()
            sampler.stop.set()
            sampler.join()
            sampler.sample_cpu(first=False)
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
        "cpu_s": sampler.cpu_by_kind(tis),
        "cores_busy_per_10s": sampler.busy_timeline(),
        "tree_rss_mb": sampler.tree_mb,
        "profile": profile(tis, trigger_at, done_at),
        "timings": run_timings(),
    }


def run_timings() -> dict:
    """Sum of each partition's recorded stage/gate/publish seconds (leads_flow_run.timings)."""
    cur = admin().cursor()
    cur.execute(f"SELECT * FROM {bp.FLOW_DB}.leads_flow_run LIMIT 0")
    cols = [d[0] for d in cur.description]
    if "timings" not in cols:
        return {}
    cur.execute(f"SELECT timings FROM {bp.FLOW_DB}.leads_flow_run WHERE status IN ('published', 'bulk_published')")
    total: dict[str, float] = {}
    for (t,) in cur.fetchall():
        for k, v in (json.loads(t) if t else {}).items():
            if isinstance(v, (int, float)):
                total[k] = total.get(k, 0.0) + v
            elif k == "bulk_publish":  # the bulk publish's breakdown, the same on each of its partitions
                total[k] = v
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
        pip = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", *DLT_REQUIREMENTS], capture_output=True, text=True
        )
        if pip.returncode:
            raise SystemExit(f"dlt: pip install failed ({pip.returncode}):\n{pip.stdout[-2000:]}{pip.stderr[-4000:]}")
        marker.write_text(want)
        print(f"dlt: virtualenv {DLT_VENV} created in {time.perf_counter() - t:.0f}s", flush=True)
    return py


def run_dlt(config: str, days: int, chunk: int, parallel: int) -> dict:
    """One dlt configuration into its own database, then leads_flow's keys added (timed as part of the run)."""
    py = ensure_dlt_venv()
    shape = flow_shape()
    cur = admin().cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DLT_DB}")
    cur.execute(f"DROP DATABASE IF EXISTS {DLT_DB}_staging")  # dlt's merge stages the load there
    cur.execute(f"CREATE DATABASE {DLT_DB} CHARACTER SET utf8mb4")
    proc = subprocess.run(
        [
            str(py),
            __file__,
            "--dlt-child",
            config,
            "--days",
            str(days),
            "--dlt-chunk",
            str(chunk),
            "--dlt-parallel",
            str(parallel),
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
            "LEADS_BENCH_DLT_COLUMNS": json.dumps(shape["columns"]),
        },
    )
    if proc.returncode:
        raise SystemExit(f"the dlt run ({config}) failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    # The table a user needs: leads_flow's computed column, primary key and secondary indexes, in one ALTER
    # (InnoDB rebuilds the table once, in primary-key order, and sorts each secondary index).
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema=%s AND table_name='leads_flow'",
        (DLT_DB,),
    )
    have = {c for (c,) in cur.fetchall()}
    primary, secondary = table_keys(cur, DLT_DB, "leads_flow")
    clauses = [v for v in shape["virtual"] if v.split("`")[1] not in have]
    if not primary:
        clauses.append(f"ADD PRIMARY KEY ({', '.join(shape['primary'])})")
    clauses += [v for k, v in shape["secondary"].items() if k not in secondary]
    t1 = time.perf_counter()
    if clauses:
        cur.execute(f"ALTER TABLE {DLT_DB}.leads_flow " + ", ".join(clauses))
    t2 = time.perf_counter()
    primary, secondary = table_keys(cur, DLT_DB, "leads_flow")
    assert primary == shape["primary"] and set(shape["secondary"]) <= secondary, (primary, secondary)
    r["phases"]["keys_s"] = t2 - t1
    r["dlt_s"] = r["total_s"]  # dlt's own extract + normalize + load, measured inside its process
    r["total_s"] += t2 - t1  # to the indexed table (the interpreter's start and dlt's imports not counted)
    r["extra_columns"] = sorted(have - set(shape["columns"]) - {v.split("`")[1] for v in shape["virtual"]})
    cur.execute(f"SELECT COUNT(*) FROM {DLT_DB}.leads_flow")
    r["rows"] = r["flow_rows"] = cur.fetchone()[0]
    r["rows"] += r["rejects"]
    return r


def dlt_child(config: str, days: int, chunk: int, parallel: int) -> None:
    """Runs inside .bench-venvs/dlt: legacy leads_aggr → Mapper → leads_flow in MariaDB, in configuration
    ``rows`` (sqlalchemy backend, the Mapper per row, merge on lead_id) or ``arrow`` (pyarrow backend, the
    Mapper over each Arrow batch, ``parallel`` parallelized resources over id ranges, parquet, append)."""
    import resource

    import dlt
    from dlt.sources.sql_database import sql_table

    from leads_flow.config import Settings
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
    from leads_flow.rules.keyring import Keyring
    from leads_flow.rules.mapping import Mapper

    start, end = window(days)
    extra = json.loads(os.environ["AIRFLOW_CONN_LEADS_PII"])["extra"]
    loaded_at = datetime.now()
    hints = json.loads(os.environ["LEADS_BENCH_DLT_COLUMNS"])
    hints = {c: hints[c] for c in STAGE_COLUMNS}  # leads_flow's stored columns, typed as there
    url = bp.URL.replace("mysql://", "mysql+mysqldb://", 1).rstrip("/")
    legacy = f"{url}/{bp.LEGACY_DB}"
    rejects = 0
    reasons: Counter = Counter()
    lock = threading.Lock()

    def new_mapper() -> Mapper:
        return Mapper(PhoneCipher(Keyring.from_extras(extra, None)), Settings(), end, "dlt", loaded_at)

    if config == "rows":
        mapper = new_mapper()

        def to_flow(row: dict) -> dict | None:
            nonlocal rejects
            mapped = mapper.map_rows([tuple(row[c] for c in LEGACY_COLUMNS)])
            if not mapped.staged:
                rejects += 1
                reasons.update(mapped.reasons)
                return None
            return dict(zip(STAGE_COLUMNS, mapped.staged[0]))

        source = (
            sql_table(credentials=legacy, table="leads_aggr", included_columns=list(LEGACY_COLUMNS))
            .add_map(to_flow)
            .add_filter(lambda r: r is not None)
        )
        source.apply_hints(columns={})  # not the reflected legacy columns (a non-empty dict merges into them)
        source.apply_hints(
            table_name="leads_flow",
            columns=hints,  # leads_flow's, typed as there
            primary_key="lead_id",
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        )
        resources = [source]
    else:
        import MySQLdb
        import pyarrow as pa

        def arrow_type(h: dict):
            if h["data_type"] == "text":
                return pa.string()
            if h["data_type"] == "timestamp":
                return pa.timestamp("us" if h.get("precision") else "s")
            return {16: pa.int16(), 32: pa.int32()}.get(h.get("precision"), pa.int64())

        schema = pa.schema([pa.field(c, arrow_type(hints[c]), nullable=hints[c]["nullable"]) for c in STAGE_COLUMNS])
        os.environ.setdefault("EXTRACT__DATA_WRITER__FILE_MAX_ITEMS", str(chunk * 2))
        os.environ.setdefault("NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS", str(chunk * 2))
        os.environ.setdefault("LOAD__WORKERS", str(max(2, parallel)))

        def batch_mapper():
            mapper = new_mapper()

            def to_flow(tbl):  # one Arrow batch of legacy rows → one Arrow table of leads_flow rows
                nonlocal rejects
                mapped = mapper.map_rows(zip(*(tbl.column(c).to_pylist() for c in LEGACY_COLUMNS)))
                with lock:
                    rejects += len(mapped.rejects)
                    reasons.update(mapped.reasons)
                cols = list(zip(*mapped.staged)) or [[] for _ in STAGE_COLUMNS]
                return pa.Table.from_arrays([pa.array(v, type=f.type) for v, f in zip(cols, schema)], schema=schema)

            return to_flow

        from urllib.parse import urlparse

        u = urlparse(bp.URL)
        conn = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root", passwd=u.password or "")
        cur = conn.cursor()
        cur.execute(f"SELECT MIN(id), MAX(id) + 1 FROM {bp.LEGACY_DB}.leads_aggr")
        lo, hi = cur.fetchone()
        conn.close()
        step = -(-(hi - lo) // parallel)
        resources = []
        for i in range(parallel):
            a, b = lo + i * step, min(hi, lo + (i + 1) * step)

            def id_range(a: int, b: int):
                return lambda query, table: query.where(table.c.id >= a).where(table.c.id < b)

            extract = sql_table(
                credentials=legacy,
                table="leads_aggr",
                included_columns=list(LEGACY_COLUMNS),
                backend="pyarrow",
                chunk_size=chunk,
                query_adapter_callback=id_range(a, b),
            ).with_name(f"leads_aggr_{i}")
            # The Mapper in a transformer of its own: hints on the sql_table resource itself would retype the legacy
            # columns that share leads_flow's names (leads_type, has_tool, ...) when the backend builds its batches.
            mapped = dlt.transformer(
                batch_mapper(),
                name=f"leads_flow_{i}",
                table_name="leads_flow",
                columns=hints,  # leads_flow's, typed as there; no key: the keys come after the load
                write_disposition="append",
                parallelized=True,
            )
            resources.append(extract.parallelize() | mapped)
    pipelines_dir = tempfile.mkdtemp(prefix="lf-bench-dlt-")
    pipe = dlt.pipeline(
        pipeline_name=f"lf_bench_history_{config}",
        pipelines_dir=pipelines_dir,
        destination=dlt.destinations.sqlalchemy(credentials=f"{url}/{DLT_DB}"),
        dataset_name=DLT_DB,
    )
    phases: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        pipe.extract(resources)
        phases["extract_s"] = time.perf_counter() - t0
        pipe.normalize()
        phases["normalize_s"] = time.perf_counter() - t0 - phases["extract_s"]
        pipe.load()
        total = time.perf_counter() - t0
        phases["load_s"] = total - phases["extract_s"] - phases["normalize_s"]
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    print(
        json.dumps(
            {
                "total_s": total,
                "rejects": rejects,
                "reasons": reasons,
                "peak_rss_mb": rss / 1024,
                "phases": phases,
                "dlt": dlt.__version__,
            }
        )
    )


# ------------------------------------------------------------------------------------------------------- main

PATHS = ("floor", "bulk_floor", "airflow", "dlt")


def _stop_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: Airflow and the server stopped by pid


def line(name: str, r: dict, note: str = "") -> None:
    print(
        f"{name:<10} {r['rows']:>9} rows in {r['total_s']:8.2f}s = {r['rows'] / r['total_s']:>9,.0f} rows/s  "
        f"peak RSS {r['peak_rss_mb']:.0f} MB{note}",
        flush=True,
    )


def measure(args: argparse.Namespace, pool: str) -> dict[str, dict]:
    """Every path on the same rows, each after a restart of the server with ``pool`` (a cold buffer pool)."""
    srv = server()
    print(f"== buffer pool {pool} ==", flush=True)
    runs: list[tuple[str, object]] = [
        ("floor", lambda: run_floor(args.days)),
        ("bulk_floor", lambda: run_bulk_floor(args.days)),
        ("airflow", lambda: run_airflow(args.rows, args.days)),
    ]
    runs += [
        (f"dlt_{c}", lambda c=c: run_dlt(c, args.days, args.dlt_chunk, args.dlt_parallel)) for c in args.dlt_config
    ]
    res: dict[str, dict] = {}
    for name, fn in runs:
        if (name if not name.startswith("dlt_") else "dlt") not in args.only:
            continue
        srv.restart(pool)
        before = server_counters()
        res[name] = r = fn()  # type: ignore[operator]
        r["server"] = server_delta(before, r["total_s"])
        note = " (the server)" if name in ("floor", "bulk_floor") else ""
        if name == "bulk_floor":
            note += f"; INSERT … SELECT {r['insert_s']:.2f}s + secondary indexes {r['indexes_s']:.2f}s"
        elif name.startswith("dlt_"):
            note += f"; dlt {r['dlt_s']:.2f}s + keys {r['phases']['keys_s']:.2f}s"
        line(name, r, note)
        print(f"{name:<10} {r['server']} (over its {r['total_s']:.0f} s)", flush=True)
    rate = {k: v["rows"] / v["total_s"] for k, v in res.items()}
    dlts = [k for k in res if k.startswith("dlt_")]
    if dlts:
        best = max(dlts, key=rate.__getitem__)
        res["dlt"], rate["dlt"] = res[best], rate[best]
        for k in dlts:
            d = res[k]
            print(f"{k}: {d['flow_rows']} rows in leads_flow + {d['rejects']} rejected {json.dumps(d['reasons'])}")
            print(f"{k} phases:", json.dumps({p: round(v, 2) for p, v in d["phases"].items()}), "dlt", d["dlt"])
            if d["extra_columns"]:
                print(f"{k}: columns of its own beside leads_flow's: {', '.join(d['extra_columns'])}")
        print(f"dlt: the faster configuration is {best.removeprefix('dlt_')} ({rate[best]:,.0f} rows/s)")
    if "floor" in rate and "bulk_floor" in rate:
        print(f"bulk_floor_vs_floor={rate['bulk_floor'] / rate['floor']:.2f}")
    if "airflow" in res:
        a = res["airflow"]
        print(f"airflow: {a['flow_rows']} published + {a['rejects']} rejected; largest process: {a['peak_rss_of']}")
        print(
            f"airflow: sum of RSS over the scheduler's tree at its peak {a['tree_rss_mb']:.0f} MB "
            "(shared pages counted per process)"
        )
        print("airflow profile:", json.dumps(a["profile"], indent=1, default=str))
        busy = sum(a["cpu_s"].values())
        print(f"airflow CPU: {busy:.0f} core-s over {a['total_s']:.0f} s ({busy / a['total_s']:.2f} cores), by part:")
        print(json.dumps(a["cpu_s"], indent=1))
        print(
            f"airflow: cores busy in each 10 s (of {os.cpu_count()}; /cores waiting for the disk):",
            " ".join(a["cores_busy_per_10s"]),
        )
        print("airflow recorded timings (sum over partitions):", json.dumps(a["timings"]))
        print(f"pool={pool}")
        for other in ("floor", "bulk_floor", "dlt"):
            if other in rate:
                print(f"ratio_vs_{other}={rate['airflow'] / rate[other]:.2f}")
    peaks = " ".join(f"{k}={v['peak_rss_mb']:.0f}" for k, v in res.items() if k != "dlt")
    print(f"peak_rss_mb {peaks} (floors: the server's; airflow: its largest process; dlt: its process)")
    return res


def main() -> None:
    global SERVER
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument(
        "--pool",
        default="128M",
        help="innodb_buffer_pool_size of the private server; a comma-separated list measures each (default 128M)",
    )
    ap.add_argument(
        "--server-dir",
        default=os.environ.get("LEADS_BENCH_SERVER_DIR"),
        help="where the private server's temporary directory goes (default: the system's temporary directory; "
        "its filesystem is printed: a tmpfs would measure no disk)",
    )
    ap.add_argument("--only", choices=PATHS, action="append")
    ap.add_argument("--dlt-config", choices=DLT_CONFIGS, action="append")
    ap.add_argument("--dlt-chunk", type=int, default=100_000, help="rows per Arrow batch (arrow configuration)")
    ap.add_argument("--dlt-parallel", type=int, default=2, help="parallel extract resources (arrow configuration)")
    ap.add_argument("--dlt-child", choices=DLT_CONFIGS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dlt_child:
        dlt_child(args.dlt_child, args.days, args.dlt_chunk, args.dlt_parallel)
        return
    args.only = args.only or list(PATHS)
    args.dlt_config = args.dlt_config or list(DLT_CONFIGS)
    pools = [p.strip() for p in args.pool.split(",") if p.strip()]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, also when started in the background
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    SERVER = PrivateMariaDB(pool=pools[0], parent=args.server_dir, log=lambda m: print(m, flush=True))
    try:
        SERVER.start()
        bp.URL = SERVER.url  # every connection of the benchmark (and of the Airflow and dlt processes) points here
        os.environ["LEADS_BENCH_MYSQL_URL"] = SERVER.url
        bp.setup_env()
        ensure_legacy(args.rows, args.days)
        for pool in pools:
            measure(args, pool)
    finally:
        SERVER.close()
        print(f"mariadb: stopped, {SERVER.dir} removed", flush=True)
    print(f"machine: {os.cpu_count()} cores, rows={args.rows}, days={args.days}, pools={','.join(pools)}")


if __name__ == "__main__":
    main()

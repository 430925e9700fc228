"""The Python side of `make bench-java` (not a test): submit.submit_lead with THREADS threads (one connection each)
and reads.find_by_phone from one thread, on the same generated leads and keys as java/bench's RepositoryBench, in a
database of its own on the local MariaDB (random name, dropped at the end). Prints figures only, never a phone.

    .venv/bin/python benchmarks/bench_repository_python.py [rows] [threads] [lookups]
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

import MySQLdb  # noqa: E402

from leads_flow.io.db import Db  # noqa: E402
from leads_flow.io.schema import ensure_flow_schema  # noqa: E402
from leads_flow.reads import find_by_phone  # noqa: E402
from leads_flow.rules.crypto import PhoneCipher  # noqa: E402
from leads_flow.rules.keyring import Keyring  # noqa: E402
from leads_flow.submit import submit_lead  # noqa: E402

URL = urlparse(os.environ.get("LEADS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
PARAMS = {"host": URL.hostname, "port": URL.port or 3306, "user": URL.username or "root", "passwd": URL.password or ""}


def _open(name: str) -> Db:
    conn = MySQLdb.connect(**PARAMS, database=name, charset="utf8mb4")
    conn.autocommit(False)
    return Db(conn, "mysql")


def _pct(sorted_s: list[float], p: float) -> float:
    return sorted_s[min(len(sorted_s) - 1, round(p / 100 * (len(sorted_s) - 1)))] * 1000


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    lookups = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    if rows > 200_000:
        raise SystemExit("at most 200,000 rows on a shared machine")
    cipher = PhoneCipher(Keyring({"1": bytes([1] * 32)}, "1", {"1": bytes([2] * 32)}, "1"))  # RepositoryBench's keys
    rng = random.Random(42)
    phones = [f"13{rng.randrange(10)}{rng.randrange(10**8):08d}" for _ in range(rows)]
    t0 = datetime(2026, 11, 20, 9, 0)
    name = f"lpb_{uuid.uuid4().hex[:12]}"
    admin = MySQLdb.connect(**PARAMS, charset="utf8mb4")
    admin.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        db = _open(name)
        ensure_flow_schema(db)
        lat = [0.0] * rows
        nxt = iter(range(rows))
        lock = threading.Lock()

        def writer() -> None:
            wdb = _open(name)
            try:
                while True:
                    with lock:
                        i = next(nxt, None)
                    if i is None:
                        return
                    lead = {
                        "id": i + 1,
                        "phone": phones[i],
                        "unionId": f"o{i:016x}WX",
                        "window_url": f"https://m.example.cn/lp/{i % 1000}?ch=gdt",
                        "ip_address": f"58.16.{i % 250}.2",
                        "user_agent": "Mozilla/5.0 (bench)",
                        "from_channel": f"ch{i % 50}",
                        "has_tool": 1,
                        "is_group": 0,
                        "join_time": t0 + timedelta(seconds=i),
                        "leads_type": 0,
                        "main_business_id": 3,
                        "create_time": t0 + timedelta(seconds=i + 5),
                    }
                    a = time.perf_counter()
                    submit_lead(wdb, cipher, lead, etl_run_id="bench")
                    lat[i] = time.perf_counter() - a
            finally:
                wdb.close()

        start = time.perf_counter()
        pool = [threading.Thread(target=writer) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        secs = time.perf_counter() - start
        lat.sort()
        print(
            f"python submit_lead: {rows} rows, {threads} threads: {rows / secs:.0f} rows/s; "
            f"latency p50 {_pct(lat, 50):.2f} ms, p99 {_pct(lat, 99):.2f} ms"
        )
        look, hits = [], 0
        for _ in range(lookups):
            raw = "+86 " + phones[rng.randrange(rows)]
            a = time.perf_counter()
            hits += bool(find_by_phone(db, cipher, raw))
            look.append(time.perf_counter() - a)
        look.sort()
        print(
            f"python find_by_phone: {lookups} lookups on {rows} rows (1 thread): p50 {_pct(look, 50):.2f} ms, "
            f"p99 {_pct(look, 99):.2f} ms; {hits} found"
        )
        db.close()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


if __name__ == "__main__":
    main()

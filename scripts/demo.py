#!/usr/bin/env python
"""`make demo`: the sync DAG end to end on an embedded setup, then a summary a person can read.

Everything lives under .demo/: SQLite for Airflow's metadata and for the legacy and flow databases,
and a demo keyring made once with fresh random keys. The legacy database is seeded once with generated
leads holding every dirty-data shape, so running the demo twice leaves the same table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(os.environ.get("LEADS_DEMO_DIR") or ROOT / ".demo")  # elsewhere in tests (tests/browser)
FIRST_DAY, LAST_DAY = "2026-11-20", "2026-11-22"
# The keyring's key fields, masked by Airflow wherever it shows a connection extra (docs/phone-protection.md).
SENSITIVE_VAR_CONN_NAMES = "enc_keys,bidx_keys"
# The deployment's one time zone (leads_flow.names.TZ_NAME): the processes' clock (TZ: the run log's started and
# finished times, which the report shows as Asia/Shanghai) and Airflow's default for dates without a zone (the
# CLI's backfill bounds). Airflow 3.3's UI shows the zone picked in its user menu, by default the browser's.
TZ_NAME = "Asia/Shanghai"


def demo_env() -> dict[str, str]:
    """Environment for the demo's Airflow: also used by `make ui` (scripts/ui.sh sources it)."""
    DEMO.mkdir(exist_ok=True)
    keyring = DEMO / "keyring.json"
    if not keyring.exists():
        key = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
        keyring.write_text(
            json.dumps(
                {"enc_keys": {"1": key()}, "active_enc_kid": "1", "bidx_keys": {"1": key()}, "active_bidx_kid": "1"}
            )
        )
        keyring.chmod(0o600)
    return {
        "AIRFLOW_HOME": str(DEMO / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": TZ_NAME,
        "TZ": TZ_NAME,
        "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_VAR_CONN_NAMES,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "AIRFLOW_CONN_LEADS_LEGACY": f"sqlite:///{DEMO / 'legacy.db'}",
        "AIRFLOW_CONN_LEADS_FLOW": f"sqlite:///{DEMO / 'flow.db'}",
        "AIRFLOW_CONN_LEADS_PII": json.dumps({"conn_type": "generic", "extra": json.loads(keyring.read_text())}),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }


def setup() -> None:
    os.environ.update(demo_env())
    time.tzset()  # this process's clock in TZ_NAME too (dag.test runs the tasks here)
    sys.path.insert(0, str(ROOT / "plugins"))
    if not (DEMO / "airflow" / "airflow.db").exists():
        print("migrating Airflow's metadata database (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    from devkit import seed
    from leads_flow.io import schema
    from leads_flow.io.connect import connected

    with connected("leads_legacy") as db:
        schema.create_legacy_table(db)
        if db.query("count_rows", table="leads_aggr")[0][0] == 0:
            n = seed.insert_legacy(
                db,
                seed.legacy_rows(
                    3000, datetime.fromisoformat(FIRST_DAY), datetime.fromisoformat("2026-11-23"), dirty=0.03
                ),
            )
            print(f"seeded {n} generated legacy leads over {FIRST_DAY} .. {LAST_DAY}")


def run_dag() -> str:
    """Run the DAG once; its task logs and Python warnings go to .demo/demo-run.log, not between the summary's
    lines (the file descriptors themselves: Airflow's handlers hold the terminal's streams)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("leads_flow_sync_dag", ROOT / "dags" / "leads_flow_sync.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    print(f"running leads_flow_sync for {FIRST_DAY} .. {LAST_DAY} (manual run, date-range params) ...", flush=True)
    log_path = DEMO / "demo-run.log"
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as out:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                dr = mod.dag.test(logical_date=None, run_conf={"start_date": FIRST_DAY, "end_date": LAST_DAY})
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    print(
        f"dag run {dr.run_id}: {dr.state} (task logs: {log_path.relative_to(ROOT) if log_path.is_relative_to(ROOT) else log_path})"
    )
    return dr.run_id


def table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    """A plain text table: a header, a rule, the rows; numbers right-aligned with thousands separators."""
    cells = [[f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in r] for r in rows]
    right = right if right is not None else {i for i, v in enumerate(rows[0]) if isinstance(v, int)} if rows else set()
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(vals: list[str]) -> str:
        return (
            "  " + "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))
        ).rstrip()

    return "\n".join([line(headers), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def summary(dag_run_id: str) -> None:
    """What the run did, with its numbers reconciled: seeded = extracted − overlap re-reads; leads_flow = seeded −
    rejected leads; the reasons add up to the rejected leads."""
    from leads_flow.io.connect import connected

    with connected("leads_flow") as db:
        cur = db.conn.cursor()
        cur.execute(
            "SELECT partition_start, window_start, status, extracted, staged, rejected, coerced, published, "
            "gate_success, gate_failed_checks FROM leads_flow_run WHERE dag_run_id = ? ORDER BY partition_start",
            (dag_run_id,),
        )
        parts = cur.fetchall()
        runs = "SELECT etl_run_id FROM leads_flow_run WHERE dag_run_id = ?"
        cur.execute(
            f"SELECT reasons, COUNT(*) FROM leads_flow_reject WHERE etl_run_id IN ({runs}) "
            "GROUP BY reasons ORDER BY 2 DESC, 1",
            (dag_run_id,),
        )
        reasons = cur.fetchall()
        cur.execute(
            "SELECT lead_id, phone_masked, phone_cipher, union_id, ip_address, leads_type, join_time "
            "FROM leads_flow ORDER BY lead_id LIMIT 5"
        )
        sample = cur.fetchall()
        cur.execute(
            "SELECT lead_id, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address, "
            "user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, "
            "is_deleted, source_updated_at FROM leads_flow ORDER BY lead_id"
        )
        digest = hashlib.sha256(repr(cur.fetchall()).encode()).hexdigest()[:16]
        cur.execute("SELECT COUNT(*) FROM leads_flow")
        flow_rows = cur.fetchone()[0]
    with connected("leads_legacy") as legacy:
        seeded = legacy.query("count_rows", table="leads_aggr")[0][0]
        overlaps = [
            int(legacy.query("count_window", {"start": ws, "end": ps}, legacy="leads_aggr")[0][0])
            for ps, ws, *_ in parts
        ]

    rows = []
    for (day, _ws, status, ext, stg, rej, coe, pub, ok, failed), ovl in zip(parts, overlaps):
        gate = "passed" if ok else ("FAILED " + (failed or "") if ok is not None else "-")
        rows.append([str(day)[:10], status, ext or 0, ovl, stg or 0, rej or 0, coe or 0, pub or 0, gate])
    total = [sum(r[i] for r in rows) for i in range(2, 8)]
    print(f"\npartitions of {dag_run_id} (table leads_flow_run):")
    print(
        table(
            ["day", "status", "extracted", "of which overlap", "staged", "rejected", "coerced", "published", "gate"],
            rows + [["total", "", *total, ""]],
            right={2, 3, 4, 5, 6, 7},
        )
    )
    extracted, overlap, staged, rejected, _coerced, published = total
    reject_leads = sum(n for _, n in reasons)
    print("\nthe numbers, reconciled:")
    print(
        table(
            ["", "rows", "how"],
            [
                ["seeded legacy leads", seeded, f"{FIRST_DAY} .. {LAST_DAY}"],
                [
                    "extracted",
                    extracted,
                    f"{extracted - overlap:,} leads of the window + {overlap:,} re-read in the "
                    "60 minutes before each day (overlap_minutes: late commits)",
                ],
                ["  staged", staged, "extracted = staged + rejected, per partition"],
                [
                    "  rejected",
                    rejected,
                    f"{reject_leads:,} leads + {rejected - reject_leads:,} re-read in an overlap "
                    "(one reject row per lead and version)",
                ],
                [
                    "leads in leads_flow",
                    flow_rows,
                    f"= {seeded:,} seeded − {reject_leads:,} rejected leads"
                    + ("" if flow_rows == seeded - reject_leads else "  (does not add up: see the log)"),
                ],
            ],
            right={1},
        )
    )
    print("\nrejected leads by reasons (table leads_flow_reject; a lead can carry several reasons):")
    print(table(["reasons", "leads"], [[r, n] for r, n in reasons] + [["total", reject_leads]]))
    print("\nsample rows of leads_flow (phones only as mask and e1 token):")
    print(
        table(
            ["lead_id", "phone_masked", "phone_cipher (e1)", "union_id", "ip_address", "leads_type", "join_time"],
            [
                [lid, m or "-", (t or "-")[:24] + "…", u or "-", ip or "-", lt, str(j)]
                for lid, m, t, u, ip, lt, j in sample
            ],
            right={0},
        )
    )
    print(
        f"\nleads_flow: {flow_rows:,} rows, content fingerprint {digest} "
        "(run `make demo` again: the fingerprint stays the same)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--setup-only", action="store_true", help="prepare .demo/ for `make ui` and stop")
    args = ap.parse_args()
    setup()
    if args.setup_only:
        return
    summary(run_dag())


if __name__ == "__main__":
    main()

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
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
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


def run_dag() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("leads_flow_sync_dag", ROOT / "dags" / "leads_flow_sync.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    print(f"running leads_flow_sync for {FIRST_DAY} .. {LAST_DAY} (manual run, date-range params) ...", flush=True)
    dr = mod.dag.test(logical_date=None, run_conf={"start_date": FIRST_DAY, "end_date": LAST_DAY})
    print(f"dag run state: {dr.state}")


def summary() -> None:
    from leads_flow.io.connect import connected

    with connected("leads_flow") as db:
        cur = db.conn.cursor()
        cur.execute(
            "SELECT partition_start, status, extracted, staged, rejected, coerced, gate_success, "
            "gate_failed_checks FROM leads_flow_run ORDER BY started_at DESC, partition_start LIMIT 3"
        )
        print("\nlatest partitions (leads_flow_run):")
        print(f"  {'day':<11}{'status':<11}{'extracted':>10}{'staged':>8}{'rejected':>10}{'coerced':>9}  gate")
        for day, status, ext, stg, rej, coe, ok, failed in sorted(cur.fetchall()):
            print(
                f"  {day[:10]:<11}{status:<11}{ext:>10}{stg:>8}{rej:>10}{coe:>9}  "
                f"{'passed' if ok else 'FAILED ' + (failed or '')}"
            )
        cur.execute(
            "SELECT reasons, COUNT(*) FROM leads_flow_reject WHERE etl_run_id IN "
            "(SELECT etl_run_id FROM leads_flow_run ORDER BY started_at DESC LIMIT 3) "
            "GROUP BY reasons ORDER BY 2 DESC"
        )
        print("\nrejects by reason:")
        for reasons, n in cur.fetchall():
            print(f"  {reasons:<45}{n:>6}")
        cur.execute(
            "SELECT lead_id, phone_masked, phone_cipher, union_id, ip_address, leads_type, join_time "
            "FROM leads_flow ORDER BY lead_id LIMIT 5"
        )
        print("\nsample rows of leads_flow (phones only as mask and e1 token):")
        for lid, masked, token, union, ip, ltype, join in cur.fetchall():
            print(
                f"  {lid:>5} {masked or '-':<12} {(token or '-')[:28] + '…':<30} {union or '-':<20} "
                f"{ip or '-':<16} {ltype:<9} {join}"
            )
        cur.execute(
            "SELECT lead_id, phone_bidx, phone_bidx_kid, phone_masked, union_id, window_url, ip_address, "
            "user_agent, from_channel, has_tool, join_time, leads_type, is_group, main_business_id, "
            "is_deleted, source_updated_at FROM leads_flow ORDER BY lead_id"
        )
        digest = hashlib.sha256(repr(cur.fetchall()).encode()).hexdigest()[:16]
        cur.execute("SELECT COUNT(*) FROM leads_flow")
        print(
            f"\nleads_flow: {cur.fetchone()[0]} rows, content fingerprint {digest} "
            "(run `make demo` again: the fingerprint stays the same)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--setup-only", action="store_true", help="prepare .demo/ for `make ui` and stop")
    args = ap.parse_args()
    setup()
    if args.setup_only:
        return
    run_dag()
    summary()


if __name__ == "__main__":
    main()

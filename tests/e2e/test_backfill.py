"""End to end under a real Airflow: backfill three days, then the same window as one manual run.

Starts `airflow api-server`, `airflow scheduler` and `airflow dag-processor` as subprocesses (LocalExecutor,
PostgreSQL metadata in a fresh database from tests/e2e/conftest.py, a temporary AIRFLOW_HOME, API on a free
127.0.0.1 port), wired to the MariaDB databases of the ``mysql_dbs`` fixture, and drives them with the CLI as an operator would (the REST API is used to wait for
runs and to read task instances, pools included):

    airflow pools set leads_legacy 2 "legacy reads"
    airflow backfill create --dag-id leads_flow_sync \
        --from-date 2026-11-20T00:00:00+08:00 --to-date 2026-11-22T00:00:00+08:00
    airflow dags unpause leads_flow_sync
    airflow dags trigger leads_flow_sync -c '{"start_date": "2026-11-20", "end_date": "2026-11-22"}'

Backfill bounds are inclusive bounds on the *logical date*, which for the DAG's CronDataIntervalTimetable is the
data interval start. Bare dates are read in Airflow's default timezone (UTC): `--from-date 2026-11-21 --to-date
2026-11-23` (the Airflow 2 habit) selects only the intervals starting 2026-11-22 and 2026-11-23 Asia/Shanghai.
Hence explicit +08:00 offsets.

The components get the environment docker-compose.yaml gives them: the keyring connection (AIRFLOW_CONN_LEADS_PII)
only to the scheduler, whose LocalExecutor runs the tasks, and ``[core] sensitive_var_conn_names = enc_keys,bidx_keys``
to all. After the runs, the keyring check (docs/phone-protection.md, "Where the keys live"): the keyring is stored in
the metadata database as ``leads_pii`` + ``leads_pii_bidx`` (the one place the REST API reads connections from), and
neither ``GET /api/v2/connections/...`` nor the connection list returns a key in any spelling; a second api-server
started *without* the setting masks them too (the project's plugin marks the fields sensitive); the CLI, run as in a
container without the keyring, cannot read it; and no component or task log holds a key.

Every process started here is stopped in a finally block (SIGTERM to the process and its descendants, SIGKILL
after a grace period). On failure the tails of the component and task logs are printed; they hold no phone
numbers, and this test never prints rows.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

import pytest

from tests.e2e.airflow_stack import DAG_ID, POOL, AirflowStack, Deadline, free_port
from tests.helpers import flow_table, insert, legacy_row, truncate_flow

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

DAYS = (20, 21, 22)
ROWS_PER_DAY = 30  # 1 reject in 31 rows stays under the default max_reject_ratio of 0.05
BACKFILL_FROM, BACKFILL_TO = "2026-11-20T00:00:00+08:00", "2026-11-22T00:00:00+08:00"
MANUAL_CONF = {"start_date": "2026-11-20", "end_date": "2026-11-22"}

TEST_BUDGET_S = 460  # everything before teardown; teardown adds at most ~25 s
BACKFILL_WAIT_S = 240
MANUAL_WAIT_S = 180


# ------------------------------------------------------------------------------------------------- test data


def _phone(day: int, i: int) -> str:
    return f"139{day:02d}{i:06d}"


def _seed_rows() -> list[tuple]:
    rows = []
    for day in DAYS:
        for i in range(ROWS_PER_DAY):
            rows.append(
                legacy_row(
                    phone=_phone(day, i),
                    create_time=datetime(2026, 11, day, 1),
                    join_time=datetime(2026, 11, day, 1),
                    update_time=datetime(2026, 11, day, 1) + timedelta(minutes=20 * i),
                )
            )
    rows.append(
        legacy_row(
            phone="12345",
            create_time=datetime(2026, 11, 21, 5),
            join_time=datetime(2026, 11, 21, 5),
            update_time=datetime(2026, 11, 21, 5),
        )
    )
    return rows


EXPECTED_PHONES = {f"+86{_phone(day, i)}" for day in DAYS for i in range(ROWS_PER_DAY)}


def _max_overlap(intervals: list[tuple[str, str]]) -> int:
    """Most intervals open at one instant (an end at the same instant as a start closes first)."""
    ts = datetime.fromisoformat
    events = sorted([(ts(s), 1) for s, _ in intervals] + [(ts(e), -1) for _, e in intervals])
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


# ------------------------------------------------------------------------------------------------------ test


def test_backfill_and_one_manual_run_give_the_same_table(mysql_dbs, pg_metadata, cipher, tmp_path):
    t0 = time.monotonic()
    deadline = Deadline(TEST_BUDGET_S)
    dbs = mysql_dbs
    insert(dbs, _seed_rows())

    stack = AirflowStack(tmp_path / "airflow-home", deadline, pg_metadata)
    try:
        try:
            stack.cli("db", "migrate")
            stack.cli("pools", "set", POOL, "2", "legacy reads")
            stack.start()
            stack.wait_ready(timeout=150)
            print(f"[e2e] Airflow ready on {stack.base} after {time.monotonic() - t0:.0f} s")

            # Created while the DAG is still paused, the backfill runs wait queued; unpausing starts them (and,
            # catchup being off, one scheduled run for the latest complete day, which has no legacy rows here).
            stack.cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", BACKFILL_FROM, "--to-date", BACKFILL_TO)
            stack.cli("dags", "unpause", DAG_ID)
            backfill = stack.wait_runs(lambda r: r["run_type"] == "backfill", 3, BACKFILL_WAIT_S, "backfill")
            print(f"[e2e] backfill finished after {time.monotonic() - t0:.0f} s")
            _check_backfill(stack, dbs, cipher, backfill)
            table_after_backfill = flow_table(dbs)

            # The same window as ONE manual run with a date range, into an emptied leads_flow.
            truncate_flow(dbs)
            stack.cli("dags", "trigger", DAG_ID, "-c", json.dumps(MANUAL_CONF))
            [manual] = stack.wait_runs(lambda r: r["run_type"] == "manual", 1, MANUAL_WAIT_S, "manual run")
            print(f"[e2e] manual run finished after {time.monotonic() - t0:.0f} s")
            for r in stack.runs():
                print(
                    f"[e2e] run {r['dag_run_id']}: type={r['run_type']} state={r['state']} "
                    f"logical_date={r['logical_date']} interval=[{r['data_interval_start']}, "
                    f"{r['data_interval_end']}) conf={r['conf']}"
                )
            _check_manual(stack, dbs, manual)

            same = flow_table(dbs) == table_after_backfill
            assert same, "backfill and one manual run over the same window gave different leads_flow tables"

            # the scheduled run that unpausing created (the latest complete day, empty here) succeeded too
            [scheduled] = stack.wait_runs(lambda r: r["run_type"] == "scheduled", 1, MANUAL_WAIT_S, "scheduled run")
            assert datetime.fromisoformat(scheduled["data_interval_end"]) > datetime.fromisoformat(BACKFILL_TO)

            # every stage task of every run (backfill, the scheduled one, manual) ran in the pool, never more
            # than its 2 slots at once
            stages = [
                ti
                for r in stack.runs()
                for ti in stack.task_instances(r["dag_run_id"])
                if ti["task_id"] == "partition.stage"
            ]
            assert len(stages) >= 6 and {ti["pool"] for ti in stages} == {POOL}
            assert (
                _max_overlap(
                    [(ti["start_date"], ti["end_date"]) for ti in stages if ti["start_date"] and ti["end_date"]]
                )
                <= 2
            )

            _check_keyring_never_readable(stack)
            print(f"[e2e] keyring check finished after {time.monotonic() - t0:.0f} s")
        except BaseException:
            stack.dump_logs()
            raise
    finally:
        stack.stop()
        print(f"[e2e] total {time.monotonic() - t0:.0f} s")


def _check_backfill(stack: AirflowStack, dbs, cipher, runs: list[dict]) -> None:
    # one run per day, each with its own one-day data interval in Asia/Shanghai
    intervals = sorted((r["data_interval_start"], r["data_interval_end"]) for r in runs)
    expected = [(f"2026-11-{d - 1:02d}T16:00:00Z", f"2026-11-{d:02d}T16:00:00Z") for d in DAYS]
    norm = [(s.replace("+00:00", "Z"), e.replace("+00:00", "Z")) for s, e in intervals]
    assert norm == expected, f"backfill data intervals {norm}"

    # the pool exists and every mapped stage task ran in it
    pool = stack.get(f"/api/v2/pools/{POOL}")
    assert (pool["name"], pool["slots"], pool["description"]) == (POOL, 2, "legacy reads")  # type: ignore[index]
    for r in runs:
        tis = stack.task_instances(r["dag_run_id"])
        by_task: dict[str, list[dict]] = {}
        for ti in tis:
            by_task.setdefault(ti["task_id"], []).append(ti)
        expected_tasks = ["partition.gate", "partition.publish", "partition.stage", "plan", "publish_bulk"]
        assert sorted(by_task) == expected_tasks, sorted(by_task)
        assert [ti["map_index"] for ti in by_task["partition.stage"]] == [0], "one daily partition per backfill run"
        # a daily partition is published by its own task; the bulk path's fan-in skips
        assert all(ti["state"] == ("skipped" if ti["task_id"] == "publish_bulk" else "success") for ti in tis)
        assert {ti["pool"] for ti in by_task["partition.stage"]} == {POOL}
        assert {ti["pool"] for ti in by_task["plan"] + by_task["partition.gate"]} == {"default_pool"}

    # the flow tables
    run_ids = sorted(r["dag_run_id"] for r in runs)
    published = dbs.flow_rows(
        "SELECT dag_run_id, status, partition_start, extracted, rejected FROM leads_flow_run "
        f"WHERE dag_run_id IN ({', '.join(['%s'] * len(run_ids))}) ORDER BY partition_start",
        tuple(run_ids),
    )
    assert [(r[1], str(r[2])[:10]) for r in published] == [("published", f"2026-11-{d}") for d in DAYS]
    assert sorted(r[0] for r in published) == run_ids
    assert [(r[3], r[4]) for r in published] == [(30, 0), (31, 1), (30, 0)]
    [(n,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")
    assert n == len(DAYS) * ROWS_PER_DAY
    tokens = [t for (t,) in dbs.flow_rows("SELECT phone_cipher FROM leads_flow")]
    same = {cipher.decrypt(t) for t in tokens} == EXPECTED_PHONES
    assert same, "decrypted phone tokens are not the normalised seeded phones"
    rejects = dbs.flow_rows("SELECT reasons, source_updated_at FROM leads_flow_reject")
    assert len(rejects) == 1 and "phone" in rejects[0][0] and str(rejects[0][1]).startswith("2026-11-21 05:00")


def _check_manual(stack: AirflowStack, dbs, run: dict) -> None:
    assert run["conf"] == MANUAL_CONF
    tis = stack.task_instances(run["dag_run_id"])
    stage = [ti for ti in tis if ti["task_id"] == "partition.stage"]
    assert sorted(ti["map_index"] for ti in stage) == [0, 1, 2]
    assert {ti["pool"] for ti in stage} == {POOL}
    published = dbs.flow_rows(
        "SELECT status, partition_start, extracted, rejected FROM leads_flow_run "
        "WHERE dag_run_id = %s ORDER BY partition_start",
        (run["dag_run_id"],),
    )
    assert [(r[0], str(r[1])[:10], r[2], r[3]) for r in published] == [
        ("published", "2026-11-20", 30, 0),
        ("published", "2026-11-21", 31, 1),
        ("published", "2026-11-22", 30, 0),
    ]
    [(n,)] = dbs.flow_rows("SELECT COUNT(*) FROM leads_flow")
    assert n == len(DAYS) * ROWS_PER_DAY


# ------------------------------------------------------------------------------------------ the keyring check


def _key_spellings(key: bytes) -> set[str]:
    std, url = base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()
    return {std, std.rstrip("="), url, url.rstrip("="), key.hex(), key.hex().upper()}


def _keyring_secrets() -> tuple[dict, set[str]]:
    """The keyring extra the fixture gave the scheduler, and every spelling of its root and derived keys."""
    from leads_flow.rules.crypto import BIDX_INFO, ENC_INFO, hkdf
    from leads_flow.rules.keyring import Keyring

    extra = json.loads(os.environ["AIRFLOW_CONN_LEADS_PII"])["extra"]
    kr = Keyring.from_extra(extra)
    forms: set[str] = set()
    for root in kr.enc_keys.values():
        forms |= _key_spellings(root) | _key_spellings(hkdf(root, ENC_INFO))
    for root in kr.bidx_keys.values():
        forms |= _key_spellings(root) | _key_spellings(hkdf(root, BIDX_INFO))
    return extra, forms


def _leaks(text: str, forms: set[str]) -> list[str]:
    """Which kinds of spelling leaked (never the spelling itself: the assertion message must not print a key)."""
    found = []
    for form in forms:
        if form in text:
            kind = "hex" if all(c in "0123456789abcdefABCDEF" for c in form) else "base64"
            found.append(f"{kind} of length {len(form)}")
    return sorted(found)


def _check_keyring_never_readable(stack: AirflowStack) -> None:
    extra, forms = _keyring_secrets()
    no_keyring_env = stack.component_env("api-server")

    # 1. A container without the keyring (api-server, dag-processor, triggerer) cannot read it with the CLI:
    #    `airflow connections get` prints a connection's extra UNMASKED, so the keyring must never be there.
    res = stack.cli("connections", "get", "leads_pii", "-o", "json", check=False, env=no_keyring_env)
    assert res.returncode != 0 and "Connection not found" in res.stdout + res.stderr, (
        f"connections get without the keyring: exit {res.returncode}, leaks {_leaks(res.stdout + res.stderr, forms)}"
    )

    # 2. Stored in the metadata database (the only place the REST API and the UI read connections from), split
    #    as leads_pii (encryption ring) + leads_pii_bidx (blind-index ring).
    main = {k: extra[k] for k in ("enc_keys", "active_enc_kid")}
    bidx = {k: extra[k] for k in ("bidx_keys", "active_bidx_kid")}
    conns = stack.home / "keyring-connections.json"
    conns.write_text(
        json.dumps(
            {
                "leads_pii": {"conn_type": "generic", "extra": json.dumps(main)},
                "leads_pii_bidx": {"conn_type": "generic", "extra": json.dumps(bidx)},
            }
        )
    )
    conns.chmod(0o600)
    stack.cli("connections", "import", str(conns))
    conns.unlink()

    # 3. The REST API (what the UI's connection pages show) masks every key, keeps the kids.
    def check_api(base: str, what: str) -> None:
        for path in (
            "/api/v2/connections/leads_pii",
            "/api/v2/connections/leads_pii_bidx",
            "/api/v2/connections?limit=100",
        ):
            status, raw = stack.http_raw("GET", path, base=base)
            text = raw.decode(errors="replace")
            assert status == 200, f"{what} GET {path}: HTTP {status}"
            assert not _leaks(text, forms), f"{what} GET {path} returned keys: {_leaks(text, forms)}"
        one = json.loads(stack.http_raw("GET", "/api/v2/connections/leads_pii", base=base)[1])
        shown = json.loads(one["extra"])
        assert shown == {
            "enc_keys": dict.fromkeys(main["enc_keys"], "***"),
            "active_enc_kid": main["active_enc_kid"],
        }, f"{what}: leads_pii extra shown as {sorted(shown)}"
        one = json.loads(stack.http_raw("GET", "/api/v2/connections/leads_pii_bidx", base=base)[1])
        shown = json.loads(one["extra"])
        assert shown == {
            "bidx_keys": dict.fromkeys(bidx["bidx_keys"], "***"),
            "active_bidx_kid": bidx["active_bidx_kid"],
        }, f"{what}: leads_pii_bidx shown as {sorted(shown)}"

    check_api(stack.base, "api-server with sensitive_var_conn_names")

    # 4. Defence in depth: an api-server started WITHOUT the setting masks them too, because the project's plugin
    #    (plugins/leads_flow_report.py) marks enc_keys / bidx_keys sensitive when the api-server loads it.
    env = {k: v for k, v in no_keyring_env.items() if k != "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"}
    port = free_port()
    stack.start_component(
        "api-server-no-setting", ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], env
    )
    base = f"http://127.0.0.1:{port}"
    until = time.monotonic() + stack.deadline.left(120)
    while True:
        stack.check_alive()
        try:
            if stack.http_raw("GET", "/api/v2/monitor/health", auth=False, base=base)[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        assert time.monotonic() < until, "the second api-server did not answer in 120 s"
        time.sleep(2)
    check_api(base, "api-server WITHOUT sensitive_var_conn_names (plugin only)")

    # 5. Pinned Airflow behaviour the docs rely on: where the keyring IS stored, `airflow connections get` prints
    #    it in clear (it prints passwords too; no setting changes that). Hence "never in the metadata database".
    res = stack.cli("connections", "get", "leads_pii", "-o", "json", env=no_keyring_env)
    assert _leaks(res.stdout, forms), (
        "`airflow connections get` no longer prints the extra in clear: "
        "update docs/phone-protection.md, 'Where the keys live'"
    )

    # 6. No component log (both api-servers, scheduler, dag-processor) and no task log holds a key.
    logs = sorted(stack.logs.glob("*.log")) + sorted((stack.home / "logs").rglob("*.log"))
    assert any("dag_id=" in str(p) for p in logs), "no task log found"
    for path in logs:
        text = path.read_text(errors="replace")
        leaked = _leaks(text, forms)
        assert not leaked, f"{path.relative_to(stack.home)} holds keys: {leaked}"
        # the absent leads_pii_bidx is one quiet lookup per task, not a warning or an error
        loud = [
            ln[:300]
            for ln in text.splitlines()
            if "leads_pii_bidx" in ln
            and re.search(r'"level"\s*:\s*"(warning|error|critical)"|\b(WARNING|ERROR|CRITICAL)\b', ln)
        ]
        assert not loud, f"{path.relative_to(stack.home)} complains about leads_pii_bidx: {loud[:3]}"

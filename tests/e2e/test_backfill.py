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
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import flow_table, insert, legacy_row, truncate_flow

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "leads_flow_sync"
POOL = "leads_legacy"
DAYS = (20, 21, 22)
ROWS_PER_DAY = 30  # 1 reject in 31 rows stays under the default max_reject_ratio of 0.05
BACKFILL_FROM, BACKFILL_TO = "2026-11-20T00:00:00+08:00", "2026-11-22T00:00:00+08:00"
MANUAL_CONF = {"start_date": "2026-11-20", "end_date": "2026-11-22"}

TEST_BUDGET_S = 460  # everything before teardown; teardown adds at most ~25 s
KEYRING_HOLDERS = {"scheduler"}  # LocalExecutor: the tasks run in the scheduler's process tree (as in compose)
SENSITIVE_NAMES = "enc_keys,bidx_keys"  # what docker-compose.yaml, scripts/ui.sh and scripts/demo.py set
BACKFILL_WAIT_S = 240
MANUAL_WAIT_S = 180
CLI_TIMEOUT_S = 120


# ---------------------------------------------------------------------------------------------- the Airflow stack


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the end-to-end test ran out of its time budget")
        return left if cap is None else min(cap, left)


class AirflowStack:
    """api-server + scheduler + dag-processor in one temporary AIRFLOW_HOME, driven by CLI and REST."""

    COMPONENTS = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--workers", "1"],
        # no log server: it would bind [::]:8793 on every interface (and clash with any other local Airflow);
        # the api-server reads task logs straight from AIRFLOW_HOME/logs
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
    }

    def __init__(self, home: Path, deadline: Deadline, pg: str):
        self.home = home
        self.pg = pg
        self.deadline = deadline
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = home / "component-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        # The test process runs with conftest's Airflow settings (unit-test mode, its own home): none of them
        # may leak into the real components. Connections (AIRFLOW_CONN_*) are kept: the fixture set them.
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith(("AIRFLOW__", "PYTEST_", "_AIRFLOW")) or k == "AIRFLOW_HOME")
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{self.pg}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
                # one secret for every component that signs or checks task tokens
                "AIRFLOW__API_AUTH__JWT_SECRET": base64.b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_NAMES,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # -- processes

    def cli(
        self, *args: str, timeout: float = CLI_TIMEOUT_S, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "airflow", *args]
        res = subprocess.run(
            cmd,
            env=self.env if env is None else env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=self.deadline.left(timeout),
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"`airflow {' '.join(args)}` exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
            )
        return res

    def component_env(self, name: str) -> dict[str, str]:
        """Only the task runner holds the keyring (docker-compose.yaml gives it to the scheduler alone)."""
        if name in KEYRING_HOLDERS:
            return dict(self.env)
        return {k: v for k, v in self.env.items() if not k.startswith("AIRFLOW_CONN_LEADS_PII")}

    def start(self) -> None:
        for name, args in self.COMPONENTS.items():
            self.start_component(name, args, self.component_env(name))

    def start_component(self, name: str, args: list[str], env: dict[str, str]) -> None:
        out = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            cwd=self.home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise AssertionError(f"airflow {name} exited early with {p.returncode}")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM each component's process group and every descendant (by pid), SIGKILL what is left."""
        import psutil

        victims: dict[int, psutil.Process] = {}
        for p in self.procs.values():
            try:
                root = psutil.Process(p.pid)
                for proc in [root, *root.children(recursive=True)]:
                    victims[proc.pid] = proc
            except psutil.NoSuchProcess:
                pass
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)  # the group was made by start_new_session
                except ProcessLookupError:
                    pass
        for proc in victims.values():
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(list(victims.values()), timeout=grace)
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # -- REST

    def http_raw(
        self, method: str, path: str, body: dict | None = None, auth: bool = True, base: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(
            (base or self.base) + path,
            method=method,
            headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def http(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> tuple[int, object]:
        status, raw = self.http_raw(method, path, body, auth)
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

    def token(self) -> str:
        if self._token is None:
            pw_file = self.home / "simple_auth_manager_passwords.json.generated"
            password = json.loads(pw_file.read_text())["admin"]
            status, body = self.http("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)
            assert status in (200, 201), f"token: HTTP {status}"
            self._token = body["access_token"]  # type: ignore[index]
        return self._token

    def get(self, path: str) -> object:
        status, body = self.http("GET", path)
        assert status == 200, f"GET {path}: HTTP {status}: {str(body)[:500]}"
        return body

    def wait_ready(self, timeout: float) -> None:
        """API answers, its password file exists, scheduler and dag-processor heartbeat, the DAG is serialized."""
        until = time.monotonic() + self.deadline.left(timeout)
        last = "nothing yet"
        while time.monotonic() < until:
            self.check_alive()
            try:
                status, health = self.http("GET", "/api/v2/monitor/health", auth=False)
                if status == 200 and isinstance(health, dict):
                    states = {k: (v or {}).get("status") for k, v in health.items()}
                    last = f"health {states}"
                    if (
                        states.get("scheduler") == "healthy"
                        and states.get("dag_processor") == "healthy"
                        and (self.home / "simple_auth_manager_passwords.json.generated").exists()
                    ):
                        status, _ = self.http("GET", f"/api/v2/dags/{DAG_ID}")
                        if status == 200:
                            return
                        _, errs = self.http("GET", "/api/v2/importErrors")
                        last = f"dag not serialized yet; import errors: {str(errs)[:2000]}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = f"api not answering: {exc}"
            time.sleep(2)
        raise AssertionError(f"Airflow did not become ready in {timeout:.0f} s: {last}")

    def runs(self) -> list[dict]:
        body = self.get(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100&order_by=logical_date")
        return body["dag_runs"]  # type: ignore[index]

    def task_instances(self, run_id: str) -> list[dict]:
        rid = urllib.parse.quote(run_id, safe="")
        body = self.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}/taskInstances?limit=100")
        return body["task_instances"]  # type: ignore[index]

    def wait_runs(self, select, n: int, timeout: float, what: str) -> list[dict]:
        """Poll until ``n`` runs chosen by ``select`` are finished; return them (fails on a failed run)."""
        until = time.monotonic() + self.deadline.left(timeout)
        chosen: list[dict] = []
        while time.monotonic() < until:
            self.check_alive()
            chosen = [r for r in self.runs() if select(r)]
            if len(chosen) >= n and all(r["state"] in ("success", "failed") for r in chosen):
                break
            time.sleep(3)
        else:
            raise AssertionError(
                f"{what}: not finished after {timeout:.0f} s: {[(r['dag_run_id'], r['state']) for r in chosen]}"
            )
        bad = [(r["dag_run_id"], r["state"]) for r in chosen if r["state"] != "success"]
        assert not bad, f"{what}: runs did not succeed: {bad}"
        return chosen

    # -- diagnostics

    def dump_logs(self, lines: int = 60) -> None:
        print(f"\n===== Airflow diagnostics (AIRFLOW_HOME={self.home}) =====")
        for name in dict.fromkeys([*self.COMPONENTS, *self.procs]):
            path = self.logs / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                print(f"----- {name} (last {len(tail)} lines) -----")
                print("\n".join(tail))
        task_logs = sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/**/*.log"), key=lambda p: p.stat().st_mtime)
        failing = [
            p
            for p in task_logs
            if '"level":"error"' in p.read_text(errors="replace").lower()
            or "traceback" in p.read_text(errors="replace").lower()
        ]
        for path in (failing or task_logs)[-6:]:
            tail = path.read_text(errors="replace").splitlines()[-30:]
            print(f"----- task log {path.relative_to(self.home / 'logs')} (last {len(tail)} lines) -----")
            print("\n".join(tail))


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
    port = _free_port()
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

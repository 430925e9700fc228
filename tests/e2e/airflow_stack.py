"""A real Airflow for the end-to-end tests: api-server, scheduler and dag-processor as subprocesses of one temporary
AIRFLOW_HOME (LocalExecutor, PostgreSQL metadata from tests/e2e/conftest.py, the API on a free 127.0.0.1 port, the
simple auth manager with the users of ``users``), driven by the CLI and the REST API as an operator would.

Only the scheduler (whose LocalExecutor runs the tasks) gets the keyring connection, as in docker-compose.yaml; every
component gets ``[core] sensitive_var_conn_names = enc_keys,bidx_keys``. :meth:`AirflowStack.stop` ends every process
it started, by pid (SIGTERM to each component's process group and every descendant, SIGKILL after a grace period).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "leads_flow_sync"
POOL = "leads_legacy"
KEYRING_HOLDERS = {"scheduler"}  # LocalExecutor: the tasks run in the scheduler's process tree (as in compose)
SENSITIVE_NAMES = "enc_keys,bidx_keys"  # what docker-compose.yaml, scripts/ui.sh and scripts/demo.py set
CLI_TIMEOUT_S = 120

# ---------------------------------------------------------------------------------------------- the Airflow stack


def free_port() -> int:
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

    def __init__(self, home: Path, deadline: Deadline, pg: str, users: dict[str, str] | None = None):
        """``users``: the simple auth manager's users, name to role (default: one ``admin``); their generated
        passwords are read from AIRFLOW_HOME when a token is first needed."""
        self.users = users or {"admin": "admin"}
        self.home = home
        self.pg = pg
        self.deadline = deadline
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = home / "component-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self._tokens: dict[str, str] = {}
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
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in self.users.items()),
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

    def start_component(self, name: str, args: list[str], env: dict[str, str], env_file: Path | None = None) -> None:
        """Start ``airflow ARGS``; with ``env_file``, loaded first as docs/running.md says for the units that run
        tasks (``set -a; . FILE; set +a``: only the file's path is on a command line, never its content)."""
        cmd = [sys.executable, "-m", "airflow", *args]
        if env_file is not None:
            cmd = ["bash", "-c", 'set -a; . "$1"; set +a; shift; exec "$@"', "_", str(env_file), *cmd]
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            cmd,
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

    def stop(self, grace: float = 15.0, names: list[str] | None = None) -> None:
        """SIGTERM each component's process group and every descendant (by pid), SIGKILL what is left; only the
        components ``names`` if given (then forgotten, so that they can be started again)."""
        import psutil

        procs = self.procs if names is None else {n: self.procs[n] for n in names}
        victims: dict[int, psutil.Process] = {}
        for p in procs.values():
            try:
                root = psutil.Process(p.pid)
                for proc in [root, *root.children(recursive=True)]:
                    victims[proc.pid] = proc
            except psutil.NoSuchProcess:
                pass
        for p in procs.values():
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
        for p in procs.values():
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
        for p in procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if names is not None:
            for n in names:
                self.procs.pop(n)

    # -- REST

    def http_raw(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        auth: bool = True,
        base: str | None = None,
        user: str = "admin",
        accept: str | None = None,
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        if accept:
            headers["Accept"] = accept
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

    def http(
        self, method: str, path: str, body: dict | None = None, auth: bool = True, user: str = "admin"
    ) -> tuple[int, object]:
        status, raw = self.http_raw(method, path, body, auth, user=user)
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

    def token(self, user: str = "admin") -> str:
        if user not in self._tokens:
            pw_file = self.home / "simple_auth_manager_passwords.json.generated"
            password = json.loads(pw_file.read_text())[user]
            status, body = self.http("POST", "/auth/token", {"username": user, "password": password}, auth=False)
            assert status in (200, 201), f"token of {user}: HTTP {status}"
            self._tokens[user] = body["access_token"]  # type: ignore[index]
        return self._tokens[user]

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

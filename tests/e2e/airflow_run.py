"""A DAG run in a fresh Airflow process, configured by environment only (shared by the e2e tests).

``airflow_env`` builds the environment (an Airflow home with a SQLite metadata database, the project's DAGs and
plugins, the keyring fields masked); ``DAG_RUN`` is the script the fresh interpreter runs: ``dag.test()`` of a DAG
(``leads_flow_sync`` unless named) with a run conf, printing one ``LEADS-FLOW-RESULT {json}`` line (the run's
state, the alert webhook's SHA-256). With ``LEADS_FLOW_NO_CONN_ENV=1`` it first asserts that no ``AIRFLOW_CONN_*``
reached the process. ``migrate`` and ``run_dag`` run both in fresh processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DAG_RUN = """
import json, os, sys
if os.environ.get("LEADS_FLOW_NO_CONN_ENV") == "1":
    leaked = sorted(k for k in os.environ if k.startswith("AIRFLOW_CONN_"))
    assert not leaked, leaked
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
assert not bag.import_errors, sorted(bag.import_errors)
dag_id = sys.argv[2] if len(sys.argv) > 2 else "leads_flow_sync"
dr = bag.dags[dag_id].test(logical_date=None, run_conf=json.loads(sys.argv[1]))
import hashlib
from leads_flow.config import alert_webhook_url
hook = alert_webhook_url() or ""
print("LEADS-FLOW-RESULT " + json.dumps({
    "state": str(dr.state),
    "webhook_sha256": hashlib.sha256(hook.encode()).hexdigest(),
}))
"""


def airflow_env(
    home: Path, backend_kwargs: dict | None = None, conn_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment without any Airflow/Vault setting, plus a fresh Airflow home; the Vault secrets
    backend when ``backend_kwargs`` is given (then no ``AIRFLOW_CONN_*`` at all), else ``conn_env``'s
    ``AIRFLOW_CONN_*``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "VAULT_", "BAO_", "AIRFLOW_HOME", "LEADS_FLOW_ALERT"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": "enc_keys,bidx_keys",
            "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}",
        }
    )
    if backend_kwargs is not None:
        env.update(
            {
                "AIRFLOW__SECRETS__BACKEND": "airflow.providers.hashicorp.secrets.vault.VaultBackend",
                "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(backend_kwargs),
                "LEADS_FLOW_NO_CONN_ENV": "1",
            }
        )
    else:
        env.update(conn_env or {})
    return env


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` of the home ``env`` names, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def run_dag(
    env: dict[str, str], cwd: Path, conf: dict, dag_id: str = "leads_flow_sync", timeout: int = 300
) -> tuple[dict | None, str]:
    """``dag.test()`` of ``dag_id`` with ``conf`` in a fresh process: its ``LEADS-FLOW-RESULT`` (None when the
    process failed or printed none) and its whole output, for the caller to search (never to print whole)."""
    proc = subprocess.run(
        [sys.executable, "-c", DAG_RUN, json.dumps(conf), dag_id],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("LEADS-FLOW-RESULT ")]
    result = json.loads(lines[-1].split(" ", 1)[1]) if proc.returncode == 0 and lines else None
    return result, proc.stdout + proc.stderr

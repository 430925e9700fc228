"""What the documented ways of setting connections leave in Airflow's audit log, with a real ``airflow`` CLI.

Airflow's audit log (the metadata table ``log``: ``GET /api/v2/eventLogs``, the UI's Audit Log, readable by a
viewer) stores the full command line of every CLI call. docs/running.md therefore recommends, for small setups,
an environment file of mode 0600 for the keyring (and the webhook), and ``airflow connections import FILE`` of
a 0600 file removed afterwards for the database connections. In a temporary AIRFLOW_HOME (SQLite, migrated with
``airflow db migrate``) this test does exactly that, runs the commands an operator runs next, and scans the
whole ``log`` table: no root key, no database password and no webhook token in any spelling. As a control, the
commands the docs used to recommend (``connections add --conn-json``, ``variables set``) do put them there, and
``connections list --show-values --hide-sensitive`` prints the keyring percent-encoded inside ``get_uri``.
Nothing here prints a key, a password or the webhook token (assertions compare booleans and kinds only).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

pytestmark = pytest.mark.slow

CLI_TIMEOUT_S = 180


def _spellings(secret: bytes | str) -> set[str]:
    if isinstance(secret, str):
        return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    std, url = base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode()
    forms = {std, std.rstrip("="), url, url.rstrip("="), secret.hex(), secret.hex().upper()}
    return forms | {quote(f, safe="") for f in forms} | {quote_plus(f) for f in forms}


class Cli:
    def __init__(self, home: Path):
        self.home = home
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "AIRFLOW_HOME", "LEADS_FLOW_ALERT"))
        }
        dags = home / "dags"
        dags.mkdir(parents=True)
        self.env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": "enc_keys,bidx_keys",
            }
        )
        self.airflow = str(Path(sys.executable).parent / "airflow")

    def run(self, *args: str, env_file: Path | None = None) -> str:
        """``airflow ARGS``; with ``env_file``, loaded as docs/running.md says (``set -a; . FILE; set +a``)."""
        if env_file is None:
            cmd = [self.airflow, *args]
        else:  # only the file's path is on a command line, never its content
            cmd = ["bash", "-c", 'set -a; . "$1"; set +a; shift; exec "$@"', "_", str(env_file), self.airflow, *args]
        out = subprocess.run(
            cmd, env=self.env, cwd=self.home.parent, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
        )
        ok = out.returncode == 0  # a boolean: pytest must not print the output (`connections get` holds the keyring)
        assert ok, f"airflow {args[0]} {args[1] if len(args) > 1 else ''} failed: exit {out.returncode}"
        return out.stdout

    def audit_log(self) -> str:
        """Every column of every row of Airflow's audit log, as one text."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute("SELECT * FROM log").fetchall()
        return "\n".join(" | ".join(str(v) for v in row) for row in rows)

    def events(self) -> list[str]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            return [r[0] for r in db.execute("SELECT event FROM log ORDER BY id")]


def _private_file(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _found(text: str, forms: set[str]) -> list[str]:
    return sorted({f"spelling of length {len(f)}" for f in forms if f in text})  # never the secret itself


def test_documented_ways_leave_no_secret_in_the_audit_log(tmp_path):
    cli = Cli(tmp_path / "airflow-home")
    cli.run("db", "migrate")

    enc, bidx = secrets.token_bytes(32), secrets.token_bytes(32)
    keyring = {
        "conn_type": "generic",
        "extra": {
            "enc_keys": {"1": base64.b64encode(enc).decode()},
            "active_enc_kid": "1",
            "bidx_keys": {"1": base64.b64encode(bidx).decode()},
            "active_bidx_kid": "1",
        },
    }
    pw_legacy, pw_flow = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    webhook_token = secrets.token_urlsafe(24)
    webhook = f"https://chat.example.com/hooks/{webhook_token}"
    key_forms = _spellings(enc) | _spellings(bidx)
    other_forms = _spellings(pw_legacy) | _spellings(pw_flow) | _spellings(webhook_token)

    # (1) small setup: the keyring and the webhook in an environment file of mode 0600 (docs/running.md)
    env_file = _private_file(
        tmp_path / "airflow.env",
        f"AIRFLOW_CONN_LEADS_PII='{json.dumps(keyring, separators=(',', ':'))}'\nLEADS_FLOW_ALERT_WEBHOOK={webhook}\n",
    )
    # (2) the database connections: `airflow connections import` of a 0600 file, removed afterwards
    conns = {
        "leads_legacy": {
            "conn_type": "mysql",
            "host": "legacy-db.example.internal",
            "port": 3306,
            "login": "legacy_reader",
            "password": pw_legacy,
            "schema": "leads_legacy",
        },
        "leads_flow": {
            "conn_type": "mysql",
            "host": "flow-db.example.internal",
            "port": 3306,
            "login": "flow_writer",
            "password": pw_flow,
            "schema": "leads_flow",
        },
    }
    conns_file = _private_file(tmp_path / "leads_conns.json", json.dumps(conns))
    cli.run("connections", "import", conns_file.name, env_file=env_file)
    conns_file.unlink()
    # what an operator runs next, with the environment file loaded
    cli.run("pools", "set", "leads_legacy", "2", "legacy reads", env_file=env_file)
    cli.run("dags", "list", env_file=env_file)
    listed = json.loads(cli.run("connections", "list", "-o", "json", env_file=env_file))
    got = json.loads(cli.run("connections", "get", "leads_pii", "-o", "json", env_file=env_file))

    assert sorted(c["conn_id"] for c in listed) == ["leads_flow", "leads_legacy"]  # the keyring is not stored
    got_extra = got[0]["extra_dejson"] if isinstance(got, list) else got["extra_dejson"]
    same = got_extra == keyring["extra"]  # a boolean: a failure must not print the keys
    assert same, "Airflow does not read the keyring from the environment file"
    assert {"cli_connections_import", "cli_pool_set"} <= set(cli.events())
    log = cli.audit_log()
    assert _found(log, key_forms) == [], "a key is in the audit log"
    assert _found(log, other_forms) == [], "a password or the webhook token is in the audit log"

    # control: what the docs used to recommend puts them there (so the scan above can see them)
    arg = json.dumps({"conn_type": "generic", "extra": keyring["extra"]})
    cli.run("connections", "add", "leads_pii_cli", "--conn-json", arg)
    cli.run("variables", "set", "leads_flow_alert_webhook", webhook)
    log = cli.audit_log()
    assert _found(log, key_forms) != [], "connections add --conn-json no longer logs the keyring: update the docs"
    assert _found(log, _spellings(webhook_token)) != [], "variables set no longer logs the value: update the docs"

    # and --hide-sensitive masks extra_dejson but not the keyring inside get_uri (docs/phone-protection.md §12)
    shown = json.loads(cli.run("connections", "list", "-o", "json", "--show-values", "--hide-sensitive"))
    [row] = [c for c in shown if c["conn_id"] == "leads_pii_cli"]
    assert _found(json.dumps(row["extra_dejson"]), key_forms) == []
    assert _found(row["get_uri"], key_forms) != [], "--hide-sensitive now hides get_uri too: update the docs"

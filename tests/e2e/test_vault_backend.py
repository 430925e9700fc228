"""Connections from a secrets backend: Airflow's HashiCorp Vault backend served by a real OpenBao.

What docs/running.md ("Production: a secrets backend") tells an operator, done for real:

1. an OpenBao dev server on a free loopback port (tests/e2e/openbao_support.py; stopped by its pid);
2. the connections written into its KV v2 store (mount ``secret``) with the ``bao`` CLI from stdin
   (``bao kv put … -``) and from a 0600 file removed afterwards (``bao kv put … @file``), never as
   arguments: ``leads_pii`` (the encryption ring), ``leads_pii_bidx`` (the blind-index ring), ``leads_flow``
   and ``leads_legacy`` (MariaDB logins of this test's own, with random passwords that exist nowhere else);
   ``scripts/gen_keyring.py --connection-json`` piped into ``bao kv put`` stores a keyring the project accepts;
3. a policy that reads ``secret/data/connections/leads_*`` and ``variables/leads_*`` only, and a token for it
   written to a 0600 file (``bao token create -field=token`` to a file), which Airflow gets as ``token_path``;
4. Airflow configured by environment only: ``AIRFLOW__SECRETS__BACKEND`` = VaultBackend and
   ``AIRFLOW__SECRETS__BACKEND_KWARGS``; the process that runs the DAG has no ``AIRFLOW_CONN_*`` at all;
5. ``airflow db migrate`` and ``dag.test()`` of ``leads_flow_sync`` over one day of generated leads in a fresh
   process (so that no secrets backend cached by another test is reused), on two MariaDB databases of this
   test's own.

The webhook goes in as docs/operations.md says (the connection ``leads_flow_alert_webhook``, the URL as its
password, on stdin under ``connections/``), and the notifier's :func:`leads_flow.config.alert_webhook_url` reads it
from there. Then: the run succeeded and published every lead; each phone token decrypts, and each blind index matches,
with the keyring read back from OpenBao; the run's output holds no key in any spelling; the Airflow token
cannot read a secret outside its policy. Nothing prints a phone or a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import urllib.error
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devkit.seed import random_mobile
from tests.conftest import _mysql_admin, _mysql_params
from tests.e2e.airflow_run import airflow_env as _airflow_env
from tests.e2e.airflow_run import migrate, run_dag
from tests.e2e.openbao_support import openbao  # noqa: F401  (fixture)
from tests.helpers import insert, legacy_row

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

ROOT = Path(__file__).resolve().parents[2]
DAY = 20
ROWS = 40
RUN_CONF = {"start_date": "2026-11-20", "end_date": "2026-11-20", "max_reject_ratio": 0.2}
RUN_TIMEOUT_S = 300

POLICY = """
path "secret/data/connections/leads_*" { capabilities = ["read"] }
path "secret/data/variables/leads_*"   { capabilities = ["read"] }
"""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _spellings(key: bytes) -> set[str]:
    from urllib.parse import quote, quote_plus

    std, url = _b64(key), base64.urlsafe_b64encode(key).decode()
    return {
        std,
        std.rstrip("="),
        url,
        url.rstrip("="),
        key.hex(),
        key.hex().upper(),
        quote(std, safe=""),
        quote_plus(std),
    }


def _leak_kinds(text: str, forms: set[str]) -> list[str]:
    return sorted({f"spelling of length {len(f)}" for f in forms if f in text})  # never the key itself


def _phones(n: int) -> list[str]:
    rng, out = random.Random(2111), []
    while len(out) < n:
        p = random_mobile(rng)
        if p not in out:
            out.append(p)
    return out


@pytest.fixture
def logins(mysql_dbs):
    """Two MariaDB logins of this test's own, with random passwords: a legacy reader and a flow writer."""
    tag = uuid.uuid4().hex[:10]
    made = {
        "reader": (f"lfv_{tag}_r", secrets.token_urlsafe(18)),
        "writer": (f"lfv_{tag}_w", secrets.token_urlsafe(18)),
    }
    admin = _mysql_admin()
    cur = admin.cursor()
    try:
        for user, password in made.values():
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))  # %% : the host '%', escaped
        cur.execute(f"GRANT SELECT ON {mysql_dbs.legacy_name}.leads_aggr TO '{made['reader'][0]}'@'%'")
        cur.execute(f"GRANT ALL PRIVILEGES ON {mysql_dbs.flow_name}.* TO '{made['writer'][0]}'@'%'")
        yield made
    finally:
        for user, _ in made.values():
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def test_sync_reads_every_connection_from_openbao(openbao, mysql_dbs, logins, tmp_path):  # noqa: F811
    phones = _phones(ROWS)
    insert(
        mysql_dbs,  # as root, through the fixture's own connection: the connections under test stay in OpenBao
        [
            legacy_row(
                phone=phone,
                create_time=datetime(2026, 11, DAY, 1),
                join_time=datetime(2026, 11, DAY, 1),
                update_time=datetime(2026, 11, DAY, 1) + timedelta(minutes=20 * i),
            )
            for i, phone in enumerate(phones)
        ],
    )

    # -- the operator writes the connections into KV: stdin or a 0600 file removed afterwards, never argv
    enc, bidx = secrets.token_bytes(32), secrets.token_bytes(32)
    leads_pii = {"conn_type": "generic", "extra": {"enc_keys": {"1": _b64(enc)}, "active_enc_kid": "1"}}
    leads_pii_bidx = {"conn_type": "generic", "extra": {"bidx_keys": {"1": _b64(bidx)}, "active_bidx_kid": "1"}}
    p = _mysql_params()

    def mysql_conn(login: tuple[str, str], schema: str) -> dict:
        return {
            "conn_type": "mysql",
            "host": p["host"],
            "port": p["port"],
            "login": login[0],
            "password": login[1],
            "schema": schema,
        }

    openbao.bao("kv", "put", "-mount=secret", "connections/leads_pii", "-", stdin=json.dumps(leads_pii).encode())
    openbao.bao(
        "kv",
        "put",
        "-mount=secret",
        "connections/leads_flow",
        "-",
        stdin=json.dumps(mysql_conn(logins["writer"], mysql_dbs.flow_name)).encode(),
    )
    for conn_id, doc in (
        ("leads_pii_bidx", leads_pii_bidx),
        ("leads_legacy", mysql_conn(logins["reader"], mysql_dbs.legacy_name)),
    ):
        f = tmp_path / f"{conn_id}.json"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        openbao.bao("kv", "put", "-mount=secret", f"connections/{conn_id}", f"@{f}")
        f.unlink()

    # scripts/gen_keyring.py --connection-json | bao kv put ... -   stores a keyring the project accepts
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_keyring.py"), "--connection-json"], capture_output=True, check=True
    ).stdout
    openbao.bao("kv", "put", "-mount=secret", "connections/leads_pii_generated", "-", stdin=generated)
    stored = openbao.read_kv("connections/leads_pii_generated")
    assert stored["conn_type"] == "generic"
    assert Keyring.from_extra(stored["extra"]).active_enc_kid == "1"

    # the webhook as docs/operations.md stores it: the connection with the URL as its password, on stdin
    webhook = f"https://chat.example.com/hooks/{secrets.token_urlsafe(24)}"
    openbao.bao(
        "kv",
        "put",
        "-mount=secret",
        "connections/leads_flow_alert_webhook",
        "-",
        stdin=json.dumps({"conn_type": "generic", "password": webhook}).encode(),
    )

    # -- a token for Airflow that reads the leads_* connections and variables only, in a 0600 file
    openbao.bao("policy", "write", "airflow-leads-flow", "-", stdin=POLICY.encode())
    token = openbao.bao("token", "create", "-policy=airflow-leads-flow", "-field=token").strip()
    token_file = tmp_path / "airflow-bao-token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    del token
    assert openbao.read_kv("connections/leads_flow", token_file)["login"] == logins["writer"][0]
    openbao.bao("kv", "put", "-mount=secret", "other/thing", "-", stdin=b'{"value": "x"}')
    with pytest.raises(urllib.error.HTTPError) as denied:
        openbao.read_kv("other/thing", token_file)
    assert denied.value.code == 403

    # -- Airflow, configured by environment only, runs the sync in a fresh process
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = _airflow_env(
        home,
        {
            "url": openbao.addr,
            "mount_point": "secret",
            "kv_engine_version": 2,
            "connections_path": "connections",
            "variables_path": "variables",
            "config_path": None,
            "token_path": str(token_file),
        },
    )
    migrate(env)
    result, output = run_dag(env, tmp_path, RUN_CONF, timeout=RUN_TIMEOUT_S)
    forms = _spellings(enc) | _spellings(bidx)
    # booleans only: pytest's assertion rewriting would print the output, or the password, next to a failure
    assert _leak_kinds(output, forms) == [], "the run's output holds a key"
    password_leaked = any(login[1] in output for login in logins.values())
    assert not password_leaked, "the run's output holds a database password"
    ok = result is not None and result["state"] == "success"
    assert ok, "dag.test() did not succeed; its output ends with:\n" + output[-4000:]
    # the webhook connection leads_flow_alert_webhook comes from OpenBao too (compared by digest, never printed)
    assert result["webhook_sha256"] == hashlib.sha256(webhook.encode()).hexdigest()
    webhook_leaked = webhook.rsplit("/", 1)[1] in output
    assert not webhook_leaked, "the run's output holds the webhook token"

    # -- the data: every lead published, decrypting and indexing with the keyring read back from OpenBao
    cipher = PhoneCipher(
        Keyring.from_extras(
            openbao.read_kv("connections/leads_pii")["extra"], openbao.read_kv("connections/leads_pii_bidx")["extra"]
        )
    )
    runs = mysql_dbs.flow_rows("SELECT status, extracted, published FROM leads_flow_run")
    assert [tuple(r) for r in runs] == [("published", ROWS, ROWS)]
    rows = mysql_dbs.flow_rows(
        "SELECT lead_id, phone_cipher, phone_bidx, phone_bidx_kid FROM leads_flow ORDER BY lead_id"
    )
    assert len(rows) == ROWS
    for (_, token_text, bidx_value, bidx_kid), phone in zip(rows, phones, strict=True):
        e164 = "+86" + phone
        assert token_text.startswith("e1:")
        assert cipher.decrypt(token_text) == e164  # compared, never printed
        assert bidx_kid == "1" and bidx_value == cipher.bidx(e164)

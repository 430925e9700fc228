"""Shared fixtures: an isolated Airflow home, the keyring connection, and real databases.

MySQL tests use the server named by LEADS_TEST_MYSQL_URL (default: the local MariaDB as root). When it
is unreachable they skip with a loud reason, unless LEADS_REQUIRE_MYSQL=1 (set by .ci/run), which turns
the skip into a failure.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="leads-flow-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
sys.path.insert(0, str(ROOT / "plugins"))

MYSQL_URL = os.environ.get("LEADS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
REQUIRE_MYSQL = os.environ.get("LEADS_REQUIRE_MYSQL") == "1"

ENC_ROOT = bytes(range(32))
BIDX_ROOT = bytes(range(32, 64))


def keyring_extra(enc: bytes = ENC_ROOT, bidx: bytes = BIDX_ROOT, kid: str = "1") -> dict:
    return rotation_extra({kid: enc}, {kid: bidx}, kid)


def rotation_extra(enc: dict[str, bytes], bidx: dict[str, bytes], active: str) -> dict:
    """A keyring's connection extra with several kids per ring (a rotation in progress), ``active`` for both."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "enc_keys": {k: b64(v) for k, v in enc.items()},
        "active_enc_kid": active,
        "bidx_keys": {k: b64(v) for k, v in bidx.items()},
        "active_bidx_kid": active,
    }


os.environ["AIRFLOW_CONN_LEADS_PII"] = json.dumps({"conn_type": "generic", "extra": keyring_extra()})

# A key rotation in tests: kid "2" added and made active beside kid "1" (BOTH), then kid "1" removed (ONLY_NEW).
ENC2, BIDX2 = bytes(range(64, 96)), bytes(range(96, 128))
BOTH = rotation_extra({"1": ENC_ROOT, "2": ENC2}, {"1": BIDX_ROOT, "2": BIDX2}, "2")
ONLY_NEW = rotation_extra({"2": ENC2}, {"2": BIDX2}, "2")


def register_kids(extra: dict, flow_conn_id: str = "leads_flow") -> None:
    """Record the check values of the keyring's kids the flow database has not recorded (scripts/register_keys.py)."""
    from leads_flow.io.connect import connected
    from leads_flow.io.key_check import record_check_values, recorded_check_values
    from leads_flow.rules.keyring import Keyring

    keyring = Keyring.from_extra(extra)
    with connected(flow_conn_id) as flow:
        flow.run("key_check_ddl")
        recorded = recorded_check_values(flow)
        record_check_values(flow, keyring, [k for k in keyring.check_values() if k not in recorded], "test")


@pytest.fixture
def use_keyring(monkeypatch):
    """Point the leads_pii connection at a keyring (load_keyring's cache cleared before and after) and, as the
    rotation runbook's operator does, register its new kids' check values in the flow database (``register``)."""
    from leads_flow.io.keyring import load_keyring

    def use(extra: dict, register: bool = True) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": extra}))
        load_keyring.cache_clear()
        if register and os.environ.get("AIRFLOW_CONN_LEADS_FLOW"):
            register_kids(extra)

    yield use
    load_keyring.cache_clear()


@pytest.fixture
def cipher():
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    return PhoneCipher(Keyring.from_extra(keyring_extra()))


def _mysql_params() -> dict:
    u = urlparse(MYSQL_URL)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 3306,
        "user": u.username or "root",
        "passwd": u.password or "",
    }


def _mysql_admin():
    import MySQLdb

    try:
        return MySQLdb.connect(**_mysql_params(), connect_timeout=3, charset="utf8mb4")
    except MySQLdb.Error as exc:
        msg = f"MySQL/MariaDB not reachable at {MYSQL_URL}: {exc}"
        if REQUIRE_MYSQL:
            pytest.fail(msg + " (LEADS_REQUIRE_MYSQL=1)")
        pytest.skip("!!! SKIPPING MYSQL TESTS !!! " + msg)


def mysql_conn_uri(database: str) -> str:
    p = _mysql_params()
    auth = p["user"] + (f":{p['passwd']}" if p["passwd"] else "")
    return f"mysql://{auth}@{p['host']}:{p['port']}/{database}"


@dataclass
class Databases:
    """A legacy and a flow database, wired to the leads_legacy / leads_flow connections."""

    dialect: str
    legacy_name: str
    flow_name: str

    def legacy(self):
        from leads_flow.io.connect import connect

        return connect("leads_legacy")

    def flow(self):
        from leads_flow.io.connect import connect

        return connect("leads_flow")

    def flow_rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        db = self.flow()
        try:
            cur = db.conn.cursor()
            cur.execute(sql, params)
            return list(cur.fetchall())
        finally:
            db.close()

    def legacy_exec(self, sql: str, params: tuple = ()) -> None:
        db = self.legacy()
        try:
            db.conn.cursor().execute(sql, params)
            db.conn.commit()
        finally:
            db.close()


@pytest.fixture
def mysql_dbs(monkeypatch) -> Iterator[Databases]:
    """Fresh legacy and flow databases on the MySQL server, with the legacy table created."""
    admin = _mysql_admin()
    tag = uuid.uuid4().hex[:10]
    legacy, flow = f"lft_{tag}_legacy", f"lft_{tag}_flow"
    cur = admin.cursor()
    for name in (legacy, flow):
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY", mysql_conn_uri(legacy))
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", mysql_conn_uri(flow))
    dbs = Databases("mysql", legacy, flow)
    _create_legacy(dbs)
    try:
        yield dbs
    finally:
        for name in (legacy, flow):
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture
def sqlite_dbs(monkeypatch, tmp_path) -> Databases:
    legacy, flow = tmp_path / "legacy.db", tmp_path / "flow.db"
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY", f"sqlite:///{legacy}")
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", f"sqlite:///{flow}")
    dbs = Databases("sqlite", str(legacy), str(flow))
    _create_legacy(dbs)
    return dbs


@pytest.fixture(params=["mysql", "sqlite"])
def any_dbs(request) -> Databases:
    """Both dialects the pipeline runs on."""
    return request.getfixturevalue(f"{request.param}_dbs")


def _create_legacy(dbs: Databases) -> None:
    from leads_flow.io.schema import create_legacy_table

    db = dbs.legacy()
    try:
        create_legacy_table(db)
    finally:
        db.close()

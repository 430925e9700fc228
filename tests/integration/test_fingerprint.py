"""The language-neutral fingerprint (content_hash v2, docs/interfaces.md "Fingerprint"): its documented bytes, that
the encoding is unambiguous (Hypothesis), and the one-off recompute of a leads_flow table written by the v1 code
(blake2b over Python's repr()) inside ensure_flow_schema, on MariaDB and SQLite.

Generated phones only; assertions compare values without printing them."""

from __future__ import annotations

import hashlib
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit.seed import SEED_COLUMNS, legacy_rows
from leads_flow.config import Settings
from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.fingerprint import FINGERPRINT_COLUMNS, FINGERPRINT_VERSION, content_hash, fingerprint_payload
from leads_flow.rules.mapping import Mapper

END = datetime(2026, 11, 21)
FLOW_COLUMNS = STAGE_COLUMNS[: STAGE_COLUMNS.index("content_hash") + 1]
N = 60


def v1_content_hash(values) -> int:
    """The fingerprint as the code before version 2 computed it (what old rows in leads_flow hold)."""
    payload = repr((*values[2:4], *values[5:17])).encode()
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big", signed=True)


# --- the encoding ------------------------------------------------------------------------------------------

# The worked example of docs/interfaces.md ("Fingerprint"), byte for byte.
EXAMPLE = (
    7,  # lead_id: not hashed
    "e1:1:not-hashed",  # phone_cipher: not hashed (random nonce)
    -1,  # phone_bidx
    "1",  # phone_bidx_kid
    "138****8000",  # phone_masked: not hashed
    None,  # union_id
    "https://m.example.cn/lp?ch=é",  # window_url
    "1.2.3.4",  # ip_address
    None,  # user_agent
    "wx",  # from_channel
    1,  # has_tool
    datetime(2026, 11, 20, 9, 30),  # join_time
    "normal",  # leads_type
    0,  # is_group
    None,  # main_business_id
    0,  # is_deleted
    datetime(2026, 11, 20, 10, 0, 0, 5),  # source_updated_at
)
EXAMPLE_HEX = (
    "01ffffffffffffffff"
    "020000000131"
    "00"
    "020000001d68747470733a2f2f6d2e6578616d706c652e636e2f6c703f63683dc3a9"
    "0200000007312e322e332e34"
    "00"
    "02000000027778"
    "010000000000000001"
    "03323032362d31312d32302030393a33303a30302e303030303030"
    "02000000066e6f726d616c"
    "010000000000000000"
    "00"
    "010000000000000000"
    "03323032362d31312d32302031303a30303a30302e303030303035"
)


def test_the_documented_example_bytes_and_hash():
    payload = fingerprint_payload(EXAMPLE)
    assert payload.hex() == EXAMPLE_HEX
    assert content_hash(EXAMPLE) == struct.unpack(">q", hashlib.sha256(bytes.fromhex(EXAMPLE_HEX)).digest()[:8])[0]
    assert content_hash(EXAMPLE) == -4052990240139054907
    assert FINGERPRINT_COLUMNS == (
        "phone_bidx",
        "phone_bidx_kid",
        "union_id",
        "window_url",
        "ip_address",
        "user_agent",
        "from_channel",
        "has_tool",
        "join_time",
        "leads_type",
        "is_group",
        "main_business_id",
        "is_deleted",
        "source_updated_at",
    )


def test_the_documented_example_is_the_code():
    """docs/interfaces.md ("Fingerprint") shows the example field by field: its bytes and hash are the code's."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "interfaces.md").read_text(encoding="utf-8")
    section = doc[doc.index("**Worked example**") : doc.index("**Version and migration.**")]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ") and "`0" in line]
    hex_of_rows = "".join(re.sub(r"[` ]", "", r[3]) for r in rows)
    assert [r[1].strip() for r in rows] == list(FINGERPRINT_COLUMNS)
    assert hex_of_rows == fingerprint_payload(EXAMPLE).hex() == EXAMPLE_HEX
    assert f"content_hash = {content_hash(EXAMPLE)}" in section
    assert hashlib.sha256(bytes.fromhex(EXAMPLE_HEX)).hexdigest()[:16] in section


def _decode(payload: bytes) -> list:
    """Inverse of the documented encoding: proves no two value lists share their bytes."""
    out, i = [], 0
    while i < len(payload):
        tag = payload[i]
        i += 1
        if tag == 0:
            out.append(None)
        elif tag == 1:
            out.append(struct.unpack(">q", payload[i : i + 8])[0])
            i += 8
        elif tag == 2:
            (n,) = struct.unpack(">I", payload[i : i + 4])
            out.append(payload[i + 4 : i + 4 + n].decode("utf-8"))
            i += 4 + n
        elif tag == 3:
            out.append(datetime.fromisoformat(payload[i : i + 26].decode("ascii")))
            i += 26
        else:
            raise AssertionError(f"unknown tag {tag}")
    return out


_value = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=5000),
    st.datetimes(min_value=datetime(1000, 1, 1)),
)


@given(st.lists(_value, min_size=14, max_size=14))
def test_the_encoding_is_unambiguous(values):
    row = (0, "cipher", *values[:2], "mask", *values[2:])
    assert _decode(fingerprint_payload(row)) == values


@given(st.lists(_value, min_size=14, max_size=14), st.integers(0, 13), _value)
def test_changing_any_field_changes_the_fingerprint(values, i, other):
    changed = list(values)
    changed[i] = other
    a = (0, "cipher", *values[:2], "mask", *values[2:])
    b = (0, "cipher", *changed[:2], "mask", *changed[2:])
    assert (content_hash(a) == content_hash(b)) == (fingerprint_payload(a) == fingerprint_payload(b))
    assert (fingerprint_payload(a) == fingerprint_payload(b)) == (values == changed)


def test_bool_and_int_subclasses_encode_as_integers():
    row = list(EXAMPLE)
    row[10] = True
    assert content_hash(row) == content_hash(EXAMPLE)


def test_an_aware_datetime_has_no_encoding():

    row = list(EXAMPLE)
    row[11] = datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(TypeError):
        content_hash(row)


# --- the migration -----------------------------------------------------------------------------------------


def _legacy_input(n: int) -> list[tuple]:
    pos = {c: i for i, c in enumerate(SEED_COLUMNS)}
    rows = legacy_rows(n, datetime(2026, 11, 10), datetime(2026, 11, 20), seed=15, dirty=0.0)
    return [(i + 1, *(r[pos[c]] for c in LEGACY_COLUMNS[1:])) for i, r in enumerate(rows)]


def _q(dbs, sql: str) -> str:
    return sql.replace("?", "%s") if dbs.dialect == "mysql" else sql


def _write_v1_table(dbs, cipher) -> list[tuple]:
    """leads_flow as the v1 code left it: the tables without the fingerprint marker, rows with v1 hashes."""
    out = Mapper(cipher, Settings(), END, "v1-run", datetime(2026, 11, 21, 1)).map_rows(_legacy_input(N))
    assert len(out.staged) == N and not out.rejects
    h = STAGE_COLUMNS.index("content_hash")
    rows = [(*r[:h], v1_content_hash(r), *r[h + 1 :]) for r in out.staged]
    rows[-1] = (*rows[-1][:h], None, *rows[-1][h + 1 :])  # a hash repair cleared: must stay NULL
    db = dbs.flow()
    try:
        db.run("flow_ddl")
        cols = ", ".join(STAGE_COLUMNS)
        marks = ", ".join("?" * len(STAGE_COLUMNS))
        db.executemany("insert_rows", rows, table="leads_flow", columns=cols, placeholders=marks)
        db.conn.commit()
    finally:
        db.close()
    return out.staged


def _stored(dbs) -> dict[int, tuple]:
    from leads_flow.io.db import as_datetime

    rows = dbs.flow_rows(f"SELECT {', '.join(FLOW_COLUMNS)} FROM leads_flow ORDER BY lead_id")
    out = {}
    for row in rows:
        r = list(row)
        for c in ("join_time", "source_updated_at"):
            r[FLOW_COLUMNS.index(c)] = as_datetime(r[FLOW_COLUMNS.index(c)])
        out[int(r[0])] = tuple(r)
    return out


def test_schema_migration_recomputes_v1_hashes_once(any_dbs, cipher, monkeypatch):
    from leads_flow.io import schema

    staged = _write_v1_table(any_dbs, cipher)
    before = _stored(any_dbs)
    assert all(before[r[0]][-1] == v1_content_hash(r) != content_hash(r) for r in staged[:-1])

    monkeypatch.setattr(schema, "FINGERPRINT_BATCH", 7)  # several primary-key batches
    db = any_dbs.flow()
    try:
        schema.ensure_flow_schema(db)
    finally:
        db.close()

    after = _stored(any_dbs)
    for r in staged[:-1]:
        # the stored hash is now what today's Mapper writes for the same legacy row, and what reconcile recomputes
        assert after[r[0]][-1] == r[STAGE_COLUMNS.index("content_hash")] == content_hash(after[r[0]])
        assert after[r[0]][:-1] == before[r[0]][:-1]  # nothing else touched
    assert after[staged[-1][0]][-1] is None
    marks = any_dbs.flow_rows("SELECT version, rows_recomputed FROM leads_flow_fingerprint")
    assert [tuple(map(int, m)) for m in marks] == [(FINGERPRINT_VERSION, N - 1)]

    # once: a second run finds the marker and changes nothing, even a hash edited since
    db = any_dbs.flow()
    try:
        db.conn.cursor().execute(
            _q(any_dbs, "UPDATE leads_flow SET content_hash = 5 WHERE lead_id = ?"), (staged[0][0],)
        )
        db.conn.commit()
        schema.ensure_flow_schema(db)
        assert schema.migrate_fingerprint(db) == 0
    finally:
        db.close()
    assert _stored(any_dbs)[staged[0][0]][-1] == 5
    assert len(any_dbs.flow_rows("SELECT version FROM leads_flow_fingerprint")) == 1


def test_an_interrupted_recompute_finishes_on_the_next_run(any_dbs, cipher, monkeypatch):
    from leads_flow.io import schema

    staged = _write_v1_table(any_dbs, cipher)
    calls = {"n": 0}
    real = schema.content_hash

    def failing(values):
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("worker killed")
        return real(values)

    monkeypatch.setattr(schema, "content_hash", failing)
    db = any_dbs.flow()
    try:
        with pytest.raises(RuntimeError):
            schema.migrate_fingerprint(db, batch=10)
    finally:
        db.close()
    assert any_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_fingerprint")[0][0] == 0
    half = _stored(any_dbs)
    assert sum(half[r[0]][-1] == content_hash(r) for r in staged[:-1]) == 20  # two committed batches

    monkeypatch.setattr(schema, "content_hash", real)
    db = any_dbs.flow()
    try:
        assert schema.migrate_fingerprint(db, batch=10) == N - 1 - 20
    finally:
        db.close()
    after = _stored(any_dbs)
    assert all(after[r[0]][-1] == content_hash(r) for r in staged[:-1])


def test_a_row_rewritten_during_the_recompute_keeps_its_new_hash(any_dbs, cipher):
    """The update is optimistic: it applies only while the row still holds the hash that was read."""
    staged = _write_v1_table(any_dbs, cipher)
    lead = staged[0][0]
    old = _stored(any_dbs)[lead][-1]
    db = any_dbs.flow()
    try:
        db.run("fingerprint_ddl")
        cur = db.conn.cursor()
        # a concurrent writer stored 42 after the batch was read with the old hash
        cur.execute(_q(any_dbs, "UPDATE leads_flow SET content_hash = 42 WHERE lead_id = ?"), (lead,))
        stmt = db.sql("fingerprint_update", placeholders="(?, ?, ?)")[0]
        cur.execute(stmt, [lead, old, 99])
        assert cur.rowcount == 0
        db.conn.commit()
    finally:
        db.close()
    assert _stored(any_dbs)[lead][-1] == 42

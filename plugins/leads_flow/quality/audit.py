"""The audit scan: one pass over the staged rows in the database that counts every row-level violation into a
one-row audit table, which the expectations then read (docs/architecture.md, "How a row flows")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leads_flow.config import ident
from leads_flow.io.connect import connected
from leads_flow.rules.fields import LEADS_TYPES

# An e1 token's body is nonce + ciphertext + tag, more than 12 + 4 + 16 bytes: 44+ base64url characters. A
# shorter body cannot be a token (a plain phone written into the column, say). The token itself is not
# searched for phones: random base64url holds digit runs by chance.
E1_PATTERN = r"^e1:[0-9a-z]{1,8}:[A-Za-z0-9_-]{44,}$"


AUDIT_CHECKS: dict[str, str] = {
    "leads_type_in_set": "leads_type_not_in_set",
    "leads_type_not_null": "leads_type_null",
    **{
        c: c
        for c in (
            "lead_id_not_unique_or_null",
            "phone_cipher_not_e1",
            "phone_cipher_without_bidx",
            "plaintext_mobile",
            "flag_not_0_1_null",
            "join_time_out_of_range",
            "ip_address_invalid",
        )
    },
}
"""check → column of gate_audit.sql that counts the staged rows breaking it; every count must be 0."""


def audit_table_name(stage_table: str) -> str:
    return ident(stage_table + "_audit")


def build_audit(
    conn_id: str,
    stage_table: str,
    min_join: datetime,
    max_join: datetime,
    connection: Any = None,
    *,
    rejected: int = 0,
) -> str:
    """Count every row-level violation in one scan of the staged rows, into a one-row audit table (with the
    stage's count of rejects beside them, for the reject ratio)."""
    audit = audit_table_name(stage_table)
    fmt = "%Y-%m-%d %H:%M:%S"
    types = sorted(LEADS_TYPES.values())
    params: dict[str, Any] = {
        "e1": E1_PATTERN,
        "min_join": min_join.strftime(fmt),
        "max_join": max_join.strftime(fmt),
        "rejected": int(rejected),
        **{f"leads_type_{i}": t for i, t in enumerate(types)},
    }
    with connected(conn_id, connection=connection) as db:
        db.run("stage_drop", stage=audit)
        db.run(
            "gate_audit",
            params,
            stage=ident(stage_table),
            audit=audit,
            placeholders=", ".join(f":leads_type_{i}" for i in range(len(types))),
        )
        db.conn.commit()
    return audit


def drop_audit(conn_id: str, stage_table: str) -> None:
    with connected(conn_id) as db:
        db.run("stage_drop", stage=audit_table_name(stage_table))
        db.conn.commit()

"""Rollback after cutover (docs/cutover.md, step 5): leads written only to ``leads_flow`` go back to ``leads_aggr``.

"Written only to leads_flow" is decided against leads_aggr itself, lead by lead: a ``leads_flow`` row whose
``source_updated_at`` is at or after the cutover mark ``since`` (and before ``until``), that is not erased, and
whose lead id leads_aggr either lacks (a lead created after cutover: inserted) or holds at an older
``COALESCE(update_time, create_time)`` (a lead changed after cutover: updated). A lead leads_aggr holds at the
same or a newer timestamp is left alone, so a rerun writes nothing (idempotent) and a legacy write made since
the rollback began wins.

The row is written in leads_aggr's own shape by reversing the field rules (:func:`legacy_values`); the phone
is decrypted here, in memory, and goes only into the bound parameters of the write: never into a log line, an
exception message, the returned counts or XCom. The writes go through their own connection
(``leads_legacy_writer``, a login allowed to SELECT/INSERT/UPDATE leads_aggr and nothing else; the sync's
``leads_legacy`` login stays read-only). What cannot come back: the phone as originally typed (it returns
normalised), phones masked inside ``window_url``/``user_agent``, a NULL ``join_time`` (the flow row holds its
create_time fallback), and the columns leads_flow never carried (``sales_name``, ``follow_id``, ``ad_id``,
``campaign_id``: NULL for an inserted lead, untouched for an updated one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leads_flow.io.connect import connected
from leads_flow.io.db import Db, as_datetime
from leads_flow.io.retry import retrying
from leads_flow.io.sql import id_list
from leads_flow.names import FLOW_CONN_ID, LEGACY_TABLE, LEGACY_WRITER_CONN_ID
from leads_flow.rules.crypto import PhoneCipher, TokenError
from leads_flow.rules.fields import LEADS_TYPES, LEGACY_COLUMNS

log = logging.getLogger(__name__)


BATCH = 1000
"""leads_flow rows read, and leads_aggr rows written, per transaction."""

FAR_FUTURE = datetime(9999, 12, 31)

_FLOW_COLUMNS = (
    "lead_id",
    "phone_cipher",
    "union_id",
    "window_url",
    "ip_address",
    "user_agent",
    "from_channel",
    "has_tool",
    "is_group",
    "join_time",
    "leads_type",
    "main_business_id",
    "is_deleted",
    "source_updated_at",
)
"""What reverse_export_flow_batch.sql selects ({columns}), in order."""

LEGACY_TYPES = {name: code for code, name in LEADS_TYPES.items()}
"""leads_type reversed: 'normal' → 0, 'internal' → 1."""


def legacy_phone(e164: str) -> str:
    """The phone as leads_aggr stores it: the national number of a +86 phone (as the services wrote it), E.164
    for any other country (which the services never wrote in national form)."""
    return e164[3:] if e164.startswith("+86") else e164


def _flag(v: Any) -> int | None:
    return None if v is None else int(v)


def legacy_values(row: Mapping[str, Any], phone: str | None) -> dict[str, Any]:
    """A leads_flow row in leads_aggr's shape: the field rules of rules/mapping.py reversed.

    ``phone`` is the decrypted E.164 (None when the lead has none). Times are the flow's naive Asia/Shanghai
    values: ``update_time`` = ``source_updated_at`` (so the sync reads back the same version), ``create_time``
    (inserts only) = the earlier of ``join_time`` and ``source_updated_at`` (join_time fell back to
    create_time when the legacy row had none).
    """
    sua = as_datetime(row["source_updated_at"])
    join_time = as_datetime(row["join_time"])
    return {
        "id": int(row["lead_id"]),
        "phone": None if phone is None else legacy_phone(phone),
        "unionId": row["union_id"],
        "window_url": row["window_url"],
        "ip_address": row["ip_address"],
        "user_agent": row["user_agent"],
        "from_channel": row["from_channel"],
        "has_tool": _flag(row["has_tool"]),
        "is_group": _flag(row["is_group"]),
        "join_time": join_time,
        "leads_type": LEGACY_TYPES.get(row["leads_type"]),
        "main_business_id": row["main_business_id"],
        "create_time": min(join_time, sua) if join_time is not None else sua,
        "update_time": sua,
        "is_deleted": 1 if row["is_deleted"] else 0,
    }


@dataclass
class ReverseExportResult:
    """Counts only (XCom-safe): never a value of a lead."""

    since: str
    until: str | None
    dry_run: bool
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("read", "inserted", "updated", "unchanged", "unreadable"), 0)
    )

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "dry_run": self.dry_run, **self.counts}


def reverse_export(
    cipher: PhoneCipher,
    since: datetime,
    *,
    until: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    legacy_table: str = LEGACY_TABLE,
    flow_conn_id: str = FLOW_CONN_ID,
    writer_conn_id: str = LEGACY_WRITER_CONN_ID,
) -> ReverseExportResult:
    """Write back to leads_aggr every lead written only to leads_flow from ``since`` on (module docstring).

    Batches of ``batch`` leads in primary-key order; each batch is one transaction on the writer's connection,
    retried as a unit on a transient error (the legacy state is read again inside it, so a retry after a
    commit writes nothing). ``dry_run``: read and decide, write nothing (the counts say what would be written).
    A token that does not decrypt is counted ``unreadable`` (lead id and error class logged) and not written.
    """
    if batch < 1:
        raise ValueError("batch must be positive")
    if until is not None and until <= since:
        raise ValueError("until must be after since")
    res = ReverseExportResult(since.isoformat(sep=" "), None if until is None else until.isoformat(sep=" "), dry_run)
    after = 0
    while True:

        def read(after: int = after) -> list[tuple]:
            with connected(flow_conn_id) as flow:
                return flow.query(
                    "reverse_export_flow_batch",
                    {"after": after, "since": since, "until": until or FAR_FUTURE, "batch": batch},
                    columns=", ".join(f"f.{c}" for c in _FLOW_COLUMNS),
                )

        rows = retrying(read, what="reverse export: read leads_flow")
        if not rows:
            break
        after = int(rows[-1][0])
        res.counts["read"] += len(rows)
        candidates = []
        for r in rows:
            row = dict(zip(_FLOW_COLUMNS, r))
            try:
                phone = None if row["phone_cipher"] is None else cipher.decrypt(row["phone_cipher"])
            except TokenError as exc:
                res.counts["unreadable"] += 1
                log.error("reverse export: lead %s: phone token unreadable (%s), not written", r[0], type(exc).__name__)
                continue
            candidates.append(legacy_values(row, phone))
        part = retrying(
            lambda c=candidates: _write_batch(c, dry_run, legacy_table, writer_conn_id),
            what="reverse export: write leads_aggr",
        )
        for k, v in part.items():
            res.counts[k] += v
    log.info("reverse export since %s%s: %s", res.since, " (dry run)" if dry_run else "", res.counts)
    return res


def _write_batch(candidates: list[dict[str, Any]], dry_run: bool, legacy_table: str, conn_id: str) -> dict[str, int]:
    """One transaction: what leads_aggr lacks is inserted, what it holds older is updated, the rest left."""
    if not candidates:
        return {}
    with connected(conn_id) as legacy, legacy.transaction():
        held = {
            int(i): as_datetime(ts)
            for i, ts in legacy.query(
                "reverse_export_legacy_state", {}, legacy=legacy_table, ids=id_list([c["id"] for c in candidates])
            )
        }
        inserts = [c for c in candidates if c["id"] not in held]
        updates = [
            c for c in candidates if c["id"] in held and (held[c["id"]] is None or held[c["id"]] < c["update_time"])
        ]
        updated = 0
        if not dry_run:
            legacy.executemany(
                "reverse_export_insert",
                [tuple(c[k] for k in LEGACY_COLUMNS) for c in inserts],
                legacy=legacy_table,
                columns=", ".join(LEGACY_COLUMNS),
                placeholders=", ".join("?" * len(LEGACY_COLUMNS)),
            )
            for c in updates:
                updated += max(_run(legacy, c, legacy_table), 0)
        else:
            updated = len(updates)
            legacy.conn.rollback()
    return {"inserted": len(inserts), "updated": updated, "unchanged": len(candidates) - len(inserts) - updated}


def _run(legacy: Db, values: dict[str, Any], legacy_table: str) -> int:
    """One optimistic UPDATE (bound names are lower case: the SQL's ``:name`` slots are)."""
    params = {("union_id" if k == "unionId" else k): v for k, v in values.items() if k != "create_time"}
    return legacy.run("reverse_export_update", params, legacy=legacy_table)

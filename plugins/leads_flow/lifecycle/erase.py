"""Erasure of leads: personal values removed from every table this pipeline writes.

- :func:`erase_leads` — by lead id, one transaction per batch: the ``leads_flow`` row stays as a tombstone
  (``lead_id``, ``is_deleted = 1``, timestamps and business codes kept; phone token, blind index and kid,
  mask, union_id, ip_address, user_agent, window_url and the content fingerprint set to NULL), the lead's
  rejects (every run), its versions in the change journal ``leads_flow_history`` and its rows in every
  staging table are deleted, and the erasure is recorded in
  ``leads_flow_erasure`` (lead id, time, who asked; never a phone). Idempotent.
- :func:`lead_ids_for_phones` — phones as typed → lead ids: normalised, looked up by blind index under
  every bidx kid of the keyring, confirmed by decrypting (``leads_flow.reads.find_by_phone``).
- :func:`scrub_stage` — the resurrection guard the publish runs: staged rows and this run's rejects of
  erased leads are deleted before the staging table is published.

The legacy table (``leads_aggr``) is read-only to this pipeline: the service team erases there
(docs/cutover.md, "Erasure requests"). Nothing here logs or returns a phone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leads_flow.config import TZ, ident
from leads_flow.io.cleanup import STAGE_TABLE
from leads_flow.io.db import Db
from leads_flow.io.publish import scrub_stage  # noqa: F401 - the guard lives with the publish it guards
from leads_flow.io.retry import retrying
from leads_flow.io.sql import id_list
from leads_flow.rules.crypto import PhoneCipher, TokenError
from leads_flow.rules.phone import InvalidPhone, normalize

log = logging.getLogger(__name__)

BATCH = 500
"""Lead ids per transaction of :func:`erase_leads`."""

MAX_REQUESTED_BY = 250
_STAGE_LIKE = r"leads\_flow\_stage\_%"

COUNTS = ("requested", "recorded", "already_erased", "tombstoned", "rejects_deleted", "staged_deleted")


def _lead_ids(lead_ids: Iterable[Any]) -> list[int]:
    """Distinct positive integer ids in order; anything else is a ValueError (never formatted into SQL)."""
    out: dict[int, None] = {}
    for v in lead_ids:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError("lead ids must be positive integers")
        out[int(v)] = None
    return list(out)


def stage_tables(db: Db) -> list[str]:
    """The staging tables (not the gate's audit tables) present in the flow database now."""
    names = [r[0] for r in db.query("stage_tables", {"pattern": _STAGE_LIKE})]
    return [n for n in names if STAGE_TABLE.match(n) and not n.endswith("_audit")]


def erase_leads(flow_db: Db, lead_ids: Iterable[int], requested_by: str, *, batch: int = BATCH) -> dict[str, int]:
    """Erase these leads from leads_flow (tombstones), their rejects and staged rows; record the erasure.

    One transaction per ``batch`` of ids, each retried on a transient error. ``requested_by`` names who or
    which run asked (a DAG run id, an operator); it must never hold a phone. Erasing a lead twice, or a
    lead leads_flow does not hold (it is still recorded, so no later sync brings it in), is fine. Returns
    counts: ``requested``, ``recorded`` (new erasure records), ``already_erased``, ``tombstoned`` (rows
    changed in leads_flow), ``rejects_deleted``, ``staged_deleted``.
    """
    ids = _lead_ids(lead_ids)
    who = requested_by.strip() if isinstance(requested_by, str) else ""
    if not who:
        raise ValueError("requested_by must name who or which run asked")
    who = who[:MAX_REQUESTED_BY]
    counts = dict.fromkeys(COUNTS, 0)
    counts["requested"] = len(ids)
    for i in range(0, len(ids), max(1, batch)):
        chunk = ids[i : i + max(1, batch)]
        part = retrying(lambda chunk=chunk: _erase_batch(flow_db, chunk, who), what="erase leads")
        for k, v in part.items():
            counts[k] += v
    log.info("erasure requested by %s: %s", who, counts)
    return counts


def _erase_batch(flow: Db, ids: list[int], who: str) -> dict[str, int]:
    in_ids = id_list(ids)
    now = datetime.now(TZ).replace(tzinfo=None, microsecond=0)
    with flow.transaction():
        known = {int(r[0]) for r in flow.query("erasure_recorded", ids=in_ids)}
        tombstoned = flow.run("erasure_tombstone", ids=in_ids)
        rejects = flow.run("erasure_delete_rejects", ids=in_ids)
        flow.run("history_erase", ids=in_ids)  # the change journal's versions of these leads
        staged = 0
        for table in stage_tables(flow):
            present = {r[0] for r in flow.query("table_columns", {"table": table})}
            if "lead_id" in present:
                staged += flow.run("erasure_delete_staged", stage=ident(table), ids=in_ids)
        flow.executemany("erasure_record", [(i, now, who) for i in ids if i not in known])
    return {
        "recorded": len(ids) - len(known),
        "already_erased": len(known),
        "tombstoned": max(tombstoned, 0),
        "rejects_deleted": max(rejects, 0),
        "staged_deleted": max(staged, 0),
    }


def _rejected_ids(flow_db: Db, cipher: PhoneCipher, e164: str) -> set[int]:
    """Leads rejected with this phone (a lead never published has no leads_flow row): found by the blind
    index stored beside the raw token under every bidx kid, confirmed by decrypting the raw phone."""
    ids: set[int] = set()
    for kid, bidx in cipher.bidx_all(e164).items():
        for lead_id, raw_values in flow_db.query("erasure_rejects_by_bidx", {"kid": kid, "bidx": bidx}):
            try:
                same = normalize(cipher.decrypt_raw(json.loads(raw_values)["phone"])) == e164
            except (TokenError, InvalidPhone, ValueError, KeyError, TypeError, AttributeError):
                same = False  # unreadable or another phone with the same 64-bit index
            if same:
                ids.add(int(lead_id))
    return ids


def lead_ids_for_phones(
    flow_db: Db, cipher: PhoneCipher, phones: Iterable[str], *, stats: dict[str, int] | None = None
) -> list[int]:
    """Lead ids (sorted, distinct) of every leads_flow row, deleted or not, and every reject whose phone is one
    of ``phones``.

    Each phone is normalised, looked up by blind index under every bidx kid of ``cipher``'s keyring (in
    leads_flow and beside the raw tokens of leads_flow_reject) and confirmed by decrypting the token. A phone that does not normalise matches nothing (counted, never
    logged). ``stats``, when given, receives the counts ``phones``, ``invalid``, ``unmatched``.
    """
    from leads_flow.reads import find_by_phone

    found: set[int] = set()
    n = invalid = unmatched = 0
    for raw in phones:
        n += 1
        try:
            ids = {lead.lead_id for lead in find_by_phone(flow_db, cipher, raw, include_deleted=True)}
        except InvalidPhone:
            invalid += 1
            continue
        ids |= _rejected_ids(flow_db, cipher, normalize(raw))
        if not ids:
            unmatched += 1
        found |= ids
    flow_db.conn.rollback()  # end the reads' transaction
    if stats is not None:
        stats.update(phones=n, invalid=invalid, unmatched=unmatched)
    log.info("phones resolved: %d given, %d invalid, %d unmatched, %d lead id(s)", n, invalid, unmatched, len(found))
    return sorted(found)

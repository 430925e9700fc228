"""The verdict on one legacy row against its flow row: a match, or a drift class with the action it needs.

The phone is compared by its blind index, under the kid the flow row was indexed with (a bidx key
rotation is not drift); differing fields are reported by name, never by value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from leads_flow.names import FIELD_DRIFT, FLOW_AHEAD, MISSING_IN_FLOW, PHONE_DRIFT, REJECTED_BY_RULE, STALE_IN_FLOW
from leads_flow.reconcile.model import (
    ACTION_INVESTIGATE,
    ACTION_NONE,
    ACTION_REPAIR,
    ACTION_REWRITE,
    COL_BIDX,
    COL_HASH,
    COL_KID,
    ERASED,
    FlowRow,
    LegacyItem,
)
from leads_flow.rules.crypto import PhoneCipher, UnknownKid
from leads_flow.rules.fields import MAPPED_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.fingerprint import content_hash
from leads_flow.rules.phone import InvalidPhone, normalize

_PHONE_COLUMNS = ("phone_cipher", "phone_bidx", "phone_bidx_kid", "phone_masked")
# Field names compared one by one to explain a drifting fingerprint (the phone is compared by its index).
_DIFF_FIELDS = tuple((i, c) for i, c in enumerate(STAGE_COLUMNS) if c in MAPPED_COLUMNS and c not in _PHONE_COLUMNS)


class Verdict(NamedTuple):
    drift_class: str | None  # None: the rows match
    detail: dict[str, Any]
    action: str = ACTION_NONE


def judge_row(item: LegacyItem, flow: FlowRow | None, cipher: PhoneCipher) -> Verdict:
    """The verdict on one legacy row against its flow row (None: no flow row at all)."""
    if item.erased:
        return Verdict(ERASED, {"flow_row": erased_state(flow)})
    if item.staged is None:
        if flow is None:
            state = "absent"
        elif item.sua is None:
            state = "present"
        else:
            state = "older" if flow.sua < item.sua else "newer" if flow.sua > item.sua else "same"
        return Verdict(REJECTED_BY_RULE, {"reasons": item.reasons.split(","), "flow_row": state})
    if flow is None:
        return Verdict(MISSING_IN_FLOW, {"legacy_is_deleted": item.is_deleted}, ACTION_REPAIR)
    phone_differs = _phone_differs(item, flow, cipher)
    staged = item.staged
    if phone_differs or staged[COL_KID] == flow.kid:
        legacy_hash = staged[COL_HASH]
    else:  # same phone indexed under another bidx kid (key rotation): fingerprint it under the stored kid
        staged = staged[:COL_BIDX] + (flow.bidx, flow.kid) + staged[COL_KID + 1 :]
        legacy_hash = content_hash(staged)
    if item.sua == flow.sua and legacy_hash == flow.fingerprint:
        return Verdict(None, {})
    fields = differing_fields(staged, flow.row, phone_differs)
    if item.sua > flow.sua:
        return Verdict(
            STALE_IN_FLOW, {"behind_s": int((item.sua - flow.sua).total_seconds()), "fields": fields}, ACTION_REPAIR
        )
    if item.sua < flow.sua:
        return Verdict(
            FLOW_AHEAD, {"ahead_s": int((flow.sua - item.sua).total_seconds()), "fields": fields}, ACTION_INVESTIGATE
        )
    # Same timestamp, other content. The upsert rewrites a same-timestamp row only when the stored
    # fingerprint differs: when the stored one equals the legacy one (a column changed under it), the repair
    # must clear it first ("rewrite").
    action = ACTION_REWRITE if flow.stored_hash == item.staged[COL_HASH] else ACTION_REPAIR
    return Verdict(PHONE_DRIFT if phone_differs else FIELD_DRIFT, {"fields": fields}, action)


def erased_state(flow: FlowRow | None) -> str:
    """What leads_flow holds for an erased lead: ``absent``, a ``tombstone`` (deleted, no phone token or
    index), or ``not_scrubbed`` (personal data present again: a write the guards did not stop)."""
    if flow is None:
        return "absent"
    if flow.is_deleted and flow.token is None and flow.bidx is None:
        return "tombstone"
    return "not_scrubbed"


def _phone_differs(item: LegacyItem, flow: FlowRow, cipher: PhoneCipher) -> bool:
    """Does the legacy phone (normalised, blind-indexed) differ from the stored one? Compared under the
    kid the flow row was indexed with, so a bidx key rotation is not taken for drift."""
    staged = item.staged
    if staged[COL_BIDX] is None or flow.bidx is None:
        return (staged[COL_BIDX] is None) != (flow.bidx is None)
    if staged[COL_KID] == flow.kid:
        return staged[COL_BIDX] != flow.bidx
    try:
        return cipher.bidx(normalize(str(item.phone)), flow.kid) != flow.bidx
    except (UnknownKid, InvalidPhone):
        return True


def _norm(v: Any) -> Any:
    """One representation for both dialects (SQLite keeps DATETIME as the text MySQL would show)."""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, bool):
        return int(v)
    return v


def differing_fields(staged: tuple, flow_row: Sequence[Any], phone_differs: bool) -> list[str]:
    """Names (never values) of the mapped fields where the legacy row and the flow row disagree; the phone
    is compared by its blind index and reported as ``phone``."""
    names = ["phone"] if phone_differs else []
    names += [c for i, c in _DIFF_FIELDS if _norm(staged[i]) != _norm(flow_row[i])]
    return names

"""Which key ids the stored rows use (``leads_flow``, ``leads_flow_reject``, the journal), and the check that the
keyring still holds every one in use: a key removed while rows depend on it fails a run before it writes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from leads_flow.io.db import Db
from leads_flow.names import FLOW_TABLE, HISTORY_TABLE, REJECT_TABLE
from leads_flow.rules.keyring import KID_PATTERN, Keyring, KeyringError

log = logging.getLogger(__name__)


class KidsInUse(NamedTuple):
    """Kids found in the stored data: encryption kids (tokens of both tables) and blind-index kids."""

    enc: frozenset[str]
    bidx: frozenset[str]


def _kid(value: object) -> str:
    """A kid read back from the database, or ``?`` when the value is not shaped like one (never shown)."""
    return value if isinstance(value, str) and KID_PATTERN.fullmatch(value) else "?"


def _counts(rows: Sequence[tuple]) -> dict[str, int]:
    out: dict[str, int] = {}
    for kid, n in rows:
        k = _kid(kid)
        out[k] = out.get(k, 0) + int(n)
    return dict(sorted(out.items()))


def kid_counts(flow_db: Db) -> dict[str, dict[str, dict[str, int]]]:
    """Rows per kid: ``{"leads_flow": {"enc": {kid: n}, "bidx": {kid: n}}, "leads_flow_reject": {"enc": …}}``,
    plus ``"leads_flow_history": {"enc": …, "bidx": …}`` when the change journal holds phone tokens."""
    out: dict[str, dict[str, dict[str, int]]] = {
        FLOW_TABLE: {
            "enc": _counts(flow_db.query("rekey_enc_kids", {})),
            "bidx": _counts(flow_db.query("rekey_bidx_kids", {})),
        },
        REJECT_TABLE: {
            "enc": _counts(flow_db.query("rekey_reject_kids", {})),
            "bidx": _counts(flow_db.query("rekey_reject_bidx_kids", {})),
        },
    }
    history = {
        "enc": _counts(flow_db.query("history_rekey_enc_kids", {})),
        "bidx": _counts(flow_db.query("history_rekey_bidx_kids", {})),
    }
    if history["enc"] or history["bidx"]:
        out[HISTORY_TABLE] = history
    return out


def kids_of(counts: Mapping[str, Mapping[str, Mapping[str, int]]]) -> KidsInUse:
    return KidsInUse(
        frozenset(k for table in counts.values() for k in table.get("enc", {})),
        frozenset(k for table in counts.values() for k in table.get("bidx", {})),
    )


def kids_in_use(flow_db: Db, *, journal: bool = True) -> KidsInUse:
    """The encryption kids (phone tokens, reject raw tokens) and bidx kids the stored rows carry.

    leads_flow's through its kid indexes (``idx_enc_kid``, ``idx_phone_bidx``: one index dive per kid, cheap
    enough for every sync plan), the rejects' raw tokens by a scan of that retention-bounded table, and the
    change journal's (``journal``) by a full scan, which only the rekey pays.
    """
    enc = {_kid(r[0]) for r in flow_db.query("kids_flow_enc", {})}
    enc |= set(_counts(flow_db.query("rekey_reject_kids", {})))
    bidx = {_kid(r[0]) for r in flow_db.query("kids_flow_bidx", {})}
    bidx |= {_kid(r[0]) for r in flow_db.query("kids_reject_bidx", {})}
    if journal:
        enc |= set(_counts(flow_db.query("history_rekey_enc_kids", {})))
        bidx |= set(_counts(flow_db.query("history_rekey_bidx_kids", {})))
    return KidsInUse(frozenset(enc), frozenset(bidx))


def check_kids_held(flow_db: Db, keyring: Keyring, *, journal: bool = True, used: KidsInUse | None = None) -> KidsInUse:
    """Raise :class:`KeyringError` naming every kid the stored rows use that the keyring no longer holds
    (``used``: kids already counted; else :func:`kids_in_use`)."""
    used = used or kids_in_use(flow_db, journal=journal)
    missing_enc = sorted(used.enc - set(keyring.enc_keys))
    missing_bidx = sorted(used.bidx - set(keyring.bidx_keys))
    if missing_enc or missing_bidx:
        parts = [f"enc kid {k!r}" for k in missing_enc] + [f"bidx kid {k!r}" for k in missing_bidx]
        raise KeyringError(
            f"stored rows still use {', '.join(parts)}, which the keyring no longer holds: put the old key back "
            "and run leads_flow_rekey before removing it (docs/phone-protection.md, Key rotation runbook)"
        )
    return used

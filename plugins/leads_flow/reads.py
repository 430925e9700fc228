"""Read paths on ``leads_flow`` in the shapes the online (Java) services use (the write: :mod:`leads_flow.submit`).

These are the reference implementations that the dual-writing services mirror (docs/interfaces.md):

- :func:`find_by_phone` — normalise → blind index under every known bidx kid → candidates on
  ``idx_phone_bidx`` → decrypt each candidate and keep exact E.164 matches (the index is not an identity).
- :func:`find_by_union_id` — on ``idx_union_id``.
- :func:`select_by_channel` / :func:`iter_by_channel` — a channel's leads over a join-time range,
  keyset-paginated on ``idx_channel_join`` (the GeneralKafkaConsumer#selectLeadsByAdChannel shape).
- :func:`history` — a lead's versions from the change journal ``leads_flow_history``, oldest first.

Decisions (see the function docstrings):

- An invalid raw phone is the caller's input error: :func:`find_by_phone` raises
  :class:`~leads_flow.rules.phone.InvalidPhone` instead of returning ``[]`` (an empty answer would read as
  "no such lead" and make a service create a lead for garbage input). A blank union_id or channel
  raises ``ValueError`` for the same reason.
- Soft-deleted leads (``is_deleted = 1``) are left out unless ``include_deleted=True``.
- Results are ordered by ``lead_id`` (channel pages by ``(join_time, lead_id)``).
- The phone is never decrypted into a :class:`Lead`: ``lead.reveal_phone(cipher)`` does it on request,
  and ``repr(lead)`` shows only the mask.

SQL lives in include/sql/reads/.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any

from leads_flow.io.db import Db, as_datetime
from leads_flow.rules.crypto import PhoneCipher, TokenError, UnknownKid
from leads_flow.rules.fields import STAGE_COLUMNS
from leads_flow.rules.phone import InvalidPhone, normalize

__all__ = [
    "LEAD_COLUMNS",
    "MAX_PAGE",
    "InvalidPhone",
    "Lead",
    "find_by_phone",
    "find_by_union_id",
    "history",
    "iter_by_channel",
    "select_by_channel",
]

log = logging.getLogger(__name__)

LEAD_COLUMNS: tuple[str, ...] = STAGE_COLUMNS
"""The leads_flow columns, in table order; the same list the pipeline stages and publishes."""

MAX_PAGE = 10_000
"""Upper bound of ``select_by_channel``'s ``limit``: a page is held in memory."""


_COLUMNS_SQL = ", ".join(LEAD_COLUMNS)


# --- the row type ----------------------------------------------------------------------------------------


def _flag(v: Any) -> bool | None:
    return None if v is None else bool(int(v))


@dataclass(frozen=True)
class Lead:
    """One leads_flow row. The phone is there only as token, blind index and mask.

    ``repr`` shows the mask and the non-identifying fields only. Equality compares the lead's content:
    the token (its nonce is random per write) and the load provenance (``etl_run_id``,
    ``etl_loaded_at``) are not compared, so the same lead written by a service and imported by the
    sync DAG compares equal.
    """

    lead_id: int
    phone_cipher: str | None = field(repr=False, compare=False)
    phone_bidx: int | None = field(repr=False)
    phone_bidx_kid: str | None = field(repr=False)
    phone_masked: str | None
    union_id: str | None = field(repr=False)
    window_url: str | None = field(repr=False)
    ip_address: str | None = field(repr=False)
    user_agent: str | None = field(repr=False)
    from_channel: str | None
    has_tool: bool | None
    join_time: datetime | None
    leads_type: str | None
    is_group: bool | None
    main_business_id: int | None
    is_deleted: bool
    source_updated_at: datetime
    content_hash: int | None = field(repr=False)
    etl_run_id: str | None = field(repr=False, compare=False)
    etl_loaded_at: datetime | None = field(repr=False, compare=False)

    @classmethod
    def from_row(cls, row: tuple) -> Lead:
        """A row selected as ``LEAD_COLUMNS`` (either dialect) to a Lead with Python types."""
        d = dict(zip(LEAD_COLUMNS, row))
        for c in ("join_time", "source_updated_at", "etl_loaded_at"):
            d[c] = as_datetime(d[c])
        for c in ("has_tool", "is_group"):
            d[c] = _flag(d[c])
        d["is_deleted"] = bool(d["is_deleted"])
        d["lead_id"] = int(d["lead_id"])
        return cls(**d)

    @property
    def has_phone(self) -> bool:
        return self.phone_cipher is not None

    def reveal_phone(self, cipher: PhoneCipher) -> str | None:
        """The E.164 phone, decrypted now (None when the lead has no phone). Do not log it."""
        return None if self.phone_cipher is None else cipher.decrypt(self.phone_cipher)


if tuple(f.name for f in fields(Lead)) != LEAD_COLUMNS:  # pragma: no cover - guards FIELD_RULES edits
    raise ImportError("leads_flow.reads.Lead is out of step with mapping.STAGE_COLUMNS; add the new field")


def _leads(db: Db, name: str, params: dict[str, Any]) -> list[Lead]:
    return [Lead.from_row(r) for r in db.query(name, params, columns=_COLUMNS_SQL)]


# --- reads -------------------------------------------------------------------------------------------


def find_by_phone(db: Db, cipher: PhoneCipher, raw_phone: str, *, include_deleted: bool = False) -> list[Lead]:
    """Leads whose phone is ``raw_phone`` (as a user typed it), ordered by lead_id.

    Raises :class:`InvalidPhone` when ``raw_phone`` does not normalise: that is the caller's input error,
    not "no lead". Searches the blind index under every bidx kid of the keyring, so rows indexed before a
    bidx rotation are still found. Every candidate is confirmed by decrypting its token; a candidate whose
    token fails authentication or is malformed is skipped with a warning (lead_id and error class only);
    a token under an encryption kid this keyring lacks raises :class:`~leads_flow.rules.crypto.UnknownKid`,
    because it means this reader's keyring is behind the writers' (rotation: readers first).
    """
    e164 = normalize(raw_phone)
    found: dict[int, Lead] = {}
    for kid, bidx in cipher.bidx_all(e164).items():
        for lead in _leads(
            db, "reads_by_phone_bidx", {"kid": kid, "bidx": bidx, "include_deleted": int(include_deleted)}
        ):
            if lead.phone_cipher is None:
                continue
            try:
                if cipher.decrypt(lead.phone_cipher) != e164:
                    continue  # a blind-index collision: another phone with the same 64-bit index
            except UnknownKid:
                raise
            except TokenError as exc:
                log.warning(
                    "lead %d: phone token of a blind-index candidate cannot be decrypted (%s); skipped",
                    lead.lead_id,
                    type(exc).__name__,
                )
                continue
            found[lead.lead_id] = lead
    return [found[k] for k in sorted(found)]


def find_by_union_id(db: Db, union_id: str, *, include_deleted: bool = False) -> list[Lead]:
    """Leads of one WeChat unionId (trimmed, as the mapping stores it), ordered by lead_id.

    Matching is exact and case-sensitive on both dialects (the MySQL column's collation is
    case-insensitive, so the index finds candidates and equality is checked here).
    """
    u = union_id.strip() if isinstance(union_id, str) else None
    if not u:
        raise ValueError("union_id must be a non-blank string")
    return [
        lead
        for lead in _leads(db, "reads_by_union_id", {"union_id": u, "include_deleted": int(include_deleted)})
        if lead.union_id == u
    ]


def _as_datetime(v: datetime | date, what: str) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v, time.min)
    raise TypeError(f"{what} must be a datetime or a date")


def select_by_channel(
    db: Db,
    from_channel: str,
    join_from: datetime | date,
    join_to: datetime | date,
    limit: int = 1000,
    after_lead_id: int | None = None,
    *,
    after_join_time: datetime | None = None,
    include_deleted: bool = False,
) -> list[Lead]:
    """One page of the leads of ``from_channel`` with ``join_from <= join_time < join_to``.

    Ordered by ``(join_time, lead_id)``, at most ``limit`` rows. Keyset pagination: pass the last lead of
    the previous page as ``after_lead_id`` (and, to save a primary-key lookup and be immune to that
    lead's join_time changing between pages, its ``join_time`` as ``after_join_time``);
    :func:`iter_by_channel` does this for you. A page shorter than ``limit`` is the last one. Times are
    naive Asia/Shanghai, like the column. Channel equality follows the database's collation (MySQL's
    is case-insensitive); channel codes are stored trimmed.
    """
    ch = from_channel.strip() if isinstance(from_channel, str) else None
    if not ch:
        raise ValueError("from_channel must be a non-blank string")
    lo, hi = _as_datetime(join_from, "join_from"), _as_datetime(join_to, "join_to")
    if hi <= lo:
        return []
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be an integer in [1, {MAX_PAGE}]")
    if after_lead_id is None:
        if after_join_time is not None:
            raise ValueError("after_join_time needs after_lead_id")
        cursor = (lo, -1)
    else:
        if after_join_time is None:
            rows = db.query("reads_join_time_of", {"lead_id": int(after_lead_id)})
            if not rows or rows[0][0] is None:
                raise ValueError(f"after_lead_id {after_lead_id} is not a lead with a join_time")
            after_join_time = as_datetime(rows[0][0])
        cursor = (_as_datetime(after_join_time, "after_join_time"), int(after_lead_id))
    return _leads(
        db,
        "reads_by_channel",
        {
            "from_channel": ch,
            "range_start": max(lo, cursor[0]),
            "join_to": hi,
            "after_join_time": cursor[0],
            "after_lead_id": cursor[1],
            "include_deleted": int(include_deleted),
            "page_size": limit,
        },
    )


def iter_by_channel(
    db: Db,
    from_channel: str,
    join_from: datetime | date,
    join_to: datetime | date,
    *,
    page: int = 1000,
    include_deleted: bool = False,
) -> Iterator[Lead]:
    """Every lead of :func:`select_by_channel`'s range, a page at a time (memory bounded by ``page``)."""
    after: Lead | None = None
    while True:
        rows = select_by_channel(
            db,
            from_channel,
            join_from,
            join_to,
            page,
            None if after is None else after.lead_id,
            after_join_time=None if after is None else after.join_time,
            include_deleted=include_deleted,
        )
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1]


def history(db: Db, lead_id: int) -> list[Lead]:
    """Every version of a lead the change journal ``leads_flow_history`` holds, oldest first.

    A version is a distinct (``source_updated_at``, ``content_hash``) of the lead, recorded by the publish that
    staged it or by :func:`leads_flow.submit.submit_lead`; ``etl_run_id``/``etl_loaded_at`` say who recorded it and when. Ordered
    by ``source_updated_at``, then by when it was recorded (a same-timestamp rewrite comes after the version it
    replaced). The journal also keeps versions that lost the newer-wins rule (an older version synced late), so
    the last element is the newest version seen, and equals the leads_flow row unless that row was erased,
    marked deleted by reconcile, or written before the journal existed. An erased lead has no history.
    """
    if isinstance(lead_id, bool) or not isinstance(lead_id, int) or lead_id < 1:
        raise ValueError("lead_id must be a positive integer")
    return _leads(db, "history_of_lead", {"lead_id": lead_id})

"""Read and write paths on ``leads_flow`` in the shapes the online (Java) services use.

These are the reference implementations that the dual-writing services mirror (docs/interfaces.md):

- :func:`find_by_phone` — normalise → blind index under every known bidx kid → candidates on
  ``idx_phone_bidx`` → decrypt each candidate and keep exact E.164 matches (the index is not an identity).
- :func:`find_by_union_id` — on ``idx_union_id``.
- :func:`select_by_channel` / :func:`iter_by_channel` — a channel's leads over a join-time range,
  keyset-paginated on ``idx_channel_join`` (the GeneralKafkaConsumer#selectLeadsByAdChannel shape).
- :func:`history` — a lead's versions from the change journal ``leads_flow_history``, oldest first.
- :func:`submit_lead` — the write a service does when a lead submits: the row is built by the sync
  pipeline's own :class:`~leads_flow.rules.mapping.Mapper` from the legacy-shaped row and upserted with
  publish.sql's newer-wins rule, so a lead written here and the same lead imported by the DAG are the
  same row, and the version is recorded in the change journal. It answers ``"written"``, or ``"erased"``
  without writing when the lead id is in ``leads_flow_erasure`` (issue #12: an online write never
  resurrects an erased lead).

Decisions (see the function docstrings):

- An invalid raw phone is the caller's input error: :func:`find_by_phone` raises
  :class:`~leads_flow.rules.phone.InvalidPhone` instead of returning ``[]`` (an empty answer would read as
  "no such lead" and make a service create a lead for garbage input). A blank union_id or channel
  raises ``ValueError`` for the same reason.
- Soft-deleted leads (``is_deleted = 1``) are left out unless ``include_deleted=True``.
- Results are ordered by ``lead_id`` (channel pages by ``(join_time, lead_id)``).
- The phone is never decrypted into a :class:`Lead`: ``lead.reveal_phone(cipher)`` does it on request,
  and ``repr(lead)`` shows only the mask.

SQL lives in include/sql/common/reads_*.sql and include/sql/<dialect>/reads_upsert_one.sql.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from leads_flow.config import TZ, Settings
from leads_flow.io.db import Db, as_datetime
from leads_flow.rules.crypto import PhoneCipher, TokenError, UnknownKid
from leads_flow.rules.mapping import LEGACY_COLUMNS, STAGE_COLUMNS, Mapper
from leads_flow.rules.phone import InvalidPhone, normalize

__all__ = [
    "LEAD_COLUMNS",
    "MAX_PAGE",
    "ONLINE_RUN_ID",
    "SUBMIT_ERASED",
    "SUBMIT_WRITTEN",
    "InvalidPhone",
    "Lead",
    "LeadRejected",
    "find_by_phone",
    "find_by_union_id",
    "history",
    "iter_by_channel",
    "select_by_channel",
    "submit_lead",
]

log = logging.getLogger(__name__)

LEAD_COLUMNS: tuple[str, ...] = STAGE_COLUMNS
"""The leads_flow columns, in table order; the same list the pipeline stages and publishes."""

MAX_PAGE = 10_000
"""Upper bound of ``select_by_channel``'s ``limit``: a page is held in memory."""

ONLINE_RUN_ID = "online"
"""``etl_run_id`` of rows written by :func:`submit_lead` unless the caller names its service."""

SUBMIT_WRITTEN = "written"
""":func:`submit_lead`: the row went through the newer-wins upsert (which may keep a newer stored row)."""
SUBMIT_ERASED = "erased"
""":func:`submit_lead`: the lead id is in leads_flow_erasure (issue #12); nothing was written."""

# Legacy columns an online writer may pass that leads_flow does not carry (they stay in leads_aggr).
LEGACY_UNMAPPED = ("sales_name", "follow_id", "ad_id", "campaign_id")
_LEGACY_INT = ("id", "has_tool", "is_group", "leads_type", "main_business_id", "is_deleted")
_LEGACY_DATETIME = ("join_time", "create_time", "update_time")
_COLUMNS_SQL = ", ".join(LEAD_COLUMNS)
_INT_TEXT = re.compile(r"-?[0-9]+", re.ASCII)


class LeadRejected(ValueError):
    """The field rules reject the lead (same codes as leads_flow_reject.reasons); nothing was written.

    The message and ``reasons`` carry reason codes only, never a value of the lead.
    """

    def __init__(self, lead_id: int, reasons: tuple[str, ...]) -> None:
        super().__init__(f"lead {lead_id} rejected by the field rules: {', '.join(reasons)}")
        self.lead_id = lead_id
        self.reasons = reasons


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
    staged it or by :func:`submit_lead`; ``etl_run_id``/``etl_loaded_at`` say who recorded it and when. Ordered
    by ``source_updated_at``, then by when it was recorded (a same-timestamp rewrite comes after the version it
    replaced). The journal also keeps versions that lost the newer-wins rule (an older version synced late), so
    the last element is the newest version seen, and equals the leads_flow row unless that row was erased,
    marked deleted by reconcile, or written before the journal existed. An erased lead has no history.
    """
    if isinstance(lead_id, bool) or not isinstance(lead_id, int) or lead_id < 1:
        raise ValueError("lead_id must be a positive integer")
    return _leads(db, "history_of_lead", {"lead_id": lead_id})


# --- the online write --------------------------------------------------------------------------------


def _legacy_datetime(v: Any, key: str) -> Any:
    """What a leads_aggr DATETIME holds: naive Asia/Shanghai, whole seconds (MariaDB truncates)."""
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"{key} is not an ISO datetime") from None
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(TZ).replace(tzinfo=None)
        return v.replace(microsecond=0)
    if isinstance(v, date):
        return datetime.combine(v, time.min)
    raise ValueError(f"{key} must be a datetime")


def _legacy_int(v: Any) -> Any:
    """What a leads_aggr integer column holds; a value that is not an integer is passed on for the rules
    to reject with their own reason code (e.g. flag_invalid)."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str) and _INT_TEXT.fullmatch(v.strip()):
        return int(v.strip())
    return v


def _legacy_row(lead: Mapping[str, Any]) -> tuple:
    unknown = sorted(set(lead) - set(LEGACY_COLUMNS) - set(LEGACY_UNMAPPED))
    if unknown:
        raise ValueError(f"not leads_aggr columns: {', '.join(unknown)}")
    missing = [k for k in ("id", "create_time") if lead.get(k) is None]
    if missing:
        raise ValueError(f"a submitted lead needs {', '.join(missing)} (the values stored in leads_aggr)")
    vals = {c: lead.get(c) for c in LEGACY_COLUMNS}
    for c in _LEGACY_INT:
        vals[c] = _legacy_int(vals[c])
    for c in _LEGACY_DATETIME:
        vals[c] = _legacy_datetime(vals[c], c)
    if vals["is_deleted"] is None:
        vals["is_deleted"] = 0  # NOT NULL DEFAULT 0 in leads_aggr
    if not isinstance(vals["id"], int) or vals["id"] < 1:
        raise ValueError("id must be a positive integer (leads_aggr.id)")
    return tuple(vals[c] for c in LEGACY_COLUMNS)


def submit_lead(
    db: Db,
    cipher: PhoneCipher,
    lead: Mapping[str, Any],
    *,
    settings: Settings | None = None,
    etl_run_id: str = ONLINE_RUN_ID,
    commit: bool = True,
) -> str:
    """Write one lead into leads_flow as the sync pipeline would: idempotent on lead_id, newer wins.

    ``lead`` is the leads_aggr row the service just wrote, keyed by legacy column names (``id``,
    ``phone``, ``unionId``, ``window_url``, ``ip_address``, ``user_agent``, ``from_channel``,
    ``has_tool``, ``is_group``, ``join_time``, ``leads_type``, ``main_business_id``, ``create_time``,
    ``update_time``, ``is_deleted``; ``sales_name``/``follow_id``/``ad_id``/``campaign_id`` are accepted
    and ignored). ``id`` and ``create_time`` are required and ``update_time`` must be what leads_aggr
    stored (None until the row is first updated): source_updated_at is derived from them and decides
    which writer wins, so they must be the legacy values, not the service's clock.

    The row is mapped by the pipeline's :class:`~leads_flow.rules.mapping.Mapper` (same cleaning, same
    token/index/mask, same content_hash; the join-time bound is the one of the daily partition the DAG
    would import the row in) and upserted with publish.sql's rule: an older source_updated_at never
    overwrites a newer one; the same timestamp rewrites only if the content differs. Raises
    :class:`LeadRejected` (reason codes only) when the rules reject the lead; nothing is written then.
    The version is also recorded in the change journal ``leads_flow_history`` (same transaction; a version
    already recorded, e.g. by the sync, is not added again). Commits unless ``commit=False`` (then the
    caller's transaction owns the write).

    Returns :data:`SUBMIT_WRITTEN`, or :data:`SUBMIT_ERASED` when the lead id is recorded in
    ``leads_flow_erasure`` (issue #12): then nothing is written, whatever the row holds, so an online write
    never brings an erased lead's data back. The check and the upsert run in the same transaction.
    """
    if not isinstance(etl_run_id, str) or not 0 < len(etl_run_id) <= 250:
        raise ValueError("etl_run_id must be a string of 1 to 250 characters")
    row = _legacy_row(lead)
    lead_id = row[LEGACY_COLUMNS.index("id")]
    sua = row[LEGACY_COLUMNS.index("update_time")] or row[LEGACY_COLUMNS.index("create_time")]
    partition_end = datetime.combine(sua.date() + timedelta(days=1), time.min)
    mapper = Mapper(cipher, settings or Settings.from_env(), partition_end, etl_run_id, datetime.now())
    mapped = mapper.map_rows([row])
    if mapped.rejects:
        lead_id, reasons = mapped.rejects[0][:2]
        raise LeadRejected(lead_id, tuple(reasons.split(",")))
    params = dict(zip(STAGE_COLUMNS, mapped.staged[0]))

    def write() -> str:
        if db.query("reads_erased", {"lead_id": lead_id}):
            log.info("lead %d is erased: the online write is not applied", lead_id)
            return SUBMIT_ERASED
        db.run("reads_upsert_one", params)
        db.run("history_insert_one", params)  # the change journal: this version, unless already recorded
        return SUBMIT_WRITTEN

    if commit:
        with db.transaction():
            return write()
    return write()

"""The field rules: one declarative table from legacy columns to flow columns.

Each :class:`FieldRule` names the legacy columns it reads, the flow columns it fills and the cleaner
that does it. A cleaner returns the flow values; it rejects a row by calling ``ctx.reject(reason)``
and records a coercion (value changed but row kept) with ``ctx.coerce(what)``. A row may collect
several reasons; all are recorded. Adding a field is one entry in :data:`FIELD_RULES`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import Settings
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.phone import InvalidPhone, contains_mobile, mask_phones_in_text, normalize

# Reject reasons (machine-readable, stored in leads_flow_reject.reasons).
PHONE_INVALID = "phone_invalid"
NO_IDENTITY = "no_identity"
FLAG_INVALID = "flag_invalid"
JOIN_TIME_OUT_OF_RANGE = "join_time_out_of_range"
LEADS_TYPE_UNKNOWN = "leads_type_unknown"
MAIN_BUSINESS_UNKNOWN = "main_business_unknown"
UNION_ID_INVALID = "union_id_invalid"  # a unionId holding a phone number in plain text
REJECT_REASONS = (
    PHONE_INVALID,
    NO_IDENTITY,
    FLAG_INVALID,
    JOIN_TIME_OUT_OF_RANGE,
    LEADS_TYPE_UNKNOWN,
    MAIN_BUSINESS_UNKNOWN,
    UNION_ID_INVALID,
)

LEADS_TYPES = {0: "normal", 1: "internal"}
USER_AGENT_MAX = 1024
UNION_ID_MAX = 64  # leads_flow.union_id and leads_aggr.unionId are VARCHAR(64)


class RowCtx:
    """Per-row scratch state handed to every cleaner (one instance reused across rows)."""

    __slots__ = ("reasons", "coerced", "cipher", "settings", "max_join_time")

    def __init__(self, cipher: PhoneCipher, settings: Settings, partition_end: datetime) -> None:
        self.cipher = cipher
        self.settings = settings
        self.max_join_time = partition_end + timedelta(days=1)
        self.reasons: list[str] = []
        self.coerced: list[str] = []

    def reject(self, reason: str) -> None:
        self.reasons.append(reason)

    def coerce(self, what: str) -> None:
        self.coerced.append(what)


def trim(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def clean_phone(ctx: RowCtx, phone: Any, union_id: Any) -> tuple:
    """Normalise and protect; no phone is fine only when the lead has a unionId."""
    if trim(phone) is None:
        if trim(union_id) is None:
            ctx.reject(NO_IDENTITY)
        return (None, None, None, None)
    try:
        e164 = normalize(str(phone))
    except InvalidPhone:
        ctx.reject(PHONE_INVALID)
        return (None, None, None, None)
    p = ctx.cipher.protect(e164)
    return (p.cipher, p.bidx, p.bidx_kid, p.masked)


def clean_union_id(ctx: RowCtx, v: Any) -> tuple:
    """An identifier cannot be masked or cut without breaking lookups: one carrying a phone, or longer than the
    column (:data:`UNION_ID_MAX` characters), rejects the row (an online writer gets a reason, not a DB error)."""
    s = trim(v)
    if s is not None and (len(s) > UNION_ID_MAX or contains_mobile(s)):
        ctx.reject(UNION_ID_INVALID)
        return (None,)
    return (s,)


def _masked_text(ctx: RowCtx, v: Any, field: str, limit: int | None = None) -> str | None:
    s = trim(v)
    if s is None:
        return None
    masked = mask_phones_in_text(s)
    if masked != s:
        ctx.coerce(f"{field}_phone_masked")
    if limit is not None and len(masked) > limit:
        ctx.coerce(f"{field}_truncated")
        masked = masked[:limit]
    return masked


def clean_window_url(ctx: RowCtx, v: Any) -> tuple:
    """Landing pages may carry the phone in their query string: mask it."""
    return (_masked_text(ctx, v, "window_url", 2048),)


def clean_user_agent(ctx: RowCtx, v: Any) -> tuple:
    return (_masked_text(ctx, v, "user_agent", USER_AGENT_MAX),)


_PLAIN_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}",
    re.ASCII,
)


def parse_ip(v: Any) -> str | None:
    """First valid address of an X-Forwarded-For style list; IPv4-mapped IPv6 shown as IPv4."""
    if v is None:
        return None
    s = v if v.__class__ is str else str(v)
    if _PLAIN_IPV4.fullmatch(s):  # the common case, 4x cheaper than ipaddress
        return s
    for part in s.split(","):
        part = part.strip().strip("[]")
        if _PLAIN_IPV4.fullmatch(part):  # ipaddress accepts exactly these IPv4 forms
            return part
        if ":" in part and (ip := _parse_ipv6(part)) is not None:  # without ':' it is not IPv6 either
            return ip
    return None


@functools.lru_cache(maxsize=4096)  # clients behind the same carrier NAT repeat their addresses
def _parse_ipv6(part: str) -> str | None:
    try:
        addr = ipaddress.ip_address(part)
    except ValueError:
        return None
    if addr.version == 6 and addr.scope_id:  # a zone ('fe80::1%eth0') is local to the client
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:  # type: ignore[union-attr]
        return str(addr.ipv4_mapped)  # type: ignore[union-attr]
    return str(addr)


def clean_ip(ctx: RowCtx, v: Any) -> tuple:
    ip = parse_ip(v)
    if ip is None and trim(v) is not None:
        ctx.coerce("ip_address_unparseable")
    elif ip is not None and ip != v:
        ctx.coerce("ip_address_cleaned")
    return (ip,)


def clean_channel(ctx: RowCtx, v: Any) -> tuple:
    return (_masked_text(ctx, v, "from_channel", 64),)


def _flag(ctx: RowCtx, v: Any) -> int | None:
    if v is None:
        return None
    if v in (0, 1) and not isinstance(v, float):
        return int(v)
    ctx.reject(FLAG_INVALID)
    return None


def clean_flag(ctx: RowCtx, v: Any) -> tuple:
    """0/1 → boolean, NULL stays NULL, anything else rejects the row."""
    return (_flag(ctx, v),)


def clean_join_time(ctx: RowCtx, join_time: Any, create_time: Any) -> tuple:
    jt = join_time if isinstance(join_time, datetime) else None
    if jt is None:
        jt = create_time if isinstance(create_time, datetime) else None
        ctx.coerce("join_time_defaulted")
    if jt is None or jt < ctx.settings.min_join_time or jt > ctx.max_join_time:
        ctx.reject(JOIN_TIME_OUT_OF_RANGE)
        return (None,)
    return (jt,)


def clean_leads_type(ctx: RowCtx, v: Any) -> tuple:
    name = LEADS_TYPES.get(v) if isinstance(v, int) else None
    if name is None:
        ctx.reject(LEADS_TYPE_UNKNOWN)
    return (name,)


def clean_main_business(ctx: RowCtx, v: Any) -> tuple:
    """NULL stays NULL (unknown); a value must be in the allow-list (default: any positive int)."""
    if v is None:
        return (None,)
    allowed = ctx.settings.main_business_ids
    ok = isinstance(v, int) and (v in allowed if allowed is not None else v > 0)
    if not ok:
        ctx.reject(MAIN_BUSINESS_UNKNOWN)
        return (None,)
    return (int(v),)


def clean_is_deleted(ctx: RowCtx, v: Any) -> tuple:
    """Soft deletes propagate."""
    return (1 if v else 0,)


def clean_source_updated_at(ctx: RowCtx, update_time: Any, create_time: Any) -> tuple:
    ts = update_time if isinstance(update_time, datetime) else create_time
    return (ts if isinstance(ts, datetime) else None,)


@dataclass(frozen=True)
class FieldRule:
    flow: tuple[str, ...]
    legacy: tuple[str, ...]
    clean: Callable[..., tuple]


FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule(("phone_cipher", "phone_bidx", "phone_bidx_kid", "phone_masked"), ("phone", "unionId"), clean_phone),
    FieldRule(("union_id",), ("unionId",), clean_union_id),
    FieldRule(("window_url",), ("window_url",), clean_window_url),
    FieldRule(("ip_address",), ("ip_address",), clean_ip),
    FieldRule(("user_agent",), ("user_agent",), clean_user_agent),
    FieldRule(("from_channel",), ("from_channel",), clean_channel),
    FieldRule(("has_tool",), ("has_tool",), clean_flag),
    FieldRule(("join_time",), ("join_time", "create_time"), clean_join_time),
    FieldRule(("leads_type",), ("leads_type",), clean_leads_type),
    FieldRule(("is_group",), ("is_group",), clean_flag),
    FieldRule(("main_business_id",), ("main_business_id",), clean_main_business),
    FieldRule(("is_deleted",), ("is_deleted",), clean_is_deleted),
    FieldRule(("source_updated_at",), ("update_time", "create_time"), clean_source_updated_at),
)

KEY_COLUMN = "id"
LEGACY_COLUMNS: tuple[str, ...] = (KEY_COLUMN,) + tuple(dict.fromkeys(c for r in FIELD_RULES for c in r.legacy))
"""Every legacy column the pipeline reads, in extraction order; all are required."""

MAPPED_COLUMNS: tuple[str, ...] = tuple(c for r in FIELD_RULES for c in r.flow)
ETL_COLUMNS = ("content_hash", "etl_run_id", "etl_loaded_at")
STAGE_COLUMNS: tuple[str, ...] = ("lead_id",) + MAPPED_COLUMNS + ETL_COLUMNS

"""The field rules: one declarative table from legacy columns to flow columns.

Each :class:`FieldRule` names the legacy columns it reads, the flow columns it fills and the cleaner
that does it. A cleaner returns the flow values; it rejects a row by calling ``ctx.reject(reason)``
and records a coercion (value changed but row kept) with ``ctx.coerce(what)``. A row may collect
several reasons; all are recorded. Adding a field is one entry in :data:`FIELD_RULES`.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

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


def _trim(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def clean_phone(ctx: RowCtx, phone: Any, union_id: Any) -> tuple:
    """Normalise and protect; no phone is fine only when the lead has a unionId."""
    if _trim(phone) is None:
        if _trim(union_id) is None:
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
    """An identifier cannot be masked without breaking lookups: one carrying a phone rejects the row."""
    s = _trim(v)
    if s is not None and contains_mobile(s):
        ctx.reject(UNION_ID_INVALID)
        return (None,)
    return (s,)


def _masked_text(ctx: RowCtx, v: Any, field: str, limit: int | None = None) -> str | None:
    s = _trim(v)
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
    if ip is None and _trim(v) is not None:
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
# The fingerprint skips lead_id and the cipher (its nonce differs per call) but keeps the blind index
# and its kid, which stand for the phone deterministically; phone_masked follows from the phone.
_HASHED_PHONE = slice(2, 4)
_HASHED_REST = slice(5, 1 + len(MAPPED_COLUMNS))
FINGERPRINT_COLUMNS: tuple[str, ...] = STAGE_COLUMNS[_HASHED_PHONE] + STAGE_COLUMNS[_HASHED_REST]
"""The columns of the fingerprint, in the order they are encoded (docs/interfaces.md, "Fingerprint")."""
FINGERPRINT_VERSION = 2
"""2: SHA-256 over the canonical encoding below. 1 (before): blake2b over Python's repr() of the values."""

# Canonical encoding (language-neutral; the Java reference module in java/ implements the same):
#   NULL -> 00 | integer -> 01 + 8-byte big-endian two's complement | string -> 02 + 4-byte big-endian
#   length of its UTF-8 bytes + the bytes | datetime (naive) -> 03 + 26 ASCII bytes "YYYY-MM-DD HH:MM:SS.ffffff"
_NULL = b"\x00"
_INT = struct.Struct(">Bq").pack
_STR = struct.Struct(">BI").pack
_DT = b"\x03"
_FIRST8 = struct.Struct(">q").unpack_from
_sha256 = hashlib.sha256
# Precomputed headers of the common cases (string lengths, flags and small ids): the hot path is one lookup.
_STR_HEADERS = [_STR(2, n) for n in range(4096)]
_SMALL_INTS = {n: _INT(1, n) for n in range(-1, 1024)}


def _encode_other(v: Any) -> bytes:
    """The rare cases: bool and int subclasses as integers, long strings, datetime subclasses."""
    if isinstance(v, int):
        return _INT(1, int(v))
    if isinstance(v, str):
        b = str(v).encode()
        return _STR(2, len(b)) + b
    if isinstance(v, datetime) and v.tzinfo is None:
        return _DT + datetime.isoformat(v, " ", "microseconds").encode()
    raise TypeError(f"no canonical encoding for a {type(v).__name__} in the fingerprint")


def fingerprint_payload(values: Sequence[Any]) -> bytes:
    """The canonical bytes of :data:`FINGERPRINT_COLUMNS` taken from a mapped row (lead_id first)."""
    parts: list[bytes] = []
    add = parts.append
    for v in values[_HASHED_PHONE] + values[_HASHED_REST]:
        c = v.__class__
        if c is str:
            b = v.encode()
            n = len(b)
            add(_STR_HEADERS[n] if n < 4096 else _STR(2, n))
            add(b)
        elif v is None:
            add(_NULL)
        elif c is int:
            add(_SMALL_INTS.get(v) or _INT(1, v))
        elif c is datetime and v.tzinfo is None:
            add(_DT)
            add(v.isoformat(" ", "microseconds").encode())
        else:
            add(_encode_other(v))
    return b"".join(parts)


def content_hash(values: Sequence[Any]) -> int:
    """Fingerprint of a mapped row (without the random cipher): the first 8 bytes of SHA-256 over the canonical
    encoding, a signed big-endian 64-bit integer. SHA-256 because both Python's and Java's standard libraries
    have it (Java has no BLAKE2)."""
    return _FIRST8(_sha256(fingerprint_payload(values)).digest())[0]


class Mapped(NamedTuple):
    staged: list[tuple]
    rejects: list[tuple[int, str, tuple, datetime | None]]  # lead_id, reasons, the legacy row, source_updated_at
    coerced: int
    reasons: Counter


def _compile(rules: Sequence[FieldRule]) -> Callable[[Sequence[Any], RowCtx], tuple]:
    """Turn the rule table into one flat function ``(row, ctx) -> mapped tuple``.

    The rules stay declarative; this only removes the per-field loop, argument packing and list
    growth from the hot path (millions of rows a run). The generated source is kept on the function
    (``__source__``) for anyone debugging it.
    """
    pos = {c: i for i, c in enumerate(LEGACY_COLUMNS)}
    env: dict[str, Any] = {}
    parts = []
    for n, rule in enumerate(rules):
        env[f"_c{n}"] = rule.clean
        parts.append(f"*_c{n}(ctx, {', '.join(f'row[{pos[c]}]' for c in rule.legacy)})")
    src = f"def map_row(row, ctx):\n    return (row[{pos[KEY_COLUMN]}], {', '.join(parts)})\n"
    exec(compile(src, "<leads_flow.rules.mapping FIELD_RULES>", "exec"), env)  # noqa: S102 - source built above
    fn = env["map_row"]
    fn.__source__ = src
    return fn


_MAP_ROW = _compile(FIELD_RULES)  # once per process: every Mapper (and each online submit_lead) shares it


class Mapper:
    """Applies :data:`FIELD_RULES` to legacy rows (tuples in :data:`LEGACY_COLUMNS` order).

    A rejected row comes back as it was read; only the writer of ``leads_flow_reject`` turns it into stored
    values (:func:`protected_raw`), so reads and reconcile, which only need the reasons, never encrypt it.
    """

    def __init__(
        self, cipher: PhoneCipher, settings: Settings, partition_end: datetime, etl_run_id: str, loaded_at: datetime
    ) -> None:
        self.ctx = RowCtx(cipher, settings, partition_end)
        self._map_row = _MAP_ROW
        self._sua = MAPPED_COLUMNS.index("source_updated_at") + 1
        self._etl = (etl_run_id, loaded_at)
        self.etl_run_id = etl_run_id
        self.loaded_at = loaded_at

    def map_rows(self, rows: Iterable[Sequence[Any]]) -> Mapped:
        staged: list[tuple] = []
        rejects: list[tuple[int, str, str, datetime | None]] = []
        reasons: Counter = Counter()
        coerced = 0
        ctx = self.ctx
        map_row = self._map_row
        etl = self._etl
        append = staged.append
        for row in rows:
            ctx.reasons = row_reasons = []
            ctx.coerced = row_coerced = []
            out = map_row(row, ctx)
            if row_reasons:
                codes = sorted(set(row_reasons))
                reasons.update(codes)
                rejects.append((out[0], ",".join(codes), tuple(row), out[self._sua]))
                continue
            if row_coerced:
                coerced += 1
            append((*out, content_hash(out), *etl))
        return Mapped(staged, rejects, coerced, reasons)


NO_VERSION = datetime(1000, 1, 1)
"""``leads_flow_reject.source_version`` of a reject whose source time is unknown (the column is a key part)."""
_PHONE_AT = LEGACY_COLUMNS.index("phone")


def reject_values(
    lead_id: int, reasons: str, row: Sequence[Any], source_updated_at: datetime | None, cipher: PhoneCipher
) -> tuple:
    """A reject as ``leads_flow_reject`` stores it: ``(lead_id, reasons, raw_values, source_updated_at,
    source_version, phone_bidx, phone_bidx_kid)``. The blind index (active kid) is of the raw phone when it
    normalises, so erasure and rekey find the reject without decrypting the table; else both are NULL."""
    bidx = kid = None
    phone = _trim(row[_PHONE_AT])
    if phone is not None:
        try:
            bidx, kid = cipher.bidx(normalize(str(phone))), cipher.active_bidx_kid
        except InvalidPhone:
            pass
    raw = protected_raw(row, cipher)
    return (lead_id, reasons, raw, source_updated_at, source_updated_at or NO_VERSION, bidx, kid)


def protected_raw(row: Sequence[Any], cipher: PhoneCipher) -> str:
    """A rejected row's legacy values as stored in leads_flow_reject: the phone e1-encrypted (raw purpose),
    phones inside text masked, datetimes in ISO form."""
    raw: dict[str, Any] = {}
    for col, v in zip(LEGACY_COLUMNS, row):
        if col == "phone" and v is not None:
            raw[col] = cipher.encrypt_raw(str(v))
        elif isinstance(v, str):
            raw[col] = mask_phones_in_text(v)
        elif isinstance(v, (datetime, date)):
            raw[col] = v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
        else:
            raw[col] = v
    return json.dumps(raw, ensure_ascii=False, default=str)

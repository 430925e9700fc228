"""The Mapper: legacy rows through the field rules of :mod:`leads_flow.rules.fields`, compiled once per process,
into staged rows (phone protected, fields cleaned, fingerprinted) and rejects with their reasons."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from leads_flow.config import Settings
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import FIELD_RULES, KEY_COLUMN, LEGACY_COLUMNS, MAPPED_COLUMNS, FieldRule, RowCtx, trim
from leads_flow.rules.fingerprint import content_hash
from leads_flow.rules.phone import InvalidPhone, mask_phones_in_text, normalize


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
        self,
        cipher: PhoneCipher,
        settings: Settings,
        partition_end: datetime,
        etl_run_id: str,
        loaded_at: datetime,
        days_of: tuple[datetime, datetime] | None = None,
    ) -> None:
        self.ctx = RowCtx(cipher, settings, partition_end)
        # A bulk partition spans many days: ``days_of`` (the window) bounds each row's join_time by the end of
        # the daily partition that would have read it, so the bulk path rejects exactly what the daily one does.
        self._days_of = days_of
        self._first_end = days_of and min(_next_midnight(days_of[0]), days_of[1])
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
        days_of, first_end = self._days_of, self._first_end
        for row in rows:
            if days_of is not None:
                sua = row[_UPDATE_AT] or row[_CREATE_AT]
                day_end = _next_midnight(sua) if isinstance(sua, datetime) else days_of[1]
                ctx.max_join_time = max(first_end, min(day_end, days_of[1])) + _ONE_DAY
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


_UPDATE_AT, _CREATE_AT = LEGACY_COLUMNS.index("update_time"), LEGACY_COLUMNS.index("create_time")
_ONE_DAY = timedelta(days=1)


def _next_midnight(ts: datetime) -> datetime:
    return datetime.combine(ts.date() + _ONE_DAY, datetime.min.time())


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
    phone = trim(row[_PHONE_AT])
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

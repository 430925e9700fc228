"""The online write a service does when a lead submits (docs/interfaces.md): the row built by the sync pipeline's
own :class:`~leads_flow.rules.mapping.Mapper` from the legacy-shaped row, upserted with publish.sql's newer-wins
rule and recorded in the change journal, so a lead written here and the same lead imported by the DAG are the
same row. It answers ``"written"``, or ``"erased"`` without writing when the lead id is in ``leads_flow_erasure``
(an online write never resurrects an erased lead).

SQL: include/sql/submit/ (reads_upsert_one.sql, history_insert_one.sql, reads_erased.sql).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from leads_flow.config import TZ, Settings
from leads_flow.io.db import Db
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.mapping import Mapper

log = logging.getLogger(__name__)


ONLINE_RUN_ID = "online"
"""``etl_run_id`` of rows written by :func:`submit_lead` unless the caller names its service."""


SUBMIT_WRITTEN = "written"
""":func:`submit_lead`: the row went through the newer-wins upsert (which may keep a newer stored row)."""


SUBMIT_ERASED = "erased"
""":func:`submit_lead`: the lead id is in leads_flow_erasure; nothing was written."""


# Legacy columns an online writer may pass that leads_flow does not carry (they stay in leads_aggr).
LEGACY_UNMAPPED = ("sales_name", "follow_id", "ad_id", "campaign_id")


_LEGACY_INT = ("id", "has_tool", "is_group", "leads_type", "main_business_id", "is_deleted")


_LEGACY_DATETIME = ("join_time", "create_time", "update_time")


_INT_TEXT = re.compile(r"-?[0-9]+", re.ASCII)


class LeadRejected(ValueError):
    """The field rules reject the lead (same codes as leads_flow_reject.reasons); nothing was written.

    The message and ``reasons`` carry reason codes only, never a value of the lead.
    """

    def __init__(self, lead_id: int, reasons: tuple[str, ...]) -> None:
        super().__init__(f"lead {lead_id} rejected by the field rules: {', '.join(reasons)}")
        self.lead_id = lead_id
        self.reasons = reasons


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
    ``leads_flow_erasure``: then nothing is written, whatever the row holds, so an online write
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

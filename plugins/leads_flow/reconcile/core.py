"""Reconcile: compare ``leads_aggr`` with ``leads_flow`` window by window, report drift, repair it.

The dual-write period needs a number that says when ``leads_aggr`` can stop being the source of truth;
this module computes it. The DAG ``leads_flow_reconcile`` runs it as plan → (compare → repair) per day →
summary; the tests drive the same functions.

**Windows.** A window owns the legacy rows whose ``COALESCE(update_time, create_time)`` lies in it, like a
sync partition but without the overlap: every legacy row is judged in exactly one window.

**Compare** (:func:`reconcile_window`) merge-joins two id-sorted streams, so memory does not grow with the
window and the two tables may live on different servers:

- legacy rows of the window by ``id``, read in chunks through a server-side cursor, each mapped by the
  sync's own :class:`~leads_flow.rules.mapping.Mapper` (same rules) and fingerprinted by
  :func:`~leads_flow.rules.mapping.content_hash`;
- ``leads_flow`` rows whose ``source_updated_at`` lies in the window, by ``lead_id``, fingerprinted by the
  same function from their stored columns (so a column edited under an unchanged stored ``content_hash``
  still shows). The phone enters both fingerprints as its blind index and kid.

Rows of one side without a partner in the other stream are looked up by primary key in batches. Each
legacy row gets one verdict (a *drift class* or a match):

================== =========================================================================================
``rejected_by_rule`` the field rules reject the legacy row: expected, reported apart, not in the match rate
``missing_in_flow``  no flow row at all
``stale_in_flow``    the flow row is older (legacy ``source_updated_at`` is newer: not yet synced)
``flow_ahead``       the flow row is newer than legacy (a write reached flow but not legacy): investigate
``phone_drift``      same timestamp, different fingerprint, and the blind index differs (or one of the
                     ``decrypt_sample`` tokens does not decrypt to the normalised legacy phone)
``field_drift``      same timestamp, different fingerprint, same blind index
================== =========================================================================================

and a flow row of the window whose lead is gone from ``leads_aggr`` entirely is ``missing_in_legacy``: a
hard delete, marked ``is_deleted = 1`` in ``leads_flow`` (never deleted). A flow row whose legacy row now
lies in another window is not judged here (``flow_moved``): that window judges it.

``match_rate = matched / (legacy rows - rejected_by_rule)``. Results: ``leads_flow_drift`` (one row per
non-matching lead; ``detail`` holds field names, reason codes and time differences, never a value) and
``leads_flow_reconcile_run`` (one row per window, one per run). Nothing here logs or stores a phone.

**Repair** (:func:`repair_window`) re-syncs the window's ``next_action`` ``repair`` and ``rewrite`` leads
through the sync pipeline itself: :func:`~leads_flow.io.stage.stage_partition` with ``ids`` →
:func:`leads_flow.tasks.sync.gate` → :func:`leads_flow.tasks.sync.publish` (same mapping, same gate, same
newer-wins upsert), then checks each repaired lead again and records the outcome on its drift row.
``rewrite`` leads (content changed under a stored fingerprint equal to the legacy one, or a token that
is not the legacy phone) first have their stored ``content_hash`` cleared: the upsert rewrites a
same-timestamp row only when the fingerprints differ. ``flow_ahead`` is never overwritten (newer wins).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from leads_flow.config import FLOW_CONN_ID, LEGACY_CONN_ID, PII_CONN_ID, TZ, ConfigError, Settings
from leads_flow.io.cleanup import drift_retention_days, purge_drift
from leads_flow.io.db import Db, PermanentDbError, connected, retrying
from leads_flow.io.extract import check_legacy_schema, read_window, to_datetime, typed_legacy_rows
from leads_flow.io.progress import Progress
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.rules.crypto import KeyringError, PhoneCipher, TokenError, UnknownKid, load_keyring
from leads_flow.rules.mapping import (
    JOIN_TIME_OUT_OF_RANGE,
    LEGACY_COLUMNS,
    MAPPED_COLUMNS,
    STAGE_COLUMNS,
    Mapper,
    content_hash,
)
from leads_flow.rules.phone import InvalidPhone, normalize
from leads_flow.window import Partition, partitions, resolve_window

log = logging.getLogger(__name__)

DAG_ID = "leads_flow_reconcile"
DRIFT_TABLE = "leads_flow_drift"
RECONCILE_RUN_TABLE = "leads_flow_reconcile_run"

# Drift classes (leads_flow_drift.drift_class).
MISSING_IN_FLOW = "missing_in_flow"
MISSING_IN_LEGACY = "missing_in_legacy"
FIELD_DRIFT = "field_drift"
PHONE_DRIFT = "phone_drift"
STALE_IN_FLOW = "stale_in_flow"
FLOW_AHEAD = "flow_ahead"
REJECTED_BY_RULE = "rejected_by_rule"
DRIFT_CLASSES = (
    MISSING_IN_FLOW,
    MISSING_IN_LEGACY,
    FIELD_DRIFT,
    PHONE_DRIFT,
    STALE_IN_FLOW,
    FLOW_AHEAD,
    REJECTED_BY_RULE,
)
BLOCKING = (MISSING_IN_FLOW, FIELD_DRIFT, PHONE_DRIFT, STALE_IN_FLOW, FLOW_AHEAD)
"""Classes that must have no open row for the range to be cutover-ready."""

# What the reconcile did or wants done (leads_flow_drift.next_action).
ACTION_REPAIR = "repair"  # re-sync through the pipeline (repair=True does it)
ACTION_REWRITE = "rewrite"  # same, after clearing the stored fingerprint the upsert would trust
ACTION_MARKED_DELETED = "marked_deleted"  # hard delete: leads_flow.is_deleted set by this compare
ACTION_INVESTIGATE = "investigate"  # flow_ahead: the upsert will not overwrite a newer row; a person looks
ACTION_WAIT = "wait"  # a hard delete younger than HARD_DELETE_GRACE: judged by a later run
ACTION_NONE = "none"  # expected (rejects) or already handled (already marked deleted)
OPEN_ACTIONS = (ACTION_REPAIR, ACTION_REWRITE, ACTION_INVESTIGATE, ACTION_WAIT)

CHUNK_ROWS = 5_000
"""Legacy rows mapped at a time; with LOOKUP_BATCH it bounds the compare's memory."""
LOOKUP_BATCH = 1_000
"""Primary-key lookups and drift rows are batched by this many ids."""
REPAIR_BATCH = 50_000
"""Leads per stage → gate → publish cycle of a repair."""
MAX_DECRYPT_SAMPLE = 1_000
HARD_DELETE_GRACE = timedelta(minutes=15)
"""A flow row this young without a legacy row may be an in-flight dual write: not marked yet."""

_HASH = STAGE_COLUMNS.index("content_hash")
_BIDX = STAGE_COLUMNS.index("phone_bidx")
_KID = STAGE_COLUMNS.index("phone_bidx_kid")
_SUA = STAGE_COLUMNS.index("source_updated_at")
_DELETED = STAGE_COLUMNS.index("is_deleted")
_TOKEN = STAGE_COLUMNS.index("phone_cipher")
_PHONE_COLUMNS = ("phone_cipher", "phone_bidx", "phone_bidx_kid", "phone_masked")
# Field names compared one by one to explain a drifting fingerprint (the phone is compared by its index).
_DIFF_FIELDS = tuple((i, c) for i, c in enumerate(STAGE_COLUMNS) if c in MAPPED_COLUMNS and c not in _PHONE_COLUMNS)
_FLOW_COLUMNS = STAGE_COLUMNS[: _HASH + 1]  # lead_id .. content_hash: the mapped row and its stored fingerprint
_FLOW_COLUMNS_SQL = ", ".join(_FLOW_COLUMNS)
_FLOW_DATETIMES = tuple(i for i, c in enumerate(_FLOW_COLUMNS) if c in ("join_time", "source_updated_at"))
_PHONE = LEGACY_COLUMNS.index("phone")

_COUNTS = (
    "legacy_rows",
    "flow_rows",
    "expected_rows",
    "matched",
    MISSING_IN_FLOW,
    MISSING_IN_LEGACY,
    FIELD_DRIFT,
    PHONE_DRIFT,
    STALE_IN_FLOW,
    FLOW_AHEAD,
    REJECTED_BY_RULE,
    "marked_deleted",
    "flow_moved",
    "phone_sampled",
    "phone_sample_failed",
)


# --- schema ------------------------------------------------------------------------------------------


def ensure_reconcile_schema(db: Db) -> None:
    """Create the pipeline's tables (the compare reads leads_flow) and the reconcile's own, idempotently."""
    ensure_flow_schema(db)
    db.run("reconcile_ddl")
    db.conn.commit()


# --- rows on both sides ------------------------------------------------------------------------------


class FlowRow(NamedTuple):
    """A leads_flow row as the compare reads it: the mapped columns typed like the Mapper's output, and the
    fingerprint recomputed from them by :func:`~leads_flow.rules.mapping.content_hash`, the same function the
    legacy side goes through (the stored ``content_hash`` is not trusted to describe the stored columns)."""

    lead_id: int
    row: tuple
    fingerprint: int

    @property
    def bidx(self) -> int | None:
        return self.row[_BIDX]

    @property
    def kid(self) -> str | None:
        return self.row[_KID]

    @property
    def sua(self) -> datetime:
        return self.row[_SUA]

    @property
    def stored_hash(self) -> int | None:
        return self.row[_HASH]

    @property
    def is_deleted(self) -> int:
        return int(self.row[_DELETED] or 0)

    @property
    def token(self) -> str | None:
        return self.row[_TOKEN]


class LegacyItem(NamedTuple):
    """One legacy row after the field rules: ``staged`` when accepted, ``reasons`` when rejected.

    ``phone`` is the raw legacy value, kept only to re-derive a blind index under another kid and to check a
    decrypt sample; it is never logged or stored.
    """

    lead_id: int
    sua: datetime | None
    staged: tuple | None
    reasons: str | None
    is_deleted: int
    phone: Any


_dt = to_datetime


def _flow_row(row: Sequence[Any]) -> FlowRow:
    r = list(row)
    for i in _FLOW_DATETIMES:  # SQLite keeps DATETIME as text
        r[i] = _dt(r[i])
    r[0] = int(r[0])
    return FlowRow(r[0], tuple(r), content_hash(r))


class RowMapper:
    """Applies the field rules to legacy rows exactly as the sync partition that publishes them would.

    The join-time rule depends on the partition's end. A row in the last ``overlap_minutes`` of a day is
    also read by the next day's sync partition, whose bound is a day later; such a row rejected only for
    ``join_time_out_of_range`` is mapped again with that bound, as the sync would have loaded it.
    """

    def __init__(self, cipher: PhoneCipher, settings: Settings, partition: Partition, etl_run_id: str) -> None:
        now = datetime.now()
        index_only: Any = cipher.index_only()
        self.main = Mapper(index_only, settings, partition.end, etl_run_id, now)
        self.tail = Mapper(index_only, settings, partition.end + timedelta(days=1), etl_run_id, now)
        self.tail_from = partition.end - timedelta(minutes=settings.overlap_minutes)
        self.has_tail = settings.overlap_minutes > 0

    def map(self, rows: Sequence[tuple]) -> list[LegacyItem]:
        """LegacyItems in the order of ``rows``."""
        mapped = self.main.map_rows(rows)
        staged = {r[0]: r for r in mapped.staged}
        rejected = {r[0]: (r[1], r[3]) for r in mapped.rejects}
        if self.has_tail and rejected:
            retry = [
                row
                for row in rows
                if row[0] in rejected
                and rejected[row[0]][0] == JOIN_TIME_OUT_OF_RANGE
                and rejected[row[0]][1] is not None
                and rejected[row[0]][1] >= self.tail_from
            ]
            if retry:
                for r in self.tail.map_rows(retry).staged:
                    staged[r[0]] = r
                    del rejected[r[0]]
        out = []
        deleted = LEGACY_COLUMNS.index("is_deleted")
        for row in rows:
            lid = row[0]
            if lid in staged:
                s = staged[lid]
                out.append(LegacyItem(int(lid), s[_SUA], s, None, int(bool(row[deleted])), row[_PHONE]))
            else:
                reasons, sua = rejected[lid]
                out.append(LegacyItem(int(lid), sua, None, reasons, int(bool(row[deleted])), row[_PHONE]))
        return out


class Verdict(NamedTuple):
    drift_class: str | None  # None: the rows match
    detail: dict[str, Any]
    action: str = ACTION_NONE


def classify(item: LegacyItem, flow: FlowRow | None, cipher: PhoneCipher) -> Verdict:
    """The verdict on one legacy row against its flow row (None: no flow row at all)."""
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
    if phone_differs or staged[_KID] == flow.kid:
        legacy_hash = staged[_HASH]
    else:  # same phone indexed under another bidx kid (key rotation): fingerprint it under the stored kid
        staged = staged[:_BIDX] + (flow.bidx, flow.kid) + staged[_KID + 1 :]
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
    action = ACTION_REWRITE if flow.stored_hash == item.staged[_HASH] else ACTION_REPAIR
    return Verdict(PHONE_DRIFT if phone_differs else FIELD_DRIFT, {"fields": fields}, action)


def _phone_differs(item: LegacyItem, flow: FlowRow, cipher: PhoneCipher) -> bool:
    """Does the legacy phone (normalised, blind-indexed) differ from the stored one? Compared under the
    kid the flow row was indexed with, so a bidx key rotation is not taken for drift."""
    staged = item.staged
    if staged[_BIDX] is None or flow.bidx is None:
        return (staged[_BIDX] is None) != (flow.bidx is None)
    if staged[_KID] == flow.kid:
        return staged[_BIDX] != flow.bidx
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


def _ids_sql(ids: Iterable[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


def _detail(d: Mapping[str, Any]) -> str | None:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str) if d else None


def short_id(s: str, limit: int = 250) -> str:
    """Run ids fit the 250-character columns; a longer one keeps its head and a hash of the whole."""
    if len(s) <= limit:
        return s
    return s[: limit - 17] + "~" + hashlib.sha1(s.encode()).hexdigest()[:16]


# --- results -----------------------------------------------------------------------------------------


@dataclass
class WindowResult:
    """Counts of one compared window (small: this is what goes through XCom)."""

    reconcile_run_id: str
    window_start: str
    window_end: str
    legacy_rows: int = 0
    flow_rows: int = 0
    matched: int = 0
    missing_in_flow: int = 0
    missing_in_legacy: int = 0
    field_drift: int = 0
    phone_drift: int = 0
    stale_in_flow: int = 0
    flow_ahead: int = 0
    rejected_by_rule: int = 0
    marked_deleted: int = 0
    flow_moved: int = 0
    phone_sampled: int = 0
    phone_sample_failed: int = 0
    repairable: int = 0
    seconds: float = 0.0

    @property
    def expected_rows(self) -> int:
        """Legacy rows that should be in leads_flow: all but the expected rejects."""
        return self.legacy_rows - self.rejected_by_rule

    @property
    def match_rate(self) -> float | None:
        return self.matched / self.expected_rows if self.expected_rows else None

    @property
    def drift(self) -> dict[str, int]:
        return {c: getattr(self, c) for c in DRIFT_CLASSES if getattr(self, c)}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "expected_rows": self.expected_rows, "match_rate": self.match_rate}


@dataclass
class RepairResult:
    reconcile_run_id: str
    window_start: str
    repaired: int = 0
    fixed: int = 0
    still: dict[str, int] = field(default_factory=dict)
    etl_run_ids: list[str] = field(default_factory=list)
    published: int = 0
    match_rate_after_repair: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- compare -----------------------------------------------------------------------------------------


def _merge(left: Iterator[LegacyItem], right: Iterator[FlowRow]) -> Iterator[tuple[LegacyItem | None, FlowRow | None]]:
    """Full outer merge-join of two streams sorted by lead id."""
    lv, rv = next(left, None), next(right, None)
    while lv is not None or rv is not None:
        if rv is None or (lv is not None and lv.lead_id < rv.lead_id):
            yield lv, None
            lv = next(left, None)
        elif lv is None or rv.lead_id < lv.lead_id:
            yield None, rv
            rv = next(right, None)
        else:
            yield lv, rv
            lv, rv = next(left, None), next(right, None)


class _Compare:
    """The state of one window's compare: counters, bounded buffers, the drift sink."""

    def __init__(
        self,
        *,
        cipher: PhoneCipher,
        settings: Settings,
        partition: Partition,
        run_id: str,
        legacy: Db,
        flow: Db,
        res: WindowResult,
        decrypt_sample: int,
        now: datetime,
    ) -> None:
        self.cipher, self.settings, self.partition, self.run_id = cipher, settings, partition, run_id
        self.legacy, self.flow, self.res, self.now = legacy, flow, res, now
        # Legacy times are naive Asia/Shanghai: the hard-delete grace is measured on that clock.
        self.grace_from = datetime.now(TZ).replace(tzinfo=None) - HARD_DELETE_GRACE
        self.want_flow: list[LegacyItem] = []  # legacy rows without a partner in the flow stream
        self.want_legacy: list[FlowRow] = []  # flow rows without a partner in the legacy stream
        self.drift: list[tuple] = []  # drift rows to insert
        self.sample_k = max(0, min(int(decrypt_sample), MAX_DECRYPT_SAMPLE))
        self.sample: list[tuple[int, str, Any]] = []
        self.seen_for_sample = 0
        self.rng = random.Random(f"{run_id}|{partition.start.isoformat()}")

    # streams
    def legacy_items(self, db: Db, mapper: RowMapper) -> Iterator[LegacyItem]:
        progress = Progress(f"reconcile {self.partition.label}", log)
        for chunk in db.stream(
            "reconcile_legacy_window",
            {"start": self.partition.start, "end": self.partition.end},
            CHUNK_ROWS,
            legacy=self.settings.legacy_table,
            columns=", ".join(LEGACY_COLUMNS),
        ):
            self.res.legacy_rows += len(chunk)
            yield from mapper.map(typed_legacy_rows(db, chunk))
            progress.update(self.res.legacy_rows)
        progress.done(self.res.legacy_rows)

    def flow_rows(self, db: Db) -> Iterator[FlowRow]:
        for chunk in db.stream(
            "reconcile_flow_window",
            {"start": self.partition.start, "end": self.partition.end},
            CHUNK_ROWS,
            columns=_FLOW_COLUMNS_SQL,
        ):
            self.res.flow_rows += len(chunk)
            for row in chunk:
                yield _flow_row(row)

    # verdicts
    def pair(self, item: LegacyItem | None, flow: FlowRow | None) -> None:
        if item is None:
            self.want_legacy.append(flow)
            if len(self.want_legacy) >= LOOKUP_BATCH:
                self.flush_want_legacy()
        elif flow is None:
            self.want_flow.append(item)
            if len(self.want_flow) >= LOOKUP_BATCH:
                self.flush_want_flow()
        else:
            self.judge(item, flow)

    def judge(self, item: LegacyItem, flow: FlowRow | None) -> None:
        v = classify(item, flow, self.cipher)
        if v.drift_class is None:
            self.res.matched += 1
            if self.sample_k and flow.token is not None and item.phone is not None:
                self._offer_sample(item.lead_id, flow.token, item.phone)
            return
        setattr(self.res, v.drift_class, getattr(self.res, v.drift_class) + 1)
        if v.action in (ACTION_REPAIR, ACTION_REWRITE):
            self.res.repairable += 1
        self.add(item.lead_id, v.drift_class, v.action, v.detail, item.sua, flow.sua if flow else None)

    def _offer_sample(self, lead_id: int, token: str, phone: Any) -> None:
        """Reservoir sampling: every matched row with a phone has the same chance to be decrypted."""
        self.seen_for_sample += 1
        if len(self.sample) < self.sample_k:
            self.sample.append((lead_id, token, phone))
        else:
            j = self.rng.randrange(self.seen_for_sample)
            if j < self.sample_k:
                self.sample[j] = (lead_id, token, phone)

    def add(
        self,
        lead_id: int,
        cls: str,
        action: str,
        detail: Mapping[str, Any],
        legacy_sua: datetime | None,
        flow_sua: datetime | None,
    ) -> None:
        self.drift.append((lead_id, cls, action, dict(detail), legacy_sua, flow_sua))
        if len(self.drift) >= LOOKUP_BATCH:
            self.flush_drift()

    # batched lookups
    def flush_want_flow(self) -> None:
        items, self.want_flow = self.want_flow, []
        if not items:
            return
        found = {
            f.lead_id: f
            for f in map(
                _flow_row,
                self.flow.query(
                    "reconcile_flow_ids", {}, columns=_FLOW_COLUMNS_SQL, ids=_ids_sql(i.lead_id for i in items)
                ),
            )
        }
        for item in items:
            self.judge(item, found.get(item.lead_id))

    def flush_want_legacy(self) -> None:
        rows, self.want_legacy = self.want_legacy, []
        if not rows:
            return
        present = {
            int(r[0])
            for r in self.legacy.query(
                "reconcile_legacy_ids", {}, legacy=self.settings.legacy_table, ids=_ids_sql(f.lead_id for f in rows)
            )
        }
        for f in rows:
            if f.lead_id in present:
                self.res.flow_moved += 1  # judged in the window of its legacy row
                continue
            self.res.missing_in_legacy += 1
            if f.is_deleted:
                action, detail = ACTION_NONE, {"flow_is_deleted": 1}
            elif f.sua >= self.grace_from:
                action, detail = ACTION_WAIT, {"flow_is_deleted": 0, "grace_s": int(HARD_DELETE_GRACE.total_seconds())}
            else:
                action, detail = ACTION_MARKED_DELETED, {"flow_is_deleted": 0}
                self.res.marked_deleted += 1
            self.add(f.lead_id, MISSING_IN_LEGACY, action, detail, None, f.sua)

    def flush_drift(self) -> None:
        rows, self.drift = self.drift, []
        if not rows:
            return
        p = self.partition
        with self.flow.transaction():
            self.flow.executemany(
                "reconcile_drift_insert",
                [
                    (self.run_id, p.start, p.end, lid, cls, action, _detail(detail), lsua, fsua, self.now)
                    for lid, cls, action, detail, lsua, fsua in rows
                ],
            )

    def check_sample(self) -> None:
        """Decrypt the sampled tokens of matching rows; one that is not the normalised legacy phone is drift
        the blind index cannot see (a token written for another phone)."""
        for lead_id, token, phone in sorted(self.sample):
            self.res.phone_sampled += 1
            try:
                ok = self.cipher.decrypt(token) == normalize(str(phone))
                why = "mismatch"
            except (TokenError, InvalidPhone) as exc:
                ok, why = False, type(exc).__name__
            if ok:
                continue
            self.res.phone_sample_failed += 1
            self.res.matched -= 1
            self.res.phone_drift += 1
            self.res.repairable += 1
            # The fingerprint matched, so the upsert alone would keep this token: rewrite.
            self.add(lead_id, PHONE_DRIFT, ACTION_REWRITE, {"check": "decrypt_sample", "result": why}, None, None)
        self.sample = []

    def finish(self) -> None:
        self.flush_want_flow()
        self.flush_want_legacy()
        self.check_sample()
        self.flush_drift()


def reconcile_window(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    *,
    decrypt_sample: int = 0,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    now: datetime | None = None,
) -> WindowResult:
    """Compare one window; write its drift rows and its ``leads_flow_reconcile_run`` row; mark hard deletes.

    Safe to retry: the window's rows of this run are replaced, and marking a deleted lead twice is a no-op.
    """
    run_id = short_id(run_id)
    try:
        return retrying(
            lambda: _reconcile_once(
                partition,
                run_id,
                cipher,
                settings,
                decrypt_sample,
                dag_id,
                dag_run_id,
                legacy_conn_id,
                flow_conn_id,
                now,
            ),
            what=f"reconcile {partition.label}",
        )
    except Exception as exc:
        try:
            with connected(flow_conn_id) as flow, flow.transaction():
                flow.run(
                    "reconcile_window_failed",
                    {
                        "run_id": run_id,
                        "window_start": partition.start,
                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                        "now": datetime.now(),
                    },
                )
        except Exception:  # noqa: BLE001 - the original error matters more
            log.warning("could not record the failure of reconcile %s %s", run_id, partition.label)
        raise


def _reconcile_once(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    decrypt_sample: int,
    dag_id: str | None,
    dag_run_id: str | None,
    legacy_conn_id: str,
    flow_conn_id: str,
    now: datetime | None,
) -> WindowResult:
    t0 = time.perf_counter()
    now = now or datetime.now()
    res = WindowResult(run_id, partition.start.isoformat(), partition.end.isoformat())
    with ExitStack() as stack:
        # MySQL: a server-side cursor owns its connection until exhausted, so each stream gets its own and
        # lookups and writes use a third and fourth. SQLite: one connection per file (a second writer would
        # wait for our own open read).
        legacy_stream = stack.enter_context(connected(legacy_conn_id))
        flow_stream = stack.enter_context(connected(flow_conn_id))
        legacy = legacy_stream if legacy_stream.dialect == "sqlite" else stack.enter_context(connected(legacy_conn_id))
        flow = flow_stream if flow_stream.dialect == "sqlite" else stack.enter_context(connected(flow_conn_id))
        check_legacy_schema(legacy, settings)
        ensure_reconcile_schema(flow)
        with flow.transaction():
            flow.run(
                "reconcile_window_start",
                {
                    "run_id": run_id,
                    "window_start": partition.start,
                    "window_end": partition.end,
                    "dag_id": dag_id,
                    "dag_run_id": dag_run_id,
                    "now": now,
                },
            )
        cmp = _Compare(
            cipher=cipher,
            settings=settings,
            partition=partition,
            run_id=run_id,
            legacy=legacy,
            flow=flow,
            res=res,
            decrypt_sample=decrypt_sample,
            now=now,
        )
        mapper = RowMapper(cipher, settings, partition, f"reconcile:{run_id}")
        legacy_items = cmp.legacy_items(legacy_stream, mapper)
        for item, flow_row in _merge(legacy_items, cmp.flow_rows(flow_stream)):
            cmp.pair(item, flow_row)
        cmp.finish()
        res.seconds = round(time.perf_counter() - t0, 3)
        with flow.transaction():
            if res.marked_deleted:
                flow.run(
                    "reconcile_mark_deleted",
                    {
                        "run_id": run_id,
                        "window_start": partition.start,
                        "etl_run_id": short_id(f"reconcile:{run_id}"),
                        "now": now,
                    },
                )
            flow.run(
                "reconcile_window_done",
                {
                    **{k: v for k, v in res.to_dict().items() if k in _COUNTS},
                    "match_rate": res.match_rate,
                    "drift_by_class": json.dumps(res.drift, sort_keys=True),
                    "seconds": res.seconds,
                    "now": datetime.now(),
                    "run_id": run_id,
                    "window_start": partition.start,
                },
            )
    rate = "n/a" if res.match_rate is None else f"{res.match_rate:.4%}"
    log.info(
        "reconcile %s: legacy=%d flow=%d expected=%d matched=%d match rate %s; drift %s; flow_moved=%d; "
        "decrypt sample %d/%d ok; %.1fs (%.0f rows/s)",
        partition.label,
        res.legacy_rows,
        res.flow_rows,
        res.expected_rows,
        res.matched,
        rate,
        res.drift or "none",
        res.flow_moved,
        res.phone_sampled - res.phone_sample_failed,
        res.phone_sampled,
        res.seconds,
        res.legacy_rows / max(res.seconds, 1e-9),
    )
    return res


# --- repair ------------------------------------------------------------------------------------------


def repair_window(
    partition: Partition,
    run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    *,
    dag_id: str | None = DAG_ID,
    dag_run_id: str | None = None,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    expected_rows: int | None = None,
    matched: int | None = None,
    batch: int = REPAIR_BATCH,
) -> RepairResult:
    """Re-sync the window's ``next_action = 'repair'`` leads through the sync pipeline, then check each again.

    stage (:func:`~leads_flow.io.stage.stage_partition` with ``ids``; the window bounds join_time as in the
    sync) → the data-quality gate → publish (newer wins): a ``leads_flow_run`` row per batch, with this
    DAG's id, audits it like any sync run. The gate's reject ratio does not apply (a repair batch is a
    handful of chosen leads; one that the rules now reject is recorded in ``leads_flow_reject`` and is
    reported by the next compare). Every drift row gets ``repair_result``: ``fixed``, ``gone`` or the
    class still found.
    """
    from leads_flow.io.stage import stage_partition
    from leads_flow.tasks import sync as pipeline

    t0 = time.perf_counter()
    run_id = short_id(run_id)
    out = RepairResult(run_id, partition.start.isoformat())
    with connected(flow_conn_id) as flow, flow.transaction():
        key = {"run_id": run_id, "window_start": partition.start}
        ids = [int(r[0]) for r in flow.query("reconcile_repair_ids", key)]
        if ids:
            flow.run("reconcile_invalidate_fingerprint", key)
    still: Counter = Counter()
    gate_params = {"max_reject_ratio": 1.0, "overlap_minutes": settings.overlap_minutes}
    for n, start in enumerate(range(0, len(ids), batch)):
        chunk = ids[start : start + batch]
        etl_run_id = short_id(
            f"{dag_run_id or run_id}@repair@{partition.start:%Y-%m-%dT%H:%M}" + (f"#{n}" if n else "")
        )
        try:
            staged = stage_partition(
                partition,
                etl_run_id,
                cipher,
                settings,
                dag_id=dag_id,
                dag_run_id=dag_run_id,
                legacy_conn_id=legacy_conn_id,
                flow_conn_id=flow_conn_id,
                ids=chunk,
            )
        except Exception as exc:
            _record_run_failure(flow_conn_id, etl_run_id, exc)
            raise
        gated = pipeline.gate(
            {**staged.to_dict(), "partition": partition.to_dict()}, gate_params, flow_conn_id=flow_conn_id
        )
        published = pipeline.publish(gated, {"dry_run": False}, flow_conn_id=flow_conn_id)
        out.etl_run_ids.append(etl_run_id)
        out.published += published["published"]
        results = verify_ids(
            partition, chunk, cipher, settings, legacy_conn_id=legacy_conn_id, flow_conn_id=flow_conn_id
        )
        done_at = datetime.now()
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.executemany(
                "reconcile_repair_result",
                [(etl_run_id, done_at, results[lid], run_id, partition.start, lid) for lid in chunk],
            )
        out.repaired += len(chunk)
        for lid in chunk:
            if results[lid] == "fixed":
                out.fixed += 1
            else:
                still[results[lid]] += 1
    out.still = dict(sorted(still.items()))
    if expected_rows:
        out.match_rate_after_repair = min(1.0, ((matched or 0) + out.fixed) / expected_rows)
    with connected(flow_conn_id) as flow, flow.transaction():
        flow.run(
            "reconcile_window_repaired",
            {
                "run_id": run_id,
                "window_start": partition.start,
                "repaired": out.repaired,
                "repair_fixed": out.fixed,
                "match_rate_after_repair": out.match_rate_after_repair,
            },
        )
    out.seconds = round(time.perf_counter() - t0, 3)
    log.info(
        "repair %s: %d lead(s) re-synced, %d fixed, still drifting %s, %d row change(s) published",
        partition.label,
        out.repaired,
        out.fixed,
        out.still or "none",
        out.published,
    )
    return out


def _record_run_failure(flow_conn_id: str, etl_run_id: str, exc: BaseException) -> None:
    try:
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.run(
                "run_failed",
                {"etl_run_id": etl_run_id, "error": f"{type(exc).__name__}: {exc}"[:2000], "now": datetime.now()},
            )
    except Exception:  # noqa: BLE001
        log.warning("could not record the failure of %s", etl_run_id)


def verify_ids(
    partition: Partition,
    ids: Sequence[int],
    cipher: PhoneCipher,
    settings: Settings,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
) -> dict[int, str]:
    """The verdict on each of ``ids`` now: ``fixed`` (matches), ``gone`` (no legacy row) or its drift class."""
    out = {int(i): "gone" for i in ids}
    mapper = RowMapper(cipher, settings, partition, "reconcile:verify")
    with connected(legacy_conn_id) as legacy, connected(flow_conn_id) as flow:
        rows: list[tuple] = []
        for chunk in read_window(legacy, settings, partition, ids):
            rows.extend(chunk)
            if len(rows) >= LOOKUP_BATCH:
                _verify_chunk(rows, mapper, flow, cipher, out)
                rows = []
        _verify_chunk(rows, mapper, flow, cipher, out)
    return out


def _verify_chunk(rows: list[tuple], mapper: RowMapper, flow: Db, cipher: PhoneCipher, out: dict[int, str]) -> None:
    if not rows:
        return
    items = mapper.map(sorted(rows, key=lambda r: r[0]))
    found = {
        f.lead_id: f
        for f in map(
            _flow_row,
            flow.query("reconcile_flow_ids", {}, columns=_FLOW_COLUMNS_SQL, ids=_ids_sql(i.lead_id for i in items)),
        )
    }
    for item in items:
        v = classify(item, found.get(item.lead_id), cipher)
        out[item.lead_id] = "fixed" if v.drift_class is None else v.drift_class


# --- summary -----------------------------------------------------------------------------------------


def summarize(
    run_id: str,
    *,
    dag_id: str | None = DAG_ID,
    dag_run_id: str | None = None,
    flow_conn_id: str = FLOW_CONN_ID,
    started_at: datetime | None = None,
) -> dict[str, Any]:
    """Sum the run's windows into its ``scope = 'run'`` row, judge cutover readiness, log it; return it.

    ``open_drift`` counts drift rows still needing action: blocking classes not fixed by a repair, hard
    deletes still in their grace period. ``cutover_ready`` is true when every window compared, there was
    something to compare, and nothing is open.
    """
    run_id = short_id(run_id)
    t0 = time.perf_counter()
    with connected(flow_conn_id) as flow:
        ensure_reconcile_schema(flow)
        [tot] = flow.query("reconcile_totals", {"run_id": run_id})
        classes = flow.query("reconcile_classes", {"run_id": run_id})
    windows = int(tot[0] or 0)
    names = (
        "legacy_rows",
        "flow_rows",
        "expected_rows",
        "matched",
        MISSING_IN_FLOW,
        MISSING_IN_LEGACY,
        FIELD_DRIFT,
        PHONE_DRIFT,
        STALE_IN_FLOW,
        FLOW_AHEAD,
        REJECTED_BY_RULE,
        "marked_deleted",
        "flow_moved",
        "phone_sampled",
        "phone_sample_failed",
        "repaired",
        "repair_fixed",
    )
    s: dict[str, Any] = {k: int(v or 0) for k, v in zip(names, tot[3 : 3 + len(names)])}
    unfinished = int(tot[3 + len(names)] or 0)
    by_class: dict[str, dict[str, int]] = {}
    open_by_class: Counter = Counter()
    for cls, action, result, n in classes:
        key = action + (f":{result}" if result else "")
        by_class.setdefault(cls, {})[key] = int(n)
        if action in OPEN_ACTIONS and result != "fixed" and (cls in BLOCKING or action == ACTION_WAIT):
            open_by_class[cls] += int(n)
    expected = s["expected_rows"]
    match_rate = s["matched"] / expected if expected else None
    after = min(1.0, (s["matched"] + s["repair_fixed"]) / expected) if expected and s["repaired"] else None
    open_drift = sum(open_by_class.values())
    ready = bool(windows and not unfinished and expected and open_drift == 0)
    window_start = _dt(tot[1])
    window_end = _dt(tot[2])
    status = "done" if not unfinished else "incomplete"
    summary = {
        "reconcile_run_id": run_id,
        "windows": windows,
        "unfinished_windows": unfinished,
        "window_start": window_start.isoformat() if window_start else None,
        "window_end": window_end.isoformat() if window_end else None,
        **s,
        "match_rate": match_rate,
        "match_rate_after_repair": after,
        "open_drift": open_drift,
        "open_by_class": dict(sorted(open_by_class.items())),
        "drift_by_class": by_class,
        "cutover_ready": ready,
        "status": status,
    }
    if windows:
        now = datetime.now()
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.run(
                "reconcile_run_write",
                {
                    "run_id": run_id,
                    "window_start": window_start,
                    "window_end": window_end,
                    "dag_id": dag_id,
                    "dag_run_id": dag_run_id,
                    "status": status,
                    "windows": windows,
                    **s,
                    "match_rate": match_rate,
                    "match_rate_after_repair": after,
                    "open_drift": open_drift,
                    "cutover_ready": int(ready),
                    "drift_by_class": json.dumps(by_class, sort_keys=True),
                    "seconds": round(time.perf_counter() - t0, 3),
                    "now": started_at or now,
                },
            )
    fmt = lambda r: "n/a" if r is None else f"{r:.4%}"  # noqa: E731
    log.info(
        "reconcile %s over [%s, %s), %d window(s): legacy=%d expected=%d matched=%d match rate %s%s",
        run_id,
        summary["window_start"],
        summary["window_end"],
        windows,
        s["legacy_rows"],
        expected,
        s["matched"],
        fmt(match_rate),
        f", after repair {fmt(after)}" if after is not None else "",
    )
    for cls in DRIFT_CLASSES:
        if s[cls]:
            log.info("  %-18s %8d  %s", cls, s[cls], by_class.get(cls, {}))
    log.info(
        "  flow_moved=%d marked_deleted=%d decrypt sample %d checked, %d failed",
        s["flow_moved"],
        s["marked_deleted"],
        s["phone_sampled"],
        s["phone_sample_failed"],
    )
    log.info(
        "cutover readiness for this range: %s%s",
        "READY" if ready else "NOT READY",
        f" (open drift: {dict(open_by_class)})"
        if open_drift
        else (" (unfinished windows)" if unfinished else (" (nothing to compare)" if not expected else "")),
    )
    return summary


# --- the DAG's tasks ---------------------------------------------------------------------------------


def settings_from(params: Mapping[str, Any]) -> Settings:
    return Settings.from_env(overlap_minutes=params.get("overlap_minutes"))


def resolve_reconcile_window(
    params: Mapping[str, Any], interval_start: Any, interval_end: Any, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The sync's window rules (:func:`~leads_flow.window.resolve_window`), with a scheduled data interval
    snapped to whole local days: the 01:30 run's interval [D-1 01:30, D 01:30) compares day D-1, which the
    00:00 sync has published, and never the day still being written."""
    start, end = resolve_window(params, interval_start, interval_end, now)
    if not (params.get("start_date") or params.get("end_date")):
        day = lambda d: datetime.combine(d.date(), datetime.min.time())  # noqa: E731
        start, end = day(start), day(end)
        if end <= start:
            end = start + timedelta(days=1)
    return start, end


def plan(
    params: Mapping[str, Any],
    interval_start: Any,
    interval_end: Any,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> list[dict[str, Any]]:
    """Resolve the range, check the keyring, the legacy schema and the tables; one dict per daily window."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        settings = settings_from(params)
        start, end = resolve_reconcile_window(params, interval_start, interval_end)
        if int(params.get("decrypt_sample") or 0) < 0:
            raise ConfigError("decrypt_sample must be >= 0")
    except (ConfigError, ValueError) as exc:
        raise AirflowFailException(f"bad parameters: {exc}") from exc
    parts = partitions(start, end, settings.overlap_minutes)
    log.info(
        "reconcile window [%s, %s): %d daily window(s); repair=%s", start, end, len(parts), bool(params.get("repair"))
    )
    try:
        load_keyring(pii_conn_id)
        with connected(legacy_conn_id) as legacy:
            check_legacy_schema(legacy, settings)

        def migrate() -> None:
            with connected(flow_conn_id) as flow:
                ensure_reconcile_schema(flow)
                purge_drift(flow, drift_retention_days())

        retrying(migrate, what="migrate reconcile schema")
    except (PermanentDbError, ConfigError, KeyringError) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    return [p.to_dict() for p in parts]


def _fail_fast(exc: BaseException) -> BaseException:
    from airflow.sdk.exceptions import AirflowFailException

    if isinstance(exc, (PermanentDbError, ConfigError, KeyringError)):
        return AirflowFailException(f"{type(exc).__name__}: {exc}")
    return exc


def compare(
    window: Mapping[str, Any],
    params: Mapping[str, Any],
    dag_id: str,
    dag_run_id: str,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> dict[str, Any]:
    part = Partition.from_dict(window)
    try:
        res = reconcile_window(
            part,
            dag_run_id,
            PhoneCipher(load_keyring(pii_conn_id)),
            settings_from(params),
            decrypt_sample=int(params.get("decrypt_sample") or 0),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            legacy_conn_id=legacy_conn_id,
            flow_conn_id=flow_conn_id,
        )
    except Exception as exc:
        failed = _fail_fast(exc)
        if failed is exc:
            raise
        raise failed from exc
    return {**res.to_dict(), "window": dict(window)}


def repair(
    compared: Mapping[str, Any],
    params: Mapping[str, Any],
    dag_id: str,
    dag_run_id: str,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    pii_conn_id: str = PII_CONN_ID,
) -> dict[str, Any]:
    """Skip unless ``params['repair']``; otherwise :func:`repair_window` on the compared window."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not params.get("repair"):
        raise AirflowSkipException(
            f"repair=False: {compared.get('repairable', 0)} repairable lead(s) reported, nothing re-synced"
        )
    part = Partition.from_dict(compared["window"])
    if not compared.get("repairable"):
        log.info("repair %s: nothing to repair", part.label)
        return RepairResult(compared["reconcile_run_id"], part.start.isoformat()).to_dict()
    try:
        res = repair_window(
            part,
            dag_run_id,
            PhoneCipher(load_keyring(pii_conn_id)),
            settings_from(params),
            dag_id=dag_id,
            dag_run_id=dag_run_id,
            legacy_conn_id=legacy_conn_id,
            flow_conn_id=flow_conn_id,
            expected_rows=compared.get("expected_rows"),
            matched=compared.get("matched"),
        )
    except Exception as exc:
        failed = _fail_fast(exc)
        if failed is exc:
            raise
        raise failed from exc
    return res.to_dict()


def summary(
    params: Mapping[str, Any], dag_id: str, dag_run_id: str, *, flow_conn_id: str = FLOW_CONN_ID
) -> dict[str, Any]:
    """:func:`summarize`; fails the task when the match rate is below ``min_match_rate`` (after repair, if any)."""
    from airflow.sdk.exceptions import AirflowFailException

    out = summarize(dag_run_id, dag_id=dag_id, dag_run_id=dag_run_id, flow_conn_id=flow_conn_id)
    floor = float(params.get("min_match_rate") or 0)
    rate = out["match_rate_after_repair"] if out["match_rate_after_repair"] is not None else out["match_rate"]
    if floor > 0 and (rate is None or rate < floor):
        raise AirflowFailException(f"match rate {rate} is below min_match_rate {floor}")
    return out

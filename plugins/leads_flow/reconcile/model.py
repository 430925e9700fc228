"""Reconcile: compare ``leads_aggr`` with ``leads_flow`` window by window, report drift, repair it.

The dual-write period needs a number that says when ``leads_aggr`` can stop being the source of truth;
this package computes it. The DAG ``leads_flow_reconcile`` runs it as plan → (compare → repair) per day →
summary (:mod:`leads_flow.tasks.reconcile`); the tests drive the same functions. This module holds what
the others share: the drift classes and actions, the tables, the rows of both sides and the results;
:mod:`~leads_flow.reconcile.verdict`, :mod:`~leads_flow.reconcile.compare`, :mod:`~leads_flow.reconcile.repair` and
:mod:`~leads_flow.reconcile.summary` do the work.

**Windows.** A window owns the legacy rows whose ``COALESCE(update_time, create_time)`` lies in it, like a
sync partition but without the overlap: every legacy row is judged in exactly one window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from leads_flow.io.db import Db, as_datetime
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.names import (
    DRIFT_CLASSES,
)
from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.fingerprint import content_hash

ERASED = "erased"
"""Not drift: the lead is in leads_flow_erasure. Its legacy row may live on until the service
team erases it there, and its flow row is a tombstone (or gone); expected, action ``none``, outside the
match rate, never repaired. Counted apart (WindowResult.erased, ``drift_by_class``)."""

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

# Positions in a mapped (staged) row and in a leads_flow row as the compare reads it.
COL_HASH = STAGE_COLUMNS.index("content_hash")
COL_BIDX = STAGE_COLUMNS.index("phone_bidx")
COL_KID = STAGE_COLUMNS.index("phone_bidx_kid")
COL_SUA = STAGE_COLUMNS.index("source_updated_at")
COL_DELETED = STAGE_COLUMNS.index("is_deleted")
COL_TOKEN = STAGE_COLUMNS.index("phone_cipher")
FLOW_COLUMNS = STAGE_COLUMNS[: COL_HASH + 1]  # lead_id .. content_hash: the mapped row and its stored fingerprint
FLOW_COLUMNS_SQL = ", ".join(FLOW_COLUMNS)
_FLOW_DATETIMES = tuple(i for i, c in enumerate(FLOW_COLUMNS) if c in ("join_time", "source_updated_at"))
COL_PHONE = LEGACY_COLUMNS.index("phone")


# --- schema ------------------------------------------------------------------------------------------


def ensure_reconcile_schema(db: Db) -> None:
    """Create the pipeline's tables (the compare reads leads_flow) and the reconcile's own, idempotently."""
    ensure_flow_schema(db)
    db.run("reconcile_ddl")
    db.conn.commit()


# --- rows on both sides ------------------------------------------------------------------------------


class FlowRow(NamedTuple):
    """A leads_flow row as the compare reads it: the mapped columns typed like the Mapper's output, and the
    fingerprint recomputed from them by :func:`~leads_flow.rules.fingerprint.content_hash`, the same function the
    legacy side goes through (the stored ``content_hash`` is not trusted to describe the stored columns)."""

    lead_id: int
    row: tuple
    fingerprint: int

    bidx = property(lambda self: self.row[COL_BIDX])
    kid = property(lambda self: self.row[COL_KID])
    sua = property(lambda self: self.row[COL_SUA])
    stored_hash = property(lambda self: self.row[COL_HASH])
    is_deleted = property(lambda self: int(self.row[COL_DELETED] or 0))
    token = property(lambda self: self.row[COL_TOKEN])


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
    erased: bool = False  # the lead id is in leads_flow_erasure


def to_flow_row(row: Sequence[Any]) -> FlowRow:
    """A leads_flow row read as :data:`FLOW_COLUMNS`, typed and fingerprinted."""
    r = list(row)
    for i in _FLOW_DATETIMES:  # SQLite keeps DATETIME as text
        r[i] = as_datetime(r[i])
    r[0] = int(r[0])
    return FlowRow(r[0], tuple(r), content_hash(r))


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
    erased: int = 0  # leads in leads_flow_erasure (not drift): legacy rows of the window and orphan tombstones
    erased_in_legacy: int = 0  # of those, legacy rows of the window (outside the expected rows)
    marked_deleted: int = 0
    flow_moved: int = 0
    phone_sampled: int = 0
    phone_sample_failed: int = 0
    repairable: int = 0
    seconds: float = 0.0

    @property
    def expected_rows(self) -> int:
        """Legacy rows that should be in leads_flow: all but the expected rejects and the erased leads."""
        return self.legacy_rows - self.rejected_by_rule - self.erased_in_legacy

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


WINDOW_COUNTS = (
    "legacy_rows",
    "flow_rows",
    "expected_rows",
    "matched",
    *DRIFT_CLASSES,
    "marked_deleted",
    "flow_moved",
    "phone_sampled",
    "phone_sample_failed",
)
"""The counts of a window written to its leads_flow_reconcile_run row, in the column order the summary sums."""

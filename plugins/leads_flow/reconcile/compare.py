"""Compare one window of ``leads_aggr`` with ``leads_flow``: a verdict per legacy row, drift rows, counts.

:class:`WindowCompare` (run by :func:`leads_flow.reconcile.window.reconcile_window`) merge-joins two id-sorted streams, so memory does not grow with the window and
the two tables may live on different servers:

- legacy rows of the window by ``id``, read in chunks through a server-side cursor, each mapped by the
  sync's own :class:`~leads_flow.rules.mapping.Mapper` (same rules) and fingerprinted by
  :func:`~leads_flow.rules.fingerprint.content_hash`;
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
``erased``           not drift: the lead is in ``leads_flow_erasure`` (the legacy row lives on
                     until the service team erases it). Action ``none``, outside the match rate, never
                     repaired; ``detail.flow_row`` says ``tombstone``, ``absent`` or ``not_scrubbed``
================== =========================================================================================

and a flow row of the window whose lead is gone from ``leads_aggr`` entirely is ``missing_in_legacy``: a
hard delete, marked ``is_deleted = 1`` in ``leads_flow`` (never deleted), unless the lead was erased
(``erased``: a tombstone whose legacy row is gone too). A flow row whose legacy row now
lies in another window is not judged here (``flow_moved``): that window judges it.

``match_rate = matched / (legacy rows - rejected_by_rule - erased legacy rows)``. Results: ``leads_flow_drift`` (one row per
non-matching lead; ``detail`` holds field names, reason codes and time differences, never a value) and
``leads_flow_reconcile_run`` (one row per window, one per run). Nothing here logs or stores a phone.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from leads_flow.config import TZ, Settings
from leads_flow.io.db import Db
from leads_flow.io.extract import typed_legacy_rows
from leads_flow.io.progress import Progress
from leads_flow.io.sql import id_list
from leads_flow.names import MISSING_IN_LEGACY, PHONE_DRIFT
from leads_flow.reconcile.model import (
    ACTION_MARKED_DELETED,
    ACTION_NONE,
    ACTION_REPAIR,
    ACTION_REWRITE,
    ACTION_WAIT,
    CHUNK_ROWS,
    ERASED,
    FLOW_COLUMNS_SQL,
    HARD_DELETE_GRACE,
    LOOKUP_BATCH,
    MAX_DECRYPT_SAMPLE,
    FlowRow,
    LegacyItem,
    WindowResult,
    to_flow_row,
)
from leads_flow.reconcile.rowmap import RowMapper, erased_ids, mark_erased
from leads_flow.reconcile.verdict import erased_state, judge_row
from leads_flow.rules.crypto import PhoneCipher, TokenError
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.rules.phone import InvalidPhone, normalize
from leads_flow.window import Partition

log = logging.getLogger(__name__)


def _detail(d: Mapping[str, Any]) -> str | None:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str) if d else None


def merge_streams(
    left: Iterator[LegacyItem], right: Iterator[FlowRow]
) -> Iterator[tuple[LegacyItem | None, FlowRow | None]]:
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


class WindowCompare:
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
            yield from mark_erased(self.flow, mapper.map(typed_legacy_rows(db, chunk)))
            progress.update(self.res.legacy_rows)
        progress.done(self.res.legacy_rows)

    def flow_rows(self, db: Db) -> Iterator[FlowRow]:
        for chunk in db.stream(
            "reconcile_flow_window",
            {"start": self.partition.start, "end": self.partition.end},
            CHUNK_ROWS,
            columns=FLOW_COLUMNS_SQL,
        ):
            self.res.flow_rows += len(chunk)
            for row in chunk:
                yield to_flow_row(row)

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
        v = judge_row(item, flow, self.cipher)
        if v.drift_class is None:
            self.res.matched += 1
            if self.sample_k and flow.token is not None and item.phone is not None:
                self._offer_sample(item.lead_id, flow.token, item.phone)
            return
        setattr(self.res, v.drift_class, getattr(self.res, v.drift_class) + 1)
        if v.drift_class == ERASED:
            self.res.erased_in_legacy += 1
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
                to_flow_row,
                self.flow.query(
                    "reconcile_flow_ids", {}, columns=FLOW_COLUMNS_SQL, ids=id_list(i.lead_id for i in items)
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
                "reconcile_legacy_ids", {}, legacy=self.settings.legacy_table, ids=id_list(f.lead_id for f in rows)
            )
        }
        erased = erased_ids(self.flow, (f.lead_id for f in rows if f.lead_id not in present))
        for f in rows:
            if f.lead_id in present:
                self.res.flow_moved += 1  # judged in the window of its legacy row
                continue
            if f.lead_id in erased:  # a tombstone whose legacy row is gone as well: expected, not a hard delete
                self.res.erased += 1
                self.add(
                    f.lead_id, ERASED, ACTION_NONE, {"flow_row": erased_state(f), "legacy_row": "gone"}, None, f.sua
                )
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

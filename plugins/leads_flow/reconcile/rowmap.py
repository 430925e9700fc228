"""Legacy rows mapped as the sync partition that publishes them would map them, marked when erased: what the
compare and the repair's verification hold against the flow rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import Settings
from leads_flow.io.db import Db
from leads_flow.io.sql import id_list
from leads_flow.reconcile.model import COL_PHONE, COL_SUA, LegacyItem
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import JOIN_TIME_OUT_OF_RANGE, LEGACY_COLUMNS
from leads_flow.rules.mapping import Mapper
from leads_flow.window import Partition


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
                out.append(LegacyItem(int(lid), s[COL_SUA], s, None, int(bool(row[deleted])), row[COL_PHONE]))
            else:
                reasons, sua = rejected[lid]
                out.append(LegacyItem(int(lid), sua, None, reasons, int(bool(row[deleted])), row[COL_PHONE]))
        return out


def erased_ids(flow: Db, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` recorded in leads_flow_erasure."""
    ids = list(ids)
    if not ids:
        return set()
    return {int(r[0]) for r in flow.query("erasure_recorded", ids=id_list(ids))}


def mark_erased(flow: Db, items: list[LegacyItem]) -> list[LegacyItem]:
    """``items`` with ``erased`` set on the leads recorded in leads_flow_erasure."""
    erased = erased_ids(flow, (i.lead_id for i in items))
    return [i._replace(erased=True) if i.lead_id in erased else i for i in items] if erased else items

"""The repair's second look: the verdict on each repaired lead after its re-sync."""

from __future__ import annotations

from collections.abc import Sequence

from leads_flow.config import Settings
from leads_flow.io.connect import connected
from leads_flow.io.db import Db
from leads_flow.io.extract import read_window
from leads_flow.io.sql import id_list
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID
from leads_flow.reconcile.model import FLOW_COLUMNS_SQL, LOOKUP_BATCH, to_flow_row
from leads_flow.reconcile.rowmap import RowMapper, mark_erased
from leads_flow.reconcile.verdict import judge_row
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.window import Partition


def verify_ids(
    partition: Partition,
    ids: Sequence[int],
    cipher: PhoneCipher,
    settings: Settings,
    *,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
) -> dict[int, str]:
    """The verdict on each of ``ids`` now: ``fixed`` (matches), ``gone`` (no legacy row) or its class
    (``erased`` for a lead erased since the compare)."""
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
    items = mark_erased(flow, mapper.map(sorted(rows, key=lambda r: r[0])))
    found = {
        f.lead_id: f
        for f in map(
            to_flow_row,
            flow.query("reconcile_flow_ids", {}, columns=FLOW_COLUMNS_SQL, ids=id_list(i.lead_id for i in items)),
        )
    }
    for item in items:
        v = judge_row(item, found.get(item.lead_id), cipher)
        out[item.lead_id] = "fixed" if v.drift_class is None else v.drift_class

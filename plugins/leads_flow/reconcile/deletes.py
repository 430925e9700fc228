"""Hard deletes seen daily: leads deleted outright from ``leads_aggr`` are found within a day.

A reconcile finds a hard delete only when it compares the lead's original window; this watch compares keys
alone, over the whole table, every day: live ``leads_flow`` ids in primary-key chunks (index-only through
``idx_live``) against the legacy ids of the same key range (the primary key, nothing else read). A flow id
the legacy range lacks has vanished and is marked ``is_deleted = 1`` (the row is kept, as reconcile does).

The order is what makes one pass safe beside the sync: a chunk's flow ids are read first, then the legacy
range, so a lead published between the two reads is not in the flow list and cannot look vanished; ids are
never reused, so a flow id missing from a later legacy read was really deleted.

Only leads up to the legacy table's highest id are compared (above it lie leads published after that read,
or written only to leads_flow after a cutover); those above are never marked but are counted (``beyond``).

The guard: a partial legacy read (a wrong table, a replica in the middle of a reload, a truncated restore)
must never look like a mass delete. The whole table is compared first and nothing is marked if more than
``max_share`` of the live leads vanished or lie beyond the legacy maximum; the run then fails, naming the
counts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

from leads_flow.config import TZ
from leads_flow.errors import Permanent
from leads_flow.io.db import Db
from leads_flow.io.progress import Progress
from leads_flow.io.retry import retrying

log = logging.getLogger(__name__)

CHUNK = 100_000
"""Flow ids per comparison step (two index range reads): memory stays flat whatever the table's size."""
MARK_BATCH = 1_000


class MassVanish(Permanent, RuntimeError):
    """More ids vanished than the guard allows: nothing was marked."""


@dataclass
class VanishResult:
    compared: int = 0
    vanished: int = 0
    beyond: int = 0
    marked: int = 0
    legacy_max_id: int | None = None
    dry_run: bool = False
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """The counts (no lead ids: a day's deletes may be many)."""
        return {k: v for k, v in asdict(self).items() if k != "ids"}


def vanished_ids(flow: Db, legacy: Db, legacy_table: str, *, chunk: int = CHUNK) -> VanishResult:
    """Live flow ids (up to the legacy table's highest id) that no longer exist in the legacy table: the
    result's counts, and the ids in :attr:`VanishResult.ids`."""
    row = legacy.query("id_bounds", legacy=legacy_table)
    legacy.conn.rollback()
    max_id = row[0][1] if row and row[0][1] is not None else 0
    vanished: list[int] = []
    compared = 0
    after = 0
    progress = Progress("hard-delete watch", log)
    while True:
        ids = [r[0] for r in flow.query("deletes_flow_ids", {"after": after, "max_id": max_id, "limit": chunk})]
        flow.conn.rollback()  # each chunk sees committed data of now: a fresh snapshot
        if not ids:
            break
        lo, hi = ids[0], ids[-1]
        present = {r[0] for r in legacy.query("deletes_legacy_ids", {"lo": lo, "hi": hi}, legacy=legacy_table)}
        legacy.conn.rollback()
        vanished.extend(i for i in ids if i not in present)
        compared += len(ids)
        after = hi
        progress.update(compared)
    beyond = flow.query("deletes_flow_beyond", {"max_id": max_id})[0][0]
    flow.conn.rollback()
    progress.done(compared)
    return VanishResult(
        compared=compared, vanished=len(vanished), beyond=int(beyond), legacy_max_id=max_id, ids=vanished
    )


def watch_hard_deletes(
    flow: Db,
    legacy: Db,
    legacy_table: str,
    run_id: str,
    *,
    max_share: float,
    dry_run: bool = False,
    chunk: int = CHUNK,
) -> VanishResult:
    """Compare, apply the guard, then mark the vanished leads deleted (one transaction per batch, retried)."""
    if not 0 <= max_share <= 1:
        raise ValueError("max_share must lie in [0, 1]")
    t0 = time.perf_counter()
    res = retrying(lambda: vanished_ids(flow, legacy, legacy_table, chunk=chunk), what="hard-delete watch")
    res.dry_run = dry_run
    live, missing = res.compared + res.beyond, res.vanished + res.beyond
    if live and missing > max_share * live:
        raise MassVanish(
            f"{missing} of {live} live leads_flow ids ({missing / live:.2%}) are missing from {legacy_table} "
            f"({res.vanished} vanished, {res.beyond} above its highest id {res.legacy_max_id}), more than the "
            f"guard's {max_share:.2%}: nothing was marked. If the legacy read is complete and the deletes are "
            "real, rerun with a higher max_vanish_share."
        )
    vanished = res.ids
    if not dry_run:
        now = datetime.now(TZ).replace(tzinfo=None)
        for i in range(0, len(vanished), MARK_BATCH):
            batch = ", ".join(str(int(x)) for x in vanished[i : i + MARK_BATCH])

            def mark(batch: str = batch) -> int:
                with flow.transaction():
                    return flow.run("deletes_mark", {"etl_run_id": run_id, "now": now}, ids=batch)

            res.marked += max(retrying(mark, what="mark hard deletes"), 0)
    res.seconds = round(time.perf_counter() - t0, 3)
    log.info(
        "hard-delete watch %s: %d compared, %d vanished, %d above the legacy maximum, %d marked%s (%.1f s)",
        run_id,
        res.compared,
        res.vanished,
        res.beyond,
        res.marked,
        " (dry run)" if dry_run else "",
        res.seconds,
    )
    return res

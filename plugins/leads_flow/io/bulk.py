"""The bulk publish: every gated bulk partition of a run made visible at once, through a shadow table built in
primary-key order, its secondary indexes added by one sorted build, and one atomic ``RENAME`` (docs/scaling.md,
*The bulk path*). MySQL/MariaDB only; SQLite runs never plan bulk partitions.

Steps (each a statement of ``include/sql/bulk/``, committed one by one: nothing is visible before the rename):

1. ``leads_flow__bulk`` created like ``leads_flow``, its secondary indexes dropped while empty;
2. ``leads_flow`` copied into it in primary-key order (READ COMMITTED: a non-locking read);
3. each gated staging table, scrubbed of erased leads (:func:`leads_flow.io.publish.scrub_stage`), upserted into
   it in lead_id order with the newer-wins rule of the daily publish;
4. the secondary indexes of ``leads_flow`` added back in ONE ``ALTER TABLE`` (sorted index builds);
5. the staged versions appended to the journal ``leads_flow_history`` (INSERT IGNORE: idempotent), on a second
   connection while steps 3 and 4 run (the stages are scrubbed first, so both read the same rows);
6. catch-up of online writes since the copy began (found through the journal's clustered key), leads erased
   meanwhile tombstoned again, then ``RENAME TABLE leads_flow TO leads_flow__old, leads_flow__bulk TO
   leads_flow``, then catch-up once more from ``leads_flow__old`` (writes that committed between the first
   catch-up and the rename), erasures again, and ``leads_flow__old`` dropped;
7. the bulk partitions' rows marked ``bulk_published`` and one published ``leads_flow_run`` row per day of the
   window with that day's counts (the run report, the freshness watchdog and the volume check read those).

A failure before the rename leaves ``leads_flow`` untouched; a rerun drops the shadow and starts again. After the
rename a rerun finds ``leads_flow__old``, catches up from it and drops it; whatever is left is re-applied
(newer-wins and INSERT IGNORE make that idempotent).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from leads_flow.config import ident
from leads_flow.errors import Permanent, Transient
from leads_flow.io import runlog
from leads_flow.io.connect import connected
from leads_flow.io.db import Db
from leads_flow.io.publish import drop_stage, scrub_stage
from leads_flow.io.retry import retrying
from leads_flow.io.sql import id_list
from leads_flow.io.stage import stage_table_name
from leads_flow.names import FLOW_CONN_ID
from leads_flow.window import Partition, partitions

log = logging.getLogger(__name__)

SHADOW = "leads_flow__bulk"
OLD = "leads_flow__old"
CATCH_UP_MARGIN = timedelta(minutes=5)
"""Catch-ups re-read this much before their bound: a writer's etl_loaded_at is taken before its commit (and on
its own clock). Re-applying a write already there changes nothing."""


class BulkNotReady(Permanent):
    """A bulk partition of the run is not gated (or its staging table is gone): nothing is published."""


class BulkBusy(Transient):
    """Another bulk publish holds the flow database's bulk lock; retried."""


@dataclass(frozen=True)
class BulkPart:
    etl_run_id: str
    partition: Partition

    @property
    def stage(self) -> str:
        return stage_table_name(self.etl_run_id)


def publish_bulk(
    parts: Sequence[BulkPart],
    *,
    dag_id: str | None,
    dag_run_id: str | None,
    dry_run: bool = False,
    flow_conn_id: str = FLOW_CONN_ID,
) -> dict[str, Any]:
    """Publish every gated bulk partition of a run at once (module docstring); returns counts and timings."""
    parts = sorted(parts, key=lambda p: p.partition.id_from or 0)
    return retrying(
        lambda: _publish_once(parts, dag_id, dag_run_id, dry_run, flow_conn_id), what="bulk publish", attempts=2
    )


def _exists(flow: Db, table: str) -> bool:
    return bool(flow.query("bulk_table_exists", {"table": table})[0][0])


def _index_clauses(flow: Db, verb: str) -> str:
    """``DROP INDEX a, …`` or ``ADD INDEX a (c, …), ADD UNIQUE INDEX …`` for leads_flow's secondary indexes."""
    indexes: dict[str, tuple[bool, list[str]]] = {}
    for name, non_unique, column, sub_part in flow.query("bulk_flow_indexes"):
        col = ident(column) + (f"({int(sub_part)})" if sub_part else "")
        indexes.setdefault(ident(name), (not int(non_unique), []))[1].append(col)
    if verb == "drop":
        return ", ".join(f"DROP INDEX {n}" for n in indexes)
    return ", ".join(f"ADD {'UNIQUE ' if u else ''}INDEX {n} ({', '.join(cols)})" for n, (u, cols) in indexes.items())


def _catch_up(flow: Db, source: str, target: str, since: datetime, skip_runs: set[str]) -> int:
    """Re-apply into ``target`` what writers put into ``source`` since ``since``: online writes (through the
    journal), other pipeline runs that published meanwhile (by run id), erasures recorded meanwhile."""
    n = flow.run("bulk_catch_up", {"since": since}, source=source, flow_table=target)
    runs = [
        r for (r,) in flow.query("bulk_runs_since", {"published": runlog.RunStatus.PUBLISHED.value, "since": since})
    ]
    for run in runs:
        if run not in skip_runs:
            n += flow.run("bulk_catch_up_run", {"etl_run_id": run}, source=source, flow_table=target)
    erased = [int(i) for (i,) in flow.query("bulk_erased_since", {"since": since.replace(microsecond=0)})]
    for i in range(0, len(erased), 1000):
        flow.run("erasure_tombstone", ids=id_list(erased[i : i + 1000]), flow_table=target)
    flow.conn.commit()
    return n


def _publish_once(
    parts: Sequence[BulkPart], dag_id: str | None, dag_run_id: str | None, dry_run: bool, flow_conn_id: str
) -> dict[str, Any]:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(key: str, since: float) -> float:
        now = time.perf_counter()
        timings[key] = round(now - since, 3)
        return now

    ours = {p.etl_run_id for p in parts}
    with connected(flow_conn_id) as flow:
        if flow.dialect != "mysql":
            raise BulkNotReady("the bulk publish needs MySQL/MariaDB (SQLite runs publish daily partitions)")
        flow.run("bulk_session")
        if not flow.query("bulk_lock")[0][0]:
            raise BulkBusy("another bulk publish is running on this flow database")
        started = min(_started_at(flow, p.etl_run_id) for p in parts) if parts else datetime.now()
        if _exists(flow, OLD):  # an attempt died after its rename: its last writes may be only there
            log.info("bulk publish: %s left by an earlier attempt; catching up from it", OLD)
            _catch_up(flow, OLD, "leads_flow", started - CATCH_UP_MARGIN, ours)
            flow.run("bulk_drop", table=OLD)
        statuses = {p.etl_run_id: runlog.status_of(flow, p.etl_run_id) for p in parts}
        flow.conn.commit()
        if parts and all(s in runlog.DONE for s in statuses.values()):
            log.info("bulk publish: every partition already published")
            for p in parts:
                if _exists(flow, p.stage):
                    drop_stage(flow, p.stage)
            return {"published": 0, "partitions": len(parts), "already": True}
        missing = [
            r
            for r, s in statuses.items()
            if s != runlog.RunStatus.GATED.value or not _exists(flow, stage_table_name(r))
        ]
        if missing:
            raise BulkNotReady(f"bulk partition(s) not gated or without staging table: {', '.join(sorted(missing))}")
        if dry_run:
            with flow.transaction():
                for p in parts:
                    runlog.published(flow, p.etl_run_id, dry_run=True, changed=0, timings={})
            for p in parts:
                drop_stage(flow, p.stage)
            return {"published": 0, "partitions": len(parts), "dry_run": True}

        t = time.perf_counter()
        flow.run("bulk_shadow_create", shadow=SHADOW)
        drops = _index_clauses(flow, "drop")
        if drops:
            flow.run("bulk_alter", shadow=SHADOW, columns=drops)
        copy_start = datetime.now()
        copied = flow.run("bulk_copy", shadow=SHADOW)
        flow.conn.commit()
        t = lap("copy_s", t)

        with flow.transaction():
            for p in parts:
                scrub_stage(flow, p.stage, p.etl_run_id)  # an erased lead is never published again
        changed = 0
        # the journal on a second connection while this one upserts and builds the indexes: two statements
        # that each keep one core busy, on tables nobody else writes (erasures meanwhile: the catch-up below)
        with ThreadPoolExecutor(1) as side:
            journal = side.submit(_journal, parts, flow_conn_id)
            for p in parts:
                with flow.transaction():
                    changed += max(flow.run("publish", stage=p.stage, flow_table=SHADOW), 0)
            t = lap("upsert_s", t)
            adds = _index_clauses(flow, "add")
            if adds:
                flow.run("bulk_alter", shadow=SHADOW, columns=adds)
            t = lap("index_s", t)
            timings["journal_s"] = journal.result()
        t = lap("journal_wait_s", t)

        first_catch_up = datetime.now()
        caught = _catch_up(flow, "leads_flow", SHADOW, copy_start - CATCH_UP_MARGIN, ours)
        flow.run("bulk_rename", old=OLD, shadow=SHADOW)
        caught += _catch_up(flow, OLD, "leads_flow", first_catch_up - CATCH_UP_MARGIN, ours)
        flow.run("bulk_drop", table=OLD)
        t = lap("swap_s", t)

        days = _day_counts(flow, parts)
        timings["bulk_publish_s"] = round(time.perf_counter() - t0, 3)
        with flow.transaction():
            for i, p in enumerate(parts):
                # the partition's own stage and gate timings kept; the bulk publish's seconds counted once (on the
                # first partition, as publish_s), its breakdown on every partition
                own = runlog.timings_of(flow, p.etl_run_id)
                bulk = {"bulk_publish": dict(timings), "bulk_partitions": len(parts)}
                first = {"publish_s": timings["bulk_publish_s"]} if i == 0 else {}
                runlog.bulk_published(flow, p.etl_run_id, changed=changed, timings={**own, **bulk, **first})
            _day_rows(flow, parts, days, dag_id, dag_run_id)
        for p in parts:
            drop_stage(flow, p.stage)
        log.info(
            "bulk publish: %d partition(s), %d row(s) copied, %d row change(s), %d caught up; %s",
            len(parts),
            copied,
            changed,
            caught,
            timings,
        )
        return {"published": changed, "partitions": len(parts), "copied": copied, "caught_up": caught, **timings}


def _journal(parts: Sequence[BulkPart], flow_conn_id: str) -> float:
    """Every staged version not yet recorded appended to the journal ``leads_flow_history``; its seconds."""
    t = time.perf_counter()
    with connected(flow_conn_id) as flow:
        flow.run("bulk_session")
        for p in parts:
            with flow.transaction():
                flow.run("history_publish", stage=p.stage)
    return round(time.perf_counter() - t, 3)


def _started_at(flow: Db, etl_run_id: str) -> datetime:
    rows = flow.query("bulk_run_started", {"etl_run_id": etl_run_id})
    return rows[0][0] if rows and rows[0][0] else datetime.now()


def _day_counts(flow: Db, parts: Sequence[BulkPart]) -> dict[date, Counter]:
    days: dict[date, Counter] = {}
    for p in parts:
        for day, n in flow.query("bulk_day_counts", stage=p.stage):
            days.setdefault(_as_date(day), Counter())["staged"] += int(n)
        for day, n in flow.query("bulk_day_rejects", {"etl_run_id": p.etl_run_id}):
            if day is not None:
                days.setdefault(_as_date(day), Counter())["rejected"] += int(n)
    flow.conn.commit()
    return days


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _day_rows(
    flow: Db,
    parts: Sequence[BulkPart],
    days: dict[date, Counter],
    dag_id: str | None,
    dag_run_id: str | None,
) -> None:
    """One published row per day of the window, as a daily run would have written it: extracted = staged +
    rejected of that day (by source_updated_at), published = the day's staged rows (each applied newer-wins)."""
    first = parts[0].partition
    now = datetime.now()
    for day in partitions(first.start, first.end, first.overlap_minutes):
        c = days.get(day.start.date(), Counter())
        run_id = runlog.etl_run_id_for(dag_run_id or "bulk", day)
        counts = {
            "extracted": c["staged"] + c["rejected"],
            "staged": c["staged"],
            "rejected": c["rejected"],
            "coerced": 0,
        }
        runlog.start(flow, run_id, day, dag_id, dag_run_id, now)
        runlog.staged(flow, run_id, counts, {}, 0.0)
        runlog.gated(
            flow,
            run_id,
            success=True,
            failed=[],
            results={"bulk": "gated as part of the run's bulk partitions", "partitions": [p.etl_run_id for p in parts]},
            timings={},
        )
        runlog.published(flow, run_id, dry_run=False, changed=c["staged"], timings={})  # the partitions' rows time it

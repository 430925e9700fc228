"""Write: map a partition's legacy rows into the run's staging table and its rejects into leads_flow_reject.

The staging table lives in the flow database, holds only protected values (never a plaintext phone)
and is rebuilt from scratch on every attempt, so a retry after a crash is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from leads_flow.config import FLOW_CONN_ID, LEGACY_CONN_ID, Settings
from leads_flow.crypto import PhoneCipher
from leads_flow.db import Db, connected, retrying
from leads_flow.extract import check_legacy_schema, read_window
from leads_flow.mapping import STAGE_COLUMNS, Mapper
from leads_flow.progress import Progress
from leads_flow.window import Partition

log = logging.getLogger(__name__)


def stage_table_name(etl_run_id: str) -> str:
    """A short, valid, per-partition table name (run ids may hold any character)."""
    return "leads_flow_stage_" + hashlib.sha1(etl_run_id.encode()).hexdigest()[:16]


@dataclass
class StageResult:
    etl_run_id: str
    stage_table: str
    extracted: int = 0
    staged: int = 0
    rejected: int = 0
    coerced: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def begin_run(flow: Db, etl_run_id: str, partition: Partition, dag_id: str | None, dag_run_id: str | None,
              stage: str) -> None:
    """Start the audit row, (re)create an empty staging table and clear this run's earlier rejects."""
    with flow.transaction():
        flow.run("run_start", {
            "etl_run_id": etl_run_id, "dag_id": dag_id, "dag_run_id": dag_run_id,
            "partition_start": partition.start, "partition_end": partition.end,
            "window_start": partition.read_start, "window_end": partition.end, "now": datetime.now()})
        flow.run("reject_clear", {"etl_run_id": etl_run_id})
    flow.run("stage_drop", stage=stage)
    flow.run("stage_create", stage=stage)
    flow.conn.commit()


def stage_partition(partition: Partition, etl_run_id: str, cipher: PhoneCipher, settings: Settings, *,
                    dag_id: str | None = None, dag_run_id: str | None = None,
                    legacy_conn_id: str = LEGACY_CONN_ID, flow_conn_id: str = FLOW_CONN_ID,
                    ids: Sequence[int] | None = None) -> StageResult:
    """Extract → map → stage one partition (or, with ``ids``, those legacy rows); returns small metadata.

    ``partition.end`` still bounds join_time (rule join_time_out_of_range) when ``ids`` are given.
    """
    return retrying(lambda: _stage_once(partition, etl_run_id, cipher, settings, dag_id, dag_run_id,
                                        legacy_conn_id, flow_conn_id, ids), what=f"stage {etl_run_id}")


def _stage_once(partition: Partition, etl_run_id: str, cipher: PhoneCipher, settings: Settings,
                dag_id: str | None, dag_run_id: str | None, legacy_conn_id: str, flow_conn_id: str,
                ids: Sequence[int] | None) -> StageResult:
    t0 = time.perf_counter()
    stage = stage_table_name(etl_run_id)
    res = StageResult(etl_run_id, stage)
    reasons: Counter = Counter()
    mapper = Mapper(cipher, settings, partition.end, etl_run_id, datetime.now())
    with connected(legacy_conn_id) as legacy, connected(flow_conn_id) as flow:
        check_legacy_schema(legacy, settings)
        begin_run(flow, etl_run_id, partition, dag_id, dag_run_id, stage)
        progress = Progress(f"stage {partition.label}", log)
        for chunk in read_window(legacy, settings, partition, ids):
            mapped = mapper.map_rows(chunk)
            with flow.transaction():
                flow.executemany("insert_rows", mapped.staged, table=stage,
                                 columns=", ".join(STAGE_COLUMNS), placeholders=", ".join("?" * len(STAGE_COLUMNS)))
                flow.executemany("reject_insert", [(etl_run_id, lid, why, raw, sua, mapper.loaded_at)
                                                   for lid, why, raw, sua in mapped.rejects])
            res.extracted += len(chunk)
            res.staged += len(mapped.staged)
            res.rejected += len(mapped.rejects)
            res.coerced += mapped.coerced
            reasons.update(mapped.reasons)
            progress.update(res.extracted)
        res.rejects_by_reason = dict(sorted(reasons.items()))
        res.seconds = round(time.perf_counter() - t0, 3)
        with flow.transaction():
            flow.run("run_staged", {
                "etl_run_id": etl_run_id, "extracted": res.extracted, "staged": res.staged,
                "rejected": res.rejected, "coerced": res.coerced,
                "rejects_by_reason": json.dumps(res.rejects_by_reason),
                "timings": json.dumps({"stage_s": res.seconds})})
    progress.done(res.extracted)
    return res

"""Stage: map a partition's legacy rows into the run's staging table and its rejects into leads_flow_reject.

The staging table lives in the flow database, holds only protected values (never a plaintext phone) and is
rebuilt from scratch on every attempt, so a retry after a crash is always safe. On MySQL the partition is cut
(:mod:`leads_flow.io.slices`) for forked worker processes (:mod:`leads_flow.io.process`) that extract, map and
bulk-load (:mod:`leads_flow.io.load`) side by side, each streaming its slice in chunks, so memory stays flat
whatever the window holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from leads_flow.config import Settings
from leads_flow.io import runlog
from leads_flow.io.connect import connected, get_connection
from leads_flow.io.db import Db
from leads_flow.io.extract import check_legacy_schema, read_window
from leads_flow.io.load import load_rows, read_twice
from leads_flow.io.process import TASK_FORK, forbid_core_dumps
from leads_flow.io.progress import Progress
from leads_flow.io.retry import is_duplicate_key, retrying
from leads_flow.io.slices import READ_SLICES_PER_WORKER, id_slices, is_scan, time_slices
from leads_flow.io.stage_files import sweep_stage_files
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.mapping import Mapper, reject_values
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

    def add(self, other: StageResult) -> None:
        self.extracted += other.extracted
        self.staged += other.staged
        self.rejected += other.rejected
        self.coerced += other.coerced
        self.rejects_by_reason = dict(Counter(self.rejects_by_reason) + Counter(other.rejects_by_reason))


@dataclass(frozen=True)
class _Job:
    """Everything a slice needs; ``partition`` bounds join_time, ``read`` the rows."""

    partition: Partition
    read: Partition
    etl_run_id: str
    stage: str
    settings: Settings
    legacy_conn_id: str
    flow_conn_id: str
    loaded_at: datetime
    ids: tuple[int, ...] | None = None
    id_range: tuple[int, int] | None = None


def begin_run(
    flow: Db, etl_run_id: str, partition: Partition, dag_id: str | None, dag_run_id: str | None, stage: str
) -> None:
    """Start the audit row, (re)create an empty staging table and clear this run's earlier rejects."""
    with flow.transaction():
        runlog.start(flow, etl_run_id, partition, dag_id, dag_run_id)
        flow.run("reject_clear", {"etl_run_id": etl_run_id})
    flow.run("stage_drop", stage=stage)
    flow.run("stage_create", stage=stage)
    flow.conn.commit()


def stage_partition(
    partition: Partition,
    etl_run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    *,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    legacy_conn_id: str = LEGACY_CONN_ID,
    flow_conn_id: str = FLOW_CONN_ID,
    ids: Sequence[int] | None = None,
) -> StageResult:
    """Extract → map → stage one partition (or, with ``ids``, those legacy rows); returns small metadata.

    ``partition.end`` still bounds join_time (rule join_time_out_of_range) when ``ids`` are given.
    """
    forbid_core_dumps(hard=False)  # this task process holds the keys (see docs/operations.md)
    sweep_stage_files()
    with runlog.recording(etl_run_id, flow_conn_id):  # a failure is recorded in the run's row
        return retrying(
            lambda: _stage_once(
                partition, etl_run_id, cipher, settings, dag_id, dag_run_id, legacy_conn_id, flow_conn_id, ids
            ),
            what=f"stage {etl_run_id}",
        )


def _stage_once(
    partition: Partition,
    etl_run_id: str,
    cipher: PhoneCipher,
    settings: Settings,
    dag_id: str | None,
    dag_run_id: str | None,
    legacy_conn_id: str,
    flow_conn_id: str,
    ids: Sequence[int] | None,
) -> StageResult:
    t0 = time.perf_counter()
    stage = stage_table_name(etl_run_id)
    res = StageResult(etl_run_id, stage)
    with connected(legacy_conn_id) as legacy:
        check_legacy_schema(legacy, settings)
        mysql = legacy.dialect == "mysql"
        lo, hi = legacy.query("id_bounds", legacy=settings.legacy_table)[0]
        if partition.bulk:  # a bulk partition: its id range of the window, scanned (the plan counted the window)
            lo, hi = max(lo or 0, partition.id_from), min(hi or 0, partition.id_to - 1)
            total = max(hi - lo + 1, 0)  # ids, not rows: the progress ETA only
        elif ids is not None:
            total = len(ids)
        else:
            total = legacy.query(
                "count_window", {"start": partition.read_start, "end": partition.end}, legacy=settings.legacy_table
            )[0][0]
    with connected(flow_conn_id) as flow:
        begin_run(flow, etl_run_id, partition, dag_id, dag_run_id, stage)
        mysql = mysql and flow.dialect == "mysql"
    base = _Job(
        partition,
        partition,
        etl_run_id,
        stage,
        settings,
        legacy_conn_id,
        flow_conn_id,
        datetime.now(),
        tuple(ids) if ids is not None else None,
    )
    progress = Progress(f"stage {partition.label}", log, total=int(total))
    scan = partition.bulk or is_scan(int(total), lo, hi)
    # History imports scan primary-key slices (the work is the mapping: one process per core); daily
    # increments read index ranges (the work is random reads: more readers than cores).
    workers = 1 if not mysql or ids is not None else settings.workers if scan else settings.read_workers
    if partition.bulk and lo > hi:
        pass  # an id range past the table's ids: nothing to read
    elif workers == 1:
        res.add(_run_job(replace(base, id_range=(lo, hi + 1)) if partition.bulk else base, cipher, progress))
    else:
        if scan:
            jobs = [replace(base, id_range=r) for r in id_slices(lo, hi, workers)]
        else:
            jobs = [replace(base, read=s) for s in time_slices(partition, workers * READ_SLICES_PER_WORKER)]
        # fork: the workers inherit the cipher and the connections (secrets never travel through a pipe).
        # Connections are resolved here: a forked worker must not talk to the task's supervisor itself.
        conns = {c: get_connection(c) for c in (legacy_conn_id, flow_conn_id)}
        with ProcessPoolExecutor(
            workers, mp_context=TASK_FORK, initializer=_init_worker, initargs=(cipher, conns, os.getpid())
        ) as pool:
            for part in pool.map(_run_job_in_worker, jobs):
                res.add(part)
                progress.update(res.extracted)
    res.rejects_by_reason = dict(sorted(res.rejects_by_reason.items()))
    res.seconds = round(time.perf_counter() - t0, 3)
    with connected(flow_conn_id) as flow, flow.transaction():
        runlog.staged(flow, etl_run_id, res.to_dict(), res.rejects_by_reason, res.seconds)
    progress.done(res.extracted)
    return res


_WORKER: dict[str, Any] = {}


def _init_worker(cipher: PhoneCipher, conns: dict[str, Any], parent: int) -> None:
    """Die with the task process: a worker outliving a SIGKILLed task would race the retry's rebuild."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the getppid() check below still stops it between chunks
        pass
    if os.getppid() != parent:
        os._exit(1)
    forbid_core_dumps()  # it holds the keys and plain phones
    _WORKER.update(cipher=cipher, conns=conns, parent=parent)


def _run_job_in_worker(job: _Job) -> StageResult:
    return _run_job(job, _WORKER["cipher"], None, _WORKER["conns"])


def _run_job(
    job: _Job, cipher: PhoneCipher, progress: Progress | None, conns: dict[str, Any] | None = None
) -> StageResult:
    """Extract one slice in chunks, map each chunk, load it into the staging table, record its rejects."""
    res = StageResult(job.etl_run_id, job.stage)
    reasons: Counter = Counter()
    p = job.partition
    mapper = Mapper(cipher, job.settings, p.end, job.etl_run_id, job.loaded_at, (p.start, p.end) if p.bulk else None)
    conns = conns or {}
    with (
        connected(job.legacy_conn_id, connection=conns.get(job.legacy_conn_id)) as legacy,
        connected(job.flow_conn_id, local_infile=True, connection=conns.get(job.flow_conn_id)) as flow,
    ):
        for chunk in read_window(legacy, job.settings, job.read, job.ids, job.id_range):
            if "parent" in _WORKER and os.getppid() != _WORKER["parent"]:
                os._exit(1)  # orphaned: the task that forked us is gone
            mapped = mapper.map_rows(chunk)
            try:
                with flow.transaction():
                    load_rows(flow, job.stage, mapped.staged)
                    flow.executemany(
                        "reject_insert",
                        [
                            (job.etl_run_id, *reject_values(lid, why, row, sua, cipher), job.loaded_at)
                            for lid, why, row, sua in mapped.rejects
                        ],
                    )
            except Exception as exc:
                if is_duplicate_key(exc):  # an update moved a lead between two slices while they were read
                    raise read_twice(job.stage) from exc
                raise
            res.extracted += len(chunk)
            res.staged += len(mapped.staged)
            res.rejected += len(mapped.rejects)
            res.coerced += mapped.coerced
            reasons.update(mapped.reasons)
            if progress is not None:
                progress.update(res.extracted)
    res.rejects_by_reason = dict(reasons)
    return res

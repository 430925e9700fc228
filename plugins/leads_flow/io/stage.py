"""Write: map a partition's legacy rows into the run's staging table and its rejects into leads_flow_reject.

The staging table lives in the flow database, holds only protected values (never a plaintext phone)
and is rebuilt from scratch on every attempt, so a retry after a crash is always safe.

On MySQL a partition is cut into slices that forked processes extract, map and bulk-load (LOAD DATA
LOCAL INFILE) side by side: while one process waits on the server, another maps, and each streams its
slice in chunks, so memory stays flat whatever the window holds. A history-sized window is cut into
primary-key slices for ``settings.workers`` processes (sequential reads; the mapping is the work); a
daily increment into time slices read through the update_time/create_time indexes by
``settings.read_workers`` processes (each row is a random read: the disk, not a core, is the wait).
The workers are started through :class:`_WorkerProcess`, so any executor's task process may fork them,
a daemonic one included (CeleryExecutor's prefork pool; see docs/scaling.md).

The files a bulk load goes through (tmpfs, protected values plus unionId, IP and user agent) are named
``leads_flow_stage.<pid namespace>.<pid>.<random>.tsv`` and flock-ed by their writer while they exist; a
stage task first removes those whose writer is gone (:func:`sweep_stage_files`), so a SIGKILLed worker's
file does not outlive the next stage. Processes that hold keys or plain phones write no core files
(:func:`forbid_core_dumps`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import multiprocessing
import os
import re
import secrets
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import FLOW_CONN_ID, LEGACY_CONN_ID, Settings
from leads_flow.io import runlog
from leads_flow.io.connect import connected, get_connection
from leads_flow.io.db import Db
from leads_flow.io.extract import check_legacy_schema, read_window
from leads_flow.io.progress import Progress
from leads_flow.io.retry import TransientDbError, is_duplicate_key, retrying
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.mapping import STAGE_COLUMNS, Mapper, reject_values
from leads_flow.window import Partition

log = logging.getLogger(__name__)

SLICES_PER_WORKER = 4  # smaller slices balance uneven id ranges between the mapping workers
READ_SLICES_PER_WORKER = 2  # time slices per index-range reader (each slice is one query per reader)
SCAN_SHARE = 0.15  # above this share of the table in the window, scan primary-key slices instead of index ranges
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
STAGE_FILE_PREFIX = "leads_flow_stage."
_STAGE_FILE = re.compile(r"^leads_flow_stage\.(\d+)\.(\d+)\.[0-9a-f]{16}\.tsv$")
FOREIGN_FILE_GRACE_S = 600  # a file of another pid namespace: its lock alone tells, and only once it is this old
_TSV_SPECIAL = re.compile("[\\\\\t\n\r\0]")
_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def forbid_core_dumps(*, hard: bool = True) -> bool:
    """No core file of this process: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 (which also stops piped dumps to
    systemd-coredump/apport, and ptrace or /proc/<pid>/mem reads by other processes of the same user).

    ``hard`` lowers the hard limit too (irreversible for the process). Linux only; elsewhere a debug line
    and False.
    """
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0 if hard else resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError) as exc:
        log.debug("cannot set RLIMIT_CORE to 0 here: %s", exc)
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    except (OSError, AttributeError) as exc:  # not Linux (no prctl)
        log.debug("cannot mark this process non-dumpable here: %s", exc)
        return False
    return True


def _pid_ns() -> int:
    """The inode of this process's pid namespace: pids are only comparable inside one."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


@contextlib.contextmanager
def _stage_file(directory: str | None = None) -> Iterator[Any]:
    """A new 0600 file in tmpfs, named after its writer and flock-ed by it until it is removed.

    The file is unlinked before its descriptor (and so the lock) is released: a sweeper that gets the
    lock knows the writer is gone.
    """
    import fcntl

    directory = directory or _SHM or tempfile.gettempdir()
    name = f"{STAGE_FILE_PREFIX}{_pid_ns()}.{os.getpid()}.{secrets.token_hex(8)}.tsv"
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, "w", encoding="utf-8", newline="\n", closefd=False) as f:
            yield _Named(f, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


class _Named:
    """A text file plus the path LOAD DATA reads (``.name``), like NamedTemporaryFile's."""

    def __init__(self, f: Any, name: str) -> None:
        self._f, self.name = f, name

    def write(self, text: str) -> int:
        return self._f.write(text)

    def flush(self) -> None:
        self._f.flush()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie does not (a killed worker whose new parent never reaps it stays one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def sweep_stage_files(directory: str | None = None) -> list[str]:
    """Remove the staging files whose writer is gone (a SIGKILLed worker cannot remove its own); return them.

    A file is removed only when nobody holds its lock (the writer holds it until it has unlinked the file)
    and, in this pid namespace, its writer pid no longer exists; a file of another pid namespace (a
    container sharing /dev/shm) also has to be older than FOREIGN_FILE_GRACE_S. So a live task's file is
    never touched, whatever number of stage tasks run on the host.
    """
    import fcntl

    directory = directory or _SHM or tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    ns, removed = _pid_ns(), []
    for name in names:
        m = _STAGE_FILE.match(name)
        if not m:
            continue
        file_ns, pid = int(m.group(1)), int(m.group(2))
        path = os.path.join(directory, name)
        if file_ns == ns and _alive(pid):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:  # gone meanwhile, a symlink, not ours to read
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue  # its writer is alive
                raise
            st = os.fstat(fd)
            if file_ns != ns and time.time() - st.st_mtime < FOREIGN_FILE_GRACE_S:
                continue
            with contextlib.suppress(OSError):
                if os.stat(path, follow_symlinks=False).st_ino == st.st_ino:  # still the file we locked
                    os.unlink(path)
                    removed.append(name)
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d staging file(s) left in %s by killed stage workers", len(removed), directory)
    return removed


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
    return retrying(
        lambda: _stage_once(
            partition, etl_run_id, cipher, settings, dag_id, dag_run_id, legacy_conn_id, flow_conn_id, ids
        ),
        what=f"stage {etl_run_id}",
    )


def _slices(p: Partition, n: int) -> list[Partition]:
    """Cut the read window [read_start, end) into ``n`` equal, disjoint time slices."""
    start, end = p.read_start, p.end
    step = (end - start) / n
    bounds = [start + step * i for i in range(n)] + [end]
    bounds = [b - timedelta(microseconds=b.microsecond) for b in bounds[:-1]] + [end]
    return [Partition(a, b, 0) for a, b in zip(bounds, bounds[1:]) if a < b]


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
        total = (
            len(ids)
            if ids is not None
            else legacy.query(
                "count_window", {"start": partition.read_start, "end": partition.end}, legacy=settings.legacy_table
            )[0][0]
        )
        lo, hi = legacy.query("id_bounds", legacy=settings.legacy_table)[0]
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
    scan = lo is not None and total > SCAN_SHARE * (hi - lo + 1)
    # History imports scan primary-key slices (the work is the mapping: one process per core); daily
    # increments read index ranges (the work is random reads: more readers than cores).
    workers = 1 if not mysql or ids is not None else settings.workers if scan else settings.read_workers
    if workers == 1:
        res.add(_run_job(base, cipher, progress))
    else:
        if scan:
            n = workers * SLICES_PER_WORKER
            step = -(-(hi - lo + 1) // n)
            jobs = [
                _Job(
                    partition,
                    partition,
                    etl_run_id,
                    stage,
                    settings,
                    legacy_conn_id,
                    flow_conn_id,
                    base.loaded_at,
                    id_range=(a, a + step),
                )
                for a in range(lo, hi + 1, step)
            ]
        else:
            jobs = [
                _Job(partition, s, etl_run_id, stage, settings, legacy_conn_id, flow_conn_id, base.loaded_at)
                for s in _slices(partition, workers * READ_SLICES_PER_WORKER)
            ]
        # fork: the workers inherit the cipher and the connections (secrets never travel through a pipe).
        # Connections are resolved here: a forked worker must not talk to the task's supervisor itself.
        conns = {c: get_connection(c) for c in (legacy_conn_id, flow_conn_id)}
        with ProcessPoolExecutor(
            workers, mp_context=_TASK_FORK, initializer=_init_worker, initargs=(cipher, conns, os.getpid())
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


class _WorkerProcess(multiprocessing.context.ForkProcess):
    """A forked stage worker that a *daemonic* task process may start.

    ``multiprocessing`` refuses children to a process whose daemon flag is set ("daemonic processes are
    not allowed to have children"). Under CeleryExecutor's prefork pool the Airflow task process is forked
    from a daemonic pool process and inherits that flag, although nothing will ever terminate *it* as a
    daemon: the flag only describes how its own parent treats it. The rule exists so that a daemon's
    children are not orphaned when the daemon is killed; the stage workers already cannot be orphaned:
    each asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG) and checks ``getppid()``
    before every chunk (:func:`_init_worker`, :func:`_run_job`), and a killed worker's staging file is
    swept by the next stage (:func:`sweep_stage_files`). So this process class lifts the flag of the
    *current* process for the duration of ``start()`` only (the main thread; nothing else is forked
    meanwhile), restores it, and marks the child itself non-daemonic. Under LocalExecutor (flag unset)
    it is a plain ForkProcess. Nothing else changes: same fork, same initializer, same guarantees.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._config["daemon"] = False  # a copy of the parent's config: do not inherit its flag

    def start(self) -> None:
        config = multiprocessing.current_process()._config
        daemonic = config.pop("daemon", None)
        try:
            super().start()
        finally:
            if daemonic is not None:
                config["daemon"] = daemonic


class _TaskForkContext(multiprocessing.context.ForkContext):
    Process = _WorkerProcess


_TASK_FORK = _TaskForkContext()

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
    mapper = Mapper(cipher, job.settings, job.partition.end, job.etl_run_id, job.loaded_at)
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
                    raise _read_twice(job.stage) from exc
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


def _tsv(v: Any) -> str:
    if v is None:
        return "\\N"
    if v.__class__ is str:  # most values need no escape: look before building a new string
        return _TSV_SPECIAL.sub(lambda m: _TSV_ESCAPES[m.group()], v) if _TSV_SPECIAL.search(v) else v
    return str(v)  # int, and datetime whose str() is the 'YYYY-MM-DD HH:MM:SS[.ffffff]' MySQL reads


def load_rows(flow: Db, table: str, rows: list[tuple]) -> None:
    """Bulk-load mapped rows: LOAD DATA LOCAL INFILE on MySQL (tmpfs file), executemany on SQLite."""
    if not rows:
        return
    columns = ", ".join(STAGE_COLUMNS)
    if flow.dialect != "mysql":
        flow.executemany(
            "insert_rows", rows, table=table, columns=columns, placeholders=", ".join("?" * len(STAGE_COLUMNS))
        )
        return
    with _stage_file() as f:  # tmpfs, named after this process: sweep_stage_files removes it if we are killed
        f.write("\n".join(["\t".join(map(_tsv, r)) for r in rows]))
        f.write("\n")
        f.flush()
        [sql] = flow.sql("stage_load", stage=table, columns=columns)
        cur = flow.conn.cursor()
        codes: set[int] = set()
        try:
            with flow.local_infile(f.name):  # the only file the client sends, whatever the server asks
                cur.execute(sql, {"path": f.name})
            warnings = flow.conn.warning_count()
            if warnings:  # only the codes: a warning's text may quote the value
                cur.execute("SHOW WARNINGS LIMIT 20")
                codes = {int(r[1]) for r in cur.fetchall()}
        finally:
            cur.close()
    if warnings and codes == {1062}:  # LOCAL loads skip duplicate keys with a warning instead of failing
        raise _read_twice(table)
    if warnings:  # LOAD DATA turns bad values into warnings, not errors: treat any as a failure
        raise RuntimeError(
            f"LOAD DATA into {table} raised {warnings} warning(s) (codes {sorted(codes)}); "
            "refusing to stage altered data"
        )


def _read_twice(table: str) -> TransientDbError:
    return TransientDbError(
        f"stage {table}: a lead was read twice while the legacy table changed; the stage must read the window again"
    )

"""Leftovers and core dumps of the stage (issue 11): tmpfs staging files of killed workers, no core files.

A stage worker writes every chunk to a tmpfs file (protected values plus unionId, IP, user agent) before
LOAD DATA reads it. A SIGKILLed worker cannot remove it: the next stage task must, without ever touching
the file of a worker that is still alive. Processes that hold keys or plain phones must not dump core.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from leads_flow.io import stage, stage_files
from tests.helpers import insert, legacy_row, sync

SHM = Path(stage_files._SHM or "/tmp")
FORK = multiprocessing.get_context("fork")


def _hold_stage_file(directory: str | None, path_out, release) -> None:
    """A child that writes a staging file the way load_rows does, reports its path, then waits."""
    with stage_files.stage_file(directory) as f:
        f.write("1\toU-test\t58.1.2.3\tMozilla/5.0 test\n")
        f.flush()
        path_out.send(f.name)
        release.recv()  # EOF or a message: leave the with block (the file goes with it)


class Writer:
    """A forked process holding one staging file; stopped by its pid (SIGKILL) or released cleanly."""

    def __init__(self, directory: str | None = None) -> None:
        path_r, path_w = FORK.Pipe(duplex=False)
        self.release_r, self.release_w = FORK.Pipe(duplex=False)
        self.proc = FORK.Process(target=_hold_stage_file, args=(directory, path_w, self.release_r), daemon=True)
        self.proc.start()
        assert path_r.poll(15), "the writer did not start"
        self.path = Path(path_r.recv())

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join(10)
        assert self.proc.exitcode == -signal.SIGKILL

    def release(self) -> None:
        if self.proc.is_alive():
            self.release_w.send("done")
            self.proc.join(10)
        if self.proc.is_alive():  # never leave it behind
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.join(5)


@pytest.fixture
def writers():
    started: list[Writer] = []

    def start(directory: str | None = None) -> Writer:
        w = Writer(directory)
        started.append(w)
        return w

    yield start
    for w in started:
        w.release()
        w.path.unlink(missing_ok=True)  # a killed writer's file, if a failing test left it


def test_stage_file_is_named_after_its_writer_private_and_gone_after_use(writers, tmp_path):
    w = writers(str(tmp_path))
    assert w.path.parent == tmp_path
    assert w.path.name.startswith(f"{stage_files.STAGE_FILE_PREFIX}{stage_files._pid_ns()}.{w.proc.pid}.")
    assert stage_files._STAGE_FILE.match(w.path.name)
    assert w.path.stat().st_mode & 0o777 == 0o600
    w.release()
    assert not w.path.exists()


def test_next_stage_task_removes_a_killed_workers_file_and_keeps_a_live_ones(sqlite_dbs, writers):
    killed, live = writers(), writers()
    assert killed.path.parent == SHM and killed.path.exists() and live.path.exists()
    killed.kill()
    assert killed.path.exists()  # SIGKILL: nothing could remove it

    insert(sqlite_dbs, [legacy_row(unionId="oU1", update_time=datetime(2026, 11, 20, 9))])
    [res] = sync("2026-11-20", run_id="manual__after_kill")
    assert res["etl_run_id"] == "manual__after_kill@2026-11-20T00:00"

    assert not killed.path.exists()
    assert live.path.exists() and live.path.read_text().startswith("1\toU-test")  # untouched
    live.release()
    assert not live.path.exists()


def test_sweep_keeps_what_it_cannot_prove_abandoned(tmp_path, writers):
    ns = stage_files._pid_ns()
    dead = _dead_pid()
    live = writers(str(tmp_path))
    decoys = [
        "leads_flow_stage.x.tsv",
        f"leads_flow_stage.{ns}.{dead}.short.tsv",
        "tmpabc.tsv",
        f"other.{ns}.{dead}.0123456789abcdef.tsv",
    ]
    for d in decoys:
        (tmp_path / d).write_text("x")
    abandoned = tmp_path / f"leads_flow_stage.{ns}.{dead}.0123456789abcdef.tsv"
    abandoned.write_text("x")
    foreign_new = tmp_path / f"leads_flow_stage.{ns + 1}.{dead}.00000000000000aa.tsv"  # another pid namespace
    foreign_old = tmp_path / f"leads_flow_stage.{ns + 1}.{dead}.00000000000000bb.tsv"
    for f in (foreign_new, foreign_old):
        f.write_text("x")
    old = time.time() - stage_files.FOREIGN_FILE_GRACE_S - 5
    os.utime(foreign_old, (old, old))
    # a file whose pid looks dead here but whose lock a live process holds (a writer in another namespace)
    locked = writers(str(tmp_path))
    disguised = tmp_path / f"leads_flow_stage.{ns}.{dead}.00000000000000cc.tsv"
    os.link(locked.path, disguised)

    removed = stage_files.sweep_stage_files(str(tmp_path))

    assert sorted(removed) == sorted([abandoned.name, foreign_old.name])
    left = {p.name for p in tmp_path.iterdir()}
    assert set(decoys) <= left and {live.path.name, foreign_new.name, disguised.name, locked.path.name} <= left
    disguised.unlink()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = FORK.Process(target=os._exit, args=(0,))
    p.start()
    p.join(10)
    return p.pid


def _hardening() -> tuple[int, tuple[int, int]]:
    """prctl(PR_GET_DUMPABLE) (Linux keeps no Dumpable line in /proc/self/status) and RLIMIT_CORE."""
    import ctypes

    return ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), resource.getrlimit(resource.RLIMIT_CORE)


@pytest.mark.skipif(not Path("/proc/self/ns").exists(), reason="Linux only")
def test_stage_workers_are_not_dumpable_and_write_no_core():
    # started exactly as _stage_once starts them: fork context, _init_worker with the task's pid
    with ProcessPoolExecutor(
        2, mp_context=FORK, initializer=stage._init_worker, initargs=(None, {}, os.getpid())
    ) as pool:
        results = list(pool.map(_hardening_of, range(2)))
    assert results == [(0, (0, 0))] * 2


def _hardening_of(_: int) -> tuple[int, tuple[int, int]]:
    return _hardening()


@pytest.mark.skipif(not Path("/proc/self/ns").exists(), reason="Linux only")
def test_the_task_process_writes_no_core_once_it_stages(sqlite_dbs):
    """Checked in a forked task process, so that this test process keeps its own settings."""
    r, w = FORK.Pipe(duplex=False)

    def task() -> None:
        import ctypes

        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable again, whatever an earlier test did here
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        before = _hardening()
        insert(sqlite_dbs, [legacy_row(unionId="oU1", update_time=datetime(2026, 11, 20, 9))])
        sync("2026-11-20", run_id="manual__no_core")
        w.send((before, _hardening()))

    p = FORK.Process(target=task)
    p.start()
    try:
        assert r.poll(30), "the task process did not report"
        before, (dumpable, (soft, _hard)) = r.recv()
    finally:
        p.join(10)
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
            p.join(5)
    assert before[0] == 1 and (before[1][0] != 0 or before[1][1] == 0)
    assert (dumpable, soft) == (0, 0)


@pytest.mark.mysql
def test_after_a_sigkilled_stage_on_mariadb_the_rerun_leaves_no_file_of_the_killed_processes(
    mysql_dbs, big_data, monkeypatch
):
    """The real thing: a stage task with its loader workers SIGKILLed (process group) while it loads, then the
    retry. Whether a worker died holding a file depends on timing; afterwards none of theirs may be left."""
    from leads_flow.tasks import sync as pipeline
    from tests.reliability import _support as S

    big_data.copy_into(mysql_dbs)
    monkeypatch.setenv("LEADS_FLOW_CHUNK_ROWS", "2000")
    monkeypatch.setenv("LEADS_FLOW_WORKERS", "2")
    run_id = "manual__sigkill_files"
    p = S.params_for("2026-11-20", **big_data.params)
    [part] = pipeline.plan(p, None, None)
    table = S.stage_name(run_id, part)
    watch = S.admin(mysql_dbs.flow_name)

    def staged_rows() -> int:
        try:
            return S.scalar(watch, f"SELECT COUNT(*) FROM {table}")
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    with S.task(lambda: pipeline.stage(part, p, S.DAG_ID, run_id)) as tk:
        S.wait_for(lambda: (tk.remember_descendants(), staged_rows())[1], 60, "the first staged rows")
        tk.kill_group()
        S.wait_for(lambda: not tk.alive_descendants(), 10, "the task's workers to die with it")
    killed = {tk.pid} | tk.descendants

    def files_of_killed() -> list[str]:
        return [
            f.name for f in SHM.iterdir() if (m := stage_files._STAGE_FILE.match(f.name)) and int(m.group(2)) in killed
        ]

    left_by_kill = files_of_killed()
    staged = pipeline.stage(part, p, S.DAG_ID, run_id)
    assert staged["extracted"] == big_data.rows
    assert files_of_killed() == [], f"{len(left_by_kill)} left by the kill, still there after the rerun"

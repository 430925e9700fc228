"""Process hygiene of the processes that hold keys or plain phones: no core file, no ptrace, and stage workers
that a daemonic task process (CeleryExecutor's prefork pool) may still fork."""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

log = logging.getLogger(__name__)


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


class _WorkerProcess(multiprocessing.context.ForkProcess):
    """A forked stage worker that a *daemonic* task process may start.

    ``multiprocessing`` refuses children to a process whose daemon flag is set ("daemonic processes are
    not allowed to have children"). Under CeleryExecutor's prefork pool the Airflow task process is forked
    from a daemonic pool process and inherits that flag, although nothing will ever terminate *it* as a
    daemon: the flag only describes how its own parent treats it. The rule exists so that a daemon's
    children are not orphaned when the daemon is killed; the stage workers already cannot be orphaned:
    each asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG) and checks ``getppid()``
    before every chunk (:func:`leads_flow.io.stage._init_worker`, :func:`leads_flow.io.stage._run_job`), and a killed worker's staging file is
    swept by the next stage (:func:`leads_flow.io.stage_files.sweep_stage_files`). So this process class lifts the flag of the
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


TASK_FORK = _TaskForkContext()

"""The tmpfs files a bulk load goes through: 0600, named after their writer and flock-ed by it while they exist,
so the next stage can remove those whose writer was killed (:func:`sweep_stage_files`)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


STAGE_FILE_PREFIX = "leads_flow_stage."


_STAGE_FILE = re.compile(r"^leads_flow_stage\.(\d+)\.(\d+)\.[0-9a-f]{16}\.tsv$")


FOREIGN_FILE_GRACE_S = 600  # a file of another pid namespace: its lock alone tells, and only once it is this old


def _pid_ns() -> int:
    """The inode of this process's pid namespace: pids are only comparable inside one."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


@contextlib.contextmanager
def stage_file(directory: str | None = None) -> Iterator[Any]:
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

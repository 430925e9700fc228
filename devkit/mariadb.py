"""A private MariaDB for benchmarks and tests: its own datadir, loopback port and socket, stopped by its pid.

    with PrivateMariaDB(pool="128M") as srv:        # mariadb-install-db + mariadbd, waits until it answers
        srv.url                                     # mysql://root@127.0.0.1:<port> (root, no password)
        srv.restart(pool="1G")                      # same datadir, cold buffer pool, new size
    # stopped (SIGTERM, then SIGKILL) and its directory removed, also on an exception or Ctrl-C

The server is started with ``--no-defaults`` (nothing from /etc/mysql), MariaDB's own defaults except what is
given here: ``--innodb-buffer-pool-size`` (the parameter), local_infile on, no binary log, utf8mb4, and no
buffer-pool dump or load across restarts (each start is cold). It runs in its own session, so Ctrl-C at the
terminal reaches only the caller, whose ``finally`` stops it; if the caller dies without cleaning up, the kernel
sends the server SIGTERM (PR_SET_PDEATHSIG). Only loopback: ``--bind-address=127.0.0.1``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_DB = "mariadb-install-db"
MARIADBD = "mariadbd"
HOST = "127.0.0.1"


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/usr/bin")


def available() -> bool:
    """mariadb-install-db and mariadbd are installed (Debian: mariadb-server)."""
    return bool(_which(INSTALL_DB) and _which(MARIADBD))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child before exec
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrivateMariaDB:
    """One mariadbd on a private datadir; ``start``/``stop``/``restart``, ``close`` removes the directory."""

    def __init__(
        self, pool: str = "128M", extra_args: tuple[str, ...] = (), parent: str | None = None, log=None
    ) -> None:
        if not available():
            raise RuntimeError("mariadb-install-db/mariadbd not found (apt-get install mariadb-server)")
        self.pool = pool
        self.extra_args = tuple(extra_args)
        self.dir = Path(tempfile.mkdtemp(prefix="lf-mdb-", dir=parent))  # short: the socket path has 108 bytes
        self.datadir = self.dir / "data"
        self.socket = self.dir / "sock"
        self.errlog = self.dir / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._log = log or (lambda msg: None)
        self._installed = False

    # -- addresses

    @property
    def url(self) -> str:
        return f"mysql://root@{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def connect(self, **kw):
        import MySQLdb

        return MySQLdb.connect(unix_socket=str(self.socket), user="root", charset="utf8mb4", **kw)

    # -- life cycle

    def install(self) -> None:
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                _which(INSTALL_DB),
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *as_root,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        self._installed = True

    def args(self) -> list[str]:
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        return [
            _which(MARIADBD),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={HOST}",
            f"--pid-file={self.dir / 'pid'}",
            f"--log-error={self.errlog}",
            f"--innodb-buffer-pool-size={self.pool}",
            "--innodb-buffer-pool-dump-at-shutdown=0",
            "--innodb-buffer-pool-load-at-startup=0",
            "--local-infile=1",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            *self.extra_args,
            *as_root,
        ]

    def start(self, timeout: float = 120) -> None:
        if self.pid is not None:
            return
        if not self._installed:
            self.install()
        self.proc = subprocess.Popen(
            self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        import MySQLdb

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited ({self.proc.returncode}): {self.tail()}")
            try:
                conn = self.connect()
                break
            except MySQLdb.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mariadbd did not answer within {timeout:.0f} s: {self.tail()}") from None
                time.sleep(0.2)
        try:
            cur = conn.cursor()
            # root over TCP from 127.0.0.1 as from the socket (the connections' URL names 127.0.0.1)
            cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
            cur.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
        finally:
            conn.close()
        self._log(
            f"mariadb: pid {self.proc.pid} on {HOST}:{self.port}, buffer pool {self.pool}, "
            f"datadir {self.datadir} ({self.filesystem()})"
        )

    def stop(self, timeout: float = 180) -> None:
        """SIGTERM to our server's pid (a clean shutdown), SIGKILL if it has not exited within ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)

    def restart(self, pool: str | None = None) -> None:
        """Stop and start on the same datadir (a cold buffer pool), optionally with another pool size."""
        self.stop()
        if pool is not None:
            self.pool = pool
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def filesystem(self) -> str:
        """The type of the filesystem that holds the datadir (a benchmark on tmpfs would measure no disk)."""
        best, fstype = "", "?"
        path = os.path.realpath(self.datadir)
        with open("/proc/mounts") as f:
            for line in f:
                _, mnt, typ = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, fstype = mnt, typ
        return f"{fstype} on {best}"

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.errlog.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    # -- what it did

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory since its start (VmHWM)."""
        if self.pid is None:
            return 0.0
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

    def cpu_s(self) -> float:
        """The server's CPU seconds (user + system) since its start."""
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> PrivateMariaDB:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

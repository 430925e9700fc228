"""A LOAD DATA LOCAL INFILE handler that sends the one staging file armed for it, and nothing else."""

from __future__ import annotations

import ctypes
import logging
import os
import stat
import threading
from typing import Any

from leads_flow.io.retry import PermanentDbError

log = logging.getLogger(__name__)

# Connector/C's MYSQL_OPT_LOCAL_INFILE value "auto": a file request is accepted only as the answer to a
# query that starts with LOAD (any other answer gets "Load data local infile forbidden").
LOCAL_INFILE_AUTO = 2
_INFILE_REFUSED = 2000  # CR_UNKNOWN_ERROR: mysqlclient raises OperationalError, classified permanent


_INIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_void_p)
_READ = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint)
_END = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_ERROR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint)


class InfileGuard:
    """The connection's LOAD DATA LOCAL INFILE handler: it sends only the one file armed by ``allow``.

    Installed with Connector/C's ``mysql_set_local_infile_handler`` (mysqlclient has no path option for
    MariaDB's client library: its ``local_infile_dir`` needs MySQL's libmysqlclient >= 8.0.21). A server
    that answers a query with a file request gets the armed file when it names exactly that path (as the
    LOAD statement does), and an empty file plus a client error otherwise: no other path, no symlink, no
    device, nothing while no file is armed. The armed file is sent at most once.
    """

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._allowed: bytes | None = None
        self._fd = -1
        self._lock = threading.Lock()
        self.refused = 0
        # ctypes callbacks: keep references for the connection's lifetime (the C side stores the pointers).
        self._callbacks = (_INIT(self._init), _READ(self._read), _END(self._end), _ERROR(self._error))

    @classmethod
    def install(cls, conn: Any, conn_id: str) -> InfileGuard:
        guard = cls(conn_id)
        try:
            import MySQLdb._mysql

            capsule = conn._get_native_connection()
            get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
            get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            mysql = get_pointer(capsule, b"_mysql.connection.native_connection")
            # dlsym through the extension module finds the client library it is linked with (or contains).
            set_handler = ctypes.CDLL(MySQLdb._mysql.__file__).mysql_set_local_infile_handler
        except (AttributeError, OSError, ValueError, ImportError) as exc:
            raise PermanentDbError(
                f"connection {conn_id!r}: cannot restrict LOAD DATA LOCAL INFILE with this "
                f"client library ({type(exc).__name__}); mysqlclient is required"
            ) from exc
        set_handler.restype = None
        set_handler.argtypes = [ctypes.c_void_p, _INIT, _READ, _END, _ERROR, ctypes.c_void_p]
        set_handler(mysql, *guard._callbacks, None)
        conn._leads_flow_infile_guard = guard  # the callbacks live as long as the connection
        return guard

    def allow(self, path: str | None) -> None:
        with self._lock:
            self._allowed = os.fsencode(path) if path is not None else None

    # The callbacks run inside the client library, with the GIL taken back by ctypes. An exception
    # must never escape one (ctypes would print it and return 0, which init would read as success).
    def _init(self, info: Any, filename: bytes | None, _userdata: Any) -> int:
        try:
            with self._lock:
                allowed, self._allowed = self._allowed, None  # one request per arming
            self._fd = -1
            if allowed is None or filename != allowed:
                self.refused += 1
                log.error(
                    "connection %s: the server asked for a file other than the staging file "
                    "(LOAD DATA LOCAL INFILE); refused, nothing sent",
                    self.conn_id,
                )
                return 1
            fd = os.open(allowed, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                os.close(fd)
                self.refused += 1
                log.error("connection %s: the staging file is not a regular file of ours; refused", self.conn_id)
                return 1
            self._fd = fd
            return 0
        except BaseException:  # noqa: BLE001 - see above
            self.refused += 1
            log.error("connection %s: cannot open the staging file for LOAD DATA; refused", self.conn_id)
            return 1

    def _read(self, _info: Any, buf: int, size: int) -> int:
        try:
            data = os.read(self._fd, size)
            ctypes.memmove(buf, data, len(data))
            return len(data)
        except BaseException:  # noqa: BLE001
            return -1

    def _end(self, _info: Any) -> None:
        try:
            if self._fd >= 0:
                os.close(self._fd)
        except BaseException:  # noqa: BLE001
            pass
        self._fd = -1

    def _error(self, _info: Any, buf: int, size: int) -> int:
        # A constant text: Connector/C uses it as a printf format, so nothing the server sent goes in.
        msg = b"LOAD DATA LOCAL INFILE refused: the server asked for a file other than the staging file"
        try:
            if size > 0:
                data = msg[: size - 1] + b"\0"
                ctypes.memmove(buf, data, len(data))
        except BaseException:  # noqa: BLE001
            pass
        return _INFILE_REFUSED

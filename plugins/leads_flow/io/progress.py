"""Progress lines for long tasks: rows done, rows/s and an ETA when the total is known."""

from __future__ import annotations

import logging
import time


class Progress:
    """Logs at most every ``every_s`` seconds, so a million-row partition does not flood the task log."""

    def __init__(self, what: str, log: logging.Logger, total: int | None = None, every_s: float = 10.0) -> None:
        self.what, self.log, self.total, self.every_s = what, log, total, every_s
        self.t0 = self.last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = f", ETA {max(self.total - done, 0) / rate:.0f}s" if self.total and rate else ""
        self.log.info("%s: %d rows, %.0f rows/s%s", self.what, done, rate, eta)

    def done(self, done: int) -> None:
        secs = time.monotonic() - self.t0
        self.log.info("%s: done, %d rows in %.1fs (%.0f rows/s)", self.what, done, secs, done / max(secs, 1e-9))

"""How a partition is cut for the stage workers: primary-key slices for a history-sized window (sequential reads;
the mapping is the work), time slices read through the update_time/create_time indexes for a daily increment
(each row a random read: the disk, not a core, is the wait)."""

from __future__ import annotations

from datetime import timedelta

from leads_flow.window import Partition

SLICES_PER_WORKER = 4  # smaller slices balance uneven id ranges between the mapping workers


READ_SLICES_PER_WORKER = 2  # time slices per index-range reader (each slice is one query per reader)


SCAN_SHARE = 0.15  # above this share of the table in the window, scan primary-key slices instead of index ranges


def time_slices(p: Partition, n: int) -> list[Partition]:
    """Cut the read window [read_start, end) into ``n`` equal, disjoint time slices."""
    start, end = p.read_start, p.end
    step = (end - start) / n
    bounds = [start + step * i for i in range(n)] + [end]
    bounds = [b - timedelta(microseconds=b.microsecond) for b in bounds[:-1]] + [end]
    return [Partition(a, b, 0) for a, b in zip(bounds, bounds[1:]) if a < b]


def is_scan(total: int, lo: int | None, hi: int | None) -> bool:
    """Above :data:`SCAN_SHARE` of the table's id span, primary-key slices beat index ranges."""
    return lo is not None and hi is not None and total > SCAN_SHARE * (hi - lo + 1)


def id_slices(lo: int, hi: int, workers: int) -> list[tuple[int, int]]:
    """[lo, hi] cut into ``workers`` × :data:`SLICES_PER_WORKER` half-open id ranges."""
    step = -(-(hi - lo + 1) // (workers * SLICES_PER_WORKER))
    return [(a, min(a + step, hi + 1)) for a in range(lo, hi + 1, step)]  # never past hi: a bulk partition's end

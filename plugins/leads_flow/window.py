"""Which legacy rows a run owns: its window, resolved from params or the data interval, in daily partitions.

All datetimes here are naive Asia/Shanghai wall-clock times, like the legacy DATETIME columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from leads_flow.config import TZ, ConfigError
from leads_flow.rules.redact import redact


@dataclass(frozen=True)
class Partition:
    """One day of source_updated_at: the unit of write–audit–publish. A bulk partition (``id_from`` set) is the
    window's rows of the legacy id range [id_from, id_to) instead (docs/scaling.md, the bulk path)."""

    start: datetime
    end: datetime
    overlap_minutes: int
    id_from: int | None = None
    id_to: int | None = None

    @property
    def bulk(self) -> bool:
        return self.id_from is not None

    @property
    def read_start(self) -> datetime:
        """Re-read a little before the start for rows committed late with an earlier timestamp."""
        return self.start - timedelta(minutes=self.overlap_minutes)

    @property
    def label(self) -> str:
        """How people see the partition: the Airflow grid's map index (``map_index_template``), the run report."""
        return label_of(self.start, self.end, self.id_from)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "overlap_minutes": self.overlap_minutes,
        }
        if self.bulk:
            d.update(id_from=self.id_from, id_to=self.id_to)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Partition:
        ids = (int(d["id_from"]), int(d["id_to"])) if d.get("id_from") is not None else (None, None)
        return cls(
            datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]), int(d["overlap_minutes"]), *ids
        )


def label_of(start: datetime | None, end: datetime | None, id_from: int | None = None) -> str:
    """A partition's name: its day (``2026-11-20``), its span of whole days (``2026-11-01 … 2026-11-20``) or of
    times when it does not start and end at midnight; a bulk partition adds ``· ids from N`` (its id range's start,
    which its ``etl_run_id`` ends with, ``#N``)."""
    if start is None:
        return "?"
    midnight = datetime.min.time()
    if end is None or (start.time() == midnight and end.time() == midnight and end - start == timedelta(days=1)):
        days = f"{start:%Y-%m-%d}"
    elif start.time() == midnight and end.time() == midnight:
        days = f"{start:%Y-%m-%d} … {end - timedelta(days=1):%Y-%m-%d}"
    else:
        days = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
    return days if id_from is None else f"{days} · ids from {id_from}"


def label_of_dict(partition: Mapping[str, Any]) -> str:
    """:func:`label_of` of a partition as it travels in XCom (:meth:`Partition.to_dict`): the DAG's Jinja filter
    ``partition_label`` for ``map_index_template``."""
    return Partition.from_dict(partition).label


def _local_naive(ts: Any) -> datetime:
    if ts.tzinfo is None:
        raise ConfigError("data interval bounds must be timezone-aware")
    return datetime.fromtimestamp(ts.timestamp(), TZ).replace(tzinfo=None)


def _parse_date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(
            f"param {name} must be a date YYYY-MM-DD (e.g. 2026-11-20), got {redact(repr(value))}"
        ) from exc


def resolve_window(
    params: Mapping[str, Any], interval_start: Any, interval_end: Any, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[start, end) of the run: params first, then a non-empty data interval, else the last complete day.

    Params ``start_date``/``end_date`` are inclusive dates. Manual runs in Airflow 3 have an empty (or
    missing) data interval, so they fall through to params or the default.
    """
    start_p, end_p = params.get("start_date"), params.get("end_date")
    if start_p or end_p:
        first = _parse_date(start_p or end_p, "start_date")
        last = _parse_date(end_p or start_p, "end_date")
        if last < first:
            raise ConfigError(
                f"the window is reversed: end_date {last} is before start_date {first} "
                "(both are inclusive days in Asia/Shanghai; swap them)"
            )
        return datetime.combine(first, datetime.min.time()), datetime.combine(
            last + timedelta(days=1), datetime.min.time()
        )
    if interval_start is not None and interval_end is not None and interval_end > interval_start:
        return _local_naive(interval_start), _local_naive(interval_end)
    today = (now or datetime.now(TZ)).astimezone(TZ).date()
    return datetime.combine(today - timedelta(days=1), datetime.min.time()), datetime.combine(
        today, datetime.min.time()
    )


def asked_day(params: Mapping[str, Any], now: datetime | None = None) -> datetime:
    """The day a run was asked for, best effort, for the audit row of a run whose plan failed: its first parseable
    ``start_date``/``end_date``, else today (Asia/Shanghai)."""
    for name in ("start_date", "end_date"):
        try:
            return datetime.combine(_parse_date(params.get(name), name), datetime.min.time())
        except ConfigError:
            continue
    return datetime.combine((now or datetime.now(TZ)).astimezone(TZ).date(), datetime.min.time())


def partitions(start: datetime, end: datetime, overlap_minutes: int) -> list[Partition]:
    """Split [start, end) at local midnights; the first and last pieces may be partial days."""
    out: list[Partition] = []
    cur = start
    while cur < end:
        nxt = min(datetime.combine(cur.date() + timedelta(days=1), datetime.min.time()), end)
        out.append(Partition(cur, nxt, overlap_minutes))
        cur = nxt
    return out


def id_partitions(
    start: datetime, end: datetime, overlap_minutes: int, lo: int, hi: int, rows: int, rows_per_partition: int
) -> list[Partition]:
    """The bulk path's partitions: the window [start, end) over legacy ids [lo, hi] cut into equal id ranges of
    about ``rows_per_partition`` of the window's ``rows`` each (rows assumed spread evenly over the ids)."""
    n = max(1, -(-rows // rows_per_partition))
    step = max(1, -(-(hi - lo + 1) // n))
    bounds = list(range(lo, hi + 1, step))
    # the first range from id 0 and the last one open-ended: a lead inserted after the plan is still read
    starts = [0, *bounds[1:]]
    ends = [*bounds[1:], ID_MAX]
    return [Partition(start, end, overlap_minutes, a, b) for a, b in zip(starts, ends)]


ID_MAX = 2**63 - 1
"""The open end of the last bulk partition (leads_aggr.id is a BIGINT)."""

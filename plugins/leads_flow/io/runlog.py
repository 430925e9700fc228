"""The one writer of ``leads_flow_run``: a partition run's audit row, from start to published or failed.

Every status a row can hold is a :class:`RunStatus`; the SQL binds them, so no status is spelled anywhere
else. Error text is masked (:func:`leads_flow.rules.redact.reason_of`) here, so no caller can store a phone
number in ``error`` by passing raw exception text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from leads_flow.config import ConfigError
from leads_flow.errors import Recorded
from leads_flow.io.connect import connected
from leads_flow.io.db import Db, as_datetime
from leads_flow.rules.redact import reason_of
from leads_flow.window import Partition

log = logging.getLogger(__name__)
T = TypeVar("T")

RUN_ID_MAX = 250  # the etl_run_id and reconcile_run_id columns
# Run ids are always bound, never spliced into SQL; quotes, backslashes and control characters are still
# refused before anything is written, so an id stays one token in logs, links and the report. Airflow's
# default allowed_run_id_pattern never produces them.
_UNSAFE_RUN_ID = re.compile(r"['\"\\`\x00-\x1f\x7f]")


class UnsafeRunId(ConfigError):
    """A run id that may not be carried into SQL text; permanent (a retry cannot change it)."""


def short_id(text: str, limit: int = RUN_ID_MAX) -> str:
    """``text`` if it fits the run-id columns, else its head, ``~`` and a hash of the whole."""
    if len(text) <= limit:
        return text
    return text[: limit - 17] + "~" + hashlib.sha1(text.encode()).hexdigest()[:16]


def etl_run_id_for(dag_run_id: str, partition: Partition) -> str:
    """``<dag run id>@<partition start>``; a run id too long for the columns keeps its head and a hash."""
    suffix = f"@{partition.start:%Y-%m-%dT%H:%M}"
    if partition.bulk:  # a bulk partition: one of several id ranges over the same window
        suffix += f"#{partition.id_from}"
    return short_id(dag_run_id, RUN_ID_MAX - len(suffix)) + suffix


def plan_run_id(dag_run_id: str) -> str:
    """``<dag run id>@plan``: the row of a DAG run whose plan failed, so the report lists it with its error."""
    return short_id(dag_run_id, RUN_ID_MAX - 5) + "@plan"


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is one safe token (no quotes, backslashes or control characters), else :class:`UnsafeRunId`."""
    if not isinstance(run_id, str) or not run_id or _UNSAFE_RUN_ID.search(run_id):
        raise UnsafeRunId(
            f"refusing run id {run_id!r}: quotes, backslashes and control characters "
            "are not allowed (see [scheduler] allowed_run_id_pattern)"
        )
    return run_id


class RunStatus(StrEnum):
    """Where a partition run stands; the run report shows each with its label and meaning."""

    STAGING = "staging"
    STAGED = "staged"
    GATED = "gated"
    PUBLISHED = "published"
    DRY_RUN = "dry_run"
    GATE_FAILED = "gate_failed"
    FAILED = "failed"
    BULK_PUBLISHED = "bulk_published"  # a bulk partition, published by the run's bulk publish (per-day rows beside)
    PLAN_FAILED = "plan_failed"  # the run's plan failed (a reversed window, bad params): one row for the DAG run


DONE = (RunStatus.PUBLISHED, RunStatus.DRY_RUN, RunStatus.BULK_PUBLISHED)
"""A row in one of these is finished for good: no later failure overwrites it."""
_DONE = {"published": RunStatus.PUBLISHED.value, "dry_run": RunStatus.DRY_RUN.value}


def _window(partition: Partition) -> dict[str, Any]:
    return {
        "partition_start": partition.start,
        "partition_end": partition.end,
        "window_start": partition.read_start,
        "window_end": partition.end,
    }


def start(
    flow: Db,
    etl_run_id: str,
    partition: Partition,
    dag_id: str | None,
    dag_run_id: str | None,
    now: datetime | None = None,
) -> None:
    """Open (or reopen, on a retry) the row as ``staging``; the caller owns the transaction."""
    flow.run(
        "run_start",
        {
            "etl_run_id": etl_run_id,
            "dag_id": dag_id,
            "dag_run_id": dag_run_id,
            **_window(partition),
            "status": RunStatus.STAGING.value,
            "now": now or datetime.now(),
        },
    )


def staged(flow: Db, etl_run_id: str, counts: Mapping[str, int], rejects_by_reason: Mapping[str, int], seconds: float):
    """Counts of the extract and stage step; the caller owns the transaction."""
    flow.run(
        "run_staged",
        {
            "etl_run_id": etl_run_id,
            "status": RunStatus.STAGED.value,
            **{k: counts[k] for k in ("extracted", "staged", "rejected", "coerced")},
            "rejects_by_reason": json.dumps(dict(rejects_by_reason)),
            "timings": json.dumps({"stage_s": seconds}),
        },
    )


def gated(
    flow: Db, etl_run_id: str, *, success: bool, failed: list[str], results: Any, timings: Mapping[str, Any]
) -> None:
    """The gate's verdict and every expectation's result; a failed gate also finishes the row."""
    flow.run(
        "run_gated",
        {
            "etl_run_id": etl_run_id,
            "status": (RunStatus.GATED if success else RunStatus.GATE_FAILED).value,
            "gate_success": int(success),
            "gate_failed_checks": ",".join(failed) or None,
            "gate_results": json.dumps(results),
            "timings": json.dumps(dict(timings)),
            "finished_at": None if success else datetime.now(),
        },
    )


def published(flow: Db, etl_run_id: str, *, dry_run: bool, changed: int, timings: Mapping[str, Any]) -> None:
    """In the publish's own transaction: the row says published exactly when the upsert committed."""
    flow.run(
        "run_published",
        {
            "etl_run_id": etl_run_id,
            "status": (RunStatus.DRY_RUN if dry_run else RunStatus.PUBLISHED).value,
            "published": changed,
            "timings": json.dumps(dict(timings)),
            "now": datetime.now(),
        },
    )


def bulk_published(flow: Db, etl_run_id: str, *, changed: int, timings: Mapping[str, Any]) -> None:
    """A bulk partition's rows went live with the run's bulk publish (the caller owns the transaction)."""
    flow.run(
        "run_published",
        {
            "etl_run_id": etl_run_id,
            "status": RunStatus.BULK_PUBLISHED.value,
            "published": changed,
            "timings": json.dumps(dict(timings)),
            "now": datetime.now(),
        },
    )


def timings_of(flow: Db, etl_run_id: str) -> dict[str, Any]:
    """The row's recorded timings ({} when none)."""
    row = flow.query("run_get", {"etl_run_id": etl_run_id})
    return json.loads(row[0][4]) if row and row[0][4] else {}


def status_of(flow: Db, etl_run_id: str) -> str | None:
    """The row's status, None when there is no row."""
    row = flow.query("run_get", {"etl_run_id": etl_run_id})
    return row[0][-1] if row else None


def volume_recorded(flow: Db, etl_run_id: str, volume: Mapping[str, Any]) -> None:
    """The gate's volume check (``volume_check``, JSON); the caller owns the transaction."""
    flow.run("run_volume", {"etl_run_id": etl_run_id, "volume_check": json.dumps(dict(volume))})


def volume_history(flow: Db, etl_run_id: str, since: datetime) -> list[tuple[datetime, int]]:
    """(partition start, extracted) of the partitions published by this run's DAG before this run's partition,
    from ``since`` on: newest first, a partition published more than once with its latest publish first."""
    rows = flow.query(
        "volume_history", {"etl_run_id": etl_run_id, "published": RunStatus.PUBLISHED.value, "since": since}
    )
    return [(d, int(n)) for start, n in rows if (d := as_datetime(start)) is not None]


@dataclass(frozen=True)
class PartitionRun:
    """One run of a partition as the freshness watchdog sees it."""

    etl_run_id: str
    dag_id: str | None
    status: str
    finished_at: datetime | None

    @property
    def published(self) -> bool:
        return self.status == RunStatus.PUBLISHED


def partition_runs(flow: Db, partition: Partition) -> list[PartitionRun]:
    """Every run of ``partition`` (any DAG), newest first; none before the first sync created the table."""
    try:
        rows = flow.query("freshness_partition", {"partition_start": partition.start, "partition_end": partition.end})
    except Exception as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == 1146 or "no such table" in str(exc):
            return []
        raise
    return [PartitionRun(r[0], r[1], r[2], as_datetime(r[3])) for r in rows]


def is_done(flow: Db, etl_run_id: str) -> bool:
    """True when the row is published or a dry run (a publish retried after its commit)."""
    row = flow.query("run_get", {"etl_run_id": etl_run_id})
    return bool(row) and row[0][-1] in DONE


def failed(flow_conn_id: str, etl_run_id: str, exc: BaseException) -> None:
    """A task's own failure, masked; never raises (the original error matters more than the audit row)."""
    try:
        with connected(flow_conn_id) as flow, flow.transaction():
            flow.run(
                "run_failed",
                {
                    "etl_run_id": etl_run_id,
                    "status": RunStatus.FAILED.value,
                    "error": reason_of(exc),
                    "now": datetime.now(),
                    **_DONE,
                },
            )
    except Exception:  # noqa: BLE001
        log.warning("could not record the failure of %s", etl_run_id)


def failed_by_callback(
    flow: Db,
    etl_run_id: str,
    reason: str,
    *,
    partition: Partition | None,
    dag_id: str | None,
    dag_run_id: str | None,
    status: RunStatus = RunStatus.FAILED,
) -> None:
    """The failure callback's record: a row is created when the task died before :func:`start`; a row keeps
    its ``gate_failed`` status and an error the task recorded itself. ``reason`` is masked again here.
    ``status`` is ``plan_failed`` for a failed plan (its row: :func:`plan_run_id`, the asked day, empty)."""
    params: dict[str, Any] = {
        "etl_run_id": etl_run_id,
        "status": status.value,
        "error": reason_of(reason),
        "now": datetime.now(),
    }
    with flow.transaction():
        if partition is not None:
            flow.run("run_insert_failed", {**params, "dag_id": dag_id, "dag_run_id": dag_run_id, **_window(partition)})
        flow.run("run_failed_callback", {**params, "gate_failed": RunStatus.GATE_FAILED.value, **_DONE})


@contextmanager
def recording(etl_run_id: str, flow_conn_id: str) -> Iterator[None]:
    """One step of a partition run: on error record the masked reason (:func:`failed`) and re-raise; an error
    whose outcome the row already holds (:class:`~leads_flow.errors.Recorded`, a failed gate) is left as it is."""
    try:
        yield
    except Recorded:
        raise
    except Exception as exc:
        failed(flow_conn_id, etl_run_id, exc)
        raise

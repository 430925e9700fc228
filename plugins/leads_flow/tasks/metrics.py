"""The pipeline's metrics, sent through Airflow's own metrics client and settings (``[metrics]``: StatsD with
``statsd_on``/``statsd_host``/``statsd_port``/``statsd_prefix``, or OpenTelemetry with ``otel_on``).

The one module that emits them; the task functions call it. Names (after Airflow's prefix, ``airflow.`` by
default) are listed in :data:`METRICS` and in docs/operations.md. Values are counts, ratios and durations only:
never an id, a partition label or any row data, so nothing personal can reach the metrics backend.

Inside a task, Airflow's task runner has configured the client from ``[metrics]`` before the task starts. The
same functions called outside a task (the tests, the benchmarks, scripts) configure it here, once per process,
from the same settings (:func:`configure`). A metric that cannot be sent is logged and dropped: a run never
fails for its metrics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

PREFIX = "leads_flow"
METRICS: dict[str, str] = {
    "sync.extracted": "counter: legacy rows read for a partition",
    "sync.staged": "counter: rows mapped and loaded into the staging table",
    "sync.rejected": "counter: rows rejected (all reasons)",
    "sync.rejected.<reason>": "counter: rows rejected with this reason (a row may carry several)",
    "sync.published": "counter: rows inserted or changed in leads_flow (dry runs send nothing)",
    "sync.gate.passed": "counter: partitions whose data-quality gate passed",
    "sync.gate.failed": "counter: partitions whose data-quality gate failed (nothing published)",
    "sync.volume.<verdict>": "counter: volume checks by verdict: pass, warn, fail, exempt, off",
    "sync.stage_duration": "timer (ms): extract and stage of a partition",
    "sync.gate_duration": "timer (ms): the data-quality gate of a partition",
    "sync.publish_duration": "timer (ms): the publish of a partition",
    "reconcile.match_rate": "gauge: a reconcile run's match rate (after repair, when it repaired), 0..1",
    "freshness.published": "counter: watchdog checks that found the day's partition published in time",
    "freshness.missed": "counter: watchdog checks that found it unpublished at the deadline (an alert went out)",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_configured = False


def configure() -> None:
    """(Re)configure Airflow's metrics client from ``[metrics]``, as the task runner does before a task."""
    global _configured
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

    stats.initialize(
        factory=get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=False),
    )
    _configured = True


def _send(fn: Callable[..., None], name: str, *args: float) -> None:
    global _configured
    try:
        from airflow.sdk._shared.observability.metrics import stats as shared
        from airflow.sdk.observability import stats

        if not _configured:
            if getattr(shared, "_factory", None) is None:  # not inside a task runner: nobody configured it yet
                configure()
            _configured = True
        fn(stats, f"{PREFIX}.{name}", *args)
    except Exception as exc:  # noqa: BLE001 - metrics must never fail a run
        log.warning("metric %s.%s not sent: %s", PREFIX, name, type(exc).__name__)


def _incr(name: str, count: int = 1) -> None:
    _send(lambda s, n, c: s.incr(n, int(c)), name, count)


def _timing(name: str, seconds: float | None) -> None:
    if seconds is not None:
        _send(lambda s, n, v: s.timing(n, v), name, float(seconds) * 1000.0)


def _gauge(name: str, value: float) -> None:
    _send(lambda s, n, v: s.gauge(n, v), name, value)


def _part(text: str) -> str:
    """A name segment from a reason or verdict code (they are codes already; this keeps it so)."""
    return _UNSAFE.sub("_", str(text))[:64] or "unknown"


def staged(extracted: int, staged: int, rejected: int, rejects_by_reason: Mapping[str, int], seconds: float) -> None:
    """The extract-and-stage step of one partition."""
    _incr("sync.extracted", extracted)
    _incr("sync.staged", staged)
    _incr("sync.rejected", rejected)
    for reason, n in rejects_by_reason.items():
        _incr(f"sync.rejected.{_part(reason)}", n)
    _timing("sync.stage_duration", seconds)


def gated(passed: bool, seconds: float | None, volume_verdict: str | None = None) -> None:
    """The gate of one partition: its verdict, its duration, the volume check's verdict."""
    _incr("sync.gate.passed" if passed else "sync.gate.failed")
    _timing("sync.gate_duration", seconds)
    if volume_verdict:
        _incr(f"sync.volume.{_part(volume_verdict)}")


def published(changed: int, seconds: float, *, dry_run: bool) -> None:
    """The publish of one partition (a dry run publishes nothing and counts nothing, but is timed)."""
    if not dry_run:
        _incr("sync.published", changed)
    _timing("sync.publish_duration", seconds)


def match_rate(rate: float | None) -> None:
    """A reconcile run's match rate (none when it compared no leads)."""
    if rate is not None:
        _gauge("reconcile.match_rate", float(rate))


def freshness(published: bool) -> None:
    """One check of the freshness watchdog."""
    _incr("freshness.published" if published else "freshness.missed")

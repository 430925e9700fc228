"""The freshness watchdog: at the deadline (``LEADS_FLOW_FRESHNESS_DEADLINE``, Asia/Shanghai), is yesterday's
partition published? If not, an alert goes out through the failure notifier's channels
(:func:`leads_flow.tasks.notify.send_alert`: the webhook, and mail when configured).

Why a watchdog DAG and not an Airflow deadline alert on the sync DAG: a deadline alert hangs off a DAG run and
asks whether that run succeeded (Airflow 3.3 drops the deadline when the run succeeds). The question here is
whether the *partition* is published, whichever run published it (the scheduled one, a manual rerun, a
reconcile repair), and it must also be asked when no run exists at all (the DAG paused, the run never
created), where there is no deadline to miss. The answer is in ``leads_flow_run``
(:func:`leads_flow.io.runlog.partition_runs`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from leads_flow.config import TZ, freshness_deadline
from leads_flow.io import runlog
from leads_flow.io.connect import connected
from leads_flow.io.retry import retrying
from leads_flow.names import FLOW_CONN_ID
from leads_flow.tasks import metrics
from leads_flow.tasks.boundary import failing_fast
from leads_flow.tasks.failure import report_url
from leads_flow.tasks.messages import FRESHNESS_HTML, FRESHNESS_SUBJECT
from leads_flow.tasks.notify import send_alert
from leads_flow.window import Partition

log = logging.getLogger(__name__)


def partition_due(day: date) -> Partition:
    """The partition whose publish is due on ``day``: the whole day before it (the 00:00 sync's window)."""
    start = datetime.combine(day - timedelta(days=1), time.min)
    return Partition(start, start + timedelta(days=1), 0)


def alert_message(partition: Partition, deadline: datetime, latest: runlog.PartitionRun | None) -> dict[str, Any]:
    """The alert: the partition, the deadline, where its latest run stands and a link; ids and statuses only."""
    state = f"its latest run is {latest.status}" if latest else "no run of it is recorded"
    url = report_url(latest.etl_run_id if latest else None)
    return {
        "text": f"leads-flow: partition {partition.label} is not published by {deadline:%Y-%m-%d %H:%M} "
        f"Asia/Shanghai ({state}) — {url}",
        "event": "freshness_missed",
        "partition": partition.to_dict(),
        "deadline": deadline.isoformat(),
        "latest_run": {"etl_run_id": latest.etl_run_id, "dag_id": latest.dag_id, "status": latest.status}
        if latest
        else None,
        "report_url": url,
    }


def check(
    when: datetime | None = None,
    *,
    now: datetime | None = None,
    deadline: time | None = None,
) -> dict[str, Any]:
    """Check the partition due on the day of ``when`` (the watchdog run's logical date; default now).

    Before that day's deadline nothing is checked (``not_due``: a manual run too early). After it, a published
    partition answers ``published``; anything else sends the alert and answers ``missed``."""
    now = (now or datetime.now(TZ)).astimezone(TZ)
    local = (when or now).astimezone(TZ)
    due = datetime.combine(local.date(), deadline or freshness_deadline(), TZ)
    partition = partition_due(local.date())
    out: dict[str, Any] = {"partition": partition.label, "deadline": due.isoformat()}
    if now < due:
        log.info("freshness: partition %s is not due before %s", partition.label, due)
        return {**out, "status": "not_due"}

    def read() -> list[runlog.PartitionRun]:
        with connected(FLOW_CONN_ID) as flow:
            return runlog.partition_runs(flow, partition)

    with failing_fast():
        runs = retrying(read, what="read the partition's runs")
    done = next((r for r in runs if r.published), None)
    metrics.freshness(done is not None)
    if done is not None:
        log.info("freshness: partition %s published (%s)", partition.label, done.etl_run_id)
        return {**out, "status": "published", "etl_run_id": done.etl_run_id}
    latest = runs[0] if runs else None
    log.warning(
        "freshness: partition %s NOT published by %s (%s); alerting",
        partition.label,
        due,
        latest.status if latest else "no run",
    )
    send_alert(alert_message(partition, due, latest), subject=FRESHNESS_SUBJECT, html=FRESHNESS_HTML)
    return {**out, "status": "missed", "latest_status": latest.status if latest else None}

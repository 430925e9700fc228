"""What failed, read from an Airflow failure-callback context: ids, partition and the masked reason (never row
data), recorded against the partition's row in ``leads_flow_run`` and turned into the alert message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from leads_flow.io.runlog import plan_run_id
from leads_flow.names import FLOW_CONN_ID, REPORT_PREFIX, REPORT_UI_ROUTE
from leads_flow.rules.redact import reason_of, redact_all
from leads_flow.tasks.boundary import etl_run_id_for
from leads_flow.window import Partition, asked_day

MAX_MESSAGE_REASON_CHARS = 500


@dataclass
class Failure:
    """What failed, from the callback context; only ids and the masked reason, never row data."""

    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None
    etl_run_id: str | None
    partition: dict[str, Any] | None
    reason: str
    report_url: str
    log_url: str | None

    @property
    def partition_label(self) -> str | None:
        if not self.partition:
            return None
        return f"{self.partition.get('start')} .. {self.partition.get('end')}"


def base_url() -> str:
    """The api-server's public URL (``[api] base_url``), as Airflow's own log links use it."""
    try:
        from airflow.sdk.configuration import conf

        url = conf.get("api", "base_url", fallback=None)
    except Exception:  # noqa: BLE001 - a link is a nicety, the alert must still go out
        url = None
    return (url or "http://localhost:8080").rstrip("/")


def report_url(etl_run_id: str | None, dag_id: str | None = None, run_id: str | None = None) -> str:
    """Link to the partition's report, else to the DAG run's partitions, else to the run list.

    The link opens the report inside the Airflow UI, which asks for a login first when needed.
    """
    root = f"{base_url()}/plugin/{REPORT_UI_ROUTE}{REPORT_PREFIX}"
    if etl_run_id:
        return f"{root}/runs/{quote(etl_run_id, safe='')}"
    if dag_id and run_id:
        return f"{root}/dag-runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    return root + "/"


def _task_kwargs(context: Mapping[str, Any]) -> dict[str, Any]:
    """The rendered keyword arguments of the failed @task (mapped tasks: the expanded, unmapped task)."""
    ti = context.get("ti") or context.get("task_instance")
    for task in (getattr(ti, "task", None), context.get("task")):
        kwargs = getattr(task, "op_kwargs", None)
        if isinstance(kwargs, Mapping) and kwargs:
            return dict(kwargs)
    return {}


def _partition_from_plan(context: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fallback when the task's arguments were never rendered: the plan's output at this map index."""
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if ti is None or map_index is None or map_index < 0:
        return None
    try:
        plan = ti.xcom_pull(task_ids="plan")
    except Exception:  # noqa: BLE001 - best effort
        return None
    if isinstance(plan, Sequence) and map_index < len(plan) and isinstance(plan[map_index], Mapping):
        return dict(plan[map_index])
    return None


def failure_of(context: Mapping[str, Any]) -> Failure:
    """Collect ids, partition and the masked reason from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None)
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None)
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)

    kwargs = _task_kwargs(context)
    etl_run_id = partition = None
    for key in ("gated", "staged"):  # gate and publish get the previous task's metadata
        if isinstance(kwargs.get(key), Mapping):
            etl_run_id = kwargs[key].get("etl_run_id") or etl_run_id
            partition = kwargs[key].get("partition") or partition
    if isinstance(kwargs.get("partition"), Mapping):  # stage gets its partition
        partition = kwargs["partition"]
    if partition is None and etl_run_id is None and task_id != "plan":
        partition = _partition_from_plan(context)
    if task_id == "plan" and run_id:  # no partition yet: one row for the DAG run, on the day it asked for
        day = asked_day(context.get("params") or {})
        etl_run_id = plan_run_id(run_id)
        partition = Partition(day, day, 0).to_dict()
    if etl_run_id is None and partition and run_id:
        try:
            etl_run_id = etl_run_id_for(run_id, Partition.from_dict(partition))
        except Exception:  # noqa: BLE001 - a malformed partition leaves the run id unknown
            partition = None
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # noqa: BLE001
        log_url = None
    return Failure(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index if isinstance(map_index, int) and map_index >= 0 else None,
        try_number=try_number if isinstance(try_number, int) else None,
        etl_run_id=etl_run_id,
        partition=dict(partition) if partition else None,
        reason=reason_of(context.get("exception")),
        report_url=report_url(etl_run_id, dag_id, run_id),
        log_url=log_url if isinstance(log_url, str) else None,
    )


def record_failure(failure: Failure, flow_conn_id: str = FLOW_CONN_ID) -> bool:
    """Put the reason into the partition's leads_flow_run row (creating it if the task died first).

    A failed plan gets a ``plan_failed`` row of its own (:func:`leads_flow.io.runlog.plan_run_id`). Returns False
    when there is nothing to record against (no run id).
    """
    if not failure.etl_run_id:
        return False
    from leads_flow.io import runlog
    from leads_flow.io.connect import connected

    partition = Partition.from_dict(failure.partition) if failure.partition else None
    planning = failure.task_id == "plan"
    with connected(flow_conn_id) as flow:
        if planning:  # a plan that failed before (or in) its migration: the table must exist to hold the row
            from leads_flow.io.schema import ensure_flow_schema

            ensure_flow_schema(flow)
        runlog.failed_by_callback(
            flow,
            failure.etl_run_id,
            failure.reason,
            partition=partition,
            dag_id=failure.dag_id,
            dag_run_id=failure.run_id,
            status=runlog.RunStatus.PLAN_FAILED if planning else runlog.RunStatus.FAILED,
        )
    return True


def message_of(failure: Failure) -> dict[str, Any]:
    """The alert as JSON: a one-line ``text`` for chat webhooks plus every field, masked."""
    where = f" [{failure.partition_label}]" if failure.partition else ""
    short = (
        failure.reason
        if len(failure.reason) <= MAX_MESSAGE_REASON_CHARS
        else failure.reason[: MAX_MESSAGE_REASON_CHARS - 1] + "…"
    )
    msg = {
        "text": f"leads-flow: {failure.dag_id} task {failure.task_id}{where} failed: {short} — {failure.report_url}",
        "event": "task_failed",
        "dag_id": failure.dag_id,
        "run_id": failure.run_id,
        "task_id": failure.task_id,
        "map_index": failure.map_index,
        "try_number": failure.try_number,
        "etl_run_id": failure.etl_run_id,
        "partition": failure.partition,
        "reason": short,
        "report_url": failure.report_url,
        "log_url": failure.log_url,
    }
    return redact_all(msg)

"""What every leads-flow DAG shares: owner, start date, no catchup, the failure alert, and its documentation in
``dags/<dag_id>.md`` beside the DAG file, whose name is the DAG id (tests/dags/test_dags.py holds them to it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pendulum

from leads_flow.names import TZ_NAME
from leads_flow.tasks.notify import on_failure
from leads_flow.window import label_of_dict

OWNER = "data-engineering"
START_DATE = pendulum.datetime(2026, 1, 1, tz=TZ_NAME)


def dag_args(
    dag_file: str,
    *,
    tags: list[str],
    max_active_runs: int = 1,
    failure_callback: Callable[[Any], None] = on_failure,
    default_args: Mapping[str, Any] | None = None,
    doc_values: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The ``@dag`` arguments of the DAG defined in ``dag_file`` (pass ``__file__``): its id is the file's name,
    its ``doc_md`` the ``.md`` file beside it (``{name}`` slots filled from ``doc_values``)."""
    path = Path(dag_file)
    doc = path.with_suffix(".md").read_text(encoding="utf-8")
    return {
        "dag_id": path.stem,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": max_active_runs,
        "tags": ["leads", *tags],
        "default_args": {"owner": OWNER, "on_failure_callback": failure_callback, **(default_args or {})},
        "doc_md": doc.format(**doc_values) if doc_values else doc,
        **kwargs,
    }


WINDOW_HELP = (
    "The window decides which rows the run reads; the form's Logical Date only names the run (and dates a "
    "scheduled or backfill run's data interval). Both days empty: the run's data interval (a scheduled or "
    "backfill run: its day in Asia/Shanghai), or yesterday for a manual run. Many days: one manual run with a "
    "window here, or Backfill (one run per day; pick the days in Asia/Shanghai time)."
)


def window_params(start_help: str) -> dict[str, Any]:
    """``start_date`` and ``end_date`` of the trigger form's *Window* section (inclusive days, Asia/Shanghai)."""
    from airflow.sdk import Param

    day = {"type": ["null", "string"], "format": "date", "section": "Window"}
    return {
        "start_date": Param(
            None,
            **day,
            title="First day",
            description=f"First day (inclusive, Asia/Shanghai) {start_help} {WINDOW_HELP}",
        ),
        "end_date": Param(
            None,
            **day,
            title="Last day",
            description="Last day (inclusive). Empty: the first day. Not before the first day: a reversed "
            "window fails the run at once, and the run report shows why.",
        ),
    }


def flag(description: str, section: str = "Safety", *, title: str | None = None) -> Any:
    """An off-by-default switch of the trigger form (``dry_run``, ``repair``). Its type admits null, so the form
    does not mark it required (Airflow 3.3 marks every field whose type excludes null); null means off."""
    from airflow.sdk import Param

    return Param(False, type=["null", "boolean"], section=section, description=description, **_title(title))


def bounded(
    default: Any,
    lo: float,
    hi: float,
    section: str,
    description: str,
    *,
    optional: bool = False,
    title: str | None = None,
) -> Any:
    """A number of the trigger form within [lo, hi]; integer when ``default`` is one, empty allowed if ``optional``."""
    from airflow.sdk import Param

    kind = "integer" if isinstance(default, int) and not isinstance(default, bool) else "number"
    return Param(
        default,
        type=["null", kind] if optional else kind,
        minimum=lo,
        maximum=hi,
        section=section,
        description=description,
        **_title(title),
    )


def _title(title: str | None) -> dict[str, str]:
    return {"title": title} if title else {}


def titled(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with a readable title on every field that has none (``dry_run`` → "Dry run"): the trigger form
    shows the title, the param's name stays the contract."""
    for name, param in params.items():
        schema = getattr(param, "schema", None)
        if isinstance(schema, dict) and not schema.get("title"):
            schema["title"] = name.replace("_", " ").capitalize()
    return params


PARTITION_LABEL = "partition_label"
"""The context variable a mapped partition task sets (:func:`name_map_index`) and its ``map_index_template`` shows."""
MAP_INDEX_TEMPLATE = "{{ " + PARTITION_LABEL + " }}"


def partitioned() -> dict[str, Any]:
    """``@task`` arguments of the tasks of the mapped ``partition`` group: Airflow shows each task instance by its
    partition's name (its day, :func:`leads_flow.window.label_of`, as the run report names it), not map index
    0, 1, 2. The task body calls :func:`name_map_index` first.

    No ``task_display_name``: Airflow 3.3 stores it only on map index 0 (the task instances the expansion adds get
    none), so the task list mixed "Publish" and "partition.publish"; the task ids name every index alike."""
    return {"map_index_template": MAP_INDEX_TEMPLATE}


def name_map_index(partition: Mapping[str, Any] | None) -> None:
    """Give the running task instance its partition's name (rendered by Airflow after the task, failed or not);
    an XCom from before the name travelled with it (None) leaves the index as it is."""
    from airflow.sdk import get_current_context

    if partition is None:
        get_current_context()[PARTITION_LABEL] = ""  # type: ignore[literal-required]
        return
    get_current_context()[PARTITION_LABEL] = label_of_dict(partition)  # type: ignore[literal-required]

"""What every leads-flow DAG shares: owner, start date, no catchup, the failure alert, and its documentation in
``dags/<dag_id>.md`` beside the DAG file, whose name is the DAG id (tests/dags/test_dags.py holds them to it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pendulum

from leads_flow.names import TZ_NAME
from leads_flow.tasks.notify import on_failure

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


def window_params(start_help: str) -> dict[str, Any]:
    """``start_date`` and ``end_date`` of the trigger form's *Window* section (inclusive days, Asia/Shanghai)."""
    from airflow.sdk import Param

    day = {"type": ["null", "string"], "format": "date", "section": "Window"}
    return {
        "start_date": Param(None, **day, description=f"First day (inclusive, Asia/Shanghai) {start_help}"),
        "end_date": Param(None, **day, description="Last day (inclusive). Empty: same as start_date."),
    }


def flag(description: str, section: str = "Safety") -> Any:
    """An off-by-default switch of the trigger form (``dry_run``, ``repair``)."""
    from airflow.sdk import Param

    return Param(False, type="boolean", section=section, description=description)


def bounded(default: Any, lo: float, hi: float, section: str, description: str, *, optional: bool = False) -> Any:
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
    )

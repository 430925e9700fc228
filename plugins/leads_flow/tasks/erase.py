"""The erase DAG's task function: lead ids from the params → :func:`leads_flow.lifecycle.erase.erase_leads`.

Only lead ids travel through the DAG run's conf and XCom, never a phone: phones are resolved to lead ids
outside Airflow (scripts/erase.py). The DAG run id is recorded as ``requested_by``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.io.connect import connected
from leads_flow.io.retry import retrying
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.lifecycle.erase import erase_leads
from leads_flow.names import FLOW_CONN_ID
from leads_flow.tasks.boundary import failing_fast

log = logging.getLogger(__name__)


def lead_ids_from(params: Mapping[str, Any]) -> list[int]:
    """The ``lead_ids`` param, checked again here (a run triggered through the API may bypass the form)."""
    ids = params.get("lead_ids")
    if not isinstance(ids, list) or not ids:
        raise AirflowFailException("lead_ids must be a non-empty list of lead ids")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
        raise AirflowFailException("lead_ids must hold positive integers only")
    return ids


def erase(params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, int]:
    """Erase the leads named by the params; return the counts (small, no personal value)."""
    ids = lead_ids_from(params)

    def once() -> dict[str, int]:
        with connected(FLOW_CONN_ID) as flow:
            ensure_flow_schema(flow)
            return erase_leads(flow, ids, dag_run_id)

    with failing_fast():
        counts = retrying(once, what=f"{dag_id} erase")
    log.info("%s %s: %s", dag_id, dag_run_id, counts)
    return counts

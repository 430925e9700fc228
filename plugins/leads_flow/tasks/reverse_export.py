"""The rollback DAG's task function: params → :func:`leads_flow.lifecycle.reverse_export.reverse_export`.

Only the cutover mark, the options and counts travel through the DAG run's conf and XCom; the phones are
decrypted inside the task and written straight to leads_aggr through the ``leads_legacy_writer`` connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.config import TZ, Settings
from leads_flow.io.connect import connected
from leads_flow.io.extract import check_legacy_schema
from leads_flow.io.retry import retrying
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.lifecycle.reverse_export import BATCH, reverse_export
from leads_flow.names import FLOW_CONN_ID, LEGACY_WRITER_CONN_ID
from leads_flow.tasks.boundary import checked_cipher, failing_fast

log = logging.getLogger(__name__)

MAX_BATCH = 50_000


def mark_from(value: Any, name: str) -> datetime | None:
    """A param as a naive Asia/Shanghai datetime (the DATETIME columns' time): ISO date or date-time, an offset
    converted; None when empty. Anything else fails the run without retries."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise AirflowFailException(f"{name} must be an ISO date or date-time (Asia/Shanghai)") from None
    return dt.astimezone(TZ).replace(tzinfo=None) if dt.tzinfo is not None else dt


def export(params: Mapping[str, Any], dag_id: str, dag_run_id: str) -> dict[str, Any]:
    """Write back to leads_aggr what was written only to leads_flow since the ``since`` param; return counts."""
    since = mark_from(params.get("since"), "since")
    if since is None:
        raise AirflowFailException("since (the cutover mark) is required")
    until = mark_from(params.get("until"), "until")
    if until is not None and until <= since:
        raise AirflowFailException("until must be after since")
    batch = BATCH if params.get("batch_size") is None else params["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise AirflowFailException(f"batch_size must be an integer from 1 to {MAX_BATCH}")
    settings = Settings.from_env()

    def run() -> dict[str, Any]:
        cipher = checked_cipher()

        def prepare() -> None:
            with connected(LEGACY_WRITER_CONN_ID) as legacy:
                check_legacy_schema(legacy, settings)
            with connected(FLOW_CONN_ID) as flow:
                ensure_flow_schema(flow)

        retrying(prepare, what=f"{dag_id}: check the tables")
        return reverse_export(
            cipher,
            since,
            until=until,
            dry_run=bool(params.get("dry_run")),
            batch=batch,
            legacy_table=settings.legacy_table,
        ).to_dict()

    with failing_fast():
        out = run()
    log.info("%s %s: %s", dag_id, dag_run_id, out)
    return out

"""The leads_flow_rekey DAG's task: key rotation (:mod:`leads_flow.lifecycle.rekey`) at the Airflow boundary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.io.runlog import short_id
from leads_flow.lifecycle.rekey import BeforeUpdate, rekey
from leads_flow.tasks.boundary import check_run_id, checked_keyring, failing_fast

log = logging.getLogger(__name__)

MIN_BATCH, MAX_BATCH = 100, 50_000


def rekey_task(
    params: Mapping[str, Any],
    dag_id: str,
    dag_run_id: str,
    *,
    before_update: BeforeUpdate | None = None,
) -> dict[str, Any]:
    """Re-encrypt and re-index every row not under the keyring's active kids; counts per kid before and after
    (also in leads_flow_key_audit unless ``dry_run``). Small dict for XCom."""
    dry_run = bool(params.get("dry_run", False))
    batch_size = params.get("batch_size", 5000)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not MIN_BATCH <= batch_size <= MAX_BATCH:
        raise AirflowFailException(f"bad parameters: batch_size must be an integer from {MIN_BATCH} to {MAX_BATCH}")
    run_id = check_run_id(short_id(f"{dag_id}@{dag_run_id}"))
    with failing_fast():
        res = rekey(
            checked_keyring(),
            run_id,
            batch_size=batch_size,
            dry_run=dry_run,
            before_update=before_update,
        )
    return res.to_dict()

"""Where Airflow meets the package: the one place that turns errors into Airflow's verdicts and DAG params
into settings, and that names a partition run. Every DAG's task functions go through it.

Retries: Airflow's task retries (:data:`leads_flow.config.DB_TASK`) are the only retry layer around a task;
inside a try, :func:`leads_flow.io.db.retrying` retries one unit of database work on a transient error
(its budget is stated there). Permanent errors skip both (:func:`fail_fast`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.config import ConfigError, Settings
from leads_flow.io.db import PermanentDbError
from leads_flow.rules.crypto import KeyringError
from leads_flow.rules.redact import reason_of
from leads_flow.window import Partition

PERMANENT = (PermanentDbError, ConfigError, KeyringError)
"""Errors a retry cannot fix: bad configuration, a missing column or privilege, a broken keyring."""


class GateFailed(AirflowFailException):
    """The data-quality gate failed: nothing was published. Not retried: the data must change first."""


def fail_fast(exc: BaseException) -> BaseException:
    """A permanent error as :class:`AirflowFailException` (no Airflow retries; message masked), else ``exc``."""
    if isinstance(exc, PERMANENT):
        return AirflowFailException(reason_of(exc))
    return exc


def settings_from(params: Mapping[str, Any]) -> Settings:
    """Settings of a run: the environment's, with the DAG params that override them (absent ones ignored)."""
    return Settings.from_env(
        max_reject_ratio=params.get("max_reject_ratio"), overlap_minutes=params.get("overlap_minutes")
    )


RUN_ID_MAX = 250  # the etl_run_id and reconcile_run_id columns
# Run ids reach one SQL text as a quoted literal (the gate's reject query for Great Expectations, which
# binds no parameters): quotes, backslashes and control characters are refused before anything is
# written. Airflow's default allowed_run_id_pattern never produces them.
_UNSAFE_RUN_ID = re.compile(r"['\"\\`\x00-\x1f\x7f]")


def short_id(text: str, limit: int = RUN_ID_MAX) -> str:
    """``text`` if it fits the run-id columns, else its head, ``~`` and a hash of the whole."""
    if len(text) <= limit:
        return text
    return text[: limit - 17] + "~" + hashlib.sha1(text.encode()).hexdigest()[:16]


def etl_run_id_for(dag_run_id: str, partition: Partition) -> str:
    """``<dag run id>@<partition start>``; a run id too long for the columns keeps its head and a hash."""
    suffix = f"@{partition.start:%Y-%m-%dT%H:%M}"
    return short_id(dag_run_id, RUN_ID_MAX - len(suffix)) + suffix


def check_run_id(run_id: str) -> str:
    """Fail fast (no Airflow retries) on a run id that is not safe to carry into SQL text."""
    if not isinstance(run_id, str) or not run_id or _UNSAFE_RUN_ID.search(run_id):
        raise AirflowFailException(
            f"refusing run id {run_id!r}: quotes, backslashes and control characters "
            "are not allowed (see [scheduler] allowed_run_id_pattern)"
        )
    return run_id


def current_run_ids() -> tuple[str, str]:
    """(dag_id, run_id) of the running task: what the stages record their work under."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    return ctx["dag"].dag_id, ctx["run_id"]

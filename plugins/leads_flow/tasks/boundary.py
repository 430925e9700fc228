"""Where Airflow meets the package: the one place that turns errors into Airflow's verdicts and DAG params
into settings, and that names a partition run. Every DAG's task functions go through it.

Retries: Airflow's task retries (:data:`leads_flow.config.DB_TASK`) are the only retry layer around a task;
inside a try, :func:`leads_flow.io.retry.retrying` retries one unit of database work on a transient error
(its budget is stated there). Permanent errors skip both (:func:`fail_fast`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from leads_flow.config import Settings
from leads_flow.errors import Permanent
from leads_flow.io import runlog
from leads_flow.io.connect import connected
from leads_flow.io.db import Db
from leads_flow.io.extract import check_legacy_schema
from leads_flow.io.key_check import verify_keyring
from leads_flow.io.keyring import load_keyring
from leads_flow.io.retry import retrying
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID, PII_CONN_ID
from leads_flow.quality.gate import GateRejected
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.redact import reason_of
from leads_flow.window import Partition, partitions

log = logging.getLogger(__name__)
T = TypeVar("T")


class GateFailed(AirflowFailException):
    """The data-quality gate failed: nothing was published. Not retried: the data must change first."""

    def __init__(self, rejected: GateRejected) -> None:
        super().__init__(str(rejected))
        self.rejected = rejected


def fail_fast(exc: BaseException) -> BaseException:
    """A :class:`~leads_flow.errors.Permanent` error (bad configuration, a missing column or privilege, a broken
    keyring, a guard that refused a mass delete) as :class:`AirflowFailException` (no Airflow retries; message
    masked), a failed gate as :class:`GateFailed`, anything else (transient: Airflow retries it) as it is."""
    if not isinstance(exc, Permanent):
        return exc
    return GateFailed(exc) if isinstance(exc, GateRejected) else AirflowFailException(reason_of(exc))


def settings_from(params: Mapping[str, Any]) -> Settings:
    """Settings of a run: the environment's, with the DAG params that override them (absent ones ignored)."""
    return Settings.from_env(
        max_reject_ratio=params.get("max_reject_ratio"), overlap_minutes=params.get("overlap_minutes")
    )


def check_run_id(run_id: str) -> str:
    """Fail fast (no Airflow retries) on a run id that is not safe to carry into SQL text."""
    try:
        return runlog.check_run_id(run_id)
    except runlog.UnsafeRunId as exc:
        raise AirflowFailException(str(exc)) from None


def etl_run_id_for(dag_run_id: str, partition: Partition) -> str:
    """The partition run's id (:func:`leads_flow.io.runlog.etl_run_id_for`)."""
    return runlog.etl_run_id_for(dag_run_id, partition)


@contextmanager
def failing_fast() -> Iterator[None]:
    """Raise what the block raises as Airflow should see it (:func:`fail_fast`). The translated error does
    not chain the original: a database message may quote a value (``Duplicate entry '<phone>'``)."""
    try:
        yield
    except Exception as exc:
        failed = fail_fast(exc)
        if failed is exc:
            raise
        raise failed from None


def checked_keyring(pii_conn_id: str = PII_CONN_ID, flow_conn_id: str = FLOW_CONN_ID) -> Keyring:
    """The keyring of a task that encrypts, indexes or decrypts, held against the check values the flow
    database recorded (:func:`leads_flow.io.key_check.verify_keyring`): a swapped or unregistered key fails the
    task before it writes anything. One connection and two queries per task process."""
    with failing_fast():
        keyring = load_keyring(pii_conn_id)

        def verify() -> None:
            with connected(flow_conn_id) as flow:
                flow.run("key_check_ddl")
                verify_keyring(flow, keyring)

        retrying(verify, what="verify the keyring's check values")
    return keyring


def checked_cipher(pii_conn_id: str = PII_CONN_ID, flow_conn_id: str = FLOW_CONN_ID) -> PhoneCipher:
    return PhoneCipher(checked_keyring(pii_conn_id, flow_conn_id))


def plan_partitions(
    settings: Settings, start: datetime, end: datetime, *, prepare_flow: Callable[[Db], None], what: str
) -> list[dict[str, Any]]:
    """The plan step of every DAG that works day by day: the daily partitions of [start, end), after the
    checks that must fail a run before anything is read or written (keyring, legacy schema) and the
    preparation of the flow tables (``prepare_flow``, retried as one unit). One small dict per partition."""
    parts = partitions(start, end, settings.overlap_minutes)
    log.info(
        "%s [%s, %s): %d daily partition(s), overlap %d min", what, start, end, len(parts), settings.overlap_minutes
    )

    def checks() -> None:
        load_keyring(PII_CONN_ID)  # a broken keyring fails first, before any connection
        with connected(LEGACY_CONN_ID) as legacy:
            check_legacy_schema(legacy, settings)  # then a legacy schema the run cannot read, before any write
        checked_keyring()  # then a key the flow database does not know (records a ring's first use)

        def prepare() -> None:
            with connected(FLOW_CONN_ID) as flow:
                prepare_flow(flow)

        retrying(prepare, what=f"prepare the flow tables ({what})")

    with failing_fast():
        checks()
    return [p.to_dict() for p in parts]


def current_run_ids() -> tuple[str, str]:
    """(dag_id, run_id) of the running task: what the stages record their work under."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    return ctx["dag"].dag_id, ctx["run_id"]

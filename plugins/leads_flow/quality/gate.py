"""The gate as a step of a partition run: the volume check and the expectations, their verdict recorded in
``leads_flow_run``; :class:`GateRejected` when a check fails, so nothing is published."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from leads_flow.config import Settings, VolumePolicy
from leads_flow.errors import Permanent, Recorded
from leads_flow.io import runlog
from leads_flow.io.connect import connected, dialect_of
from leads_flow.quality.expectations import GateResult, run_gate
from leads_flow.quality.volume import VOLUME_CHECK, VolumeResult, check_volume

log = logging.getLogger(__name__)


class GateRejected(Permanent, Recorded):
    """The data-quality gate failed: nothing may be published until the data changes."""

    def __init__(
        self,
        message: str,
        *,
        failed: list[str] | None = None,
        seconds: float | None = None,
        volume: VolumeResult | None = None,
    ) -> None:
        super().__init__(message)
        self.failed = list(failed or [])
        self.seconds = seconds
        self.volume = volume


@dataclass(frozen=True)
class GateOutcome:
    """A passed gate step: the timings so far and the volume check, when it ran."""

    timings: dict[str, float]
    volume: VolumeResult | None = None


def gate_partition(
    flow_conn_id: str,
    stage_table: str,
    etl_run_id: str,
    *,
    extracted: int,
    rejected: int,
    stage_seconds: float,
    partition_end: datetime,
    settings: Settings,
    volume_policy: VolumePolicy | None = None,
    partition_start: datetime | None = None,
) -> GateOutcome:
    """The gate as a step of a partition run: run it, record its verdict and every result in
    ``leads_flow_run``, raise :class:`GateRejected` when a check fails.

    With ``volume_policy`` and ``partition_start`` (the sync) the volume check runs first: its result is one
    of the gate's results (failing it only in fail mode) and is recorded in ``volume_check``."""

    def checks() -> tuple[VolumeResult | None, GateResult]:
        volume = None
        if volume_policy is not None and partition_start is not None:
            with connected(flow_conn_id) as flow:
                volume = check_volume(flow, etl_run_id, partition_start, extracted, volume_policy)
            log.log(
                logging.WARNING if volume.verdict in ("warn", "fail") else logging.INFO,
                "volume %s %s: %s",
                etl_run_id,
                volume.verdict.upper(),
                volume.reason,
            )
        return volume, run_gate(
            flow_conn_id,
            dialect_of(flow_conn_id),
            stage_table,
            etl_run_id,
            extracted=extracted,
            rejected=rejected,
            partition_end=partition_end,
            settings=settings,
        )

    with runlog.recording(etl_run_id, flow_conn_id):
        volume, result = checks()
    results, failed = list(result.results), list(result.failed)
    if volume is not None:
        results.append(volume.gate_result())
        if volume.verdict == "fail":
            failed.append(VOLUME_CHECK)
    timings = {"stage_s": stage_seconds, "gate_s": result.seconds}
    with connected(flow_conn_id) as flow, flow.transaction():
        runlog.gated(flow, etl_run_id, success=not failed, failed=failed, results=results, timings=timings)
        if volume is not None:
            runlog.volume_recorded(flow, etl_run_id, volume.to_dict())
    if failed:
        why = f" ({volume.reason})" if volume is not None and volume.verdict == "fail" else ""
        raise GateRejected(
            f"data-quality gate failed for {etl_run_id}: {', '.join(failed)}{why}; nothing published",
            failed=failed,
            seconds=result.seconds,
            volume=volume,
        )
    return GateOutcome(timings, volume)

"""The partition runner: stage → gate → publish of one partition run, each step's failure recorded in its
``leads_flow_run`` row. The sync's tasks run its steps one task each; reconcile's repair runs them back to back
(:meth:`PartitionRun.run`). Steps take and return small metadata, never rows."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leads_flow.config import Settings, VolumePolicy
from leads_flow.io import runlog
from leads_flow.io.publish import publish_stage
from leads_flow.io.stage import StageResult, stage_partition
from leads_flow.names import FLOW_CONN_ID, LEGACY_CONN_ID
from leads_flow.quality.gate import GateOutcome, gate_partition
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.window import Partition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionRun:
    """One partition run: its window, id, settings (built once, at the task boundary) and connections."""

    partition: Partition
    etl_run_id: str
    settings: Settings
    dag_id: str | None = None
    dag_run_id: str | None = None
    legacy_conn_id: str = LEGACY_CONN_ID
    flow_conn_id: str = FLOW_CONN_ID

    def stage(self, cipher: PhoneCipher, ids: Sequence[int] | None = None) -> StageResult:
        """Extract → map → stage the partition (or, with ``ids``, those legacy rows)."""
        return stage_partition(
            self.partition,
            self.etl_run_id,
            cipher,
            self.settings,
            dag_id=self.dag_id,
            dag_run_id=self.dag_run_id,
            legacy_conn_id=self.legacy_conn_id,
            flow_conn_id=self.flow_conn_id,
            ids=ids,
        )

    def gate(self, staged: Mapping[str, Any], volume_policy: VolumePolicy | None = None) -> GateOutcome:
        """The data-quality gate over a staged partition (``staged``: :meth:`StageResult.to_dict`); with a
        ``volume_policy`` the volume check too. Raises :class:`~leads_flow.quality.gate.GateRejected`."""
        return gate_partition(
            self.flow_conn_id,
            staged["stage_table"],
            runlog.check_run_id(self.etl_run_id),
            extracted=staged["extracted"],
            rejected=staged["rejected"],
            stage_seconds=staged["seconds"],
            partition_end=self.partition.end,
            settings=self.settings,
            volume_policy=volume_policy,
            partition_start=self.partition.start if volume_policy is not None else None,
        )

    def publish(self, stage_table: str, timings: Mapping[str, float], *, dry_run: bool = False) -> int:
        """The newer-wins upsert of a gated stage; the row changes it made."""
        return publish_stage(
            stage_table, self.etl_run_id, dict(timings), dry_run=dry_run, flow_conn_id=self.flow_conn_id
        )

    def run(self, cipher: PhoneCipher, ids: Sequence[int] | None = None) -> int:
        """All three steps in this process, without the volume check; the row changes published."""
        staged = self.stage(cipher, ids)
        outcome = self.gate(staged.to_dict())
        changed = self.publish(staged.stage_table, outcome.timings)
        log.info("published %s: %d row change(s)", self.etl_run_id, changed)
        return changed

"""The volume check: a partition's extracted rows against the median of the same weekday's published runs."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from leads_flow.config import VolumePolicy
from leads_flow.io import runlog
from leads_flow.io.db import Db

VOLUME_CHECK = "volume_within_range"
"""The volume check's name in the gate results (and in ``gate_failed_checks`` when it fails the gate)."""
VOLUME_LOOKBACK_WEEKS = 2
"""History read for the volume check: ``days`` × this many weeks back, so a few missing weeks still leave
``days`` same-weekday partitions."""


@dataclass(frozen=True)
class VolumeResult:
    """The volume check of one partition: its extracted rows against the median of the same weekday."""

    verdict: str  # pass | warn | fail | exempt | off
    mode: str
    extracted: int
    median: float | None
    ratio: float | None
    history_days: int
    floor: float
    ceiling: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gate_result(self) -> dict[str, Any]:
        """The check as one of the gate's results: it fails only in fail mode; the reason is its observed value."""
        return {
            "check": VOLUME_CHECK,
            "expectation": "extracted_vs_same_weekday_median",
            "success": self.verdict != "fail",
            "observed_value": f"{self.verdict}: {self.reason}",
            "element_count": self.history_days,
        }


def same_weekday_volumes(history: list[tuple[datetime, int]], partition_start: datetime, days: int) -> list[int]:
    """The extracted rows of the last ``days`` partitions that started a whole number of weeks before
    ``partition_start`` (same weekday, same time of day); ``history`` newest first, the latest publish of a
    partition first, which is the one kept."""
    seen: set[datetime] = set()
    out: list[int] = []
    for start, n in history:
        if start in seen or start >= partition_start or (partition_start - start) % timedelta(days=7):
            continue
        seen.add(start)
        out.append(n)
        if len(out) == days:
            break
    return out


def judge_volume(
    extracted: int, volumes: list[int], policy: VolumePolicy, weekday: str = "same weekday"
) -> VolumeResult:
    """Pure verdict: ``extracted`` inside [floor, ceiling] × the median of ``volumes`` passes; outside it warns
    or fails by ``policy.mode``; fewer than ``policy.min_days`` volumes is exempt (a new pipeline)."""

    def result(verdict: str, reason: str, median: float | None = None, ratio: float | None = None) -> VolumeResult:
        return VolumeResult(
            verdict, policy.mode, extracted, median, ratio, len(volumes), policy.floor, policy.ceiling, reason
        )

    if policy.mode == "off":
        return result("off", "volume check switched off")
    if len(volumes) < policy.min_days:
        return result("exempt", f"{len(volumes)} of the {policy.min_days} published {weekday}s needed for a median")
    median = float(statistics.median(volumes))
    ratio = round(extracted / median, 4) if median else None
    inside = policy.floor * median <= extracted <= policy.ceiling * median
    verdict = "pass" if inside else ("fail" if policy.mode == "fail" else "warn")
    shown = f"{ratio:g} ×" if ratio is not None else ("as many as" if extracted == 0 else "above")
    reason = (
        f"{extracted} rows extracted, {shown} the median {median:g} of the last {len(volumes)} {weekday}s "
        f"(allowed {policy.floor:g}–{policy.ceiling:g} ×)"
    )
    return result(verdict, reason, median, ratio)


def check_volume(
    flow: Db, etl_run_id: str, partition_start: datetime, extracted: int, policy: VolumePolicy
) -> VolumeResult:
    """The volume check of a partition run against the published history of its own DAG in ``leads_flow_run``."""
    if policy.mode == "off":
        return judge_volume(extracted, [], policy)
    since = partition_start - timedelta(weeks=policy.days * VOLUME_LOOKBACK_WEEKS)
    history = runlog.volume_history(flow, etl_run_id, since)
    volumes = same_weekday_volumes(history, partition_start, policy.days)
    return judge_volume(extracted, volumes, policy, f"{partition_start:%A}")

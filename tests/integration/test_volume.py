"""The gate's volume check on real runs (MariaDB and SQLite): a partition's extracted rows against the median of
the same weekday's published partitions in leads_flow_run; warn or fail mode; new pipelines exempt."""

from __future__ import annotations

import json
import statistics
from datetime import date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException
from hypothesis import given
from hypothesis import strategies as st

from leads_flow.config import VOLUME_MODE_ENV, VolumePolicy
from leads_flow.quality.volume import VOLUME_CHECK, judge_volume, same_weekday_volumes
from tests.helpers import insert, legacy_row, sync

FRIDAYS = [date(2026, 10, 30), date(2026, 11, 6), date(2026, 11, 13), date(2026, 11, 20)]
THURSDAY = date(2026, 11, 26)
TODAY = date(2026, 11, 27)  # a Friday
NEXT_FRIDAY = date(2026, 12, 4)
_serial = iter(range(10_000_000))


def rows_on(day: date, n: int) -> list[tuple]:
    """``n`` valid leads updated on ``day``, each with its own generated phone (not a real subscriber)."""
    out = []
    for _ in range(n):
        k = next(_serial)
        t = datetime.combine(day, datetime.min.time()) + timedelta(hours=8, seconds=k % 3600)
        out.append(legacy_row(phone=f"139{k:08d}", join_time=t, create_time=t, update_time=t))
    return out


def run_row(dbs, etl_run_id: str) -> dict:
    cols = ("status", "extracted", "gate_success", "gate_failed_checks", "gate_results", "volume_check", "error")
    ph = "?" if dbs.dialect == "sqlite" else "%s"
    [row] = dbs.flow_rows(f"SELECT {', '.join(cols)} FROM leads_flow_run WHERE etl_run_id = {ph}", (etl_run_id,))
    out = dict(zip(cols, row))
    out["volume_check"] = json.loads(out["volume_check"]) if out["volume_check"] else None
    out["gate_results"] = json.loads(out["gate_results"] or "[]")
    return out


def published_on(dbs, day: date) -> int:
    start = datetime.combine(day, datetime.min.time())
    q = "SELECT COUNT(*) FROM leads_flow WHERE source_updated_at >= %s AND source_updated_at < %s"
    if dbs.dialect == "sqlite":
        q = q.replace("%s", "?")
        params: tuple = (str(start), str(start + timedelta(days=1)))
    else:
        params = (start, start + timedelta(days=1))
    [(n,)] = dbs.flow_rows(q, params)
    return n


def sync_day(day: date, run: str) -> dict:
    [out] = sync(day.isoformat(), run_id=f"manual__{run}")
    return out


@pytest.fixture
def strict_volume(monkeypatch):
    """The default bounds (0.3–3 × the median of the last 4 same weekdays, 3 needed), in fail mode."""
    monkeypatch.setenv(VOLUME_MODE_ENV, "fail")
    for name in ("LEADS_FLOW_VOLUME_FLOOR", "LEADS_FLOW_VOLUME_CEILING", "LEADS_FLOW_VOLUME_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LEADS_FLOW_VOLUME_MIN_DAYS", raising=False)


def test_a_tenth_of_the_usual_volume_fails_in_fail_mode_and_warns_in_warn_mode(any_dbs, strict_volume):
    insert(any_dbs, [r for d in FRIDAYS for r in rows_on(d, 20)] + rows_on(THURSDAY, 200) + rows_on(TODAY, 2))
    insert(any_dbs, rows_on(NEXT_FRIDAY, 21))
    verdicts = []
    for i, day in enumerate(FRIDAYS + [THURSDAY]):
        out = sync_day(day, f"h{i}")
        verdicts.append(run_row(any_dbs, out["etl_run_id"])["volume_check"]["verdict"])
    # the first three Fridays had fewer than 3 Fridays before them; the fourth had 3, all of 20 rows; the
    # Thursday has no Thursday before it
    assert verdicts == ["exempt", "exempt", "exempt", "pass", "exempt"]

    # fail mode: a tenth of the usual Friday fails the gate, with the reason, and publishes nothing
    with pytest.raises(AirflowFailException, match=VOLUME_CHECK) as failed:
        sync_day(TODAY, "strict")
    assert "2 rows extracted, 0.1 × the median 20 of the last 4 Fridays" in str(failed.value)
    row = run_row(any_dbs, f"manual__strict@{TODAY}T00:00")
    assert row["status"] == "gate_failed" and row["gate_success"] == 0
    assert VOLUME_CHECK in row["gate_failed_checks"].split(",")
    vol = row["volume_check"]
    assert (vol["verdict"], vol["mode"], vol["extracted"], vol["median"], vol["ratio"], vol["history_days"]) == (
        "fail",
        "fail",
        2,
        20.0,
        0.1,
        4,  # the Thursday's 200 rows are not a Friday: not in the median
    )
    [result] = [r for r in row["gate_results"] if r["check"] == VOLUME_CHECK]
    assert result["success"] is False and result["observed_value"].startswith("fail: 2 rows extracted, 0.1 ×")
    assert published_on(any_dbs, TODAY) == 0

    # warn mode, as the run's volume_check param (over LEADS_FLOW_VOLUME_CHECK=fail): the same partition passes
    # the gate with a warning recorded, and is published
    [out] = sync(TODAY.isoformat(), run_id="manual__lenient", volume_check="warn")
    row = run_row(any_dbs, out["etl_run_id"])
    assert row["status"] == "published" and row["gate_success"] == 1 and not row["gate_failed_checks"]
    assert row["volume_check"]["verdict"] == "warn" and row["volume_check"]["ratio"] == 0.1
    [result] = [r for r in row["gate_results"] if r["check"] == VOLUME_CHECK]
    assert result["success"] is True and result["observed_value"].startswith("warn: ")
    assert published_on(any_dbs, TODAY) == 2

    # the run page shows it
    from leads_flow.report.data import get_run
    from leads_flow.report.render import render_run

    html = render_run(get_run(out["etl_run_id"]))
    field = html[html.index('<p id="volume">') :]
    field = field[: field.index("</p>")]
    assert "b-run" in field and ">warn<" in field and "0.1 × the median 20 of the last 4 Fridays" in field

    # a normal Friday passes in fail mode; the median now holds the last 4 published Fridays (the warned one too)
    out = sync_day(NEXT_FRIDAY, "normal")
    vol = run_row(any_dbs, out["etl_run_id"])["volume_check"]
    assert (vol["verdict"], vol["median"], vol["history_days"]) == ("pass", 20.0, 4)
    assert published_on(any_dbs, NEXT_FRIDAY) == 21


def test_a_new_pipeline_is_exempt_until_it_has_history(any_dbs, strict_volume):
    insert(any_dbs, rows_on(FRIDAYS[0], 50) + rows_on(FRIDAYS[1], 50) + rows_on(FRIDAYS[2], 1))
    for i, day in enumerate(FRIDAYS[:3]):
        out = sync_day(day, f"n{i}")
        row = run_row(any_dbs, out["etl_run_id"])
        # a fiftieth of the usual volume on the third Friday: still exempt, 2 of the 3 Fridays needed
        assert row["status"] == "published" and row["volume_check"]["verdict"] == "exempt", day
        assert row["volume_check"]["history_days"] == i
        assert row["volume_check"]["reason"] == f"{i} of the 3 published Fridays needed for a median"
    assert published_on(any_dbs, FRIDAYS[2]) == 1


# --- the verdict itself, on generated histories --------------------------------------------------------


@given(
    extracted=st.integers(0, 10_000),
    volumes=st.lists(st.integers(0, 10_000), min_size=0, max_size=8),
    floor=st.floats(0, 1),
    ceiling=st.floats(1, 10),
    mode=st.sampled_from(["warn", "fail"]),
)
def test_the_verdict_is_the_bounds_around_the_median(extracted, volumes, floor, ceiling, mode):
    policy = VolumePolicy(mode=mode, floor=floor, ceiling=ceiling, days=8, min_days=3)
    v = judge_volume(extracted, volumes, policy)
    assert v.history_days == len(volumes)
    if len(volumes) < 3:
        assert v.verdict == "exempt"
        return
    median = statistics.median(volumes)
    inside = floor * median <= extracted <= ceiling * median
    assert v.verdict == ("pass" if inside else mode)
    assert v.median == median


@given(
    offsets=st.lists(st.integers(1, 120), min_size=0, max_size=40),
    days=st.integers(1, 6),
)
def test_only_earlier_same_weekday_partitions_count_newest_first(offsets, days):
    start = datetime(2026, 11, 27)
    history = sorted(((start - timedelta(days=o), o) for o in offsets), reverse=True)
    got = same_weekday_volumes(history, start, days)
    want = []
    for d, o in history:
        if o % 7 == 0 and o not in want:
            want.append(o)
    assert got == want[:days]


def test_a_median_of_zero_passes_zero_and_flags_anything_more():
    policy = VolumePolicy(mode="fail")
    assert judge_volume(0, [0, 0, 0], policy).reason.startswith("0 rows extracted, as many as the median 0 ")
    v = judge_volume(5, [0, 0, 0], policy)
    assert (v.verdict, v.ratio) == ("fail", None) and v.reason.startswith("5 rows extracted, above the median 0 ")

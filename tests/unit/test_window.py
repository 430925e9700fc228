from datetime import datetime

import pendulum
import pytest

from leads_flow.config import ConfigError
from leads_flow.window import Partition, partitions, resolve_window


def test_params_are_inclusive_dates():
    assert resolve_window({"start_date": "2026-11-01", "end_date": "2026-11-03"}, None, None) == (
        datetime(2026, 11, 1),
        datetime(2026, 11, 4),
    )


def test_single_param_means_one_day():
    assert resolve_window({"start_date": "2026-11-01"}, None, None) == (datetime(2026, 11, 1), datetime(2026, 11, 2))


def test_params_win_over_the_data_interval():
    s = pendulum.datetime(2026, 10, 1, tz="UTC")
    assert resolve_window({"start_date": "2026-11-01"}, s, s.add(days=1))[0] == datetime(2026, 11, 1)


def test_scheduled_interval_is_converted_to_shanghai_wall_clock():
    # CronDataIntervalTimetable("0 0 * * *", Asia/Shanghai) gives [D-1 00:00, D 00:00) local = 16:00 UTC.
    start = pendulum.datetime(2026, 11, 23, 16, tz="UTC")
    assert resolve_window({}, start, start.add(days=1)) == (datetime(2026, 11, 24), datetime(2026, 11, 25))


@pytest.mark.parametrize("interval", [(None, None), ("same", "same")])
def test_manual_run_without_params_takes_the_last_complete_day(interval):
    now = pendulum.datetime(2026, 11, 25, 1, 30, tz="Asia/Shanghai")
    s = e = now if interval[0] else None
    assert resolve_window({}, s, e, now=now) == (datetime(2026, 11, 24), datetime(2026, 11, 25))


@pytest.mark.parametrize(
    "params", [{"start_date": "2026-11-03", "end_date": "2026-11-01"}, {"start_date": "yesterday"}]
)
def test_bad_params_fail_with_a_clear_message(params):
    with pytest.raises(ConfigError, match="date"):
        resolve_window(params, None, None)


def test_partitions_split_at_local_midnight_and_round_trip():
    parts = partitions(datetime(2026, 11, 1, 12), datetime(2026, 11, 3), 60)
    assert [(p.start, p.end) for p in parts] == [
        (datetime(2026, 11, 1, 12), datetime(2026, 11, 2)),
        (datetime(2026, 11, 2), datetime(2026, 11, 3)),
    ]
    assert parts[1].read_start == datetime(2026, 11, 1, 23)
    assert Partition.from_dict(parts[0].to_dict()) == parts[0]


def test_id_partitions_cover_every_id_once_in_ranges_sized_by_rows():
    from leads_flow.window import ID_MAX, Partition, id_partitions

    s, e = datetime(2026, 11, 1), datetime(2026, 11, 21)
    parts = id_partitions(s, e, 60, 1001, 3_001_000, 2_000_000, 500_000)
    assert len(parts) == 4 and all(p.bulk and (p.start, p.end) == (s, e) for p in parts)
    assert parts[0].id_from == 0 and parts[-1].id_to == ID_MAX  # ids below or above the plan's bounds too
    assert all(a.id_to == b.id_from for a, b in zip(parts, parts[1:]))
    assert Partition.from_dict(parts[1].to_dict()) == parts[1]
    assert "id_from" not in Partition(s, e, 60).to_dict()  # a daily partition's dict is unchanged
    assert len(id_partitions(s, e, 0, 5, 5, 1, 500_000)) == 1

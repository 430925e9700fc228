"""The pipeline's metrics as a StatsD server sees them: a UDP listener on 127.0.0.1 reads what real runs send
through Airflow's [metrics] settings (statsd_on, statsd_host, statsd_port, statsd_prefix), on MariaDB and
SQLite; the values are checked against what the runs recorded in their tables."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from leads_flow.names import RECONCILE_DAG_ID
from leads_flow.tasks import metrics
from leads_flow.tasks import reconcile as reconcile_tasks
from tests.helpers import insert, legacy_row, sync

PREFIX = "lftest"
DAY = datetime(2026, 11, 20, 10)
LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+):(?P<value>-?[0-9.eE+-]+)\|(?P<kind>c|g|ms)(\|@[0-9.]+)?$")


class StatsdListener:
    """A StatsD server of sorts: a UDP socket on loopback; :meth:`read` drains what arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []

    def read(self) -> list[tuple[str, float, str]]:
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            self.lines += data.decode().splitlines()
        out = []
        for line in self.lines:
            m = LINE.match(line)
            assert m, f"not a StatsD line: {line!r}"
            out.append((m["name"], float(m["value"]), m["kind"]))
        self.lines = []
        return out


def ours(lines: list[tuple[str, float, str]]) -> tuple[Counter, dict[str, list[float]], dict[str, float]]:
    """The project's metrics only (Airflow sends its own too): counters summed, timers listed, last gauges."""
    counters: Counter = Counter()
    timers: dict[str, list[float]] = defaultdict(list)
    gauges: dict[str, float] = {}
    for name, value, kind in lines:
        if not name.startswith(f"{PREFIX}.{metrics.PREFIX}."):
            continue
        name = name[len(PREFIX) + 1 :]
        if kind == "c":
            counters[name] += int(value)
        elif kind == "ms":
            timers[name].append(value)
        else:
            gauges[name] = value
    return counters, timers, gauges


@pytest.fixture
def statsd(monkeypatch):
    listener = StatsdListener()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", PREFIX)
    metrics.configure()
    try:
        yield listener
    finally:
        listener.sock.close()
        for name in ("STATSD_ON", "STATSD_HOST", "STATSD_PORT", "STATSD_PREFIX"):
            monkeypatch.delenv(f"AIRFLOW__METRICS__{name}")
        metrics.configure()  # back to Airflow's defaults (metrics off) for the tests after this one


def rows() -> list[tuple]:
    """Four good leads and two rejects (generated phones): one phone_invalid, one with two reasons."""
    return [
        legacy_row(phone="13912345678", update_time=DAY),
        legacy_row(phone="15887654321", update_time=DAY),
        legacy_row(phone="18611112222", update_time=DAY),
        legacy_row(phone=None, unionId="oU4", update_time=DAY),
        legacy_row(phone="12345", update_time=DAY),
        legacy_row(phone=None, unionId=None, has_tool=3, update_time=DAY),
    ]


def run_row(dbs, etl_run_id: str) -> dict:
    ph = "?" if dbs.dialect == "sqlite" else "%s"
    cols = ("extracted", "staged", "rejected", "published", "rejects_by_reason", "timings")
    [row] = dbs.flow_rows(f"SELECT {', '.join(cols)} FROM leads_flow_run WHERE etl_run_id = {ph}", (etl_run_id,))
    return dict(zip(cols, row))


def test_a_sync_run_sends_its_counts_reasons_verdicts_and_durations(any_dbs, statsd):
    insert(any_dbs, rows())
    [out] = sync("2026-11-20", run_id="manual__metrics", max_reject_ratio=0.5)
    counters, timers, _ = ours(statsd.read())
    run = run_row(any_dbs, out["etl_run_id"])
    assert (run["extracted"], run["staged"], run["rejected"]) == (6, 4, 2)

    assert counters["leads_flow.sync.extracted"] == run["extracted"]
    assert counters["leads_flow.sync.staged"] == run["staged"]
    assert counters["leads_flow.sync.rejected"] == run["rejected"]
    assert counters["leads_flow.sync.published"] == run["published"] == 4
    # rejected by reason: what leads_flow_reject holds, reason for reason
    stored = Counter(r for (why,) in any_dbs.flow_rows("SELECT reasons FROM leads_flow_reject") for r in why.split(","))
    sent = {k.rsplit(".", 1)[1]: v for k, v in counters.items() if k.startswith("leads_flow.sync.rejected.")}
    assert sent == dict(stored) == json.loads(run["rejects_by_reason"])
    assert sent == {"phone_invalid": 1, "no_identity": 1, "flag_invalid": 1}
    assert counters["leads_flow.sync.gate.passed"] == 1 and "leads_flow.sync.gate.failed" not in counters
    assert counters["leads_flow.sync.volume.exempt"] == 1  # a new pipeline
    timings = json.loads(run["timings"])
    [stage_ms] = timers["leads_flow.sync.stage_duration"]
    [gate_ms] = timers["leads_flow.sync.gate_duration"]
    [publish_ms] = timers["leads_flow.sync.publish_duration"]
    assert stage_ms == pytest.approx(timings["stage_s"] * 1000) and gate_ms == pytest.approx(timings["gate_s"] * 1000)
    assert publish_ms >= timings["publish_s"] * 1000 > 0  # measured around the whole publish step

    # the reconcile's match rate, as its summary computed it
    summary = reconcile_tasks.summary
    p = {"start_date": "2026-11-20", "end_date": "2026-11-20"}
    for window in reconcile_tasks.plan(p, None, None):
        reconcile_tasks.compare(window, p, RECONCILE_DAG_ID, "manual__metrics_rc")
    result = summary(p, RECONCILE_DAG_ID, "manual__metrics_rc")
    _, _, gauges = ours(statsd.read())
    assert result["match_rate"] is not None
    assert gauges["leads_flow.reconcile.match_rate"] == pytest.approx(result["match_rate"])


def test_a_failed_gate_is_counted_and_nothing_published(sqlite_dbs, statsd):
    insert(sqlite_dbs, rows())
    with pytest.raises(AirflowFailException, match="reject_ratio_within_limit"):
        sync("2026-11-20", run_id="manual__strict", max_reject_ratio=0.0)
    counters, timers, _ = ours(statsd.read())
    assert counters["leads_flow.sync.gate.failed"] == 1 and "leads_flow.sync.gate.passed" not in counters
    assert counters["leads_flow.sync.rejected"] == 2 and "leads_flow.sync.published" not in counters
    assert len(timers["leads_flow.sync.gate_duration"]) == 1 and "leads_flow.sync.publish_duration" not in timers


@pytest.fixture(scope="module")
def airflow_db():
    """Airflow's metadata database (SQLite under the test AIRFLOW_HOME), migrated once."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def test_a_dag_run_sends_them_from_its_tasks(sqlite_dbs, statsd, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    insert(sqlite_dbs, rows())
    dag = DagBag().dags["leads_flow_sync"]
    dr = dag.test(logical_date=None, run_conf={"start_date": "2026-11-20", "max_reject_ratio": 0.5})
    assert dr.state == "success"
    counters, timers, _ = ours(statsd.read())
    [(extracted, rejected, published)] = sqlite_dbs.flow_rows(
        "SELECT extracted, rejected, published FROM leads_flow_run"
    )
    assert counters["leads_flow.sync.extracted"] == extracted == 6
    assert counters["leads_flow.sync.rejected"] == rejected == 2
    assert counters["leads_flow.sync.published"] == published == 4
    assert counters["leads_flow.sync.gate.passed"] == 1
    assert set(timers) >= {f"leads_flow.sync.{s}_duration" for s in ("stage", "gate", "publish")}

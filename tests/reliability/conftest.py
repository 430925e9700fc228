"""Fixtures of the reliability tests: a large generated legacy data set and its clean-run result, made once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.conftest import Databases, _create_legacy, _mysql_admin, mysql_conn_uri
from tests.helpers import flow_table, sync
from tests.reliability import _support as S

BIG_DAY = "2026-11-20"
BIG_GENERATED = 15_000
BIG_DOUBLINGS = 1  # 15k generated rows, doubled server-side: 30k legacy rows in one day
LEGACY_COPY_COLUMNS = (
    "id, phone, unionId, window_url, ip_address, user_agent, from_channel, has_tool, is_group, "
    "join_time, leads_type, main_business_id, sales_name, follow_id, ad_id, campaign_id, "
    "create_time, update_time, is_deleted"
)


@dataclass
class BigData:
    """30k legacy rows in one day (a template database) and leads_flow after one clean run over them."""

    template_db: str
    rows: int
    reference: list[tuple]
    params: dict

    def copy_into(self, dbs: Databases) -> None:
        c = S.admin()
        try:
            c.cursor().execute(
                f"INSERT INTO {dbs.legacy_name}.leads_aggr ({LEGACY_COPY_COLUMNS}) "
                f"SELECT {LEGACY_COPY_COLUMNS} FROM {self.template_db}.leads_aggr"
            )
        finally:
            c.close()


@pytest.fixture(scope="session")
def gx_imported() -> None:
    """Import Great Expectations once, before any task process is forked from this one."""
    import great_expectations  # noqa: F401


@pytest.fixture(scope="session")
def big_data(gx_imported) -> Iterator[BigData]:
    admin = _mysql_admin()
    admin.autocommit(True)
    tag = uuid.uuid4().hex[:10]
    legacy, flow = f"lft_{tag}_bigtmpl", f"lft_{tag}_bigref"
    cur = admin.cursor()
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_CONN_LEADS_LEGACY", "AIRFLOW_CONN_LEADS_FLOW")}
    try:
        for name in (legacy, flow):
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        os.environ["AIRFLOW_CONN_LEADS_LEGACY"] = mysql_conn_uri(legacy)
        os.environ["AIRFLOW_CONN_LEADS_FLOW"] = mysql_conn_uri(flow)
        dbs = Databases("mysql", legacy, flow)
        _create_legacy(dbs)
        # One day, ending at 23:00 so that the tests may push update_time a little later within the day.
        S.seed(dbs, BIG_GENERATED, datetime(2026, 11, 20), datetime(2026, 11, 20, 23), seed_=11, dirty=0.02)
        cols = LEGACY_COPY_COLUMNS.split(", ", 1)[1]
        for _ in range(BIG_DOUBLINGS):
            cur.execute(f"INSERT INTO {legacy}.leads_aggr ({cols}) SELECT {cols} FROM {legacy}.leads_aggr")
        params = {"max_reject_ratio": 0.2}
        sync(BIG_DAY, run_id="manual__big_reference", **params)
        ref = flow_table(dbs)
        n = S.scalar(admin, f"SELECT COUNT(*) FROM {legacy}.leads_aggr")
        if not len(ref) > 0.9 * n:
            raise AssertionError(f"the reference run published {len(ref)} of {n} rows")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield BigData(legacy, n, ref, params)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name in (legacy, flow):
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def pytest_terminal_summary(terminalreporter) -> None:
    lines = S.FIGURES.lines()
    if S.FIGURES.faults or S.FIGURES.bad_inputs or S.FIGURES.plaintext_places:
        terminalreporter.write_sep("-", "reliability figures")
        for line in lines:
            terminalreporter.write_line(line)

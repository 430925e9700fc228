"""Least privilege, validated identifiers, bound values.

The pipeline runs with a legacy login that can only SELECT leads_aggr and a flow login limited to its
own schema (the tests create and drop both, with unique names). Identifiers from configuration are
refused before any SQL; values (run ids, legacy text) reach the server as bound parameters, or are
refused where they would otherwise be spliced into SQL text.
"""

from __future__ import annotations

import random
from datetime import datetime

import MySQLdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from devkit.seed import random_mobile
from leads_flow.config import ConfigError, Settings, ident
from leads_flow.io.sql import render
from leads_flow.tasks import sync as pipeline
from tests.helpers import flow_table, insert, legacy_row, sync
from tests.reliability import _support as S

pytestmark = pytest.mark.mysql

FLOW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX"


def _rows() -> list[tuple]:
    d = datetime(2026, 11, 20, 10)
    return [legacy_row(phone=S_PHONE[i], unionId=f"oU{i}" if i % 2 else None, update_time=d) for i in range(4)] + [
        legacy_row(phone="12345", update_time=d)
    ]


S_PHONE = [random_mobile(random.Random(i)) for i in range(4)]  # generated, not subscribers


def _denied(fn) -> int:
    with pytest.raises((MySQLdb.OperationalError, MySQLdb.ProgrammingError)) as err:
        fn()
    return err.value.args[0]


def test_the_pipeline_runs_with_least_privilege_logins(mysql_dbs, monkeypatch):
    insert(mysql_dbs, _rows())
    with (
        S.login(mysql_dbs.legacy_name, "SELECT", table="leads_aggr") as legacy,
        S.login(mysql_dbs.flow_name, FLOW_PRIVILEGES) as flow,
    ):
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY", legacy.uri)
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", flow.uri)
        [res] = sync("2026-11-20", run_id="manual__least_privilege", max_reject_ratio=0.5)
        assert res["published"] > 0
        got = flow_table(mysql_dbs)
        # the bulk path (shadow table, ALTER TABLE, RENAME) with the same logins, over the same rows
        out = sync("2026-11-20", run_id="manual__least_privilege_bulk", max_reject_ratio=0.5, load_mode="bulk")
        assert out[-1]["partitions"] == 1 and flow_table(mysql_dbs) == got
        # what the logins cannot do
        lc = legacy.connect()
        assert _denied(lambda: lc.cursor().execute("UPDATE leads_aggr SET phone = NULL")) == 1142
        assert _denied(lambda: lc.cursor().execute("DELETE FROM leads_aggr")) == 1142
        assert _denied(lambda: lc.cursor().execute("CREATE TABLE x (a INT)")) == 1142
        assert _denied(lambda: lc.cursor().execute("SELECT * FROM mysql.user")) == 1142
        lc.close()
        fc = flow.connect()
        assert _denied(lambda: fc.cursor().execute(f"SELECT * FROM {mysql_dbs.legacy_name}.leads_aggr")) == 1142
        assert _denied(lambda: fc.cursor().execute("SELECT * FROM mysql.user")) == 1142
        assert _denied(lambda: fc.cursor().execute("CREATE DATABASE lfr_should_not_exist")) == 1044
        fc.close()
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY", S.root_uri(mysql_dbs.legacy_name))
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", S.root_uri(mysql_dbs.flow_name))
    S.assert_same_table(
        got, S.reference(mysql_dbs, "2026-11-20", max_reject_ratio=0.5), "least-privilege logins vs root"
    )


BAD_IDENTIFIERS = [
    "leads_aggr; DROP TABLE x",
    "leads_aggr`",
    "`leads_aggr`",
    "leads aggr",
    "leads_aggr'--",
    "leads_aggr/*",
    " ",
    "1leads",
    "a" * 65,
    "ｌｅａｄｓ",
    "legacy.leads_aggr",
    "leads-aggr",
    "leads_aggr\t",
    "léads",
]


@pytest.mark.parametrize("bad", BAD_IDENTIFIERS)
def test_a_bad_table_name_in_configuration_fails_before_any_sql(mysql_dbs, monkeypatch, bad):
    monkeypatch.setenv("LEADS_FLOW_LEGACY_TABLE", bad)
    opened = []

    def no_sql(*a, **k):
        opened.append(1)
        raise AssertionError("a database connection was opened")

    monkeypatch.setattr("leads_flow.io.connect.connect", no_sql)
    monkeypatch.setattr(MySQLdb, "connect", no_sql)
    with pytest.raises(AirflowFailException, match="ConfigError|not a valid SQL identifier"):
        pipeline.plan({"start_date": "2026-11-20", "end_date": "2026-11-20"}, None, None)
    assert opened == []
    with pytest.raises(ConfigError):
        Settings.from_env()
    with pytest.raises(ConfigError):
        render("mysql", "extract_window", legacy=bad, columns="id")


def test_a_trailing_newline_is_not_a_valid_identifier():
    with pytest.raises(ConfigError):
        ident("leads_aggr\n")


def test_values_with_sql_metacharacters_are_bound_not_spliced(mysql_dbs):
    """Legacy text full of SQL reaches leads_flow verbatim; a run id with quotes is refused up front."""
    nasty = [
        "'; DROP TABLE leads_flow; --",
        "\\'; DELETE FROM leads_flow_run; --",
        "%(etl_run_id)s",
        ":now",
        "{stage}",
        "?",
        '" OR "1"="1',
    ]
    d = datetime(2026, 11, 20, 10)
    insert(
        mysql_dbs,
        [
            legacy_row(phone=None, unionId=f"o{i}", from_channel=v, user_agent=v, window_url=v, update_time=d)
            for i, v in enumerate(nasty)
        ],
    )
    sync("2026-11-20", run_id="manual__o.k-1:2+3~4")
    stored = dict(mysql_dbs.flow_rows("SELECT union_id, from_channel FROM leads_flow"))
    assert stored == {f"o{i}": v for i, v in enumerate(nasty)}
    assert mysql_dbs.flow_rows("SELECT dag_run_id FROM leads_flow_run") == [("manual__o.k-1:2+3~4",)]
    p = {"start_date": "2026-11-20", "end_date": "2026-11-20"}
    [part] = pipeline.plan(p, None, None)
    for run_id in ("manual__x\\' AND 1=0 -- ", "manual__o'brien", 'manual__"q"', "manual__a\nb"):
        with pytest.raises(AirflowFailException, match="refusing run id"):
            pipeline.stage(part, p, S.DAG_ID, run_id)
    assert mysql_dbs.flow_rows("SELECT COUNT(*) FROM leads_flow_run") == [(1,)]  # nothing written for them


def test_a_sneaky_run_id_cannot_empty_the_reject_count(mysql_dbs):
    from leads_flow.quality.expectations import run_gate
    from leads_flow.window import Partition

    d = datetime(2026, 11, 20, 10)
    insert(mysql_dbs, [legacy_row(phone=S_PHONE[0], update_time=d), legacy_row(phone="12345", update_time=d)])
    p = {"start_date": "2026-11-20", "end_date": "2026-11-20", "max_reject_ratio": 0.0}
    [part] = pipeline.plan(p, None, None)
    sneaky = "manual__x\\' AND 1=0 -- "
    from leads_flow.io.keyring import load_keyring
    from leads_flow.io.stage import stage_partition
    from leads_flow.rules.crypto import PhoneCipher

    run_id = pipeline.etl_run_id_for(sneaky, Partition.from_dict(part))
    res = stage_partition(
        Partition.from_dict(part), run_id, PhoneCipher(load_keyring("leads_pii")), pipeline.settings_from(p)
    )
    assert res.rejected == 1
    result = run_gate(
        "leads_flow",
        "mysql",
        res.stage_table,
        run_id,
        extracted=res.extracted,
        rejected=res.rejected,
        partition_end=Partition.from_dict(part).end,
        settings=pipeline.settings_from(p),
    )
    assert not result.success and "reject_ratio_within_limit" in result.failed


def test_a_run_id_too_long_for_the_columns_is_shortened_not_rejected(mysql_dbs):
    insert(mysql_dbs, _rows())
    long_id = "backfill__" + "x" * 240
    [res] = sync("2026-11-20", run_id=long_id, max_reject_ratio=0.5)
    [(etl_run_id, dag_run_id)] = mysql_dbs.flow_rows("SELECT etl_run_id, dag_run_id FROM leads_flow_run")
    assert len(etl_run_id) <= 250 and etl_run_id.endswith("@2026-11-20T00:00") and "~" in etl_run_id
    assert dag_run_id == long_id and res["published"] > 0

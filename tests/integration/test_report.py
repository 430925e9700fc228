"""The run report on real pipeline runs (MariaDB and SQLite): list, detail, JSON, escaping, 404, auth."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.conftest import ROOT
from tests.helpers import insert, legacy_row, sync

PREFIX = "/leads-flow"
P1, P2 = "13912345678", "15887654321"  # generated, not real subscribers
DAY = datetime(2026, 11, 20, 10)
XSS_RUN = "manual__<script>alert(1)</script>"  # quotes are refused in run ids (pipeline.check_run_id)
LONG_DIGITS = re.compile(r"\d{11,}")


def rows_for(day: datetime) -> list[tuple]:
    return [
        legacy_row(phone=P1, update_time=day),  # ok
        legacy_row(phone=f"+86 {P2}", unionId="oU2", update_time=day),  # ok
        legacy_row(phone="12345", update_time=day),  # phone_invalid
        legacy_row(phone=None, unionId=None, has_tool=3, update_time=day),  # flag_invalid,no_identity
    ]


@pytest.fixture
def client():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from leads_flow.report.views import create_app

    parent = FastAPI()  # mounted like the api-server mounts plugin apps
    parent.mount(PREFIX, create_app())
    with TestClient(parent) as c:
        yield c


def run_row(dbs, etl_run_id: str) -> dict:
    cols = ("extracted", "staged", "rejected", "coerced", "published", "status", "gate_results", "rejects_by_reason")
    [row] = dbs.flow_rows(
        f"SELECT {', '.join(cols)} FROM leads_flow_run WHERE etl_run_id = %s"
        if dbs.dialect == "mysql"
        else f"SELECT {', '.join(cols)} FROM leads_flow_run WHERE etl_run_id = ?",
        (etl_run_id,),
    )
    return dict(zip(cols, row))


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_list_detail_and_api_show_real_runs(any_dbs, client):
    insert(any_dbs, rows_for(DAY) + rows_for(datetime(2026, 11, 21, 10)))
    [ok] = sync("2026-11-20", run_id="manual__good", max_reject_ratio=0.5)
    with pytest.raises(AirflowFailException, match="reject_ratio_within_limit"):
        sync("2026-11-21", run_id="manual__strict", max_reject_ratio=0.1)
    bad_id = "manual__strict@2026-11-21T00:00"
    good = run_row(any_dbs, ok["etl_run_id"])
    assert good["status"] == "published" and (good["extracted"], good["rejected"]) == (4, 2)

    # the list: both partitions, newest first, a badge each, a link each
    page = client.get(f"{PREFIX}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    script = re.search(r"<script>(.*?)</script>", page.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp  # the one inline script, by its hash
    html = page.text
    assert html.index(bad_id) < html.index(ok["etl_run_id"])
    assert f'href="{PREFIX}/runs/{quote(ok["etl_run_id"], safe="")}"' in html
    assert f'href="{PREFIX}/runs/{quote(bad_id, safe="")}"' in html
    assert 'class="badge b-ok"' in html and ">published<" in html
    assert 'class="badge b-bad"' in html and ">gate failed<" in html
    assert "reject_ratio_within_limit" in html
    assert not LONG_DIGITS.search(html)

    # a status filter
    only_failed = client.get(f"{PREFIX}/", params={"status": "gate_failed"}).text
    assert bad_id in only_failed and ok["etl_run_id"] not in only_failed

    # the detail of the published partition: window, counts, reasons, every expectation, timings
    detail = client.get(f"{PREFIX}/runs/{quote(ok['etl_run_id'], safe='')}")
    assert detail.status_code == 200
    html, text = detail.text, text_of(detail.text)
    assert "Partition 2026-11-20" in text and "[2026-11-20 00:00:00, 2026-11-21 00:00:00)" in text
    assert "[2026-11-19 23:00:00, 2026-11-21 00:00:00)" in text  # window: the partition plus 60 min overlap
    for key, value in (("extracted", 4), ("staged", 2), ("rejected", 2), ("published", 2)):
        assert re.search(rf'id="count-{key}">.*?<div class="v">{value}</div>', html, re.S), key
    assert "50.00 %" in text  # reject ratio
    reasons = json.loads(good["rejects_by_reason"])
    assert reasons == {"flag_invalid": 1, "no_identity": 1, "phone_invalid": 1}
    assert '<svg id="rejects-chart"' in html and html.count('<rect class="bar"') == len(reasons)
    for reason in reasons:
        assert f">{reason}</text>" in html and f'<td class="mono">{reason}</td>' in html
    results = json.loads(good["gate_results"])
    assert len(results) >= 10 and "reject_ratio_within_limit" in [r["check"] for r in results]
    table = html[html.index('id="expectations"') :]
    for r in results:  # named for people, its id and expectation type beside, limit vs observed
        assert f'data-check="{r["check"]}"' in table and f'title="{r["expectation"]}">{r["check"]}</div>' in table
    assert "Every extracted row is staged or rejected (staged rows)" in text
    staged_row = table[table.index('data-check="extracted_equals_staged_plus_rejected"') :]
    staged_row = text_of(staged_row[: staged_row.index("</tr>")])
    assert "= 2" in staged_row and " 2 " in staged_row.replace("= 2", "")  # limit = 2, observed 2
    ratio_row = table[table.index('data-check="reject_ratio_within_limit"') :]
    assert "≤ 2" in text_of(ratio_row[: ratio_row.index("</tr>")])  # 0.5 x 4 extracted
    assert (
        table.count('<span class="pf pass">PASS</span>') == len(results)
        and "FAIL" not in table[: table.index("</table>")]
    )
    assert "Extract and stage" in text and "Data-quality gate" in text and "Publish" in text
    assert "Rejected leads" in text and "phone_invalid" in html
    assert not LONG_DIGITS.search(html)

    # the gate-failed partition: FAIL for its failed check, PASS for the rest
    bad = client.get(f"{PREFIX}/runs/{quote(bad_id, safe='')}").text
    row = bad[bad.index('data-check="reject_ratio_within_limit"') :]
    assert row[: row.index("</tr>")].count('<span class="pf fail">FAIL</span>') == 1
    assert '<span class="pf fail" id="gate">FAIL</span>' in bad and "nothing published" in bad

    # JSON
    api = client.get(f"{PREFIX}/api/runs").json()
    assert [r["etl_run_id"] for r in api["runs"]] == [bad_id, ok["etl_run_id"]]
    first = api["runs"][1]
    assert first["status"] == "published" and first["extracted"] == 4 and first["gate_success"] is True
    assert first["partition_start"] == "2026-11-20T00:00:00" and first["report_url"].startswith(f"{PREFIX}/runs/")
    one = client.get(f"{PREFIX}/api/runs/{quote(ok['etl_run_id'], safe='')}").json()
    assert one["rejects_by_reason"] == reasons and [r["check"] for r in one["gate_results"]] == [
        r["check"] for r in results
    ]
    assert set(one["timings"]) == {"stage_s", "gate_s", "publish_s"}
    assert sorted(r["lead_id"] for r in one["rejected_sample"]) == [3, 4]
    # every reject reachable, with its legacy values masked (the phone only as "e1 token")
    values = {r["lead_id"]: r["values"] for r in one["rejected_sample"]}
    assert values[3]["phone"] == "e1 token (encrypted)" and values[4]["has_tool"] == "3"
    page = text_of(client.get(f"{PREFIX}/runs/{quote(ok['etl_run_id'], safe='')}", params={"rejects": 1}).text)
    assert "first 1 of 2, by lead id" in page and "Show all 2 rejected leads" in page
    assert "all 2" in text_of(client.get(f"{PREFIX}/runs/{quote(ok['etl_run_id'], safe='')}").text)
    assert (
        client.get(f"{PREFIX}/api/runs", params={"status": "published"}).json()["runs"][0]["etl_run_id"]
        == ok["etl_run_id"]
    )

    # the DAG run page (the "Leads flow report" tab on a DAG run)
    tab = client.get(f"{PREFIX}/dag-runs/leads_flow_sync/manual__good").text
    assert ok["etl_run_id"] in tab and bad_id not in tab


def test_markup_in_a_run_id_is_escaped(any_dbs, client):
    insert(any_dbs, rows_for(DAY))
    [res] = sync("2026-11-20", run_id=XSS_RUN, max_reject_ratio=0.5)
    etl_run_id = res["etl_run_id"]
    assert "<script>" in etl_run_id

    listing = client.get(f"{PREFIX}/").text
    assert "<script>alert" not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    assert listing.count("<script") == 1  # the report's own tz.js, allowed by hash
    assert f'href="{PREFIX}/runs/{quote(etl_run_id, safe="")}"' in listing

    detail = client.get(f"{PREFIX}/runs/{quote(etl_run_id, safe='')}")
    assert detail.status_code == 200 and "<script>alert" not in detail.text and detail.text.count("<script") == 1
    assert "&lt;script&gt;" in detail.text

    api = client.get(f"{PREFIX}/api/runs").json()
    assert api["runs"][0]["etl_run_id"] == etl_run_id  # JSON carries the value itself, as JSON
    assert client.get(f"{PREFIX}/api/runs").headers["content-type"] == "application/json"


def test_unknown_run_is_404(sqlite_dbs, client):
    insert(sqlite_dbs, rows_for(DAY))
    sync("2026-11-20", max_reject_ratio=0.5)
    page = client.get(f"{PREFIX}/runs/{quote('nope<b>x</b>', safe='')}")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<b>" not in page.text and "nope&lt;b&gt;x&lt;/b&gt;" in page.text
    api = client.get(f"{PREFIX}/api/runs/nope")
    assert api.status_code == 404 and api.json() == {"detail": "no such partition run"}
    assert client.get(f"{PREFIX}/no/such/page").status_code == 404
    assert client.get(f"{PREFIX}/api/runs", params={"limit": 0}).status_code == 422
    assert client.get(f"{PREFIX}/", params={"status": "x' OR 1=1"}).status_code == 422


def test_before_the_first_run_the_list_is_empty(sqlite_dbs, client):
    page = client.get(f"{PREFIX}/")
    assert page.status_code == 200 and 'id="no-runs"' in page.text
    assert client.get(f"{PREFIX}/api/runs").json()["runs"] == []
    assert client.get(f"{PREFIX}/runs/x").status_code == 404


def test_unreachable_database_is_503(monkeypatch, client):
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", "mysql://nobody:x@127.0.0.1:1/none")
    monkeypatch.setattr("leads_flow.io.retry.time.sleep", lambda s: None)
    page = client.get(f"{PREFIX}/")
    assert page.status_code == 503 and "Flow database unavailable" in page.text
    assert client.get(f"{PREFIX}/api/runs").status_code == 503


def load_plugin_module():
    spec = importlib.util.spec_from_file_location("leads_flow_report_plugin", ROOT / "plugins" / "leads_flow_report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_plugin_declares_app_and_views_and_requires_an_airflow_login():
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse
    from airflow.plugins_manager import is_valid_plugin
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    mod = load_plugin_module()
    plugin = mod.LeadsFlowReportPlugin
    assert is_valid_plugin(plugin)
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == PREFIX and app["name"] == "Leads flow runs"
    views = [ExternalViewResponse.model_validate(v) for v in plugin.external_views]
    assert [(v.destination, v.href) for v in views] == [
        ("nav", f"{PREFIX}/"),
        ("dag_run", f"{PREFIX}/dag-runs/{{DAG_ID}}/{{RUN_ID}}"),
    ]
    assert views[0].category == "browse"

    parent = FastAPI()
    parent.mount(PREFIX, app["app"])
    with TestClient(parent) as c:
        page = c.get(f"{PREFIX}/")
        assert page.status_code == 401 and "Sign in to Airflow" in page.text
        assert c.get(f"{PREFIX}/api/runs").status_code == 401
        assert c.get(f"{PREFIX}/runs/x").status_code == 401


# -- only this project's DAGs, and per DAG only for users who may read its runs ------------------------------

FOREIGN = "someone_elses_dag"
SYNC_RUN, RECONCILE_RUN, FOREIGN_RUN = (
    "manual__s@2026-11-20T00:00",
    "manual__r@2026-11-20T00:00",
    "manual__x@2026-11-20T00:00",
)


def audit_rows(dbs) -> None:
    """One leads_flow_run row for each project DAG and one for a DAG that is not ours (the table is shared
    in a flow database that other tools may write to)."""
    from leads_flow.io import runlog
    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.window import Partition

    with connected("leads_flow") as db:
        ensure_flow_schema(db)
        with db.transaction():
            for i, (etl, dag_id) in enumerate(
                ((SYNC_RUN, "leads_flow_sync"), (RECONCILE_RUN, "leads_flow_reconcile"), (FOREIGN_RUN, FOREIGN))
            ):
                runlog.start(
                    db,
                    etl,
                    Partition(datetime(2026, 11, 20), datetime(2026, 11, 21), 60),
                    dag_id,
                    etl.split("@")[0],
                    now=datetime(2026, 11, 21, 1, i),
                )


def test_the_project_dag_ids_are_the_dags_in_the_dags_folder():
    from leads_flow.names import RECONCILE_DAG_ID, SYNC_DAG_ID
    from leads_flow.report.data import project_dag_ids

    # a DAG's id is its file's name (tests/dags/test_dags.py holds every DAG to it)
    assert all((ROOT / "dags" / f"{dag_id}.py").exists() for dag_id in (SYNC_DAG_ID, RECONCILE_DAG_ID))
    assert sorted(project_dag_ids()) == sorted([SYNC_DAG_ID, RECONCILE_DAG_ID])


def test_runs_of_other_dags_are_neither_shown_nor_served(sqlite_dbs, client):
    audit_rows(sqlite_dbs)
    listing = client.get(f"{PREFIX}/").text
    assert SYNC_RUN in listing and RECONCILE_RUN in listing and FOREIGN_RUN not in listing
    assert [r["etl_run_id"] for r in client.get(f"{PREFIX}/api/runs").json()["runs"]] == [RECONCILE_RUN, SYNC_RUN]
    for path in (
        f"{PREFIX}/runs/{quote(FOREIGN_RUN, safe='')}",
        f"{PREFIX}/api/runs/{quote(FOREIGN_RUN, safe='')}",
        f"{PREFIX}/dag-runs/{FOREIGN}/manual__x",
        f"{PREFIX}/?dag_id={FOREIGN}",
        f"{PREFIX}/api/runs?dag_id={FOREIGN}",
        f"{PREFIX}/api/runs?dag_id={FOREIGN}&dag_run_id=manual__x",
    ):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "2026-11-21 01:02" not in page.text and "2026-11-21T01:02" not in page.text  # none of its data
    only = client.get(f"{PREFIX}/", params={"dag_id": "leads_flow_reconcile"}).text
    assert RECONCILE_RUN in only and SYNC_RUN not in only
    assert RECONCILE_RUN in client.get(f"{PREFIX}/dag-runs/leads_flow_reconcile/manual__r").text


def split_auth_manager():
    """Airflow's real SimpleAuthManager (its JWTs, roles and checks) with one restriction added, as FAB or
    Keycloak would express it: a user reads the runs of the DAGs listed for them only. SimpleAuthManager
    alone grants every viewer every DAG, and FAB is not installed here."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    class SplitAuthManager(SimpleAuthManager):
        DAGS = {
            "sync_reader": {"leads_flow_sync"},
            "both_reader": {"leads_flow_sync", "leads_flow_reconcile"},
            "foreign_reader": {FOREIGN},
        }
        asked: list = []

        def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
            self.asked.append((method, access_entity, details.id if details else None))
            allowed = details is not None and details.id in self.DAGS.get(user.username, set())
            return allowed and super().is_authorized_dag(
                method=method, user=user, access_entity=access_entity, details=details
            )

    return SplitAuthManager()


@pytest.fixture(scope="module")
def airflow_metadata_db():
    """Airflow's metadata database (SQLite in the test AIRFLOW_HOME): token validation reads revoked tokens."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def split_auth(airflow_metadata_db, monkeypatch):
    from airflow.api_fastapi import app as api_app

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "leads-flow-test-jwt-secret-" + "x" * 48)
    manager = split_auth_manager()
    saved = api_app._AuthManagerState.instance
    api_app._AuthManagerState.instance = manager
    try:
        yield manager
    finally:
        api_app._AuthManagerState.instance = saved


def test_each_user_sees_and_opens_only_the_runs_of_dags_they_may_read(sqlite_dbs, split_auth):
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    audit_rows(sqlite_dbs)
    [app] = load_plugin_module().LeadsFlowReportPlugin.fastapi_apps
    parent = FastAPI()
    parent.mount(PREFIX, app["app"])

    def as_user(name: str, role: str = "viewer") -> dict:
        token = split_auth.generate_jwt(SimpleAuthManagerUser(username=name, role=role))
        return {"Authorization": f"Bearer {token}"}

    sync_rid, rec_rid = quote(SYNC_RUN, safe=""), quote(RECONCILE_RUN, safe="")
    with TestClient(parent) as c:
        sync_only = as_user("sync_reader")
        listing = c.get(f"{PREFIX}/", headers=sync_only)
        assert listing.status_code == 200 and SYNC_RUN in listing.text
        assert RECONCILE_RUN not in listing.text and FOREIGN_RUN not in listing.text
        assert [r["etl_run_id"] for r in c.get(f"{PREFIX}/api/runs", headers=sync_only).json()["runs"]] == [SYNC_RUN]
        assert c.get(f"{PREFIX}/runs/{sync_rid}", headers=sync_only).status_code == 200
        assert c.get(f"{PREFIX}/runs/{rec_rid}", headers=sync_only).status_code == 403
        assert c.get(f"{PREFIX}/api/runs/{rec_rid}", headers=sync_only).status_code == 403
        denied = c.get(f"{PREFIX}/dag-runs/leads_flow_reconcile/manual__r", headers=sync_only)
        assert denied.status_code == 403 and RECONCILE_RUN not in denied.text
        assert c.get(f"{PREFIX}/", params={"dag_id": "leads_flow_reconcile"}, headers=sync_only).status_code == 403
        assert c.get(f"{PREFIX}/dag-runs/leads_flow_sync/manual__s", headers=sync_only).status_code == 200

        both = as_user("both_reader")
        assert [r["etl_run_id"] for r in c.get(f"{PREFIX}/api/runs", headers=both).json()["runs"]] == [
            RECONCILE_RUN,
            SYNC_RUN,
        ]
        assert c.get(f"{PREFIX}/runs/{rec_rid}", headers=both).status_code == 200

        # read access to another DAG opens nothing of it here, and a user with no project DAG gets 403
        foreign = as_user("foreign_reader")
        assert c.get(f"{PREFIX}/", headers=foreign).status_code == 403
        assert c.get(f"{PREFIX}/runs/{quote(FOREIGN_RUN, safe='')}", headers=foreign).status_code == 404
        assert c.get(f"{PREFIX}/dag-runs/{FOREIGN}/manual__x", headers=foreign).status_code == 404

        # no login: 401; a forged token: 403 (Airflow's own answers)
        assert c.get(f"{PREFIX}/api/runs").status_code == 401
        assert c.get(f"{PREFIX}/api/runs", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403

    # the question asked is Airflow's DAG-run read permission, per project DAG, never for another DAG
    assert {(m, e) for m, e, _ in split_auth.asked} == {("GET", DagAccessEntity.RUN)}
    assert {d for _, _, d in split_auth.asked} == {"leads_flow_sync", "leads_flow_reconcile"}


def test_pages_that_add_up(any_dbs, client):
    """Issue 24: times say their zone, footers name their table, a rerun that changed nothing says so, the DAG
    run's tab lists its days in order, the key-rotation page shows rows per kid now."""
    insert(any_dbs, rows_for(DAY) + rows_for(datetime(2026, 11, 21, 10)) + rows_for(datetime(2026, 11, 22, 10)))
    sync("2026-11-20", "2026-11-22", run_id="manual__first", max_reject_ratio=0.5)
    [again, *_] = sync("2026-11-20", "2026-11-22", run_id="manual__again", max_reject_ratio=0.5)

    tab = text_of(client.get(f"{PREFIX}/dag-runs/leads_flow_sync/manual__again").text)
    assert [tab.index(d) for d in ("2026-11-20", "2026-11-21", "2026-11-22")] == sorted(
        tab.index(d) for d in ("2026-11-20", "2026-11-21", "2026-11-22")
    )
    assert "Started ( Asia/Shanghai )" in tab and "Other times are shown in Asia/Shanghai" in tab
    assert "Partitions, windows and days are Asia/Shanghai days" in tab
    # each moment: shown in Asia/Shanghai, carrying its UTC instant for tz.js (the UI's zone)
    html = client.get(f"{PREFIX}/dag-runs/leads_flow_sync/manual__again").text
    moments = re.findall(r'<time datetime="([0-9T:-]+Z)" data-instant>([0-9 :-]+)</time>', html)
    assert moments
    for utc, shown in moments:
        as_utc = datetime.strptime(shown, "%Y-%m-%d %H:%M:%S") - timedelta(hours=8)
        assert as_utc == datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ")
    assert "Source: table leads_flow_run" in tab

    page = client.get(f"{PREFIX}/runs/{quote(again['etl_run_id'], safe='')}").text
    unchanged = text_of(page)
    assert again["published"] == 0 and "Nothing changed: leads_flow already held all 2 staged rows" in unchanged
    assert 'class="mono runid" id="etl-run-id"' in page  # run ids do not wrap mid-word

    keys = text_of(client.get(f"{PREFIX}/keys").text)
    assert "Rows per kid now" in keys and "enc 1 6" in keys and "bidx 1 6" in keys  # 3 days x 2 good rows
    assert "Source: table leads_flow (rows per kid now) and leads_flow_key_audit" in keys
    assert client.get(f"{PREFIX}/api/keys").json()["kids_now"] == [
        {"key_kind": "enc", "kid": "1", "row_count": 6},
        {"key_kind": "bidx", "kid": "1", "row_count": 6},
    ]
    cutover = text_of(client.get(f"{PREFIX}/cutover").text)
    assert "Source: tables leads_flow_reconcile_run and leads_flow_drift" in cutover
    assert "To start reconciling: unpause leads_flow_reconcile" in cutover  # no reconcile ran yet
    assert not LONG_DIGITS.search(unchanged + tab + keys)

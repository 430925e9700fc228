"""Failure alerts: the webhook notifier on a local HTTPS server, the SMTP message, the audit row; no phones.

The webhook server on 127.0.0.1 serves a self-signed certificate made for the test; the notifier trusts it
through LEADS_FLOW_ALERT_WEBHOOK_CA_FILE (verification stays on: without that file the post fails). There
is no plain-http opt-in: an http URL is refused, also on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import ssl
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from airflow.sdk import DAG

from leads_flow import config
from leads_flow.rules import redact as redact_mod
from leads_flow.rules.redact import reason_of, redact
from leads_flow.tasks import failure, webhook
from leads_flow.tasks.notify import on_failure
from leads_flow.tasks.webhook import LeadsFlowWebhookNotifier

PHONE = "13812345678"  # generated, not a real subscriber
PART = {"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00", "overlap_minutes": 60}
ETL_RUN_ID = "manual__t1@2026-11-20T00:00"
DIGIT_RUN = re.compile(r"\d{11,}")  # any 11+ digit run, full-width digits included


TOKEN = "T0ken-0f-the-hook-abcdefghijklmnop"  # the secret part of a webhook URL


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (and its key), made for these tests."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leads-flow test webhook")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return d / "cert.pem", d / "key.pem"


class Hook:
    """A webhook receiver on 127.0.0.1 (HTTPS unless ``tls_files`` is None): records each POST; answers with
    the next queued status (200 when empty), a 3xx with a Location on the same server."""

    def __init__(self, tls_files=None) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8")})
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls_files is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*map(str, tls_files))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/leads?token={TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


def serve(tls_files):
    h = Hook(tls_files)
    h.thread.start()
    try:
        yield h
    finally:
        h.server.shutdown()
        h.server.server_close()
        h.thread.join(timeout=5)


@pytest.fixture
def hook(tls_files, monkeypatch):
    """An HTTPS webhook whose certificate the notifier trusts through LEADS_FLOW_ALERT_WEBHOOK_CA_FILE."""
    monkeypatch.setenv(config.WEBHOOK_CA_ENV, str(tls_files[0]))
    yield from serve(tls_files)


@pytest.fixture
def plain_hook():
    """A plain-HTTP receiver: nothing must ever reach it."""
    yield from serve(None)


@pytest.fixture(autouse=True)
def no_configured_channels(monkeypatch):
    for name in (
        config.WEBHOOK_ENV,
        config.EMAIL_ENV,
        config.WEBHOOK_CA_ENV,
        "AIRFLOW_VAR_LEADS_FLOW_ALERT_WEBHOOK",
        "AIRFLOW_VAR_LEADS_FLOW_ALERT_EMAIL",
        WEBHOOK_CONN_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.test")


class Captured(logging.Handler):
    """Log records of leads_flow.tasks.notify (pytest's logging plugin is off in CI: -p no:logging)."""

    def __init__(self, name: str = "leads_flow.tasks") -> None:  # notify, failure, webhook
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.name = name

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> Captured:
        self.logger = logging.getLogger(self.name)
        self.level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


def context(
    exc: BaseException | None,
    *,
    task_id: str = "partition.stage",
    op_kwargs: dict | None = None,
    run_id: str = "manual__t1",
    map_index: int = 0,
) -> dict:
    task = SimpleNamespace(task_id=task_id, op_kwargs={"partition": PART} if op_kwargs is None else op_kwargs)
    ti = SimpleNamespace(
        dag_id="leads_flow_sync",
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=4,
        task=task,
        log_url=f"https://airflow.example.test/dags/leads_flow_sync/runs/{run_id}/tasks/{task_id}",
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "task": task,
        "run_id": run_id,
        "dag": DAG("leads_flow_sync", schedule=None),
        "exception": exc,
    }


def leaky_error() -> Exception:
    full_width = PHONE.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return RuntimeError(
        f"Duplicate entry '{PHONE}' for key 'uk_phone'; +86 138-1234-5678; {full_width}; "
        f"order 99912345678901234; tel=0086{PHONE}"
    )


def test_redact_masks_mobiles_and_any_long_digit_run():
    text = redact(str(leaky_error()))
    assert not DIGIT_RUN.search(text) and PHONE not in text
    assert "138****5678" in text and "999**********1234" in text
    assert redact("lead 1234567890 at 2026-11-20") == "lead 1234567890 at 2026-11-20"  # 10 digits, dates stay


def test_reason_is_type_and_message_masked_and_truncated():
    assert reason_of(ValueError("x")) == "ValueError: x"
    assert reason_of(None).startswith("task failed without an exception")
    long = reason_of(RuntimeError(PHONE + " " + "y" * 5000))
    assert len(long) == redact_mod.MAX_ERROR_CHARS and long.endswith("…") and PHONE not in long


def test_webhook_notifier_posts_json_without_any_11_digit_run(hook):
    LeadsFlowWebhookNotifier(hook.url)(context(leaky_error()))
    [req] = hook.requests
    assert req["path"] == f"/hooks/leads?token={TOKEN}" and req["headers"]["Content-Type"].startswith(
        "application/json"
    )
    assert not DIGIT_RUN.search(req["body"]) and PHONE not in req["body"]
    [msg] = hook.payloads()
    assert msg["event"] == "task_failed" and msg["dag_id"] == "leads_flow_sync" and msg["run_id"] == "manual__t1"
    assert msg["task_id"] == "partition.stage" and msg["map_index"] == 0 and msg["try_number"] == 4
    assert msg["partition"] == PART and msg["etl_run_id"] == ETL_RUN_ID
    assert msg["reason"].startswith("RuntimeError: Duplicate entry '138****5678'")
    assert msg["report_url"] == (
        "https://airflow.example.test/plugin/leads-flow-runs/leads-flow/runs/" + quote(ETL_RUN_ID, safe="")
    )  # the report inside the Airflow UI
    assert "partition.stage" in msg["text"] and msg["report_url"] in msg["text"]


def test_webhook_retries_a_server_error_once_then_gives_up(hook):
    hook.statuses = [503, 200]
    LeadsFlowWebhookNotifier(hook.url)(context(ValueError("x")))
    assert len(hook.requests) == 2
    hook.statuses = [400]
    with pytest.raises(RuntimeError, match="webhook failed: HTTPError: 400"):
        LeadsFlowWebhookNotifier(hook.url)(context(ValueError("x")))
    assert len(hook.requests) == 3  # a client error is not retried


def test_webhook_unset_is_a_logged_no_op():
    with Captured() as logs:
        LeadsFlowWebhookNotifier()(context(leaky_error()))
    [line] = [m for m in logs.lines if "not sent" in m]
    assert config.WEBHOOK_ENV in line and not DIGIT_RUN.search(line)


WEBHOOK_CONN_ENV = "AIRFLOW_CONN_" + config.WEBHOOK_CONN_ID.upper()


def webhook_connection(url: str) -> str:
    """The connection ``leads_flow_alert_webhook`` as docs/operations.md writes it: the whole URL as its password."""
    return json.dumps({"conn_type": "generic", "password": url})


def test_the_webhook_comes_from_the_env_then_its_connection_then_the_old_variable(hook, monkeypatch):
    other = hook.url.replace(TOKEN, "0ther-token-abcdefghijklmnopqrs")
    old = hook.url.replace(TOKEN, "01d-variable-token-abcdefghijkl")
    monkeypatch.setenv("AIRFLOW_VAR_LEADS_FLOW_ALERT_WEBHOOK", old)
    monkeypatch.setenv(WEBHOOK_CONN_ENV, webhook_connection(hook.url))
    with Captured("leads_flow.config") as logs:
        LeadsFlowWebhookNotifier()(context(ValueError("x")))
    assert [r["path"] for r in hook.requests] == [f"/hooks/leads?token={TOKEN}"]  # the connection's password
    assert not logs.lines  # no warning: the Variable was not used
    monkeypatch.setenv(config.WEBHOOK_ENV, other)  # a deployment's own environment wins over any connection
    LeadsFlowWebhookNotifier()(context(ValueError("x")))
    assert hook.requests[-1]["path"].endswith("0ther-token-abcdefghijklmnopqrs")


def test_the_old_webhook_variable_is_still_read_with_a_warning_that_names_it_never_its_value(hook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_LEADS_FLOW_ALERT_WEBHOOK", hook.url)
    with Captured() as logs, Captured("leads_flow.config") as config_logs:
        LeadsFlowWebhookNotifier()(context(ValueError("x")))
    assert [r["path"] for r in hook.requests] == [f"/hooks/leads?token={TOKEN}"]
    [warning] = [m for m in config_logs.lines if "Variable" in m]
    assert config.WEBHOOK_VARIABLE in warning and config.WEBHOOK_CONN_ID in warning
    assert not any(TOKEN in m or "/hooks/" in m for m in logs.lines + config_logs.lines)


def test_the_webhook_connections_password_is_what_airflow_masks_in_its_rest_api():
    """The field the docs put the URL in is one Airflow's REST API (and so the UI) returns as ``***``."""
    from airflow.api_fastapi.core_api.datamodels.connections import ConnectionResponse

    url = f"https://chat.example.com/hooks/{TOKEN}"
    fields = dict.fromkeys(("description", "host", "login", "schema", "port", "extra", "team_name"))
    row = {**fields, "conn_id": config.WEBHOOK_CONN_ID, "conn_type": "generic", "password": url}
    shown = ConnectionResponse.model_validate(row).model_dump_json(by_alias=True)
    assert TOKEN not in shown and '"password":"***"' in shown


def test_webhook_must_be_https_and_the_refusal_does_not_show_the_url(plain_hook):
    for url in (
        plain_hook.url,
        plain_hook.url.replace("127.0.0.1", "localhost"),
        "file:///etc/passwd",
        f"https:///no-host?token={TOKEN}",
        f"ftp://127.0.0.1/{TOKEN}",
    ):
        with pytest.raises(webhook.WebhookUrlError, match="must be an https:// URL") as err:
            LeadsFlowWebhookNotifier(url).notify(context(ValueError("x")))
        assert TOKEN not in str(err.value) and "127.0.0.1" not in str(err.value) and err.value.__cause__ is None
    assert plain_hook.requests == []  # nothing was sent in clear text, not even to loopback


def test_webhook_with_a_certificate_nobody_trusts_fails(tls_files):
    for h in serve(tls_files):  # no LEADS_FLOW_ALERT_WEBHOOK_CA_FILE: the system's CAs do not know it
        with pytest.raises(RuntimeError, match="webhook failed: URLError") as err:
            LeadsFlowWebhookNotifier(h.url, attempts=1).notify(context(ValueError("x")))
        assert TOKEN not in str(err.value) and h.requests == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failure_and_is_not_followed(hook, status):
    hook.statuses = [status]
    with pytest.raises(RuntimeError, match=f"HTTPError: {status} redirect, not followed") as err:
        LeadsFlowWebhookNotifier(hook.url).notify(context(ValueError("x")))
    assert [r["path"] for r in hook.requests] == [f"/hooks/leads?token={TOKEN}"]  # /elsewhere never asked
    assert TOKEN not in str(err.value)


def test_the_webhook_url_is_registered_with_airflows_secrets_masker(hook, monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact as airflow_redact

    fresh = f"fresh-token-{uuid.uuid4().hex}"  # the masker is process-wide: a token no other test registered
    url = hook.url.replace(TOKEN, fresh)
    hook_line = f"posting to {url} now; token alone: {fresh}"
    assert airflow_redact(hook_line) == hook_line  # not known yet
    monkeypatch.setenv(config.WEBHOOK_ENV, url)
    with Captured() as logs:
        on_failure(context(ValueError("x")), flow_conn_id="leads_missing")
    assert len(hook.requests) == 1 and hook.requests[0]["path"].endswith(fresh)
    masked = airflow_redact(hook_line)
    assert fresh not in masked and "127.0.0.1" not in masked and masked.count("***") == 2
    assert not any(fresh in line or "/hooks/" in line for line in logs.lines)
    assert fresh not in repr(LeadsFlowWebhookNotifier(url))


def test_partition_of_gate_and_publish_and_from_the_plan():
    gate = failure.failure_of(
        context(
            ValueError("x"),
            task_id="partition.gate",
            op_kwargs={"staged": {"etl_run_id": ETL_RUN_ID, "partition": PART}},
        )
    )
    assert (gate.etl_run_id, gate.partition) == (ETL_RUN_ID, PART)
    publish = failure.failure_of(
        context(ValueError("x"), task_id="partition.publish", op_kwargs={"gated": {"etl_run_id": ETL_RUN_ID}})
    )
    assert (publish.etl_run_id, publish.partition) == (ETL_RUN_ID, None)
    ctx = context(ValueError("x"), op_kwargs={}, map_index=1)
    ctx["ti"].xcom_pull = lambda task_ids: [{**PART, "start": "2026-11-19T00:00:00"}, PART]
    assert failure.failure_of(ctx).etl_run_id == ETL_RUN_ID
    plan = failure.failure_of(context(ValueError("x"), task_id="plan", op_kwargs={}, map_index=-1))
    # a failed plan has no partition: its own plan_failed row (issue 24), which the alert links to
    assert plan.etl_run_id == "manual__t1@plan" and plan.report_url == (
        "https://airflow.example.test/plugin/leads-flow-runs/leads-flow/runs/manual__t1%40plan"
    )


def flow_run(dbs, etl_run_id: str) -> tuple:
    mark = "%s" if dbs.dialect == "mysql" else "?"
    [row] = dbs.flow_rows(
        f"SELECT status, error, finished_at IS NOT NULL, partition_start FROM leads_flow_run WHERE etl_run_id = {mark}",
        (etl_run_id,),
    )
    return row[0], row[1], int(row[2]), str(row[3])


@pytest.fixture
def flow(any_dbs):
    """The flow schema on SQLite and on MariaDB (the callback's SQL runs on both)."""
    from leads_flow.io.connect import connected
    from leads_flow.io.schema import ensure_flow_schema

    with connected("leads_flow") as db:
        ensure_flow_schema(db)
    return any_dbs


def start_row(etl_run_id: str, **update) -> None:
    from leads_flow.io import runlog
    from leads_flow.io.connect import connected
    from leads_flow.window import Partition

    with connected("leads_flow") as db, db.transaction():
        runlog.start(
            db,
            etl_run_id,
            Partition(datetime(2026, 11, 20), datetime(2026, 11, 21), 60),
            "leads_flow_sync",
            "manual__t1",
        )
        mark = "%s" if db.dialect == "mysql" else "?"
        cur = db.conn.cursor()
        for k, v in update.items():
            cur.execute(f"UPDATE leads_flow_run SET {k} = {mark} WHERE etl_run_id = {mark}", (v, etl_run_id))
        cur.close()


def test_on_failure_records_a_task_that_died_before_its_row_and_posts(flow, hook, monkeypatch):
    monkeypatch.setenv(config.WEBHOOK_ENV, hook.url)
    on_failure(context(leaky_error()))
    status, error, finished, start = flow_run(flow, ETL_RUN_ID)
    assert (status, finished, start[:10]) == ("failed", 1, "2026-11-20")
    assert error.startswith("RuntimeError: Duplicate entry '138****5678'") and not DIGIT_RUN.search(error)
    [msg] = hook.payloads()
    assert msg["etl_run_id"] == ETL_RUN_ID and not DIGIT_RUN.search(hook.requests[0]["body"])


def test_on_failure_keeps_what_the_pipeline_recorded(flow, hook, monkeypatch):
    monkeypatch.setenv(config.WEBHOOK_ENV, hook.url)
    start_row("r@gate", status="gate_failed", gate_success=0)
    start_row("r@own", status="failed", error="PermanentDbError: the pipeline's own words")
    start_row("r@done", status="published")
    start_row("r@mid", status="staged")
    for rid in ("r@gate", "r@own", "r@done", "r@mid"):
        on_failure(
            context(RuntimeError(f"boom {rid}"), task_id="partition.publish", op_kwargs={"gated": {"etl_run_id": rid}})
        )
    assert flow_run(flow, "r@gate")[:2] == ("gate_failed", "RuntimeError: boom r@gate")
    assert flow_run(flow, "r@own")[:2] == ("failed", "PermanentDbError: the pipeline's own words")
    assert flow_run(flow, "r@done")[:2] == ("published", None)
    assert flow_run(flow, "r@mid")[:2] == ("failed", "RuntimeError: boom r@mid")
    assert len(hook.requests) == 4


def test_on_failure_still_alerts_when_the_flow_database_is_down(hook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_FLOW", "mysql://nobody:x@127.0.0.1:1/none")
    monkeypatch.setattr("leads_flow.io.retry.time.sleep", lambda s: None)
    monkeypatch.setenv(config.WEBHOOK_ENV, hook.url)
    with Captured() as logs:
        on_failure(context(leaky_error()))
    assert any("could not record" in m for m in logs.lines)
    assert len(hook.requests) == 1


def test_email_goes_through_the_smtp_notifier_with_the_masked_message(monkeypatch, hook):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    sent = []
    monkeypatch.setattr(
        SmtpNotifier, "notify", lambda self, ctx: sent.append((self.to, self.subject, self.html_content))
    )
    monkeypatch.setenv(config.EMAIL_ENV, "oncall@example.test, data@example.test")
    monkeypatch.setenv(config.WEBHOOK_ENV, hook.url)
    on_failure(context(leaky_error(), run_id="manual__<b>x</b>", op_kwargs={}), flow_conn_id="leads_missing")
    [(to, subject, html)] = sent
    assert to == ["oncall@example.test", "data@example.test"]
    assert subject == "[leads-flow] leads_flow_sync partition.stage failed"
    assert "Duplicate entry &#39;138****5678&#39;" in html and "manual__&lt;b&gt;x&lt;/b&gt;" in html
    assert not DIGIT_RUN.search(html) and "/leads-flow/dag-runs/leads_flow_sync/" in html
    assert len(hook.requests) == 1  # and the webhook too

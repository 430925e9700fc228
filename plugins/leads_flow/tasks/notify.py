"""Failure alerts for the sync DAG: record why a task failed in leads_flow_run, then tell people.

Wire it as the DAG's task failure callback (it runs in the worker once the last try has failed)::

    default_args={"owner": "data-engineering", "on_failure_callback": on_failure}

:func:`on_failure` does two things, each allowed to fail without hiding the other:

1. **Record.** The partition's row in ``leads_flow_run`` gets status ``failed`` (a ``gate_failed`` row keeps
   its status) and the reason in ``error``, unless the pipeline already wrote its own error there
   (``run_failed.sql``). A partition that died before the pipeline opened its row (bad keyring, XCom,
   a timeout before ``run_start``) gets a new ``failed`` row, so the run report shows it too.
2. **Notify** through Airflow's notifier mechanism (:class:`~airflow.sdk.BaseNotifier`):

   - :class:`LeadsFlowWebhookNotifier` posts a JSON message to the URL in the Airflow Variable
     ``leads_flow_alert_webhook`` or, when that is unset, the env var ``LEADS_FLOW_ALERT_WEBHOOK``. With
     neither, it logs one line saying the alert was not sent (no-op). The URL is a secret (it often
     carries a token): it is registered with Airflow's secrets masker before anything else happens, must
     be ``https://`` (anything else is refused without printing it), and a redirect answer is a failure,
     never followed. ``LEADS_FLOW_ALERT_WEBHOOK_CA_FILE`` names a PEM file of CA certificates to trust
     instead of the system's (a private CA); the certificate and host name are always verified.
   - The SMTP provider's ``SmtpNotifier`` mails the same message to the comma-separated addresses in the
     Variable ``leads_flow_alert_email`` / env var ``LEADS_FLOW_ALERT_EMAIL``, through the connection in
     ``LEADS_FLOW_ALERT_SMTP_CONN_ID`` (default: Airflow's ``[email] email_conn_id``, ``smtp_default``).

The message has the dag id, run id, task, partition, reason and a link to the run report. **Never a phone
number:** the reason is the task's exception with mobile-shaped numbers masked
(:func:`leads_flow.rules.phone.mask_phones_in_text`) and every other run of 11 or more digits masked too, and
the whole message passes the same mask once more before it leaves the process.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseNotifier

from leads_flow.config import FLOW_CONN_ID, REPORT_PREFIX, REPORT_UI_ROUTE, env_text
from leads_flow.rules.redact import MAX_ERROR_CHARS, reason_of, redact, redact_all  # noqa: F401 - re-exported
from leads_flow.tasks.boundary import etl_run_id_for
from leads_flow.window import Partition

log = logging.getLogger(__name__)

WEBHOOK_VARIABLE, WEBHOOK_ENV = "leads_flow_alert_webhook", "LEADS_FLOW_ALERT_WEBHOOK"
EMAIL_VARIABLE, EMAIL_ENV = "leads_flow_alert_email", "LEADS_FLOW_ALERT_EMAIL"
EMAIL_FROM_ENV, SMTP_CONN_ENV = "LEADS_FLOW_ALERT_EMAIL_FROM", "LEADS_FLOW_ALERT_SMTP_CONN_ID"
WEBHOOK_CA_ENV = "LEADS_FLOW_ALERT_WEBHOOK_CA_FILE"
MAX_MESSAGE_REASON_CHARS = 500


@dataclass
class Failure:
    """What failed, from the callback context; only ids and the masked reason, never row data."""

    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None
    etl_run_id: str | None
    partition: dict[str, Any] | None
    reason: str
    report_url: str
    log_url: str | None

    @property
    def partition_label(self) -> str | None:
        if not self.partition:
            return None
        return f"{self.partition.get('start')} .. {self.partition.get('end')}"


def base_url() -> str:
    """The api-server's public URL (``[api] base_url``), as Airflow's own log links use it."""
    try:
        from airflow.sdk.configuration import conf

        url = conf.get("api", "base_url", fallback=None)
    except Exception:  # noqa: BLE001 - a link is a nicety, the alert must still go out
        url = None
    return (url or "http://localhost:8080").rstrip("/")


def report_url(etl_run_id: str | None, dag_id: str | None = None, run_id: str | None = None) -> str:
    """Link to the partition's report, else to the DAG run's partitions, else to the run list.

    The link opens the report inside the Airflow UI, which asks for a login first when needed.
    """
    root = f"{base_url()}/plugin/{REPORT_UI_ROUTE}{REPORT_PREFIX}"
    if etl_run_id:
        return f"{root}/runs/{quote(etl_run_id, safe='')}"
    if dag_id and run_id:
        return f"{root}/dag-runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    return root + "/"


def _task_kwargs(context: Mapping[str, Any]) -> dict[str, Any]:
    """The rendered keyword arguments of the failed @task (mapped tasks: the expanded, unmapped task)."""
    ti = context.get("ti") or context.get("task_instance")
    for task in (getattr(ti, "task", None), context.get("task")):
        kwargs = getattr(task, "op_kwargs", None)
        if isinstance(kwargs, Mapping) and kwargs:
            return dict(kwargs)
    return {}


def _partition_from_plan(context: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fallback when the task's arguments were never rendered: the plan's output at this map index."""
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if ti is None or map_index is None or map_index < 0:
        return None
    try:
        plan = ti.xcom_pull(task_ids="plan")
    except Exception:  # noqa: BLE001 - best effort
        return None
    if isinstance(plan, Sequence) and map_index < len(plan) and isinstance(plan[map_index], Mapping):
        return dict(plan[map_index])
    return None


def failure_of(context: Mapping[str, Any]) -> Failure:
    """Collect ids, partition and the masked reason from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None)
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None)
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)

    kwargs = _task_kwargs(context)
    etl_run_id = partition = None
    for key in ("gated", "staged"):  # gate and publish get the previous task's metadata
        if isinstance(kwargs.get(key), Mapping):
            etl_run_id = kwargs[key].get("etl_run_id") or etl_run_id
            partition = kwargs[key].get("partition") or partition
    if isinstance(kwargs.get("partition"), Mapping):  # stage gets its partition
        partition = kwargs["partition"]
    if partition is None and etl_run_id is None and task_id != "plan":
        partition = _partition_from_plan(context)
    if etl_run_id is None and partition and run_id:
        try:
            etl_run_id = etl_run_id_for(run_id, Partition.from_dict(partition))
        except Exception:  # noqa: BLE001 - a malformed partition leaves the run id unknown
            partition = None
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # noqa: BLE001
        log_url = None
    return Failure(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index if isinstance(map_index, int) and map_index >= 0 else None,
        try_number=try_number if isinstance(try_number, int) else None,
        etl_run_id=etl_run_id,
        partition=dict(partition) if partition else None,
        reason=reason_of(context.get("exception")),
        report_url=report_url(etl_run_id, dag_id, run_id),
        log_url=log_url if isinstance(log_url, str) else None,
    )


def record_failure(failure: Failure, flow_conn_id: str = FLOW_CONN_ID) -> bool:
    """Put the reason into the partition's leads_flow_run row (creating it if the task died first).

    Returns False when there is no partition to record against (the plan task failed).
    """
    if not failure.etl_run_id:
        return False
    from leads_flow.io import runlog
    from leads_flow.io.connect import connected

    partition = Partition.from_dict(failure.partition) if failure.partition else None
    with connected(flow_conn_id) as flow:
        runlog.failed_by_callback(
            flow,
            failure.etl_run_id,
            failure.reason,
            partition=partition,
            dag_id=failure.dag_id,
            dag_run_id=failure.run_id,
        )
    return True


def message_of(failure: Failure) -> dict[str, Any]:
    """The alert as JSON: a one-line ``text`` for chat webhooks plus every field, masked."""
    where = f" [{failure.partition_label}]" if failure.partition else ""
    short = (
        failure.reason
        if len(failure.reason) <= MAX_MESSAGE_REASON_CHARS
        else failure.reason[: MAX_MESSAGE_REASON_CHARS - 1] + "…"
    )
    msg = {
        "text": f"leads-flow: {failure.dag_id} task {failure.task_id}{where} failed: {short} — {failure.report_url}",
        "event": "task_failed",
        "dag_id": failure.dag_id,
        "run_id": failure.run_id,
        "task_id": failure.task_id,
        "map_index": failure.map_index,
        "try_number": failure.try_number,
        "etl_run_id": failure.etl_run_id,
        "partition": failure.partition,
        "reason": short,
        "report_url": failure.report_url,
        "log_url": failure.log_url,
    }
    return redact_all(msg)


def _setting(variable: str, env: str) -> str | None:
    """An Airflow Variable if set, else the env var; blank means unset."""
    value = None
    try:
        from airflow.sdk import Variable

        value = Variable.get(variable, default=None)
    except Exception:  # noqa: BLE001 - no Variable backend here: the env var decides
        value = None
    value = value or env_text(env)
    if not isinstance(value, str):
        return None
    return value.strip() or None


class WebhookUrlError(ValueError):
    """The configured webhook URL is refused; the message never contains the URL."""


_TOKENISH = re.compile(r"[^/?&=#;:@]{16,}")  # a path segment or query value long enough to be a token


def mask_webhook_url(url: str) -> None:
    """Register the URL (and any token-like part of it) with Airflow's secrets masker.

    In a task this masks it in the task's and the supervisor's log output (``airflow.sdk.log.mask_secret``);
    elsewhere in this process's loggers that use the SDK masker.
    """
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDK layout
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    mask_secret(url)
    try:
        parts = urlsplit(url)
        pieces = [parts.password or "", *_TOKENISH.findall(f"{parts.path}?{parts.query}#{parts.fragment}")]
    except ValueError:
        pieces = []
    for piece in pieces:
        if len(piece) >= 16:
            mask_secret(piece)


def check_webhook_url(url: str) -> str:
    """``url`` if it is an ``https://`` URL with a host, else :class:`WebhookUrlError` (URL not shown)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise WebhookUrlError("leads-flow alert webhook is not a valid URL (not shown: it may carry a token)") from None
    if parts.scheme.lower() != "https" or not host:
        raise WebhookUrlError(
            "leads-flow alert webhook must be an https:// URL with a host name: "
            f"{(parts.scheme or 'no scheme')[:10]!r} is refused (the URL is not shown: it may "
            "carry a token)"
        )
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is an error (urllib raises HTTPError): the message goes to the configured URL or nowhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, PLR0913 - urllib's API
        return None


def _opener(ca_file: str | None) -> urllib.request.OpenerDirector:
    """https only, certificate and host name verified, no redirects."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=ctx))


class LeadsFlowWebhookNotifier(BaseNotifier):
    """POST the failure message as JSON to a webhook (chat, incident tool, any HTTP endpoint).

    ``url`` defaults to the Variable ``leads_flow_alert_webhook`` / env var ``LEADS_FLOW_ALERT_WEBHOOK``;
    without one the notifier only logs that nothing was sent. The message comes from ``message`` or is
    built from the callback context. No field is templated: exception text must never be run as Jinja.

    The URL is masked in logs (:func:`mask_webhook_url`), must be https (:func:`check_webhook_url`), and
    redirects are not followed. ``ca_file`` (default: env ``LEADS_FLOW_ALERT_WEBHOOK_CA_FILE``) replaces
    the system's CA certificates for this webhook.
    """

    template_fields = ()

    def __init__(
        self,
        url: str | None = None,
        *,
        message: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        attempts: int = 2,
        ca_file: str | None = None,
    ) -> None:
        super().__init__()
        if url:
            mask_webhook_url(url)
        self.url = url
        self.message = dict(message) if message is not None else None
        self.timeout = timeout
        self.attempts = attempts
        self.ca_file = ca_file

    def __repr__(self) -> str:  # never the URL
        return f"{type(self).__name__}(url={'***' if self.url else None})"

    def notify(self, context: Mapping[str, Any]) -> None:
        message = self.message or context.get("leads_flow_alert") or message_of(failure_of(context))
        url = self.url or _setting(WEBHOOK_VARIABLE, WEBHOOK_ENV)
        if not url:
            log.info(
                "leads-flow alert not sent: no webhook configured (Variable %s or env %s): %s",
                WEBHOOK_VARIABLE,
                WEBHOOK_ENV,
                message.get("text"),
            )
            return
        mask_webhook_url(url)  # first: whatever happens next, logs show *** instead
        check_webhook_url(url)
        body = redact(json.dumps(message, ensure_ascii=False, default=str)).encode("utf-8")
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "leads-flow-alert/1"},
        )
        opener = _opener(self.ca_file or env_text(WEBHOOK_CA_ENV))
        for attempt in range(1, self.attempts + 1):
            try:
                with opener.open(req, timeout=self.timeout) as resp:  # noqa: S310 - https checked
                    log.info("leads-flow alert posted to the webhook (HTTP %s)", resp.status)
                    return
            except OSError as exc:  # URLError, HTTPError, timeouts, resets
                code = getattr(exc, "code", None)
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()
                if isinstance(code, int) and 300 <= code < 400:
                    raise RuntimeError(
                        f"leads-flow alert webhook failed: HTTPError: {code} redirect, not "
                        "followed: configure the final https URL"
                    ) from None
                if attempt == self.attempts or (isinstance(exc, urllib.error.HTTPError) and exc.code < 500):
                    raise RuntimeError(
                        f"leads-flow alert webhook failed: {type(exc).__name__}: "
                        f"{code or ''} {getattr(exc, 'reason', '')}"
                    ) from None
                log.warning("leads-flow alert webhook attempt %d failed (%s), retrying", attempt, type(exc).__name__)


EMAIL_SUBJECT = "[leads-flow] {{ leads_flow_alert.dag_id }} {{ leads_flow_alert.task_id }} failed"
EMAIL_HTML = """<p><b>{{ leads_flow_alert.dag_id | e }}</b> task <b>{{ leads_flow_alert.task_id | e }}</b> failed.</p>
<table>
<tr><td>DAG run</td><td>{{ leads_flow_alert.run_id | e }}</td></tr>
<tr><td>Partition</td><td>{{ ((leads_flow_alert.partition.start ~ ' .. ' ~ leads_flow_alert.partition.end)
  if leads_flow_alert.partition else '-') | e }}</td></tr>
<tr><td>Partition run</td><td>{{ (leads_flow_alert.etl_run_id or '-') | e }}</td></tr>
<tr><td>Try</td><td>{{ leads_flow_alert.try_number or '-' }}</td></tr>
<tr><td>Reason</td><td><code>{{ leads_flow_alert.reason | e }}</code></td></tr>
</table>
<p><a href="{{ leads_flow_alert.report_url | e }}">Run report</a>
{% if leads_flow_alert.log_url %} · <a href="{{ leads_flow_alert.log_url | e }}">Task log</a>{% endif %}</p>"""


FRESHNESS_SUBJECT = "[leads-flow] partition {{ leads_flow_alert.partition.start[:10] }} not published by the deadline"
FRESHNESS_HTML = """<p>{{ leads_flow_alert.text | e }}</p>
<p><a href="{{ leads_flow_alert.report_url | e }}">Run report</a></p>"""


def email_notifier(to: str, subject: str = EMAIL_SUBJECT, html: str = EMAIL_HTML) -> BaseNotifier:
    """The SMTP provider's notifier with a template that reads only the (masked) message from the context."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    kw: dict[str, Any] = {}
    if conn_id := env_text(SMTP_CONN_ENV):
        kw["smtp_conn_id"] = conn_id
    return SmtpNotifier(
        to=[a.strip() for a in to.split(",") if a.strip()],
        from_email=env_text(EMAIL_FROM_ENV),
        subject=subject,
        html_content=html,
        **kw,
    )


def notifiers(subject: str = EMAIL_SUBJECT, html: str = EMAIL_HTML) -> list[BaseNotifier]:
    """The configured channels: the webhook notifier always (it logs when unset), SMTP when configured."""
    out: list[BaseNotifier] = [LeadsFlowWebhookNotifier()]
    if to := _setting(EMAIL_VARIABLE, EMAIL_ENV):
        out.append(email_notifier(to, subject, html))
    return out


def send_alert(
    message: dict[str, Any],
    context: dict[str, Any] | None = None,
    *,
    subject: str = EMAIL_SUBJECT,
    html: str = EMAIL_HTML,
) -> None:
    """Send ``message`` (masked once more here) through every configured channel; one broken channel does not
    silence the others, and none raises (the caller's own outcome matters more than its alert)."""
    message = redact_all(message)
    context = context if context is not None else {}
    context["leads_flow_alert"] = message  # the SMTP templates read it from here
    for notifier in notifiers(subject, html):
        try:
            if isinstance(notifier, LeadsFlowWebhookNotifier):
                notifier.message = message
            notifier(context)
        except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the others
            log.warning("leads-flow alert via %s failed: %s", type(notifier).__name__, reason_of(exc, 300))


def on_failure(context: Any, *, flow_conn_id: str = FLOW_CONN_ID) -> None:
    """Task failure callback of leads_flow_sync: record the reason, then notify every configured channel."""
    failure = failure_of(context)
    try:
        if record_failure(failure, flow_conn_id):
            log.info("recorded the failure of %s in leads_flow_run", failure.etl_run_id)
        else:
            log.info("failure of %s not recorded in leads_flow_run: no partition", failure.task_id)
    except Exception as exc:  # noqa: BLE001 - the alert matters more than the audit row
        log.warning("could not record the failure in leads_flow_run: %s", reason_of(exc, 300))
    send_alert(message_of(failure), context)

"""Failure alerts of every leads-flow DAG: record why a task failed in leads_flow_run, then tell people.

Wire :func:`on_failure` as a DAG's task failure callback (it runs in the worker once the last try has failed)::

    default_args={"owner": "data-engineering", "on_failure_callback": on_failure}

It does two things, each allowed to fail without hiding the other:

1. **Record** (:mod:`leads_flow.tasks.failure`). The partition's row in ``leads_flow_run`` gets status
   ``failed`` (a ``gate_failed`` row keeps its status) and the reason in ``error``, unless the pipeline already
   wrote its own error there. A partition that died before the pipeline opened its row gets a new ``failed``
   row, so the run report shows it too.
2. **Notify** through Airflow's notifier mechanism: :class:`~leads_flow.tasks.webhook.LeadsFlowWebhookNotifier`
   (env ``LEADS_FLOW_ALERT_WEBHOOK``, the connection ``leads_flow_alert_webhook``'s password, or the deprecated
   Variable of that name; unset: one log line) and the
   SMTP provider's ``SmtpNotifier`` to the addresses in ``leads_flow_alert_email`` / ``LEADS_FLOW_ALERT_EMAIL``
   through ``LEADS_FLOW_ALERT_SMTP_CONN_ID`` (default ``smtp_default``), with the templates of
   :mod:`leads_flow.tasks.messages`.

**Never a phone number:** the reason is the task's exception masked by :func:`leads_flow.rules.redact.reason_of`,
and the whole message passes the same mask once more before it leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from leads_flow.config import EMAIL_ENV, EMAIL_FROM_ENV, EMAIL_VARIABLE, SMTP_CONN_ENV, alert_setting, env_text
from leads_flow.names import FLOW_CONN_ID
from leads_flow.rules.redact import reason_of, redact_all
from leads_flow.tasks.failure import failure_of, message_of, record_failure
from leads_flow.tasks.messages import EMAIL_HTML, EMAIL_SUBJECT
from leads_flow.tasks.webhook import LeadsFlowWebhookNotifier

log = logging.getLogger(__name__)


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
    if to := alert_setting(EMAIL_VARIABLE, EMAIL_ENV):
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

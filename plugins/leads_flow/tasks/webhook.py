"""The webhook transport of alerts: the URL is a secret (it often carries a token), masked before anything else
happens, https only, certificate and host verified, redirects refused."""

from __future__ import annotations

import json
import logging
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseNotifier

from leads_flow.config import WEBHOOK_CA_ENV, WEBHOOK_CONN_ID, WEBHOOK_ENV, alert_webhook_url, env_text
from leads_flow.io.masking import mask_secret
from leads_flow.rules.redact import redact
from leads_flow.tasks.failure import failure_of, message_of

log = logging.getLogger(__name__)


class WebhookUrlError(ValueError):
    """The configured webhook URL is refused; the message never contains the URL."""


_TOKENISH = re.compile(r"[^/?&=#;:@]{16,}")  # a path segment or query value long enough to be a token


def mask_webhook_url(url: str) -> None:
    """Register the URL (and any token-like part of it) with Airflow's secrets masker.

    In a task this masks it in the task's and the supervisor's log output (``airflow.sdk.log.mask_secret``);
    elsewhere in this process's loggers that use the SDK masker.
    """
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

    ``url`` defaults to :func:`leads_flow.config.alert_webhook_url`: env ``LEADS_FLOW_ALERT_WEBHOOK``, else the
    password of the connection ``leads_flow_alert_webhook``, else the deprecated Variable of that name (with a
    warning); without one the notifier only logs that nothing was sent. The message comes from ``message`` or is
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
        url = self.url or alert_webhook_url()
        if not url:
            log.info(
                "leads-flow alert not sent: no webhook configured (connection %s or env %s): %s",
                WEBHOOK_CONN_ID,
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

"""Text that leaves the process (errors, alerts, audit rows, logs) with every phone number masked.

Mobiles are found by the one definition in :mod:`leads_flow.rules.phone` and replaced by their mask; any
other run of 11 or more digits is masked too, since an error message may hold a number in any shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leads_flow.rules.phone import mask_phones_in_text

MAX_ERROR_CHARS = 2000  # the width kept of leads_flow_run.error

_LONG_DIGITS = re.compile(r"\d{11,}")  # \d: ASCII and full-width digits alike


def redact(text: Any) -> str:
    """``text`` as a string with phone numbers masked: mobiles by their mask, any other 11+ digit run too."""
    masked = mask_phones_in_text(str(text))
    return _LONG_DIGITS.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 7) + m.group()[-4:], masked)


def redact_all(value: Any) -> Any:
    """:func:`redact` every string inside a JSON-able value (dict keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_all(k): redact_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v) for v in value]
    return value


def reason_of(exc: Any, limit: int = MAX_ERROR_CHARS) -> str:
    """A one-line reason from an exception: ``Type: message``, masked, then truncated."""
    if exc is None:
        text = "task failed without an exception in its context (killed, timed out or marked failed)"
    elif isinstance(exc, BaseException):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = str(exc)
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

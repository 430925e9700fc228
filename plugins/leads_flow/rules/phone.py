"""Phone normalisation (E.164, default region CN) and masking.

The E.164 string is what gets encrypted and blind-indexed, so the Java services
and this pipeline must agree on it byte for byte: ``phonenumbers`` (the Python
port of libphonenumber) is the reference, and the fast path below is only a
shortcut that is property-tested to give the same answer on every input it accepts.
Error messages never echo the input: it is personal data.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

__all__ = [
    "InvalidPhone",
    "PhoneError",
    "contains_mobile",
    "find_mobiles",
    "mask",
    "mask_phones_in_text",
    "normalize",
    "normalize_reference",
]

DEFAULT_REGION = "CN"


class PhoneError(ValueError):
    """Base error of this module; its message never contains the phone."""


class InvalidPhone(PhoneError):
    """The input is not a valid phone number (empty, unparseable or not valid)."""

    reason: str = "phone_invalid"


# --- fast path -----------------------------------------------------------------
# Mirrors phonenumbers' own limit: longer inputs are rejected by parse().
_MAX_INPUT_LEN = 250
# Separators removed, full-width digits and plus folded to ASCII; any other
# character survives and makes the fast path decline (the reference decides).
_FOLD = {ord(c): None for c in " -()\u3000\uff0d\uff08\uff09"}
_FOLD.update({0xFF10 + i: 0x30 + i for i in range(10)})
_FOLD[0xFF0B] = ord("+")
# Taken from the installed metadata so a phonenumbers upgrade moves both paths together.
_CN_MOBILE = re.compile(
    phonenumbers.PhoneMetadata.metadata_for_region(DEFAULT_REGION).mobile.national_number_pattern,
    re.ASCII,
)


def _fast_path(raw: str) -> str | None:
    """E.164 for common mainland-mobile shapes, or None to defer to phonenumbers."""
    if len(raw) > _MAX_INPUT_LEN:
        return None
    d = raw.translate(_FOLD).strip()
    n = len(d)
    if n == 11:
        nsn = d
    elif n == 14 and d[:3] == "+86":
        nsn = d[3:]
    elif n == 12 and d[0] == "0":  # national (trunk) prefix
        nsn = d[1:]
    elif n == 13 and d[:2] == "86":
        nsn = d[2:]
    elif n == 15 and d[:4] == "0086":
        nsn = d[4:]
    else:
        return None
    # re.ASCII + fullmatch: nsn is exactly 11 ASCII digits in a CN mobile range.
    return "+86" + nsn if _CN_MOBILE.fullmatch(nsn) else None


def normalize_reference(raw: str | None) -> str:
    """E.164 via phonenumbers only (region CN); the definition the fast path must match."""
    if raw is None:
        raise InvalidPhone("phone is empty")
    if not isinstance(raw, str):
        raise TypeError(f"phone must be str or None, not {type(raw).__name__}")
    if not raw.strip():
        raise InvalidPhone("phone is empty")
    try:
        num = phonenumbers.parse(raw, DEFAULT_REGION)
    except NumberParseException:
        raise InvalidPhone("phone could not be parsed") from None
    if not phonenumbers.is_valid_number(num):
        raise InvalidPhone("phone is not a valid number")
    return phonenumbers.format_number(num, PhoneNumberFormat.E164)


def normalize(raw: str | None) -> str:
    """E.164 of a raw phone; raises InvalidPhone. Fast for mainland mobiles."""
    if raw.__class__ is str:
        fast = _fast_path(raw)
        if fast is not None:
            return fast
    return normalize_reference(raw)


# --- masking -------------------------------------------------------------------
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def _mask_nsn(nsn: str) -> str:
    """Mask a national number, always hiding at least four digits."""
    n = len(nsn)
    if n >= 11:
        return nsn[:3] + "****" + nsn[-4:]
    if n >= 8:
        return nsn[:2] + "****" + nsn[-2:]
    return "****" + (nsn[-2:] if n >= 6 else "")


def mask(e164: str) -> str:
    """Display form, e.g. ``138****8000``: first 3 and last 4 national digits."""
    if not isinstance(e164, str) or not _E164.fullmatch(e164):
        raise InvalidPhone("mask() expects an E.164 string from normalize()")
    return mask_valid_e164(e164)


def mask_valid_e164(e164: str) -> str:
    """mask() for an already validated E.164 string (saves the re-check in protect())."""
    if len(e164) == 14 and e164.startswith("+861"):
        return e164[3:6] + "****" + e164[-4:]
    try:
        num = phonenumbers.parse(e164, None)
    except NumberParseException:
        raise InvalidPhone("mask() expects an E.164 string from normalize()") from None
    return _mask_nsn(phonenumbers.national_significant_number(num))


# --- phones inside text ---------------------------------------------------------
# The definition is written down in docs/phone-protection.md ("A phone inside text"). The gate checks the
# staged rows against it again with a second, independent implementation in SQL
# (include/sql/gate/gate_audit.sql): nothing here is shared with it, so one blind spot cannot pass both.

# Separators between digit groups (also percent-encoded in URLs: %20 %2D %5F %2E %2F %28 %29 %2B).
_SEPARATORS = (
    " \t\n\r\u00a0\u3000-_./()+\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\uff3f\uff0e\uff0f\uff08\uff09\uff0b"
)
_DOTS = frozenset((".", "\uff0e", "%2E", "%2e"))
# A digit: any Unicode decimal digit that is not one of the two hex digits of a percent escape, or a
# percent-encoded ASCII or full-width digit.
# An ASCII digit that is one of the two hex digits of a percent escape is no digit; a non-ASCII decimal digit
# (full width, …) never belongs to an escape, so it always is one ("%0１３…" holds "0" and "１３…").
_DIGIT = r"(?:(?!(?<=%)[0-9][0-9A-Fa-f])(?:(?<!%[0-9A-Fa-f])[0-9]|(?![0-9])\d)|%3[0-9]|%[Ee][Ff]%[Bb][Cc]%9[0-9])"
_SEP = "(?:[" + re.escape(_SEPARATORS) + "]|%(?:2[0DdEeFf89Bb]|5[Ff]))"
_CHAIN = re.compile(f"{_DIGIT}+(?:{_SEP}+{_DIGIT}+)*")
# Stretches of digits, separators and percent escapes at least 11 long, from a digit or '%' to a digit: a
# cheap superset of where a chain of 11+ digits can be (most user agents and URLs hold none), so the exact
# scan runs on little text. ASCII text (nearly all of it) gets a plain character class, several times faster.
_ROUGH_ASCII = re.compile(r"[0-9%][-0-9 \t\n\r_./()+%A-Fa-f]{9,}[0-9]")
_ROUGH = re.compile("[\\d%][\\d" + re.escape(_SEPARATORS) + "%A-Fa-f]{9,}\\d")
_GROUP = re.compile(f"{_DIGIT}+")
_DIGIT_TOKEN = re.compile(_DIGIT)
_PREFIXES = {11: "", 12: "0", 13: "86", 15: "0086"}
_PLUS_BEFORE = ("+", "\uff0b", "%2B", "%2b")


def _digits_of(token_run: str) -> str:
    if token_run.isascii() and token_run.isdigit():
        return token_run
    return "".join(t[-1] if t[0] == "%" else str(int(t)) for t in _DIGIT_TOKEN.findall(token_run))


def _is_octet(d: str) -> bool:
    return len(d) <= 3 and (d == "0" or d[0] != "0") and int(d) <= 255


def _ipv4_free_runs(text: str, spans: list[tuple[int, int]], digits: list[str]) -> list[range]:
    """Index ranges of the chain's groups left when every dotted-quad IPv4 address (never a phone) is cut out."""
    n = len(digits)
    dot = [text[spans[k][1] : spans[k + 1][0]] in _DOTS for k in range(n - 1)] + [False]
    runs, first, i = [], 0, 0
    while i + 3 < n:
        if (
            dot[i]
            and dot[i + 1]
            and dot[i + 2]
            and not dot[i + 3]
            and not (i and dot[i - 1])
            and all(_is_octet(d) for d in digits[i : i + 4])
        ):
            runs.append(range(first, i))
            first = i = i + 4
        else:
            i += 1
    runs.append(range(first, n))
    return [r for r in runs if r]


def _mobile_at(digits: list[str], i: int, stop: int) -> tuple[int, str, str] | None:
    """The longest mobile made of groups ``i``..: (index of its last group, prefix, national number)."""
    best = None
    joined = ""
    for j in range(i, stop):
        joined += digits[j]
        n = len(joined)
        if n > 15:
            break
        prefix = _PREFIXES.get(n)
        if prefix is None or not joined.startswith(prefix):
            continue
        nsn = joined[len(prefix) :]
        if nsn[0] == "1" and nsn[1] >= "3" and (j == i or _grouped_like_a_phone(digits[i : j + 1], len(prefix))):
            best = (j, prefix, nsn)
    return best


def _grouped_like_a_phone(groups: list[str], prefix_len: int) -> bool:
    """Separators between national digits: only between groups of 2+ digits, or between every digit."""
    seen, runs_ok, ones_ok = 0, True, True
    for k, g in enumerate(groups):
        before = seen
        seen += len(g)
        if seen - max(before, prefix_len) > 1:  # more than one national digit in this group
            ones_ok = False
        if k + 1 < len(groups) and seen > prefix_len and (len(g) < 2 or len(groups[k + 1]) < 2):
            runs_ok = False  # a separator between national digits next to a one-digit group
    return runs_ok or ones_ok


def find_mobiles(text: str) -> list[tuple[int, int, str]]:
    """Every mainland mobile inside ``text``: (start, end, national number), spans in ``text``."""
    found: list[tuple[int, int, str]] = []
    if not text or len(text) < 11:
        return found
    rough = _ROUGH_ASCII if text.isascii() else _ROUGH
    for r in rough.finditer(text):
        # endpos + 2: a last digit that opens a percent escape must still see the escape's second hex digit
        for chain in _CHAIN.finditer(text, r.start(), r.end() + 2):
            start, end = chain.span()
            if end - start < 11:
                continue
            digits = [_digits_of(g) for g in _GROUP.findall(text, start, end)]
            if sum(map(len, digits)) < 11:
                continue
            spans = [m.span() for m in _GROUP.finditer(text, start, end)]
            for run in _ipv4_free_runs(text, spans, digits):
                i = run.start
                while i < run.stop:
                    hit = _mobile_at(digits, i, run.stop)
                    if hit is None:
                        i += 1
                        continue
                    j, prefix, nsn = hit
                    a = spans[i][0]
                    if prefix:
                        a -= next((len(p) for p in _PLUS_BEFORE if text.endswith(p, 0, a)), 0)
                    found.append((a, spans[j][1], nsn))
                    i = j + 1
    return found


def contains_mobile(text: str) -> bool:
    """Whether ``text`` holds a mainland mobile in any spelling the definition covers."""
    return bool(find_mobiles(text))


def mask_phones_in_text(text: str) -> str:
    """``text`` with every mainland mobile inside it (prefix included) replaced by its mask, the rest kept."""
    hits = find_mobiles(text)
    if not hits:
        return text
    out, last = [], 0
    for start, end, nsn in hits:
        out += (text[last:start], _mask_nsn(nsn))
        last = end
    out.append(text[last:])
    return "".join(out)

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
    return _mask_e164(e164)


def _mask_e164(e164: str) -> str:
    """mask() for an already validated E.164 string (saves the re-check in protect())."""
    if len(e164) == 14 and e164.startswith("+861"):
        return e164[3:6] + "****" + e164[-4:]
    try:
        num = phonenumbers.parse(e164, None)
    except NumberParseException:
        raise InvalidPhone("mask() expects an E.164 string from normalize()") from None
    return _mask_nsn(phonenumbers.national_significant_number(num))


_D = "[0-9\uff10-\uff19]"
_Z = "[0\uff10]"
_SEP = "(?:[ .+()\\-\u3000\uff0d\uff08\uff09]|%20)?"
_EMBEDDED_MOBILE = re.compile(
    "(?<![0-9])"
    f"(?:(?:(?:[+\uff0b]|%2[bB]){_SEP})?(?:{_Z}{_SEP}{_Z}{_SEP})?[8\uff18]{_SEP}[6\uff16]{_SEP}|{_Z}{_SEP})?"
    f"([1\uff11]{_SEP}[3-9\uff13-\uff19](?:{_SEP}{_D}){{9}})"
    "(?![0-9])"
)
# The core of _EMBEDDED_MOBILE without its look-behind and prefixes: no match here means no mobile in
# the text, found several times faster (most landing-page URLs and user agents hold none).
_MOBILE_CORE = re.compile(f"[1\uff11]{_SEP}[3-9\uff13-\uff19](?:{_SEP}{_D}){{9}}")
_DIGITS_ONLY = re.compile(r"[^0-9]")


def _mask_match(m: re.Match[str]) -> str:
    digits = _DIGITS_ONLY.sub("", m.group(1).replace("%20", "").translate(_FOLD))
    return _mask_nsn(digits)


def mask_phones_in_text(text: str) -> str:
    """Replace every mainland-mobile-looking number in free text (URLs...) by its mask.

    Deliberately broader than validation: anything shaped like a mobile
    (optionally +86/0086/86/0 prefixed, separators allowed) is masked.
    """
    if not text or _MOBILE_CORE.search(text) is None:
        return text
    return _EMBEDDED_MOBILE.sub(_mask_match, text)

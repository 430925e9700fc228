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
#
# The text is read as a person reads it: every character (or percent-encoded UTF-8 character) becomes one token
# of a folded view, ``0``-``9`` a figure (any decimal digit), ``a``-``j`` a Chinese numeral, ``k``/``l`` the
# spoken 幺/两, ``A``-``J`` another digit sign (circled, parenthesised, superscript…), `` `` a separator, ``.``
# a dot, ``#`` anything else; invisible characters give no token at all. The mobile search runs on that view.

# Separators between digit groups: ASCII, the dashes and full-width forms, every Unicode space separator (Zs) and
# the middle dots of Chinese typing; also percent-encoded (%20 %2D %5F %2E %2F %28 %29 %2B, and the UTF-8 escapes).
_SEPARATORS = (
    " \t\n\r-_./()+\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\uff3f\uff0e\uff0f\uff08\uff09\uff0b"
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
    "\u00b7\u2022\u2027\u30fb\uff65"
)
_DOT_SEPARATORS = ".\uff0e"  # dots that can join the octets of an IPv4 address
# Invisible characters, ignored wherever they stand: every format character (Cf, Unicode 14), the variation
# selectors and the combining keycap (the parts of 1️⃣ after its digit).
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xFE00, 0xFE0F), (0x20E3, 0x20E3),
)  # fmt: skip
_CHINESE_NUMERALS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SPOKEN = {"幺": "k", "两": "l"}  # 1 and 2, only in a national number spelled wholly in Chinese numerals
# Digit signs that are no decimal digits (Unicode No with a digit value): (first, last, value of the first).
_DIGIT_SIGN_RANGES = (
    (0xB2, 0xB3, 2), (0xB9, 0xB9, 1), (0x1369, 0x1371, 1), (0x19DA, 0x19DA, 1), (0x2070, 0x2070, 0),
    (0x2074, 0x2079, 4), (0x2080, 0x2089, 0), (0x2460, 0x2468, 1), (0x2474, 0x247C, 1), (0x2488, 0x2490, 1),
    (0x24EA, 0x24EA, 0), (0x24F5, 0x24FD, 1), (0x24FF, 0x24FF, 0), (0x2776, 0x277E, 1), (0x2780, 0x2788, 1),
    (0x278A, 0x2792, 1), (0x10A40, 0x10A43, 1), (0x10E60, 0x10E68, 1), (0x11052, 0x1105A, 1), (0x1F100, 0x1F100, 0),
    (0x1F101, 0x1F10A, 0),
)  # fmt: skip


def _token_table() -> dict[str, str]:
    table = {chr(c): "#" for c in range(128)}
    table.update({d: d for d in "0123456789"})
    for c in _SEPARATORS:
        table[c] = "." if c in _DOT_SEPARATORS else " "
    for a, b in _INVISIBLE_RANGES:
        table.update({chr(c): "" for c in range(a, b + 1)})
    table.update({c: "abcdefghij"[v] for c, v in _CHINESE_NUMERALS.items()})
    table.update(_SPOKEN)
    for a, b, v in _DIGIT_SIGN_RANGES:
        table.update({chr(c): "ABCDEFGHIJ"[v + c - a] for c in range(a, b + 1)})
    return table


_TOKEN = _token_table()
_ASCII_FOLD = str.maketrans({c: t for c, t in _TOKEN.items() if c.isascii()})
_ASCII_ESCAPES = {0x30 + d: str(d) for d in range(10)} | {ord(c): " " for c in " -_/()+"} | {ord("."): "."}
_HEX = frozenset("0123456789ABCDEFabcdef")
_VALUE = str.maketrans("abcdefghijklABCDEFGHIJ", "0123456789120123456789")


def _class(chars: str) -> str:
    return "".join(re.escape(c) for c in sorted(set(chars)))


_EXTRA = _class(
    _SEPARATORS
    + "".join(_CHINESE_NUMERALS)
    + "".join(_SPOKEN)
    + "".join(chr(c) for a, b, _v in _DIGIT_SIGN_RANGES for c in range(a, b + 1))
) + "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b in _INVISIBLE_RANGES)
_DIGITISH = (
    "\\d"
    + _class("".join(_CHINESE_NUMERALS) + "".join(_SPOKEN))
    + "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b, _v in _DIGIT_SIGN_RANGES)
)
# Stretches that can hold 11 digits: from a digit (or the '%' of an escape) to a digit (or an escape's last hex
# digit), 11+ characters of digits, separators, escapes and invisibles. A cheap superset (most user agents and URLs
# hold none), so the folding runs on little text; ASCII text (nearly all of it) gets a short character class.
_ROUGH_ASCII = re.compile(r"[0-9][-0-9 \t\n\r_./()+]{9,}[0-9]")
_ROUGH_ASCII_PCT = re.compile(r"[0-9%][-0-9 \t\n\r_./()+%A-Fa-f]{9,}[0-9A-Fa-f]")
_ROUGH = re.compile(f"[{_DIGITISH}%][{_DIGITISH}{_EXTRA}%A-Fa-f]{{9,}}[{_DIGITISH}A-Fa-f]")
_V_CHAIN = re.compile(r"[0-9a-lA-J]+(?:[ .]+[0-9a-lA-J]+)*")
_V_GROUP = re.compile(r"[0-9]+|[a-l]+|[A-J]+")  # a run of one kind: figures, Chinese numerals, digit signs
_PREFIXES = {11: "", 12: "0", 13: "86", 15: "0086"}
_PLUS_BEFORE = ("+", "\uff0b", "%2B", "%2b")
_KEYCAP_TAIL = "\ufe0e\ufe0f\u20e3"  # belongs to the digit before it: masked with it


def _token(c: str) -> str:
    t = _TOKEN.get(c)
    if t is not None:
        return t
    return str(int(c)) if c.isdecimal() else "#"


def _escape(text: str, i: int, end: int) -> tuple[str, int]:
    """The token of the percent escape at ``text[i]`` and its length; ('#', 1) for a '%' that starts none."""
    if i + 2 >= end or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
        return "#", 1
    byte = int(text[i + 1 : i + 3], 16)
    if byte < 0x80:
        return _ASCII_ESCAPES.get(byte, "#"), 3
    need = 1 if 0xC2 <= byte <= 0xDF else 2 if 0xE0 <= byte <= 0xEF else 3 if 0xF0 <= byte <= 0xF4 else 0
    raw = [byte]
    k = i + 3
    for _ in range(need):
        if k + 2 >= end or text[k] != "%" or text[k + 1] not in _HEX or text[k + 2] not in _HEX:
            return "#", 3
        raw.append(int(text[k + 1 : k + 3], 16))
        k += 3
    try:
        char = bytes(raw).decode("utf-8") if need else ""
    except UnicodeDecodeError:
        char = ""
    return (_token(char), k - i) if char else ("#", 3)


def _fold(text: str, a: int, b: int) -> tuple[str, list[int], list[int]]:
    """The folded view of ``text[a:b]`` and where each token starts and ends in ``text``."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = a
    while i < b:
        c = text[i]
        if c == "%":
            t, n = _escape(text, i, len(text))
        else:
            t, n = _token(c), 1
        if t:
            out.append(t)
            starts.append(i)
            ends.append(i + n)
        i += n
    return "".join(out), starts, ends


def _is_octet(d: str) -> bool:
    return len(d) <= 3 and (d == "0" or d[0] != "0") and int(d) <= 255


def _ipv4_free_runs(raw: list[str], digits: list[str], gaps: list[str]) -> list[range]:
    """Index ranges of the chain's groups left when every dotted-quad IPv4 address (never a phone) is cut out."""
    n = len(digits)
    dot = [g == "." for g in gaps] + [False]
    runs, first, i = [], 0, 0
    while i + 3 < n:
        if (
            dot[i]
            and dot[i + 1]
            and dot[i + 2]
            and not dot[i + 3]
            and not (i and dot[i - 1])
            and all(r[0] <= "9" and _is_octet(d) for r, d in zip(raw[i : i + 4], digits[i : i + 4], strict=True))
        ):
            runs.append(range(first, i))
            first = i = i + 4
        else:
            i += 1
    runs.append(range(first, n))
    return [r for r in runs if r]


def _mobile_at(raw: list[str], digits: list[str], gaps: list[str], run: range, i: int) -> tuple[int, str, str] | None:
    """The longest mobile made of groups ``i``.. of ``run``: (index of its last group, prefix, national number)."""
    start, stop = run.start, run.stop
    best = None
    joined = ""
    glued = [0, 0]  # digits glued before group i (a run of another kind) and after the group being tried
    k = i
    while k > start and not gaps[k - 1]:
        k -= 1
        glued[0] += len(digits[k])
    for j in range(i, stop):
        glued[1] = 0
        k = j
        while k + 1 < stop and not gaps[k]:
            k += 1
            glued[1] += len(digits[k])
        joined += digits[j]
        n = len(joined)
        if n > 15:
            break
        prefix = _PREFIXES.get(n)
        if prefix is None or not joined.startswith(prefix):
            continue
        nsn = joined[len(prefix) :]
        if nsn[0] != "1" or nsn[1] < "3":
            continue
        if j > i and not _grouped_like_a_phone(_merge_glued(digits, gaps, i, j), len(prefix), glued[0], glued[1]):
            continue
        spelled = "".join(raw[i : j + 1])[len(prefix) :]
        if ("k" in spelled or "l" in spelled) and not all("a" <= c <= "l" for c in spelled):
            continue  # 幺/两 read as digits only in a number spelled wholly in Chinese numerals
        best = (j, prefix, nsn)
    return best


def _merge_glued(digits: list[str], gaps: list[str], i: int, j: int) -> list[str]:
    """Groups i..j as written: runs of different kinds glued together (一3, ①3) are one group."""
    merged = [digits[i]]
    for k in range(i + 1, j + 1):
        if gaps[k - 1]:
            merged.append(digits[k])
        else:
            merged[-1] += digits[k]
    return merged


def _grouped_like_a_phone(groups: list[str], prefix_len: int, glued_before: int = 0, glued_after: int = 0) -> bool:
    """Separators between national digits: only between groups of 2+ digits, or between every digit.

    A group's length is as written: the first and last group count the digits of another kind glued to them
    outside the mobile (两1 38… has a first group of two)."""
    seen, runs_ok, ones_ok = 0, True, True
    last = len(groups) - 1
    lengths = [
        len(g) + (glued_before if k == 0 else 0) + (glued_after if k == last else 0) for k, g in enumerate(groups)
    ]
    for k, g in enumerate(groups):
        before = seen
        seen += len(g)
        if seen - max(before, prefix_len) > 1:  # more than one national digit in this group
            ones_ok = False
        if k < last and seen > prefix_len and (lengths[k] < 2 or lengths[k + 1] < 2):
            runs_ok = False  # a separator between national digits next to a one-digit group
    return runs_ok or ones_ok


def _rough(text: str) -> re.Pattern[str]:
    if text.isascii():
        return _ROUGH_ASCII_PCT if "%" in text else _ROUGH_ASCII
    return _ROUGH


def find_mobiles(text: str) -> list[tuple[int, int, str]]:
    """Every mainland mobile inside ``text``: (start, end, national number), spans in ``text``."""
    found: list[tuple[int, int, str]] = []
    if not text or len(text) < 11:
        return found
    for r in _rough(text).finditer(text):
        a, b = r.span()
        chunk = text[a:b]
        if chunk.isascii() and "%" not in chunk:
            view, starts, ends = chunk.translate(_ASCII_FOLD), range(a, b), range(a + 1, b + 1)
        else:
            view, starts, ends = _fold(text, a, b)
        for chain in _V_CHAIN.finditer(view):
            cs, ce = chain.span()
            if ce - cs < 11:
                continue
            groups = list(_V_GROUP.finditer(view, cs, ce))
            raw = [g.group() for g in groups]
            digits = [g.translate(_VALUE) for g in raw]
            if sum(map(len, digits)) < 11:
                continue
            gaps = [view[groups[k].end() : groups[k + 1].start()] for k in range(len(groups) - 1)]
            for run in _ipv4_free_runs(raw, digits, gaps):
                i = run.start
                while i < run.stop:
                    hit = _mobile_at(raw, digits, gaps, run, i)
                    if hit is None:
                        i += 1
                        continue
                    j, prefix, nsn = hit
                    start, end = starts[groups[i].start()], ends[groups[j].end() - 1]
                    if prefix:
                        start -= next((len(p) for p in _PLUS_BEFORE if text.endswith(p, 0, start)), 0)
                    while end < len(text) and text[end] in _KEYCAP_TAIL:
                        end += 1
                    found.append((start, end, nsn))
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

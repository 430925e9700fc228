"""The fingerprint ``content_hash`` of a mapped row: a documented, language-neutral byte encoding hashed with
SHA-256 (docs/interfaces.md, "Fingerprint"; the Java reference module in java/ implements the same)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from leads_flow.rules.fields import MAPPED_COLUMNS, STAGE_COLUMNS

# The fingerprint skips lead_id and the cipher (its nonce differs per call) but keeps the blind index
# and its kid, which stand for the phone deterministically; phone_masked follows from the phone.
_HASHED_PHONE = slice(2, 4)


_HASHED_REST = slice(5, 1 + len(MAPPED_COLUMNS))


FINGERPRINT_COLUMNS: tuple[str, ...] = STAGE_COLUMNS[_HASHED_PHONE] + STAGE_COLUMNS[_HASHED_REST]
"""The columns of the fingerprint, in the order they are encoded (docs/interfaces.md, "Fingerprint")."""


FINGERPRINT_VERSION = 2
"""2: SHA-256 over the canonical encoding below. 1 (before): blake2b over Python's repr() of the values."""


# Canonical encoding (language-neutral; the Java reference module in java/ implements the same):
#   NULL -> 00 | integer -> 01 + 8-byte big-endian two's complement | string -> 02 + 4-byte big-endian
#   length of its UTF-8 bytes + the bytes | datetime (naive) -> 03 + 26 ASCII bytes "YYYY-MM-DD HH:MM:SS.ffffff"
_NULL = b"\x00"


_INT = struct.Struct(">Bq").pack


_STR = struct.Struct(">BI").pack


_DT = b"\x03"


_FIRST8 = struct.Struct(">q").unpack_from


_sha256 = hashlib.sha256


# Precomputed headers of the common cases (string lengths, flags and small ids): the hot path is one lookup.
_STR_HEADERS = [_STR(2, n) for n in range(4096)]


_SMALL_INTS = {n: _INT(1, n) for n in range(-1, 1024)}


def _encode_other(v: Any) -> bytes:
    """The rare cases: bool and int subclasses as integers, long strings, datetime subclasses."""
    if isinstance(v, int):
        return _INT(1, int(v))
    if isinstance(v, str):
        b = str(v).encode()
        return _STR(2, len(b)) + b
    if isinstance(v, datetime) and v.tzinfo is None:
        return _DT + datetime.isoformat(v, " ", "microseconds").encode()
    raise TypeError(f"no canonical encoding for a {type(v).__name__} in the fingerprint")


def fingerprint_payload(values: Sequence[Any]) -> bytes:
    """The canonical bytes of :data:`FINGERPRINT_COLUMNS` taken from a mapped row (lead_id first)."""
    parts: list[bytes] = []
    add = parts.append
    for v in values[_HASHED_PHONE] + values[_HASHED_REST]:
        c = v.__class__
        if c is str:
            b = v.encode()
            n = len(b)
            add(_STR_HEADERS[n] if n < 4096 else _STR(2, n))
            add(b)
        elif v is None:
            add(_NULL)
        elif c is int:
            add(_SMALL_INTS.get(v) or _INT(1, v))
        elif c is datetime and v.tzinfo is None:
            add(_DT)
            add(v.isoformat(" ", "microseconds").encode())
        else:
            add(_encode_other(v))
    return b"".join(parts)


def content_hash(values: Sequence[Any]) -> int:
    """Fingerprint of a mapped row (without the random cipher): the first 8 bytes of SHA-256 over the canonical
    encoding, a signed big-endian 64-bit integer. SHA-256 because both Python's and Java's standard libraries
    have it (Java has no BLAKE2)."""
    return _FIRST8(_sha256(fingerprint_payload(values)).digest())[0]

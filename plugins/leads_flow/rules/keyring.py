"""The keyring: root keys by kid for encryption and for the blind index (two independent rings), parsed from the
``leads_pii`` (and ``leads_pii_bidx``) connection extra's JSON contract, with each key's check value. Nothing here
puts key material into an exception message."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from leads_flow.errors import Permanent

KEY_LEN = 32
KID_PATTERN = re.compile(r"[0-9a-z]{1,8}", re.ASCII)
"""A key id: 1 to 8 lower-case letters or digits (the e1 format)."""


KCV_INFO = b"leads-pii/v1/kcv/"
"""Key check values: HMAC-SHA256(root key, KCV_INFO + ring name), first 8 bytes in hex (docs/phone-protection.md
§12). They identify a key without revealing it, so the flow database can hold them."""


_B64STD = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)


_B64URL_PAD = re.compile(r"[A-Za-z0-9_-]+={0,2}", re.ASCII)


class KeyringError(Permanent, ValueError):
    """The keyring configuration is missing or malformed (message names the field, never the key)."""


def _check_ring(name: str, keys: Mapping[str, bytes], active: str) -> None:
    if not isinstance(keys, Mapping) or not keys:
        raise KeyringError(f"{name}_keys must be a non-empty mapping of kid to key")
    for kid, key in keys.items():
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise KeyringError(f"a kid in {name}_keys does not match [0-9a-z]{{1,8}}")
        if not isinstance(key, bytes) or len(key) != KEY_LEN:
            raise KeyringError(f"{name}_keys[{kid!r}] must be exactly {KEY_LEN} bytes")
    if not isinstance(active, str) or not KID_PATTERN.fullmatch(active):
        raise KeyringError(f"active_{name}_kid must be a string matching [0-9a-z]{{1,8}}")
    if active not in keys:
        raise KeyringError(f"active_{name}_kid {active!r} is not a kid in {name}_keys")


@dataclass(frozen=True, eq=False, repr=False)
class Keyring:
    """Root keys by kid for encryption and for the blind index (two independent rings)."""

    enc_keys: Mapping[str, bytes]
    active_enc_kid: str
    bidx_keys: Mapping[str, bytes]
    active_bidx_kid: str

    def __post_init__(self) -> None:
        _check_ring("enc", self.enc_keys, self.active_enc_kid)
        _check_ring("bidx", self.bidx_keys, self.active_bidx_kid)
        if set(self.enc_keys.values()) & set(self.bidx_keys.values()):
            raise KeyringError("enc_keys and bidx_keys must not share a key; use independent keys")
        object.__setattr__(self, "enc_keys", MappingProxyType(dict(self.enc_keys)))
        object.__setattr__(self, "bidx_keys", MappingProxyType(dict(self.bidx_keys)))

    def __repr__(self) -> str:
        return (
            f"Keyring(enc_kids={sorted(self.enc_keys)}, active_enc_kid={self.active_enc_kid!r}, "
            f"bidx_kids={sorted(self.bidx_keys)}, active_bidx_kid={self.active_bidx_kid!r})"
        )

    def check_values(self) -> dict[tuple[str, str], str]:
        """(ring, kid) → the key's check value, for both rings ("enc", "bidx")."""
        out = {}
        for ring, keys in (("enc", self.enc_keys), ("bidx", self.bidx_keys)):
            for kid, root in keys.items():
                out[ring, kid] = hmac.new(root, KCV_INFO + ring.encode(), hashlib.sha256).hexdigest()[:16]
        return out

    def active_kid(self, ring: str) -> str:
        return self.active_enc_kid if ring == "enc" else self.active_bidx_kid

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | str) -> Keyring:
        """Parse the ``leads_pii`` connection extra (dict or JSON text); raise KeyringError."""
        doc = extra_object(extra)
        enc_keys, active_enc = _parse_ring(doc, "enc")
        bidx_keys, active_bidx = _parse_ring(doc, "bidx")
        return cls(enc_keys, active_enc, bidx_keys, active_bidx)

    @classmethod
    def from_extras(cls, extra: Mapping[str, Any] | str, bidx_extra: Mapping[str, Any] | str | None) -> Keyring:
        """Keyring from the ``leads_pii`` extra plus, when it exists, the ``leads_pii_bidx`` extra.

        ``bidx_extra`` None: exactly :meth:`from_extra`. Otherwise the blind-index ring (``bidx_keys``,
        ``active_bidx_kid``) comes from ``bidx_extra`` and the encryption ring from ``extra``, and:

        - ``bidx_extra`` must not hold ``enc_keys`` / ``active_enc_kid`` (the point of the split is that the
          blind-index store never holds the encryption key);
        - ``extra`` may still hold ``bidx_keys`` / ``active_bidx_kid`` (while moving them out) only if they are
          *identical* to those of ``bidx_extra``; different ones are an error, since one of the two stores is
          stale and indexing with the wrong key silently breaks every lookup.
        """
        if bidx_extra is None:
            return cls.from_extra(extra)
        doc = extra_object(extra)
        bdoc = extra_object(bidx_extra, what="blind-index keyring extra")
        stray = [f for f in ENC_FIELDS if f in bdoc]
        if stray:
            raise KeyringError(
                f"the blind-index keyring extra must not hold {stray}; keep the encryption ring "
                "in the main keyring only"
            )
        enc_keys, active_enc = _parse_ring(doc, "enc")
        bidx_keys, active_bidx = _parse_ring(bdoc, "bidx", what="blind-index keyring extra")
        if any(f in doc for f in BIDX_FIELDS):
            old_keys, old_active = _parse_ring(doc, "bidx")
            if old_keys != bidx_keys or old_active != active_bidx:
                raise KeyringError(
                    "the main keyring extra and the blind-index keyring extra hold different "
                    "blind-index keys; remove bidx_keys and active_bidx_kid from the main one"
                )
        return cls(enc_keys, active_enc, bidx_keys, active_bidx)


ENC_FIELDS = ("enc_keys", "active_enc_kid")


BIDX_FIELDS = ("bidx_keys", "active_bidx_kid")


def extra_object(extra: object, what: str = "keyring extra") -> Mapping[str, Any]:
    if isinstance(extra, (str, bytes)):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise KeyringError(f"{what} is not valid JSON") from None
    if not isinstance(extra, Mapping):
        raise KeyringError(f"{what} must be a JSON object")
    return extra


def _parse_ring(extra: Mapping[str, Any], name: str, what: str = "keyring extra") -> tuple[dict[str, bytes], Any]:
    """(keys by kid, active kid) of ring ``name`` ("enc" or "bidx"); messages name fields, never keys."""
    field = f"{name}_keys"
    if field not in extra:
        raise KeyringError(f"{what} is missing {field!r}")
    raw = extra[field]
    if not isinstance(raw, Mapping) or not raw:
        raise KeyringError(f"{field} must be a non-empty object of kid to base64 key")
    keys = {}
    for kid, text in raw.items():
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise KeyringError(f"a kid in {field} does not match [0-9a-z]{{1,8}}")
        keys[kid] = _decode_key(text, f"{field}[{kid!r}]")
    active_field = f"active_{name}_kid"
    if active_field not in extra:
        raise KeyringError(f"{what} is missing {active_field!r}")
    return keys, extra[active_field]


def _decode_key(text: object, where: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, padding optional) of exactly 32 bytes."""
    if not isinstance(text, str):
        raise KeyringError(f"{where} must be a base64 string")
    s = text.strip()
    if _B64STD.fullmatch(s):
        alt = None
    elif _B64URL_PAD.fullmatch(s):
        alt = b"-_"
    else:
        raise KeyringError(f"{where} is not valid base64")
    s = s.rstrip("=")
    try:
        key = base64.b64decode(s + "=" * (-len(s) % 4), altchars=alt, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{where} is not valid base64") from None
    if len(key) != KEY_LEN:
        raise KeyringError(f"{where} must decode to {KEY_LEN} bytes, got {len(key)}")
    return key

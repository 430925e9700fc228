"""The e1 phone token and the blind index over a :class:`~leads_flow.rules.keyring.Keyring` (spec: docs/phone-protection.md).

The token and index formats are a cross-language contract with the Java
services, pinned by tests/vectors/phone_crypto.json. Nothing in this module
puts a phone number or key material into an exception message or a log record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from leads_flow.rules.keyring import KEY_LEN, KID_PATTERN, Keyring
from leads_flow.rules.phone import InvalidPhone, mask_valid_e164

__all__ = [
    "BIDX_INFO",
    "ENC_INFO",
    "IndexOnlyCipher",
    "MalformedToken",
    "PhoneCipher",
    "Protected",
    "TamperedToken",
    "TokenError",
    "UnknownKid",
]

log = logging.getLogger(__name__)

ENC_INFO = b"leads-pii/v1/enc/leads.phone"
BIDX_INFO = b"leads-pii/v1/bidx/leads.phone"
NONCE_LEN = 12
TAG_LEN = 16
MAX_TOKEN_LEN = 96  # the column width; anything longer is not ours
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_B64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_TO_URL = bytes.maketrans(b"+/", b"-_")


class TokenError(ValueError):
    """A token cannot be decrypted (message never contains plaintext, key or token bytes)."""


class UnknownKid(TokenError):
    """The kid (in a token, or asked for) is not in the keyring."""


class TamperedToken(TokenError):
    """GCM authentication failed: modified token, wrong kid or wrong key."""


class MalformedToken(TokenError):
    """Not an e1 token: wrong prefix, kid shape, base64 or length."""


def hkdf(root: bytes, info: bytes) -> bytes:
    """HKDF-SHA256, empty salt (= 32 zero bytes per RFC 5869), 32-byte output."""
    return HKDF(algorithm=SHA256(), length=KEY_LEN, salt=None, info=info).derive(root)


class Protected(NamedTuple):
    """What gets stored for one phone: no plaintext."""

    cipher: str
    bidx: int
    bidx_kid: str
    masked: str


def _check_e164(e164: object) -> None:
    if e164.__class__ is not str or not _E164.fullmatch(e164):  # type: ignore[arg-type]
        raise InvalidPhone("expected an E.164 string from leads_flow.rules.phone.normalize()")


class _HmacSha256:
    """HMAC-SHA256 with the key pads hashed once: ~3x faster than hmac.digest per call."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")  # keys are 32 bytes < SHA-256 block size
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digest(self, msg: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class PhoneCipher:
    """e1 tokens and blind indexes for E.164 phones; keys derived once per kid."""

    __slots__ = ("_aead", "_aad", "_enc_kid", "_enc_prefix", "_macs", "_bidx_kid")

    def __init__(self, keyring: Keyring) -> None:
        self._aead = {kid: AESGCM(hkdf(root, ENC_INFO)) for kid, root in keyring.enc_keys.items()}
        self._aad = {kid: f"e1:{kid}:leads.phone".encode("ascii") for kid in keyring.enc_keys}
        self._enc_kid = keyring.active_enc_kid
        self._enc_prefix = f"e1:{self._enc_kid}:"
        self._macs = {kid: _HmacSha256(hkdf(root, BIDX_INFO)) for kid, root in keyring.bidx_keys.items()}
        self._bidx_kid = keyring.active_bidx_kid

    def __repr__(self) -> str:
        return f"PhoneCipher(active_enc_kid={self._enc_kid!r}, active_bidx_kid={self._bidx_kid!r})"

    @property
    def active_enc_kid(self) -> str:
        return self._enc_kid

    @property
    def active_bidx_kid(self) -> str:
        return self._bidx_kid

    def _seal(self, e164: str, nonce: bytes) -> str:
        kid = self._enc_kid
        sealed = nonce + self._aead[kid].encrypt(nonce, e164.encode("ascii"), self._aad[kid])
        body = binascii.b2a_base64(sealed, newline=False).translate(_TO_URL).rstrip(b"=")
        return self._enc_prefix + body.decode("ascii")

    def encrypt(self, e164: str) -> str:
        """e1 token with the active kid and a fresh random 96-bit nonce."""
        _check_e164(e164)
        return self._seal(e164, os.urandom(NONCE_LEN))

    def _encrypt_with_nonce(self, e164: str, *, nonce_for_test_vectors_only: bytes) -> str:
        """Deterministic token for scripts/gen_phone_vectors.py. Never use on real data:
        a repeated nonce under one key breaks AES-GCM."""
        _check_e164(e164)
        if len(nonce_for_test_vectors_only) != NONCE_LEN:
            raise ValueError(f"nonce must be {NONCE_LEN} bytes")
        return self._seal(e164, bytes(nonce_for_test_vectors_only))

    def decrypt(self, token: str) -> str:
        """E.164 from an e1 token of any kid in the keyring; raises TokenError subclasses."""
        if token.__class__ is not str or len(token) > MAX_TOKEN_LEN:
            raise MalformedToken("token must be an e1 string of at most 96 characters")
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != "e1":
            raise MalformedToken("token is not in the e1:<kid>:<base64url> format")
        _, kid, body = parts
        if not KID_PATTERN.fullmatch(kid):
            raise MalformedToken("token kid does not match [0-9a-z]{1,8}")
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKid(f"token kid {kid!r} is not in the keyring")
        if not _B64URL.fullmatch(body) or len(body) % 4 == 1:
            raise MalformedToken("token body is not unpadded base64url")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != body:
            raise MalformedToken("token body is not canonical base64url")
        if len(raw) <= NONCE_LEN + TAG_LEN:
            raise MalformedToken("token is too short")
        try:
            plain = aead.decrypt(raw[:NONCE_LEN], raw[NONCE_LEN:], self._aad[kid])
        except InvalidTag:
            raise TamperedToken("token failed authentication (modified, wrong kid or wrong key)") from None
        e164 = plain.decode("ascii", "replace")
        if not _E164.fullmatch(e164):
            raise MalformedToken("token decrypted to something that is not E.164")
        return e164

    def encrypt_raw(self, text: str) -> str:
        """e1 token of a raw phone string as typed (for leads_flow_reject), any UTF-8 text.

        Its AAD names another purpose ("leads.phone.raw"), so a raw token can never pass for a
        phone_cipher value: decrypt() rejects it, decrypt_raw() reads it.
        """
        kid = self._enc_kid
        nonce = os.urandom(NONCE_LEN)
        sealed = nonce + self._aead[kid].encrypt(nonce, text.encode("utf-8"), _raw_aad(kid))
        body = binascii.b2a_base64(sealed, newline=False).translate(_TO_URL).rstrip(b"=")
        return self._enc_prefix + body.decode("ascii")

    def decrypt_raw(self, token: str) -> str:
        """Inverse of encrypt_raw (for a person investigating a reject, with the key)."""
        parts = token.split(":") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != "e1" or parts[1] not in self._aead:
            raise MalformedToken("not an e1 token of a known kid")
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        try:
            plain = self._aead[parts[1]].decrypt(raw[:NONCE_LEN], raw[NONCE_LEN:], _raw_aad(parts[1]))
        except InvalidTag:
            raise TamperedToken("token failed authentication") from None
        return plain.decode("utf-8")

    def bidx(self, e164: str, kid: str | None = None) -> int:
        """Blind index: HMAC-SHA256 first 8 bytes as a signed big-endian int64."""
        _check_e164(e164)
        mac = self._macs.get(self._bidx_kid if kid is None else kid)
        if mac is None:
            raise UnknownKid(f"bidx kid {kid!r} is not in the keyring")
        return int.from_bytes(mac.digest(e164.encode("ascii"))[:8], "big", signed=True)

    def bidx_all(self, e164: str) -> dict[str, int]:
        """Index under every known bidx kid: what a lookup must search during rotation."""
        return {kid: self.bidx(e164, kid) for kid in self._macs}

    def index_only(self) -> IndexOnlyCipher:
        """This cipher's blind index, kid and mask without the token: enough to fingerprint a mapped row."""
        return IndexOnlyCipher(self)

    def protect(self, e164: str) -> Protected:
        """Everything to store for one phone: token, index (active kid) and mask."""
        _check_e164(e164)
        bidx = int.from_bytes(self._macs[self._bidx_kid].digest(e164.encode("ascii"))[:8], "big", signed=True)
        return Protected(self._seal(e164, os.urandom(NONCE_LEN)), bidx, self._bidx_kid, mask_valid_e164(e164))


def _raw_aad(kid: str) -> bytes:
    return f"e1:{kid}:leads.phone.raw".encode("ascii")


class IndexOnlyCipher:
    """What the field rules need from the cipher to fingerprint a row: the blind index, its kid and the mask,
    computed by the real cipher. The token is not part of the fingerprint (its nonce is random per call), so
    a compare (reconcile) does not encrypt: a third of the mapping cost."""

    __slots__ = ("_cipher",)

    def __init__(self, cipher: PhoneCipher) -> None:
        self._cipher = cipher

    def protect(self, e164: str) -> Protected:
        c = self._cipher
        return Protected(None, c.bidx(e164), c.active_bidx_kid, mask_valid_e164(e164))  # type: ignore[arg-type]

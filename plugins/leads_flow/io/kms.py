"""KMS mode of the keyring: data keys stored only wrapped by an OpenBao / Vault Transit key (envelope encryption).

A keyring extra in KMS mode holds, instead of ``enc_keys`` / ``bidx_keys`` (base64 data keys)::

    {"kms": {"type": "openbao-transit", "url": "https://bao.internal:8200", "mount": "transit",
             "key": "leads-flow", "token_path": "/run/secrets/leads-flow-transit-token"},
     "wrapped_enc_keys": {"1": "vault:v1:..."}, "active_enc_kid": "1",
     "wrapped_bidx_keys": {"1": "vault:v1:..."}, "active_bidx_kid": "1"}

(``role_id`` + ``secret_id_path`` instead of ``token_path``: AppRole login; optional ``ca_cert``, ``namespace``,
``timeout_s``). Each wrapped value is Transit's ciphertext of the 32-byte data key (Transit takes and returns
plaintext in base64), so the plaintext a decrypt returns is the same base64 text a plain keyring holds: :func:`unwrapped` turns a KMS extra into the plain extra
(in memory only) and everything downstream (the e1 format, the blind index, the key check values, the Java
contract) is unchanged. One ``POST <mount>/decrypt/<key>`` per wrapped key; the caller
(:func:`leads_flow.io.keyring.load_keyring`) caches the result per process.

Errors name the kid and the KMS (url, mount, key), never a key, and never chain the client's exception: an
unreachable or failing KMS is :class:`KmsUnavailable` (transient, a retry may cure it), a refused or impossible
decrypt (no permission, bad token, unknown key, a ciphertext that does not decrypt) is :class:`KmsDenied`
(permanent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leads_flow.errors import Permanent, Transient
from leads_flow.rules.keyring import KeyringError, extra_object

log = logging.getLogger(__name__)

KMS_TYPE = "openbao-transit"
RINGS = ("enc", "bidx")
DEFAULT_TIMEOUT_S = 10.0


class KmsError(RuntimeError):
    """The KMS could not unwrap a data key (message names the kid and the KMS, never a key)."""


class KmsUnavailable(Transient, KmsError):
    """The KMS could not be reached or failed (5xx, timeout, sealed): a retry may cure it."""


class KmsDenied(Permanent, KmsError):
    """The KMS refused the decrypt or cannot do it (permission, token, key name, ciphertext): no retry cures it."""


def is_kms_extra(extra: object) -> bool:
    return isinstance(extra, Mapping) and "kms" in extra


class TransitConfig:
    """The ``kms`` object of a keyring extra, checked (messages name fields, never values of secrets)."""

    def __init__(self, doc: object, where: str):
        if not isinstance(doc, Mapping):
            raise KeyringError(f"{where}: 'kms' must be a JSON object")
        if doc.get("type") != KMS_TYPE:
            raise KeyringError(f"{where}: kms.type must be {KMS_TYPE!r}")
        for field in ("url", "key"):
            if not isinstance(doc.get(field), str) or not doc[field]:
                raise KeyringError(f"{where}: kms.{field} is missing")
        self.url: str = doc["url"].rstrip("/")
        self.key: str = doc["key"]
        self.mount: str = str(doc.get("mount") or "transit").strip("/")
        self.token_path: str | None = doc.get("token_path")
        self.role_id: str | None = doc.get("role_id")
        self.secret_id_path: str | None = doc.get("secret_id_path")
        self.approle_mount: str = str(doc.get("approle_mount") or "approle").strip("/")
        self.namespace: str | None = doc.get("namespace")
        self.ca_cert: str | None = doc.get("ca_cert")
        self.timeout_s = float(doc.get("timeout_s") or DEFAULT_TIMEOUT_S)
        if "token" in doc or "secret_id" in doc:
            raise KeyringError(f"{where}: kms must name a token_path / secret_id_path file, not hold a credential")
        if not self.token_path and not (self.role_id and self.secret_id_path):
            raise KeyringError(f"{where}: kms needs token_path, or role_id and secret_id_path (AppRole)")

    def __str__(self) -> str:
        return f"OpenBao Transit {self.url} (key {self.key!r} at mount {self.mount!r})"


def _read_secret_file(path: str, what: str, kms: TransitConfig) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KmsDenied(f"{kms}: cannot read the {what} file {path!r} ({type(exc).__name__})") from None
    if not text:
        raise KmsDenied(f"{kms}: the {what} file {path!r} is empty")
    return text


def classify_error(exc: BaseException, kms: TransitConfig, doing: str) -> KmsError:
    """The client's error as KmsUnavailable or KmsDenied, without its text (it may echo a request)."""
    import hvac.exceptions as hx
    import requests

    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):  # an impostor or a wrong ca_cert: retrying will not cure it
        return KmsDenied(f"{kms}: {doing} failed, the KMS's TLS certificate was not accepted ({kind})")
    unavailable = (requests.ConnectionError, requests.Timeout, hx.InternalServerError, hx.VaultDown, hx.BadGateway)
    if isinstance(exc, (*unavailable, hx.RateLimitExceeded)):
        return KmsUnavailable(f"{kms}: {doing} failed, KMS unreachable or unavailable ({kind})")
    if isinstance(exc, (hx.Forbidden, hx.Unauthorized)):
        return KmsDenied(
            f"{kms}: {doing} denied ({kind}); the token must be allowed update on {kms.mount}/decrypt/{kms.key}"
        )
    if isinstance(exc, (hx.InvalidRequest, hx.InvalidPath, hx.UnsupportedOperation)):
        return KmsDenied(f"{kms}: {doing} refused ({kind})")
    if isinstance(status, int) and status >= 500:
        return KmsUnavailable(f"{kms}: {doing} failed ({kind}, HTTP {status})")
    return KmsUnavailable(f"{kms}: {doing} failed ({kind})")


def transit_client(kms: TransitConfig, *, token: str | None = None):
    """An hvac client for the KMS, logged in (token file, or AppRole) — ``token`` for the operator's script."""
    import hvac

    verify: bool | str = kms.ca_cert if kms.ca_cert else True
    # token="": never VAULT_TOKEN / ~/.vault-token of the process (hvac's default); only the configured credential
    client = hvac.Client(url=kms.url, token="", verify=verify, timeout=kms.timeout_s, namespace=kms.namespace)
    if token is not None:
        client.token = token
    elif kms.token_path:
        client.token = _read_secret_file(kms.token_path, "token", kms)
    else:
        secret_id = _read_secret_file(kms.secret_id_path or "", "AppRole secret_id", kms)
        try:
            client.auth.approle.login(role_id=kms.role_id, secret_id=secret_id, mount_point=kms.approle_mount)
        except Exception as exc:
            raise classify_error(exc, kms, "AppRole login") from None
        finally:
            del secret_id
    return client


def _wrapped_ring(doc: Mapping[str, Any], ring: str, where: str) -> dict[str, str] | None:
    field = f"wrapped_{ring}_keys"
    if field not in doc:
        return None
    raw = doc[field]
    if not isinstance(raw, Mapping) or not raw:
        raise KeyringError(f"{where}: {field} must be a non-empty object of kid to Transit ciphertext")
    for kid, text in raw.items():
        if not isinstance(text, str) or not text.startswith("vault:v"):
            raise KeyringError(f"{where}: {field}[{kid!r}] is not a Transit ciphertext (vault:v<n>:...)")
    return dict(raw)


def unwrapped(extra: object, where: str) -> object:
    """``extra`` unchanged when it is not in KMS mode; otherwise the plain extra (``enc_keys`` / ``bidx_keys`` as
    base64 data keys, the active kids) with every wrapped key decrypted through Transit, one call per key.

    ``where`` (the connection id) goes into messages. Raises KeyringError (malformed), KmsDenied, KmsUnavailable.
    """
    if isinstance(extra, (str, bytes)):
        try:
            doc = extra_object(extra, what=f"connection {where!r}: keyring extra")
        except KeyringError:
            return extra  # the plain path reports it
    else:
        doc = extra
    if not is_kms_extra(doc):
        return extra
    kms = TransitConfig(doc["kms"], f"connection {where!r}")
    plain_fields = [f for f in ("enc_keys", "bidx_keys") if f in doc]
    if plain_fields:
        raise KeyringError(
            f"connection {where!r} is in KMS mode but also holds {plain_fields}: keep only wrapped_*_keys"
        )
    rings = {ring: _wrapped_ring(doc, ring, f"connection {where!r}") for ring in RINGS}
    if not any(rings.values()):
        raise KeyringError(f"connection {where!r} is in KMS mode but holds no wrapped_enc_keys / wrapped_bidx_keys")
    client = transit_client(kms)
    out: dict[str, Any] = {}
    for ring, wrapped in rings.items():
        active = f"active_{ring}_kid"
        if wrapped is None:
            if active in doc:
                out[active] = doc[active]
            continue
        keys = {}
        for kid, ciphertext in wrapped.items():
            keys[kid] = decrypt_data_key(client, kms, ciphertext, f"{ring} kid {kid!r} of connection {where!r}")
        out[f"{ring}_keys"] = keys
        if active in doc:
            out[active] = doc[active]
    log.info(
        "Unwrapped %d data key(s) of connection %r through %s", sum(len(r or {}) for r in rings.values()), where, kms
    )
    return out


def decrypt_data_key(client, kms: TransitConfig, ciphertext: str, what: str) -> str:
    """Transit decrypt of one wrapped data key: its base64 text (as a plain keyring holds it)."""
    try:
        resp = client.secrets.transit.decrypt_data(name=kms.key, ciphertext=ciphertext, mount_point=kms.mount)
    except Exception as exc:
        raise classify_error(exc, kms, f"unwrapping {what}") from None
    try:
        return resp["data"]["plaintext"]
    except (KeyError, TypeError):
        raise KmsDenied(f"{kms}: unwrapping {what} returned no plaintext") from None

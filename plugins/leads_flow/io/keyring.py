"""Loading the keyring from its Airflow connections (``leads_pii``, and ``leads_pii_bidx`` when it exists), every
spelling of each key registered with the secrets masker before anything can log it."""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Mapping

from leads_flow.io.kms import unwrapped
from leads_flow.io.masking import mask_secret
from leads_flow.io.process import forbid_core_dumps
from leads_flow.rules.crypto import BIDX_INFO, ENC_INFO, PhoneCipher, hkdf
from leads_flow.rules.keyring import BIDX_FIELDS, Keyring, KeyringError, extra_object

log = logging.getLogger(__name__)


def _secret_forms(key: bytes) -> set[str]:
    """Every printable spelling of a key that could end up in a log line."""
    std = base64.b64encode(key).decode("ascii")
    url = base64.urlsafe_b64encode(key).decode("ascii")
    return {std, std.rstrip("="), url, url.rstrip("="), key.hex(), key.hex().upper(), repr(key)}


def _register_secrets(keyring: Keyring, *extras: object) -> None:
    forms: set[str] = set()
    for extra in extras:
        if isinstance(extra, str):
            forms.add(extra)
        elif isinstance(extra, Mapping):
            for field in ("enc_keys", "bidx_keys"):
                ring = extra.get(field)
                if isinstance(ring, Mapping):
                    forms.update(v for v in ring.values() if isinstance(v, str))
    for root in keyring.enc_keys.values():
        forms |= _secret_forms(root) | _secret_forms(hkdf(root, ENC_INFO))
    for root in keyring.bidx_keys.values():
        forms |= _secret_forms(root) | _secret_forms(hkdf(root, BIDX_INFO))
    for form in forms:
        mask_secret(form)


BIDX_CONN_SUFFIX = "_bidx"


def _connection_extra(conn_id: str, *, optional: bool) -> object:
    """The extra of an Airflow connection (JSON text or dict); None if ``optional`` and it does not exist.

    A connection that is absent is one lookup (environment, then the secrets backends / execution API),
    which Airflow logs at DEBUG only. Any other failure (a secrets backend that cannot be reached, access
    denied) is an error even for the optional one: guessing would index with the wrong key.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        if optional:
            return None
        raise KeyringError(
            f"Airflow connection {conn_id!r} could not be read ({type(exc).__name__}); it must exist with "
            "conn_type generic and the keyring JSON as extra"
        ) from exc
    except Exception as exc:  # secrets-backend errors
        raise KeyringError(
            f"Airflow connection {conn_id!r} could not be read ({type(exc).__name__}); it must exist with "
            "conn_type generic and the keyring JSON as extra"
        ) from exc
    extra: object = conn.extra if isinstance(conn.extra, str) else conn.extra_dejson
    if not extra:
        raise KeyringError(f"Airflow connection {conn_id!r} has an empty extra; expected the keyring JSON")
    return extra


@functools.lru_cache(maxsize=8)
def load_keyring(conn_id: str = "leads_pii") -> Keyring:
    """Keyring from an Airflow connection; keys are registered with the secret masker.

    When a connection ``<conn_id>_bidx`` (``leads_pii_bidx``) exists, the blind-index ring comes from it
    (rules: :meth:`Keyring.from_extras`); without it ``conn_id`` alone holds both rings, as before.
    Cached per process (``load_keyring.cache_clear()`` to re-read after rotation): both connections are
    read once per task process, never per row. An extra in KMS mode (a ``kms`` block and ``wrapped_*_keys``)
    has its data keys unwrapped through OpenBao Transit (:mod:`leads_flow.io.kms`), so once per process too.
    """
    forbid_core_dumps(hard=False)  # this process will hold the keys: no core file, no ptrace
    extra = _connection_extra(conn_id, optional=False)
    bidx_id = conn_id + BIDX_CONN_SUFFIX
    try:
        bidx_extra = _connection_extra(bidx_id, optional=True)
    except KeyringError:
        if isinstance(extra, str):
            mask_secret(extra)
        raise
    # KMS mode (leads_flow.io.kms): data keys unwrapped through Transit, once per process (this cache)
    extra = unwrapped(extra, conn_id)
    if bidx_extra is not None:
        bidx_extra = unwrapped(bidx_extra, bidx_id)
    try:
        keyring = Keyring.from_extras(extra, bidx_extra)  # type: ignore[arg-type]
    except KeyringError as exc:
        # Mask what we can even when invalid, then fail with the connection(s) named.
        for text in (extra, bidx_extra):
            if isinstance(text, str):
                mask_secret(text)
        names = repr(conn_id) if bidx_extra is None else f"{conn_id!r} + {bidx_id!r}"
        hint = ""
        if bidx_extra is None and "missing 'bidx_keys'" in str(exc):
            hint = f" (and there is no connection {bidx_id!r})"
        raise KeyringError(f"connection {names}: {exc}{hint}") from None
    _register_secrets(keyring, extra, bidx_extra)
    if bidx_extra is None:
        log.info("Loaded phone keyring from connection %r: %r", conn_id, keyring)
    else:
        log.info(
            "Loaded phone keyring: encryption ring from connection %r, blind-index ring from %r: %r",
            conn_id,
            bidx_id,
            keyring,
        )
        main = extra_object(extra)
        if any(f in main for f in BIDX_FIELDS):
            log.warning(
                "Connection %r still holds bidx_keys/active_bidx_kid (identical to %r's, so they are "
                "ignored); remove them so that it no longer holds the blind-index key",
                conn_id,
                bidx_id,
            )
    return keyring


def load_cipher(conn_id: str = "leads_pii") -> PhoneCipher:
    """The phone cipher over :func:`load_keyring`'s keyring."""
    return PhoneCipher(load_keyring(conn_id))

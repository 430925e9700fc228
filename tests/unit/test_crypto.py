"""e1 token, blind index, keyring parsing, masker registration, vectors, no leaks."""

from __future__ import annotations

import base64
import hmac
import importlib.util
import json
import logging
import os
import struct
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from leads_flow.io.keyring import load_cipher, load_keyring
from leads_flow.rules.crypto import (
    BIDX_INFO,
    ENC_INFO,
    MalformedToken,
    PhoneCipher,
    Protected,
    TamperedToken,
    TokenError,
    UnknownKid,
    _HmacSha256,
    hkdf,
)
from leads_flow.rules.keyring import Keyring, KeyringError
from leads_flow.rules.phone import InvalidPhone, mask, normalize

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors" / "phone_crypto.json"
PHONE = "+8613800138000"  # documentation number
PHONE_NSN = PHONE[3:]


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_forms(key: bytes) -> list[str]:
    return [
        b64(key),
        b64(key).rstrip("="),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        key.hex(),
        key.hex().upper(),
    ]


def ring(**kids: tuple[bytes, bytes]) -> Keyring:
    """Keyring whose last kid is active; values are (enc_root, bidx_root)."""
    active = list(kids)[-1]
    return Keyring({k: v[0] for k, v in kids.items()}, active, {k: v[1] for k, v in kids.items()}, active)


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    return os.urandom(32), os.urandom(32)


@pytest.fixture
def cipher(keys: tuple[bytes, bytes]) -> PhoneCipher:
    return PhoneCipher(ring(**{"1": keys}))


# --- independent reference (RFC 5869 by hand, stdlib HMAC) ------------------------
def hkdf_ref(root: bytes, info: bytes) -> bytes:
    prk = hmac.digest(b"\x00" * 32, root, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")  # one block = 32 bytes


def bidx_ref(bidx_root: bytes, e164: str) -> int:
    return struct.unpack(">q", hmac.digest(hkdf_ref(bidx_root, BIDX_INFO), e164.encode(), "sha256")[:8])[0]


def decrypt_ref(enc_root: bytes, token: str) -> str:
    prefix, kid, body = token.split(":")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    aad = f"e1:{kid}:leads.phone".encode()
    return AESGCM(hkdf_ref(enc_root, ENC_INFO)).decrypt(raw[:12], raw[12:], aad).decode()


def test_hkdf_empty_salt_is_32_zero_bytes() -> None:
    root = os.urandom(32)
    zero_salt = HKDF(algorithm=SHA256(), length=32, salt=b"\x00" * 32, info=ENC_INFO).derive(root)
    assert hkdf(root, ENC_INFO) == zero_salt == hkdf_ref(root, ENC_INFO)
    assert hkdf(root, BIDX_INFO) != hkdf(root, ENC_INFO)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=40))
def test_precomputed_hmac_equals_stdlib(key: bytes, msg: bytes) -> None:
    assert _HmacSha256(key).digest(msg) == hmac.digest(key, msg, "sha256")


# --- round trip, index, protect ---------------------------------------------------
mobiles = st.builds(
    lambda p, rest: f"+86{p}{rest}",
    st.sampled_from(["130", "138", "150", "159", "166", "177", "186", "199"]),
    st.text("0123456789", min_size=8, max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(mobiles)
def test_round_trip_and_reference_agreement(e164: str) -> None:
    enc_root, bidx_root = bytes(range(32)), bytes(range(32, 64))
    c = PhoneCipher(ring(**{"1": (enc_root, bidx_root)}))
    token = c.encrypt(e164)
    assert token.startswith("e1:1:") and len(token) <= 96 and token.isascii()
    assert c.decrypt(token) == e164 == decrypt_ref(enc_root, token)
    assert c.bidx(e164) == bidx_ref(bidx_root, e164)
    assert -(2**63) <= c.bidx(e164) < 2**63


def test_protect(cipher: PhoneCipher) -> None:
    p = cipher.protect(PHONE)
    assert isinstance(p, Protected)
    assert cipher.decrypt(p.cipher) == PHONE
    assert p.bidx == cipher.bidx(PHONE) and p.bidx_kid == cipher.active_bidx_kid == "1"
    assert p.masked == "138****8000"
    assert PHONE_NSN not in repr(p)


@pytest.mark.parametrize("bad", ["13800138000", "138 0013 8000", "+86 13800138000", "", "+0123456789"])
def test_encrypt_and_bidx_require_e164(cipher: PhoneCipher, bad: str) -> None:
    for op in (cipher.encrypt, cipher.bidx, cipher.protect):
        with pytest.raises(InvalidPhone) as info:
            op(bad)
        assert PHONE_NSN not in str(info.value)


def test_nonce_uniqueness_over_10k_calls(cipher: PhoneCipher) -> None:
    tokens = [cipher.encrypt(PHONE) for _ in range(10_000)]
    nonces = {base64.urlsafe_b64decode(t.split(":")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == len(set(tokens)) == 10_000
    assert len({cipher.protect(PHONE).cipher for _ in range(1000)}) == 1000


# --- tamper detection -------------------------------------------------------------
def _body(token: str) -> bytes:
    return base64.urlsafe_b64decode(token.split(":")[2] + "==")


def _with_body(token: str, raw: bytes) -> str:
    kid = token.split(":")[1]
    return f"e1:{kid}:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_flipped_byte_in_every_position_is_detected(cipher: PhoneCipher) -> None:
    token = cipher.encrypt(PHONE)
    raw = _body(token)
    assert len(raw) == 12 + len(PHONE) + 16
    for i in range(len(raw)):  # nonce, ciphertext and tag regions
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with pytest.raises(TamperedToken) as info:
            cipher.decrypt(_with_body(token, bytes(flipped)))
        assert PHONE_NSN not in _error_text(info.value)


def test_wrong_and_unknown_kid(keys: tuple[bytes, bytes]) -> None:
    both = PhoneCipher(ring(**{"1": keys, "k2": (os.urandom(32), os.urandom(32))}))
    token = both.encrypt(PHONE)
    assert token.startswith("e1:k2:")
    with pytest.raises(TamperedToken):
        both.decrypt(token.replace("e1:k2:", "e1:1:"))
    with pytest.raises(UnknownKid):
        both.decrypt(token.replace("e1:k2:", "e1:zz:"))
    with pytest.raises(UnknownKid):
        both.bidx(PHONE, "zz")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:-2],
        lambda t: t[:-5],
        lambda t: t[: len("e1:1:") + 30],
        lambda t: t[: len("e1:1:") + 37],
        lambda t: t + "A",
    ],
    ids=["-1", "-2", "-5", "short", "no-plaintext", "+1"],
)
def test_truncated_or_extended_token(cipher: PhoneCipher, mangle) -> None:
    with pytest.raises(TokenError):
        cipher.decrypt(mangle(cipher.encrypt(PHONE)))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("e1:", "e2:", 1),
        lambda t: t.replace("e1:", "E1:", 1),
        lambda t: t[3:],
        lambda t: t + ":x",
        lambda t: t.replace("e1:1:", "e1::"),
        lambda t: t.replace("e1:1:", "e1:K1:"),
        lambda t: t.replace("e1:1:", "e1:123456789:"),
        lambda t: t[:10] + "!" + t[11:],
        lambda t: t[:10] + "+" + t[11:],
        lambda t: t + "=",
        lambda t: t + "AAAAA",
        lambda t: " " + t,
        lambda t: "e1:1:",
        lambda t: "",
        lambda t: t + "A" * 100,
    ],
)
def test_malformed_tokens(cipher: PhoneCipher, mangle) -> None:
    with pytest.raises(MalformedToken):
        cipher.decrypt(mangle(cipher.encrypt(PHONE)))


def test_non_canonical_base64_is_rejected(cipher: PhoneCipher) -> None:
    token = cipher.encrypt("+861060000000")  # 12+13+16 = 41 bytes -> last char has 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    sibling = token[:-1] + alphabet[last ^ 0x01]
    assert len(_body(token)) == 41
    assert _body(sibling) == _body(token)
    with pytest.raises(MalformedToken):
        cipher.decrypt(sibling)


def test_non_string_token(cipher: PhoneCipher) -> None:
    with pytest.raises(MalformedToken):
        cipher.decrypt(None)  # type: ignore[arg-type]
    with pytest.raises(MalformedToken):
        cipher.decrypt(cipher.encrypt(PHONE).encode())  # type: ignore[arg-type]


# --- rotation ---------------------------------------------------------------------
def test_rotation() -> None:
    k1, k2 = (os.urandom(32), os.urandom(32)), (os.urandom(32), os.urandom(32))
    old = PhoneCipher(ring(**{"1": k1}))
    readers = PhoneCipher(Keyring({"1": k1[0], "2": k2[0]}, "1", {"1": k1[1], "2": k2[1]}, "1"))
    new = PhoneCipher(ring(**{"1": k1, "2": k2}))
    old_token = old.encrypt(PHONE)
    assert readers.encrypt(PHONE).startswith("e1:1:")  # step 2: readers first, still writing kid 1
    new_token = new.encrypt(PHONE)
    assert new_token.startswith("e1:2:") and new.active_enc_kid == "2"
    assert new.decrypt(old_token) == readers.decrypt(new_token) == PHONE
    with pytest.raises(UnknownKid):
        old.decrypt(new_token)
    assert new.bidx_all(PHONE) == {"1": old.bidx(PHONE), "2": new.bidx(PHONE)}
    assert new.bidx(PHONE, "1") == old.bidx(PHONE) != new.bidx(PHONE)
    retired = PhoneCipher(ring(**{"2": k2}))
    assert retired.decrypt(new.encrypt(new.decrypt(old_token))) == PHONE  # re-encrypted row survives


# --- keyring parsing --------------------------------------------------------------
ENC, BIDX = bytes(range(0x80, 0xA0)), bytes(range(0xA0, 0xC0))


def extra(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "enc_keys": {"1": b64(ENC)},
        "active_enc_kid": "1",
        "bidx_keys": {"1": b64(BIDX)},
        "active_bidx_kid": "1",
    }
    for k, v in overrides.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    return doc


def test_from_extra_ok_dict_and_json() -> None:
    for src in (extra(), json.dumps(extra())):
        kr = Keyring.from_extra(src)
        assert kr.enc_keys == {"1": ENC} and kr.bidx_keys == {"1": BIDX}
        assert kr.active_enc_kid == kr.active_bidx_kid == "1"
    urlsafe = extra(enc_keys={"1": base64.urlsafe_b64encode(ENC).decode().rstrip("=")})
    assert Keyring.from_extra(urlsafe).enc_keys["1"] == ENC


def test_keyring_repr_and_immutability() -> None:
    kr = Keyring.from_extra(extra())
    text = repr(kr) + str(kr)
    assert "enc_kids=['1']" in text
    for form in key_forms(ENC) + key_forms(BIDX) + [repr(ENC)]:
        assert form not in text
    with pytest.raises(TypeError):
        kr.enc_keys["2"] = ENC  # type: ignore[index]
    assert all(f not in repr(PhoneCipher(kr)) for f in key_forms(ENC))


@pytest.mark.parametrize(
    ("src", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (extra(enc_keys=None), "missing 'enc_keys'"),
        (extra(bidx_keys=None), "missing 'bidx_keys'"),
        (extra(active_enc_kid=None), "missing 'active_enc_kid'"),
        (extra(active_bidx_kid=None), "missing 'active_bidx_kid'"),
        (extra(enc_keys={}), "enc_keys must be a non-empty object"),
        (extra(enc_keys=[b64(ENC)]), "enc_keys must be a non-empty object"),
        (extra(enc_keys={"1": b64(ENC)[:-4] + "!!!="}), "enc_keys['1'] is not valid base64"),
        (extra(enc_keys={"1": 12345}), "enc_keys['1'] must be a base64 string"),
        (extra(enc_keys={"1": b64(ENC[:16])}), "must decode to 32 bytes, got 16"),
        (extra(bidx_keys={"1": b64(BIDX + b"\0")}), "bidx_keys['1'] must decode to 32 bytes, got 33"),
        (extra(enc_keys={"K1": b64(ENC)}, active_enc_kid="K1"), "does not match [0-9a-z]{1,8}"),
        (extra(enc_keys={"123456789": b64(ENC)}), "does not match [0-9a-z]{1,8}"),
        (extra(active_enc_kid="2"), "active_enc_kid '2' is not a kid in enc_keys"),
        (extra(active_bidx_kid="Z!"), "active_bidx_kid must be a string matching"),
        (extra(active_bidx_kid=1), "active_bidx_kid must be a string matching"),
        (extra(bidx_keys={"1": b64(ENC)}), "must not share a key"),
    ],
)
def test_from_extra_errors(src: object, fragment: str) -> None:
    with pytest.raises(KeyringError) as info:
        Keyring.from_extra(src)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    text = _error_text(info.value)
    for form in key_forms(ENC) + key_forms(BIDX) + key_forms(ENC[:16]):
        assert form not in text


def test_direct_construction_is_validated() -> None:
    with pytest.raises(KeyringError, match="exactly 32 bytes"):
        Keyring({"1": b"short"}, "1", {"1": BIDX}, "1")
    with pytest.raises(KeyringError, match="not a kid"):
        Keyring({"1": ENC}, "2", {"1": BIDX}, "1")


# --- load_keyring and the secret masker ---------------------------------------------
@pytest.fixture
def leads_pii_env(monkeypatch: pytest.MonkeyPatch):
    def set_extra(doc: object) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": doc}))

    load_keyring.cache_clear()
    yield set_extra
    load_keyring.cache_clear()


def _redact(text: str) -> str:
    from airflow.sdk._shared.secrets_masker import redact

    return str(redact(text))


def test_load_keyring_registers_keys_with_masker(leads_pii_env) -> None:
    enc, bidx = os.urandom(32), os.urandom(32)
    leads_pii_env(extra(enc_keys={"1": b64(enc)}, bidx_keys={"1": b64(bidx)}))
    kr = load_keyring()
    assert kr.enc_keys["1"] == enc and load_keyring() is kr
    derived = [hkdf(enc, ENC_INFO), hkdf(bidx, BIDX_INFO)]
    for form in key_forms(enc) + key_forms(bidx) + [f for d in derived for f in key_forms(d)]:
        redacted = _redact(f"the key is {form} !")
        assert form not in redacted and "***" in redacted
    assert load_cipher().decrypt(PhoneCipher(kr).encrypt(PHONE)) == PHONE


def test_load_keyring_missing_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LEADS_PII", raising=False)
    load_keyring.cache_clear()
    with pytest.raises(KeyringError, match="'leads_pii_absent' could not be read"):
        load_keyring("leads_pii_absent")


def test_load_keyring_bad_extra_names_connection_not_key(leads_pii_env) -> None:
    short = os.urandom(16)
    leads_pii_env(extra(enc_keys={"1": b64(short)}))
    with pytest.raises(KeyringError) as info:
        load_keyring()
    assert "connection 'leads_pii'" in str(info.value) and "got 16" in str(info.value)
    assert all(f not in _error_text(info.value) for f in key_forms(short))
    leads_pii_env({})
    with pytest.raises(KeyringError, match="empty extra"):
        load_keyring()


# --- split keyring: leads_pii_bidx ---------------------------------------------------
def _conn_json(doc: object) -> str:
    return json.dumps({"conn_type": "generic", "extra": doc})


@pytest.fixture
def split_env(monkeypatch: pytest.MonkeyPatch):
    """set(main_extra, bidx_extra or None): AIRFLOW_CONN_LEADS_PII and (optionally) AIRFLOW_CONN_LEADS_PII_BIDX."""

    def set_extras(main: object, bidx: object | None) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", _conn_json(main))
        if bidx is None:
            monkeypatch.delenv("AIRFLOW_CONN_LEADS_PII_BIDX", raising=False)
        else:
            monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII_BIDX", _conn_json(bidx))
        load_keyring.cache_clear()

    monkeypatch.delenv("AIRFLOW_CONN_LEADS_PII_BIDX", raising=False)
    load_keyring.cache_clear()
    yield set_extras
    load_keyring.cache_clear()


ENC_ONLY = {"enc_keys": {"1": b64(ENC)}, "active_enc_kid": "1"}
BIDX_ONLY = {"bidx_keys": {"1": b64(BIDX)}, "active_bidx_kid": "1"}


def test_split_keyring_gives_the_same_blind_index_and_tokens_as_the_combined_one(split_env) -> None:
    split_env(extra(), None)
    combined = PhoneCipher(load_keyring())
    split_env(ENC_ONLY, BIDX_ONLY)
    kr = load_keyring()
    assert (kr.enc_keys, kr.bidx_keys) == ({"1": ENC}, {"1": BIDX})
    split = PhoneCipher(kr)
    for e164 in (PHONE, "+8613912345678", "+14155550123"):
        assert split.bidx(e164) == combined.bidx(e164) == bidx_ref(BIDX, e164)
    assert split.decrypt(combined.encrypt(PHONE)) == combined.decrypt(split.encrypt(PHONE)) == PHONE
    assert split.protect(PHONE).bidx_kid == "1"


def test_split_keyring_with_rotated_bidx_ring_in_the_bidx_connection(split_env) -> None:
    bidx2 = os.urandom(32)
    split_env(ENC_ONLY, {"bidx_keys": {"1": b64(BIDX), "2": b64(bidx2)}, "active_bidx_kid": "2"})
    c = PhoneCipher(load_keyring())
    assert c.active_bidx_kid == "2" and c.bidx(PHONE) == bidx_ref(bidx2, PHONE)
    assert c.bidx(PHONE, "1") == bidx_ref(BIDX, PHONE)


def test_without_the_bidx_connection_leads_pii_alone_works_as_before(split_env, caplog) -> None:
    split_env(extra(), None)
    with caplog.at_level(logging.DEBUG):
        kr = load_keyring()
    assert kr.bidx_keys == {"1": BIDX}
    # the absent leads_pii_bidx costs one lookup that nobody is warned about
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    split_env(ENC_ONLY, None)
    with pytest.raises(KeyringError) as info:
        load_keyring()
    assert "missing 'bidx_keys'" in str(info.value) and "no connection 'leads_pii_bidx'" in str(info.value)


def test_missing_bidx_connection_is_looked_up_once_per_process(split_env, monkeypatch) -> None:
    from airflow.sdk import BaseHook

    split_env(extra(), None)
    calls: list[str] = []
    real = BaseHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls, conn_id):
        calls.append(conn_id)
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counting))
    c = load_cipher()
    for _ in range(50):
        load_cipher().bidx(PHONE)
    assert calls == ["leads_pii", "leads_pii_bidx"] and c.bidx(PHONE) == bidx_ref(BIDX, PHONE)


def test_identical_bidx_keys_left_in_leads_pii_are_accepted_with_a_warning(split_env, caplog) -> None:
    split_env(extra(), BIDX_ONLY)
    with caplog.at_level(logging.INFO, logger="leads_flow.io.keyring"):
        kr = load_keyring()
    assert kr.bidx_keys == {"1": BIDX}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "remove them" in warnings[0]
    assert all(f not in caplog.text for f in key_forms(ENC) + key_forms(BIDX))


@pytest.mark.parametrize(
    ("main", "bidx", "fragment"),
    [
        # leads_pii and leads_pii_bidx disagree: one is stale, refuse rather than index with the wrong key
        (extra(bidx_keys={"1": b64(bytes(range(0xC0, 0xE0)))}), BIDX_ONLY, "hold different blind-index keys"),
        (
            extra(bidx_keys={"1": b64(BIDX), "2": b64(bytes(range(0xC0, 0xE0)))}),
            BIDX_ONLY,
            "hold different blind-index keys",
        ),
        (
            extra(active_bidx_kid="2", bidx_keys={"1": b64(BIDX), "2": b64(bytes(range(0xC0, 0xE0)))}),
            {"bidx_keys": {"1": b64(BIDX), "2": b64(bytes(range(0xC0, 0xE0)))}, "active_bidx_kid": "1"},
            "hold different blind-index keys",
        ),
        # the blind-index store must never hold the encryption key
        (ENC_ONLY, {**BIDX_ONLY, **ENC_ONLY}, "must not hold ['enc_keys', 'active_enc_kid']"),
        (ENC_ONLY, {**BIDX_ONLY, "active_enc_kid": "1"}, "must not hold ['active_enc_kid']"),
        (ENC_ONLY, {"bidx_keys": {"1": b64(BIDX)}}, "blind-index keyring extra is missing 'active_bidx_kid'"),
        (ENC_ONLY, {"bidx_keys": {"1": b64(BIDX[:16])}, "active_bidx_kid": "1"}, "must decode to 32 bytes, got 16"),
        (ENC_ONLY, {"bidx_keys": {"1": b64(ENC)}, "active_bidx_kid": "1"}, "must not share a key"),
        ({"active_enc_kid": "1"}, BIDX_ONLY, "missing 'enc_keys'"),
    ],
)
def test_split_keyring_errors_name_both_connections_never_a_key(split_env, main, bidx, fragment) -> None:
    split_env(main, bidx)
    with pytest.raises(KeyringError) as info:
        load_keyring()
    assert fragment in str(info.value)
    assert "'leads_pii' + 'leads_pii_bidx'" in str(info.value)
    text = _error_text(info.value)
    for form in key_forms(ENC) + key_forms(BIDX) + key_forms(bytes(range(0xC0, 0xE0))) + key_forms(BIDX[:16]):
        assert form not in text


def test_unreadable_bidx_connection_is_an_error_not_a_fallback(split_env, monkeypatch) -> None:
    from airflow.sdk import BaseHook

    split_env(extra(), None)
    real = BaseHook.get_connection.__func__  # type: ignore[attr-defined]

    def flaky(cls, conn_id):
        if conn_id == "leads_pii_bidx":
            raise ConnectionError("secrets backend unreachable")
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(flaky))
    with pytest.raises(KeyringError, match=r"'leads_pii_bidx' could not be read \(ConnectionError\)"):
        load_keyring()


def test_split_keyring_registers_both_connections_keys_with_masker(split_env) -> None:
    enc, bidx = os.urandom(32), os.urandom(32)
    split_env(
        {"enc_keys": {"1": b64(enc)}, "active_enc_kid": "1"}, {"bidx_keys": {"1": b64(bidx)}, "active_bidx_kid": "1"}
    )
    load_keyring()
    derived = [hkdf(enc, ENC_INFO), hkdf(bidx, BIDX_INFO)]
    for form in key_forms(enc) + key_forms(bidx) + [f for d in derived for f in key_forms(d)]:
        redacted = _redact(f"the key is {form} !")
        assert form not in redacted and "***" in redacted


def test_from_extras_without_bidx_extra_is_from_extra() -> None:
    a, b = Keyring.from_extras(extra(), None), Keyring.from_extra(extra())
    assert (a.enc_keys, a.bidx_keys, a.active_enc_kid, a.active_bidx_kid) == (
        b.enc_keys,
        b.bidx_keys,
        b.active_enc_kid,
        b.active_bidx_kid,
    )
    c = Keyring.from_extras(json.dumps(ENC_ONLY), json.dumps(BIDX_ONLY))
    assert (c.enc_keys, c.bidx_keys) == ({"1": ENC}, {"1": BIDX})
    with pytest.raises(KeyringError, match="blind-index keyring extra is not valid JSON"):
        Keyring.from_extras(ENC_ONLY, "{nope")


# --- the keyring's fields are masked on Airflow's surfaces -------------------------------
def test_report_plugin_marks_the_keyring_fields_sensitive_without_the_setting(monkeypatch) -> None:
    """Defence in depth for [core] sensitive_var_conn_names (see also tests/e2e: a real api-server)."""
    from airflow._shared.secrets_masker import _secrets_masker as core_masker
    from airflow.api_fastapi.core_api.datamodels.connections import ConnectionResponse
    from airflow.models.connection import Connection
    from airflow.sdk._shared.secrets_masker import _secrets_masker as sdk_masker

    import leads_flow_report

    enc, bidx = os.urandom(32), os.urandom(32)
    doc = extra(enc_keys={"1": b64(enc)}, bidx_keys={"1": b64(bidx)})
    conn = Connection(conn_id="leads_pii", conn_type="generic", extra=json.dumps(doc))
    for masker in (core_masker(), sdk_masker()):  # as if the setting were missing
        monkeypatch.setattr(
            masker,
            "sensitive_variables_fields",
            [f for f in masker.sensitive_variables_fields if f not in ("enc_keys", "bidx_keys")],
        )
        monkeypatch.setattr(masker, "hide_sensitive_var_conn_fields", True)
    assert b64(enc) in ConnectionResponse.model_validate(conn).extra  # what issue 11 saw
    assert len(leads_flow_report.mark_keyring_fields_sensitive()) == 2
    shown = ConnectionResponse.model_validate(conn).extra
    assert json.loads(shown) == {
        "enc_keys": {"1": "***"},
        "active_enc_kid": "1",
        "bidx_keys": {"1": "***"},
        "active_bidx_kid": "1",
    }
    assert all(f not in shown for f in key_forms(enc) + key_forms(bidx))
    assert leads_flow_report.mark_keyring_fields_sensitive() == []  # idempotent


# --- nothing leaks into logs or errors --------------------------------------------
def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_no_plaintext_or_key_in_logs_or_errors(leads_pii_env, caplog: pytest.LogCaptureFixture) -> None:
    enc, bidx = os.urandom(32), os.urandom(32)
    secrets = key_forms(enc) + key_forms(bidx) + [PHONE, PHONE_NSN, "138 0013 8000"]
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        leads_pii_env(extra(enc_keys={"1": b64(enc)}, bidx_keys={"1": b64(bidx)}))
        c = PhoneCipher(load_keyring())
        token = c.protect(normalize("138 0013 8000")).cipher
        raw = bytearray(_body(token))
        raw[-1] ^= 1
        for bad in (_with_body(token, bytes(raw)), token.replace("e1:1:", "e1:9:"), token[:-3]):
            try:
                c.decrypt(bad)
            except TokenError as exc:
                errors.append(exc)
        for bad_phone in ("138 0013 800", "13800138000"):
            try:
                normalize(bad_phone) if " " in bad_phone else c.encrypt(bad_phone)
            except InvalidPhone as exc:
                errors.append(exc)
        leads_pii_env(extra(enc_keys={"1": b64(enc)}, bidx_keys={"1": b64(enc)}))
        load_keyring.cache_clear()
        try:
            load_keyring()
        except KeyringError as exc:
            errors.append(exc)
    assert len(errors) == 6
    assert any(r.name == "leads_flow.io.keyring" for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records) + caplog.text
    for text in [logged] + [_error_text(e) for e in errors]:
        for s in secrets:
            assert s not in text


# --- vectors ----------------------------------------------------------------------
def _load_script():
    spec = importlib.util.spec_from_file_location("gen_phone_vectors", REPO / "scripts" / "gen_phone_vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_file_is_up_to_date() -> None:
    gen = _load_script()
    assert VECTORS.read_text(encoding="utf-8") == gen.render(gen.build_vectors())
    assert gen.main(["--check", "--output", str(VECTORS)]) == 0


def test_vectors_check_detects_drift(tmp_path: Path) -> None:
    gen = _load_script()
    stale = tmp_path / "v.json"
    stale.write_text(VECTORS.read_text(encoding="utf-8").replace('"bidx": 5', '"bidx": 6', 1), encoding="utf-8")
    assert gen.main(["--check", "--output", str(stale)]) == 1


def test_vectors_against_independent_reference() -> None:
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert doc["format"] == "e1"
    cases = doc["cases"]
    valid = [c for c in cases if "error" not in c]
    invalid = [c for c in cases if "error" in c]
    keys = {"enc_root_hex", "bidx_root_hex", "kid", "nonce_hex", "input", "e164", "token", "bidx", "masked"}
    assert all(set(c) == keys for c in valid) and all(set(c) == {"input", "error"} for c in invalid)
    first = valid[0]
    assert first["enc_root_hex"] == bytes(range(32)).hex() and first["bidx_root_hex"] == bytes(range(32, 64)).hex()
    assert (first["kid"], first["nonce_hex"], first["input"]) == ("1", bytes(range(12)).hex(), "138 0013 8000")
    inputs = [c["input"] for c in valid]
    assert any(i.lstrip(" (").startswith("+86") for i in inputs)
    assert any(i.startswith("0086") for i in inputs) and any(i.startswith("86") for i in inputs)
    assert any(any("\uff10" <= ch <= "\uff19" for ch in i) for i in inputs)
    assert any(c["bidx"] < 0 for c in valid) and {c["kid"] for c in valid} >= {"1", "k2"}
    assert len(invalid) >= 5 and {c["error"] for c in invalid} == {"phone_invalid"}
    for c in valid:
        enc_root, bidx_root = bytes.fromhex(c["enc_root_hex"]), bytes.fromhex(c["bidx_root_hex"])
        assert normalize(c["input"]) == c["e164"]
        assert c["token"].startswith(f"e1:{c['kid']}:")
        assert _body(c["token"])[:12].hex() == c["nonce_hex"]
        assert decrypt_ref(enc_root, c["token"]) == c["e164"]
        assert bidx_ref(bidx_root, c["e164"]) == c["bidx"]
        assert mask(c["e164"]) == c["masked"]
        kid = c["kid"]
        assert PhoneCipher(Keyring({kid: enc_root}, kid, {kid: bidx_root}, kid)).decrypt(c["token"]) == c["e164"]
    for c in invalid:
        with pytest.raises(InvalidPhone):
            normalize(c["input"])

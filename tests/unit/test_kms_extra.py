"""The KMS-mode keyring extra (leads_flow.io.kms) is checked before any KMS is asked: messages name fields."""

from __future__ import annotations

import pytest

from leads_flow.io.kms import KmsDenied, unwrapped
from leads_flow.rules.keyring import KeyringError
from tests.conftest import keyring_extra

KMS = {"type": "openbao-transit", "url": "http://127.0.0.1:9", "key": "k", "token_path": "/nonexistent/token"}
WRAPPED = {"wrapped_enc_keys": {"1": "vault:v1:abc"}, "active_enc_kid": "1"}


def test_a_plain_extra_is_returned_as_it_is():
    plain = keyring_extra()
    assert unwrapped(plain, "leads_pii") is plain
    assert unwrapped("not json", "leads_pii") == "not json"  # the plain path reports it


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"kms": {**KMS, "type": "aws"}, **WRAPPED}, "kms.type must be 'openbao-transit'"),
        ({"kms": {k: v for k, v in KMS.items() if k != "url"}, **WRAPPED}, "kms.url is missing"),
        ({"kms": {k: v for k, v in KMS.items() if k != "token_path"}, **WRAPPED}, "needs token_path, or role_id"),
        ({"kms": {**KMS, "token": "s.x"}, **WRAPPED}, "not hold a credential"),
        ({"kms": KMS, **WRAPPED, **keyring_extra()}, "also holds ['enc_keys', 'bidx_keys']"),
        ({"kms": KMS, "active_enc_kid": "1"}, "holds no wrapped_enc_keys"),
        ({"kms": KMS, "wrapped_enc_keys": {"1": "AAAA"}, "active_enc_kid": "1"}, "is not a Transit ciphertext"),
    ],
)
def test_a_malformed_kms_extra_is_a_keyring_error(extra, message):
    with pytest.raises(KeyringError) as err:
        unwrapped(extra, "leads_pii")
    assert message in str(err.value) and "'leads_pii'" in str(err.value)


def test_a_missing_token_file_is_permanent_and_names_the_kms():
    with pytest.raises(KmsDenied) as err:
        unwrapped({"kms": KMS, **WRAPPED}, "leads_pii")
    assert "http://127.0.0.1:9" in str(err.value) and "token file" in str(err.value)

"""tests/vectors/field_rules.json (the field rules as a cross-language contract) is current, and the mapping
reproduces every case through the public Mapper, reading the file the way the Java runner does."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from leads_flow.config import Settings
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import LEGACY_COLUMNS, REJECT_REASONS, STAGE_COLUMNS
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.mapping import Mapper

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "field_rules.json"
sys.path.insert(0, str(ROOT / "scripts"))

import gen_field_vectors  # noqa: E402

DOC = json.loads(VECTORS.read_text(encoding="utf-8"))


def test_the_file_is_current():
    assert gen_field_vectors.render(gen_field_vectors.build_vectors()) == VECTORS.read_text(encoding="utf-8"), (
        "run scripts/gen_field_vectors.py"
    )


def test_the_file_covers_every_reason_and_enough_cases():
    assert len(DOC["cases"]) >= 60
    assert {r for c in DOC["cases"] for r in c.get("reasons", [])} == set(REJECT_REASONS)
    assert DOC["legacy_columns"] == list(LEGACY_COLUMNS)
    assert any("flow" in c for c in DOC["cases"]) and any("reasons" in c for c in DOC["cases"])


def _typed(column: str, v):
    return datetime.fromisoformat(v) if v is not None and column in DOC["datetime_columns"] else v


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["name"] for c in DOC["cases"]])
def test_the_mapping_reproduces_the_case(case):
    keys = DOC["keys"]
    kid = keys["kid"]
    cipher = PhoneCipher(
        Keyring({kid: bytes.fromhex(keys["enc_root_hex"])}, kid, {kid: bytes.fromhex(keys["bidx_root_hex"])}, kid)
    )
    end = datetime.fromisoformat(DOC["settings"]["partition_end"])
    assert DOC["settings"]["min_join_time"] == str(Settings().min_join_time)
    row = tuple(_typed(c, case["legacy"][c]) for c in LEGACY_COLUMNS)
    out = Mapper(cipher, Settings(), end, "vectors", end).map_rows([row])
    if "reasons" in case:
        assert not out.staged and out.rejects[0][1].split(",") == case["reasons"]
        return
    assert not out.rejects and out.coerced == (1 if case["coerced"] else 0)
    staged = dict(zip(STAGE_COLUMNS, out.staged[0]))
    want = case["flow"]
    token = staged.pop("phone_cipher")
    assert (cipher.decrypt(token) if token is not None else None) == want["e164"]
    for c in DOC["flow_columns"][1:]:
        assert staged[c] == _typed(c, want[c]), c

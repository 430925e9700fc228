"""A phone inside text (docs/phone-protection.md): the mapping masks each one in free text, rejects a
unionId holding one, keeps the reject table's raw values clean, and leaves every non-phone shape alone.

Phones are generated (tests/phone_text_strategies.py) in every spelling the definition covers; the oracle
is the phone the strategy wrote, never the product's detector.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads_flow.config import Settings
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.rules.mapping import Mapper, protected_raw
from leads_flow.rules.phone import contains_mobile, find_mobiles, mask_phones_in_text
from tests.phone_text_strategies import (
    FULL_WIDTH,
    digits_only,
    non_phone_text,
    spelled_mobiles,
    text_with_mobile,
)

P = "13800138000"  # generated, the documentation's example
FW = "".join(FULL_WIDTH[d] for d in P)
END = datetime(2026, 11, 21)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the spellings issue 11 found published in plain text
        ("+86" + P, "138****8000"),
        ("0086" + P, "138****8000"),
        ("86" + P, "138****8000"),
        (FW, "138****8000"),
        ("oU" + P, "oU138****8000"),
        ("wx 138--0013--8000", "wx 138****8000"),
        ("tel:138_0013_8000", "tel:138****8000"),
        ("138.0013.8000", "138****8000"),
        ("138/0013/8000", "138****8000"),
        # URLs: escaped prefix, separators and digits
        ("https://h.example/p?tel=%2B86" + P, "https://h.example/p?tel=138****8000"),
        ("q=138%200013%208000", "q=138****8000"),
        ("q=%2013800138000", "q=%20138****8000"),
        ("q=%EF%BC%91%EF%BC%93%EF%BC%98%300138000", "q=138****8000"),
        ("call 86-138-0013-8000 now", "call 138****8000 now"),
        ("a=0086 138 0013 8000;b", "a=138****8000;b"),
        ("1 3 8 0 0 1 3 8 0 0 0", "138****8000"),
        ("(+86) 138 0013 8000", "(138****8000"),
        ("two 13800138000,15000000000", "two 138****8000,150****0000"),
        ("order 2 138 0013 8000", "order 2 138****8000"),
        # twelve digits from 013 are a trunk-prefixed mobile even where they end a timestamp (Hypothesis found it)
        ("order=2015-01-01T00:00:00.013000000000&ts=1", "order=2015-01-01T00:00:00.130****0000&ts=1"),
        # not phones: longer digit runs, version strings, dotted IPs, landlines, foreign numbers
        ("order 2013800138000123 stays", "order 2013800138000123 stays"),
        ("Chrome/138.0.7204.183", "Chrome/138.0.7204.183"),
        ("Edg/138.0.3351.95 Vivaldi/7.5.3735.58", "Edg/138.0.3351.95 Vivaldi/7.5.3735.58"),
        ("via 138.19.204.118, 10.1.2.3", "via 138.19.204.118, 10.1.2.3"),
        ("ip 1.2.3.4 138.123.45.67", "ip 1.2.3.4 138.123.45.67"),
        ("010-62345678 ext 12", "010-62345678 ext 12"),
        ("+1 415 555 0100", "+1 415 555 0100"),
        ("12800138000 (second digit 2)", "12800138000 (second digit 2)"),
        ("", ""),
    ],
)
def test_mask_phones_in_text(text: str, expected: str) -> None:
    assert mask_phones_in_text(text) == expected
    assert contains_mobile(text) is (text != expected)


def test_a_dotted_phone_that_is_not_an_address_is_a_phone() -> None:
    # 138.123.456.78 is not an IPv4 address (456 > 255): read as a phone written 3-3-3-2
    assert mask_phones_in_text("x 138.123.456.78 y") == "x 138****5678 y"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["window_url", "user_agent", "from_channel", "union_id"]).flatmap(text_with_mobile))
def test_every_spelling_in_every_column_is_masked(case) -> None:
    phone, text = case
    assert phone.nsn in digits_only(text)  # the strategy did hide the phone in there
    assert contains_mobile(text)
    masked = mask_phones_in_text(text)
    assert phone.mask in masked
    assert phone.nsn not in digits_only(masked)
    assert not contains_mobile(masked)


@settings(max_examples=300, deadline=None)
@given(spelled_mobiles())
def test_found_span_covers_the_whole_spelling(phone) -> None:
    [(start, end, nsn)] = find_mobiles(phone.text)
    assert nsn == phone.nsn and end == len(phone.text)
    assert phone.text[:start] in ("", "+", "\uff0b", "%2B", "(+", "(")


@settings(max_examples=1000, deadline=None)
@given(non_phone_text())
def test_no_false_positive_on_realistic_non_phone_text(case) -> None:
    _column, text = case
    assert find_mobiles(text) == []
    assert mask_phones_in_text(text) == text


# --- the mapping uses it ---------------------------------------------------------------------------------
def _legacy(**over) -> tuple:
    row = {
        "id": 1,
        "phone": None,
        "unionId": "oU1",
        "window_url": None,
        "ip_address": None,
        "user_agent": None,
        "from_channel": None,
        "has_tool": 0,
        "join_time": datetime(2026, 11, 20, 8),
        "create_time": None,
        "leads_type": 0,
        "is_group": 0,
        "main_business_id": None,
        "is_deleted": 0,
        "update_time": datetime(2026, 11, 20, 9),
    }
    row.update(over)
    return tuple(row[c] for c in LEGACY_COLUMNS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["window_url", "user_agent", "from_channel"]).flatmap(
        lambda c: st.tuples(st.just(c), text_with_mobile(c))
    )
)
def test_mapping_masks_free_text_and_keeps_the_rest(cipher, case) -> None:
    column, (phone, text) = case
    out = Mapper(cipher, Settings(), END, "run-1", END).map_rows([_legacy(**{column: text})])
    assert not out.rejects
    [row] = out.staged
    value = row[1 + list(_mapped_columns()).index(column)]
    assert phone.nsn not in digits_only(value)
    assert phone.mask in value or column == "from_channel"  # from_channel is cut at 64 characters


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text_with_mobile("union_id"), text_with_mobile("window_url"))
def test_union_id_holding_a_phone_rejects_and_the_raw_values_stay_clean(cipher, uid, url) -> None:
    (phone, union_id), (phone2, window_url) = uid, url
    out = Mapper(cipher, Settings(), END, "run-1", END).map_rows([_legacy(unionId=union_id, window_url=window_url)])
    assert not out.staged
    [(_lead, reasons, raw, _ts)] = out.rejects
    assert "union_id_invalid" in reasons.split(",")
    values = json.loads(protected_raw(raw, cipher))
    assert phone.nsn not in digits_only(values["unionId"]) and phone2.nsn not in digits_only(values["window_url"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(non_phone_text(), min_size=1, max_size=4))
def test_mapping_keeps_non_phone_text_as_it_is(cipher, cases) -> None:
    over = {("unionId" if c == "union_id" else c): v for c, v in cases}
    out = Mapper(cipher, Settings(), END, "run-1", END).map_rows([_legacy(**over)])
    assert not out.rejects
    [row] = out.staged
    for column, value in over.items():
        flow = "union_id" if column == "unionId" else column
        limit = 64 if flow == "from_channel" else None
        assert row[1 + list(_mapped_columns()).index(flow)] == value[:limit]


def _mapped_columns() -> tuple[str, ...]:
    from leads_flow.rules.fields import MAPPED_COLUMNS

    return MAPPED_COLUMNS

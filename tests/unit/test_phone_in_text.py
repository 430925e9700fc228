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
    INVISIBLE_ESCAPES,
    INVISIBLES,
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
        # issue 25: what a person reads as a phone. Invisible characters, wherever they stand
        ("138\u200b0013\u200b8000", "138****8000"),
        ("1\u200c3\u200d8\u20600013\u00ad8000", "138****8000"),
        ("tel:\ufeff13800138000\u200b", "tel:\ufeff138****8000\u200b"),
        ("\u200e+86\u200f13800138000", "\u200e138****8000"),
        ("q=138%E2%80%8B0013%C2%AD8000", "q=138****8000"),
        ("q=%EF%BB%BF138%e2%81%a000138000", "q=%EF%BB%BF138****8000"),
        # every Unicode space separator, the middle dots, and their escapes
        ("138\u20090013\u20098000", "138****8000"),
        ("138\u202f0013\u205f8000", "138****8000"),
        ("138\u16800013\u20008000", "138****8000"),
        ("138·0013·8000", "138****8000"),
        ("138・0013・8000", "138****8000"),
        ("138‧0013•8000", "138****8000"),
        ("q=138%E3%80%800013%C2%B78000", "q=138****8000"),
        # Chinese numerals (零 and 〇), spoken 幺/两 in a wholly spelled number, escaped in URLs
        ("电话一三八零零一三八零零零", "电话138****8000"),
        ("一三八〇〇一三八〇〇〇", "138****8000"),
        ("一三八 零零一三 八零零零", "138****8000"),
        ("幺三八零零幺三八零零零", "138****8000"),
        ("一五二两两两两两两两两", "152****2222"),
        ("+八六 一三八零零一三八零零零", "138****8000"),
        (
            "p=%E4%B8%80%E4%B8%89%E5%85%AB%E9%9B%B6%E9%9B%B6%E4%B8%80%E4%B8%89%E5%85%AB%E9%9B%B6%E9%9B%B6%E9%9B%B6",
            "p=138****8000",
        ),
        ("138零零13八000", "138****8000"),  # figures and numerals mixed: read together
        ("张一13800138000", "张一138****8000"),  # a numeral glued to a phone in figures ends where the kind changes
        # circled, parenthesised, full stop, dingbat, superscript, keycap and mathematical digits, by their value
        ("①③⑧⓪⓪①③⑧⓪⓪⓪", "138****8000"),
        ("⑴⑶⑻⓪⓪⑴⑶⑻⓪⓪⓪", "138****8000"),
        ("⒈⒊⒏⓿⓿❶❸❽⁰₀⁰", "138****8000"),
        (
            "1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e30\ufe0f\u20e30\ufe0f\u20e31\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e3"
            "0\ufe0f\u20e30\ufe0f\u20e30\ufe0f\u20e3!",
            "138****8000!",
        ),
        ("𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎", "138****8000"),
        ("①13800138000 ②13900139000", "①138****8000 ②139****9000"),  # list bullets are not part of the number
        # not phones: Chinese prose with numerals, emoji, soft hyphens, 幺/两 in numbers partly in figures
        ("二〇二六年十二月七日 三百五十元 五号楼", "二〇二六年十二月七日 三百五十元 五号楼"),
        ("二〇二六一三八零零一三八零零零", "二〇二六一三八零零一三八零零零"),  # fifteen numerals in a row
        ("一二三四五六七八九〇一二", "一二三四五六七八九〇一二"),
        ("幺38001380000", "幺38001380000"),
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 1\ufe0f\u20e3 \u2764\ufe0f",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 1\ufe0f\u20e3 \u2764\ufe0f",
        ),
        ("Wer\u00adbe\u00adak\u00adtion 20\u00ad26\u00ad12", "Wer\u00adbe\u00adak\u00adtion 20\u00ad26\u00ad12"),
        ("order 2013800138\u200b000123", "order 2013800138\u200b000123"),  # invisible inside a long id: still one run
        ("Chrome/138.0.7204.183\u200b", "Chrome/138.0.7204.183\u200b"),
        ("138.19.204.118\u00a0via", "138.19.204.118\u00a0via"),
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
    before = phone.text[:start]
    for hidden in INVISIBLES + INVISIBLE_ESCAPES:  # an invisible character may stand between prefix and number
        before = before.replace(hidden, "")
    assert before in ("", "+", "\uff0b", "%2B", "(+", "(")


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

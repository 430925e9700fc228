"""The field rules, case by case: what each dirty legacy value becomes, or why the row is rejected."""

import ipaddress
from datetime import datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leads_flow.config import Settings
from leads_flow.rules.fields import FIELD_RULES, LEGACY_COLUMNS, STAGE_COLUMNS, parse_ip
from leads_flow.rules.mapping import Mapper, protected_raw

END = datetime(2026, 11, 21)
PHONE = "13912345678"  # generated, not a real subscriber


def legacy(**over):
    row = {
        "id": 1,
        "phone": PHONE,
        "unionId": None,
        "window_url": None,
        "ip_address": None,
        "user_agent": None,
        "from_channel": "baidu_sem",
        "has_tool": 0,
        "join_time": datetime(2026, 11, 20, 9),
        "create_time": datetime(2026, 11, 20, 9),
        "leads_type": 0,
        "is_group": 1,
        "main_business_id": 3,
        "is_deleted": 0,
        "update_time": datetime(2026, 11, 20, 10),
    }
    row.update(over)
    return tuple(row[c] for c in LEGACY_COLUMNS)


def run(cipher, settings=None, **over):
    m = Mapper(cipher, settings or Settings(), END, "run-1", datetime(2026, 11, 21, 1))
    out = m.map_rows([legacy(**over)])
    if out.staged:
        return dict(zip(STAGE_COLUMNS, out.staged[0])), None
    return None, out.rejects[0][1].split(",")


def test_every_legacy_column_read_is_declared_once():
    assert LEGACY_COLUMNS[0] == "id" and len(set(LEGACY_COLUMNS)) == len(LEGACY_COLUMNS)
    flow = [c for r in FIELD_RULES for c in r.flow]
    assert len(flow) == len(set(flow))


@pytest.mark.parametrize(
    "raw",
    [
        "139 1234 5678",
        "+86-139-1234-5678",
        "0086 13912345678",
        "8613912345678",
        "１３９１２３４５６７８",
        "  13912345678\t",
        "(139) 1234-5678",
    ],
)
def test_phone_shapes_normalise_encrypt_and_mask(cipher, raw):
    row, why = run(cipher, phone=raw)
    assert why is None
    assert cipher.decrypt(row["phone_cipher"]) == "+86" + PHONE
    assert row["phone_bidx"] == cipher.bidx("+86" + PHONE) and row["phone_bidx_kid"] == "1"
    assert row["phone_masked"] == "139****5678"


@pytest.mark.parametrize(
    "over, reasons",
    [
        ({"phone": "12345"}, ["phone_invalid"]),
        ({"phone": "abc", "unionId": "oABC"}, ["phone_invalid"]),
        ({"phone": None}, ["no_identity"]),
        ({"phone": "  ", "unionId": " "}, ["no_identity"]),
        ({"has_tool": 2}, ["flag_invalid"]),
        ({"is_group": -1}, ["flag_invalid"]),
        ({"join_time": datetime(2014, 12, 31, 23)}, ["join_time_out_of_range"]),
        ({"join_time": datetime(2026, 11, 22, 0, 0, 1)}, ["join_time_out_of_range"]),
        ({"leads_type": 2}, ["leads_type_unknown"]),
        ({"leads_type": None}, ["leads_type_unknown"]),
        ({"main_business_id": 0}, ["main_business_unknown"]),
        ({"phone": "1", "has_tool": 5, "leads_type": 9}, ["flag_invalid", "leads_type_unknown", "phone_invalid"]),
    ],
)
def test_rejects_carry_every_reason(cipher, over, reasons):
    row, why = run(cipher, **over)
    assert row is None and why == reasons


def test_no_phone_is_fine_with_a_union_id(cipher):
    row, _ = run(cipher, phone="", unionId="  oUnion123  ")
    assert row["union_id"] == "oUnion123"
    assert row["phone_cipher"] is row["phone_bidx"] is row["phone_bidx_kid"] is row["phone_masked"] is None


def test_window_url_loses_the_phone_in_its_query(cipher):
    row, _ = run(cipher, window_url=f" https://m.example.cn/lp?a=1&tel={PHONE}&b=2 ")
    assert row["window_url"] == "https://m.example.cn/lp?a=1&tel=139****5678&b=2"


@pytest.mark.parametrize(
    "raw, ip",
    [
        ("unknown", None),
        (" 10.1.2.3 ", "10.1.2.3"),
        ("::ffff:172.16.0.9", "172.16.0.9"),
        ("unknown, 58.1.1.2, 10.0.0.1", "58.1.1.2"),
        ("2408:8207::1", "2408:8207::1"),
        ("", None),
        (None, None),
        ("999.1.1.1", None),
    ],
)
def test_ip_address_first_valid_or_null(raw, ip):
    assert parse_ip(raw) == ip


def _ip_reference(v):
    """parse_ip by the standard library alone: the fast paths must agree with it on any text."""
    for part in str(v).split(","):
        try:
            addr = ipaddress.ip_address(part.strip().strip("[]"))
        except ValueError:
            continue
        if addr.version == 6 and addr.scope_id:
            continue
        return str(addr.ipv4_mapped) if addr.version == 6 and addr.ipv4_mapped else str(addr)
    return None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.:,[] abf%x１", max_size=24) | st.ip_addresses().map(str))
@example("fe80::1%eth0, 1.2.3.4")
@example("01.2.3.4, ::ffff:1.2.3.4")
def test_ip_fast_paths_agree_with_ipaddress(raw):
    assert parse_ip(raw) == _ip_reference(raw)


def test_user_agent_trimmed_and_cut(cipher):
    row, _ = run(cipher, user_agent="  " + "x" * 2000 + "  ")
    assert row["user_agent"] == "x" * 1024


def test_join_time_defaults_to_create_time(cipher):
    row, _ = run(cipher, join_time=None)
    assert row["join_time"] == datetime(2026, 11, 20, 9)


def test_flags_types_and_source_updated_at(cipher):
    row, _ = run(cipher, has_tool=None, leads_type=1, is_deleted=1, update_time=None)
    assert (row["has_tool"], row["is_group"], row["leads_type"], row["is_deleted"]) == (None, 1, "internal", 1)
    assert row["source_updated_at"] == datetime(2026, 11, 20, 9)


def test_main_business_allow_list(cipher):
    s = Settings(main_business_ids=frozenset({3, 5}))
    assert run(cipher, s, main_business_id=5)[0]["main_business_id"] == 5
    assert run(cipher, s, main_business_id=4)[1] == ["main_business_unknown"]
    assert run(cipher, s, main_business_id=None)[0]["main_business_id"] is None


def test_content_hash_ignores_the_random_nonce_but_not_the_data(cipher):
    a, _ = run(cipher)
    b, _ = run(cipher)
    c, _ = run(cipher, from_channel="other")
    assert a["phone_cipher"] != b["phone_cipher"]
    assert a["content_hash"] == b["content_hash"] != c["content_hash"]


def test_reject_raw_values_hold_no_plaintext_phone(cipher):
    m = Mapper(cipher, Settings(), END, "run-1", datetime(2026, 11, 21))
    out = m.map_rows([legacy(phone=f"+86 {PHONE}", has_tool=7, window_url=f"https://x.cn/?p={PHONE}")])
    raw = protected_raw(out.rejects[0][2], cipher)
    assert PHONE not in raw and "e1:1:" in raw

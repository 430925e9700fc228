"""Normalisation, fast-path agreement with phonenumbers, masking, no echo of input."""

from __future__ import annotations

import traceback

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leads_flow.rules.phone import (
    InvalidPhone,
    PhoneError,
    _fast_path,
    mask,
    mask_phones_in_text,
    normalize,
    normalize_reference,
)

DOC = "+8613800138000"  # the well-known documentation number


def fw(s: str) -> str:
    """Full-width version of the ASCII digits and plus in s."""
    return s.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"} | {ord("+"): 0xFF0B})


VALID = [
    ("13800138000", DOC),
    ("138 0013 8000", DOC),
    ("138-0013-8000", DOC),
    ("(138) 0013 8000", DOC),
    ("+8613800138000", DOC),
    ("+86 138 0013 8000", DOC),
    ("+86-138-0013-8000", DOC),
    ("(+86) 13800138000", DOC),
    ("0086 13800138000", DOC),
    ("0086-138-0013-8000", DOC),
    ("86 13800138000", DOC),
    ("8613800138000", DOC),
    ("86-138-0013-8000", DOC),
    (fw("13800138000"), DOC),
    (fw("+86 138 0013 8000"), DOC),
    ("１３８\u3000００１３－８０００", DOC),
    ("  13800138000\t\n", DOC),
    ("013800138000", DOC),  # national (trunk) prefix
    ("17951 13800138000", DOC),  # carrier-selection prefix: phonenumbers path
    ("150 0000 0000", "+8615000000000"),
    ("010 6000 0000", "+861060000000"),  # fixed line
]
INVALID = [
    None,
    "",
    "   ",
    "\t",
    "abc",
    "12345",
    "1380013800",
    "138001380001",
    "+1 000 000 0000",
    "+86 100 0000 0000",
    "１２３",
]


@pytest.mark.parametrize(("raw", "e164"), VALID)
def test_normalize_valid(raw: str, e164: str) -> None:
    assert normalize(raw) == e164
    assert normalize_reference(raw) == e164


@pytest.mark.parametrize("raw", INVALID)
def test_normalize_invalid_is_typed(raw: str | None) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize(raw)
    assert info.value.reason == "phone_invalid"
    assert isinstance(info.value, PhoneError) and isinstance(info.value, ValueError)
    with pytest.raises(InvalidPhone):
        normalize_reference(raw)


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        normalize(13800138000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    ["138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "8613800138000", "013800138000", fw("13800138000")],
)
def test_fast_path_handles_common_shapes(raw: str) -> None:
    assert _fast_path(raw) == DOC


def test_fast_path_declines_long_inputs_like_phonenumbers() -> None:
    raw = " " * 250 + "13800138000"
    assert _fast_path(raw) is None
    with pytest.raises(InvalidPhone):
        normalize(raw)


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


@pytest.mark.parametrize("raw", ["1380013800", "138001380001", "+1 000 000 0000", "+86 100 0000 0000", "139-0000-000"])
def test_errors_do_not_echo_input(raw: str) -> None:
    digits = "".join(c for c in raw if c.isdigit())
    with pytest.raises(InvalidPhone) as info:
        normalize(raw)
    text = _error_text(info.value)
    assert raw not in text and digits not in text


# --- agreement property ---------------------------------------------------------
DIGITS = "0123456789"
FW_DIGITS = "".join(chr(0xFF10 + i) for i in range(10))
SEPS = [" ", "-", "(", ")", "\u3000", "\uff0d", "\uff08", "\uff09", "\t", ".", "/", "\u00a0", "x", "#"]
PREFIXES = [
    "",
    "+86",
    "0086",
    "86",
    "0",
    "00",
    "+",
    "+ 86",
    "(+86)",
    "＋８６",
    "８６",
    "+852",
    "+1",
    "86 86",
    "+0086",
    "17951",
]


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Realistic and near-miss shapes: prefixes, mobile-ish digits, separators, full width."""
    prefix = draw(st.sampled_from(PREFIXES))
    if draw(st.booleans()):
        body = "1" + draw(st.sampled_from("0123456789")) + draw(st.text(DIGITS, min_size=9, max_size=9))
    else:
        body = draw(st.text(DIGITS, min_size=0, max_size=14))
    chars: list[str] = []
    for c in prefix + body:
        chars.append(c)
        if draw(st.integers(0, 5)) == 0:
            chars.append(draw(st.sampled_from(SEPS)))
    s = "".join(chars)
    if draw(st.booleans()):
        s = fw(s)
    pad = st.sampled_from(["", " ", "\t", "\u3000", "\n", "  "])
    return draw(pad) + s + draw(pad)


def _check_agreement(raw: str) -> None:
    fast = _fast_path(raw)
    try:
        ref: str | None = normalize_reference(raw)
    except InvalidPhone:
        ref = None
    if fast is not None:
        assert ref == fast
    try:
        assert normalize(raw) == ref
    except InvalidPhone:
        assert ref is None


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phone_like())
@example("+86 138 0013 8000")
@example("1" * 11)
def test_fast_path_agrees_with_phonenumbers_on_phone_like(raw: str) -> None:
    _check_agreement(raw)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=DIGITS + FW_DIGITS + "".join(SEPS) + "+＋", max_size=30))
def test_fast_path_agrees_with_phonenumbers_on_phone_alphabet(raw: str) -> None:
    _check_agreement(raw)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=40))
def test_fast_path_agrees_with_phonenumbers_on_any_text(raw: str) -> None:
    _check_agreement(raw)


# --- masking --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("e164", "masked"),
    [(DOC, "138****8000"), ("+8615000000000", "150****0000"), ("+861060000000", "10****00")],
)
def test_mask(e164: str, masked: str) -> None:
    assert mask(e164) == masked


@pytest.mark.parametrize("bad", ["13800138000", "", "+86abc", "138****8000", None])
def test_mask_rejects_non_e164(bad: str | None) -> None:
    with pytest.raises(InvalidPhone) as info:
        mask(bad)  # type: ignore[arg-type]
    assert "13800138000" not in _error_text(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://h.example/p?tel=13800138000&a=1", "https://h.example/p?tel=138****8000&a=1"),
        ("https://h.example/p?tel=%2B8613800138000", "https://h.example/p?tel=138****8000"),
        ("https://h.example/p?tel=+8613800138000", "https://h.example/p?tel=138****8000"),
        ("call 86-138-0013-8000 now", "call 138****8000 now"),
        ("a=0086 138 0013 8000;b", "a=138****8000;b"),
        ("q=138%200013%208000", "q=138****8000"),
        ("q=" + fw("13800138000"), "q=138****8000"),
        ("two 13800138000,15000000000", "two 138****8000,150****0000"),
        ("order 2013800138000123 stays", "order 2013800138000123 stays"),
        ("no phone here", "no phone here"),
        ("", ""),
    ],
)
def test_mask_phones_in_text(text: str, expected: str) -> None:
    assert mask_phones_in_text(text) == expected

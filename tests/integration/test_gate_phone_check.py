"""The gate's own phone check (gate_audit.sql, plaintext_mobile) on MariaDB and SQLite.

It is the second implementation of "a phone in text": these tests stage rows the mapping never saw
(tamper) and count what the gate finds. Every spelling the mapping masks must be caught here too; realistic
text without phones must pass; and on random text over the detector's alphabet both implementations must
agree, row for row.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads_flow.io.schema import ensure_flow_schema
from leads_flow.quality.audit import build_audit
from leads_flow.rules.phone import contains_mobile, mask_phones_in_text
from tests.phone_text_strategies import non_phone_text, spelled_mobiles, text_with_mobile

COLUMNS = ("union_id", "window_url", "user_agent", "from_channel")
SIZES = {"union_id": 64, "window_url": 2048, "user_agent": 1024, "from_channel": 64}
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Staging:
    """A staging table shaped like the pipeline's, and the gate's audit over it."""

    def __init__(self, dbs) -> None:
        self.dbs = dbs
        self.table = "leads_flow_stage_phonecheck"
        db = dbs.flow()
        try:
            ensure_flow_schema(db)
            db.run("stage_drop", stage=self.table)
            db.run("stage_create", stage=self.table)
            db.conn.commit()
        finally:
            db.close()

    def plaintext_rows(self, values: list[tuple[str, str]]) -> int:
        """Stage one row per (column, value) and return the gate's plaintext_mobile count."""
        db = self.dbs.flow()
        try:
            cur = db.conn.cursor()
            cur.execute(f"DELETE FROM {self.table}")
            ph = "%s" if self.dbs.dialect == "mysql" else "?"
            for n, (column, value) in enumerate(values, 1):
                if len(value) > SIZES[column]:
                    column = "user_agent"
                cur.execute(
                    f"INSERT INTO {self.table} (lead_id, {column}, leads_type, is_deleted, source_updated_at) "
                    f"VALUES ({ph}, {ph}, 'normal', 0, {ph})",
                    (n, value, datetime(2026, 11, 20)),
                )
            db.conn.commit()
        finally:
            db.close()
        audit = build_audit("leads_flow", self.table, datetime(2020, 1, 1), datetime(2030, 1, 1))
        [(count,)] = self.dbs.flow_rows(f"SELECT plaintext_mobile FROM {audit}")
        return int(count)


@pytest.fixture
def staging(any_dbs) -> Staging:
    return Staging(any_dbs)


def test_the_issue_spellings_are_caught(staging) -> None:
    p = "13800138000"  # generated
    values = [
        ("union_id", "+86" + p),
        ("union_id", "0086" + p),
        ("union_id", "86" + p),
        ("union_id", "".join(chr(0xFF10 + int(d)) for d in p)),
        ("union_id", "oU" + p),
        ("from_channel", "wx 138--0013--8000"),
        ("from_channel", "tel:138_0013_8000"),
        ("user_agent", "x 138.0013.8000"),
        ("window_url", "https://x.cn/138/0013/8000"),
        ("window_url", "https://x.cn/?tel=%2B86138%200013%208000"),
        ("window_url", "https://x.cn/?tel=%EF%BC%91%EF%BC%93%EF%BC%98%300138000"),
    ]
    assert staging.plaintext_rows(values) == len(values)
    assert staging.plaintext_rows([("user_agent", "Chrome/138.0.7204.183 via 138.19.204.118")]) == 0


# issue 25: what a person reads as a phone (docs/phone-protection.md §13)
READ_AS_PHONES = [
    ("from_channel", "wx 138\u200b0013\u200b8000"),
    ("from_channel", "1\u200c3\u200d8\u20600013\u00ad8000"),
    ("union_id", "oU\ufeff13800138000"),
    ("window_url", "https://x.cn/?tel=138%E2%80%8B0013%C2%AD8000"),
    ("window_url", "https://x.cn/?tel=%ef%bb%bf138%e2%81%a000138000"),
    ("user_agent", "UA 138\u20090013\u20098000"),
    ("user_agent", "UA 138\u202f0013\u205f8000"),
    ("from_channel", "138·0013·8000"),
    ("from_channel", "138・0013・8000"),
    ("window_url", "https://x.cn/?tel=138%E3%80%800013%C2%B78000"),
    ("from_channel", "电话一三八零零一三八零零零"),
    ("from_channel", "一三八〇〇一三八〇〇〇"),
    ("from_channel", "幺三八零零幺三八零零零"),
    ("from_channel", "+八六 一三八 零零一三 八零零零"),
    (
        "window_url",
        "https://x.cn/?p=%E4%B8%80%E4%B8%89%E5%85%AB%E9%9B%B6%E9%9B%B6%E4%B8%80%E4%B8%89%E5%85%AB%E9%9B%B6%E9%9B%B6%E9%9B%B6",
    ),
    ("from_channel", "138零零13八000"),
    ("from_channel", "张一13800138000"),
    ("from_channel", "①③⑧⓪⓪①③⑧⓪⓪⓪"),
    ("from_channel", "⑴⑶⑻⓪⓪⑴⑶⑻⓪⓪⓪"),
    ("from_channel", "⒈⒊⒏⓿⓿❶❸❽⁰₀⁰"),
    (
        "user_agent",
        "1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e30\ufe0f\u20e30\ufe0f\u20e31\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e30\ufe0f\u20e30\ufe0f\u20e30\ufe0f\u20e3",
    ),
    ("from_channel", "①13800138000"),
]
NOT_PHONES = [
    ("from_channel", "二〇二六年十二月七日 三百五十元 五号楼"),
    ("from_channel", "二〇二六一三八零零一三八零零零"),
    ("from_channel", "幺38001380000"),
    ("user_agent", "\U0001f468\u200d\U0001f469\u200d\U0001f467 1\ufe0f\u20e3 \u2764\ufe0f"),
    ("user_agent", "Wer\u00adbe\u00adak\u00adtion 20\u00ad26\u00ad12"),
    ("user_agent", "order 2013800138\u200b000123 Chrome/138.0.7204.183\u200b 138.19.204.118\u00a0via"),
]
# Classes the SQL does not fold (docs/phone-protection.md §13): caught by the mapping alone.
MAPPING_ONLY = [
    ("from_channel", "".join(chr(0x0660 + int(d)) for d in "13800138000")),  # Arabic-Indic digits
    ("from_channel", "".join(chr(0x1D7CE + int(d)) for d in "13800138000")),  # mathematical bold digits
    (
        "window_url",
        "https://x.cn/?p=%E2%91%A0%E2%91%A2%E2%91%A7%E2%93%AA%E2%93%AA%E2%91%A0%E2%91%A2%E2%91%A7%E2%93%AA%E2%93%AA%E2%93%AA",
    ),
]


def test_what_a_person_reads_as_a_phone_is_caught(staging) -> None:
    assert all(contains_mobile(v) for _c, v in READ_AS_PHONES)  # the mapping's reading, for comparison
    assert staging.plaintext_rows(READ_AS_PHONES) == len(READ_AS_PHONES)
    assert not any(contains_mobile(v) for _c, v in NOT_PHONES)
    assert staging.plaintext_rows(NOT_PHONES) == 0


def test_classes_the_sql_does_not_fold_are_masked_by_the_mapping(staging) -> None:
    # the gate misses these by design (documented); the mapping masks them, and its output passes the gate
    assert staging.plaintext_rows(MAPPING_ONLY) == 0
    assert all(contains_mobile(v) for _c, v in MAPPING_ONLY)
    masked = [(c, mask_phones_in_text(v)) for c, v in MAPPING_ONLY]
    assert all("138****8000" in v and not contains_mobile(v) for _c, v in masked)
    assert staging.plaintext_rows(masked) == 0


@settings(SLOW, max_examples=40)
@given(
    st.lists(
        st.sampled_from(COLUMNS).flatmap(lambda c: text_with_mobile(c, exotic_digits=False).map(lambda t: (c, t[1]))),
        min_size=1,
        max_size=12,
    )
)
def test_gate_catches_every_spelling_when_the_mapping_is_bypassed(staging, values) -> None:
    assert staging.plaintext_rows(values) == len(values)


@settings(SLOW, max_examples=40)
@given(st.lists(non_phone_text(), min_size=1, max_size=20))
def test_gate_passes_realistic_text_without_phones(staging, values) -> None:
    assert staging.plaintext_rows(values) == 0


# Pieces the two implementations must read alike: digits of both widths, every separator, escapes, runs of
# digits of any length, addresses, and whole spelled phones that the surrounding pieces may break or extend.
_PIECES = st.one_of(
    st.sampled_from(
        list("0123456789 -_./()+%x")
        + ["%2B", "%20", "%2E", "%3", "%EF%BC%9", "\uff11", "\uff18", "\u3000", "\uff0e", "%2", "1.2.3.4", "86", "0086"]
        # issue 25: invisibles, Unicode spaces, middle dots, Chinese numerals, 幺/两, digit signs, keycaps, escapes
        + list("\u200b\u200d\u00ad\ufeff\u2060\u2009\u202f\u00a0·・〇零一三八六幺两①③⑧⓪⑴⒈❶¹₀\ufe0f\u20e3")
        + [
            "%E2%80%8B",
            "%C2%AD",
            "%e3%80%80",
            "%C2%B7",
            "%E4%B8%80",
            "%E5%85%AB",
            "%E9%9B%B6",
            "%E2%80",
            "一三八",
            "零零",
        ]
    ),
    st.text("〇零一二三四五六七八九幺两", min_size=1, max_size=12),
    st.text("①②③⑧⓪⑴⒏❶", min_size=1, max_size=12),
    st.text("0123456789", min_size=1, max_size=12),
    st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 300), st.integers(0, 300)),
    spelled_mobiles(exotic_digits=False).map(lambda p: p.text),
)


@settings(SLOW, max_examples=80)
@given(st.lists(st.lists(_PIECES, min_size=1, max_size=8).map("".join), min_size=1, max_size=15))
def test_the_two_implementations_agree_row_for_row(staging, texts) -> None:
    # one value per row, so the count is a sum of per-row verdicts; a disagreement shrinks to one text
    values = [("user_agent", t) for t in texts]
    assert staging.plaintext_rows(values) == sum(contains_mobile(t) for t in texts)

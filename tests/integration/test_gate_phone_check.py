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
from leads_flow.rules.phone import contains_mobile
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
    ),
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

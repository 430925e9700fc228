"""The stage file's fast line (io/load.tsv_line) is the per-value escaping (io/load._tsv) for every row shape:
text with tabs, newlines, CRs, NULs and backslashes (also a value that is literally \\N), None, ints and
datetimes, in any mix."""

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from leads_flow.io.load import _tsv, tsv_line

_TRICKY = st.text(alphabet=st.sampled_from(["a", "1", "\\", "N", "\t", "\n", "\r", "\0", "é", " "]), max_size=8)
_VALUE = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.datetimes(min_value=datetime(1000, 1, 1)),
    st.text(max_size=20),
    _TRICKY,
    st.just("\\N"),
)


@given(st.lists(_VALUE, min_size=1, max_size=12).map(tuple))
def test_fast_line_is_the_per_value_escaping(row: tuple) -> None:
    assert tsv_line(row, len(row) - 1) == "\t".join(map(_tsv, row))

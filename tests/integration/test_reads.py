"""Read and write paths on leads_flow (leads_flow.reads), on MariaDB and SQLite.

Phones are generated (seed.random_mobile). Assertions that involve a phone never put it in a failure
message: they fail with a fixed text instead.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import pytest

from devkit.seed import SEED_COLUMNS, insert_legacy, legacy_rows, random_mobile
from leads_flow import reads, submit
from leads_flow.config import Settings
from leads_flow.io.db import Db
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.io.sql import render
from leads_flow.reads import Lead
from leads_flow.rules.crypto import PhoneCipher, UnknownKid
from leads_flow.rules.fields import LEGACY_COLUMNS, STAGE_COLUMNS
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.mapping import Mapper
from leads_flow.rules.phone import InvalidPhone, mask, normalize
from leads_flow.submit import LeadRejected
from leads_flow.tasks import sync as pipeline
from tests.helpers import fail_unless

ENC_ROOT = bytes(range(32))  # the keys of conftest.keyring_extra (the leads_pii connection)
BIDX_ROOT = bytes(range(32, 64))
BIDX_ROOT_2 = bytes(range(64, 96))
COLS = ", ".join(reads.LEAD_COLUMNS)


def _open_flow(dbs) -> Db:
    db = dbs.flow()
    ensure_flow_schema(db)
    return db


@pytest.fixture
def flow_any(any_dbs):
    db = _open_flow(any_dbs)
    yield db
    db.close()


@pytest.fixture
def flow_mysql(mysql_dbs):
    db = _open_flow(mysql_dbs)
    yield db
    db.close()


def legacy_lead(lead_id: int, phone: str | None, **over) -> dict:
    """A leads_aggr row as an online service holds it after writing it."""
    d = dict(
        id=lead_id,
        phone=phone,
        unionId=f"o{lead_id:016x}WX",
        window_url="https://m.example.cn/lp/7?ch=gdt",
        ip_address="58.16.1.2",
        user_agent="Mozilla/5.0 (test)",
        from_channel="gdt_feed",
        has_tool=1,
        is_group=0,
        join_time=datetime(2026, 11, 20, 9, 0),
        leads_type=0,
        main_business_id=3,
        create_time=datetime(2026, 11, 20, 9, 0, 5),
        update_time=None,
        is_deleted=0,
    )
    d.update(over)
    return d


def raw_row(db: Db, lead_id: int) -> tuple | None:
    cur = db.conn.cursor()
    try:
        cur.execute(f"SELECT {COLS} FROM leads_flow WHERE lead_id = {int(lead_id)}")
        return cur.fetchone()
    finally:
        cur.close()
        db.conn.commit()  # end the read snapshot (MySQL REPEATABLE READ) so the next read sees new commits


def ids(leads: list[Lead]) -> list[int]:
    return [lead.lead_id for lead in leads]


def two_phones(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    a = random_mobile(rng)
    b = random_mobile(rng)
    while b == a:
        b = random_mobile(rng)
    return a, b


# --- SQL contract ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dialect,clause", [("mysql", "ON DUPLICATE KEY UPDATE"), ("sqlite", "ON CONFLICT (lead_id) DO UPDATE SET")]
)
def test_upsert_one_uses_publish_rule_verbatim(dialect, clause):
    """The online write and the pipeline's publish apply the same newer-wins update clause."""
    pub = "\n".join(render(dialect, "publish", stage="leads_flow_stage_x"))
    one = "\n".join(render(dialect, "reads_upsert_one"))
    assert one[one.index(clause) :] == pub[pub.index(clause) :]
    assert (
        one[one.index("INSERT INTO") : one.index("VALUES (")] == pub[pub.index("INSERT INTO") : pub.index("SELECT\n")]
    )
    head = pub[pub.index("INSERT INTO leads_flow (") + 24 : pub.index(")")]
    assert [c.strip() for c in head.split(",")] == list(STAGE_COLUMNS)  # the order load_rows writes them in


# --- the Lead type ------------------------------------------------------------------------------------


def test_lead_repr_shows_the_mask_only(flow_any, cipher):
    phone, _ = two_phones(1)
    submit.submit_lead(flow_any, cipher, legacy_lead(11, f"+86 {phone}"))
    lead = reads.find_by_phone(flow_any, cipher, phone)[0]
    text = repr(lead) + str(lead)
    fail_unless(phone not in text and phone[3:] not in text, "repr exposes the phone")
    fail_unless(lead.phone_cipher not in text and str(lead.phone_bidx) not in text, "repr exposes token or index")
    fail_unless(lead.union_id not in text, "repr exposes the unionId")
    assert mask(normalize(phone)) in text
    fail_unless(lead.reveal_phone(cipher) == normalize(phone), "reveal_phone does not give the E.164 phone")
    assert lead.has_tool is True and lead.is_group is False and lead.is_deleted is False
    assert isinstance(lead.join_time, datetime) and isinstance(lead.source_updated_at, datetime)
    assert lead.leads_type == "normal" and lead.from_channel == "gdt_feed"
    no_phone = reads.find_by_union_id(flow_any, lead.union_id)[0]
    assert no_phone.lead_id == 11
    submit.submit_lead(flow_any, cipher, legacy_lead(12, None))
    assert reads.find_by_union_id(flow_any, f"o{12:016x}WX")[0].reveal_phone(cipher) is None


# --- find_by_phone ------------------------------------------------------------------------------------


def test_find_by_phone_matches_every_typed_shape(flow_any, cipher):
    a, b = two_phones(2)
    submit.submit_lead(flow_any, cipher, legacy_lead(1, a))
    submit.submit_lead(flow_any, cipher, legacy_lead(2, f"+86-{a[:3]}-{a[3:7]}-{a[7:]}"))
    submit.submit_lead(flow_any, cipher, legacy_lead(3, b))
    submit.submit_lead(flow_any, cipher, legacy_lead(4, f"0086{a}", is_deleted=1))
    for typed in (
        a,
        f" {a[:3]} {a[3:7]} {a[7:]} ",
        f"+86{a}",
        a.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ):
        assert ids(reads.find_by_phone(flow_any, cipher, typed)) == [1, 2]
    assert ids(reads.find_by_phone(flow_any, cipher, a, include_deleted=True)) == [1, 2, 4]
    assert ids(reads.find_by_phone(flow_any, cipher, b)) == [3]
    other = next(p for p in (random_mobile(random.Random(s)) for s in range(100, 200)) if p not in (a, b))
    assert reads.find_by_phone(flow_any, cipher, other) == []


@pytest.mark.parametrize("bad", ["", "   ", None, "12345", "abc", "1380013800"])
def test_find_by_phone_rejects_invalid_input(flow_any, cipher, bad):
    with pytest.raises(InvalidPhone):
        reads.find_by_phone(flow_any, cipher, bad)


def _flip_last_char(token: str) -> str:
    """Change the last base64url character to A or Q (low bits zero: still canonical), so only the tag fails."""
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "Q")


def _cipher(
    bidx_keys: dict[str, bytes], active_bidx: str, enc_keys: dict[str, bytes] | None = None, active_enc: str = "1"
) -> PhoneCipher:
    return PhoneCipher(Keyring(enc_keys or {"1": ENC_ROOT}, active_enc, bidx_keys, active_bidx))


def test_find_by_phone_across_a_bidx_rotation(flow_any):
    """Rows indexed under the old bidx kid are still found once the new kid is active."""
    phone, _ = two_phones(3)
    old = _cipher({"1": BIDX_ROOT}, "1")
    new = _cipher({"1": BIDX_ROOT, "2": BIDX_ROOT_2}, "2")
    submit.submit_lead(flow_any, old, legacy_lead(21, phone))
    submit.submit_lead(flow_any, new, legacy_lead(22, phone))
    kid, bidx = reads.LEAD_COLUMNS.index("phone_bidx_kid"), reads.LEAD_COLUMNS.index("phone_bidx")
    assert raw_row(flow_any, 21)[kid] == "1" and raw_row(flow_any, 22)[kid] == "2"
    assert raw_row(flow_any, 21)[bidx] != raw_row(flow_any, 22)[bidx]
    assert ids(reads.find_by_phone(flow_any, new, phone)) == [21, 22]
    # A reader that was not given the new kid yet misses the new rows: hence "readers first".
    assert ids(reads.find_by_phone(flow_any, old, phone)) == [21]


def test_find_by_phone_filters_bidx_collisions_and_bad_tokens(flow_any, cipher, caplog):
    """The index is not an identity: a candidate whose token is another phone (or unreadable) is dropped."""
    a, b = two_phones(4)
    ea, eb = normalize(a), normalize(b)
    submit.submit_lead(flow_any, cipher, legacy_lead(31, a))
    forged = [
        (32, cipher.encrypt(eb)),  # same index as a, token of b: a collision
        (33, _flip_last_char(cipher.encrypt(ea))),  # fails authentication
    ]
    flow_any.executemany(
        "insert_rows",
        [
            (
                lead_id,
                token,
                cipher.bidx(ea),
                "1",
                mask(ea),
                "gdt_feed",
                datetime(2026, 11, 20, 9),
                "normal",
                0,
                datetime(2026, 11, 20, 9),
            )
            for lead_id, token in forged
        ],
        table="leads_flow",
        columns="lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, "
        "from_channel, join_time, leads_type, is_deleted, source_updated_at",
        placeholders="?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
    )
    flow_any.conn.commit()
    with caplog.at_level(logging.WARNING, logger="leads_flow.reads"):
        assert ids(reads.find_by_phone(flow_any, cipher, a)) == [31]
    assert "lead 33" in caplog.text and "TamperedToken" in caplog.text
    fail_unless(a not in caplog.text and a[3:] not in caplog.text, "a log line holds the phone")
    assert ids(reads.find_by_phone(flow_any, cipher, b)) == []  # 32 is indexed as a, not as b

    # A token under an encryption kid this reader lacks is a keyring problem: loud, not a silent miss.
    writer = _cipher({"1": BIDX_ROOT}, "1", enc_keys={"1": ENC_ROOT, "9": bytes(range(96, 128))}, active_enc="9")
    submit.submit_lead(flow_any, writer, legacy_lead(34, a))
    with pytest.raises(UnknownKid):
        reads.find_by_phone(flow_any, cipher, a)
    assert ids(reads.find_by_phone(flow_any, writer, a)) == [31, 34]


# --- find_by_union_id ---------------------------------------------------------------------------------


def test_find_by_union_id(flow_any, cipher):
    a, b = two_phones(5)
    u = "oAbCdEf0123456789XyZ"
    submit.submit_lead(flow_any, cipher, legacy_lead(41, a, unionId=u))
    submit.submit_lead(flow_any, cipher, legacy_lead(42, None, unionId=f"  {u} "))  # stored trimmed
    submit.submit_lead(flow_any, cipher, legacy_lead(43, b, unionId=u.upper()))  # another user: case matters
    submit.submit_lead(flow_any, cipher, legacy_lead(44, b, unionId=u, is_deleted=1))
    assert ids(reads.find_by_union_id(flow_any, u)) == [41, 42]
    assert ids(reads.find_by_union_id(flow_any, f" {u}\t")) == [41, 42]
    assert ids(reads.find_by_union_id(flow_any, u, include_deleted=True)) == [41, 42, 44]
    assert ids(reads.find_by_union_id(flow_any, u.upper())) == [43]
    assert reads.find_by_union_id(flow_any, "oNobody") == []
    for bad in ("", "  ", None):
        with pytest.raises(ValueError):
            reads.find_by_union_id(flow_any, bad)


# --- select_by_channel --------------------------------------------------------------------------------


def test_select_by_channel_keyset_pages(flow_any, cipher):
    rng = random.Random(6)
    lo, hi = datetime(2026, 11, 20), datetime(2026, 11, 21)
    expected = []
    lead_ids = list(range(101, 131))
    rng.shuffle(lead_ids)
    for n, lead_id in enumerate(lead_ids):  # ties of three on join_time; lead_id order unrelated to time
        jt = lo + timedelta(minutes=10 * (n // 3))
        submit.submit_lead(flow_any, cipher, legacy_lead(lead_id, random_mobile(rng), join_time=jt))
        expected.append((jt, lead_id))
    extra = [
        legacy_lead(131, random_mobile(rng), from_channel="baidu_sem", join_time=lo + timedelta(hours=1)),
        legacy_lead(132, random_mobile(rng), join_time=hi),  # join_to is exclusive
        legacy_lead(
            133, random_mobile(rng), join_time=lo - timedelta(seconds=1), create_time=lo - timedelta(seconds=1)
        ),
        legacy_lead(134, random_mobile(rng), join_time=lo + timedelta(hours=2), is_deleted=1),
        legacy_lead(135, random_mobile(rng), join_time=lo, from_channel=" gdt_feed "),
    ]  # trimmed: in
    for d in extra:
        submit.submit_lead(flow_any, cipher, d)
    expected = [lid for _, lid in sorted(expected + [(lo, 135)])]

    got, after = [], None
    while True:  # the Java shape: only the last lead_id is carried between pages
        page = reads.select_by_channel(flow_any, "gdt_feed", lo, hi, 4, after)
        got += ids(page)
        if len(page) < 4:
            break
        after = page[-1].lead_id
    assert got == expected
    assert ids(reads.iter_by_channel(flow_any, "gdt_feed", lo, hi, page=7)) == expected
    assert ids(reads.iter_by_channel(flow_any, "gdt_feed", lo.date(), hi.date(), page=1000)) == expected
    with_deleted = ids(reads.iter_by_channel(flow_any, "gdt_feed", lo, hi, page=5, include_deleted=True))
    assert sorted(with_deleted) == sorted(expected + [134])
    assert ids(reads.select_by_channel(flow_any, "baidu_sem", lo, hi)) == [131]
    assert reads.select_by_channel(flow_any, "gdt_feed", hi, lo) == []
    for bad in (dict(limit=0), dict(limit=reads.MAX_PAGE + 1), dict(after_join_time=lo)):
        with pytest.raises(ValueError):
            reads.select_by_channel(flow_any, "gdt_feed", lo, hi, **bad)
    with pytest.raises(ValueError):
        reads.select_by_channel(flow_any, " ", lo, hi)
    with pytest.raises(ValueError):
        reads.select_by_channel(flow_any, "gdt_feed", lo, hi, 10, 999_999)  # unknown cursor lead


# --- submit_lead --------------------------------------------------------------------------------------


def test_submit_lead_is_idempotent_and_newer_wins(flow_any, cipher):
    phone, other = two_phones(7)
    t0 = datetime(2026, 11, 20, 9, 0, 5)
    submit.submit_lead(flow_any, cipher, legacy_lead(51, phone, create_time=t0))
    first = raw_row(flow_any, 51)
    submit.submit_lead(flow_any, cipher, legacy_lead(51, phone, create_time=t0))
    assert raw_row(flow_any, 51) == first  # same content, same time: not even the token is rewritten

    newer = legacy_lead(51, other, create_time=t0, update_time=t0 + timedelta(hours=1), from_channel="wx_mini")
    submit.submit_lead(flow_any, cipher, newer)
    second = raw_row(flow_any, 51)
    lead = reads.find_by_phone(flow_any, cipher, other)[0]
    assert lead.lead_id == 51 and lead.from_channel == "wx_mini" and lead.source_updated_at == newer["update_time"]
    assert reads.find_by_phone(flow_any, cipher, phone) == []

    # An older write (a late retry, a lagging writer) never overwrites a newer row.
    submit.submit_lead(
        flow_any,
        cipher,
        legacy_lead(51, phone, create_time=t0, update_time=t0 + timedelta(minutes=5), from_channel="offline"),
    )
    assert raw_row(flow_any, 51) == second

    # Same timestamp, other content: the content wins deterministically (publish.sql's tie rule).
    same_time = dict(newer, has_tool=0)
    submit.submit_lead(flow_any, cipher, same_time)
    assert reads.find_by_phone(flow_any, cipher, other)[0].has_tool is False

    # Soft delete propagates through a newer write.
    submit.submit_lead(flow_any, cipher, dict(newer, is_deleted=1, update_time=t0 + timedelta(hours=2)))
    assert reads.find_by_phone(flow_any, cipher, other) == []
    assert reads.find_by_phone(flow_any, cipher, other, include_deleted=True)[0].is_deleted is True


def test_submit_lead_rejects_like_the_pipeline(flow_any, cipher):
    phone, _ = two_phones(8)
    cases = [
        (legacy_lead(61, "12345"), ("phone_invalid",)),
        (legacy_lead(62, "  ", unionId=None), ("no_identity",)),
        (legacy_lead(63, phone, has_tool=2, leads_type=9), ("flag_invalid", "leads_type_unknown")),
        (legacy_lead(64, phone, join_time=datetime(2012, 5, 1)), ("join_time_out_of_range",)),
        (legacy_lead(65, phone, main_business_id=0), ("main_business_unknown",)),
        (legacy_lead(68, phone, unionId="o" + "x" * 64), ("union_id_invalid",)),  # longer than its column
    ]
    for lead, reasons in cases:
        with pytest.raises(LeadRejected) as err:
            submit.submit_lead(flow_any, cipher, lead)
        assert err.value.reasons == reasons and err.value.lead_id == lead["id"]
        fail_unless(phone not in str(err.value), "the rejection message holds the phone")
        assert raw_row(flow_any, lead["id"]) is None
    with pytest.raises(ValueError, match="not leads_aggr columns: telephone"):
        submit.submit_lead(flow_any, cipher, dict(legacy_lead(66, phone), telephone=phone))
    with pytest.raises(ValueError, match="create_time"):
        submit.submit_lead(flow_any, cipher, legacy_lead(67, phone, create_time=None))
    # Legacy-typed input as a service may hold it: text numbers, ISO text times, an aware time.
    submit.submit_lead(
        flow_any,
        cipher,
        legacy_lead(
            68,
            phone,
            has_tool="1",
            leads_type="1",
            sales_name="s1",
            join_time="2026-11-20T09:00:00",
            create_time=datetime.fromisoformat("2026-11-20T01:00:05+00:00"),
        ),
    )
    lead = reads.find_by_union_id(flow_any, f"o{68:016x}WX")[0]
    assert (lead.has_tool, lead.leads_type) == (True, "internal")
    assert lead.source_updated_at == datetime(2026, 11, 20, 9, 0, 5)


# --- EXPLAIN on MariaDB -------------------------------------------------------------------------------


def _populate(db: Db, n: int) -> None:
    start, end = datetime(2026, 10, 1), datetime(2026, 11, 1)
    cipher = _cipher({"1": BIDX_ROOT}, "1")
    mapper = Mapper(cipher, Settings(), end, "bulk", datetime.now())
    rows = [
        tuple([i + 1, *[dict(zip(SEED_COLUMNS, r))[c] for c in LEGACY_COLUMNS[1:]]])
        for i, r in enumerate(legacy_rows(n, start, end, seed=11, dirty=0.0))
    ]
    mapped = mapper.map_rows(rows)
    assert not mapped.rejects and len(mapped.staged) == n
    db.executemany(
        "insert_rows",
        mapped.staged,
        table="leads_flow",
        columns=", ".join(STAGE_COLUMNS),
        placeholders=", ".join("?" * len(STAGE_COLUMNS)),
    )
    db.conn.commit()
    cur = db.conn.cursor()
    cur.execute("ANALYZE TABLE leads_flow")
    cur.fetchall()
    cur.close()


def _explain(db: Db, name: str, params: dict) -> list[dict]:
    cur = db.conn.cursor()
    try:
        cur.execute("EXPLAIN " + db.sql(name, columns=COLS)[0], params)
        names = [d[0].lower() for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        cur.close()


@pytest.mark.mysql
def test_each_read_uses_its_index_on_mariadb(flow_mysql, cipher):
    _populate(flow_mysql, 4000)
    col = {c: i for i, c in enumerate(reads.LEAD_COLUMNS)}
    some = next(
        r
        for r in (raw_row(flow_mysql, i) for i in range(1, 200))
        if r[col["union_id"]] is not None and r[col["phone_bidx"]] is not None
    )
    kid, bidx, union_id = some[col["phone_bidx_kid"]], some[col["phone_bidx"]], some[col["union_id"]]
    channel, jt = some[col["from_channel"]], some[col["join_time"]]
    day = datetime.combine(jt.date(), datetime.min.time())
    plans = {
        "idx_phone_bidx": _explain(flow_mysql, "reads_by_phone_bidx", {"kid": kid, "bidx": bidx, "include_deleted": 0}),
        "idx_union_id": _explain(flow_mysql, "reads_by_union_id", {"union_id": union_id, "include_deleted": 0}),
        "idx_channel_join": _explain(
            flow_mysql,
            "reads_by_channel",
            {
                "from_channel": channel,
                "range_start": day,
                "join_to": day + timedelta(days=1),
                "after_join_time": day,
                "after_lead_id": -1,
                "include_deleted": 0,
                "page_size": 1000,
            },
        ),
    }
    plans["idx_channel_join (next page)"] = _explain(
        flow_mysql,
        "reads_by_channel",
        {
            "from_channel": channel,
            "range_start": jt,
            "join_to": day + timedelta(days=1),
            "after_join_time": jt,
            "after_lead_id": some[0],
            "include_deleted": 0,
            "page_size": 1000,
        },
    )
    for index, plan in plans.items():
        assert len(plan) == 1, plan
        assert plan[0]["key"] == index.split()[0], (index, plan)
        assert "filesort" not in (plan[0]["extra"] or "").lower(), (index, plan)
        assert int(plan[0]["rows"]) < 400, (index, plan)
    assert plans["idx_phone_bidx"][0]["type"] == "ref" and plans["idx_union_id"][0]["type"] == "ref"
    assert plans["idx_channel_join"][0]["type"] == "range"

    # And the paths answer on the populated table: every lead of that channel-day, in order, once.
    direct = flow_mysql.query(
        "reads_by_channel",
        {
            "from_channel": channel,
            "range_start": day,
            "join_to": day + timedelta(days=1),
            "after_join_time": day,
            "after_lead_id": -1,
            "include_deleted": 1,
            "page_size": 10_000,
        },
        columns=COLS,
    )
    paged = list(reads.iter_by_channel(flow_mysql, channel, day, day + timedelta(days=1), page=9, include_deleted=True))
    assert ids(paged) == [r[0] for r in direct] and len(paged) > 9
    keys = [(lead.join_time, lead.lead_id) for lead in paged]
    assert keys == sorted(keys)
    assert some[0] in ids(reads.find_by_union_id(flow_mysql, union_id))


# --- the two writers are indistinguishable ------------------------------------------------------------


def _import(run: str) -> None:
    parts = pipeline.plan({"start_date": "2026-11-20", "end_date": "2026-11-20"}, None, None)
    for p in parts:
        pipeline.publish(pipeline.gate(pipeline.stage(p, {}, "leads_flow_sync", run), {}), {})


def _legacy_as_stored(dbs, lead_id: int) -> dict:
    """The leads_aggr row read back, as a service holds it after its own insert."""
    db = dbs.legacy()
    try:
        cur = db.conn.cursor()
        cols = list(SEED_COLUMNS) + ["id"]
        cur.execute(f"SELECT {', '.join(cols)} FROM leads_aggr WHERE id = {int(lead_id)}")
        return dict(zip(cols, cur.fetchone()))
    finally:
        db.close()


def test_submitted_and_imported_leads_are_indistinguishable(any_dbs, flow_any, cipher):
    p, q = two_phones(10)
    created = datetime(2026, 11, 19, 22, 14, 3)
    dirty = [  # the shapes the rules clean: each lead goes through phone, URL, IP, UA, channel, flag and time rules
        (
            "+86-" + p[:3] + "-" + p[3:7] + "-" + p[7:],
            "  oU1nIoNiD0001WX ",
            f"https://m.example.cn/lp/3?tel={p}&ch=gdt ",
            " ::ffff:172.16.4.9, 10.0.0.1",
            "Mozilla/5.0 MicroMessenger/8.0.49  ",
            "gdt_feed ",
            None,
            1,
            None,
            0,
            12,
            "sales7",
            "f1",
            "ad99",
            "c5",
            created,
            datetime(2026, 11, 20, 15, 30, 0),
            0,
        ),
        (
            q.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            None,
            "https://m.example.cn/lp/4",
            "unknown",
            "UA",
            "baidu_sem",
            0,
            0,
            datetime(2026, 11, 20, 8, 1, 2),
            1,
            None,
            None,
            None,
            None,
            None,
            datetime(2026, 11, 20, 8, 1, 2),
            None,
            0,
        ),
    ]
    legacy = any_dbs.legacy()
    try:
        insert_legacy(legacy, dirty)
    finally:
        legacy.close()
    lead_ids = [1, 2]

    def read_all() -> list[Lead]:
        flow_any.conn.commit()
        a = reads.find_by_phone(flow_any, cipher, p) + reads.find_by_phone(flow_any, cipher, q)
        b = reads.find_by_union_id(flow_any, "oU1nIoNiD0001WX")
        c = list(reads.iter_by_channel(flow_any, "gdt_feed", datetime(2026, 11, 19), datetime(2026, 11, 21))) + list(
            reads.iter_by_channel(flow_any, "baidu_sem", datetime(2026, 11, 19), datetime(2026, 11, 21))
        )
        assert ids(a) == lead_ids and ids(b) == [1] and ids(c) == lead_ids
        assert a == c and a[0] == b[0]
        return a

    _import("manual__t1")
    imported = read_all()
    imported_rows = [raw_row(flow_any, i) for i in lead_ids]
    assert {r[reads.LEAD_COLUMNS.index("etl_run_id")] for r in imported_rows} == {"manual__t1@2026-11-20T00:00"}

    cur = flow_any.conn.cursor()
    cur.execute("DELETE FROM leads_flow")
    flow_any.conn.commit()
    cur.close()
    for lead_id in lead_ids:
        submit.submit_lead(flow_any, cipher, _legacy_as_stored(any_dbs, lead_id))
    submitted = read_all()
    submitted_rows = [raw_row(flow_any, i) for i in lead_ids]

    assert submitted == imported  # every compared field, content_hash included
    skip = {reads.LEAD_COLUMNS.index(c) for c in ("phone_cipher", "etl_run_id", "etl_loaded_at")}
    for s_row, i_row in zip(submitted_rows, imported_rows):
        assert [v for k, v in enumerate(s_row) if k not in skip] == [v for k, v in enumerate(i_row) if k not in skip]
    for s, i in zip(submitted, imported):
        fail_unless(s.reveal_phone(cipher) == i.reveal_phone(cipher), "the tokens decrypt to different phones")
    assert submitted[0].window_url == f"https://m.example.cn/lp/3?tel={mask(normalize(p))}&ch=gdt"
    assert (submitted[0].ip_address, submitted[0].has_tool, submitted[0].join_time) == ("172.16.4.9", None, created)
    assert submitted[1].union_id is None and submitted[1].leads_type == "internal"

    # Converged: the DAG re-importing what a service wrote changes nothing, and vice versa.
    _import("manual__t2")
    assert [raw_row(flow_any, i) for i in lead_ids] == submitted_rows
    cur = flow_any.conn.cursor()
    cur.execute("DELETE FROM leads_flow")
    flow_any.conn.commit()
    cur.close()
    _import("manual__t3")
    reimported = [raw_row(flow_any, i) for i in lead_ids]
    for lead_id in lead_ids:
        submit.submit_lead(flow_any, cipher, _legacy_as_stored(any_dbs, lead_id))
    assert [raw_row(flow_any, i) for i in lead_ids] == reimported


def test_submit_lead_never_writes_an_erased_lead(flow_any, cipher):
    from leads_flow.lifecycle.erase import erase_leads

    phone, other = two_phones(12)
    t0 = datetime(2026, 11, 20, 9, 0, 5)
    assert submit.submit_lead(flow_any, cipher, legacy_lead(91, phone, create_time=t0)) == submit.SUBMIT_WRITTEN
    erase_leads(flow_any, [91, 92], "test:reads")
    tombstone = raw_row(flow_any, 91)
    # a newer write of the erased lead (the legacy row still exists) is not applied, nor a first write
    newer = legacy_lead(91, other, create_time=t0, update_time=t0 + timedelta(hours=1))
    assert submit.submit_lead(flow_any, cipher, newer) == submit.SUBMIT_ERASED
    assert submit.submit_lead(flow_any, cipher, legacy_lead(92, phone), commit=False) == submit.SUBMIT_ERASED
    flow_any.conn.commit()
    assert raw_row(flow_any, 91) == tombstone and raw_row(flow_any, 92) is None
    fail_unless(reads.find_by_phone(flow_any, cipher, other, include_deleted=True) == [], "erased lead written")
    assert submit.submit_lead(flow_any, cipher, legacy_lead(93, other)) == submit.SUBMIT_WRITTEN


def test_an_erasure_between_the_check_and_the_write_is_not_overwritten(flow_mysql, cipher):
    """The race of submit_lead against leads_flow_erase on MariaDB: the erasure commits after the online
    write checked leads_flow_erasure and before it upserts. The check is a locking read, so the erasure waits
    (or one of the two is chosen as a deadlock victim and retried): the lead ends as a tombstone either way."""
    import threading

    import MySQLdb

    from leads_flow.io.connect import connect
    from leads_flow.lifecycle.erase import erase_leads

    phone, other = two_phones(31)
    t0 = datetime(2026, 11, 20, 9, 0, 5)
    assert submit.submit_lead(flow_mysql, cipher, legacy_lead(95, phone, create_time=t0)) == submit.SUBMIT_WRITTEN
    newer = legacy_lead(95, other, create_time=t0, update_time=t0 + timedelta(hours=1))
    eraser = connect("leads_flow")
    done = threading.Event()
    failure: list[str] = []

    def erase() -> None:
        try:
            erase_leads(eraser, [95], "test:race")
            done.set()
        except Exception as exc:  # reported below by type and code only
            failure.append(f"{type(exc).__name__} {getattr(exc, 'args', ('',))[:1]}")

    thread = threading.Thread(target=erase)
    real_run = flow_mysql.run

    def run_with_erasure_in_between(name, params=None, **idents):
        if name == "reads_upsert_one" and not thread.is_alive() and not done.is_set():
            thread.start()  # the check has run; the erasure starts before the upsert
            done.wait(1.0)  # without the locking read it commits here
        return real_run(name, params, **idents)

    flow_mysql.run = run_with_erasure_in_between
    try:
        try:
            outcome = submit.submit_lead(flow_mysql, cipher, newer)
        except MySQLdb.OperationalError as exc:  # chosen as the deadlock victim: the service retries
            assert exc.args[0] == 1213, f"unexpected error {exc.args[0]}"
            flow_mysql.run = real_run
            outcome = submit.submit_lead(flow_mysql, cipher, newer)
        thread.join(60)
    finally:
        flow_mysql.run = real_run
        eraser.close()
    assert not failure, f"the erasure failed: {failure}"
    assert done.is_set() and outcome in (submit.SUBMIT_WRITTEN, submit.SUBMIT_ERASED), outcome
    row = dict(zip(reads.LEAD_COLUMNS, raw_row(flow_mysql, 95)))
    assert row["is_deleted"] == 1
    assert [row[c] for c in ("phone_cipher", "phone_bidx", "phone_masked", "union_id", "ip_address")] == [None] * 5
    fail_unless(reads.find_by_phone(flow_mysql, cipher, other, include_deleted=True) == [], "erased lead written")

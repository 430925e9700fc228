"""Generated legacy leads with every dirty-data shape the field rules handle (demo, tests, benchmark).

Phones are random mainland mobiles drawn from a seeded generator, never real data.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import TypeVar

from leads_flow.io.db import Db

T = TypeVar("T")

SEED_COLUMNS = (
    "phone",
    "unionId",
    "window_url",
    "ip_address",
    "user_agent",
    "from_channel",
    "has_tool",
    "is_group",
    "join_time",
    "leads_type",
    "main_business_id",
    "sales_name",
    "follow_id",
    "ad_id",
    "campaign_id",
    "create_time",
    "update_time",
    "is_deleted",
)

_FW = str.maketrans("0123456789", "０１２３４５６７８９")
_PREFIXES = (
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)
_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 MicroMessenger/8.0.49",
    "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
)
_CHANNELS = ("baidu_sem", "toutiao_feed", "gdt_feed", "wx_mini", "douyin_live", "offline")


def random_mobile(rng: random.Random) -> str:
    return rng.choice(_PREFIXES) + f"{rng.randrange(10**8):08d}"


def phone_shapes(rng: random.Random, p: str) -> str:
    """One mobile number written the ways users really type it."""
    return rng.choice(
        (
            p,
            p,
            p,
            f"{p[:3]} {p[3:7]} {p[7:]}",
            f"+86{p}",
            f"+86-{p[:3]}-{p[3:7]}-{p[7:]}",
            f"0086{p}",
            f"86{p}",
            p.translate(_FW),
            f" {p} ",
            f"({p[:3]}) {p[3:7]}-{p[7:]}",
        )
    )


def legacy_rows(n: int, start: datetime, end: datetime, seed: int = 7, dirty: float = 0.03) -> Iterator[tuple]:
    """``n`` legacy rows (in SEED_COLUMNS order) whose source_updated_at spreads over [start, end).

    About ``dirty`` of them carry a shape that the rules reject; others carry shapes they coerce.
    """
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    for _ in range(n):
        ts = start + timedelta(seconds=int(rng.random() * span))
        p = random_mobile(rng)
        phone: str | None = phone_shapes(rng, p)
        union = f"o{rng.getrandbits(64):016x}WX" if rng.random() < 0.5 else None
        url = f"https://m.example.cn/lp/{rng.randrange(1000)}?ch={rng.choice(_CHANNELS)}"
        if rng.random() < 0.05:
            url += f"&tel={p}"
        ip = (
            rng.choice(
                (
                    f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "unknown",
                    f" 10.{rng.randrange(256)}.0.{rng.randrange(1, 255)} ",
                    f"::ffff:172.16.{rng.randrange(256)}.9",
                    f"58.{rng.randrange(256)}.1.2, 10.0.0.1",
                    "2408:8207:1851:3aa0::1",
                    None,
                )
            )
            if rng.random() < 0.4
            else f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )
        ua = rng.choice(_UAS) + ("  " if rng.random() < 0.1 else "")
        join = ts - timedelta(minutes=rng.randrange(0, 600)) if rng.random() > 0.05 else None
        has_tool, is_group = rng.choice((0, 1, None)), rng.choice((0, 1))
        leads_type = 1 if rng.random() < 0.1 else 0
        business = rng.randrange(1, 40)
        create = ts - timedelta(days=rng.randrange(0, 30)) if rng.random() < 0.7 else ts
        update: datetime | None = ts if create != ts else None
        if rng.random() < dirty:  # one reject-worthy defect
            kind = rng.randrange(7)
            if kind == 0:
                phone = rng.choice(("12345", "abc", "1380013800", "400-800-8000", "99999999999"))
            elif kind == 1:
                phone, union = rng.choice(("", None, "   ")), None
            elif kind == 2:
                has_tool = rng.choice((2, -1, 9))
            elif kind == 3:
                join = datetime(2012, 5, 1)
            elif kind == 4:
                leads_type = rng.choice((2, 7, None))
            elif kind == 5:
                business = rng.choice((0, -3))
            else:
                join = end + timedelta(days=30)
        elif rng.random() < 0.03:
            phone = None  # fine: the unionId identifies the lead
            union = union or f"o{rng.getrandbits(64):016x}WX"
        yield (
            phone,
            union,
            url,
            ip,
            ua,
            rng.choice(_CHANNELS) + (" " if rng.random() < 0.05 else ""),
            has_tool,
            is_group,
            join,
            leads_type,
            business,
            f"sales{rng.randrange(50)}",
            None,
            f"ad{rng.randrange(10**6)}",
            None,
            create,
            update,
            1 if rng.random() < 0.02 else 0,
        )


def insert_legacy(db: Db, rows: Iterable[tuple], batch: int = 5000) -> int:
    """Insert generated rows into leads_aggr (test and demo databases only)."""
    n = 0
    for chunk in batched(rows, batch):
        db.executemany(
            "insert_rows",
            chunk,
            table="leads_aggr",
            columns=", ".join(SEED_COLUMNS),
            placeholders=", ".join("?" * len(SEED_COLUMNS)),
        )
        n += len(chunk)
    db.conn.commit()
    return n


def batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk

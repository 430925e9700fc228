"""Micro-benchmark (not a test): µs per row for normalise, encrypt, index and the whole row, and µs per text value
for the phone-in-text detector (the mapping runs it over every text column of every row).

    .venv/bin/python benchmarks/bench_phone.py [rows]

Synthetic phones in the shapes seen in lead data; in-memory random keys.
``mask_phones_in_text`` is per text value. The last line, ``phone_us_per_row=<x>``, is normalize + protect (token, bidx, mask).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.phone import InvalidPhone, mask_phones_in_text, normalize  # noqa: E402

PREFIXES = [f"13{d}" for d in range(10)] + ["150", "151", "152", "155", "158", "159", "166", "177", "186", "188", "199"]
FW = {ord(c): 0xFF10 + int(c) for c in "0123456789"}


def synthetic_rows(n: int, seed: int = 7) -> list[str]:
    """Mostly fast-path shapes, plus ~4% that need phonenumbers and ~1% invalid."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        nsn = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
        r = rng.random()
        if r < 0.55:
            raw = nsn
        elif r < 0.70:
            raw = f"{nsn[:3]} {nsn[3:7]} {nsn[7:]}"
        elif r < 0.80:
            raw = f"+86 {nsn}"
        elif r < 0.86:
            raw = f"86-{nsn[:3]}-{nsn[3:7]}-{nsn[7:]}"
        elif r < 0.90:
            raw = f"0086{nsn}"
        elif r < 0.95:
            raw = nsn.translate(FW)
        elif r < 0.99:
            raw = f"17951{nsn}"  # carrier-selection prefix: phonenumbers path
        else:
            raw = nsn[:-1]  # invalid
        rows.append(raw)
    return rows


def synthetic_texts(n: int, seed: int = 11) -> list[str]:
    """Text columns as they come: user agents, landing URLs (escapes), channels, Chinese text, ~3% with a phone."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        nsn = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
        chrome = f"{rng.randrange(100, 150)}.0.{rng.randrange(4000, 9000)}.{rng.randrange(300)}"
        r = rng.random()
        if r < 0.40:
            text = (
                f"Mozilla/5.0 (Linux; Android {rng.randrange(9, 16)}; V2309A Build/UP1A.{rng.randrange(220101, 251231)}"
                f".{rng.randrange(1000):03d}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome} Mobile Safari/537.36"
            )
        elif r < 0.70:
            text = (
                f"https://m.example.cn/lp/spring?utm_campaign=%E6%98%A5%E5%AD%A3{rng.randrange(2015, 2035)}"
                f"&ts={rng.randrange(1_600_000_000_000, 1_900_000_000_000)}&ip=10.{rng.randrange(256)}.1.2"
            )
        elif r < 0.85:
            text = rng.choice(["wx_mini", "baidu_sem", "douyin-feed", "offline"])
        elif r < 0.97:
            text = (
                f"来自微信群二〇二六年十二月{rng.choice('一二三四五六七八九')}日 三百五十元 五号楼 👨\u200d👩\u200d👧"
            )
        else:
            text = rng.choice([f"tel={nsn}", f"call {nsn[:3]} {nsn[3:7]} {nsn[7:]}", "微信" + nsn.translate(FW)])
        out.append(text)
    return out


def timed(label: str, fn: Callable[[str], object], rows: Sequence[str]) -> float:
    start = time.perf_counter()
    for raw in rows:
        try:
            fn(raw)
        except InvalidPhone:
            pass
    us = (time.perf_counter() - start) / len(rows) * 1e6
    print(f"{label:<22} {us:7.2f} µs/row")
    return us


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rows = synthetic_rows(n)
    cipher = PhoneCipher(Keyring({"1": os.urandom(32)}, "1", {"1": os.urandom(32)}, "1"))
    e164s = []
    for raw in rows:
        try:
            e164s.append(normalize(raw))
        except InvalidPhone:
            pass
    print(f"rows={n} valid={len(e164s)}")
    timed("normalize", normalize, rows)
    timed("encrypt", cipher.encrypt, e164s)
    timed("bidx", cipher.bidx, e164s)
    timed("protect", cipher.protect, e164s)
    timed("mask_phones_in_text", mask_phones_in_text, synthetic_texts(n))
    total = timed("normalize+protect", lambda raw: cipher.protect(normalize(raw)), rows)
    print(f"phone_us_per_row={total:.2f}")


if __name__ == "__main__":
    main()

"""Hypothesis strategies for "a phone in text": generated mobiles in every spelling the definition covers
(docs/phone-protection.md), embedded in realistic text, and realistic text that holds no phone.

Shared by the mapping's tests (tests/unit) and the gate's (tests/integration). Nothing here imports the
product's detector: the tests' oracle is the phone the strategy put in, not the product's opinion of it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC

from hypothesis import assume
from hypothesis import strategies as st

MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "145",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "162",
    "165",
    "166",
    "167",
    "170",
    "171",
    "172",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "196",
    "197",
    "198",
    "199",
]
FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
ARABIC_INDIC = {str(d): chr(0x0660 + d) for d in range(10)}
SEPARATORS = (" ", "-", "_", ".", "/", "(", ")", "+", "\u3000", "\uff0d", "\u2014", "%20", "%2D", "%5F", "%2E", "%2F")
COUNTRY = ("", "86", "+86", "0086", "+86 ", "+86-", "(+86) ", "0086 ", "86-", "%2B86", "\uff0b\uff18\uff16", "0")


@dataclass(frozen=True)
class Spelled:
    nsn: str  # the national number, 11 ASCII digits
    text: str  # how it is written

    @property
    def mask(self) -> str:
        return self.nsn[:3] + "****" + self.nsn[-4:]


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(MOBILE_PREFIXES)) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=8, max_size=8))
    )


@st.composite
def groupings(draw: st.DrawFn) -> list[int]:
    """How the 11 national digits are split: one run, runs of 2+ digits, or digit by digit."""
    kind = draw(st.sampled_from(["whole", "runs", "runs", "common", "single"]))
    if kind == "whole":
        return [11]
    if kind == "common":
        return draw(st.sampled_from([[3, 4, 4], [3, 8], [3, 3, 5], [4, 3, 4], [7, 4]]))
    if kind == "single":
        return [1] * 11
    parts, left = [], 11
    while left:
        n = left if left <= 3 else draw(st.integers(2, min(left - 2, 6)))
        parts.append(n)
        left -= n
    return parts


@st.composite
def spelled_mobiles(draw: st.DrawFn, *, exotic_digits: bool = True, url: bool = True) -> Spelled:
    """A generated mobile in any spelling: prefix, grouping, separator runs, digit widths, escapes."""
    nsn = draw(mobiles())
    digit_forms = ["ascii", "full"] + (["arabic"] if exotic_digits else []) + (["pct"] if url else [])
    form = draw(st.sampled_from(digit_forms))
    seps = [s for s in SEPARATORS if url or not s.startswith("%")]

    def digit(d: str) -> str:
        if form == "full":
            return FULL_WIDTH[d]
        if form == "arabic":
            return ARABIC_INDIC[d]
        if form == "pct" and draw(st.booleans()):
            return "%3" + d
        return d

    country = draw(st.sampled_from([c for c in COUNTRY if url or "%" not in c]))
    out = [country]
    i = 0
    sizes = draw(groupings())
    # Written digit by digit, one separator throughout: with mixed ones, four single dots could spell an
    # IPv4 address (1 3 0 0 0 0 0 0.0.0.0), which the definition reads as an address.
    same = "".join(draw(st.lists(st.sampled_from(seps), min_size=1, max_size=3))) if len(sizes) == 11 else None
    gaps = [same or "".join(draw(st.lists(st.sampled_from(seps), min_size=1, max_size=3))) for _ in sizes[1:]]
    _leave_no_dotted_quad(gaps)
    for n, size in enumerate(sizes):
        if n:
            out.append(gaps[n - 1])
        out.append("".join(digit(d) for d in nsn[i : i + size]))
        i += size
    return Spelled(nsn, "".join(out))


def _leave_no_dotted_quad(gaps: list[str]) -> None:
    """Four groups joined by exactly three single dots could spell an IPv4 address (138.123.245.78, or
    13.10.100.10 followed by ' 00'), the definition's one documented blind spot: break the last dot of each."""
    dot = [g in (".", "%2E") for g in gaps]
    for k in range(2, len(gaps)):
        if (
            dot[k - 2]
            and dot[k - 1]
            and dot[k]
            and not (k > 2 and dot[k - 3])
            and not (k + 1 < len(gaps) and dot[k + 1])
        ):
            gaps[k], dot[k] = "-", False


_LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=0, max_size=4)
TEMPLATES = {
    "window_url": [
        "https://m.example.cn/lp/spring?tel={}&utm_source=wechat",
        "https://h.example.com/p/{}",
        "https://m.example.cn/landing?utm_campaign=%E6%98%A5%E5%AD%A3&mobile={}#form",
    ],
    "user_agent": [
        "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 Chrome/138.0.7204.183 Mobile Safari/537.36 tel:{}",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) {} "
        "MicroMessenger/8.0.47.2560(0x28002F37) NetType/WIFI",
    ],
    "from_channel": ["wx{}", "{}", "call {} now"],
    "union_id": ["{}", "oU{}", "o-{}-x"],
}


@st.composite
def text_with_mobile(draw: st.DrawFn, column: str, **kw: bool) -> tuple[Spelled, str]:
    """(the phone, a realistic value of ``column`` holding it, letters glued to it on either side)."""
    phone = draw(spelled_mobiles(url=column == "window_url", **kw))
    glued = draw(_LETTERS) + phone.text + draw(_LETTERS)
    return phone, draw(st.sampled_from(TEMPLATES[column])).format(glued)


# --- text that holds no phone -----------------------------------------------------------------------
def _v(draw: st.DrawFn, lo: int, hi: int) -> int:
    return draw(st.integers(lo, hi))


@st.composite
def browser_user_agents(draw: st.DrawFn) -> str:
    """User agents of current browsers and in-app browsers, with version numbers drawn in their real ranges."""
    chrome = f"{_v(draw, 100, 150)}.0.{_v(draw, 4000, 8999)}.{_v(draw, 0, 300)}"
    webkit = draw(st.sampled_from(["537.36", "605.1.15", "604.1"]))
    os_part = draw(
        st.sampled_from(
            [
                "Windows NT 10.0; Win64; x64",
                f"Macintosh; Intel Mac OS X 10_15_{_v(draw, 0, 7)}",
                f"Linux; Android {_v(draw, 9, 16)}; {draw(st.sampled_from(['SM-S9180', 'V2309A', 'PJZ110', 'M2012K11AC']))} "
                f"Build/{draw(st.sampled_from(['UP1A', 'TP1A', 'AP3A']))}.{_v(draw, 220101, 251231)}.{_v(draw, 0, 999):03d}",
                f"iPhone; CPU iPhone OS {_v(draw, 15, 18)}_{_v(draw, 0, 7)}_{_v(draw, 0, 3)} like Mac OS X",
                "X11; Linux x86_64",
            ]
        )
    )
    tail = draw(
        st.sampled_from(
            [
                f"Chrome/{chrome} Safari/{webkit}",
                f"Chrome/{chrome} Mobile Safari/{webkit}",
                f"Chrome/{chrome} Safari/{webkit} Edg/{_v(draw, 100, 150)}.0.{_v(draw, 1000, 3999)}.{_v(draw, 0, 199)}",
                f"Chrome/{chrome} Safari/{webkit} OPR/{_v(draw, 90, 125)}.0.{_v(draw, 0, 9)}.{_v(draw, 0, 99)}",
                f"Gecko/20100101 Firefox/{_v(draw, 115, 150)}.0",
                f"Version/{_v(draw, 15, 18)}.{_v(draw, 0, 6)} Mobile/15E148 Safari/{webkit}",
                f"CriOS/{chrome} Mobile/15E148 Safari/{webkit}",
                f"FxiOS/{_v(draw, 120, 150)}.{_v(draw, 0, 3)} Mobile/15E148 Safari/{webkit}",
                f"SamsungBrowser/{_v(draw, 20, 29)}.0 Chrome/{chrome} Mobile Safari/{webkit}",
                f"UCBrowser/{_v(draw, 13, 17)}.{_v(draw, 0, 9)}.{_v(draw, 0, 9)}.{_v(draw, 1000, 1399)} Mobile Safari/{webkit}",
                f"MQQBrowser/{_v(draw, 10, 15)}.{_v(draw, 0, 9)} Mobile Safari/{webkit}",
                f"MicroMessenger/8.0.{_v(draw, 40, 60)}.{_v(draw, 2000, 2899)}(0x{_v(draw, 0x28000000, 0x28FFFFFF):08X}) "
                "NetType/WIFI Language/zh_CN",
                f"baiduboxapp/{_v(draw, 13, 15)}.{_v(draw, 0, 60)}.0.{_v(draw, 10, 99)}",
                f"HuaweiBrowser/{_v(draw, 14, 16)}.0.{_v(draw, 0, 9)}.{_v(draw, 100, 399)} Mobile Safari/{webkit}",
                f"Quark/{_v(draw, 6, 8)}.{_v(draw, 0, 9)}.{_v(draw, 0, 9)}.{_v(draw, 100, 999)} Mobile Safari/{webkit}",
                f"YaBrowser/{_v(draw, 23, 25)}.{_v(draw, 1, 12)}.0.0 Safari/{webkit}",
                f"aweme_{_v(draw, 300000, 339999)} JsSdk/2.0 NetType/WIFI Channel/huawei_{_v(draw, 1000, 1999)}_64 "
                f"app_version/{_v(draw, 30, 35)}.{_v(draw, 0, 9)}.0",
            ]
        )
    )
    return f"Mozilla/5.0 ({os_part}) AppleWebKit/{webkit} (KHTML, like Gecko) {tail}"


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    from datetime import datetime

    dt = draw(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 12, 31)))
    return draw(
        st.sampled_from(
            [
                str(int(dt.replace(tzinfo=UTC).timestamp())),
                str(int(dt.replace(tzinfo=UTC).timestamp() * 1000)),
                dt.isoformat(),
                dt.strftime("%Y-%m-%d %H:%M:%S"),
                dt.strftime("%Y%m%d%H%M%S"),
                dt.strftime("%Y/%m/%d"),
                dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
                dt.strftime("%Y.%m.%d %H.%M"),
            ]
        )
    )


@st.composite
def order_ids(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(
            [
                str(draw(st.integers(10**15, 10**20 - 1))),
                "ORD" + str(draw(st.integers(10**15, 10**19))),
                f"{draw(timestamps())}{draw(st.integers(0, 999999)):06d}",
            ]
        )
    )


@st.composite
def union_ids(draw: st.DrawFn) -> str:
    """WeChat-style unionIds: 'o' and 27 base64url characters of random bytes."""
    raw = draw(st.integers(0, 2**168 - 1)).to_bytes(21, "big")
    return "o" + base64.urlsafe_b64encode(raw).decode()[:27]


@st.composite
def ipv4s(draw: st.DrawFn) -> str:
    ips = draw(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=3))
    return draw(st.sampled_from([", ", " ", ","])).join(ips)


@st.composite
def non_phone_text(draw: st.DrawFn) -> tuple[str, str]:
    """(column, value): text of the shapes seen in lead data that holds no phone."""
    column = draw(st.sampled_from(["window_url", "user_agent", "from_channel", "union_id"]))
    if column == "union_id":
        return column, draw(union_ids())
    if column == "user_agent":
        return column, draw(browser_user_agents())
    piece = draw(st.one_of(timestamps(), order_ids(), ipv4s(), union_ids()))
    if column == "from_channel":
        value = draw(st.sampled_from(["wx_", "baidu_sem_", "douyin-", ""])) + piece[:40]
    else:
        ts = draw(timestamps())
        value = (
            f"https://m.example.cn/lp?order={piece}&ts={ts}&ip={draw(ipv4s())}"
            f"&utm_campaign=%E6%98%A5%E5%AD%A3{draw(st.integers(2015, 2035))}"
        )
    # a timestamp glued to digits can spell one ("...00.013000" + "000000" is 0 + 130 0000 0000): not this shape
    assume(not has_plain_mobile_run(value))
    return column, value


_PLAIN_MOBILE_RUN = re.compile(r"(?<![0-9])(?:|0|86|0086)1[3-9][0-9]{9}(?![0-9])")


def has_plain_mobile_run(text: str) -> bool:
    """The test's own reading of the definition for unseparated digits: a maximal run of ASCII digits that is a
    mobile (11 digits from 13-19) behind nothing, a trunk 0, 86 or 0086; percent escapes are not digits here."""
    return bool(_PLAIN_MOBILE_RUN.search(re.sub(r"%[0-9A-Fa-f]{2}", "#", text)))


def digits_only(text: str) -> str:
    """The test's own digit projection: NFKC, percent escapes of digits decoded, every non-digit dropped."""
    import unicodedata

    text = re.sub(r"%3([0-9])", r"\1", text, flags=re.I)
    text = re.sub(r"%EF%BC%9([0-9])", r"\1", text, flags=re.I)
    text = re.sub(r"%[0-9A-Fa-f]{2}", "#", text)
    return "".join(str(int(c)) for c in unicodedata.normalize("NFKC", text) if c.isdecimal())

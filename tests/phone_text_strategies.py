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
MATH_BOLD = {str(d): chr(0x1D7CE + d) for d in range(10)}  # 𝟎-𝟗, decimal digits of another block
CHINESE = {
    "0": "零〇",
    "1": "一",
    "2": "二",
    "3": "三",
    "4": "四",
    "5": "五",
    "6": "六",
    "7": "七",
    "8": "八",
    "9": "九",
}
SPOKEN = {"1": "幺", "2": "两"}  # only where the whole national number is spelled in Chinese numerals
# digit signs (Unicode No with a digit value): circled, parenthesised, full stop, dingbats, double circled, superscript
SIGNS = {
    str(d): [chr(c) for c in (0x245F + d, 0x2473 + d, 0x2487 + d, 0x2775 + d, 0x277F + d, 0x2789 + d, 0x24F4 + d)]
    for d in range(1, 10)
} | {"0": ["\u24ea", "\u24ff", "\u2070", "\u2080"]}
SIGNS["1"].append("\u00b9")
SIGNS["2"].append("\u00b2")
KEYCAP = ("\ufe0f\u20e3", "\u20e3")  # 1️⃣ and the bare keycap 1⃣
# invisible characters (Unicode Cf) as seen in pasted text, and in URLs as percent-encoded UTF-8
INVISIBLES = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", "\u200f", "\u2061", "\u180e")
INVISIBLE_ESCAPES = ("%E2%80%8B", "%e2%80%8c", "%E2%81%A0", "%C2%AD", "%EF%BB%BF")
SPACES = tuple(chr(c) for c in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000))  # Zs but " "
MIDDLE_DOTS = ("\u00b7", "\u30fb", "\u2027", "\u2022", "\uff65")
SEPARATORS = (
    (" ", "-", "_", ".", "/", "(", ")", "+", "\uff0d", "\u2014")
    + SPACES
    + MIDDLE_DOTS
    + ("%20", "%2D", "%5F", "%2E", "%2F", "%E3%80%80", "%C2%A0", "%E2%80%89", "%C2%B7", "%E3%83%BB")
)
COUNTRY = ("", "86", "+86", "0086", "+86 ", "+86-", "(+86) ", "0086 ", "86-", "%2B86", "\uff0b\uff18\uff16", "0")
CHINESE_COUNTRY = ("八六", "+八六 ", "零零八六", "〇〇八六-", "零")


@dataclass(frozen=True)
class Spelled:
    nsn: str  # the national number, 11 ASCII digits
    text: str  # how it is written
    form: str = "ascii"  # how its digits are written

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


# Digit forms. The gate's SQL folds all but the decimal digits of other scripts (Arabic-Indic, mathematical) and
# percent-encoded digit signs: those are the mapping's alone (exotic_digits).
FORMS = ("ascii", "full", "pct", "chinese", "spoken", "signs", "keycap", "mixed")
EXOTIC_FORMS = ("arabic", "math")


def _pct(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode())


@st.composite
def spelled_mobiles(draw: st.DrawFn, *, exotic_digits: bool = True, url: bool = True) -> Spelled:
    """A generated mobile in any spelling: prefix, grouping, separator runs, digit forms, escapes, invisibles."""
    nsn = draw(mobiles())
    forms = [f for f in FORMS if url or f != "pct"] + (list(EXOTIC_FORMS) if exotic_digits else [])
    form = draw(st.sampled_from(forms))
    seps = [s for s in SEPARATORS if url or not s.startswith("%")]
    invisibles = INVISIBLES + (INVISIBLE_ESCAPES if url else ())

    def digit(d: str, k: int) -> str:
        f = form if form != "mixed" else draw(st.sampled_from(["ascii", "full", "chinese", "signs"]))
        if f == "full":
            return FULL_WIDTH[d]
        if f == "arabic":
            return ARABIC_INDIC[d]
        if f == "math":
            return MATH_BOLD[d]
        if f in ("chinese", "spoken"):
            if f == "spoken" and d in SPOKEN and (k == 0 or draw(st.booleans())):
                c = SPOKEN[d]
            else:
                c = draw(st.sampled_from(CHINESE[d]))
            return _pct(c) if url and draw(st.integers(0, 4)) == 0 else c
        if f == "signs":
            return draw(st.sampled_from(SIGNS[d]))
        if f == "keycap":
            return d + draw(st.sampled_from(KEYCAP))
        if f == "pct" and draw(st.booleans()):
            return "%3" + d
        return d

    countries = [c for c in COUNTRY if url or "%" not in c]
    if form in ("chinese", "spoken"):
        countries += CHINESE_COUNTRY
    country = draw(st.sampled_from(countries))
    sizes = draw(groupings())
    # Written digit by digit, one separator throughout: with mixed ones, four single dots could spell an
    # IPv4 address (1 3 0 0 0 0 0 0.0.0.0), which the definition reads as an address.
    same = "".join(draw(st.lists(st.sampled_from(seps), min_size=1, max_size=3))) if len(sizes) == 11 else None
    gaps = [same or "".join(draw(st.lists(st.sampled_from(seps), min_size=1, max_size=3))) for _ in sizes[1:]]
    _leave_no_dotted_quad(gaps)
    tokens: list[str] = []  # the national number, token by token: invisibles may stand between any two
    i = 0
    for n, size in enumerate(sizes):
        if n:
            tokens.append(gaps[n - 1])
        tokens += [digit(d, i + k) for k, d in enumerate(nsn[i : i + size])]
        i += size
    hidden = draw(st.integers(0, 3)) if draw(st.booleans()) else 0
    for _ in range(hidden):
        at = draw(st.integers(0, len(tokens) - 1))
        tokens.insert(at, draw(st.sampled_from(invisibles)))
    return Spelled(nsn, country + "".join(tokens), form)


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
_GLUE = st.one_of(_LETTERS, st.sampled_from(["微信", "手机：", "电话", "号码是", "✆", "\u200b", "\u00ad"]))
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
    """(the phone, a realistic value of ``column`` holding it, letters (or Chinese) glued to it on either side)."""
    phone = draw(spelled_mobiles(url=column == "window_url", **kw))
    glued = draw(_GLUE) + phone.text + draw(_GLUE)
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


_HANZI_DIGITS = "〇一二三四五六七八九"


def _hanzi(n: int) -> str:
    return "".join(_HANZI_DIGITS[int(d)] for d in str(n))


def _hanzi_count(n: int) -> str:
    """1-99 as written in prose: 十二, 二十七, 三十."""
    tens, ones = divmod(n, 10)
    return ("" if tens < 2 else _HANZI_DIGITS[tens]) + ("十" if tens else "") + (_HANZI_DIGITS[ones] if ones else "")


@st.composite
def chinese_prose(draw: st.DrawFn) -> str:
    """Chinese text with numerals in dates, prices, addresses, counts and lists: never eleven digits in a row."""
    pieces = st.sampled_from(
        [
            f"{_hanzi(draw(st.integers(2015, 2035)))}年{_hanzi_count(draw(st.integers(1, 12)))}月"
            f"{_hanzi_count(draw(st.integers(1, 31)))}日",
            f"{draw(st.integers(2015, 2035))}年{draw(st.integers(1, 12))}月{draw(st.integers(1, 31))}日",
            f"{_hanzi_count(draw(st.integers(1, 9)))}百{_hanzi_count(draw(st.integers(1, 99)))}元",
            draw(st.sampled_from(["两万元", "一千二百元", "三百五十元", "九块九", "两个人", "一两天"])),
            f"{_hanzi_count(draw(st.integers(1, 30)))}号楼{draw(st.integers(1, 6))}单元{draw(st.integers(101, 2808))}室",
            draw(st.sampled_from(["第一次来", "一起报名", "统一价格", "十一长假", "尾号八零零零", "一二三四五"])),
            "①报名②付款③到店",
            f"{_hanzi(draw(st.integers(1, 99999)))}号",
            "幺幺零报警",
        ]
    )
    return draw(st.lists(pieces, min_size=1, max_size=4).map("，".join)) + draw(st.sampled_from(["", "。", "！"]))


EMOJI = [
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family: man, woman, girl joined by ZWJ
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\u2764\ufe0f",
    "\U0001f44d\U0001f3fb",
    "#\ufe0f\u20e3",
    "1\ufe0f\u20e3 2\ufe0f\u20e3 3\ufe0f\u20e3",
    "\U0001f9d1\u200d\U0001f4bb",
    "\U0001f1e8\U0001f1f3",
]


@st.composite
def emoji_text(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(EMOJI + ["好评", "wx", "2026"]), min_size=1, max_size=6)))


@st.composite
def soft_hyphen_text(draw: st.DrawFn) -> str:
    """Words and short numbers broken by soft hyphens (and other invisibles), as pasted from web pages."""
    words = ["Wer\u00adbe\u00adak\u00adtion", "Ver\u00adsion", "Früh\u00adlings\u00adan\u00adge\u00adbot", "ID"]
    n = draw(st.integers(0, 999999))
    number = "\u00ad".join(str(n)[k : k + 2] for k in range(0, len(str(n)), 2))
    return f"{draw(st.sampled_from(words))} {number} {draw(st.sampled_from(words))}\u200b{draw(st.integers(0, 99))}"


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


@st.composite
def non_phone_text(draw: st.DrawFn) -> tuple[str, str]:
    """(column, value): text of the shapes seen in lead data that holds no phone."""
    column = draw(st.sampled_from(["window_url", "user_agent", "from_channel", "union_id"]))
    if column == "union_id":
        return column, draw(union_ids())
    if column == "user_agent":
        ua = draw(browser_user_agents())
        return column, ua + draw(st.sampled_from(["", " 微信二〇二六版", " " + EMOJI[0]]))
    prose = st.one_of(chinese_prose(), emoji_text(), soft_hyphen_text())
    piece = draw(st.one_of(timestamps(), order_ids(), ipv4s(), union_ids(), prose, prose))
    if column == "from_channel":
        value = (draw(st.sampled_from(["wx_", "baidu_sem_", "douyin-", ""])) + piece[:40]).strip()
        assume(value)
    else:
        ts = draw(timestamps())
        note = draw(prose)
        value = (
            f"https://m.example.cn/lp?order={piece}&ts={ts}&ip={draw(ipv4s())}"
            f"&utm_campaign=%E6%98%A5%E5%AD%A3{draw(st.integers(2015, 2035))}"
            f"&note={draw(st.sampled_from([_quote(note), note]))}"
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
    """The test's own digit projection: percent-encoded UTF-8 decoded, every digit by its value (decimal digits,
    digit signs, keycaps, Chinese numerals and 幺/两), every other character dropped, invisible ones included."""
    import unicodedata
    from urllib.parse import unquote

    chinese = {c: d for d, cs in CHINESE.items() for c in cs} | {c: d for d, c in SPOKEN.items()}
    out = []
    for c in unquote(text, errors="replace"):
        if c in chinese:
            out.append(chinese[c])
        elif unicodedata.digit(c, None) is not None:
            out.append(str(unicodedata.digit(c)))
    return "".join(out)

"""Generate tests/vectors/field_rules.json: the field rules (rules.fields.FIELD_RULES) as a cross-language contract.

Each case is one legacy row (as the database hands it over: strings, integers, NULLs, DATETIMEs written
``YYYY-MM-DD HH:MM:SS``) and what the mapping makes of it: either the flow row (every column but the random
token, plus the E.164 the token must decrypt to, the coercions recorded and the fingerprint) or the sorted
reject reasons. The keys are those of tests/vectors/phone_crypto.json (scripts/gen_phone_vectors.py). Phones
are generated test numbers. The Java reference module (java/, ``make test-java``) replays every case.

    python scripts/gen_field_vectors.py          # rewrite the file
    python scripts/gen_field_vectors.py --check  # exit 1 if the file differs
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "tests" / "vectors" / "field_rules.json"
for _p in (ROOT / "plugins", ROOT / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import gen_phone_vectors  # noqa: E402
from gen_phone_vectors import BIDX_ROOT, ENC_ROOT  # noqa: E402

from leads_flow.config import Settings  # noqa: E402
from leads_flow.rules import mapping  # noqa: E402
from leads_flow.rules.crypto import PhoneCipher  # noqa: E402
from leads_flow.rules.fields import LEGACY_COLUMNS, REJECT_REASONS, STAGE_COLUMNS, RowCtx  # noqa: E402
from leads_flow.rules.fingerprint import content_hash  # noqa: E402
from leads_flow.rules.keyring import Keyring  # noqa: E402
from leads_flow.rules.phone import normalize  # noqa: E402

KID = "1"
PARTITION_END = datetime(2026, 11, 21)
SETTINGS = Settings()  # min_join_time 2015-01-01, any positive main_business_id
DATETIME_COLUMNS = ("join_time", "create_time", "update_time", "source_updated_at")
# Every flow column but the random token, in STAGE_COLUMNS order, then content_hash.
FLOW_COLUMNS = tuple(c for c in STAGE_COLUMNS[: STAGE_COLUMNS.index("content_hash") + 1] if c != "phone_cipher")

P1 = "13800138000"  # the well-known documentation number
P2 = "13900001234"  # synthetic test numbers from here on
P3 = "15000000000"
P4 = "18600000000"
FW = str.maketrans("0123456789+", "０１２３４５６７８９＋")
AR = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
CN = str.maketrans("0123456789", "零一二三四五六七八九")
CIRCLED = str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨")


def _pct(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


BASE: dict[str, Any] = {
    "id": 1,
    "phone": P1,
    "unionId": None,
    "window_url": "https://m.example.cn/lp/1?ch=baidu_sem",
    "ip_address": "58.20.1.2",
    "user_agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36",
    "from_channel": "baidu_sem",
    "has_tool": 0,
    "join_time": datetime(2026, 11, 20, 9, 0),
    "create_time": datetime(2026, 11, 20, 8, 0),
    "leads_type": 0,
    "is_group": 1,
    "main_business_id": 3,
    "is_deleted": 0,
    "update_time": datetime(2026, 11, 20, 10, 0),
}

# (name, overrides of BASE). The name says what the case covers.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("base row", {}),
    # --- phone: normalisation, spellings, identity
    ("phone with spaces", {"phone": "138 0013 8000"}),
    ("phone +86 and dashes", {"phone": "+86-139-0000-1234"}),
    ("phone +86 glued", {"phone": "+86" + P2}),
    ("phone 0086 prefix", {"phone": "0086 " + P3}),
    ("phone 86 prefix without plus", {"phone": "86" + P4}),
    ("phone national trunk 0", {"phone": "0" + P2}),
    ("phone full-width digits", {"phone": P2.translate(FW)}),
    ("phone full-width +86", {"phone": ("+86" + P3).translate(FW)}),
    ("phone arabic-indic digits", {"phone": P2.translate(AR)}),
    ("phone in parentheses with tab", {"phone": "\t(+86) 150-0000-0000 "}),
    ("phone ideographic space", {"phone": "\u3000139\u30000000\u30001234\u3000"}),
    ("phone double dashes", {"phone": "139--0000--1234"}),
    ("phone underscores", {"phone": "139_0000_1234"}),
    ("phone glued to letters before", {"phone": "tel" + P2}),
    ("phone glued to letters after", {"phone": P2 + "abc"}),
    ("phone tel: uri", {"phone": "tel:139-0000-1234"}),
    ("phone two numbers", {"phone": P2 + " " + P3}),
    ("phone Beijing fixed line", {"phone": "010 6000 0000"}),
    ("phone foreign number", {"phone": "+1 650 253 0000"}),
    ("phone too short", {"phone": "12345"}),
    ("phone ten digits", {"phone": "1380013800"}),
    ("phone twelve digits", {"phone": "138001380001"}),
    ("phone not a mobile range", {"phone": "10000000000"}),
    ("phone service number", {"phone": "400-800-8000"}),
    ("phone letters only", {"phone": "not a phone"}),
    ("phone empty with unionId", {"phone": "", "unionId": "oABCdef123WX"}),
    ("phone NULL with unionId", {"phone": None, "unionId": "oABCdef123WX"}),
    ("phone blank without unionId", {"phone": "   ", "unionId": None}),
    ("phone NULL and blank unionId", {"phone": None, "unionId": " \u3000 "}),
    # --- unionId
    ("unionId trimmed", {"unionId": "  oXYZ987WX\u00a0"}),
    ("unionId with a phone", {"unionId": "wx_" + P2}),
    ("unionId with a full-width phone", {"unionId": "u" + P3.translate(FW)}),
    ("unionId with a +86 phone and no phone", {"phone": None, "unionId": "+86" + P4}),
    ("unionId with ten digits only", {"unionId": "id1380013800x"}),
    ("unionId of 64 characters", {"unionId": "o" + "x" * 63}),
    ("unionId of 65 characters", {"unionId": "o" + "x" * 64}),
    ("unionId of 65 characters with trailing spaces trimmed to 64", {"unionId": "o" + "x" * 63 + "  "}),
    # --- free text: phones masked, trimmed, truncated
    ("url with phone in query", {"window_url": f"https://m.example.cn/lp?tel={P2}&ch=wx"}),
    ("url with percent-encoded +86 phone", {"window_url": f"https://x.cn/?p=%2B86{P3}"}),
    ("url with percent-encoded full-width phone", {"window_url": "https://x.cn/?p=%EF%BC%91" + P2[1:]}),
    ("url with dotted phone", {"window_url": "https://x.cn/?p=139.0000.1234"}),
    ("url with IPv4 address only", {"window_url": "http://192.168.100.200/lp?x=1"}),
    ("url blank", {"window_url": " \t\n"}),
    ("url truncated at 2048 after masking", {"window_url": "https://x.cn/?q=" + "a" * 2100}),
    ("user agent with phone", {"user_agent": f"Mozilla/5.0 MicroMessenger/8.0 Tel/{P2}"}),
    ("user agent with spaced phone", {"user_agent": "UA 139 0000 1234 end"}),
    ("user agent long with emoji at the cut", {"user_agent": "U" * 1023 + "\U0001f600tail"}),
    ("user agent trailing spaces", {"user_agent": "Mozilla/5.0  "}),
    ("channel trimmed", {"from_channel": " wx_mini "}),
    ("channel with phone", {"from_channel": "sales-" + P2}),
    ("channel truncated at 64", {"from_channel": "c" * 70}),
    ("channel NULL", {"from_channel": None}),
    ("text with zero-width and combining characters", {"from_channel": "\u200bwx\u0301", "user_agent": "e\u0301 UA"}),
    ("text with arabic-indic phone", {"user_agent": "UA " + P2.translate(AR)}),
    ("text with a number that is no mobile", {"user_agent": "build 12345678901234567890"}),
    # --- issue 25: what a person reads as a phone (docs/phone-protection.md §13)
    (
        "channel with a phone joined by zero-width spaces",
        {"from_channel": "wx" + "\u200b".join([P2[:3], P2[3:7], P2[7:]])},
    ),
    ("user agent with a phone joined by thin spaces", {"user_agent": "UA " + "\u2009".join([P2[:3], P2[3:7], P2[7:]])}),
    ("channel with a phone joined by middle dots", {"from_channel": "\u00b7".join([P3[:3], P3[3:7], P3[7:]])}),
    ("url with percent-encoded soft hyphens in a phone", {"window_url": f"https://x.cn/?p={P2[:3]}%C2%AD{P2[3:]}"}),
    ("channel with a phone in Chinese numerals", {"from_channel": "电话" + P2.translate(CN)}),
    ("channel with a phone in spoken Chinese numerals", {"from_channel": P3.translate(CN).replace("一", "幺")}),
    ("url with percent-encoded Chinese numerals", {"window_url": "https://x.cn/?p=" + _pct(P2.translate(CN))}),
    ("user agent with a circled-digit phone", {"user_agent": "UA " + P2.translate(CIRCLED)}),
    ("user agent with a keycap phone", {"user_agent": "".join(d + "\ufe0f\u20e3" for d in P2) + " ok"}),
    ("channel with a numeral glued to a phone", {"from_channel": "张一" + P2}),
    (
        "text with Chinese numerals and emoji that are no phone",
        {
            "from_channel": "二〇二六年十二月七日三百五十元",
            "user_agent": "UA \U0001f468\u200d\U0001f469\u200d\U0001f467 Wer\u00adbe 2\u00ad0\u00ad2\u00ad6",
        },
    ),
    # --- IP address
    ("ip NULL", {"ip_address": None}),
    ("ip padded", {"ip_address": " 10.1.0.7 "}),
    ("ip forwarded list", {"ip_address": "58.1.1.2, 10.0.0.1"}),
    ("ip unknown first in list", {"ip_address": "unknown, 59.2.3.4"}),
    ("ip unknown", {"ip_address": "unknown"}),
    ("ip IPv4-mapped IPv6", {"ip_address": "::ffff:172.16.5.9"}),
    ("ip IPv6 compressed", {"ip_address": "2408:8207:1851:3aa0::1"}),
    ("ip IPv6 uppercase with zeros", {"ip_address": "2001:0DB8:0000:0000:0000:0000:0000:0001"}),
    ("ip IPv6 bracketed", {"ip_address": "[2001:db8::1]"}),
    ("ip IPv6 zone rejected", {"ip_address": "fe80::1%eth0, 1.2.3.4"}),
    ("ip IPv4 with port", {"ip_address": "1.2.3.4:8080"}),
    ("ip IPv4 leading zero", {"ip_address": "010.1.1.1"}),
    ("ip IPv6 loopback", {"ip_address": "::1"}),
    ("ip IPv6 full", {"ip_address": "1:0:0:2:0:0:0:3"}),
    ("ip IPv6 embedded IPv4 not mapped", {"ip_address": "64:ff9b::192.0.2.33"}),
    ("ip empty", {"ip_address": ""}),
    # --- flags
    ("has_tool NULL", {"has_tool": None}),
    ("has_tool 1", {"has_tool": 1}),
    ("has_tool 2", {"has_tool": 2}),
    ("is_group -1", {"is_group": -1}),
    ("is_group NULL", {"is_group": None}),
    # --- join_time and source_updated_at
    ("join_time NULL falls back to create_time", {"join_time": None}),
    ("join_time before 2015", {"join_time": datetime(2012, 5, 1)}),
    ("join_time at the lower bound", {"join_time": datetime(2015, 1, 1)}),
    ("join_time at the upper bound", {"join_time": datetime(2026, 11, 22)}),
    ("join_time after the upper bound", {"join_time": datetime(2026, 11, 22, 0, 0, 1)}),
    ("join_time NULL and create_time too old", {"join_time": None, "create_time": datetime(2014, 12, 31)}),
    ("update_time NULL: create_time is the version", {"update_time": None}),
    # --- leads_type, main_business_id, is_deleted
    ("leads_type internal", {"leads_type": 1}),
    ("leads_type 2", {"leads_type": 2}),
    ("leads_type NULL", {"leads_type": None}),
    ("main_business_id NULL", {"main_business_id": None}),
    ("main_business_id 0", {"main_business_id": 0}),
    ("main_business_id negative", {"main_business_id": -3}),
    ("main_business_id large", {"main_business_id": 2147483647}),
    ("is_deleted 1", {"is_deleted": 1}),
    ("is_deleted 2 is deleted", {"is_deleted": 2}),
    # --- several reasons at once
    (
        "every reason but no_identity",
        {
            "phone": "12345",
            "unionId": "x" + P2,
            "has_tool": 5,
            "join_time": datetime(2010, 1, 1),
            "leads_type": 9,
            "main_business_id": 0,
        },
    ),
    ("no_identity with a bad flag", {"phone": None, "unionId": None, "is_group": 3}),
    ("lead id at the BIGINT UNSIGNED maximum", {"id": 18446744073709551615}),
]


def _cipher() -> PhoneCipher:
    return PhoneCipher(Keyring({KID: ENC_ROOT}, KID, {KID: BIDX_ROOT}, KID))


def _json_value(column: str, v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds") if not v.microsecond else v.isoformat(sep=" ")
    return v


def map_case(row: tuple, cipher: PhoneCipher, partition_end: datetime = PARTITION_END) -> dict[str, Any]:
    """What the field rules make of one legacy row: {"flow": ..., "coerced": ...} or {"reasons": ...}."""
    ctx = RowCtx(cipher, SETTINGS, partition_end)
    ctx.reasons, ctx.coerced = [], []
    out = mapping._MAP_ROW(row, ctx)  # the compiled FIELD_RULES, as Mapper.map_rows runs them
    if ctx.reasons:
        return {"reasons": sorted(set(ctx.reasons))}
    staged = dict(zip(STAGE_COLUMNS, (*out, content_hash(out))))
    flow: dict[str, Any] = {}
    phone = row[LEGACY_COLUMNS.index("phone")]
    flow["e164"] = normalize(str(phone)) if staged["phone_cipher"] is not None else None
    if flow["e164"] is not None:
        assert cipher.decrypt(staged["phone_cipher"]) == flow["e164"]
    for c in FLOW_COLUMNS:
        flow[c] = _json_value(c, staged[c])
    return {"flow": flow, "coerced": sorted(set(ctx.coerced))}


def build_vectors() -> dict[str, Any]:
    """The whole vectors document, as a JSON-ready dict."""
    cipher = _cipher()
    cases: list[dict[str, Any]] = []
    names = set()
    for i, (name, over) in enumerate(CASES):
        assert name not in names, name
        names.add(name)
        legacy = {**BASE, "id": i + 1, **over}
        assert set(legacy) == set(LEGACY_COLUMNS)
        row = tuple(legacy[c] for c in LEGACY_COLUMNS)
        case = {"name": name, "legacy": {c: _json_value(c, legacy[c]) for c in LEGACY_COLUMNS}}
        case.update(map_case(row, cipher))
        cases.append(case)
    _check_coverage(cases)
    return {
        "format": "field_rules/1",
        "doc": "docs/interfaces.md (Field rules, Fingerprint); generated by scripts/gen_field_vectors.py",
        "keys": {"enc_root_hex": ENC_ROOT.hex(), "bidx_root_hex": BIDX_ROOT.hex(), "kid": KID},
        "settings": {
            "partition_end": _json_value("", PARTITION_END),
            "max_join_time": "partition_end + 1 day",
            "min_join_time": _json_value("", SETTINGS.min_join_time),
            "main_business_ids": None,
        },
        "legacy_columns": list(LEGACY_COLUMNS),
        "datetime_columns": list(DATETIME_COLUMNS),
        "flow_columns": ["e164", *FLOW_COLUMNS],
        "cases": cases,
    }


def _check_coverage(cases: list[dict[str, Any]]) -> None:
    """Every reason alone and every coercion must appear; the generator fails otherwise."""
    reasons = {r for c in cases for r in c.get("reasons", [])}
    missing = set(REJECT_REASONS) - reasons
    assert not missing, f"no case rejects with {sorted(missing)}"
    coerced = {x for c in cases for x in c.get("coerced", [])}
    expected = {
        "join_time_defaulted",
        "ip_address_unparseable",
        "ip_address_cleaned",
        *(f"{f}_phone_masked" for f in ("window_url", "user_agent", "from_channel")),
        *(f"{f}_truncated" for f in ("window_url", "user_agent", "from_channel")),
    }
    assert expected <= coerced, f"no case coerces {sorted(expected - coerced)}"
    assert len(cases) >= 60


def render(doc: dict[str, Any]) -> str:
    """Stable text form: ASCII-only JSON (non-ASCII escaped), trailing newline."""
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    return gen_phone_vectors.main(
        argv,
        build=build_vectors,
        render_doc=render,
        default_output=DEFAULT_OUTPUT,
        script="scripts/gen_field_vectors.py",
        description=__doc__.splitlines()[0],
    )


if __name__ == "__main__":
    sys.exit(main())

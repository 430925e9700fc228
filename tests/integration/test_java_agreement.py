"""Agreement beyond the vectors: 120,000 generated legacy rows (devkit/seed.py's shapes plus a seeded generator of
adversarial phone spellings, IP forms, Unicode and boundary values) mapped by Python and by the Java reference
module (java/, ConformanceRunner map) give identical flow rows and reject reasons; the Java token, decrypted by
Python, is the E.164.

Skips loudly without a JDK, unless LEADS_REQUIRE_JAVA=1 (set by .ci/run and `make test-java`), which turns the skip
into a failure. Generated phones only; a mismatch is reported by row number and column, never by value."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from devkit.seed import SEED_COLUMNS, legacy_rows, phone_shapes, random_mobile
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.rules.keyring import Keyring

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "field_rules.json"
PHONE_JAR = Path(os.environ.get("LEADS_PHONENUMBER_JAR", "/usr/share/java/libphonenumber.jar"))
REQUIRE_JAVA = os.environ.get("LEADS_REQUIRE_JAVA") == "1"
N_SEED, N_ADVERSARIAL = 40_000, 80_000

sys.path.insert(0, str(ROOT / "scripts"))
import gen_field_vectors  # noqa: E402

pytestmark = pytest.mark.slow


def _java_or_skip() -> tuple[str, str]:
    javac, java = shutil.which("javac"), shutil.which("java")
    missing = [] if javac and java else ["a JDK (javac, java)"]
    if not PHONE_JAR.exists():
        missing.append(f"libphonenumber ({PHONE_JAR})")
    if missing:
        msg = f"!!! SKIPPING THE JAVA AGREEMENT TEST !!! missing {' and '.join(missing)}"
        if REQUIRE_JAVA:
            pytest.fail(msg + " (LEADS_REQUIRE_JAVA=1)")
        pytest.skip(msg)
    return javac, java  # type: ignore[return-value]


# --- generated legacy rows ---------------------------------------------------------------------------------

FW = str.maketrans("0123456789+", "０１２３４５６７８９＋")
AR = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TANGSA = str.maketrans("0123456789", "".join(chr(0x16AC0 + i) for i in range(10)))
SEPS = [" ", "-", "--", "_", ".", "/", "\u00a0", "\u3000", "\u2013", "\uff0d", "\t", "%20", "%2D", "%2E", " - ", "()"]
PREFIXES = ["", "", "", "+86", "86", "0086", "0", "+86 ", "＋８６", "(+86)", "%2B86", "+86-"]
GLUE = ["tel", "abc", "微信", "手机:", "Tel:", "x", "ID", "#", "%", "%3", "%E"]
NOISE = [
    " ",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u200b",
    "\u0301",
    "\U0001f600",
    "\U0001d7cf",
    chr(0x16AC3),
    "５",
    "%",
    "%2",
    "A",
    "f",
    ".",
    "é",
    "\u0663",
    "\x85",
    "\x1f",
]
OTHER_NUMBERS = [
    "+1 650 253 0000",
    "+44 20 7946 0000",
    "+852 5123 4567",
    "010 6000 0000",
    "021-5555-1234",
    "400-800-8000",
    "95555",
    "12345",
    "99999999999",
    "1380013800",
    "138001380001",
    "10000000000",
]
CALLING_CODES = [1, 7, 33, 44, 49, 60, 61, 62, 63, 65, 66, 81, 82, 84, 86, 91, 852, 853, 886, 971, 800, 882, 979]
END = datetime(2026, 11, 21)


def _digits(rng: random.Random, p: str) -> str:
    return rng.choice([p, p, p, p.translate(FW), p.translate(AR), p.translate(TANGSA), "".join(f"%3{c}" for c in p)])


def _grouped(rng: random.Random, p: str) -> str:
    cuts = sorted(rng.sample(range(1, len(p)), rng.choice([0, 1, 2, 2, 3, 10])))
    parts = [p[a:b] for a, b in zip([0, *cuts], [*cuts, len(p)])]
    sep = rng.choice(SEPS)
    return (sep if rng.random() < 0.8 else rng.choice(SEPS)).join(parts)


def adversarial_phone(rng: random.Random) -> str | None:
    """A phone spelled the ways the PII issue lists, and near misses."""
    p = random_mobile(rng)
    kind = rng.randrange(12)
    if kind == 0:
        return phone_shapes(rng, p)
    if kind == 1:
        return rng.choice(OTHER_NUMBERS)
    if kind == 2:
        return rng.choice([None, "", "   ", "\u3000", "null"])
    if kind == 3:  # one digit too few or too many
        return p[:-1] if rng.random() < 0.5 else p + str(rng.randrange(10))
    if kind == 4:
        return rng.choice(GLUE) + p if rng.random() < 0.5 else p + rng.choice(GLUE)
    if kind == 5:
        return p + rng.choice([" ", ",", "/"]) + random_mobile(rng)
    if kind == 6:
        return "".join(rng.choice("0123456789 -+") for _ in range(rng.randrange(5, 18)))
    if kind == 7:  # any region's metadata: both sides must judge by the same (phonenumbers') data
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(4, 13)))
        return rng.choice(["+", "00", "+", ""]) + str(rng.choice(CALLING_CODES)) + rng.choice(["", " ", "-"]) + digits
    s = rng.choice(PREFIXES) + _grouped(rng, _digits(rng, p))
    if rng.random() < 0.2:
        s = rng.choice([" ", "\t", "\u00a0", "\u3000", "\u2003"]) + s + rng.choice([" ", "\u3000", "\n"])
    return s


def _noise(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(NOISE) for _ in range(k))


def _text(rng: random.Random) -> str:
    """Free text holding a phone, an IPv4 address, long digit runs or nothing."""
    parts = [rng.choice(["https://m.example.cn/lp?ch=wx", "Mozilla/5.0 (Linux; Android 14)", "sales", "备注", ""])]
    for _ in range(rng.randrange(0, 4)):
        kind = rng.randrange(7)
        if kind == 0:
            parts.append(adversarial_phone(rng) or "")
        elif kind == 1:
            parts.append(".".join(str(rng.randrange(300)) for _ in range(4)))
        elif kind == 2:
            parts.append(str(rng.randrange(10**20)))
        elif kind == 3:
            parts.append(_noise(rng, rng.randrange(1, 6)))
        elif kind == 4:
            parts.append(rng.choice(["&tel=", "?p=", "%2B", "+", " / ", "Tel/"]) + (adversarial_phone(rng) or ""))
        elif kind == 5:
            parts.append("%EF%BC%91" + random_mobile(rng)[1:])
        elif kind == 6 and rng.random() < 0.5:
            parts.append(_read_as_a_phone(rng))
        else:
            parts.append(random_mobile(rng)[: rng.randrange(3, 11)])
    sep = rng.choice(["", " ", "&", "-", "."])
    return sep.join(parts)


# issue 25: digits, separators and invisibles a person reads through (docs/phone-protection.md §13)
CHINESE = ["零〇", "一幺", "二两", "三", "四", "五", "六", "七", "八", "九"]
SIGN_BASES = [0x245F, 0x2473, 0x2487, 0x2775, 0x24F4]  # circled, parenthesised, full stop, dingbat, double circled
INVISIBLE = ["\u200b", "\u200d", "\u00ad", "\ufeff", "\u2060", "\u200e", "%E2%80%8B", "%C2%AD", "%e2%81%a0"]
UNICODE_SEPS = ["\u2009", "\u202f", "\u205f", "\u2002", "\u1680", "\u00b7", "\u30fb", "\u2027", "%E3%80%80", "%C2%B7"]


def _read_as_a_phone(rng: random.Random) -> str:
    p = random_mobile(rng) if rng.random() < 0.9 else str(rng.randrange(10**10, 10**13))
    out = []
    for k, d in enumerate(p):
        form = rng.choice(["ascii", "chinese", "chinese", "sign", "keycap", "pct"])
        if form == "chinese":
            c = rng.choice(CHINESE[int(d)])
            out.append(c if rng.random() < 0.8 else "".join(f"%{b:02X}" for b in c.encode()))
        elif form == "sign":
            out.append("\u24ea" if d == "0" else chr(rng.choice(SIGN_BASES) + int(d)))
        elif form == "keycap":
            out.append(d + rng.choice(["\ufe0f\u20e3", "\u20e3"]))
        else:
            out.append(d if form == "ascii" else f"%3{d}")
        if k < len(p) - 1 and rng.random() < 0.25:
            out.append(rng.choice(INVISIBLE + UNICODE_SEPS + [" ", "-"]))
    return "".join(out)


def _long_text(rng: random.Random, limit: int) -> str:
    filler = rng.choice(["a", "é", "\U0001f600", "数"])
    return _text(rng) + filler * (limit - rng.randrange(-3, 4)) + rng.choice(["", random_mobile(rng)])


def _hextet(rng: random.Random) -> str:
    v = rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(0x10000)])
    h = f"{v:x}" if rng.random() < 0.7 else f"{v:04X}"
    return h


def adversarial_ip(rng: random.Random) -> str | None:
    kind = rng.randrange(10)
    v4 = ".".join(str(rng.choice([0, 1, 10, 127, 255, 256, rng.randrange(256)])) for _ in range(4))
    if kind == 0:
        return rng.choice([None, "", " ", "unknown", "-", "localhost"])
    if kind == 1:
        return v4
    if kind == 2:
        return rng.choice(["0", ""]) + v4 + rng.choice(["", ":8080", " ", ",", "/24"])
    if kind in (3, 4):
        h = [_hextet(rng) for _ in range(8)]
        s = ":".join(h)
        if rng.random() < 0.5:  # hand-compressed, sometimes wrongly
            a = rng.randrange(8)
            b = rng.randrange(a, 9)
            s = ":".join(h[:a]) + "::" + ":".join(h[b:])
        return s
    if kind == 5:
        return rng.choice(["::ffff:", "::FFFF:", "64:ff9b::", "::", "1::"]) + v4
    if kind == 6:
        return rng.choice(["fe80::1%eth0", "[2001:db8::1]", "[::1]:443", "2001:db8::1/64", "1:2:3:4:5:6:7:8:9"])
    if kind == 7:
        return ", ".join(adversarial_ip(rng) or "unknown" for _ in range(rng.randrange(2, 4)))
    if kind == 8:
        return " " + v4 + _noise(rng, rng.randrange(0, 2))
    return v4.translate(FW) if rng.random() < 0.5 else "１.２.３.４"


def _dt(rng: random.Random) -> datetime | None:
    kind = rng.randrange(40)  # kinds 0-5: missing, out of range, on a bound, with microseconds
    if kind == 0:
        return None
    if kind == 1:
        return datetime(2012, 5, 1)
    if kind == 2:
        return END + timedelta(days=1, seconds=rng.choice([0, 1, -1]))
    if kind == 3:
        return datetime(2015, 1, 1) + timedelta(seconds=rng.choice([0, -1, 1]))
    if kind == 4:
        return END + timedelta(days=30)
    ts = END - timedelta(seconds=rng.randrange(86400 * 30))
    return ts.replace(microsecond=rng.randrange(1, 10**6)) if kind == 5 else ts


def _pick(rng: random.Random, good: list, bad: list, p_bad: float = 0.06) -> object:
    return rng.choice(bad if rng.random() < p_bad else good)


def adversarial_rows(n: int, seed: int = 15) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        union = rng.choice(
            [None, None, f"o{rng.getrandbits(64):016x}WX", " ", "wx_" + random_mobile(rng), _text(rng), "id" + "1" * 10]
        )
        row = {
            "id": 1_000_000 + i,
            "phone": adversarial_phone(rng),
            "unionId": union,
            "window_url": rng.choice([None, _text(rng), _text(rng), _long_text(rng, 2048)]),
            "ip_address": adversarial_ip(rng),
            "user_agent": rng.choice([None, _text(rng), _long_text(rng, 1024)]),
            "from_channel": rng.choice([None, "baidu_sem", " wx ", _text(rng), _long_text(rng, 64)]),
            "has_tool": _pick(rng, [0, 1, None], [2, -1, 9]),
            "join_time": _dt(rng),
            "create_time": _dt(rng) if rng.random() < 0.2 else END - timedelta(days=1),
            "leads_type": _pick(rng, [0, 0, 1], [None, 2, -1]),
            "is_group": _pick(rng, [0, 1, None], [3, -1]),
            "main_business_id": _pick(rng, [None, 2**31 - 1, rng.randrange(1, 40), rng.randrange(1, 40)], [0, -3]),
            "is_deleted": rng.choice([0, 0, 0, 1, 2]),
            "update_time": _dt(rng),
        }
        rows.append(tuple(row[c] for c in LEGACY_COLUMNS))
    return rows


def seed_rows(n: int) -> list[tuple]:
    pos = {c: i for i, c in enumerate(SEED_COLUMNS)}
    rows = legacy_rows(n, END - timedelta(days=20), END, seed=16, dirty=0.1)
    return [(i + 1, *(r[pos[c]] for c in LEGACY_COLUMNS[1:])) for i, r in enumerate(rows)]


# --- the comparison ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> tuple[str, Path, Path]:
    """The java binary, the module's classes, and the Python pin's phone metadata exported for it."""
    javac, java = _java_or_skip()
    tmp = tmp_path_factory.mktemp("java-kit")
    classes = tmp / "classes"
    sources = sorted(str(p) for p in (ROOT / "java" / "src").rglob("*.java"))
    subprocess.run([javac, "-d", str(classes), "-cp", str(PHONE_JAR), *sources], check=True)
    metadata = tmp / "phone_metadata.json"
    subprocess.run(
        [sys.executable, str(ROOT / "java" / "tools" / "export_phone_metadata.py"), str(metadata)], check=True
    )
    return java, classes, metadata


def _vector_cipher() -> PhoneCipher:
    keys = json.loads(VECTORS.read_text(encoding="utf-8"))["keys"]
    kid = keys["kid"]
    return PhoneCipher(
        Keyring({kid: bytes.fromhex(keys["enc_root_hex"])}, kid, {kid: bytes.fromhex(keys["bidx_root_hex"])}, kid)
    )


def _run_java(kit, tmp_path: Path, command: str, rows: list[tuple]) -> list[dict]:
    java, classes, metadata = kit
    inp, out = tmp_path / "legacy.jsonl", tmp_path / "java.jsonl"
    with inp.open("w", encoding="utf-8") as f:
        for row in rows:
            legacy = {c: gen_field_vectors._json_value(c, v) for c, v in zip(LEGACY_COLUMNS, row)}
            f.write(json.dumps(legacy, ensure_ascii=True) + "\n")
    cp = f"{classes}{os.pathsep}{PHONE_JAR}"
    runner = [java, "-cp", cp, "leadsflow.ConformanceRunner", "--metadata", str(metadata), command]
    proc = subprocess.run([*runner, str(VECTORS), str(inp), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(results) == len(rows)
    return results


def _compare(rows: list[tuple], java_results: list[dict], cipher: PhoneCipher, partition_end) -> dict[str, int]:
    """Assert Python and Java agree on every row; count the outcomes. Reports row numbers and columns only."""
    mismatches: list[str] = []
    kinds = {"flow": 0, "reasons": 0, "phones": 0}
    for n, (row, got) in enumerate(zip(rows, java_results)):
        want = gen_field_vectors.map_case(row, cipher, partition_end(row))
        if "reasons" in want:
            kinds["reasons"] += 1
            if got.get("reasons") != want["reasons"]:
                mismatches.append(f"row {n}: reasons")
            continue
        kinds["flow"] += 1
        if "flow" not in got:
            mismatches.append(f"row {n}: Java rejected a row Python accepts")
            continue
        flow = got["flow"]
        token = flow.pop("phone_cipher")
        flow.setdefault("e164", None)
        if token is not None:
            kinds["phones"] += 1
            if cipher.decrypt(token) != want["flow"]["e164"]:
                mismatches.append(f"row {n}: the Java token does not decrypt to the E.164")
        bad = sorted(c for c in want["flow"] if flow.get(c) != want["flow"][c])
        if bad or set(flow) != set(want["flow"]):
            mismatches.append(f"row {n}: columns {bad or sorted(set(flow) ^ set(want['flow']))}")
        if got["coerced"] != want["coerced"]:
            mismatches.append(f"row {n}: coercions")
    assert not mismatches, f"{len(mismatches)} rows differ, first: {mismatches[:20]}"
    return kinds


def test_python_and_java_map_every_generated_row_alike(kit, tmp_path):
    rows = seed_rows(N_SEED) + adversarial_rows(N_ADVERSARIAL)
    assert len(rows) >= 100_000
    java_results = _run_java(kit, tmp_path, "map", rows)
    kinds = _compare(rows, java_results, _vector_cipher(), lambda row: gen_field_vectors.PARTITION_END)
    # the generator reaches every outcome in bulk
    assert kinds["reasons"] > 10_000 and kinds["flow"] > 50_000 and kinds["phones"] > 45_000, kinds


def test_online_writers_bound_join_time_like_submit_lead(kit, tmp_path):
    """FieldRules.mapOnline: the join-time bound of the partition the sync would import the row in, as
    submit.submit_lead computes it (the day after update_time, else create_time)."""
    sua_col, create_col = LEGACY_COLUMNS.index("update_time"), LEGACY_COLUMNS.index("create_time")
    rows = [r for r in adversarial_rows(15_000, seed=21) if (r[sua_col] or r[create_col]) is not None]
    java_results = _run_java(kit, tmp_path, "map-online", rows)

    def partition_end(row):
        sua = row[sua_col] or row[create_col]
        return datetime.combine(sua.date() + timedelta(days=1), time.min)

    kinds = _compare(rows, java_results, _vector_cipher(), partition_end)
    assert kinds["flow"] > 1_500 and kinds["reasons"] > 1_000, kinds

"""No plaintext phone and no key material anywhere a run leaves traces.

Runs the DAG with dag.test() (task logs and XComs land in the Airflow metadata DB under the test
AIRFLOW_HOME) over legacy rows carrying known generated phones in the phone column and inside the free
text (landing page, user agent, unionId-free rows, rejected rows), then a run that fails, and scans:
leads_flow, leads_flow_reject, leads_flow_run, every staging table left behind, every table of the
Airflow metadata DB (XComs included), every file under $AIRFLOW_HOME/logs, every log record the runs
emitted and everything they wrote to the console (dag.test() runs tasks in-process, so their task logs
go there rather than to files), and the messages and tracebacks of the failing runs' exceptions.
Nothing may contain any of the phones in any common spelling (digits, +86…, 0086…, 3-4-4 with spaces
or dashes, full-width), nor the test keys (base64, base64url, hex) or the keys derived from them.

Findings are reported by place and by the kind of spelling, never by value.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import traceback
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from devkit.seed import random_mobile
from leads_flow.rules.crypto import BIDX_INFO, ENC_INFO, hkdf
from leads_flow.tasks import sync as pipeline
from tests.conftest import BIDX_ROOT, ENC_ROOT
from tests.helpers import insert, legacy_row, sync
from tests.reliability import _support as S

pytestmark = pytest.mark.mysql

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CHINESE = str.maketrans("0123456789", "零一二三四五六七八九")
CIRCLED = str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨")
_CHINESE_DIGITS = {"零": "0", "〇": "0", "幺": "1", "两": "2"} | {
    c: str(d) for d, c in enumerate("〇一二三四五六七八九")
}


@functools.cache
def _fold_table() -> dict[int, str | None]:
    """This scanner's own reading of text as a person sees it (it shares nothing with the product's detector):
    format characters (Cf), variation selectors and the keycap mark dropped, every space separator (Zs) and the
    middle dots a space, every character with a digit value (decimal digits of any script, circled, keycap
    bases, superscripts…) and the Chinese numerals their ASCII digit."""
    table: dict[int, str | None] = {}
    for cp in range(0x80, 0x110000):
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat == "Cf" or 0xFE00 <= cp <= 0xFE0F or cp == 0x20E3:
            table[cp] = None
        elif cat == "Zs" or c in "\u00b7\u30fb\u2027\u2022\uff65":
            table[cp] = " "
        elif c in _CHINESE_DIGITS:
            table[cp] = _CHINESE_DIGITS[c]
        elif unicodedata.digit(c, None) is not None:
            table[cp] = str(unicodedata.digit(c))
    return table


def fold(text: str) -> str:
    """``text`` percent-decoded (UTF-8) and read through :func:`_fold_table`."""
    return unquote(text, errors="replace").translate(_fold_table())


@pytest.fixture(scope="module")
def airflow_db():
    """Airflow's metadata database (SQLite under the test AIRFLOW_HOME), migrated once."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag()


def spellings(p: str) -> dict[str, str]:
    """Every spelling of issue 11 (the needle is the whole spelling; this matcher shares nothing with the
    product's detector)."""
    a, b, c = p[:3], p[3:7], p[7:]
    return {
        "digits": p,
        "e164": "+86" + p,
        "0086": "0086" + p,
        "86": "86" + p,
        "spaced": f"{a} {b} {c}",
        "dashed": f"{a}-{b}-{c}",
        "full-width": p.translate(FULL_WIDTH),
        "glued to letters": f"oU{p}x",
        "double dashes": f"{a}--{b}--{c}",
        "underscores": f"{a}_{b}_{c}",
        "dotted": f"{a}.{b}.{c}",
        "slashed": f"{a}/{b}/{c}",
        "%2B86 escaped": "%2B86" + p,
        "%20 separated": f"{a}%20{b}%20{c}",
        "full-width +86 spaced": ("\uff0b\uff18\uff16 " + f"{a} {b} {c}").translate(FULL_WIDTH),
        # issue 25: what a person reads as a phone
        "zero-width joined": f"{a}\u200b{b}\u200b{c}",
        "soft hyphens": f"{a}\u00ad{b}\u00ad{c}",
        "thin spaces": f"{a}\u2009{b}\u2009{c}",
        "middle dots": f"{a}\u00b7{b}\u00b7{c}",
        "%E2%80%8B escaped": f"{a}%E2%80%8B{b}%E2%80%8B{c}",
        "Chinese numerals": p.translate(CHINESE),
        "circled": p.translate(CIRCLED),
        "keycaps": "".join(d + "\ufe0f\u20e3" for d in p),
    }


PHONE_FIELD_SPELLINGS = ("digits", "e164", "0086", "86", "spaced", "dashed", "full-width")


def key_spellings() -> dict[str, str]:
    out = {}
    keys = {
        "enc root": ENC_ROOT,
        "bidx root": BIDX_ROOT,
        "enc derived": hkdf(ENC_ROOT, ENC_INFO),
        "bidx derived": hkdf(BIDX_ROOT, BIDX_INFO),
    }
    for name, key in keys.items():
        std, url = base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()
        out.update(
            {
                f"{name} base64": std.rstrip("="),
                f"{name} base64url": url.rstrip("="),
                f"{name} hex": key.hex(),
                f"{name} HEX": key.hex().upper(),
            }
        )
    return out


class Scanner:
    """Looks for every needle in every text it is shown; remembers (place, kind), never the value."""

    def __init__(self, phones: list[str]) -> None:
        self.needles: list[tuple[str, str]] = []
        self.folded: list[tuple[str, str]] = []  # looked for in the folded text: what a person reads there
        for p in phones:
            for kind, text in spellings(p).items():
                self.needles.append((f"phone as {kind}", text))
                escaped = json.dumps(text)[1:-1]  # as JSON with ensure_ascii shows full-width digits
                if escaped != text:
                    self.needles.append((f"phone as {kind} (JSON-escaped)", escaped))
            for kind in ("digits", "spaced", "dashed", "dotted", "e164"):
                self.folded.append((f"phone read as {kind} (folded)", spellings(p)[kind]))
        self.needles += [(f"key: {k}", v) for k, v in key_spellings().items()]
        self.places: set[str] = set()
        self.findings: set[tuple[str, str]] = set()

    def scan(self, place: str, value: object) -> None:
        self.places.add(place)
        if value is None:
            return
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
        for kind, needle in self.needles:
            if needle in text:
                self.findings.add((place, kind))
        folded = fold(text)
        if folded != text:
            for kind, needle in self.folded:
                if needle in folded:
                    self.findings.add((place, kind))


class Capture(logging.Handler):
    """Every log record of the run, formatted with its arguments and any exception text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
            if record.exc_info:
                self.lines.append("".join(traceback.format_exception(*record.exc_info)))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is kept as its template
            self.lines.append(str(record.msg))


def crafted(phones: list[str]) -> list[tuple]:
    rng = random.Random(5)
    rows = []
    day = datetime(2026, 11, 20)
    for i, p in enumerate(phones):
        shapes = list(spellings(p).values())
        # the phone column gets the spellings a phone field holds; free text and unionIds get them all
        phone_shapes = [v for k, v in spellings(p).items() if k in PHONE_FIELD_SPELLINGS]
        t = day + timedelta(hours=i + 1)  # the 20th and 21st, and the 22nd (until noon) for the failing run
        rows.append(
            legacy_row(
                phone=phone_shapes[i % len(phone_shapes)],
                window_url=f"https://m.example.cn/lp/{i}?tel={shapes[(i + 1) % len(shapes)]}&x=1",
                user_agent=f"Mozilla/5.0 Chrome/138.0.7204.183 tel:{shapes[(i + 2) % len(shapes)]}",
                from_channel=f"wx {shapes[(i + 4) % len(shapes)]}"[:64],
                sales_name=p,
                follow_id=shapes[(i + 3) % len(shapes)],  # columns the pipeline never reads
                # every seventh unionId carries a phone: its row is rejected (union_id_invalid), raw values masked
                unionId=(shapes[(i + 5) % len(shapes)] if i % 7 == 3 else f"o{rng.getrandbits(48):012x}")
                if i % 3
                else None,
                has_tool=7 if i % 5 == 0 else 0,  # every fifth row is rejected: its raw values are kept
                join_time=t - timedelta(hours=1),
                create_time=t - timedelta(hours=1),
                update_time=t,
            )
        )
    return rows


def scan_everything(scanner: Scanner, dbs, log: Capture, console: str, errors: list[str]) -> None:
    c = S.admin(dbs.flow_name)
    try:
        for table in ("leads_flow", "leads_flow_reject", "leads_flow_run"):
            for row in S.rows(c, f"SELECT * FROM {table}"):
                for v in row:
                    scanner.scan(f"flow db: {table}", v)
        left = [
            r[0]
            for r in S.rows(
                c,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "DATABASE() AND table_name LIKE 'leads\\\\_flow\\\\_stage\\\\_%%'",
            )
        ]
        assert left, "the failing run was expected to leave its staging table for inspection"
        for table in left:
            for row in S.rows(c, f"SELECT * FROM {table}"):
                for v in row:
                    scanner.scan("flow db: staging table left by a failed run", v)
    finally:
        c.close()
    home = Path(os.environ["AIRFLOW_HOME"])
    meta = sqlite3.connect(home / "airflow.db")
    try:
        tables = [r[0] for r in meta.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "xcom" in tables
        xcoms = meta.execute("SELECT COUNT(*) FROM xcom").fetchone()[0]
        assert xcoms > 0, "dag.test() was expected to leave XComs"
        for table in tables:
            for row in meta.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    scanner.scan("airflow metadata: xcom" if table == "xcom" else f"airflow metadata: {table}", v)
    finally:
        meta.close()
    log_files = [f for f in (home / "logs").rglob("*") if f.is_file()] if (home / "logs").exists() else []
    for f in log_files:
        scanner.scan("task log files", f.read_bytes())
    for line in log.lines:
        scanner.scan("log records", line)
    # dag.test() runs the tasks in-process: their logs go to the console (captured here), not to files
    assert "published" in console or any("published" in line for line in log.lines)
    scanner.scan("task log output (console)", console)
    for text in errors:
        scanner.scan("exception messages and tracebacks", text)
    # the run report's pages and JSON, for every partition run of the test
    from leads_flow.report import data, render

    runs = data.list_runs(limit=data.MAX_LIMIT)
    assert runs, "the runs were expected in the report"
    scanner.scan("report pages", render.render_list(runs))
    for listed in runs:
        run = data.get_run(listed["etl_run_id"])
        scanner.scan("report pages", render.render_run(run))
        scanner.scan("report JSON", json.dumps(data.to_json(run), default=str))


def test_no_plaintext_phone_or_key_material_anywhere(mysql_dbs, airflow_db, dagbag, capfd):
    rng = random.Random(20261120)
    phones = list(dict.fromkeys(random_mobile(rng) for _ in range(60)))
    insert(mysql_dbs, crafted(phones))
    scanner = Scanner(phones)
    log = Capture()
    root = logging.getLogger()
    root.addHandler(log)
    errors: list[str] = []
    try:
        dag = dagbag.dags["leads_flow_sync"]
        ok = dag.test(
            logical_date=None, run_conf={"start_date": "2026-11-20", "end_date": "2026-11-21", "max_reject_ratio": 0.5}
        )
        assert ok.state == "success"
        failed = dag.test(
            logical_date=None, run_conf={"start_date": "2026-11-22", "end_date": "2026-11-22", "max_reject_ratio": 0.0}
        )
        assert failed.state == "failed"
        # the same failures in-process, to hold the exceptions themselves
        for call in (
            lambda: sync("2026-11-22", run_id="manual__fails", max_reject_ratio=0.0),
            lambda: _fail_with_missing_column(mysql_dbs),
        ):
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - the exception is what is scanned
                errors.append("".join(traceback.format_exception(exc)))
                errors.append(repr(exc))
        assert len(errors) == 4
    finally:
        root.removeHandler(log)
        out, err = capfd.readouterr()
    scan_everything(scanner, mysql_dbs, log, out + err, errors)
    S.FIGURES.plaintext_places += len(scanner.places)
    S.FIGURES.plaintext_needles += len(scanner.needles) + len(scanner.folded)
    S.FIGURES.plaintext_findings += len(scanner.findings)
    if scanner.findings:
        raise AssertionError(f"plaintext found: {sorted(scanner.findings)}")
    # the scanner does see what it looks for: the legacy table holds the phones in the clear
    probe = Scanner(phones)
    c = S.admin(mysql_dbs.legacy_name)
    for row in S.rows(c, "SELECT phone, window_url, sales_name FROM leads_aggr"):
        for v in row:
            probe.scan("legacy", v)
    c.close()
    assert {k for _, k in probe.findings} >= {"phone as digits", "phone as full-width", "phone as spaced"}
    # and the folding reads the issue-25 spellings as the phones they are
    for kind in ("thin spaces", "middle dots"):
        assert spellings(phones[0])["spaced"] in fold(spellings(phones[0])[kind]), kind
    for kind in ("zero-width joined", "soft hyphens", "%E2%80%8B escaped", "Chinese numerals", "circled", "keycaps"):
        assert phones[0] in fold(spellings(phones[0])[kind]), kind


def _fail_with_missing_column(dbs) -> None:
    """A permanent error: its message names the column, and nothing else."""
    dbs.legacy_exec("ALTER TABLE leads_aggr RENAME COLUMN is_group TO is_group_old")
    try:
        pipeline.plan({"start_date": "2026-11-20", "end_date": "2026-11-20"}, None, None)
    finally:
        dbs.legacy_exec("ALTER TABLE leads_aggr RENAME COLUMN is_group_old TO is_group")

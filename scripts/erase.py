#!/usr/bin/env python3
"""Erase leads by phone: phones from a file (or standard input), one per line, resolved to lead ids and erased.

    python scripts/erase.py phones.txt --requested-by "ticket-4711/alice"
    python scripts/erase.py --requested-by "ticket-4711/alice" < phones.txt
    python scripts/erase.py phones.txt --requested-by x --dry-run     # resolve only, erase nothing

Phones are resolved with leads_flow.lifecycle.erase.lead_ids_for_phones (normalised, blind index under
every kid of the ``leads_pii`` keyring, confirmed by decrypting) on the ``leads_flow`` connection, then
erased by lead id (erase_leads). The phones stay in this process: they are never printed, logged, or
handed to Airflow (a DAG run's conf is stored); the output holds counts and lead ids only. Delete the
phones file afterwards. The legacy table leads_aggr is not touched: the service team erases there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "plugins", ROOT):
    if _path.is_dir() and str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

log = logging.getLogger("erase")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", default="-", help="file of phones, one per line ('-' or absent: stdin)")
    p.add_argument(
        "--requested-by", required=True, help="who or which request asked (a ticket, an operator); never a phone"
    )
    p.add_argument("--dry-run", action="store_true", help="resolve the phones to lead ids, erase nothing")
    return p.parse_args(argv)


def read_phones(file: str) -> list[str]:
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = sys.stdout
    # Log lines (Airflow's included, which write to stdout) go to stderr; stdout carries the one JSON
    # result (counts and lead ids).
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.redirect_stdout(sys.stderr):
        out = _erase(args)
    print(json.dumps(out, sort_keys=True), file=result)
    return 0


def _erase(args: argparse.Namespace) -> dict:
    from leads_flow.io.connect import connected
    from leads_flow.io.keyring import load_keyring
    from leads_flow.io.schema import ensure_flow_schema
    from leads_flow.lifecycle.erase import erase_leads, lead_ids_for_phones
    from leads_flow.names import FLOW_CONN_ID, PII_CONN_ID
    from leads_flow.rules.crypto import PhoneCipher

    phones = read_phones(args.file)
    cipher = PhoneCipher(load_keyring(PII_CONN_ID))
    stats: dict[str, int] = {}
    with connected(FLOW_CONN_ID) as flow:
        ensure_flow_schema(flow)
        ids = lead_ids_for_phones(flow, cipher, phones, stats=stats)
        del phones
        counts = {} if args.dry_run or not ids else erase_leads(flow, ids, args.requested_by)
    return {"dry_run": args.dry_run, **stats, "lead_ids": ids, **counts}


if __name__ == "__main__":
    raise SystemExit(main())

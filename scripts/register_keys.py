"""Register the keyring's new kids in the flow database: their key check values, after a person compared them.

Run by whoever holds the flow database's credentials (the security team), never through Airflow: an Airflow user
who may edit connections must not be able to make the pipeline accept a key of their own (docs/phone-protection.md
§8 and §12). The keyring and the flow connection come from the same place the tasks read them (AIRFLOW_CONN_* in the
environment, or the secrets backend); nothing secret is passed on the command line or printed.

    python scripts/register_keys.py            # show each kid's check value and whether it is registered
    python scripts/register_keys.py --register enc:2 bidx:2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from leads_flow.io.connect import connected  # noqa: E402
from leads_flow.io.key_check import record_check_values, recorded_check_values  # noqa: E402
from leads_flow.io.keyring import load_keyring  # noqa: E402
from leads_flow.names import FLOW_CONN_ID, PII_CONN_ID  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--register", nargs="*", default=[], metavar="RING:KID", help="e.g. enc:2 bidx:2")
    ap.add_argument("--pii-conn-id", default=PII_CONN_ID)
    ap.add_argument("--flow-conn-id", default=FLOW_CONN_ID)
    args = ap.parse_args(argv)
    keyring = load_keyring(args.pii_conn_id)
    current = keyring.check_values()
    with connected(args.flow_conn_id) as flow:
        flow.run("key_check_ddl")
        recorded = recorded_check_values(flow)
        for (ring, kid), kcv in sorted(current.items()):
            state = (
                "registered"
                if recorded.get((ring, kid)) == kcv
                else "DIFFERS from the registered key"
                if (ring, kid) in recorded
                else "not registered"
            )
            active = " (active)" if keyring.active_kid(ring) == kid else ""
            print(f"{ring}:{kid}{active}  check value {kcv}  {state}")
        wanted = []
        for spec in args.register:
            ring, _, kid = spec.partition(":")
            if (ring, kid) not in current:
                print(f"{spec}: not in the keyring", file=sys.stderr)
                return 2
            if (ring, kid) in recorded:
                print(f"{spec}: already registered; a recorded key is never replaced (a new key needs a new kid)")
                return 2 if recorded[ring, kid] != current[ring, kid] else 0
            wanted.append((ring, kid))
        if wanted:
            record_check_values(flow, keyring, wanted, "scripts/register_keys.py")
            print("registered " + ", ".join(f"{r}:{k}" for r, k in wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())

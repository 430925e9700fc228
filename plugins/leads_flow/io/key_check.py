"""Key check values: the keyring's keys as the flow database first saw them, so that a key swapped behind an existing
kid (a copy-paste error, or an Airflow user who may edit connections) or an active kid nobody registered fails a
run before anything is encrypted or indexed with it (docs/phone-protection.md §12).

``leads_flow_key_check`` holds one row per (ring, kid): the check value recorded at first use of the ring
(trust on first use) or by ``scripts/register_keys.py``, run by someone with the flow database's credentials, never
by an Airflow user. A recorded row is never replaced: a new key is a new kid.
"""

from __future__ import annotations

import logging
from datetime import datetime

from leads_flow.io.db import Db
from leads_flow.rules.keyring import Keyring, KeyringError

log = logging.getLogger(__name__)


def _named(kids: list[tuple[str, str]]) -> str:
    return ", ".join(f"kid {kid!r} of the {ring} ring" for ring, kid in kids)


def recorded_check_values(flow: Db) -> dict[tuple[str, str], str]:
    return {(ring, kid): kcv for ring, kid, kcv in flow.query("key_check_all")}


def record_check_values(flow: Db, keyring: Keyring, kids: list[tuple[str, str]], by: str) -> None:
    """Record the check values of ``kids`` ((ring, kid) pairs) unless a row exists; commits."""
    values = keyring.check_values()
    now = datetime.now()
    with flow.transaction():
        flow.executemany("key_check_insert", [(ring, kid, values[ring, kid], now, by) for ring, kid in kids])


def verify_keyring(flow: Db, keyring: Keyring) -> None:
    """Raise :class:`KeyringError` naming the kid when a key differs from its recorded check value, or when an
    active kid of a ring already in use was never registered; record every kid of a ring seen for the first time.
    Needs ``key_check_ddl`` (``ensure_flow_schema``)."""
    current = keyring.check_values()
    recorded = recorded_check_values(flow)
    changed = sorted(k for k, v in current.items() if k in recorded and recorded[k] != v)
    if changed:
        raise KeyringError(
            f"the key behind {_named(changed)} is not the key recorded at its first use (its check value "
            "differs): nothing was written. Put the registered key back; a new key needs a new kid, registered "
            "with scripts/register_keys.py"
        )
    rings_in_use = {ring for ring, _ in recorded}
    new = sorted(k for k in current if k not in recorded)
    unregistered = [(ring, kid) for ring, kid in new if ring in rings_in_use and kid == keyring.active_kid(ring)]
    if unregistered:
        raise KeyringError(
            f"active {_named(unregistered)} was never registered: nothing was written. Whoever holds the flow "
            "database's credentials checks its check value and registers it with scripts/register_keys.py "
            "(docs/phone-protection.md §8)"
        )
    first_use = [(ring, kid) for ring, kid in new if ring not in rings_in_use]
    if first_use:
        record_check_values(flow, keyring, first_use, "first use")
        log.info("recorded the check values of %s (first use of the ring)", ", ".join(f"{r}:{k}" for r, k in first_use))
        verify_keyring(flow, keyring)  # a concurrent first use recorded other keys: this run must fail, not both
    for ring, kid in new:
        if ring in rings_in_use and kid != keyring.active_kid(ring):
            log.warning("kid %r of the %s ring is not registered; it must be before it becomes active", kid, ring)

"""Key rotation: move every stored phone token to the active encryption kid and every blind index to the
active bidx kid (docs/phone-protection.md §8 and "Key rotation runbook").

What is moved: ``leads_flow.phone_cipher`` (+ ``phone_bidx``/``phone_bidx_kid``), the raw phone token
inside ``leads_flow_reject.raw_values`` (its own purpose, :meth:`PhoneCipher.encrypt_raw`), and the tokens and
blind indexes of the change journal ``leads_flow_history`` (with each moved version's fingerprint recomputed;
the journal appears in the counts only when it holds phone tokens). Batches in
primary-key order; each row is updated only while it still holds the token that was read, so a newer
concurrent write wins. No state beyond "rows not under the active kid": a killed run is resumed by running
again, and a rerun after a complete one moves nothing.

Nothing here prints a token, a phone or a key; kids read back from the database are shown only when they
look like kids (``?`` otherwise).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leads_flow.io.connect import connected
from leads_flow.io.db import Db, as_datetime
from leads_flow.io.kids import check_kids_held, kid_counts, kids_of
from leads_flow.io.progress import Progress
from leads_flow.io.retry import retrying
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.io.sql import id_list
from leads_flow.names import FLOW_CONN_ID, FLOW_TABLE, HISTORY_TABLE, REJECT_TABLE
from leads_flow.rules.crypto import PhoneCipher, TokenError
from leads_flow.rules.fields import STAGE_COLUMNS
from leads_flow.rules.fingerprint import content_hash
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.phone import InvalidPhone, normalize

log = logging.getLogger(__name__)

# The change journal as its rekey reads it: lead_id .. content_hash (the mapped row and its fingerprint).
_H_HASH = STAGE_COLUMNS.index("content_hash")
_H_COLUMNS = ", ".join(STAGE_COLUMNS[: _H_HASH + 1])
_H_TOKEN, _H_BIDX, _H_KID = (STAGE_COLUMNS.index(c) for c in ("phone_cipher", "phone_bidx", "phone_bidx_kid"))
_H_SUA = STAGE_COLUMNS.index("source_updated_at")
_H_DATETIMES = tuple(STAGE_COLUMNS.index(c) for c in ("join_time", "source_updated_at"))

BeforeUpdate = Callable[[str, Sequence[tuple]], None]
"""Test hook: called with (table, rows read) after a batch is read and before it is written."""


@dataclass
class RekeyResult:
    """What a run did; :meth:`to_dict` is small and XCom-safe (counts only)."""

    rekey_run_id: str
    dry_run: bool
    active_enc_kid: str
    active_bidx_kid: str
    before: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=lambda: {FLOW_TABLE: 0, REJECT_TABLE: 0})
    skipped_newer: dict[str, int] = field(default_factory=lambda: {FLOW_TABLE: 0, REJECT_TABLE: 0})
    unreadable: dict[str, int] = field(default_factory=lambda: {FLOW_TABLE: 0, REJECT_TABLE: 0})
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rekey_run_id": self.rekey_run_id,
            "dry_run": self.dry_run,
            "active_enc_kid": self.active_enc_kid,
            "active_bidx_kid": self.active_bidx_kid,
            "before": self.before,
            "after": self.after,
            "moved": dict(self.moved),
            "skipped_newer": dict(self.skipped_newer),
            "unreadable": dict(self.unreadable),
            "seconds": round(self.seconds, 3),
        }


def _pending(counts: Mapping[str, Any], enc_kid: str, bidx_kid: str) -> int:
    """Rows still to move (an estimate for the ETA: a row off both kids counts once)."""
    active = {"enc": enc_kid, "bidx": bidx_kid}
    return sum(
        max(sum(n for k, n in kinds.get(kind, {}).items() if k != active[kind]) for kind in active)
        for kinds in counts.values()
    )


def _execute_each(db: Db, name: str, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Run one statement per parameter dict; the rowcount of each."""
    stmt = db.sql(name)[0]
    cur = db.conn.cursor()
    try:
        out = []
        for params in rows:
            cur.execute(stmt, params)
            out.append(cur.rowcount)
        return out
    finally:
        cur.close()


_FLOW_TUPLE = "(?, ?, ?, ?, ?)"


def _update_flow_batch(db: Db, rows: Sequence[tuple]) -> int:
    """One UPDATE for a batch of (lead_id, old_cipher, new_cipher, bidx, bidx_kid); the rows moved."""
    stmt = db.sql("rekey_flow_update", placeholders=", ".join([_FLOW_TUPLE] * len(rows)))[0]
    cur = db.conn.cursor()
    try:
        cur.execute(stmt, [v for row in rows for v in row])
        return cur.rowcount
    finally:
        cur.close()


class _Rekeyer:
    def __init__(
        self,
        cipher: PhoneCipher,
        result: RekeyResult,
        flow_conn_id: str,
        batch_size: int,
        progress: Progress,
        before_update: BeforeUpdate | None,
    ) -> None:
        self.cipher, self.result, self.flow_conn_id = cipher, result, flow_conn_id
        self.batch_size, self.progress, self.before_update = batch_size, progress, before_update
        self.enc_prefix = f"e1:{cipher.active_enc_kid}:"
        self.done = 0

    def _batch(self, name: str, params: dict[str, Any]) -> list[tuple]:
        def read() -> list[tuple]:
            with connected(self.flow_conn_id) as db:
                return db.query(name, {**params, "enc_prefix": self.enc_prefix + "%", "batch": self.batch_size})

        return retrying(read, what=f"rekey: read {name}")

    def _write(self, table: str, n: int, fn: Callable[[Db], int]) -> None:
        """Run ``fn`` (returns rows moved) in one transaction; rows not moved were rewritten meanwhile."""

        def write() -> int:
            with connected(self.flow_conn_id) as db, db.transaction():
                return fn(db)

        moved = retrying(write, what=f"rekey: update {table}") if n else 0
        self.result.moved[table] += moved
        self.result.skipped_newer[table] += n - moved
        self.done += n
        self.progress.update(self.done)

    def flow(self) -> None:
        c, after = self.cipher, 0
        while rows := self._batch("rekey_flow_batch", {"after": after, "bidx_kid": c.active_bidx_kid}):
            after = rows[-1][0]
            if self.before_update:
                self.before_update(FLOW_TABLE, rows)
            updates = []
            for lead_id, token, _bidx_kid in rows:
                try:
                    e164 = c.decrypt(token)
                except TokenError as exc:
                    self.result.unreadable[FLOW_TABLE] += 1
                    log.error("rekey: lead %s: phone token unreadable (%s), left as it is", lead_id, type(exc).__name__)
                    continue
                new = token if token.startswith(self.enc_prefix) else c.encrypt(e164)
                updates.append((lead_id, token, new, c.bidx(e164), c.active_bidx_kid))
            self._write(FLOW_TABLE, len(updates), lambda db, u=updates: _update_flow_batch(db, u))

    def history(self) -> None:
        """The change journal, a batch of leads at a time (all of each lead's versions are read).

        A moved version gets its fingerprint recomputed over the new blind index, so the next sync of an
        unchanged lead finds its version recorded. A version that, moved, equals another of the lead's rows
        (the sync recorded it again after the bidx kid changed) is deleted instead: it was journaled twice.
        """
        c, after = self.cipher, 0
        while leads := self._batch("history_rekey_leads", {"after": after, "bidx_kid": c.active_bidx_kid}):
            after = leads[-1][0]
            ids = id_list(r[0] for r in leads)

            def read(ids: str = ids) -> list[tuple]:
                with connected(self.flow_conn_id) as db:
                    return db.query("history_rekey_rows", {}, columns=_H_COLUMNS, ids=ids)

            rows = retrying(read, what="rekey: read leads_flow_history")
            if self.before_update:
                self.before_update(HISTORY_TABLE, rows)
            for counts in (self.result.moved, self.result.skipped_newer, self.result.unreadable):
                counts.setdefault(HISTORY_TABLE, 0)
            keys = {(r[0], r[_H_SUA], r[_H_HASH]) for r in rows}
            updates: list[dict[str, Any]] = []
            deletes: list[dict[str, Any]] = []
            for r in rows:
                token = r[_H_TOKEN]
                if token is None or (token.startswith(self.enc_prefix) and r[_H_KID] == c.active_bidx_kid):
                    continue
                try:
                    e164 = c.decrypt(token)
                except TokenError as exc:
                    self.result.unreadable[HISTORY_TABLE] += 1
                    log.error("rekey: history of lead %s: token unreadable (%s), left", r[0], type(exc).__name__)
                    continue
                bidx = c.bidx(e164)
                new_hash = content_hash(_history_values(r, bidx, c.active_bidx_kid))
                params = {
                    "lead_id": r[0],
                    "sua": r[_H_SUA],
                    "old_hash": r[_H_HASH],
                    "old_cipher": token,
                    "new_cipher": token if token.startswith(self.enc_prefix) else c.encrypt(e164),
                    "bidx": bidx,
                    "bidx_kid": c.active_bidx_kid,
                    "new_hash": new_hash,
                }
                key = (r[0], r[_H_SUA], new_hash)
                if new_hash != r[_H_HASH] and key in keys:
                    deletes.append(params)
                else:
                    keys.add(key)
                    updates.append(params)

            def write(db: Db, u: list = updates, d: list = deletes) -> int:
                moved = sum(n > 0 for n in _execute_each(db, "history_rekey_update", u))
                return moved + sum(n > 0 for n in _execute_each(db, "history_rekey_delete", d))

            self._write(HISTORY_TABLE, len(updates) + len(deletes), write)

    def rejects(self) -> None:
        c, after_run, after_lead = self.cipher, "", -1
        while rows := self._batch(
            "rekey_reject_batch", {"after_run": after_run, "after_lead": after_lead, "bidx_kid": c.active_bidx_kid}
        ):
            after_run, after_lead = rows[-1][0], rows[-1][1]
            if self.before_update:
                self.before_update(REJECT_TABLE, rows)
            updates = []
            for etl_run_id, lead_id, raw, bidx_kid in rows:
                try:
                    values = json.loads(raw)
                    token = values["phone"]
                    phone = c.decrypt_raw(token)
                    if not token.startswith(self.enc_prefix):
                        values["phone"] = c.encrypt_raw(phone)
                    bidx = None if bidx_kid is None else c.bidx(normalize(phone))
                except (TokenError, InvalidPhone, ValueError, KeyError, TypeError, AttributeError) as exc:
                    self.result.unreadable[REJECT_TABLE] += 1
                    log.error("rekey: reject of lead %s: raw phone unreadable (%s), left", lead_id, type(exc).__name__)
                    continue
                new_raw = json.dumps(values, ensure_ascii=False, default=str)
                updates.append(
                    {
                        "etl_run_id": etl_run_id,
                        "lead_id": lead_id,
                        "old_raw": raw,
                        "new_raw": new_raw,
                        "bidx": bidx,
                        "bidx_kid": None if bidx is None else c.active_bidx_kid,
                    }
                )
            self._write(
                REJECT_TABLE,
                len(updates),
                lambda db, u=updates: sum(n > 0 for n in _execute_each(db, "rekey_reject_update", u)),
            )


def _history_values(row: Sequence[Any], bidx: int, bidx_kid: str) -> list[Any]:
    """A journal row (lead_id .. before content_hash) typed like the Mapper's output, under a new blind index."""
    values = list(row[:_H_HASH])
    for i in _H_DATETIMES:  # SQLite keeps DATETIME as text
        values[i] = as_datetime(values[i])
    values[0], values[_H_BIDX], values[_H_KID] = int(values[0]), bidx, bidx_kid
    return values


def _audit_rows(run_id: str, phase: str, counts: Mapping[str, Any], keyring: Keyring, at: datetime) -> list[tuple]:
    active = {"enc": keyring.active_enc_kid, "bidx": keyring.active_bidx_kid}
    return [
        (run_id, phase, table, kind, kid, n, active[kind], at)
        for table, kinds in counts.items()
        for kind, by_kid in kinds.items()
        for kid, n in by_kid.items()
    ]


def _record(flow_conn_id: str, rows: list[tuple]) -> None:
    def write() -> None:
        with connected(flow_conn_id) as db, db.transaction():
            db.executemany("rekey_audit_insert", rows)

    retrying(write, what="rekey: write leads_flow_key_audit")


def rekey(
    keyring: Keyring,
    rekey_run_id: str,
    *,
    flow_conn_id: str = FLOW_CONN_ID,
    batch_size: int = 5000,
    dry_run: bool = False,
    before_update: BeforeUpdate | None = None,
    progress_every_s: float = 10.0,
) -> RekeyResult:
    """Move both tables to the keyring's active kids; counts per kid before and after in leads_flow_key_audit.

    Fails with :class:`~leads_flow.rules.keyring.KeyringError` (before writing anything) when stored rows use a kid the keyring does
    not hold. ``dry_run``: counts only, nothing written (not even the audit).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    t0 = time.monotonic()

    def prepare() -> dict[str, Any]:
        with connected(flow_conn_id) as db:
            if not dry_run:
                ensure_flow_schema(db)
            counts = kid_counts(db)
            check_kids_held(db, keyring, used=kids_of(counts))
            return counts

    before = retrying(prepare, what="rekey: count kids")
    res = RekeyResult(rekey_run_id, dry_run, keyring.active_enc_kid, keyring.active_bidx_kid, before)
    pending = _pending(before, keyring.active_enc_kid, keyring.active_bidx_kid)
    log.info(
        "rekey %s: to enc kid %r, bidx kid %r; before %s; about %d row(s) to move%s",
        rekey_run_id,
        keyring.active_enc_kid,
        keyring.active_bidx_kid,
        before,
        pending,
        " (dry run: nothing written)" if dry_run else "",
    )
    if dry_run:
        res.after = before
        res.seconds = time.monotonic() - t0
        return res
    _record(flow_conn_id, _audit_rows(rekey_run_id, "before", before, keyring, datetime.now()))
    progress = Progress(f"rekey {rekey_run_id}", log, total=pending, every_s=progress_every_s)
    worker = _Rekeyer(PhoneCipher(keyring), res, flow_conn_id, batch_size, progress, before_update)
    worker.flow()
    worker.rejects()
    worker.history()
    progress.done(worker.done)

    def count_after() -> dict[str, Any]:
        with connected(flow_conn_id) as db:
            return kid_counts(db)

    res.after = retrying(count_after, what="rekey: count kids")
    _record(flow_conn_id, _audit_rows(rekey_run_id, "after", res.after, keyring, datetime.now()))
    res.seconds = time.monotonic() - t0
    log.info(
        "rekey %s: moved %s, skipped (newer write) %s, unreadable %s; after %s",
        rekey_run_id,
        res.moved,
        res.skipped_newer,
        res.unreadable,
        res.after,
    )
    return res

#!/usr/bin/env python3
"""Wrap a keyring's data keys with an OpenBao / Vault Transit key (KMS mode), or rewrap it after a rotation.

Reads a keyring connection (``{"conn_type": "generic", "extra": {...}}``) or a bare extra as JSON on stdin (or
from ``--in FILE``, which must be mode 0600), writes the same shape on stdout. Nothing secret is an argument:
the operator's token comes from ``BAO_TOKEN`` / ``VAULT_TOKEN``, or the file ``--operator-token-file``, or
``~/.vault-token`` (what ``bao login`` writes).

    # a fresh keyring, wrapped (the data keys exist only in this process and in Transit's ciphertexts):
    python scripts/wrap_keys.py --generate --url https://bao.internal:8200 --key leads-flow \\
        | bao kv put -mount=secret connections/leads_pii -
    # an existing plain keyring, wrapped:
    bao kv get -format=json -field=data secret/connections/leads_pii \\
        | python scripts/wrap_keys.py --url https://bao.internal:8200 --key leads-flow \\
        | bao kv put -mount=secret connections/leads_pii -
    # after `bao write -f transit/keys/leads-flow/rotate`: the one-line rewrap (transit/rewrap, no plaintext)
    bao kv get -format=json -field=data secret/connections/leads_pii | python scripts/wrap_keys.py --rewrap \\
        | bao kv put -mount=secret connections/leads_pii -

Wrapping needs a token allowed ``update`` on ``<mount>/encrypt/<key>``; rewrapping on ``<mount>/rewrap/<key>``
(the data keys never leave Transit while rewrapping). The wrapped extra's ``kms`` block names the *tasks'*
credential: ``--token-path`` (default /run/secrets/leads-flow-transit-token) or ``--role-id`` with
``--secret-id-path`` (AppRole); that credential needs ``update`` on ``<mount>/decrypt/<key>`` only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from leads_flow.io.kms import KMS_TYPE, KmsError, TransitConfig, classify_error, transit_client  # noqa: E402
from leads_flow.rules.keyring import Keyring, KeyringError  # noqa: E402

DEFAULT_TOKEN_PATH = "/run/secrets/leads-flow-transit-token"
RINGS = ("enc", "bidx")


def fresh_extra() -> dict:
    b64 = lambda: base64.b64encode(secrets.token_bytes(32)).decode("ascii")  # noqa: E731
    return {"enc_keys": {"1": b64()}, "active_enc_kid": "1", "bidx_keys": {"1": b64()}, "active_bidx_kid": "1"}


def read_input(path: str | None) -> object:
    if path is None:
        text = sys.stdin.read()
    else:
        p = Path(path)
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            raise SystemExit(f"wrap_keys: {path} is readable by others (mode {mode:o}); chmod 600 it")
        text = p.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:
        raise SystemExit("wrap_keys: the input is not JSON") from None


def operator_token(file: str | None) -> str:
    for var in ("BAO_TOKEN", "VAULT_TOKEN"):
        if os.environ.get(var):
            return os.environ[var]
    path = Path(file) if file else Path.home() / ".vault-token"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise SystemExit(
            "wrap_keys: no operator token (BAO_TOKEN, VAULT_TOKEN, --operator-token-file or ~/.vault-token)"
        ) from None


def split(doc: object) -> tuple[dict, dict | None]:
    """(extra, connection wrapper or None)."""
    if isinstance(doc, dict) and isinstance(doc.get("extra"), (dict, str)):
        extra = doc["extra"] if isinstance(doc["extra"], dict) else json.loads(doc["extra"])
        return extra, doc
    if isinstance(doc, dict):
        return doc, None
    raise SystemExit("wrap_keys: the input must be a JSON object (a connection or its extra)")


def wrap(extra: dict, kms_doc: dict, token: str) -> dict:
    if "kms" in extra:
        raise SystemExit("wrap_keys: the input is already wrapped (use --rewrap after a Transit key rotation)")
    rings = [r for r in RINGS if f"{r}_keys" in extra]
    if not rings:
        raise SystemExit("wrap_keys: the input holds no enc_keys / bidx_keys")
    if rings == list(RINGS):
        Keyring.from_extra(extra)  # a valid keyring (key lengths, independent rings) before wrapping it
    kms = TransitConfig(kms_doc, "wrap_keys")
    client = transit_client(kms, token=token)
    out: dict = {"kms": kms_doc}
    for ring in rings:
        wrapped = {}
        for kid, b64key in extra[f"{ring}_keys"].items():
            if len(base64.b64decode(b64key, validate=True)) != 32:
                raise SystemExit(f"wrap_keys: {ring}_keys[{kid!r}] is not a 32-byte key")
            try:
                resp = client.secrets.transit.encrypt_data(name=kms.key, plaintext=b64key, mount_point=kms.mount)
            except Exception as exc:
                raise classify_error(exc, kms, f"wrapping {ring} kid {kid!r}") from None
            wrapped[kid] = resp["data"]["ciphertext"]
        out[f"wrapped_{ring}_keys"] = wrapped
        out[f"active_{ring}_kid"] = extra[f"active_{ring}_kid"]
    return out


def rewrap(extra: dict, token: str) -> dict:
    if "kms" not in extra:
        raise SystemExit("wrap_keys: --rewrap needs a wrapped keyring (with a 'kms' block)")
    kms = TransitConfig(extra["kms"], "wrap_keys")
    client = transit_client(kms, token=token)
    out = dict(extra)
    for ring in RINGS:
        field = f"wrapped_{ring}_keys"
        if field not in extra:
            continue
        new = {}
        for kid, ciphertext in extra[field].items():
            try:
                resp = client.secrets.transit.rewrap_data(name=kms.key, ciphertext=ciphertext, mount_point=kms.mount)
            except Exception as exc:
                raise classify_error(exc, kms, f"rewrapping {ring} kid {kid!r}") from None
            new[kid] = resp["data"]["ciphertext"]
        out[field] = new
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rewrap", action="store_true", help="rewrap a wrapped keyring under the latest Transit key")
    ap.add_argument("--generate", action="store_true", help="wrap a fresh keyring (kid 1 in both rings)")
    ap.add_argument("--in", dest="infile", help="read the keyring from this 0600 file instead of stdin")
    ap.add_argument("--url", default=os.environ.get("BAO_ADDR") or os.environ.get("VAULT_ADDR"))
    ap.add_argument("--key", help="Transit key name")
    ap.add_argument("--mount", default="transit")
    ap.add_argument("--token-path", help=f"the tasks' decrypt-only token file (default {DEFAULT_TOKEN_PATH})")
    ap.add_argument("--role-id", help="the tasks' AppRole role_id (instead of --token-path)")
    ap.add_argument("--secret-id-path", help="the tasks' AppRole secret_id file")
    ap.add_argument("--ca-cert", help="CA bundle the tasks use to verify the KMS's TLS certificate")
    ap.add_argument("--operator-token-file", help="the operator's token file (default: env, then ~/.vault-token)")
    args = ap.parse_args(argv)

    try:
        if args.rewrap:
            if args.generate:
                ap.error("--rewrap and --generate exclude each other")
            extra, conn = split(read_input(args.infile))
            result = rewrap(extra, operator_token(args.operator_token_file))
        else:
            if not (args.url and args.key):
                ap.error("--url (or BAO_ADDR) and --key are required to wrap")
            kms_doc: dict = {"type": KMS_TYPE, "url": args.url, "mount": args.mount, "key": args.key}
            if args.role_id:
                if not args.secret_id_path:
                    ap.error("--role-id needs --secret-id-path")
                kms_doc.update(role_id=args.role_id, secret_id_path=args.secret_id_path)
            else:
                kms_doc["token_path"] = args.token_path or DEFAULT_TOKEN_PATH
            if args.ca_cert:
                kms_doc["ca_cert"] = args.ca_cert
            if args.generate:
                extra, conn = fresh_extra(), {"conn_type": "generic"}
            else:
                extra, conn = split(read_input(args.infile))
            result = wrap(extra, kms_doc, operator_token(args.operator_token_file))
    except (KmsError, KeyringError) as exc:
        sys.stderr.write(f"wrap_keys: {exc}\n")
        return 1
    doc = {**conn, "extra": result} if conn is not None else result
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

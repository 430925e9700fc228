"""Generate tests/vectors/phone_crypto.json: the cross-language e1/bidx/mask contract.

Deterministic (fixed keys, fixed nonces) so the Java services can replay every case.
    python scripts/gen_phone_vectors.py          # rewrite the file
    python scripts/gen_phone_vectors.py --check  # exit 1 if the file differs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "tests" / "vectors" / "phone_crypto.json"
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from leads_flow.rules.crypto import PhoneCipher  # noqa: E402
from leads_flow.rules.keyring import Keyring  # noqa: E402
from leads_flow.rules.phone import InvalidPhone, mask, normalize, normalize_reference  # noqa: E402

ENC_ROOT = bytes(range(0x00, 0x20))
BIDX_ROOT = bytes(range(0x20, 0x40))
ENC_ROOT_K2 = bytes(range(0x40, 0x60))
BIDX_ROOT_K2 = bytes(range(0x60, 0x80))

# 13800138000 is the well-known documentation number; the rest are synthetic.
VALID_INPUTS: list[tuple[str, bytes, bytes, str]] = [
    ("138 0013 8000", ENC_ROOT, BIDX_ROOT, "1"),
    ("+86 138-0013-8000", ENC_ROOT, BIDX_ROOT, "1"),
    ("0086 13800138000", ENC_ROOT, BIDX_ROOT, "1"),
    ("8613800138000", ENC_ROOT, BIDX_ROOT, "1"),
    ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", ENC_ROOT, BIDX_ROOT, "1"),
    ("  (+86) 150-0000-0000\t", ENC_ROOT, BIDX_ROOT, "1"),
    ("0086 (199) 0000 0001", ENC_ROOT, BIDX_ROOT, "1"),
    ("013800138000", ENC_ROOT, BIDX_ROOT, "1"),  # national (trunk) prefix 0
    ("010 6000 0000", ENC_ROOT, BIDX_ROOT, "1"),  # Beijing fixed line: 10-digit mask rule
    ("+86 138 0013 8000", ENC_ROOT_K2, BIDX_ROOT_K2, "k2"),
    ("18600000000", ENC_ROOT_K2, BIDX_ROOT_K2, "k2"),
]
INVALID_INPUTS: list[str | None] = [
    None,
    "",
    "   ",
    "12345",
    "1380013800",  # 10 digits
    "138001380001",  # 12 digits
    "+1 000 000 0000",
    "not a phone",
    "\uff11\uff12\uff13",
    "+86 100 0000 0000",
]


def _nonce(i: int) -> bytes:
    """Case 0 uses 00..0b, case i uses the next 12 bytes (mod 256)."""
    return bytes((12 * i + j) % 256 for j in range(12))


def _negative_bidx_input() -> str:
    """First synthetic mobile 1390000000n whose bidx under the base keys is negative."""
    cipher = PhoneCipher(Keyring({"1": ENC_ROOT}, "1", {"1": BIDX_ROOT}, "1"))
    for n in range(10_000):
        raw = f"139 0000 {n:04d}"
        if cipher.bidx(normalize(raw)) < 0:
            return raw
    raise RuntimeError("no negative bidx found")  # pragma: no cover


def build_vectors() -> dict[str, Any]:
    """The whole vectors document, as a JSON-ready dict."""
    inputs = list(VALID_INPUTS)
    inputs.insert(6, (_negative_bidx_input(), ENC_ROOT, BIDX_ROOT, "1"))
    cases: list[dict[str, Any]] = []
    for i, (raw, enc_root, bidx_root, kid) in enumerate(inputs):
        e164 = normalize(raw)
        assert e164 == normalize_reference(raw)
        cipher = PhoneCipher(Keyring({kid: enc_root}, kid, {kid: bidx_root}, kid))
        nonce = _nonce(i)
        token = cipher._encrypt_with_nonce(e164, nonce_for_test_vectors_only=nonce)
        assert cipher.decrypt(token) == e164
        cases.append(
            {
                "enc_root_hex": enc_root.hex(),
                "bidx_root_hex": bidx_root.hex(),
                "kid": kid,
                "nonce_hex": nonce.hex(),
                "input": raw,
                "e164": e164,
                "token": token,
                "bidx": cipher.bidx(e164),
                "masked": mask(e164),
            }
        )
    assert any(c["bidx"] < 0 for c in cases) and any(c["bidx"] > 0 for c in cases)
    for raw in INVALID_INPUTS:
        try:
            normalize(raw)
        except InvalidPhone as exc:
            cases.append({"input": raw, "error": exc.reason})
        else:  # pragma: no cover
            raise AssertionError("an invalid vector input was accepted")
    return {"format": "e1", "cases": cases}


def render(doc: dict[str, Any]) -> str:
    """Stable text form: ASCII-only JSON (full-width digits escaped), trailing newline."""
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def main(
    argv: list[str] | None = None,
    *,
    build: Callable[[], dict[str, Any]] | None = None,
    render_doc: Callable[[dict[str, Any]], str] = render,
    default_output: Path = DEFAULT_OUTPUT,
    script: str = "scripts/gen_phone_vectors.py",
    description: str = __doc__.splitlines()[0],
) -> int:
    """Write the vector file, or with ``--check`` say whether it is current (exit 1 if not). The field-rule
    vectors (scripts/gen_field_vectors.py) run through here too, with their own builder and renderer."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=default_output)
    args = parser.parse_args(argv)
    text = render_doc((build or build_vectors)())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date; run {script}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""KMS mode of the keyring (issue 21, part 1): data keys stored only wrapped by an OpenBao Transit key.

A real OpenBao dev server (tests/e2e/openbao_support.py, with a file audit device that counts Transit calls), the
Transit engine and key enabled by the test, a task token whose policy allows ``transit/decrypt/<key>`` only, and
the keyring wrapped by ``scripts/wrap_keys.py`` (the operator's path: keys on stdin, the token from
``~/.vault-token``). Then: the unwrapped keyring is the plain one; ``leads_flow_sync``, ``leads_flow_rekey`` (to
kid 2, registered by ``scripts/register_keys.py`` as the rotation runbook says) and ``leads_flow_erase`` (lead ids
resolved by ``scripts/erase.py --dry-run``) each run by ``dag.test()`` in a fresh Airflow process whose only keyring
is a wrapped one, on MariaDB databases of the test's own (tests/e2e/airflow_run.py); a Transit key rotation plus the
documented one-line rewrap keeps every token readable; a token without decrypt rights fails permanently naming the
KMS; an unreachable KMS is transient; the keys are unwrapped once per process. Generated phones only, compared and
never printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from devkit.seed import SEED_COLUMNS
from leads_flow.io.keyring import load_keyring
from leads_flow.io.kms import KmsDenied, KmsUnavailable
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.keyring import Keyring
from tests.conftest import BOTH, ONLY_NEW, ROOT, keyring_extra, register_kids
from tests.e2e.airflow_run import airflow_env, migrate, run_dag
from tests.e2e.openbao_support import openbao_audited, openbao_tls  # noqa: F401  (fixtures)
from tests.helpers import distinct_phones, fail_unless, insert, legacy_row, sync
from tests.integration.test_java_repository import kit as java_kit  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

KEY = "leads-flow"
DECRYPT_ONLY = f'path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}\n'
ENCRYPT_ONLY = f'path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}\n'
DECRYPT = f"transit/decrypt/{KEY}"
DAY = "2026-11-20"
PARAMS = {"max_reject_ratio": 0.5}


def _spellings(extra: dict) -> set[str]:
    """Every base64 key of a plain extra, and its hex, to look for in output (never printed)."""
    out = set()
    for field in ("enc_keys", "bidx_keys"):
        for v in extra.get(field, {}).values():
            out |= {v, v.rstrip("="), base64.b64decode(v).hex()}
    return out


def _same(a: Keyring, b: Keyring) -> bool:
    return (dict(a.enc_keys), a.active_enc_kid, dict(a.bidx_keys), a.active_bidx_kid) == (
        dict(b.enc_keys),
        b.active_enc_kid,
        dict(b.bidx_keys),
        b.active_bidx_kid,
    )


def wrap(openbao, plain: dict, token_path: Path, *extra_args: str) -> dict:
    """scripts/wrap_keys.py with the plain extra on stdin, the operator's (root) token from ~/.vault-token."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "wrap_keys.py"),
            "--url",
            openbao.addr,
            "--key",
            KEY,
            "--token-path",
            str(token_path),
            *extra_args,
        ],
        input=json.dumps({"conn_type": "generic", "extra": plain}),
        capture_output=True,
        text=True,
        env=openbao.env(),
        timeout=60,
    )
    leaked = any(s in proc.stdout + proc.stderr for s in _spellings(plain))
    assert not leaked, "wrap_keys.py printed a data key"
    assert proc.returncode == 0, proc.stderr[-1000:]
    doc = json.loads(proc.stdout)
    assert doc["conn_type"] == "generic"
    return doc["extra"]


@pytest.fixture
def kms(openbao_audited, tmp_path, monkeypatch):  # noqa: F811
    """OpenBao with Transit key ``leads-flow``; ``.token`` a decrypt-only task token file; ``.use(extra)`` points
    ``leads_pii`` at an extra (cache cleared)."""
    bao = openbao_audited
    bao.enable_transit(KEY)
    bao.token = bao.token_file("leads-flow-unwrap", DECRYPT_ONLY, tmp_path / "transit-token")

    def use(extra: dict) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": extra}))
        load_keyring.cache_clear()

    bao.use = use
    yield bao
    load_keyring.cache_clear()


def test_unwrap_gives_the_plain_keyring_once_per_process(kms, cipher):
    plain = keyring_extra()
    wrapped = wrap(kms, plain, kms.token)
    assert set(wrapped) == {"kms", "wrapped_enc_keys", "active_enc_kid", "wrapped_bidx_keys", "active_bidx_kid"}
    assert all(v.startswith("vault:v1:") for v in wrapped["wrapped_enc_keys"].values())
    assert wrapped["kms"] == {
        "type": "openbao-transit",
        "url": kms.addr,
        "mount": "transit",
        "key": KEY,
        "token_path": str(kms.token),
    }
    assert not any(s in json.dumps(wrapped) for s in _spellings(plain)), "the wrapped extra holds a data key"
    phone = "+86" + distinct_phones(1, 5)[0]
    token = cipher.encrypt(phone)  # a token made under the plain keyring
    kms.use(wrapped)

    keyring = load_keyring()
    assert _same(keyring, Keyring.from_extra(plain))
    assert PhoneCipher(keyring).decrypt(token) == phone  # compared, never printed
    for _ in range(5):  # tasks call it per step; the process cache answers
        assert load_keyring() is keyring
    assert kms.audited_requests(DECRYPT) == 2  # one per wrapped key (enc 1, bidx 1), once per process


def test_the_decrypt_only_token_can_do_nothing_else(kms):
    import hvac
    import hvac.exceptions

    client = hvac.Client(url=kms.addr, token=kms.token.read_text().strip())
    for call in (
        lambda: client.secrets.transit.encrypt_data(name=KEY, plaintext="aGVsbG8="),
        lambda: client.secrets.transit.read_key(name=KEY),
        lambda: client.secrets.transit.export_key(name=KEY, key_type="encryption-key"),
        lambda: client.secrets.transit.rotate_key(name=KEY),
        lambda: client.secrets.transit.rewrap_data(name=KEY, ciphertext="vault:v1:AAAA"),
        lambda: client.secrets.kv.v2.read_secret_version(path="anything", mount_point="secret"),
    ):
        with pytest.raises(hvac.exceptions.Forbidden):
            call()


def test_sync_rekey_and_erasure_dags_in_kms_mode(kms, mysql_dbs, tmp_path):
    """``leads_flow_sync``, ``leads_flow_rekey`` to kid 2 (registered as the rotation runbook says) and
    ``leads_flow_erase``, each by ``dag.test()`` in a fresh Airflow process whose only keyring is a wrapped one."""
    phones = distinct_phones(12, 909)
    insert(
        mysql_dbs,
        [legacy_row(phone=p, update_time=datetime(2026, 11, 20, 9, i)) for i, p in enumerate(phones, start=1)],
    )
    keys = _spellings(BOTH)  # every key of both kids, in every spelling
    home = tmp_path / "airflow-home"
    home.mkdir()

    def env_for(extra: dict) -> dict[str, str]:
        """A fresh process's environment: this test's databases, ``leads_pii`` the wrapped keyring ``extra``."""
        return airflow_env(
            home,
            conn_env={
                "AIRFLOW_CONN_LEADS_PII": json.dumps({"conn_type": "generic", "extra": extra}),
                "AIRFLOW_CONN_LEADS_LEGACY": os.environ["AIRFLOW_CONN_LEADS_LEGACY"],
                "AIRFLOW_CONN_LEADS_FLOW": os.environ["AIRFLOW_CONN_LEADS_FLOW"],
            },
        )

    def clean(output: str, what: str) -> None:
        fail_unless(not any(s in output for s in keys), f"{what}'s output holds a data key")
        fail_unless(not any(p in output or p[-8:] in output for p in phones), f"a phone appears in {what}'s output")

    def run(dag_id: str, conf: dict, extra: dict) -> str:
        result, output = run_dag(env_for(extra), tmp_path, conf, dag_id)
        clean(output, dag_id)
        ok = result is not None and result["state"] == "success"
        assert ok, f"dag.test() of {dag_id} did not succeed; its output ends with:\n" + output[-4000:]
        return output

    def script(name: str, extra: dict, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / name), *args],
            env=env_for(extra),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        clean(proc.stdout + proc.stderr, name)
        assert proc.returncode == 0, f"{name} exited {proc.returncode}: {proc.stderr[-800:]}"
        return proc.stdout

    def flow_under(kid: str, extra: dict) -> bool:
        """Every row's token and blind index under ``kid``, decrypting and indexing with ``extra`` unwrapped here."""
        kms.use(extra)
        cipher = PhoneCipher(load_keyring())
        rows = mysql_dbs.flow_rows("SELECT phone_cipher, phone_bidx, phone_bidx_kid FROM leads_flow ORDER BY lead_id")
        return len(rows) == len(phones) and all(
            tok.startswith(f"e1:{kid}:")
            and cipher.decrypt(tok) == "+86" + p
            and (bk, bidx) == (kid, cipher.bidx("+86" + p))
            for (tok, bidx, bk), p in zip(rows, phones, strict=True)
        )

    # the sync: kid 1, first met here and so recorded by the run (trust on first use)
    wrapped = wrap(kms, keyring_extra(), kms.token)
    migrate(env_for(wrapped))
    output = run("leads_flow_sync", {"start_date": DAY, "end_date": DAY, **PARAMS}, wrapped)
    assert "Unwrapped 2 data key(s) of connection 'leads_pii'" in output
    assert kms.audited_requests(DECRYPT) == 2  # dag.test() runs every task in one process: unwrapped once
    fail_unless(flow_under("1", wrapped), "a published row does not decrypt/index with the unwrapped keyring")

    # the rotation runbook: kid 2 added with the active kids unchanged, registered by scripts/register_keys.py
    # (by whoever holds the flow database's credentials, outside Airflow), made active, then the rekey DAG
    adding = wrap(kms, {**BOTH, "active_enc_kid": "1", "active_bidx_kid": "1"}, kms.token)
    assert "registered enc:2, bidx:2" in script("register_keys.py", adding, "--register", "enc:2", "bidx:2")
    assert "Unwrapped 4 data key(s)" in run("leads_flow_rekey", {}, wrap(kms, BOTH, kms.token))
    fail_unless(flow_under("2", wrap(kms, ONLY_NEW, kms.token)), "a row is not under kid 2 after the rekey")
    after = mysql_dbs.flow_rows(
        "SELECT DISTINCT table_name, key_kind, kid FROM leads_flow_key_audit WHERE phase = 'after' AND row_count > 0"
    )
    assert {kid for _, _, kid in after} == {"2"}  # leads_flow and its change journal, both rings
    assert {("leads_flow", "enc", "2"), ("leads_flow", "bidx", "2")} <= set(after)

    # the erasure: kid 1 retired; phones resolved to lead ids outside Airflow (scripts/erase.py --dry-run),
    # then the erase DAG with the lead ids only
    only_new = wrap(kms, ONLY_NEW, kms.token)
    file = tmp_path / "phones.txt"
    file.write_text(f"{phones[1]}\n{phones[4]}\n", encoding="utf-8")
    resolved = json.loads(script("erase.py", only_new, str(file), "--requested-by", "ticket-kms", "--dry-run"))
    file.unlink()
    assert resolved["lead_ids"] == [2, 5]
    run("leads_flow_erase", {"lead_ids": resolved["lead_ids"]}, only_new)
    personal = (
        "phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, ip_address, user_agent, window_url,"
        " content_hash"
    )
    rows = mysql_dbs.flow_rows(f"SELECT lead_id, is_deleted, {personal} FROM leads_flow ORDER BY lead_id")
    tombstones = [r[0] for r in rows if r[1] == 1 and all(v is None for v in r[2:])]
    assert tombstones == [2, 5]
    assert all(r[1] == 0 and r[2] is not None for r in rows if r[0] not in (2, 5))
    erased = mysql_dbs.flow_rows("SELECT lead_id, requested_by FROM leads_flow_erasure ORDER BY lead_id")
    assert [r[0] for r in erased] == [2, 5] and all(r[1].startswith("manual__") for r in erased)


def test_rewrap_after_a_transit_rotation_keeps_every_token_readable(kms, mysql_dbs):
    """``bao write -f transit/keys/<k>/rotate``, then the documented one line (docs/running.md): KV → rewrap → KV."""
    phones = distinct_phones(4, 77)
    insert(mysql_dbs, [legacy_row(phone=p, update_time=datetime(2026, 11, 20, 9, i)) for i, p in enumerate(phones)])
    register_kids(keyring_extra())
    wrapped = wrap(kms, keyring_extra(), kms.token)
    kms.bao(
        "kv",
        "put",
        "-mount=secret",
        "connections/leads_pii",
        "-",
        stdin=json.dumps({"conn_type": "generic", "extra": wrapped}).encode(),
    )
    kms.use(kms.read_kv("connections/leads_pii")["extra"])
    sync(DAY, **PARAMS)
    tokens = [r[0] for r in mysql_dbs.flow_rows("SELECT phone_cipher FROM leads_flow ORDER BY lead_id")]
    assert len(tokens) == 4

    kms.bao("write", "-f", f"transit/keys/{KEY}/rotate")
    line = (
        "bao kv get -format=json -mount=secret -field=data connections/leads_pii"
        f" | {shlex.quote(sys.executable)} scripts/wrap_keys.py --rewrap"
        " | bao kv put -mount=secret connections/leads_pii -"
    )
    env = {**kms.env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    rewrapped = kms.read_kv("connections/leads_pii")["extra"]
    assert all(
        v.startswith("vault:v2:") for f in ("wrapped_enc_keys", "wrapped_bidx_keys") for v in rewrapped[f].values()
    )
    assert rewrapped["kms"] == wrapped["kms"]

    kms.bao("write", f"transit/keys/{KEY}/config", "min_decryption_version=2")  # once rewrapped: v1 refused
    kms.use(wrapped)  # the old ciphertexts: refused now, permanently, naming the KMS and the kid
    with pytest.raises(KmsDenied) as refused:
        load_keyring()
    assert kms.addr in str(refused.value) and "kid '1'" in str(refused.value)

    kms.use(rewrapped)
    keyring = load_keyring()
    assert _same(keyring, Keyring.from_extra(keyring_extra()))
    fresh = PhoneCipher(keyring)
    ok = all(fresh.decrypt(t) == "+86" + p for t, p in zip(tokens, phones, strict=True))
    fail_unless(ok, "a token no longer decrypts after the rewrap")


def test_a_token_without_decrypt_rights_fails_permanently_naming_the_kms(kms, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from leads_flow.tasks.boundary import checked_keyring

    no_decrypt = kms.token_file("leads-flow-encrypt-only", ENCRYPT_ONLY, tmp_path / "encrypt-only-token")
    plain = keyring_extra()
    kms.use(wrap(kms, plain, no_decrypt))
    with pytest.raises(KmsDenied) as denied:
        load_keyring()
    message = str(denied.value)
    assert kms.addr in message and f"transit/decrypt/{KEY}" in message and "kid '1'" in message
    assert not any(s in message for s in _spellings(plain))
    assert denied.value.__cause__ is None and denied.value.__suppress_context__
    with pytest.raises(AirflowFailException) as failed:  # no Airflow retry
        checked_keyring()
    assert kms.addr in str(failed.value)


def test_an_unreachable_kms_is_transient(kms):
    wrapped = wrap(kms, keyring_extra(), kms.token)
    kms.stop()
    kms.use(wrapped)
    with pytest.raises(KmsUnavailable) as down:
        load_keyring()
    assert kms.addr in str(down.value) and "kid '1'" in str(down.value)
    with pytest.raises(KmsUnavailable):  # not cached: the next attempt asks again
        load_keyring()


def test_approle_unwraps_with_a_secret_id_file(kms, tmp_path):
    """The AppRole form of the ``kms`` block: ``role_id`` in the extra, the secret id in a 0600 file."""
    kms.bao("auth", "enable", "approle")
    kms.bao("write", "auth/approle/role/leads-flow", "token_policies=leads-flow-unwrap", "token_ttl=10m")
    role_id = kms.bao("read", "-field=role_id", "auth/approle/role/leads-flow/role-id").strip()
    secret_id = kms.bao("write", "-f", "-field=secret_id", "auth/approle/role/leads-flow/secret-id").strip()
    secret_file = tmp_path / "secret-id"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret_id)
    del secret_id
    plain = keyring_extra()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "wrap_keys.py"),
            "--key",
            KEY,
            "--role-id",
            role_id,
            "--secret-id-path",
            str(secret_file),
        ],
        input=json.dumps(plain),  # a bare extra in, a bare extra out
        capture_output=True,
        text=True,
        env={**kms.env(), "BAO_ADDR": kms.addr},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    wrapped = json.loads(proc.stdout)
    assert wrapped["kms"]["role_id"] == role_id and "token_path" not in wrapped["kms"]
    kms.use(wrapped)
    assert _same(load_keyring(), Keyring.from_extra(plain))
    assert kms.audited_requests("auth/approle/login") == 1 and kms.audited_requests(DECRYPT) == 2

    secret_file.write_text("not-the-secret-id")
    kms.use(wrapped)
    with pytest.raises(KmsDenied) as denied:
        load_keyring()
    assert "AppRole login" in str(denied.value) and kms.addr in str(denied.value)


def test_the_java_unwrap_of_interfaces_md(kms, java_kit, tmp_path):  # noqa: F811
    """docs/interfaces.md's Java block (a service's start), compiled against java/src as it stands, loads the
    wrapped keyring: one Transit decrypt per wrapped key."""
    runner, _ = java_kit
    classpath = runner[runner.index("-cp") + 1]
    doc = (ROOT / "docs" / "interfaces.md").read_text(encoding="utf-8")
    section = doc.split("## Keys in KMS mode", 1)[1].split("\n## ", 1)[0]
    source = re.search(r"```java\n(.*?)```", section, re.S).group(1)
    (tmp_path / "KmsKeyringStart.java").write_text(source, encoding="utf-8")
    subprocess.run(
        [shutil.which("javac"), "-d", str(tmp_path), "-cp", classpath, str(tmp_path / "KmsKeyringStart.java")],
        check=True,
        timeout=120,
    )
    keyring = tmp_path / "wrapped.json"
    keyring.write_text(json.dumps(wrap(kms, keyring_extra(), kms.token)), encoding="utf-8")
    java = [runner[0], "-cp", f"{tmp_path}{os.pathsep}{classpath}", "KmsKeyringStart", str(keyring)]
    proc = subprocess.run(java, capture_output=True, text=True, timeout=60, env=_no_vault_env())
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert proc.stdout.strip() == "loaded; active blind-index kid 1"
    assert kms.audited_requests(DECRYPT) == 2


def _no_vault_env() -> dict[str, str]:
    """The JVM's environment without any OpenBao address or token: only the kms block's credential is used."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}


def _java_runner(kit: tuple, keyring: dict, name: str, command: str, lines: list[str], url: str, *args: str):
    """RepositoryRunner with ``keyring`` (a file holding no key in KMS mode) on a file of JSON lines."""
    runner, tmp = kit
    file = tmp / f"{name}-keyring.json"
    file.write_text(json.dumps(keyring), encoding="utf-8")
    inp, out = tmp / f"{name}.in.jsonl", tmp / f"{name}.out.jsonl"
    inp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    env = {**_no_vault_env(), "LEADS_JDBC_URL": url}
    proc = subprocess.run(
        [*runner, "--keyring", str(file), command, str(inp), str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return proc, results


def test_the_java_repository_in_kms_mode(kms, java_kit, mysql_dbs, tmp_path):  # noqa: F811
    """Python's leads_flow_sync publishes in KMS mode; Java's repository (RepositoryRunner) loads the same wrapped
    keyring, finds each lead by its phone in a dirty spelling (blind index, then the candidate's e1 token decrypted)
    and writes leads whose tokens and indexes Python's plain keyring reads. A token without decrypt rights: exit 3,
    KmsDenied naming the kid and the KMS, no key; the KMS stopped: exit 75, KmsUnavailable."""
    from tests.integration.test_java_repository import _jdbc_url, _json_line

    phones = distinct_phones(10, 2323)
    rows = [legacy_row(phone=p, update_time=datetime(2026, 11, 20, 9, i)) for i, p in enumerate(phones, start=1)]
    insert(mysql_dbs, rows)
    register_kids(keyring_extra())
    wrapped = wrap(kms, keyring_extra(), kms.token)
    kms.use(wrapped)
    sync(DAY, **PARAMS)  # Python, in KMS mode
    assert kms.audited_requests(DECRYPT) == 2
    url = _jdbc_url(mysql_dbs.flow_name)

    def spelling(i: int, p: str) -> str:  # dirty spellings of the same number
        return [f"+86 {p[:3]} {p[3:7]} {p[7:]}", f"0086-{p}", f"86{p}", p][i % 4]

    queries = [json.dumps({"phone": spelling(i, p)}) for i, p in enumerate(phones)]
    proc, found = _java_runner(java_kit, wrapped, "kms-find", "find-phone", queries, url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert found == [{"lead_ids": [i]} for i in range(1, len(phones) + 1)], "Java did not find a lead Python wrote"
    assert kms.audited_requests(DECRYPT) == 4  # the JVM unwrapped each key once

    new_phones = distinct_phones(15, 2323)[10:]
    leads = [
        {"id": 100 + i, **dict(zip(SEED_COLUMNS, legacy_row(phone=p, update_time=datetime(2026, 11, 21, 9, i))))}
        for i, p in enumerate(new_phones)
    ]
    proc, written = _java_runner(
        java_kit, wrapped, "kms-submit", "submit", [_json_line(lead) for lead in leads], url, "java-kms"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert written == [{"result": "written"}] * len(leads)
    assert kms.audited_requests(DECRYPT) == 6
    plain = PhoneCipher(Keyring.from_extra(keyring_extra()))
    got = mysql_dbs.flow_rows("SELECT phone_cipher, phone_bidx FROM leads_flow WHERE lead_id >= 100 ORDER BY lead_id")
    ok = len(got) == len(new_phones) and all(
        tok.startswith("e1:1:") and plain.decrypt(tok) == "+86" + p and bidx == plain.bidx("+86" + p)
        for (tok, bidx), p in zip(got, new_phones, strict=True)
    )
    fail_unless(ok, "a row Java wrote in KMS mode does not decrypt/index with the plain keyring")

    no_decrypt = kms.token_file("leads-flow-encrypt-only", ENCRYPT_ONLY, tmp_path / "encrypt-only-token")
    denied_keyring = wrap(kms, keyring_extra(), no_decrypt)
    proc, _ = _java_runner(java_kit, denied_keyring, "kms-denied", "find-phone", queries[:1], url)
    assert proc.returncode == 3, proc.stderr[-2000:]
    message = proc.stderr
    assert "KmsDenied" in message and kms.addr in message and f"transit/decrypt/{KEY}" in message, message
    assert "kid '1'" in message and "HTTP 403" in message, message
    assert not any(s in message for s in _spellings(keyring_extra())), "a data key in the error"
    assert "vault:v1:" not in message and no_decrypt.read_text().strip() not in message

    kms.stop()
    proc, _ = _java_runner(java_kit, wrapped, "kms-down", "find-phone", queries[:1], url)
    assert proc.returncode == 75, proc.stderr[-2000:]
    assert "KmsUnavailable" in proc.stderr and kms.addr in proc.stderr and "kid '1'" in proc.stderr, proc.stderr


def test_the_java_keyring_over_https(openbao_tls, java_kit, mysql_dbs, tmp_path):  # noqa: F811
    """``kms.url`` on https: Java trusts the PEM CA of ``ca_cert`` (and nothing else then); without ``ca_cert``
    the dev server's self-signed certificate is refused: exit 3, KmsDenied."""
    from tests.integration.test_java_repository import _jdbc_url

    bao = openbao_tls
    bao.enable_transit(KEY)
    token = bao.token_file("leads-flow-unwrap", DECRYPT_ONLY, tmp_path / "transit-token")
    wrapped = wrap(bao, keyring_extra(), token, "--ca-cert", str(bao.ca_cert))
    assert wrapped["kms"]["url"].startswith("https://")
    from leads_flow.io.schema import ensure_flow_schema

    flow = mysql_dbs.flow()
    try:
        ensure_flow_schema(flow)
    finally:
        flow.close()
    url = _jdbc_url(mysql_dbs.flow_name)
    query = [json.dumps({"phone": "+86" + distinct_phones(1, 31)[0]})]
    proc, found = _java_runner(java_kit, wrapped, "tls-ok", "find-phone", query, url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert found == [{"lead_ids": []}]
    no_ca = {**wrapped, "kms": {k: v for k, v in wrapped["kms"].items() if k != "ca_cert"}}
    proc, _ = _java_runner(java_kit, no_ca, "tls-refused", "find-phone", query, url)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "TLS certificate was not accepted" in proc.stderr and bao.addr in proc.stderr, proc.stderr


def test_unwrapped_keys_are_registered_with_the_masker(kms):
    from airflow.sdk._shared.secrets_masker import redact

    from leads_flow.rules.crypto import BIDX_INFO, ENC_INFO, hkdf

    enc, bidx = os.urandom(32), os.urandom(32)  # fresh: no other test registered them in this process
    plain = keyring_extra(enc, bidx)
    kms.use(wrap(kms, plain, kms.token))
    load_keyring()
    for key in (enc, bidx, hkdf(enc, ENC_INFO), hkdf(bidx, BIDX_INFO)):
        std, url = base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()
        for form in (std, std.rstrip("="), url, url.rstrip("="), key.hex(), key.hex().upper()):
            redacted = str(redact(f"the key is {form} !"))
            assert form not in redacted and "***" in redacted


def test_https_kms_with_its_ca_and_an_impostor_certificate(openbao_tls, tmp_path, monkeypatch):  # noqa: F811
    """``kms.url`` on https: ``ca_cert`` names the CA that signed the server's certificate; without it the
    certificate is refused (permanent: a retry will not make an impostor genuine)."""
    bao = openbao_tls
    bao.enable_transit(KEY)
    token = bao.token_file("leads-flow-unwrap", DECRYPT_ONLY, tmp_path / "transit-token")
    plain = keyring_extra()
    wrapped = wrap(bao, plain, token, "--ca-cert", str(bao.ca_cert))
    assert wrapped["kms"]["url"].startswith("https://") and wrapped["kms"]["ca_cert"] == str(bao.ca_cert)

    def use(extra: dict) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEADS_PII", json.dumps({"conn_type": "generic", "extra": extra}))
        load_keyring.cache_clear()

    try:
        use(wrapped)
        assert _same(load_keyring(), Keyring.from_extra(plain))
        use({**wrapped, "kms": {k: v for k, v in wrapped["kms"].items() if k != "ca_cert"}})
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with pytest.raises(KmsDenied) as refused:
            load_keyring()
        assert "TLS certificate was not accepted" in str(refused.value) and bao.addr in str(refused.value)
    finally:
        load_keyring.cache_clear()


def test_generate_wraps_a_fresh_keyring(kms):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wrap_keys.py"), "--generate", "--key", KEY]
        + ["--token-path", str(kms.token)],
        capture_output=True,
        text=True,
        env=kms.env(),  # BAO_ADDR: the address written into the kms block; the operator's token from ~/.vault-token
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    doc = json.loads(proc.stdout)
    assert doc["conn_type"] == "generic" and doc["extra"]["kms"]["url"] == kms.addr
    assert "enc_keys" not in doc["extra"] and "bidx_keys" not in doc["extra"]
    kms.use(doc["extra"])
    keyring = load_keyring()
    assert len(keyring.enc_keys["1"]) == 32 and keyring.enc_keys["1"] != keyring.bidx_keys["1"]
    assert not any(s in proc.stdout + proc.stderr for s in _spellings(_plain_of(keyring)))


def _plain_of(keyring: Keyring) -> dict:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "enc_keys": {k: b64(v) for k, v in keyring.enc_keys.items()},
        "bidx_keys": {k: b64(v) for k, v in keyring.bidx_keys.items()},
    }

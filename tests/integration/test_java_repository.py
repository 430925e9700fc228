"""The Java repository (java/src/leadsflow/LeadsFlowRepository.java) against the Python reference (leads_flow.reads).

24,000 generated submissions (devkit/seed.py's shapes, test_java_agreement's adversarial phones, IPs, Unicode and
boundary values, plus the shapes a service hands over: integers as text or booleans, datetimes as ISO text with or
without an offset, dates) go through Python's ``submit_lead`` into one MariaDB database and through Java's
``submitLead`` (RepositoryRunner) into another, in the same order, on the same keyring (a rotation in progress: two
kids per ring). Lead ids repeat, so the newer-wins rule, same-timestamp rewrites and the journal are exercised; a
set of ids is erased beforehand in both. Then:

- every submission has the same outcome on both sides (written, erased, the same reject reasons, invalid input);
- ``leads_flow`` and ``leads_flow_history`` are identical but for the token's nonce (tokens compared decrypted)
  and ``etl_loaded_at`` (each writer's clock);
- each side's lookups (by raw phone in its dirty spelling, by unionId, by channel) on the other side's database
  find exactly what its own database answers.

Skips loudly without a JDK or the Debian jars, unless LEADS_REQUIRE_JAVA=1 (``make test-java``, .ci/run), which
turns the skip into a failure. Generated phones only; a mismatch is reported by row number and column, never value.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from devkit.seed import SEED_COLUMNS, insert_legacy, legacy_rows, random_mobile
from leads_flow.io.db import Db
from leads_flow.io.retry import TransientDbError, classify
from leads_flow.io.schema import ensure_flow_schema
from leads_flow.reads import LEAD_COLUMNS, find_by_phone, find_by_union_id, iter_by_channel
from leads_flow.rules.crypto import PhoneCipher
from leads_flow.rules.fields import LEGACY_COLUMNS
from leads_flow.rules.keyring import Keyring
from leads_flow.rules.phone import InvalidPhone, normalize
from leads_flow.submit import LeadRejected, submit_lead
from tests.conftest import BOTH, keyring_extra

ROOT = Path(__file__).resolve().parents[2]
PHONE_JAR = Path(os.environ.get("LEADS_PHONENUMBER_JAR", "/usr/share/java/libphonenumber.jar"))
MARIADB_JAR = Path(os.environ.get("LEADS_MARIADB_JAR", "/usr/share/java/mariadb-java-client.jar"))
REQUIRE_JAVA = os.environ.get("LEADS_REQUIRE_JAVA") == "1"
N_SEED, N_ADVERSARIAL = 12_000, 12_000
ID_POOL = 15_000  # fewer ids than submissions: about a third of the leads are submitted more than once
N_ERASED = 300
RUN_ID = "agreement"

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_field_vectors  # noqa: E402
from test_java_agreement import adversarial_phone, adversarial_rows, seed_rows  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.mysql]


def _java_or_skip() -> tuple[str, str]:
    javac, java = shutil.which("javac"), shutil.which("java")
    missing = [] if javac and java else ["a JDK (javac, java)"]
    missing += [f"{jar.name} ({jar})" for jar in (PHONE_JAR, MARIADB_JAR) if not jar.exists()]
    if missing:
        msg = f"!!! SKIPPING THE JAVA REPOSITORY TEST !!! missing {' and '.join(missing)}"
        if REQUIRE_JAVA:
            pytest.fail(msg + " (LEADS_REQUIRE_JAVA=1)")
        pytest.skip(msg)
    return javac, java  # type: ignore[return-value]


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> tuple[list[str], Path]:
    """The java command line up to the runner's class, and the directory for its files."""
    javac, java = _java_or_skip()
    tmp = tmp_path_factory.mktemp("java-repo")
    classes = tmp / "classes"
    sources = sorted(str(p) for p in (ROOT / "java" / "src").rglob("*.java"))
    deps = f"{PHONE_JAR}{os.pathsep}{MARIADB_JAR}"
    subprocess.run([javac, "-d", str(classes), "-cp", deps, *sources], check=True)
    metadata = tmp / "phone_metadata.json"
    subprocess.run(
        [sys.executable, str(ROOT / "java" / "tools" / "export_phone_metadata.py"), str(metadata)], check=True
    )
    subprocess.run(
        [sys.executable, str(ROOT / "java" / "tools" / "export_sql.py"), str(tmp / "sql-classpath")], check=True
    )
    cp = os.pathsep.join([str(classes), str(tmp / "sql-classpath"), deps])
    return [java, "-cp", cp, "leadsflow.RepositoryRunner", "--metadata", str(metadata)], tmp


def _mysql_params() -> dict:
    u = urlparse(os.environ["AIRFLOW_CONN_LEADS_FLOW"])  # set by conftest's mysql_dbs
    return {"host": u.hostname, "port": u.port or 3306, "user": u.username or "root", "passwd": u.password or ""}


def _jdbc_url(name: str) -> str:
    p = _mysql_params()
    auth = f"user={p['user']}" + (f"&password={p['passwd']}" if p["passwd"] else "")
    return f"jdbc:mariadb://{p['host']}:{p['port']}/{name}?{auth}"


def _open(name: str) -> Db:
    import MySQLdb

    conn = MySQLdb.connect(**_mysql_params(), database=name, charset="utf8mb4")
    conn.autocommit(False)
    cur = conn.cursor()
    cur.execute("SET SESSION time_zone = '+08:00'")
    cur.close()
    return Db(conn, "mysql")


def _extra_flow_db(name: str) -> tuple[Db, str]:
    """A further flow database with the schema (dropped by _drop): its Db and JDBC URL."""
    import MySQLdb

    admin = MySQLdb.connect(**_mysql_params(), charset="utf8mb4")
    try:
        admin.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        admin.close()
    db = _open(name)
    ensure_flow_schema(db)
    return db, _jdbc_url(name)


def _drop(db: Db) -> None:
    cur = db.conn.cursor()
    cur.execute("SELECT DATABASE()")
    name = cur.fetchone()[0]
    cur.execute(f"DROP DATABASE IF EXISTS {name}")
    db.close()


@pytest.fixture
def two_flows(mysql_dbs):
    """Two flow databases with the schema: (Python's, Java's), each (Db, JDBC URL)."""
    py = _open(mysql_dbs.flow_name)
    ensure_flow_schema(py)
    java = _extra_flow_db(f"lft_{uuid.uuid4().hex[:10]}_java")
    try:
        yield [(py, _jdbc_url(mysql_dbs.flow_name)), java]
    finally:
        py.close()
        _drop(java[0])


def _cipher() -> PhoneCipher:
    return PhoneCipher(Keyring.from_extra(BOTH))


# --- the submissions ---------------------------------------------------------------------------------------


def _service_shapes(rng: random.Random, lead: dict) -> dict:
    """What a service may hand over besides database types: integers as text or booleans, ISO datetimes."""
    for c in ("has_tool", "is_group", "leads_type", "is_deleted"):
        v = lead[c]
        if isinstance(v, int) and rng.random() < 0.15:
            lead[c] = rng.choice([str(v), f" {v} ", bool(v) if v in (0, 1) else str(v)])
    if rng.random() < 0.1:
        lead["id"] = str(lead["id"])
    for c in ("join_time", "create_time", "update_time"):
        v = lead[c]
        if isinstance(v, datetime) and rng.random() < 0.15:
            kind = rng.randrange(4)
            if kind == 0:
                lead[c] = v.isoformat(sep=rng.choice([" ", "T"]))
            elif kind == 1:  # the same instant in UTC, with its offset: both sides convert to Asia/Shanghai
                lead[c] = (v - timedelta(hours=8)).replace(tzinfo=UTC).isoformat()
            elif kind == 2:
                lead[c] = v.date().isoformat()
            else:
                lead[c] = rng.choice(["not a time", "2026-13-01 00:00:00", ""])
    if rng.random() < 0.02:
        lead[rng.choice(["sales_name", "ad_id", "phone_number"])] = "x"  # ignored legacy column, or unknown
    return lead


def submissions() -> list[dict]:
    rng = random.Random(23)
    rows = seed_rows(N_SEED) + adversarial_rows(N_ADVERSARIAL, seed=23)
    rng.shuffle(rows)
    ids = list(range(1, ID_POOL + 1))
    out = []
    for n, row in enumerate(rows):
        lead = dict(zip(LEGACY_COLUMNS, row))
        lead["id"] = ids[n] if n < ID_POOL else rng.choice(ids)
        if n >= ID_POOL and rng.random() < 0.3:  # a resubmission: the same row, or the same version edited
            prev = dict(rng.choice(out))
            if rng.random() < 0.5:
                prev["from_channel"] = rng.choice(["baidu_sem", "wx", prev.get("from_channel")])
            out.append(prev)
            continue
        out.append(_service_shapes(rng, lead))
    return out


def _json_line(lead: dict) -> str:
    return json.dumps({c: gen_field_vectors._json_value(c, v) for c, v in lead.items()}, ensure_ascii=True)


def _python_outcome(db: Db, cipher: PhoneCipher, lead: dict) -> dict:
    try:
        return {"result": submit_lead(db, cipher, lead, etl_run_id=RUN_ID)}
    except LeadRejected as exc:
        return {"reasons": list(exc.reasons)}
    except ValueError:
        return {"error": "invalid"}
    except Exception as exc:  # noqa: BLE001 - a database error, classified as the Java side classifies it
        kind = classify(exc)
        if kind is None:
            raise
        return {"error": "db_transient" if kind is TransientDbError else "db_permanent"}


def _java(kit, command: str, lines: list[str], url: str, *args: str) -> list[dict]:
    """RepositoryRunner on a file of JSON lines, with the tests' rotation keyring (conftest.BOTH)."""
    runner, tmp = kit
    keyring = tmp / "keyring.json"  # the tests' keys, never a real one
    keyring.write_text(json.dumps(BOTH), encoding="utf-8")
    runner = [*runner, "--keyring", str(keyring)]
    inp, out = tmp / f"{command}.in.jsonl", tmp / f"{command}.out.jsonl"
    inp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    env = {**os.environ, "LEADS_JDBC_URL": url}
    proc = subprocess.run([*runner, command, str(inp), str(out), *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    n_in, n_out = len(lines), len(results)
    assert n_in == n_out, (n_in, n_out)
    return results


def _table(db: Db, cipher: PhoneCipher, table: str, order: str) -> list[dict]:
    cur = db.conn.cursor()
    cur.execute(f"SELECT {', '.join(LEAD_COLUMNS)} FROM {table} ORDER BY {order}")
    rows = []
    for r in cur.fetchall():
        d = dict(zip(LEAD_COLUMNS, r))
        token = d.pop("phone_cipher")
        d["phone"] = None if token is None else cipher.decrypt(token)
        d.pop("etl_loaded_at")
        rows.append(d)
    cur.close()
    db.conn.commit()
    return rows


def _same_rows(a: list[dict], b: list[dict], what: str) -> None:
    """Rows hold decrypted phones: every assertion here is on counts, ids and column names only."""
    na, nb = len(a), len(b)
    assert na == nb, f"{what}: {na} rows from Python, {nb} from Java"
    bad = [
        f"{what} row {n} (lead {x['lead_id']}): {sorted(c for c in x if x[c] != y[c])}"
        for n, (x, y) in enumerate(zip(a, b))
        if x != y
    ]
    n_bad = len(bad)
    first = bad[:10]
    assert n_bad == 0, f"{n_bad} rows differ, first: {first}"


# --- the test ----------------------------------------------------------------------------------------------


def test_python_and_java_submit_and_find_alike(kit, two_flows):
    (py_db, py_url), (java_db, java_url) = two_flows
    cipher = _cipher()
    subs = submissions()
    n_subs = len(subs)
    assert n_subs >= 20_000, n_subs
    erased = random.Random(5).sample(range(1, ID_POOL + 1), N_ERASED)
    for db in (py_db, java_db):
        cur = db.conn.cursor()
        cur.executemany(
            "INSERT INTO leads_flow_erasure (lead_id, erased_at, requested_by) VALUES (%s, NOW(), 'agreement')",
            [(i,) for i in erased],
        )
        db.conn.commit()

    py_out = [_python_outcome(py_db, cipher, lead) for lead in subs]
    java_out = _java(kit, "submit", [_json_line(lead) for lead in subs], java_url, RUN_ID)
    diff = [n for n, (a, b) in enumerate(zip(py_out, java_out)) if a != b]
    assert not diff, f"{len(diff)} submissions differ in outcome, first rows: {diff[:20]}"
    kinds = defaultdict(int)
    for o in py_out:
        kinds[o.get("result") or ("rejected" if "reasons" in o else o["error"])] += 1
    # every outcome, in bulk
    assert kinds["written"] > 10_000 and kinds["rejected"] > 5_000, dict(kinds)
    assert kinds["erased"] > 100 and kinds["invalid"] > 1_000, dict(kinds)
    # a unionId longer than its 64-character column: rejected by the field rules on both sides (no database error)
    too_long = [
        o for lead, o in zip(subs, py_out) if isinstance(lead.get("unionId"), str) and len(lead["unionId"].strip()) > 64
    ]
    # (an erased lead or an invalid submission is refused before the rules: those keep their outcome)
    by_rules = [o for o in too_long if o.get("result") != "erased" and o.get("error") != "invalid"]
    assert by_rules and all("union_id_invalid" in o.get("reasons", ()) for o in by_rules), by_rules[:5]
    assert kinds["db_permanent"] == 0, dict(kinds)

    flow_py = _table(py_db, cipher, "leads_flow", "lead_id")
    flow_java = _table(java_db, cipher, "leads_flow", "lead_id")
    n_flow, n_phones = len(flow_py), sum(r["phone"] is not None for r in flow_py)
    assert n_flow > 8_000 and n_phones > 6_000, (n_flow, n_phones)
    _same_rows(flow_py, flow_java, "leads_flow")
    order = "lead_id, source_updated_at, content_hash"
    hist_py = _table(py_db, cipher, "leads_flow_history", order)
    n_hist = len(hist_py)
    assert n_hist > n_flow, "the journal holds the replaced versions too"
    _same_rows(hist_py, _table(java_db, cipher, "leads_flow_history", order), "leads_flow_history")
    resurrected = sorted({r["lead_id"] for r in flow_py} & set(erased))
    assert resurrected == [], "an erased lead was written"

    # lookups: each side on the other's database answers what the owner's own lookup answers
    rng = random.Random(7)
    live_phones = {r["phone"] for r in flow_py if r["phone"] is not None and not r["is_deleted"]}
    raws = [lead["phone"] for lead in subs if isinstance(lead.get("phone"), str)]
    queries = (
        rng.sample(raws, 1500)
        + [adversarial_phone(rng) or "" for _ in range(300)]
        + [random_mobile(rng) for _ in range(100)]
    )

    def py_find(db: Db, raw: str) -> dict:
        try:
            return {"lead_ids": [lead.lead_id for lead in find_by_phone(db, cipher, raw)]}
        except InvalidPhone:
            return {"error": "invalid_phone"}

    lines = [json.dumps({"phone": q}) for q in queries]
    java_on_py = _java(kit, "find-phone", lines, py_url)
    found = 0
    for n, q in enumerate(queries):
        on_java = py_find(java_db, q)
        on_py = py_find(py_db, q)
        same = on_java == on_py == java_on_py[n]  # not in the assert: no lookup value in a failure report
        assert same, f"phone query {n}: the answers differ"
        if on_py.get("lead_ids"):
            found += 1
            if normalize(q) not in live_phones:
                pytest.fail(f"phone query {n}: found leads for a phone no live lead has")
    assert found > 400, found

    unions = sorted({r["union_id"] for r in flow_py if r["union_id"]})
    uq = rng.sample(unions, min(800, len(unions)))
    uq += [u.swapcase() for u in uq[:100]] + [" " + u + " " for u in uq[100:200]]
    java_unions = _java(kit, "find-union", [json.dumps({"union_id": u}) for u in uq], py_url)
    for n, u in enumerate(uq):
        want = {"lead_ids": [lead.lead_id for lead in find_by_union_id(py_db, u)]}
        same = want == {"lead_ids": [lead.lead_id for lead in find_by_union_id(java_db, u)]} == java_unions[n]
        assert same, f"unionId query {n}: the answers differ"

    channels = sorted({r["from_channel"] for r in flow_py if r["from_channel"]}, key=lambda c: (len(c), c))[:40]
    lo, hi = datetime(2026, 10, 1), datetime(2026, 11, 23)
    chq = [
        {"from_channel": c, "join_from": lo.isoformat(sep=" "), "join_to": hi.isoformat(sep=" "), "page": 97}
        for c in channels
    ]
    java_channels = _java(kit, "find-channel", [json.dumps(q) for q in chq], py_url)
    paged = 0
    for n, c in enumerate(channels):
        want = [lead.lead_id for lead in iter_by_channel(py_db, c, lo, hi, page=97)]
        same = want == [lead.lead_id for lead in iter_by_channel(java_db, c, lo, hi, page=97)]
        assert same, f"channel {n}: Python's pages differ between the databases"
        same = java_channels[n] == {"lead_ids": want}
        assert same, f"channel {n}: the Java pages differ"
        paged += len(want) > 97
    assert paged >= 2, "some channel spans several pages"


# --- the race: Java writers against a running sync publish and an erasure ---------------------------------

RACE_LEADS = 2_000
RACE_DAY = datetime(2026, 11, 20)


def _sync(run: str) -> None:
    """One leads_flow_sync import of RACE_DAY, task by task as the DAG runs them (plan, stage, gate, publish)."""
    from leads_flow.tasks import sync as pipeline

    day = RACE_DAY.date().isoformat()
    for part in pipeline.plan({"start_date": day, "end_date": day}, None, None):
        pipeline.publish(pipeline.gate(pipeline.stage(part, {}, "leads_flow_sync", run), {}), {})


def _wait_for_java_rows(flow: Db, deadline: float) -> None:
    """Until the Java writers have written (the JVMs are up): then the sync and the erasure race them."""
    while time.monotonic() < deadline:
        cur = flow.conn.cursor()
        cur.execute("SELECT COUNT(*) FROM leads_flow WHERE etl_run_id LIKE 'java-writer-%'")
        n = cur.fetchone()[0]
        cur.close()
        flow.conn.commit()
        if n > 50:
            return
        time.sleep(0.2)
    pytest.fail("the Java writers wrote nothing within 120 s")


def _stored_legacy(dbs) -> list[dict]:
    db = dbs.legacy()
    try:
        cur = db.conn.cursor()
        cols = ["id", *SEED_COLUMNS]
        cur.execute(f"SELECT {', '.join(cols)} FROM leads_aggr ORDER BY id")
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        db.close()


def _versions(stored: list[dict], rng: random.Random) -> tuple[list[dict], dict[int, dict]]:
    """The Java writers' submissions (an older version, the stored one, and for a third a newer one) and the newest
    version of each lead: the stored row the sync imports, unless a Java writer holds a newer one."""
    subs, newest = [], {}
    for row in stored:
        sua = row["update_time"] or row["create_time"]
        old = {**row, "update_time": sua - timedelta(hours=1), "from_channel": "race_old"}
        subs += [old, row]
        newest[row["id"]] = row
        if rng.random() < 1 / 3:
            new = {**row, "update_time": sua + timedelta(hours=1), "from_channel": "race_new"}
            subs.append(new)
            newest[row["id"]] = new
    return subs, newest


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_java_writers_race_a_sync_publish_and_an_erasure(kit, mysql_dbs, round_):
    """Two Java writer processes submit every version of 2,000 leads in shuffled orders (transient errors retried,
    as a service would), while Python runs two leads_flow_sync imports of the same leads and erases a tenth of
    them. Afterwards every lead that is not erased holds exactly what one serial write of its newest version gives
    (compared with a reference database), the journal's newest version is the row, and every erased lead is a
    tombstone with no history that no lookup finds."""
    from leads_flow.lifecycle.erase import erase_leads

    rng = random.Random(100 + round_)
    legacy = mysql_dbs.legacy()
    try:
        start = RACE_DAY + timedelta(hours=1)
        insert_legacy(legacy, legacy_rows(RACE_LEADS, start, start + timedelta(hours=20), seed=round_, dirty=0.02))
    finally:
        legacy.close()
    stored = _stored_legacy(mysql_dbs)
    subs, newest = _versions(stored, rng)
    erased = sorted(rng.sample([r["id"] for r in stored], RACE_LEADS // 10))
    cipher = PhoneCipher(Keyring.from_extra(keyring_extra()))  # the leads_pii connection's keys (conftest)
    flow = mysql_dbs.flow()
    ensure_flow_schema(flow)
    flow_url = _jdbc_url(mysql_dbs.flow_name)
    ref, _ = _extra_flow_db(f"lft_{uuid.uuid4().hex[:10]}_ref")
    procs: list = []
    try:
        runner, tmp = kit
        keyring = tmp / f"race-keyring-{round_}.json"
        keyring.write_text(json.dumps(keyring_extra()), encoding="utf-8")
        for w in range(2):
            lines = [_json_line(s) for s in subs]
            rng.shuffle(lines)
            inp, out = tmp / f"race{round_}-{w}.in.jsonl", tmp / f"race{round_}-{w}.out.jsonl"
            inp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            cmd = [*runner, "--keyring", str(keyring), "submit", str(inp), str(out), f"java-writer-{w}"]
            env = {**os.environ, "LEADS_JDBC_URL": flow_url}
            procs.append(
                (subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out)
            )
        _wait_for_java_rows(flow, time.monotonic() + 120)
        _sync(f"race{round_}a")
        erase_leads(flow, erased, "test:java-race")
        _sync(f"race{round_}b")
        running = sum(proc.poll() is None for proc, _ in procs)
        assert running == 2, "the Java writers finished before the sync and the erasure: no race was run"
        for proc, out in procs:
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            outcomes = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
            n_out, n_errors = len(outcomes), sum("error" in o for o in outcomes)
            assert n_out == len(subs) and n_errors == 0, (n_out, n_errors)

        # the reference: each lead's newest version written once, serially; then the same erasure
        for lead_id in sorted(newest):
            _python_outcome(ref, cipher, newest[lead_id])
        erase_leads(ref, erased, "test:java-race")
        skip = {"etl_run_id"}
        got = [r for r in _table(flow, cipher, "leads_flow", "lead_id") if r["lead_id"] not in erased]
        want = [r for r in _table(ref, cipher, "leads_flow", "lead_id") if r["lead_id"] not in erased]
        n_live = len(want)
        assert n_live > RACE_LEADS // 2, n_live
        _same_rows(
            [{k: v for k, v in r.items() if k not in skip} for r in want],
            [{k: v for k, v in r.items() if k not in skip} for r in got],
            "leads_flow after the race",
        )
        n_new = sum(r["from_channel"] == "race_new" for r in got)
        assert n_new > RACE_LEADS // 5, n_new

        cur = flow.conn.cursor()
        ids_sql = ", ".join(str(i) for i in erased)
        cur.execute(
            "SELECT COUNT(*) FROM leads_flow f WHERE f.lead_id NOT IN (" + ids_sql + ") AND NOT EXISTS "
            "(SELECT 1 FROM leads_flow_history h WHERE h.lead_id = f.lead_id AND h.source_updated_at = "
            "f.source_updated_at AND h.content_hash = f.content_hash)"
        )
        assert cur.fetchone()[0] == 0, "a row is not the journal's version"
        cur.execute(
            "SELECT COUNT(*) FROM leads_flow_history h JOIN leads_flow f USING (lead_id) "
            "WHERE h.source_updated_at > f.source_updated_at"
        )
        assert cur.fetchone()[0] == 0, "the journal holds a version newer than the row"
        cur.execute(f"SELECT COUNT(*) FROM leads_flow_history WHERE lead_id IN ({ids_sql})")
        assert cur.fetchone()[0] == 0, "an erased lead has history"
        cur.execute(
            f"SELECT COUNT(*) FROM leads_flow WHERE lead_id IN ({ids_sql}) AND NOT (is_deleted = 1 AND phone_cipher "
            "IS NULL AND phone_bidx IS NULL AND union_id IS NULL AND ip_address IS NULL AND window_url IS NULL)"
        )
        assert cur.fetchone()[0] == 0, "an erased lead was written back"
        cur.close()
        flow.conn.commit()
        phones = [r["phone"] for r in stored if r["id"] in set(erased) and isinstance(r["phone"], str)]
        for n, raw in enumerate(phones):
            try:
                hits = [lead.lead_id for lead in find_by_phone(flow, cipher, raw, include_deleted=True)]
            except InvalidPhone:
                continue
            resurrected = sorted(set(hits) & set(erased))
            assert resurrected == [], f"erased phone {n}: found again"
    finally:
        for proc, _ in procs:  # the writers this test started, if it failed before they finished
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        flow.close()
        _drop(ref)

"""Keys in custody (issue 21), tried as an attacker with ordinary Airflow accounts against a real api-server.

The stack of tests/e2e/airflow_stack.py with the project's plugins and the simple auth manager's users ``admin``
(Admin), ``op`` (Op) and ``viewer`` (Viewer), set up as docs/running.md says for a small setup, literally:

- the keyring: ``umask 077; python scripts/gen_keyring.py > airflow.env``, the database connections added to that
  file (the editor step), and the file loaded (``set -a; . FILE; set +a``) by the scheduler only, whose
  LocalExecutor runs the tasks; the other components get the JWT secret and the Fernet key, never the keyring;
- the alert webhook: the connection ``leads_flow_alert_webhook`` (the URL as its password) imported from a 0600
  file that is removed afterwards (docs/operations.md); the URL points at an HTTPS receiver on loopback.

Then, as an attacker would:

1. a sync run publishes one day (tokens decrypt with the env file's keyring);
2. the op tries the documented setup: ``PATCH /api/v2/connections/leads_pii`` finds nothing to patch (404); a
   ``leads_pii`` the op plants through ``POST`` is ignored (the environment wins: the next run succeeds and its
   tokens decrypt with the real keys); a planted ``leads_pii_bidx`` fails the next run in its plan, nothing written;
3. a deployment that kept the keyring in the metadata database (what docs/running.md used to recommend): the
   op's ``PATCH …?update_mask=extra`` with ``{"enc_keys": {"1": "***", "2": <op's key>}, "active_enc_kid": "2"}``
   returns 200 and Airflow merges kid 1 back in, but the next run fails in its plan naming kid '2' (never
   registered), nothing written; a PATCH that changes the bytes behind kid 1 fails the next run naming kid '1';
   each failure reaches the webhook;
4. the crawl: as viewer, op and admin, every GET of Airflow's public REST API and of the UI's private API (paths
   from Airflow's own OpenAPI documents, filled with every DAG, run, task instance, try, XCom key, connection,
   variable and audit-log entry there is), the project's plugin pages and the UI's HTML pages: no response holds a
   key (root or derived, the op's too: base64, base64url, with or without padding, hex, percent-encoded,
   JSON-escaped) nor the webhook token.

Every process started here is stopped by pid (AirflowStack.stop). Nothing prints a key, a token or a phone:
assertion messages name users, paths and kinds of spelling only.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from devkit.seed import random_mobile
from leads_flow.io.runlog import RunStatus
from tests.e2e.airflow_stack import DAG_ID, POOL, ROOT, AirflowStack, Deadline
from tests.helpers import flow_table, insert, legacy_row
from tests.unit.test_notify import Hook, tls_files  # noqa: F401 - tls_files is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

USERS = {"admin": "admin", "op": "op", "viewer": "viewer"}
BUDGET_S = 1500  # everything before teardown, on a loaded 2-core machine
RUN_WAIT_S = 300
ROWS = 8  # legacy leads per day
WEBHOOK_CONN = "leads_flow_alert_webhook"


# ------------------------------------------------------------------------------------------------ secrets


def _spellings(secret: bytes | str) -> set[str]:
    """Every printable spelling of a key (or a token) that a response could carry."""
    if isinstance(secret, str):
        forms = {secret}
    else:
        std, url = base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode()
        forms = {std, std.rstrip("="), url, url.rstrip("="), secret.hex(), secret.hex().upper()}
    out = set(forms)
    for f in forms:
        out |= {urllib.parse.quote(f, safe=""), urllib.parse.quote_plus(f), f.replace("/", "\\/")}
        out.add(json.dumps(f)[1:-1])
    return out


def _key_forms(*extras: dict) -> set[str]:
    """Spellings of every root key of the keyring extras and of the keys derived from them."""
    from leads_flow.rules.crypto import BIDX_INFO, ENC_INFO, hkdf

    forms: set[str] = set()
    for extra in extras:
        for field, info in (("enc_keys", ENC_INFO), ("bidx_keys", BIDX_INFO)):
            for b64 in (extra.get(field) or {}).values():
                root = base64.b64decode(b64)
                forms |= _spellings(root) | _spellings(hkdf(root, info))
    return forms


def _leaks(text: str, forms: set[str]) -> list[str]:
    """Which kinds of spelling occur in ``text`` (never the spelling itself)."""
    return sorted({f"spelling of length {len(f)}" for f in forms if f in text})


def _private_file(path: Path, text: str = "") -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _env_file_values(path: Path) -> dict[str, str]:
    """The file's variables as ``set -a; . FILE`` sets them (bash reads it; only the path is an argument)."""
    out = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; set +a; env -0', "_", str(path)],
        capture_output=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=30,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


# ------------------------------------------------------------------------------------------------ the run


def _seed_day(dbs, day: int, rng: random.Random) -> set[str]:
    phones = [random_mobile(rng) for _ in range(ROWS)]
    insert(dbs, [legacy_row(phone=p, update_time=datetime(2026, 11, day, 9, i)) for i, p in enumerate(phones)])
    return {f"+86{p}" for p in phones}


def _trigger(stack: AirflowStack, day: int) -> dict:
    """A manual run of one day, triggered by the admin through the REST API; its finished state."""
    status, body = stack.http(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"start_date": f"2026-11-{day}"}}
    )
    assert status in (200, 201), f"trigger: HTTP {status}: {str(body)[:300]}"
    rid = urllib.parse.quote(body["dag_run_id"], safe="")  # type: ignore[index]
    until = time.monotonic() + stack.deadline.left(RUN_WAIT_S)
    while time.monotonic() < until:
        stack.check_alive()
        run = stack.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}")
        if run["state"] in ("success", "failed"):  # type: ignore[index]
            return run  # type: ignore[return-value]
        time.sleep(3)
    raise AssertionError(f"the run of 2026-11-{day} did not finish in {RUN_WAIT_S} s")


def _plan_log(stack: AirflowStack, run: dict) -> str:
    rid = urllib.parse.quote(run["dag_run_id"], safe="")
    status, raw = stack.http_raw(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}/taskInstances/plan/logs/1?full_content=true",
        accept="application/json",
    )
    assert status == 200, f"plan log: HTTP {status}"
    return raw.decode(errors="replace")


def _tokens_decrypt_with(dbs, extra: dict, phones: set[str]) -> bool:
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    cipher = PhoneCipher(Keyring.from_extra(extra))
    return {cipher.decrypt(t) for (t,) in dbs.flow_rows("SELECT phone_cipher FROM leads_flow")} == phones


def _failed_in_plan_without_writing(stack, dbs, run: dict, before: list, says: str) -> None:
    assert run["state"] == "failed", f"{run['dag_run_id']}: {run['state']}"
    tis = {ti["task_id"]: ti["state"] for ti in stack.task_instances(run["dag_run_id"])}
    assert tis.get("plan") == "failed", tis
    assert not any(s == "success" for t, s in tis.items() if t != "plan"), tis
    log = _plan_log(stack, run)
    assert says in log, f"the plan's log does not say {says!r}"
    same = flow_table(dbs) == before
    assert same, "leads_flow changed although the plan failed"
    rows = dbs.flow_rows("SELECT status FROM leads_flow_run WHERE dag_run_id = %s", (run["dag_run_id"],))
    # the one row a failed plan leaves is its plan_failed record (the run report lists it with its error)
    assert [s for (s,) in rows] == [RunStatus.PLAN_FAILED.value], f"the failed plan left partition runs: {rows}"


# ------------------------------------------------------------------------------------------------ the crawl

SKIP_PATHS = {"/api/v2/auth/login", "/api/v2/auth/logout", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait"}
UI_PAGES = ["/", "/dags", f"/dags/{DAG_ID}", "/connections", "/variables", "/events", "/xcoms", "/plugins"]


def _get_paths() -> list[str]:
    """Every GET path of Airflow's public REST API and of the UI's private API, from Airflow's OpenAPI documents."""
    import airflow.api_fastapi.core_api.openapi as spec

    folder = Path(spec.__file__).parent
    paths = []
    for name in ("v2-rest-api-generated.yaml", "_private_ui.yaml"):
        doc = yaml.safe_load((folder / name).read_text())
        paths += [p for p, ops in doc["paths"].items() if "get" in ops and p not in SKIP_PATHS]
    return paths


def _contexts(stack: AirflowStack) -> list[dict[str, str]]:
    """Values for the path parameters, consistent with each other (a run of its DAG, a try of its task...)."""
    g = stack.get
    out: list[dict[str, str]] = [{}]
    dags = [d["dag_id"] for d in g("/api/v2/dags?limit=100")["dags"]]  # type: ignore[index]
    for dag in dags:
        out.append({"dag_id": dag})
        for v in g(f"/api/v2/dags/{dag}/dagVersions")["dag_versions"]:  # type: ignore[index]
            out.append({"dag_id": dag, "version_number": str(v["version_number"])})
        for task in g(f"/api/v2/dags/{dag}/tasks")["tasks"]:  # type: ignore[index]
            out.append({"dag_id": dag, "task_id": task["task_id"]})
        for run in g(f"/api/v2/dags/{dag}/dagRuns?limit=100")["dag_runs"]:  # type: ignore[index]
            r = {"dag_id": dag, "dag_run_id": run["dag_run_id"], "run_id": run["dag_run_id"]}
            out.append(r)
            rid = urllib.parse.quote(run["dag_run_id"], safe="")
            for ti in g(f"/api/v2/dags/{dag}/dagRuns/{rid}/taskInstances?limit=100")["task_instances"]:  # type: ignore[index]
                t = {**r, "task_id": ti["task_id"], "map_index": str(ti["map_index"])}
                for n in range(1, max(int(ti["try_number"] or 0), 1) + 1):
                    out.append({**t, "try_number": str(n), "task_try_number": str(n)})
                tid = urllib.parse.quote(ti["task_id"], safe="")
                xcoms = g(
                    f"/api/v2/dags/{dag}/dagRuns/{rid}/taskInstances/{tid}/xcomEntries?map_index={ti['map_index']}"
                )
                for x in xcoms["xcom_entries"]:  # type: ignore[index]
                    out.append({**t, "xcom_key": x["key"]})
    for c in g("/api/v2/connections?limit=100")["connections"]:  # type: ignore[index]
        out.append({"connection_id": c["connection_id"]})
    for v in g("/api/v2/variables?limit=100")["variables"]:  # type: ignore[index]
        out.append({"variable_key": v["key"]})
    for p in g("/api/v2/pools")["pools"]:  # type: ignore[index]
        out.append({"pool_name": p["name"]})
    for page in _event_log_pages(stack):
        for e in g(page)["event_logs"]:  # type: ignore[index]
            out.append({"event_log_id": str(e["event_log_id"])})
    return out


def _event_log_pages(stack: AirflowStack) -> list[str]:
    total = stack.get("/api/v2/eventLogs?limit=1")["total_entries"]  # type: ignore[index]
    return [f"/api/v2/eventLogs?limit=100&offset={n}" for n in range(0, int(total), 100)]


def _fill(template: str, ctx: dict[str, str]) -> str | None:
    """``template`` with ``ctx``'s values (percent-encoded), if ``ctx`` has every one of its parameters."""
    names = re.findall(r"{(\w+)}", template)
    if not set(names) <= set(ctx):
        return None
    path = template
    for n in names:
        path = path.replace("{" + n + "}", urllib.parse.quote(ctx[n], safe=""))
    return path


def _crawl_urls(stack: AirflowStack) -> list[str]:
    urls: set[str] = set()
    contexts = _contexts(stack)
    for template in _get_paths():
        for ctx in contexts:
            path = _fill(template, ctx)
            if path is None:
                continue
            query = []
            if "{dag_run_id}" in template and "{task_id}" in template and "{map_index}" not in template:
                query.append(f"map_index={ctx.get('map_index', '-1')}")  # a mapped task's logs, XComs, links
            if "/logs/" in path:
                query.append("full_content=true")
            elif "{" not in template:
                query.append("limit=100")
            if query:
                path += "?" + "&".join(query)
            urls.add(path)
    # the project's plugin: every page and API route, every partition run it lists
    report = "/leads-flow"
    urls |= {f"{report}/", f"{report}/api/runs?limit=200", f"{report}/keys", f"{report}/api/keys"}
    urls |= {f"{report}/cutover", f"{report}/api/cutover"}
    for run in stack.get(f"{report}/api/runs?limit=200")["runs"]:  # type: ignore[index]
        etl = urllib.parse.quote(run["etl_run_id"], safe="")
        urls |= {f"{report}/runs/{etl}", f"{report}/api/runs/{etl}"}
        urls.add(f"{report}/dag-runs/{run['dag_id']}/{urllib.parse.quote(run['dag_run_id'], safe='')}")
    return sorted(urls | set(UI_PAGES) | set(_event_log_pages(stack)))


def _crawl(stack: AirflowStack, forms: set[str], users: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """GET every URL as each user (JSON, and the NDJSON stream for logs); fail on any spelling of a secret. Status per URL."""
    urls = _crawl_urls(stack)
    seen: dict[str, dict[str, int]] = {u: {} for u in users}
    leaks = []
    for user in users:
        for url in urls:
            for accept in ("application/json", "application/x-ndjson") if "/logs/" in url else ("application/json",):
                status, raw = stack.http_raw("GET", url, user=user, accept=accept)
                seen[user][url] = status
                found = _leaks(raw.decode(errors="replace"), forms)
                if found:
                    leaks.append((user, url, status, found))
    assert not leaks, f"secrets on surfaces an attacker reaches: {leaks[:20]}"
    return seen


# ------------------------------------------------------------------------------------------------ the test


def test_an_op_or_a_viewer_finds_no_key_and_cannot_swap_one(mysql_dbs, pg_metadata, tmp_path, tls_files):  # noqa: F811
    dbs, rng = mysql_dbs, random.Random(21)
    deadline = Deadline(BUDGET_S)
    home = tmp_path / "airflow-home"
    stack = AirflowStack(home, deadline, pg_metadata, users=USERS)
    for k in [k for k in stack.env if k.startswith(("AIRFLOW_CONN_LEADS_PII", "LEADS_FLOW_ALERT"))]:
        del stack.env[k]  # the keyring and the webhook come from where the docs put them, nowhere else

    # docs/running.md, small setups: `umask 077; python3 scripts/gen_keyring.py > airflow.env`, then the
    # database connections added with an editor
    env_file = _private_file(tmp_path / "airflow.env")
    with env_file.open("a") as fh:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_keyring.py")], stdout=fh, check=True, timeout=60)
        fh.write(
            f"AIRFLOW_CONN_LEADS_LEGACY='{os.environ['AIRFLOW_CONN_LEADS_LEGACY']}'\n"
            f"AIRFLOW_CONN_LEADS_FLOW='{os.environ['AIRFLOW_CONN_LEADS_FLOW']}'\n"
        )
    values = _env_file_values(env_file)
    keyring = json.loads(values["AIRFLOW_CONN_LEADS_PII"])["extra"]
    # what every component shares (task tokens, the metadata database's encryption); the keyring it does not get
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        stack.env[name] = values[name]
    stack.env["LEADS_FLOW_ALERT_WEBHOOK_CA_FILE"] = str(tls_files[0])  # the receiver's self-signed CA (no secret)

    hook = Hook(tls_files)
    hook.thread.start()
    webhook_token = secrets.token_urlsafe(24)
    webhook = f"https://127.0.0.1:{hook.server.server_address[1]}/hooks/{webhook_token}"
    op_enc, op_bidx = secrets.token_bytes(32), secrets.token_bytes(32)
    op_b64 = base64.b64encode(op_enc).decode()
    forms = (
        _key_forms(keyring, {"enc_keys": {"x": op_b64}, "bidx_keys": {"x": base64.b64encode(op_bidx).decode()}})
        | _spellings(webhook_token)
        | _spellings(webhook)
    )
    try:
        try:
            stack.cli("db", "migrate")
            stack.cli("pools", "set", POOL, "2", "legacy reads")
            # docs/operations.md: the webhook connection, imported from a 0600 file removed afterwards
            conns = _private_file(
                tmp_path / "leads_conns.json", json.dumps({WEBHOOK_CONN: {"conn_type": "generic", "password": webhook}})
            )
            stack.cli("connections", "import", str(conns))
            conns.unlink()
            for name, args in stack.COMPONENTS.items():
                stack.start_component(name, args, stack.env, env_file=env_file if name == "scheduler" else None)
            stack.wait_ready(timeout=240)
            for _ in range(40):  # the DAG may still be parsing
                if stack.cli("dags", "unpause", DAG_ID, check=False).returncode == 0:
                    break
                time.sleep(3)

            # 1. a run publishes day 20 under the env file's keyring
            phones = _seed_day(dbs, 20, rng)
            run = _trigger(stack, 20)
            assert run["state"] == "success", f"the first run: {run['state']}"
            ok = _tokens_decrypt_with(dbs, keyring, phones)
            assert ok, "the published tokens do not decrypt with the env file's keyring"

            # 2. the op against the documented setup
            pii = "/api/v2/connections/leads_pii"
            op_patch = {
                "connection_id": "leads_pii",
                "conn_type": "generic",
                "extra": json.dumps(
                    {
                        "enc_keys": {"1": "***", "2": op_b64},
                        "active_enc_kid": "2",
                        "bidx_keys": {"1": "***"},
                        "active_bidx_kid": "1",
                    }
                ),
            }
            status, _ = stack.http("PATCH", f"{pii}?update_mask=extra", op_patch, user="op")
            assert status == 404, f"op's PATCH of a keyring kept out of the metadata database: HTTP {status}"
            planted = {
                "enc_keys": {"1": op_b64},
                "active_enc_kid": "1",
                "bidx_keys": {"1": base64.b64encode(op_bidx).decode()},
                "active_bidx_kid": "1",
            }
            body = {"connection_id": "leads_pii", "conn_type": "generic", "extra": json.dumps(planted)}
            status, _ = stack.http("POST", "/api/v2/connections", body, user="op")
            assert status == 201, f"op's POST of a planted leads_pii: HTTP {status}"
            phones |= _seed_day(dbs, 21, rng)
            run = _trigger(stack, 21)
            assert run["state"] == "success", "a planted leads_pii must be ignored (the environment wins)"
            ok = _tokens_decrypt_with(dbs, keyring, phones)
            assert ok, "a run after the op planted leads_pii wrote tokens that the real keyring does not decrypt"
            assert stack.http("DELETE", pii)[0] == 204

            bidx = {"bidx_keys": {"1": base64.b64encode(op_bidx).decode()}, "active_bidx_kid": "1"}
            body = {"connection_id": "leads_pii_bidx", "conn_type": "generic", "extra": json.dumps(bidx)}
            assert stack.http("POST", "/api/v2/connections", body, user="op")[0] == 201
            before = flow_table(dbs)
            _seed_day(dbs, 22, rng)
            run = _trigger(stack, 22)
            _failed_in_plan_without_writing(stack, dbs, run, before, "leads_pii_bidx")
            failed = [run["dag_run_id"]]
            assert stack.http("DELETE", "/api/v2/connections/leads_pii_bidx")[0] == 204

            # 3. a deployment that kept the keyring in the metadata database: the scheduler without it in its
            #    environment, the keyring imported by the admin from a 0600 file
            kr_file = _private_file(
                tmp_path / "keyring.json", json.dumps({"leads_pii": {"conn_type": "generic", "extra": keyring}})
            )
            stack.cli("connections", "import", str(kr_file))
            kr_file.unlink()
            stack.stop(names=["scheduler"])
            stack.start_component("scheduler", stack.COMPONENTS["scheduler"], stack.env)
            shown = json.loads(stack.get(pii)["extra"])  # type: ignore[index]
            masked = shown["enc_keys"] == {"1": "***"} and shown["bidx_keys"] == {"1": "***"}
            assert masked, "the REST API shows the stored keyring's keys"

            status, _ = stack.http("PATCH", f"{pii}?update_mask=extra", op_patch, user="op")
            assert status == 200, f"op's PATCH: HTTP {status}"
            stored = json.loads(stack.cli("connections", "get", "leads_pii", "-o", "json").stdout)
            stored = stored[0] if isinstance(stored, list) else stored
            merged = stored["extra_dejson"]["enc_keys"] == {"1": keyring["enc_keys"]["1"], "2": op_b64}
            assert merged, "Airflow no longer merges '***' back in: the attack of issue 21 changed, update the docs"
            before = flow_table(dbs)
            run = _trigger(stack, 22)
            _failed_in_plan_without_writing(stack, dbs, run, before, "kid '2' of the enc ring was never registered")
            failed.append(run["dag_run_id"])

            swap = {
                **op_patch,
                "extra": json.dumps(
                    {
                        "enc_keys": {"1": op_b64},
                        "active_enc_kid": "1",
                        "bidx_keys": {"1": "***"},
                        "active_bidx_kid": "1",
                    }
                ),
            }
            assert stack.http("PATCH", f"{pii}?update_mask=extra", swap, user="op")[0] == 200
            run = _trigger(stack, 22)
            _failed_in_plan_without_writing(stack, dbs, run, before, "the key behind kid '1' of the enc ring")
            failed.append(run["dag_run_id"])

            # every failed plan alerted through the webhook connection (the receiver saw its token path)
            # (by run id: a scheduled run that starts at midnight Asia/Shanghai during the test may alert too)
            assert {r["path"] for r in hook.requests} == {f"/hooks/{webhook_token}"}
            alerts = {a["run_id"]: a for a in (json.loads(r["body"]) for r in hook.requests)}
            assert all(alerts.get(rid, {}).get("task_id") == "plan" for rid in failed), sorted(alerts)
            assert "kid '2'" in alerts[failed[1]]["reason"] and "kid '1'" in alerts[failed[2]]["reason"]

            # 4. the crawl
            seen = _crawl(stack, forms, ("viewer", "op", "admin"))
            viewer, op = seen["viewer"], seen["op"]
            assert viewer["/api/v2/connections?limit=100"] == 403 and viewer["/api/v2/variables?limit=100"] == 403
            assert op[f"{pii}"] == 200 and op[f"/api/v2/connections/{WEBHOOK_CONN}"] == 200
            assert viewer["/api/v2/eventLogs?limit=100"] == 200
            # the viewer read every task log there is (3 runs of 5 tasks, 3 failed plans), the XComs (partitions,
            # the stage's and gate's outputs) and the plugin's run pages: the crawl went where the secrets could be
            logs_read = [u for u, s in viewer.items() if "/logs/" in u and s == 200]
            mapped_logs = [u for u in logs_read if "/partition.stage/logs/" in u and "map_index=0" in u]
            xcoms_read = [u for u, s in viewer.items() if "/xcomEntries/" in u and s == 200]
            plugin_read = [u for u, s in viewer.items() if u.startswith("/leads-flow/runs/") and s == 200]
            assert len(logs_read) >= 18 and mapped_logs, f"{len(logs_read)} task logs read, {len(mapped_logs)} mapped"
            assert len(xcoms_read) >= 6 and plugin_read, f"{len(xcoms_read)} XComs, {len(plugin_read)} report pages"
            shown = stack.http("GET", f"/api/v2/connections/{WEBHOOK_CONN}", user="op")[1]
            masked = shown["password"] == "***"  # type: ignore[index]
            assert masked, "the op reads the webhook connection's password"
            print(f"[custody] crawled {len(viewer)} URLs as each of viewer, op, admin; no secret found")
        except BaseException:
            stack.dump_logs()
            raise
    finally:
        stack.stop()
        hook.server.shutdown()
        hook.server.server_close()
        hook.thread.join(timeout=5)

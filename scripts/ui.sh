#!/usr/bin/env bash
# `make ui`: the Airflow UI on the demo setup (runs after `python scripts/demo.py --setup-only`).
#
# Exports the demo environment (scripts/demo.py demo_env(): AIRFLOW_HOME=.demo/airflow, SQLite metadata,
# the leads_legacy / leads_flow connections on .demo/*.db, the demo keyring, and
# AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES=enc_keys,bidx_keys so that the UI's connection pages and the logs mask
# the keyring's keys), creates the pool
# leads_legacy, then execs `airflow standalone` (api-server + scheduler + dag-processor + triggerer,
# LocalExecutor) with the UI on http://127.0.0.1:${UI_PORT:-8080}, bound to loopback only.
# Stop it with Ctrl-C.
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

export PATH="$BIN:$PATH"  # standalone starts its components as `airflow ...` from PATH
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# Wait for SQLite's lock instead of failing at once when the UI, the CLI and the scheduler write together.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"

if "$BIN/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))) != 0)" "$PORT"; then
    echo "ui.sh: 127.0.0.1:$PORT is already in use (another Airflow?); stop it or set UI_PORT" >&2
    exit 1
fi

if [[ ! -f "$AIRFLOW_HOME/airflow.db" ]]; then
    echo "migrating Airflow's metadata database (first run only) ..."
    airflow db migrate >/dev/null
fi
airflow pools set leads_legacy 2 "legacy reads" >/dev/null
echo "pool leads_legacy: 2 slots (the legacy reads of the stage tasks)"

PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
cat <<EOF

  Airflow UI:  http://127.0.0.1:$PORT   (starting: 20 s to 2 min on a busy machine)
  Login:       admin, password in $PASSWORDS
               (generated on the first start, printed once below; later: cat that file)
  DAG:         leads_flow_sync, paused; trigger it with the form (Window: start_date / end_date)
  Stop:        Ctrl-C

EOF
exec airflow standalone

#!/bin/sh
# openbao-init of docker-compose.yaml's profile "openbao" (docs/docker-compose.md, "The keyring in OpenBao").
#
#   openbao-init.sh init        (the service's command, at every `docker compose --profile openbao up`)
#     1. waits for the openbao service;
#     2. the first time, initialises it with one unseal key, kept with the root token in $STATE/init.json
#        (mode 0600, on the volume openbao-init, which no other service mounts);
#     3. unseals it (the key goes to sys/unseal on stdin, never as an argument);
#     4. makes sure the KV v2 mount "secret" exists and writes the policy airflow-leads-flow (read-only on
#        the leads_* connections and variables);
#     5. issues Airflow's token for that policy into $AIRFLOW_TOKEN (mode 0400, owned by the Airflow user; the
#        volume openbao-airflow, mounted read-only in airflow-scheduler), and revokes the previous one.
#   openbao-init.sh put PATH    stores the JSON read from stdin under secret/PATH (KV v2) with the root token,
#                               e.g. python scripts/gen_keyring.py --connection-json |
#                                    docker compose --profile openbao run --rm -T openbao-init put connections/leads_pii
#
# No secret is ever an argument of a command: tokens are passed in BAO_TOKEN, keys and secrets on stdin.
set -eu
umask 077

STATE=${OPENBAO_INIT_STATE:-/openbao/init}
AIRFLOW_TOKEN=${OPENBAO_AIRFLOW_TOKEN:-/run/openbao-airflow/airflow-token}
POLICY=${OPENBAO_AIRFLOW_POLICY:-/opt/leads-flow/airflow-leads-flow.hcl}
AIRFLOW_UID=${AIRFLOW_UID:-50000}
TOKEN_TTL=${OPENBAO_AIRFLOW_TOKEN_TTL:-768h}
: "${BAO_ADDR:?set BAO_ADDR}"
export BAO_ADDR
unset BAO_TOKEN VAULT_TOKEN

say() { echo "openbao-init: $*"; }
die() { echo "openbao-init: $*" >&2; exit 1; }

# bao status: exit 0 unsealed, 2 sealed, 1 no answer
status_rc() { rc=0; bao status >/dev/null 2>&1 || rc=$?; echo "$rc"; }

wait_for_server() {
    i=0
    while [ "$(status_rc)" = 1 ]; do
        i=$((i + 1))
        [ "$i" -lt 90 ] || die "no answer from $BAO_ADDR after 90 s"
        sleep 1
    done
}

status_field() { bao status -format=json 2>/dev/null | sed -n "s/^ *\"$1\": *\([a-z]*\).*/\1/p"; }
init_field() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$STATE/init.json"; }
unseal_key() { sed -n '/"unseal_keys_b64"/{n;s/^ *"\([^"]*\)".*/\1/p;}' "$STATE/init.json"; }

use_root_token() {
    [ -s "$STATE/init.json" ] || die "$STATE/init.json is missing: the server was initialised elsewhere"
    BAO_TOKEN=$(init_field root_token)
    [ -n "$BAO_TOKEN" ] || die "no root token in $STATE/init.json"
    export BAO_TOKEN
}

initialise() {
    if [ "$(status_field initialized)" != true ]; then
        [ ! -e "$STATE/init.json" ] || die "$STATE/init.json exists but the server is not initialised; move it away first"
        bao operator init -key-shares=1 -key-threshold=1 -format=json >"$STATE/init.json.tmp"
        mv "$STATE/init.json.tmp" "$STATE/init.json"
        say "initialised; unseal key and root token in $STATE/init.json (volume openbao-init)"
    fi
    if [ "$(status_field sealed)" = true ]; then
        [ -s "$STATE/init.json" ] || die "the server is sealed and $STATE/init.json is missing"
        # `bao operator unseal` reads a key from a terminal or its arguments only: the API takes it on stdin
        printf '{"key": "%s"}' "$(unseal_key)" | bao write sys/unseal - >/dev/null
        [ "$(status_field sealed)" = false ] || die "unseal failed"
        say "unsealed"
    fi
}

configure() {
    use_root_token
    if ! bao secrets list -format=json | grep -q '"secret/"'; then
        bao secrets enable -path=secret -version=2 kv >/dev/null
        say "KV v2 enabled at secret/"
    fi
    bao policy write airflow-leads-flow "$POLICY" >/dev/null
    mkdir -p "$(dirname "$AIRFLOW_TOKEN")"
    old_accessor=""
    [ ! -s "$STATE/airflow-token-accessor" ] || old_accessor=$(cat "$STATE/airflow-token-accessor")
    bao token create -policy=airflow-leads-flow -no-default-policy -orphan -ttl="$TOKEN_TTL" \
        -display-name=airflow-leads-flow -format=json >"$STATE/airflow-token.json"
    token=$(sed -n 's/^ *"client_token": *"\([^"]*\)".*/\1/p' "$STATE/airflow-token.json")
    accessor=$(sed -n 's/^ *"accessor": *"\([^"]*\)".*/\1/p' "$STATE/airflow-token.json")
    rm -f "$STATE/airflow-token.json"
    [ -n "$token" ] && [ -n "$accessor" ] || die "no token issued"
    printf '%s' "$token" >"$AIRFLOW_TOKEN.tmp"
    chown "$AIRFLOW_UID:0" "$AIRFLOW_TOKEN.tmp" 2>/dev/null || true
    chmod 0400 "$AIRFLOW_TOKEN.tmp"
    mv "$AIRFLOW_TOKEN.tmp" "$AIRFLOW_TOKEN"
    printf '%s\n' "$accessor" >"$STATE/airflow-token-accessor"
    if [ -n "$old_accessor" ] && [ "$old_accessor" != "$accessor" ]; then
        bao token revoke -accessor "$old_accessor" >/dev/null 2>&1 || true  # an accessor reads nothing
    fi
    say "Airflow's token (policy airflow-leads-flow, ttl $TOKEN_TTL) in $AIRFLOW_TOKEN"
}

case "${1:-init}" in
init)
    mkdir -p "$STATE"
    wait_for_server
    initialise
    configure
    ;;
put)
    [ $# -eq 2 ] || die "usage: openbao-init.sh put PATH   (the secret's JSON on stdin)"
    wait_for_server
    [ "$(status_field sealed)" = false ] || die "the server is sealed: run docker compose --profile openbao up -d first"
    use_root_token
    bao kv put -mount=secret "$2" - >/dev/null
    say "stored secret/$2 (version $(bao kv metadata get -mount=secret -format=json "$2" | sed -n 's/^ *"current_version": *\([0-9]*\).*/\1/p'))"
    ;;
*)
    die "usage: openbao-init.sh [init | put PATH]"
    ;;
esac

#!/usr/bin/env bash
# Start the cluster (idempotent: what runs already is left running):
#   PostgreSQL (Airflow's metadata DB) and Redis (the Celery broker) on 127.0.0.1,
#   the control host's api-server, scheduler and dag-processor, and two Celery workers, each
#   with its own Airflow home and working directory, as if on two hosts.
# Passwords and keys are generated once into $CONTROL_HOME/secrets.env (mode 0600) and never
# printed. Logs: $CLUSTER_DIR/logs/. See docs/operators/scaling.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"

die() { echo "cluster-up: $*" >&2; exit 1; }
[ -x "$VENV_BIN/airflow" ] || die "$VENV_BIN/airflow is missing: run make venv (make cluster-up does)"
"$VENV_BIN/python" -c 'import airflow.providers.celery' \
    || die "the Celery provider is not installed in $VENV_BIN: run make venv"
"$HERE/install-packages.sh"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

mkdir -p "$RUN_DIR" "$LOG_DIR" "$REDIS_DIR" "$CONTROL_HOME" "$SHARED_DIR/data" "$CLUSTER_DIR/control"
chmod 700 "$CLUSTER_DIR"
if [ "$(id -u)" = 0 ]; then chmod 711 "$CLUSTER_DIR"; fi  # the postgres user must reach its data dir, no more

# --- settings this cluster keeps: its port base and the tunables of cluster.env -------------
if [ -f "$CLUSTER_DIR/port-base" ] && [ "$(cat "$CLUSTER_DIR/port-base")" != "$CLUSTER_PORT_BASE" ]; then
    die "$CLUSTER_DIR was created with CLUSTER_PORT_BASE=$(cat "$CLUSTER_DIR/port-base"), not $CLUSTER_PORT_BASE: its secrets name those ports; use that base or make cluster-down PURGE=1"
fi
echo "$CLUSTER_PORT_BASE" > "$CLUSTER_DIR/port-base"
{
    for name in CLUSTER_PORT_BASE CLUSTER_WORKER_CONCURRENCY CLUSTER_VISIBILITY_TIMEOUT CLUSTER_HEARTBEAT_TIMEOUT \
                CLUSTER_HEARTBEAT_CHECK_S CLUSTER_USE_JOB_SCHEDULE CLUSTER_RESTORE_INTERVAL_S; do
        if [ -n "${!name:-}" ]; then printf ': "${%s:=%q}"\n' "$name" "${!name}"; fi
    done
} > "$CLUSTER_DIR/settings.env"

# --- footfall's settings, the same on every host ------------------------------------------
# The data dir and secrets dir are on the storage both workers reach (docs/operators/scaling.md says why
# the secrets dir must be shared: the daily visitor salts are created on first use).
{
    echo "FOOTFALL_DATA_DIR=$SHARED_DIR/data"
    echo "FOOTFALL_SECRETS_DIR=$SHARED_DIR/secrets"
    for name in $(compgen -e | grep -E '^(FOOTFALL_|VISIT_TRACKING_|GEOIP_DATABASE$)' | grep -vE '^FOOTFALL_(REPO|DATA_DIR|SECRETS_DIR|FAILPOINT.*|HASH_KEY)$'); do
        printf '%s=%q\n' "$name" "${!name}"
    done
} > "$CLUSTER_DIR/footfall.env"

# --- secrets: generated once, mode 0600, never printed -------------------------------------
SECRETS="$CONTROL_HOME/secrets.env"
if [ ! -s "$SECRETS" ]; then
    (
        umask 077
        token() { "$VENV_BIN/python" -c 'import secrets; print(secrets.token_hex(24))'; }
        pg_super=$(token); pg=$(token); redis=$(token)
        {
            "$VENV_BIN/python" "$REPO/bin/airflow-secrets"
            echo "CLUSTER_PG_SUPERUSER_PASSWORD=$pg_super"
            echo "CLUSTER_PG_PASSWORD=$pg"
            echo "CLUSTER_REDIS_PASSWORD=$redis"
            echo "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:$pg@127.0.0.1:$PG_PORT/airflow"
            echo "AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql+psycopg2://airflow:$pg@127.0.0.1:$PG_PORT/airflow"
            echo "AIRFLOW__CELERY__BROKER_URL=redis://:$redis@127.0.0.1:$REDIS_PORT/0"
        } > "$SECRETS.tmp"
        mv "$SECRETS.tmp" "$SECRETS"
    )
fi
set -a
# shellcheck source=/dev/null
source "$SECRETS"
set +a

# --- PostgreSQL ------------------------------------------------------------------------------
if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$CLUSTER_DIR/postgres" "$PG_DATA"
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$CLUSTER_DIR"; then
        # A parent of the repo is closed to other users (a CI clone in a private temp dir): the
        # data dir goes where the postgres user can reach it, linked from the cluster dir.
        outside="/var/tmp/footfall-cluster-$(printf '%s' "$CLUSTER_DIR" | sha256sum | cut -c1-12)"
        rm -rf "$outside"
        mkdir -p "$outside/data"
        chmod 711 "$outside"
        ln -s "$outside/data" "$CLUSTER_DIR/postgres"
    else
        mkdir -p "$CLUSTER_DIR/postgres"
    fi
    PG_DATA="$(readlink -f "$CLUSTER_DIR/postgres")"
    chmod 700 "$PG_DATA"
    pwfile="$(dirname "$PG_DATA")/pg-superuser.pw"
    (umask 077; printf '%s\n' "$CLUSTER_PG_SUPERUSER_PASSWORD" > "$pwfile")
    if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DATA" "$pwfile"; fi
    "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" --auth=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 > "$LOG_DIR/initdb.log" 2>&1 || { rm -f "$pwfile"; cat "$LOG_DIR/initdb.log"; die "initdb failed"; }
    rm -f "$pwfile"
    cat >> "$PG_DATA/postgresql.conf" <<PGCONF
# footfall cluster: TCP on loopback only, a non-default port, no Unix socket.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
PGCONF
fi
# Its log lives in its data dir (the postgres user writes it), linked from the cluster's logs.
ln -sfn "$PG_DATA/postgres.log" "$LOG_DIR/postgres.log"
if ! "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" status > /dev/null 2>&1; then
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/postgres.log" -w -t 60 start > /dev/null \
        || { tail -n 20 "$PG_DATA/postgres.log"; die "PostgreSQL did not start (log: $PG_DATA/postgres.log)"; }
fi
psql_super() { PGPASSWORD=$CLUSTER_PG_SUPERUSER_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtX "$@"; }
if [ -z "$(psql_super -c "select 1 from pg_roles where rolname = 'airflow'")" ]; then
    # The password goes in on standard input, never on a command line.
    psql_super -v ON_ERROR_STOP=1 -v pw="$CLUSTER_PG_PASSWORD" <<'SQL'
create role airflow login password :'pw';
SQL
fi
if [ -z "$(psql_super -c "select 1 from pg_database where datname = 'airflow'")" ]; then
    psql_super -c "create database airflow owner airflow encoding 'UTF8'"
fi

# --- Redis -----------------------------------------------------------------------------------
(
    umask 077
    cat > "$REDIS_DIR/redis.conf" <<REDISCONF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $CLUSTER_REDIS_PASSWORD
dir $REDIS_DIR
# Queued messages survive a restart of Redis.
appendonly yes
daemonize yes
pidfile $RUN_DIR/redis.pid
logfile $LOG_DIR/redis.log
REDISCONF
)
if ! alive redis; then
    redis-server "$REDIS_DIR/redis.conf"
fi
for _ in $(seq 50); do
    REDISCLI_AUTH=$CLUSTER_REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG && break
    sleep 0.2
done
REDISCLI_AUTH=$CLUSTER_REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG \
    || die "Redis did not answer on 127.0.0.1:$REDIS_PORT (log: $LOG_DIR/redis.log)"

# --- each host's Airflow home: its own copy of the secrets -------------------------------------
for host in "${WORKERS[@]}"; do
    mkdir -p "$(worker_home "$host")" "$(worker_workdir "$host")"
    install -m 600 "$SECRETS" "$(worker_home "$host")/secrets.env"
done

# --- Airflow's metadata DB, the warehouse pool, the hash key ----------------------------------
on_control() { "$HERE/host-env.sh" control "$@"; }
on_control airflow db migrate > "$LOG_DIR/db-migrate.log" 2>&1 || { tail -n 30 "$LOG_DIR/db-migrate.log"; die "airflow db migrate failed"; }
on_control airflow pools set footfall_warehouse 1 "tasks that open the DuckDB warehouse (one writer at a time)" > /dev/null
# One hash key for every host, in the metadata DB (encrypted with the Fernet key): a key per
# host would give one visitor two client_ip_hash values.
if ! on_control airflow variables get footfall_hash_key > /dev/null 2>&1; then
    keyfile="$RUN_DIR/hash-key.json"
    (umask 077; "$VENV_BIN/python" -c 'import json, secrets; print(json.dumps({"footfall_hash_key": secrets.token_hex(32)}))' > "$keyfile")
    on_control airflow variables import "$keyfile" > /dev/null
    rm -f "$keyfile"
fi

# --- the processes -----------------------------------------------------------------------------
"$HERE/process.sh" start "${CONTROL_PROCESSES[@]}" "${WORKERS[@]}"
"$HERE/status.sh"

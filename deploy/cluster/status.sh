#!/usr/bin/env bash
# What of the cluster runs, where its logs are, and how to reach the API server.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"

line() { printf '  %-14s %-8s %s\n' "$1" "$2" "$3"; }
echo "cluster in $CLUSTER_DIR (logs in $LOG_DIR)"
if [ -n "$PG_BIN" ] && [ -s "$PG_DATA/PG_VERSION" ] && "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" status > /dev/null 2>&1; then
    line postgresql running "127.0.0.1:$PG_PORT, database airflow"
else
    line postgresql stopped ""
fi
if alive redis; then line redis running "127.0.0.1:$REDIS_PORT"; else line redis stopped ""; fi
for name in "${CONTROL_PROCESSES[@]}" "${WORKERS[@]}"; do
    detail=""
    case "$name" in
        api-server) detail="http://127.0.0.1:$API_PORT" ;;
        worker*) detail="queues ${WORKER_QUEUES[$name]}, home $(worker_home "$name")" ;;
    esac
    if alive "$name"; then line "$name" running "$detail"; else line "$name" stopped "$detail"; fi
done

#!/usr/bin/env bash
# Stop the cluster: the workers (finishing their running tasks first), the control host's
# processes, Redis and PostgreSQL. Their data stays, so cluster-up continues where it stopped.
# With PURGE=1 the cluster's directory (metadata DB, broker, shared data, secrets) is deleted.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
[ -d "$CLUSTER_DIR" ] || exit 0

"$HERE/process.sh" stop "${WORKERS[@]}"
"$HERE/process.sh" stop dag-processor scheduler api-server
if alive redis; then
    kill -TERM "$(pid_of redis)"  # Redis writes its append-only file and exits
    for _ in $(seq 100); do alive redis || break; sleep 0.1; done
fi
if [ -n "$PG_BIN" ] && [ -s "$PG_DATA/PG_VERSION" ] && "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" status > /dev/null 2>&1; then
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop > /dev/null
fi
if [ "${PURGE:-0}" = 1 ]; then
    [ -L "$CLUSTER_DIR/postgres" ] && rm -rf "$(dirname "$PG_DATA")"  # a data dir kept outside (see up.sh)
    rm -rf "$CLUSTER_DIR"
    echo "cluster stopped; $CLUSTER_DIR deleted"
else
    echo "cluster stopped; its state is kept in $CLUSTER_DIR (PURGE=1 deletes it)"
fi

#!/usr/bin/env bash
# Run a command with the environment of one host of the cluster:
#   deploy/cluster/host-env.sh control airflow dags list
#   deploy/cluster/host-env.sh worker1 airflow celery worker ...
# The environment is built from nothing but PATH, HOME and the cluster's files: the repo's
# airflow.cfg, cluster.env, the host's secrets.env and the cluster's footfall.env.
# FOOTFALL_FAILPOINT and FOOTFALL_FAILPOINT_ACTION pass through (test hooks, warehouse/failpoints.py).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
host=$1; shift
case "$host" in
    control) home=$CONTROL_HOME; workdir=$CLUSTER_DIR/control ;;
    worker1|worker2) home=$(worker_home "$host"); workdir=$(worker_workdir "$host") ;;
    *) echo "unknown host $host (control, worker1, worker2)" >&2; exit 2 ;;
esac
[ -s "$home/secrets.env" ] || { echo "$home/secrets.env is missing: run make cluster-up first" >&2; exit 1; }
passthrough=()
for name in FOOTFALL_FAILPOINT FOOTFALL_FAILPOINT_ACTION; do
    if [ -n "${!name:-}" ]; then passthrough+=("$name=${!name}"); fi
done
cd "$workdir"
exec env -i PATH="$VENV_BIN:/usr/local/bin:/usr/bin:/bin" HOME="${HOME:-/root}" LANG=C.UTF-8 \
    CLUSTER_HOST="$host" CLUSTER_DIR="$CLUSTER_DIR" AIRFLOW_HOME="$home" "${passthrough[@]}" \
    bash -c 'set -euo pipefail; source "$1/env.sh"; set -a; source "$1/cluster.env"; source "$AIRFLOW_HOME/secrets.env";
             source "$CLUSTER_DIR/footfall.env"; set +a; shift; exec "$@"' \
    host-env "$HERE" "$@"

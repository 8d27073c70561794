#!/usr/bin/env bash
# Start, stop or kill the cluster's Airflow processes by name:
#   deploy/cluster/process.sh start|stop|kill NAME...
# NAME: api-server, scheduler, dag-processor (the control host) or worker1, worker2 (a worker
# host: its Celery worker, its task processes and its log server). A worker started with
# CLUSTER_WORKER_CONCURRENCY set runs that many task slots (default: cluster.env's, 2).
# Each process is started with setsid, so it leads a session holding everything it starts;
# stop sends SIGTERM to that session (a worker finishes its running tasks first, up to
# CLUSTER_STOP_TIMEOUT seconds, default 120), kill sends SIGKILL at once: a host that died.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
action=$1; shift

command_of() {
    case "$1" in
        api-server) echo "control airflow api-server" ;;
        scheduler) echo "control airflow scheduler" ;;
        dag-processor) echo "control airflow dag-processor" ;;
        worker1|worker2)
            # Its own Celery node name; its own port for serving task logs to the API server.
            echo "$1 env AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=${WORKER_LOG_PORTS[$1]} airflow celery worker" \
                 "--queues ${WORKER_QUEUES[$1]} --celery-hostname $1@%h" \
                 "${CLUSTER_WORKER_CONCURRENCY:+--concurrency $CLUSTER_WORKER_CONCURRENCY}" ;;
        *) echo "unknown process $1" >&2; exit 2 ;;
    esac
}

session_pids() {  # every process of the session led by $1 (task processes have their own groups, not sessions)
    ps -e -o pid=,sid= | awk -v s="$1" '$2 == s {print $1}'
}

start() {
    local name=$1
    if alive "$name"; then return; fi
    read -r -a cmd <<< "$(command_of "$name")"
    setsid "$HERE/host-env.sh" "${cmd[@]}" >> "$LOG_DIR/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/$name.pid"
}

signal_session() {
    local name=$1 sig=$2 pid
    pid=$(pid_of "$name")
    [ -n "$pid" ] || return 0
    local pids
    pids=$(session_pids "$pid")
    # shellcheck disable=SC2086  # one argument per pid
    if [ -n "$pids" ]; then kill "-$sig" $pids 2> /dev/null || true; fi
}

stop() {
    local name=$1 pid
    pid=$(pid_of "$name")
    [ -n "$pid" ] || return 0
    # SIGTERM to the session leader only: Airflow and Celery shut their children down in order.
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq $((${CLUSTER_STOP_TIMEOUT:-120} * 5))); do
        [ -z "$(session_pids "$pid")" ] && break
        sleep 0.2
    done
    signal_session "$name" KILL
    rm -f "$RUN_DIR/$name.pid"
}

for name in "$@"; do
    case "$action" in
        start) start "$name" ;;
        stop) stop "$name" ;;
        kill) signal_session "$name" KILL; rm -f "$RUN_DIR/$name.pid" ;;
        *) echo "usage: $0 start|stop|kill NAME..." >&2; exit 2 ;;
    esac
done

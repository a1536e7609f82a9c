#!/usr/bin/env bash
# receivers.sh start|stop: the three sample webhook receivers (testkit.receiver) on
# 127.0.0.1:8080-8082, in the background, log .local/logs/receivers.log, pid .local/run/receivers.pid.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EDP_ROOT"
PORTS=$(IFS=,; echo "${RECEIVER_PORTS[*]}")
STATS="http://$HOST:${RECEIVER_PORTS[0]}/_control/stats"

start() {
  if pid=$(pid_of receivers); then
    say "receivers: already up on $HOST:$PORTS (pid $pid)"
    return 0
  fi
  for p in "${RECEIVER_PORTS[@]}"; do
    if port_open "$HOST" "$p"; then
      fail_line receivers "$HOST:$p is already in use by $(port_holder "$p"), not started by these scripts"
      return 1
    fi
  done
  PYTHONPATH="$EDP_ROOT${PYTHONPATH:+:$PYTHONPATH}" start_bg receivers "$LOGS/receivers.log" \
    "$PY" -m testkit.receiver --ports "$PORTS"
  for _ in $(seq 1 100); do
    http_ok "$STATS" && break
    pid_of receivers >/dev/null || break
    sleep 0.2
  done
  if ! http_ok "$STATS"; then
    fail_line receivers "$STATS does not answer: $(last_log_line "$LOGS/receivers.log")"
    stop_service receivers 5
    return 1
  fi
  say "receivers: started on $HOST:$PORTS (pid $(pid_of receivers))"
}

stop() {
  if pid_of receivers >/dev/null || [[ -n $(owned_pids receivers) ]]; then
    stop_service receivers 15
    say "receivers: stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

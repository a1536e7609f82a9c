#!/usr/bin/env bash
# One line per service: name, up/down, address (and the pid when these scripts started it).
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

line() {  # line NAME CHECK-RESULT ADDRESS [SERVICE-FOR-PID]
  local name=$1 ok=$2 addr=$3 pid=""
  [[ -n ${4:-} ]] && pid=$(pid_of "$4" 2>/dev/null) && pid=" (pid $pid)"
  printf '%-18s %-5s %s%s\n' "$name" "$([[ $ok == 0 ]] && echo up || echo down)" "$addr" "$pid"
}
check() { "$@" >/dev/null 2>&1 && echo 0 || echo 1; }

line kafka "$(check port_open $HOST $KAFKA_PORT)" "$HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)" kafka
line ferretdb "$(check port_open $HOST $MONGO_PORT)" "mongodb://$HOST:$MONGO_PORT/" ferretdb
line rabbitmq "$(check port_open $HOST $RABBIT_PORT)" "amqp://edp:edp@$HOST:$RABBIT_PORT/edp" rabbitmq
line rabbitmq-mgmt "$(check http_ok "http://$HOST:$RABBIT_UI_PORT/api/overview" -u edp:edp)" \
  "http://$HOST:$RABBIT_UI_PORT/ (edp/edp), metrics :$RABBIT_METRICS_PORT"
line prometheus "$(check http_ok "http://$HOST:$PROM_PORT/-/ready")" "http://$HOST:$PROM_PORT/" prometheus
ray_pid=""
[[ -f $RUN/ray.started ]] && ray_pid=" started by ray.sh"
line ray-head "$(check port_open $HOST $RAY_GCS_PORT)" "$HOST:$RAY_GCS_PORT (export RAY_ADDRESS=$HOST:$RAY_GCS_PORT)$ray_pid"
line ray-dashboard "$(check http_ok "http://$HOST:$RAY_DASHBOARD_PORT/api/version")" \
  "http://$HOST:$RAY_DASHBOARD_PORT/ (jobs: RAY_ADDRESS=http://$HOST:$RAY_DASHBOARD_PORT)"
line api "$(check http_ok "http://$HOST:$API_PORT/healthz")" "http://$HOST:$API_PORT/healthz"
for p in "${RECEIVER_PORTS[@]}"; do
  line "receiver-$p" "$(check http_ok "http://$HOST:$p/_control/stats")" "http://$HOST:$p/" receivers
done
exit 0

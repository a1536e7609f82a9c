#!/usr/bin/env bash
# Installs what is missing, then starts Kafka, FerretDB, RabbitMQ and Prometheus on 127.0.0.1
# and waits until each one answers. Idempotent: a service that is already up (and ours) is left
# as it is. A service that cannot start gets ONE line on stderr naming it and why; the script
# then exits non-zero. Logs: .local/logs/, pids: .local/run/.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=infra/local/install.sh
source "$EDP_ROOT/infra/local/install.sh"
cd "$EDP_ROOT"

T0=$SECONDS
FAILED=()
STARTED=()
fail() {
  fail_line "$1" "$2"
  FAILED+=("$1")
}

# check_free SERVICE PORT...: returns 1 (after one line) if another process holds a port.
check_free() {
  local svc=$1 p
  shift
  for p in "$@"; do
    if port_open "$HOST" "$p"; then
      fail "$svc" "$HOST:$p is already in use by $(port_holder "$p"), not started by these scripts"
      return 1
    fi
  done
}

# wait_up SERVICE TIMEOUT CHECK...: polls CHECK until it succeeds, the process dies or time runs out.
wait_up() {
  local svc=$1 timeout=$2 log=$3 deadline
  shift 3
  deadline=$((SECONDS + timeout))
  while ! "$@"; do
    if ! pid_of "$svc" >/dev/null; then
      fail "$svc" "exited during start-up: $(last_log_line "$log") (see ${log#"$EDP_ROOT"/})"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      fail "$svc" "not answering after ${timeout}s: $(last_log_line "$log") (see ${log#"$EDP_ROOT"/})"
      return 1
    fi
    sleep 0.3
  done
}

# ---- Kafka -----------------------------------------------------------------------------------
KAFKA_DIR="$STATE/kafka"
KAFKA_JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dlog4j2.configurationFile="$EDP_ROOT/infra/kafka/log4j2.xml"
  -Dkafka.logs.dir="$LOGS" -cp "$KAFKA_LIBS/*")

start_kafka() {
  pid_of kafka >/dev/null && return 0
  check_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" || return 1
  ensure_kafka_jars || {
    fail kafka "$INSTALL_WHY"
    return 1
  }
  mkdir -p "$KAFKA_DIR/data"
  sed "s#@STATE@#$STATE#g" infra/kafka/server.properties >"$KAFKA_DIR/server.properties"
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    [[ -s $KAFKA_DIR/cluster.id ]] ||
      "${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id" 2>>"$LOGS/kafka-format.log"
    # --standalone: this node alone is the initial controller quorum (KIP-853 dynamic quorum).
    if ! "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$(<"$KAFKA_DIR/cluster.id")" \
      -c "$KAFKA_DIR/server.properties" --standalone >>"$LOGS/kafka-format.log" 2>&1; then
      fail kafka "StorageTool format failed: $(last_log_line "$LOGS/kafka-format.log")"
      return 1
    fi
  fi
  start_bg kafka "$LOGS/kafka.out.log" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
  STARTED+=(kafka)
}

kafka_ready() {
  port_open "$HOST" "$KAFKA_PORT" &&
    PYTHONPATH="$EDP_ROOT" "$PY" infra/local/ensure_topic.py >>"$LOGS/kafka-topic.log" 2>&1
}

# ---- FerretDB (MongoDB wire protocol) --------------------------------------------------------
start_ferretdb() {
  pid_of ferretdb >/dev/null && return 0
  check_free ferretdb "$MONGO_PORT" || return 1
  ensure_ferretdb_bin || {
    fail ferretdb "$INSTALL_WHY"
    return 1
  }
  start_bg ferretdb "$LOGS/ferretdb.log" "$FERRET_BIN" -listen "$HOST:$MONGO_PORT" -data "$STATE/ferretdb"
  STARTED+=(ferretdb)
}

# ---- RabbitMQ --------------------------------------------------------------------------------
# epmd is started by us first (when no epmd is listening) so that it is one of our processes with
# a pid file; an epmd someone else runs is used as it is and never stopped by down.sh.
start_rabbitmq() {
  pid_of rabbitmq >/dev/null && return 0
  check_free rabbitmq "$RABBIT_PORT" "$RABBIT_UI_PORT" "$RABBIT_METRICS_PORT" "$RABBIT_DIST_PORT" || return 1
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || {
    fail rabbitmq "rabbitmq-server is not installed (apt-get install rabbitmq-server failed?)"
    return 1
  }
  (
    rabbit_env
    if ! port_open "$HOST" "$EPMD_PORT"; then
      start_bg epmd "$LOGS/epmd.log" epmd -address "$HOST" -port "$EPMD_PORT"
      for _ in $(seq 1 50); do
        port_open "$HOST" "$EPMD_PORT" && break
        sleep 0.1
      done
    fi
    # The wrapper script (not -detached) stays the parent of the VM; SIGTERM to the VM is a
    # clean shutdown.
    start_bg rabbitmq "$LOGS/rabbitmq.out.log" /usr/lib/rabbitmq/bin/rabbitmq-server
  )
  STARTED+=(rabbitmq)
}

# Ready = AMQP listening and both plugins answering HTTP (any status: the user may need repair).
rabbit_ready() {
  port_open "$HOST" "$RABBIT_PORT" &&
    http_ok "http://$HOST:$RABBIT_METRICS_PORT/metrics" &&
    [[ $(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$HOST:$RABBIT_UI_PORT/api/overview") != 000 ]]
}

# The default user/vhost come from rabbitmq.conf on a node's first boot only; repair them for a
# node whose data predates that (or whose user was changed by hand).
ensure_rabbit_user() {
  curl -fsS -m 3 -u edp:edp "http://$HOST:$RABBIT_UI_PORT/api/whoami" 2>/dev/null | grep -q administrator &&
    return 0
  (
    rabbit_env
    ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
    "$ctl" -q add_vhost edp || true
    "$ctl" -q add_user edp edp 2>/dev/null || "$ctl" -q change_password edp edp
    "$ctl" -q set_user_tags edp administrator
    "$ctl" -q set_permissions -p edp edp '.*' '.*' '.*'
  ) >>"$LOGS/rabbitmq-setup.log" 2>&1 || {
    fail rabbitmq "could not create vhost/user edp: $(last_log_line "$LOGS/rabbitmq-setup.log")"
    return 1
  }
}

# ---- Prometheus ------------------------------------------------------------------------------
start_prometheus() {
  # Already up: reload, so a changed prometheus.yml applies without a restart.
  pid_of prometheus >/dev/null && { curl -fsS -X POST "http://$HOST:$PROM_PORT/-/reload" >/dev/null || true; return 0; }
  check_free prometheus "$PROM_PORT" || return 1
  # The ray job's file discovery watches this folder (tests/e2e/test_dashboard.py writes there).
  # Prometheus 2.42 creates a job's scrape pool only once its discovery yields a target group, and
  # on a machine where no Ray dashboard has run yet neither file exists: an empty group keeps the
  # ray job listed (and scraping nothing) until Ray's own file appears.
  mkdir -p /tmp/edp-prometheus-sd
  [ -e /tmp/edp-prometheus-sd/empty.json ] || echo '[{"targets": [], "labels": {}}]' >/tmp/edp-prometheus-sd/empty.json
  command -v prometheus >/dev/null || {
    fail prometheus "prometheus is not installed (apt-get install prometheus failed?)"
    return 1
  }
  start_bg prometheus "$LOGS/prometheus.log" prometheus \
    --config.file="$EDP_ROOT/infra/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus" --storage.tsdb.retention.time=2d \
    --web.listen-address="$HOST:$PROM_PORT" --web.enable-lifecycle
  STARTED+=(prometheus)
}

# ---- main ------------------------------------------------------------------------------------
ensure_apt_packages || fail install "$INSTALL_WHY"

# Start everything first and wait afterwards: the JVM and the Erlang VM boot in parallel. RabbitMQ
# and Prometheus need no build, so they boot while Maven fetches Kafka's jars (network-bound) in
# the background and Go builds FerretDB (CPU-bound) here; start_kafka then finds the jars current,
# or retries the fetch itself and reports why it failed.
start_rabbitmq || true
start_prometheus || true
jars_pid=""
if ! pid_of kafka >/dev/null; then
  ensure_kafka_jars &
  jars_pid=$!
fi
start_ferretdb || true
[[ -z $jars_pid ]] || wait "$jars_pid" || true
start_kafka || true

# Every service is checked, also one that was already running: "up" means answering.
is_failed() { [[ " ${FAILED[*]} " == *" $1 "* ]]; }
is_failed ferretdb || wait_up ferretdb 30 "$LOGS/ferretdb.log" port_open "$HOST" "$MONGO_PORT" || true
is_failed prometheus || wait_up prometheus 30 "$LOGS/prometheus.log" http_ok "http://$HOST:$PROM_PORT/-/ready" || true
is_failed kafka || wait_up kafka 90 "$LOGS/kafka.log" kafka_ready || true
if ! is_failed rabbitmq && wait_up rabbitmq 90 "$LOGS/rabbitmq.log" rabbit_ready; then
  ensure_rabbit_user || true
fi

for svc in kafka ferretdb rabbitmq prometheus; do
  is_failed "$svc" && continue
  if [[ " ${STARTED[*]} " == *" $svc "* ]]; then
    say "$svc: started (pid $(pid_of "$svc" || echo ?))"
  else
    say "$svc: already up (pid $(pid_of "$svc" || echo ?))"
  fi
done
if ((${#FAILED[@]})); then
  say "services: ${#FAILED[@]} failed (${FAILED[*]}) after $((SECONDS - T0))s; logs in .local/logs/" >&2
  exit 1
fi
say "services: up in $((SECONDS - T0))s (make status lists the addresses)"

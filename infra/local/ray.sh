#!/usr/bin/env bash
# ray.sh start|stop: the local Ray head on 127.0.0.1 (GCS 6380, dashboard 8265, metrics 9102).
#
# start is harmless twice: a head that answers on 6380 is used as it is. stop only stops a head
# that ray.sh started (marker .local/run/ray.started), by the pids of its processes, which all
# carry our EDP_LOCAL_OWNER tag: not with `ray stop`, which kills every Ray process on the machine
# (other people's ray.init() clusters included).
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EDP_ROOT"
MARKER="$RUN/ray.started"
RAY="$VENV/bin/ray"

head_answers() { timeout 30 "$RAY" status --address "$HOST:$RAY_GCS_PORT" >/dev/null 2>&1; }

start() {
  if port_open "$HOST" "$RAY_GCS_PORT"; then
    if [[ -f $MARKER && -n $(owned_pids ray) ]]; then
      say "ray: already up at $HOST:$RAY_GCS_PORT (dashboard http://$HOST:$RAY_DASHBOARD_PORT)"
      return 0
    fi
    if head_answers; then
      say "ray: a head not started by ray.sh answers at $HOST:$RAY_GCS_PORT; using it as it is"
      return 0
    fi
    fail_line ray "$HOST:$RAY_GCS_PORT is held by $(port_holder "$RAY_GCS_PORT"), which is not a Ray head that answers"
    return 1
  fi
  [[ -x $RAY ]] || {
    fail_line ray "$RAY not found: run make install"
    return 1
  }
  local t0=$SECONDS
  # Token auth is off on purpose: every port is on loopback, and with it on, every client
  # (ray job submit, ray.init(address=...), the dashboard in a browser) would need the token too.
  # Ray turns it on by itself whenever ~/.ray/auth_token exists, so say it explicitly.
  # In a subshell without inherited descriptors: Ray's daemons must not keep the caller's lock.
  # No pool of idle workers: the platform runs only actors, each in a worker of its own, and
  # every idle worker Ray keeps (one per CPU by default) burns ~0.8 % of a core doing nothing.
  if ! (close_inherited_fds && EDP_LOCAL_OWNER="$(owner_tag ray)" RAY_AUTH_MODE=disabled \
    RAY_num_workers_soft_limit=0 exec setsid -w "$RAY" start --head \
    --node-ip-address="$HOST" --port="$RAY_GCS_PORT" \
    --dashboard-host="$HOST" --dashboard-port="$RAY_DASHBOARD_PORT" \
    --ray-client-server-port=10001 --metrics-export-port="$RAY_METRICS_PORT" \
    --num-cpus="${EDP_RAY_CPUS:-4}" --object-store-memory="${EDP_RAY_OBJECT_STORE:-1000000000}" \
    --disable-usage-stats </dev/null >>"$LOGS/ray.log" 2>&1); then
    fail_line ray "ray start failed: $(last_log_line "$LOGS/ray.log") (see .local/logs/ray.log)"
    stop_service ray 10
    return 1
  fi
  date -Is >"$MARKER"
  # The actors' logs stay in Ray's session folder (the dashboard reads them there); link this
  # head's session under .local/logs so `make logs` finds them even after test clusters start.
  ln -sfn "$(readlink -f /tmp/ray/session_latest)/logs" "$LOGS/ray-session"
  for _ in $(seq 1 100); do
    http_ok "http://$HOST:$RAY_DASHBOARD_PORT/api/version" && break
    sleep 0.3
  done
  http_ok "http://$HOST:$RAY_DASHBOARD_PORT/api/version" || {
    fail_line ray "head started but the dashboard does not answer on $HOST:$RAY_DASHBOARD_PORT"
    return 1
  }
  say "ray: started in $((SECONDS - t0))s at $HOST:$RAY_GCS_PORT (dashboard http://$HOST:$RAY_DASHBOARD_PORT)"
}

stop() {
  if [[ ! -f $MARKER ]]; then
    [[ -z $(owned_pids ray) ]] || stop_service ray 20
    return 0
  fi
  # Ray's own order: the raylet (and with it the workers) before the GCS it reports to.
  local pids=() gcs=()
  mapfile -t pids < <(owned_pids ray)
  for p in "${pids[@]}"; do
    grep -q gcs_server "/proc/$p/cmdline" 2>/dev/null && gcs+=("$p")
  done
  mapfile -t pids < <(printf '%s\n' "${pids[@]}" | grep -vxF -f <(printf '%s\n' "${gcs[@]:-none}") || true)
  ((${#pids[@]})) && stop_pids 20 "${pids[@]}"
  ((${#gcs[@]})) && stop_pids 10 "${gcs[@]}"
  stop_service ray 10
  rm -f "$MARKER"
  say "ray: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

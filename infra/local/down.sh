#!/usr/bin/env bash
# Stops what these scripts started, found through the pid files under .local/run/ (and only if
# /proc proves the pid is still ours), then waits until every one of them has exited.
# Data stays in .local/. The receivers and the Ray head have their own scripts; they are stopped
# here too so that one command leaves nothing of ours running.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EDP_ROOT"

bash infra/local/receivers.sh stop || true
bash infra/local/ray.sh stop || true

# Prometheus and Kafka first (they only serve clients); RabbitMQ, then its epmd once the VM is gone.
for svc in prometheus kafka ferretdb; do
  if pid_of "$svc" >/dev/null || [[ -n $(owned_pids "$svc") ]]; then
    stop_service "$svc" 60
    say "$svc: stopped"
  fi
done

# The VM's pid (written by RabbitMQ itself) gets the SIGTERM: that is RabbitMQ's clean shutdown;
# the wrapper script then exits on its own.
if pid_of rabbitmq >/dev/null || [[ -n $(owned_pids rabbitmq) ]]; then
  vm=$(cat "$RUN/rabbitmq-beam.pid" 2>/dev/null || true)
  if [[ -n $vm ]] && is_ours "$vm" rabbitmq; then
    stop_pids 60 "$vm"
  fi
  stop_service rabbitmq 30
  rm -f "$RUN/rabbitmq-beam.pid"
  say "rabbitmq: stopped"
fi
if pid_of epmd >/dev/null; then
  stop_service epmd 10
  say "epmd: stopped"
fi

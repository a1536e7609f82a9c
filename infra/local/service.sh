#!/usr/bin/env bash
# service.sh stop|start|restart SERVICE [DOWN_S]: one shared service (kafka, rabbitmq, ferretdb,
# prometheus) at a time, for the chaos suite and for operators. stop signals only the processes
# our pid files and ownership tags prove are ours (lib.sh); start is up.sh, which starts what is
# missing and returns once every service answers. restart stays down DOWN_S seconds (default 0).
# Stopping a shared service disturbs everyone on the machine: run it under
#   flock -x /tmp/edp-services.lock bash infra/local/service.sh restart kafka
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EDP_ROOT"

stop() {
  case "$1" in
    rabbitmq) stop_rabbitmq ;;
    kafka | ferretdb | prometheus) stop_service "$1" 60 ;;
    *)
      echo "service.sh: unknown service $1 (kafka, rabbitmq, ferretdb, prometheus)" >&2
      exit 2
      ;;
  esac
  say "$1: stopped"
}

start() { bash infra/local/up.sh >/dev/null; say "$1: up"; }

case "${1:-}:${2:-}" in
  stop:?*) stop "$2" ;;
  start:?*) start "$2" ;;
  restart:?*)
    stop "$2"
    sleep "${3:-0}"
    start "$2"
    ;;
  *)
    echo "usage: $0 stop|start|restart kafka|rabbitmq|ferretdb|prometheus [DOWN_S]" >&2
    exit 2
    ;;
esac

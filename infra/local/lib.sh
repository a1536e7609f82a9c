# shellcheck shell=bash
# shellcheck disable=SC2034  # constants and helpers for the scripts that source this file
# Shared helpers for infra/local/*.sh: paths, ownership of processes, waits, installs.
#
# Ownership: every process these scripts start carries EDP_LOCAL_OWNER=<repo root>:<service> in
# its environment, and so do all its descendants (Ray's workers, RabbitMQ's epmd). A pid read
# from a pid file is only signalled after /proc/<pid>/environ proves it is still ours, so a
# stale pid file can never hit a process that merely reused the number.

EDP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$EDP_ROOT/.local"
LOGS="$STATE/logs"
RUN="$STATE/run"
BIN="$STATE/bin"
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$EDP_ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
mkdir -p "$LOGS" "$RUN" "$BIN"

# Fixed local addresses (the design's table); everything binds to loopback only.
HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
MONGO_PORT=27017
RABBIT_PORT=5672
RABBIT_DIST_PORT=25672
RABBIT_UI_PORT=15672
RABBIT_METRICS_PORT=15692
EPMD_PORT=4369
PROM_PORT=9090
RAY_GCS_PORT=6380
RAY_DASHBOARD_PORT=8265
RAY_METRICS_PORT=9102
API_PORT=8000
RECEIVER_PORTS=(8080 8081 8082)

say() { printf '%s\n' "$*"; }
# The one line that tells why a service is not up; callers then exit non-zero.
fail_line() { printf '%s: %s\n' "$1" "$2" >&2; }

owner_tag() { printf '%s:%s' "$EDP_ROOT" "$1"; }

# is_ours PID SERVICE: the process is alive (not a zombie) and was started by us for SERVICE.
is_ours() {
  local pid=$1 svc=$2 state
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/environ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]] || return 1
  { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "EDP_LOCAL_OWNER=$(owner_tag "$svc")"
}

# owned_pids SERVICE: every live process that carries our tag for SERVICE, and their descendants
# (a process that rewrites its title, as Ray's dashboard modules do, can lose its environment).
owned_pids() {
  local tag p line rest state ppid
  local -A parent=()
  local -a tagged=() queue=()
  tag="EDP_LOCAL_OWNER=$(owner_tag "$1")"
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
    rest=${line##*) }
    state=${rest%% *}
    rest=${rest#* }
    ppid=${rest%% *}
    [[ $state == Z ]] && continue
    parent[$p]=$ppid
    if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "$tag"; then
      tagged+=("$p")
    fi
  done
  local -A seen=()
  queue=("${tagged[@]}")
  while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$p]:-} ]] && continue
    seen[$p]=1
    printf '%s\n' "$p"
    for line in "${!parent[@]}"; do
      [[ ${parent[$line]} == "$p" && -z ${seen[$line]:-} ]] && queue+=("$line")
    done
  done
}

# pid_of SERVICE: prints the pid from .local/run/SERVICE.pid if that process is still ours.
pid_of() {
  local f="$RUN/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  if is_ours "$pid" "$1"; then
    printf '%s\n' "$pid"
  else
    rm -f "$f"
    return 1
  fi
}

# start_bg SERVICE LOGFILE CMD...: runs CMD detached (own session, no terminal), tagged as ours,
# and records its pid. setsid execs in place here (we are not a group leader), so $! is CMD.
start_bg() {
  local svc=$1 log=$2
  shift 2
  printf '\n=== %s start %s ===\n' "$svc" "$(date -Is)" >>"$log"
  (
    close_inherited_fds
    EDP_LOCAL_OWNER="$(owner_tag "$svc")" exec setsid "$@" >>"$log" 2>&1 </dev/null
  ) &
  printf '%s\n' "$!" >"$RUN/$svc.pid"
}

# close_inherited_fds: closes every descriptor above stderr in the current (sub)shell. A daemon
# must not keep what its starter held: started under `flock -s /tmp/edp-services.lock make
# services`, Kafka would otherwise hold that shared lock for its whole life, and every later
# `flock -x` (a restart, make run) would wait forever.
close_inherited_fds() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd=${fd##*/}
    ((fd > 2)) || continue
    eval "exec $fd>&-" 2>/dev/null || true
  done
}

# stop_pids TIMEOUT PID...: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL what is left.
stop_pids() {
  local timeout=$1 p deadline left
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while :; do
    left=()
    for p in "$@"; do
      [[ -e /proc/$p && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] && left+=("$p")
    done
    ((${#left[@]})) || return 0
    if ((SECONDS >= deadline)); then
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.5
      return 0
    fi
    sleep 0.2
  done
}

# stop_service SERVICE [TIMEOUT]: stops the recorded pid first (so it can shut down its own
# children gracefully), then anything else still carrying the SERVICE tag.
stop_service() {
  local svc=$1 timeout=${2:-30} pid rest
  if pid=$(pid_of "$svc"); then
    stop_pids "$timeout" "$pid"
  fi
  mapfile -t rest < <(owned_pids "$svc")
  ((${#rest[@]} == 0)) || stop_pids 10 "${rest[@]}"
  rm -f "$RUN/$svc.pid"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_holder PORT: "pid=N name" of the process listening on PORT, when ss can tell.
port_holder() {
  local line
  line=$(ss -ltnpH "sport = :$1" 2>/dev/null | head -n1) || true
  if [[ $line =~ \"([^\"]+)\",pid=([0-9]+) ]]; then
    printf 'pid=%s %s' "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
  else
    printf 'unknown process'
  fi
}

http_ok() {
  local url=$1
  shift
  curl -fsS -m 3 -o /dev/null "$@" "$url" 2>/dev/null
}

last_log_line() { grep -v '^\s*$' "$1" 2>/dev/null | tail -n1 | cut -c1-200; }

apt_updated=0
# apt_ensure PACKAGE...: installs the Debian packages that are missing, without letting their
# maintainer scripts start a system-wide daemon (which would bind 0.0.0.0 and take our ports).
apt_ensure() {
  local p missing=() sudo=() log="$LOGS/apt.log" policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  ((EUID == 0)) || sudo=(sudo)
  say "installing ${missing[*]} (apt, log .local/logs/apt.log)"
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# Written by edp infra/local/lib.sh during apt-get install.\nexit 101\n' |
      "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" && made_policy=1
  fi
  if ((apt_updated == 0)); then
    "${sudo[@]}" apt-get update >>"$log" 2>&1 || rc=$?
    apt_updated=1
  fi
  if ((rc == 0)); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}" >>"$log" 2>&1 || rc=$?
  fi
  ((made_policy == 0)) || "${sudo[@]}" rm -f "$policy"
  return "$rc"
}

sha_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '/usr/local/go/bin/go\n'
  else
    return 1
  fi
}

# RabbitMQ's environment: our node name, loopback addresses, state under .local, and a HOME of
# its own so the Erlang cookie is ours (not /root/.erlang.cookie or /var/lib/rabbitmq's).
rabbit_env() {
  local base="$STATE/rabbitmq"
  mkdir -p "$base/home" "$base/mnesia"
  export HOME="$base/home"
  export RABBITMQ_NODENAME=edp@localhost
  export RABBITMQ_NODE_IP_ADDRESS=$HOST
  export RABBITMQ_NODE_PORT=$RABBIT_PORT
  export RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
  export ERL_EPMD_ADDRESS=$HOST
  export ERL_EPMD_PORT=$EPMD_PORT
  export RABBITMQ_MNESIA_BASE="$base/mnesia"
  export RABBITMQ_LOG_BASE="$LOGS"
  export RABBITMQ_LOGS="$LOGS/rabbitmq.log"
  export RABBITMQ_CONFIG_FILE="$EDP_ROOT/infra/rabbitmq/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$EDP_ROOT/infra/rabbitmq/enabled_plugins"
  export RABBITMQ_PID_FILE="$RUN/rabbitmq-beam.pid"
  # The system's rabbitmq-env.conf must not change our node; point at an empty file instead.
  export RABBITMQ_CONF_ENV_FILE="$base/rabbitmq-env.conf"
  : >"$RABBITMQ_CONF_ENV_FILE"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$base/advanced.config"
  # Erlang distribution (node-to-node and CLI) on loopback only.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# stop_rabbitmq: SIGTERM to the VM (its pid written by RabbitMQ itself) is RabbitMQ's clean
# shutdown; the wrapper script then exits on its own. epmd is left running.
stop_rabbitmq() {
  local vm
  vm=$(cat "$RUN/rabbitmq-beam.pid" 2>/dev/null || true)
  if [[ -n $vm ]] && is_ours "$vm" rabbitmq; then
    stop_pids 60 "$vm"
  fi
  stop_service rabbitmq 30
  rm -f "$RUN/rabbitmq-beam.pid"
}

#!/usr/bin/env bash
# Brings the platform up on the local Ray head (services, Ray and receivers are started by the
# Makefile before this runs): demo data, the pipeline actors and the API server actors, each as a
# `ray job submit` job so they show in the Ray dashboard. Returns once everything answers.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${VENV:-.venv}
STATE=$ROOT/.local
mkdir -p "$STATE/logs"
export RAY_ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}

# The control-plane admin key: the caller's, or one generated once and kept under .local/.
if [[ -z "${EDP_ADMIN_KEY:-}" ]]; then
  if [[ ! -s "$STATE/admin-key" ]]; then
    (umask 077; "$VENV/bin/python" -c 'import secrets; print("edp_admin_" + secrets.token_urlsafe(32))' >"$STATE/admin-key")
    ADMIN_NOTE="generated, stored in $STATE/admin-key"
  else
    ADMIN_NOTE="from $STATE/admin-key"
  fi
  EDP_ADMIN_KEY=$(cat "$STATE/admin-key")
else
  ADMIN_NOTE="from EDP_ADMIN_KEY"
fi
export EDP_ADMIN_KEY
# The key that seals webhook secrets at rest: the caller's EDP_SECRETS_KEY, or a key file made
# once under .local/ (one key per line, the first current; `python -m jobs.secrets rotate`
# rotates it while the platform runs, every process re-reading the file).
if [[ -z "${EDP_SECRETS_KEY:-}" ]]; then
  if [[ ! -s "$STATE/secrets-key" ]]; then
    (umask 077; "$VENV/bin/python" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' >"$STATE/secrets-key")
  fi
  export EDP_SECRETS_KEY_FILE=${EDP_SECRETS_KEY_FILE:-$STATE/secrets-key}
fi
# The local profile: the SSRF guard lets deliveries reach our own receivers on loopback, nothing else.
export EDP_DELIVERY_SSRF_ALLOWLIST=${EDP_DELIVERY_SSRF_ALLOWLIST:-'["127.0.0.1/32"]'}

runtime_env() {
  "$VENV/bin/python" - <<'PY'
import json, os
env = {k: v for k, v in os.environ.items() if k.startswith("EDP_")}
print(json.dumps({"env_vars": env, "excludes": [".local", ".venv", ".git", "bench/results", "*.pyc"]}))
PY
}
RUNTIME_ENV=$(runtime_env)

submit() {  # submit JOB_NAME ARGS... : waits for the job, keeps its log under .local/logs
  local name=$1; shift
  local log="$STATE/logs/job-$name.log"
  if ! "$VENV/bin/ray" job submit --working-dir . --runtime-env-json "$RUNTIME_ENV" \
      -- python -m "jobs.$name" "$@" >"$log" 2>&1; then
    echo "run: job $name failed; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
}

echo "run: seeding demo data (orgs helpdev and github, webhooks to the receivers)"
submit seed --keys-out "$STATE/demo-keys.json"
echo "run: starting the pipeline (rule cache, partition filters, delivery pool)"
submit pipeline
echo "run: starting the API servers on 127.0.0.1:8000"
submit api

for _ in $(seq 1 60); do
  curl -fsS -o /dev/null http://127.0.0.1:8000/healthz && break
  sleep 0.5
done
curl -fsS -o /dev/null http://127.0.0.1:8000/healthz || { echo "run: the API does not answer on 127.0.0.1:8000" >&2; exit 1; }

KEY=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["helpdev"])' "$STATE/demo-keys.json")
# A portal link for the demo org: single use and short-lived, so a fresh one each run.
PORTAL=$("$VENV/bin/python" -m jobs.edpctl --url http://127.0.0.1:8000 --key "$KEY" --field url portal 2>&1) ||
  PORTAL="(no link: $PORTAL)"
cat <<MSG

The platform is up.
  Ingest + management API   http://127.0.0.1:8000        (OpenAPI: /docs, /openapi.json)
  Ray dashboard             http://127.0.0.1:8265        (jobs, actors, logs)
  Prometheus                http://127.0.0.1:9090
  RabbitMQ management       http://127.0.0.1:15672       (user edp / edp)
  Sample receivers          http://127.0.0.1:8080-8082   (EVENT_A, EVENT_B, EVENT_C)
  Admin key                 $ADMIN_NOTE
  Demo org keys             $STATE/demo-keys.json
  Customer portal (helpdev) $PORTAL
                            (opens once, within 15 min; another: EDP_API_KEY=... $VENV/bin/python -m jobs.edpctl portal)

Send an event:
  curl -sS -X POST http://127.0.0.1:8000/v1/events -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' -d '{"type": "EVENT_A", "data": {"hello": "world"}}'
Watch it arrive at the EVENT_A receiver:
  curl -sS http://127.0.0.1:8080/_control/stats
  curl -sS 'http://127.0.0.1:8080/_control/deliveries?limit=5'
Logs: make logs (and the Ray dashboard); stop with: make down
MSG

#!/usr/bin/env bash
# Start the action server, the web chat demo and the Rasa server (or `rasa shell`);
# Ctrl-C stops everything this script started. (Background jobs of a script ignore
# SIGINT, so the cleanup sends SIGTERM to each one.)
# Usage: scripts/serve.sh run|shell MODEL_PATH
set -euo pipefail
mode=${1:?run or shell}
model=${2:?model path}
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false
export SANIC_HOST=${SANIC_HOST:-127.0.0.1}
# The Rasa server proves itself to the action server with a shared token: one
# per start unless the operator set it (README, "Deploying").
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')
fi
export ACTION_SERVER_TOKEN
export ACTION_SERVER_URL=${ACTION_SERVER_URL:-http://127.0.0.1:5055/webhook}
mkdir -p var/log

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

.venv/bin/python -m actions.server --port 5055 >var/log/actions.log 2>&1 &
pids+=($!)
# Bounded wait for the action server (it loads the knowledge base first).
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:5055/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "action server failed to start:" >&2; tail -n 5 var/log/actions.log >&2; exit 1
  fi
  sleep 0.5
done
echo "action server on 127.0.0.1:5055 (log: var/log/actions.log)"

if [ "$mode" = shell ]; then
  .venv/bin/python -m rasa_server shell --model "$model" --endpoints endpoints.yml
else
  .venv/bin/python web/serve.py --host 127.0.0.1 --port "${WEB_PORT:-8080}" \
    --socket-url "http://localhost:${RASA_PORT:-5005}" >var/log/web.log 2>&1 &
  pids+=($!)
  echo "web chat demo on http://localhost:${WEB_PORT:-8080}/ (log: var/log/web.log)"
  echo "Rasa server starting on :${RASA_PORT:-5005} (REST and socket.io); Ctrl-C stops everything"
  .venv/bin/python -m rasa_server run --model "$model" --port "${RASA_PORT:-5005}" \
    --interface "${RASA_INTERFACE:-127.0.0.1}" \
    --endpoints endpoints.yml --credentials credentials.yml &
  rasa_pid=$!
  pids+=("$rasa_pid")
  wait "$rasa_pid"
fi

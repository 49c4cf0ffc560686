#!/usr/bin/env bash
# Start the action server, the web chat demo and the Rasa server (run), or an action
# server and `rasa shell` (shell); Ctrl-C stops everything this script started.
# (Background jobs of a script ignore SIGINT, so the cleanup sends SIGTERM to each one.)
# Usage: scripts/serve.sh run|shell MODEL_PATH
#
# run   uses fixed ports: ACTION_PORT (5055), RASA_PORT (5005), WEB_PORT (8080), and
#       refuses to start when one is taken (another `make run`?).
# shell runs next to anything, `make run` included: its action server and rasa shell's
#       own server take free loopback ports, and it logs to files of its own.
# Logs go to LOG_DIR (var/log): run truncates actions.log and web.log on each start
# (once its ports are known to be free); shell appends to shell-actions.log and
# shell.log (rasa shell's log lines, which also show in the terminal).
set -euo pipefail
# Conversations and logs hold health data: what this script's processes create is the
# user's alone (the tracker store also creates its database 0600 in a 0700 folder).
umask 077
mode=${1:?run or shell}
model=${2:?model path}
case "$mode" in
  run | shell) ;;
  *) echo "serve.sh: unknown mode '$mode' (run or shell)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
py=.venv/bin/python
export RASA_TELEMETRY_ENABLED=false
export SANIC_HOST=${SANIC_HOST:-127.0.0.1}
log_dir=${LOG_DIR:-var/log}

die() {
  echo "serve.sh: $*" >&2
  exit 1
}

# A free TCP port on loopback (the kernel picks it).
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Succeeds when a server could listen on HOST:PORT now; otherwise prints why not.
# (SO_REUSEADDR as servers set it: a port only in TIME_WAIT counts as free.)
port_available() {
  "$py" -c '
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
except OSError as e:
    print("already in use" if e.errno == errno.EADDRINUSE else e.strerror or e)
    sys.exit(1)' "$1" "$2"
}

# Succeeds when process PID itself listens on TCP port PORT: the server answering on
# the port is the one this script started, not another one found there.
listens_on() {
  if [ ! -r /proc/net/tcp ]; then
    lsof -nP -a -p "$1" -iTCP:"$2" -sTCP:LISTEN >/dev/null 2>&1
    return
  fi
  "$py" -c '
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
sockets = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        sockets.add(target[len("socket:["):-1])
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        continue
    for row in rows:  # local address, state (0A: LISTEN), inode
        if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port and row[9] in sockets:
            sys.exit(0)
sys.exit(1)' "$1" "$2" 2>/dev/null
}

# Refuse (one line, exit 1) when HOST:PORT cannot be listened on.
require_port() {
  local host=$1 port=$2 what=$3 why
  if ! why=$(port_available "$host" "$port"); then
    if [ "$why" = "already in use" ]; then
      die "port $port ($what) on $host is already in use: is another \`make run\` running? Stop it, or choose another port with $4=... (\`make shell\` runs next to it)"
    fi
    die "cannot listen on $host:$port ($what): $why"
  fi
}

# The last non-empty line of LOG written since byte OFFSET (this start's own lines).
last_line_since() {
  tail -c "+$(($2 + 1))" "$1" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 1 || true
}

size_of() {
  if [ -f "$1" ]; then wc -c <"$1" | tr -d ' '; else echo 0; fi
}

[ -e "$model" ] || die "no model at $model: train one first (make train)"
mkdir -p "$log_dir"

if [ "$mode" = shell ]; then
  action_port=$(free_port)
  rasa_port=$(free_port)
  actions_log=$log_dir/shell-actions.log
else
  action_port=${ACTION_PORT:-5055}
  rasa_port=${RASA_PORT:-5005}
  web_port=${WEB_PORT:-8080}
  actions_log=$log_dir/actions.log
  # Before any log is opened: a refused start must leave the running server's logs alone.
  require_port "$SANIC_HOST" "$action_port" "action server" ACTION_PORT
  require_port "${RASA_INTERFACE:-127.0.0.1}" "$rasa_port" "Rasa server" RASA_PORT
  require_port 127.0.0.1 "$web_port" "web chat demo" WEB_PORT
fi

# The Rasa server proves itself to the action server with a shared token: one
# per start unless the operator set it (docs/deploying.md).
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN=$("$py" -c 'import secrets; print(secrets.token_urlsafe(32))')
fi
export ACTION_SERVER_TOKEN
if [ "$mode" = shell ]; then
  # Always its own action server: an ACTION_SERVER_URL exported for `make run` (or a
  # deployment) must not send the shell's calls elsewhere.
  export ACTION_SERVER_URL=http://127.0.0.1:$action_port/webhook
else
  export ACTION_SERVER_URL=${ACTION_SERVER_URL:-http://127.0.0.1:$action_port/webhook}
fi

pids=()
cleanup() {
  trap - INT TERM HUP EXIT
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

if [ "$mode" = shell ]; then
  actions_offset=$(size_of "$actions_log")
  echo "--- serve.sh shell (pid $$), action server on 127.0.0.1:$action_port, $(date '+%F %T')" >>"$actions_log"
  "$py" -m actions.server --port "$action_port" >>"$actions_log" 2>&1 &
else
  actions_offset=0
  "$py" -m actions.server --port "$action_port" >"$actions_log" 2>&1 &
fi
actions_pid=$!
pids+=("$actions_pid")
# Bounded wait for the action server (it loads the knowledge base first). Whatever
# answers /health must be the process started here, listening on its own port.
started=
for _ in $(seq 1 120); do
  if ! kill -0 "$actions_pid" 2>/dev/null; then
    die "action server did not start: $(last_line_since "$actions_log" "$actions_offset") (log: $actions_log)"
  fi
  if curl -fs --max-time 2 "http://127.0.0.1:$action_port/health" >/dev/null 2>&1 &&
    listens_on "$actions_pid" "$action_port"; then
    started=1
    break
  fi
  sleep 0.5
done
[ -n "$started" ] || die "action server did not answer on 127.0.0.1:$action_port within 60 s (log: $actions_log)"
echo "action server on 127.0.0.1:$action_port (log: $actions_log)"

if [ "$mode" = shell ]; then
  shell_log=$log_dir/shell.log
  shell_offset=$(size_of "$shell_log")
  echo "--- serve.sh shell (pid $$), rasa shell on 127.0.0.1:$rasa_port, $(date '+%F %T')" >>"$shell_log"
  # rasa shell's log lines (stderr) go to the terminal and to shell.log; its chat
  # stays on the terminal (stdout, through fd 3). tee -i: Ctrl-C is for rasa shell.
  exec 3>&1
  set +e
  "$py" -m rasa_server shell --model "$model" --endpoints endpoints.yml \
    --port "$rasa_port" --interface 127.0.0.1 2>&1 >&3 3>&- | tee -i -a "$shell_log" >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    die "rasa shell failed (exit $status): $(last_line_since "$shell_log" "$shell_offset") (log: $shell_log)"
  fi
  # Sanic logs a failed start (a port taken meanwhile, say) and returns: exit 0.
  if tail -c "+$((shell_offset + 1))" "$shell_log" | grep -q "Unable to start server"; then
    die "rasa shell failed: its server could not start on 127.0.0.1:$rasa_port: $(last_line_since "$shell_log" "$shell_offset") (log: $shell_log)"
  fi
else
  "$py" web/serve.py --host 127.0.0.1 --port "$web_port" \
    --socket-url "http://localhost:$rasa_port" >"$log_dir/web.log" 2>&1 &
  pids+=("$!")
  echo "web chat demo on http://localhost:$web_port/ (log: $log_dir/web.log)"
  echo "Rasa server starting on :$rasa_port (REST and socket.io); Ctrl-C stops everything"
  "$py" -m rasa_server run --model "$model" --port "$rasa_port" \
    --interface "${RASA_INTERFACE:-127.0.0.1}" \
    --endpoints endpoints.yml --credentials credentials.yml &
  rasa_pid=$!
  pids+=("$rasa_pid")
  status=0
  wait "$rasa_pid" || status=$?
  [ "$status" -eq 0 ] || die "Rasa server exited with status $status"
fi

#!/usr/bin/env bash
# A real Synapse on loopback for the homeserver tests, installed in this checkout only.
#   scripts/synapse.sh start    install (first time: `pip install matrix-synapse` into
#                               .synapse/venv, about a minute; needs python3 with venv),
#                               configure, start (a few seconds); writes .synapse/env
#                               (MKB_HOMESERVER=http://127.0.0.1:PORT)
#   scripts/synapse.sh stop
#   scripts/synapse.sh register USER PASSWORD
#                               register a user with the shared secret (idempotent)
# The configuration (.synapse/data/homeserver.yaml) is the one Synapse generates (SQLite, a
# registration shared secret), changed to: listen on 127.0.0.1 only, on MKB_SYNAPSE_PORT or
# a free port; no trusted key servers and no federation (there may be no outside network);
# rate limits for messages, logins, registration, joins and key requests raised to
# 1000/s so bulk uploads and many logins pass; open registration; 200M uploads.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.synapse
# The port: MKB_SYNAPSE_PORT, else the one of the server already running here, else a
# port the operating system says is free (so two checkouts never share a server).
running_pid() {
  [ -f "$DIR/data/homeserver.pid" ] && kill -0 "$(cat "$DIR/data/homeserver.pid")" 2>/dev/null \
    && cat "$DIR/data/homeserver.pid"
}
free_port() {
  python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}
port_busy() {
  python3 -c "import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))) != 0)" "$1"
}
if [ -n "${MKB_SYNAPSE_PORT:-}" ]; then
  PORT=$MKB_SYNAPSE_PORT
elif running_pid >/dev/null && [ -f "$DIR/env" ]; then
  PORT=$(sed -n 's|^MKB_HOMESERVER=http://127.0.0.1:||p' "$DIR/env")
else
  PORT=$(free_port)
fi
URL="http://127.0.0.1:$PORT"

# Does the server answer? (python3 is there anyway: Synapse needs it; curl may not be.)
up() {
  python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$URL/_matrix/client/versions" >/dev/null 2>&1
}

start() {
  mkdir -p "$DIR"
  if [ ! -x "$DIR/venv/bin/python" ] || ! "$DIR/venv/bin/python" -c "import synapse" 2>/dev/null; then
    echo "synapse.sh: installing matrix-synapse into $DIR/venv (about a minute)" >&2
    python3 -m venv "$DIR/venv"
    "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check matrix-synapse >&2
  fi
  if [ ! -f "$DIR/data/homeserver.yaml" ]; then
    mkdir -p "$DIR/data"
    (cd "$DIR/data" && ../venv/bin/python -m synapse.app.homeserver --server-name localhost \
      --config-path homeserver.yaml --generate-config --report-stats=no -H localhost >/dev/null)
    "$DIR/venv/bin/python" - "$DIR/data/homeserver.yaml" "$PORT" <<'PY'
import sys, yaml
path, port = sys.argv[1], int(sys.argv[2])
c = yaml.safe_load(open(path))
c["listeners"] = [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                   "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}]
c["trusted_key_servers"] = []
c["suppress_key_server_warning"] = True
fast = {"per_second": 1000, "burst_count": 1000}
c["rc_key_requests"] = fast
c["rc_message"] = fast
c["rc_registration"] = fast
c["rc_login"] = {"address": fast, "account": fast, "failed_attempts": fast}
c["rc_joins"] = {"local": fast, "remote": fast}
c["max_upload_size"] = "200M"
c["federation_domain_whitelist"] = []
c["enable_registration"] = True
c["enable_registration_without_verification"] = True
yaml.safe_dump(c, open(path, "w"))
PY
  fi
  if running_pid >/dev/null; then
    if [ "$(cat "$DIR/env" 2>/dev/null)" != "MKB_HOMESERVER=$URL" ]; then
      echo "synapse.sh: this checkout's Synapse already runs ($(cat "$DIR/env" 2>/dev/null)); stop it first" >&2
      exit 1
    fi
    echo "synapse.sh: already running at $URL" >&2
  else
    if port_busy "$PORT"; then
      echo "synapse.sh: port $PORT is already taken by another program; set MKB_SYNAPSE_PORT to a free one" >&2
      exit 1
    fi
    # The listener follows the port chosen for this start.
    "$DIR/venv/bin/python" - "$DIR/data/homeserver.yaml" "$PORT" <<'PY'
import sys, yaml
path, port = sys.argv[1], int(sys.argv[2])
c = yaml.safe_load(open(path))
c["listeners"][0]["port"] = port
yaml.safe_dump(c, open(path, "w"))
PY
    (cd "$DIR/data" && ../venv/bin/python -m synapse.app.homeserver -c homeserver.yaml --daemonize >/dev/null 2>&1)
  fi
  for _ in $(seq 1 120); do
    if up; then break; fi
    sleep 0.5
  done
  up || { echo "synapse.sh: Synapse did not start" >&2; tail -50 "$DIR/data/homeserver.log" >&2 || true; exit 1; }
  # The server answering must be ours, not another one on the same port.
  running_pid >/dev/null || { echo "synapse.sh: something answers at $URL, but our Synapse is not running" >&2; exit 1; }
  echo "MKB_HOMESERVER=$URL" > "$DIR/env"
  echo "synapse.sh: Synapse is up at $URL" >&2
}

stop() {
  if [ -f "$DIR/data/homeserver.pid" ]; then
    pid=$(cat "$DIR/data/homeserver.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$DIR/data/homeserver.pid"
  fi
}

# Registers a user with the shared secret (idempotent); prints nothing.
register() {
  "$DIR/venv/bin/register_new_matrix_user" -c "$DIR/data/homeserver.yaml" -u "$1" -p "$2" --no-admin "$URL" >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  register) register "$2" "$3" ;;
  *) echo "usage: $0 start|stop|register USER PASSWORD" >&2; exit 2 ;;
esac

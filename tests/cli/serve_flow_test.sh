#!/usr/bin/env bash
# `blindml serve` and its clients as separate processes, as users deploy them (docs/server.md):
#   - two server processes share one Redis key store (a real redis-server on a loopback port):
#     keys uploaded to one serve computations on the other; the Python urllib example
#     (examples/python_client.py) speaks the wire protocol; answers equal `predict --mode clear`;
#   - SIGTERM stops a server cleanly, and the other replica keeps serving the uid;
#   - a restarted server on the file-system store still serves a uid stored before the restart;
#   - kill -9 of a server during an upload, then a restart: no temporary file is left (one of a
#     dead writer is removed), the stored keys are intact;
#   - HTTPS with a self-signed certificate: `blindml client --ca-cert` works, without it it fails;
#   - bad serve options are one clear line.
#
# usage: serve_flow_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BIN_DIR SOURCE_DIR" >&2
  exit 2
fi
BLINDML="$(cd "$1" && pwd)/blindml"
SRC=$(cd "$2" && pwd)
DATA="$SRC/tests/data"
PYTHON=/usr/bin/python3
REDIS=/usr/bin/redis-server
[[ -x "$BLINDML" ]] || { echo "FAIL: no executable $BLINDML" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blindml-serve-test.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
THREADS=${BLINDML_TEST_THREADS:-2}

fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done
  exit 1
}
blindml() {
  "$BLINDML" "$@"
}

# start_server NAME ARGS...: starts `blindml serve ARGS --port 0` in the background and sets
# URL to the address it prints ("serving ... on http://127.0.0.1:PORT ...") and PID to its pid.
start_server() {
  local name=$1
  shift
  local log="$WORK/$name.log"
  "$BLINDML" serve "$@" --port 0 --threads "$THREADS" 2>"$log" &  # not through blindml(): $! is the server
  PID=$!
  pids+=("$PID")
  URL=
  for _ in $(seq 1 300); do
    URL=$(grep -oE 'on https?://[0-9.]+:[0-9]+' "$log" | head -n 1 | cut -c4-) || true
    [[ -n $URL ]] && return 0
    kill -0 "$PID" 2>/dev/null || fail "$name: blindml serve exited: $(cat "$log")"
    sleep 0.1
  done
  fail "$name: blindml serve did not start"
}

# stop_server PID NAME: SIGTERM, then the process must exit 0 and say it stopped.
stop_server() {
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [[ $rc -eq 0 ]] || fail "$2: exit status $rc after SIGTERM"
  grep -q "stopped" "$WORK/$2.log" || fail "$2: no clean stop in its log"
}

# The model: a decision tree (bootstrapping keys of a few megabytes), and five test rows.
M="$WORK/model"
head -n 6 "$DATA/breast_cancer/test.csv" >"$WORK/rows.csv"
blindml -q compile "$DATA/models/decision_tree_breast_cancer.onnx" --calibration "$DATA/breast_cancer/train.csv" \
  --out "$M" >/dev/null
blindml -q predict "$M" --mode clear --input "$WORK/rows.csv" --out "$WORK/clear.csv"

echo "== two replicas sharing one Redis store"
if [[ -x $REDIS ]]; then
  port=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$REDIS" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  pids+=("$REDIS_PID")
  for _ in $(seq 1 100); do
    $PYTHON -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
    sleep 0.1
  done
  start_server a "$M/server.zip" --client "$M/client.zip" --redis "redis://127.0.0.1:$port"
  A_URL=$URL A_PID=$PID
  start_server b "$M/server.zip" --client "$M/client.zip" --redis "redis://127.0.0.1:$port/0"
  B_URL=$URL B_PID=$PID
  cd "$WORK"
  # The Python example against replica A: fetch client.zip, upload the keys.
  $PYTHON "$SRC/examples/python_client.py" --url "$A_URL" get-client --out "$WORK/fetched.zip" >/dev/null
  cmp -s "$WORK/fetched.zip" "$M/client.zip" || fail "GET /get_client differs from client.zip"
  blindml -q keygen "$WORK/fetched.zip" --out "$WORK/keys" --threads "$THREADS"
  $PYTHON "$SRC/examples/python_client.py" --url "$A_URL" add-key "$WORK/keys/evaluation.keys" \
    --uid-file "$WORK/uid.txt" >/dev/null
  grep -qE '^[0-9a-f]{32}$' "$WORK/uid.txt" || fail "add-key saved no uid: $(cat "$WORK/uid.txt")"
  # ... and computations on replica B, which never saw the upload.
  blindml -q encrypt "$WORK/fetched.zip" --keys "$WORK/keys" --input "$WORK/rows.csv" --out "$WORK/input.ct"
  $PYTHON "$SRC/examples/python_client.py" --url "$B_URL" compute "$WORK/input.ct" --uid-file "$WORK/uid.txt" \
    --out "$WORK/output_b.ct" >/dev/null
  blindml -q decrypt "$WORK/fetched.zip" --keys "$WORK/keys" --input "$WORK/output_b.ct" --out "$WORK/fhe_b.csv"
  diff "$WORK/clear.csv" "$WORK/fhe_b.csv" || fail "replica B's answers differ from predict --mode clear"
  echo "  keys uploaded to $A_URL, answers from $B_URL equal the clear model"
  # Replica A stops cleanly; B still serves the uid.
  stop_server "$A_PID" a
  $PYTHON "$SRC/examples/python_client.py" --url "$B_URL" compute "$WORK/input.ct" --uid-file "$WORK/uid.txt" \
    --out "$WORK/output_b2.ct" >/dev/null
  blindml -q decrypt "$WORK/fetched.zip" --keys "$WORK/keys" --input "$WORK/output_b2.ct" --out "$WORK/fhe_b2.csv"
  diff "$WORK/clear.csv" "$WORK/fhe_b2.csv" || fail "replica B after A stopped"
  # An unknown uid is an HTTP 404 that the Python client reports.
  if $PYTHON "$SRC/examples/python_client.py" --url "$B_URL" compute "$WORK/input.ct" \
    --uid 0123456789abcdef0123456789abcdef --out "$WORK/x.ct" 2>"$WORK/py.err"; then
    fail "an unknown uid was served"
  fi
  grep -q "HTTP 404" "$WORK/py.err" || fail "unknown uid: $(cat "$WORK/py.err")"
  stop_server "$B_PID" b
  echo "  replica A stopped on SIGTERM; B kept serving the uid; unknown uid -> 404"
else
  echo "  SKIPPED: $REDIS is absent (Debian package redis-server)"
fi

echo "== file-system store: a uid survives a restart"
start_server fs1 "$M/server.zip" --keys "$WORK/store"
blindml -q client "$URL" --client "$M/client.zip" --keys "$WORK/ckeys" --input "$WORK/rows.csv" \
  --out "$WORK/fhe_1.csv" --threads "$THREADS"
diff "$WORK/clear.csv" "$WORK/fhe_1.csv" || fail "blindml client's answers differ from predict --mode clear"
stop_server "$PID" fs1
[[ $(stat -c %a "$WORK/store") == 700 ]] || fail "the key store has mode $(stat -c %a "$WORK/store")"
uid=$(cut -d' ' -f2 "$WORK/ckeys/server.uid")
start_server fs2 "$M/server.zip" --keys "$WORK/store"
blindml -q encrypt "$M/client.zip" --keys "$WORK/ckeys" --input "$WORK/rows.csv" --out "$WORK/input2.ct"
$PYTHON "$SRC/examples/python_client.py" --url "$URL" compute "$WORK/input2.ct" --uid "$uid" \
  --out "$WORK/output2.ct" >/dev/null
blindml -q decrypt "$M/client.zip" --keys "$WORK/ckeys" --input "$WORK/output2.ct" --out "$WORK/fhe_2.csv"
diff "$WORK/clear.csv" "$WORK/fhe_2.csv" || fail "after the restart"
stop_server "$PID" fs2
echo "  uid $uid stored before the restart is served after it"

echo "== kill -9 during an upload, then a restart"
start_server fs3 "$M/server.zip" --keys "$WORK/store"
# An upload in progress (headers and half its body) when the server is killed.
$PYTHON - "${URL##*:}" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /add_key HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: 1000000\r\n\r\n" + b"k" * 500000)
time.sleep(20)
PY
slow=$!
pids+=("$slow")
sleep 0.5
# And what a writer killed in the middle of writing a key leaves: a temporary file named after
# its (now dead) pid.
true & dead=$!
wait "$dead"
head -c 1000 /dev/zero >"$WORK/store/.tmp-$uid-$dead-0"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
kill "$slow" 2>/dev/null || true
start_server fs4 "$M/server.zip" --keys "$WORK/store"
if ls -A "$WORK/store" | grep -q '^\.tmp-'; then fail "temporary files are left after the restart: $(ls -A "$WORK/store")"; fi
$PYTHON "$SRC/examples/python_client.py" --url "$URL" compute "$WORK/input2.ct" --uid "$uid" \
  --out "$WORK/output3.ct" >/dev/null
blindml -q decrypt "$M/client.zip" --keys "$WORK/ckeys" --input "$WORK/output3.ct" --out "$WORK/fhe_3.csv"
diff "$WORK/clear.csv" "$WORK/fhe_3.csv" || fail "after kill -9 and a restart"
stop_server "$PID" fs4
echo "  no temporary file is left, and uid $uid is still served"

echo "== HTTPS"
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || fail "openssl req"
  start_server tls "$M/server.zip" --client "$M/client.zip" --keys "$WORK/tls-store" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
  [[ $URL == https://* ]] || fail "the TLS server printed $URL"
  blindml -q client "$URL" --ca-cert "$WORK/cert.pem" --keys "$WORK/ckeys" --input "$WORK/rows.csv" \
    --out "$WORK/fhe_tls.csv"
  diff "$WORK/clear.csv" "$WORK/fhe_tls.csv" || fail "over HTTPS"
  if blindml -q client "$URL" --keys "$WORK/ckeys" --input "$WORK/rows.csv" --out "$WORK/x.csv" 2>"$WORK/tls.err"; then
    fail "a client that does not trust the self-signed certificate was served"
  fi
  [[ $(wc -l <"$WORK/tls.err") -eq 1 ]] || fail "expected one error line: $(cat "$WORK/tls.err")"
  stop_server "$PID" tls
  echo "  HTTPS with --ca-cert equals the clear model; without it: $(cat "$WORK/tls.err")"
else
  echo "  SKIPPED: no openssl command (Debian package openssl)"
fi

echo "== bad options"
expect_line() {
  local pattern=$1
  shift
  local rc=0
  "$@" >/dev/null 2>"$WORK/err" || rc=$?
  [[ $rc -ne 0 ]] || fail "succeeded: $*"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "expected one line on stderr from: $* (got: $(cat "$WORK/err"))"
  grep -qiE -- "$pattern" "$WORK/err" || fail "the error for: $* does not match /$pattern/: $(cat "$WORK/err")"
  echo "  $(cat "$WORK/err")"
}
expect_line "keys.*redis|alternatives" blindml serve "$M/server.zip" --keys "$WORK/s" --redis redis://127.0.0.1:1
expect_line "tls" blindml serve "$M/server.zip" --tls-cert "$WORK/cert.pem"
expect_line "cannot connect to Redis at redis://127.0.0.1:1" blindml serve "$M/server.zip" --redis redis://127.0.0.1:1
expect_line "not a Redis URL" blindml serve "$M/server.zip" --redis http://x
expect_line "PEM|cannot read" blindml serve "$M/server.zip" --tls-cert "$WORK/rows.csv" --tls-key "$WORK/rows.csv"
echo "serve_flow: all checks passed"

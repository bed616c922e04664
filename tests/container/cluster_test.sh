#!/usr/bin/env bash
# The replicated cluster (deploy/compose/docker-compose.yml, scripts/deploy-cluster): two blindml
# replicas sharing one Redis (append-only file) behind nginx, all on 127.0.0.1, real containers.
#   - keys uploaded once through the balancer serve computations on every replica: each
#     replica's /metrics counts /compute 200s, the two /add_key counters sum to 1; every answer,
#     decrypted, equals `predict --mode clear`;
#   - a replica killed (SIGKILL) while requests run: every request still succeeds (nginx sends
#     a failed one to the other replica);
#   - Redis restarted, then the surviving replica restarted (its key cache gone): the uid still
#     serves, so the keys came back from Redis's append-only file.
# Prints the requests each replica served. usage: cluster_test.sh BIN_DIR SOURCE_DIR (77: skipped)
set -euo pipefail
TEST=container_cluster
BIN=$(cd "$1" && pwd)/blindml
SRC=$(cd "$2" && pwd)
source "$SRC/tests/container/common.sh"
DATA=$SRC/tests/data
PY=/usr/bin/python3
PYCLIENT=$SRC/examples/python_client.py
base=${BLINDML_TEST_PORT:-18450}
export BLINDML_LB_PORT=$base BLINDML_REPLICA1_PORT=$((base + 1)) BLINDML_REPLICA2_PORT=$((base + 2)) BLINDML_REDIS_PORT=$((base + 3))
PROJECT=blindml-test-cluster-$$
command -v docker-compose >/dev/null 2>&1 || skip "docker-compose is not installed (Debian package docker-compose)"
need_docker

version=$(sed -n 's/^project(blindml VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
for img in "blindml/blindml:$version-host" blindml/cluster-redis:bookworm blindml/cluster-nginx:bookworm; do
  docker image inspect "$img" >/dev/null 2>&1 || cleanups+=("docker image rm $img")
done
cleanups+=("'$SRC/scripts/deploy-cluster' down --project $PROJECT")
export BLINDML_MODEL_DIR=$WORK/model
compose=(docker-compose -p "$PROJECT" -f "$SRC/deploy/compose/docker-compose.yml")
lb=http://127.0.0.1:$BLINDML_LB_PORT r1=http://127.0.0.1:$BLINDML_REPLICA1_PORT r2=http://127.0.0.1:$BLINDML_REPLICA2_PORT

note "compile a decision tree; the clear answers"
head -n 4 "$DATA/breast_cancer/test.csv" > "$WORK/rows.csv"
"$BIN" -q compile "$DATA/models/decision_tree_breast_cancer.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$WORK/model" >/dev/null
"$BIN" -q predict "$WORK/model" --mode clear --input "$WORK/rows.csv" --out "$WORK/clear.csv"

note "scripts/deploy-cluster up"
start=$(date +%s%N)
url=$("$SRC/scripts/deploy-cluster" up "$WORK/model" --binary "$BIN" --project "$PROJECT" 2>"$WORK/up.log" | tail -n 1) ||
  { cat "$WORK/up.log" >&2; fail "deploy-cluster up failed"; }
echo "   up and ready in $(( ($(date +%s%N) - start) / 1000000 )) ms (image builds included)"
[[ $url == "$lb" ]] || fail "deploy-cluster printed '$url', expected $lb"
for r in "$r1" "$r2"; do
  for _ in $(seq 1 100); do [[ $(http_status "$r/ready") == 200 ]] && break; sleep 0.2; done
  [[ $(http_status "$r/ready") == 200 ]] || fail "replica $r is not ready"
done

note "keys uploaded once through the balancer"
cd "$WORK"
"$PY" "$PYCLIENT" --url "$lb" get-client --out client.zip >/dev/null
"$BIN" -q keygen client.zip --out keys
"$PY" "$PYCLIENT" --url "$lb" add-key keys/evaluation.keys >/dev/null
"$BIN" -q encrypt client.zip --keys keys --input rows.csv --out input.ct
compute_through_lb() {  # compute_through_lb N: N computations through the balancer, each decrypted and compared
  local i
  for i in $(seq 1 "$1"); do
    "$PY" "$PYCLIENT" --url "$lb" compute input.ct --out "out-$i.ct" >/dev/null || return 1
    "$BIN" -q decrypt client.zip --keys keys --input "out-$i.ct" --out "fhe-$i.csv" || return 1
    cmp -s "fhe-$i.csv" clear.csv || { echo "answer $i differs from predict --mode clear" >&2; return 1; }
  done
}
compute_through_lb 6 || fail "computations through the balancer"
c1=$(metric "$r1" 'blindml_http_requests_total{route="/compute",code="200"}')
c2=$(metric "$r2" 'blindml_http_requests_total{route="/compute",code="200"}')
k1=$(metric "$r1" 'blindml_http_requests_total{route="/add_key",code="200"}')
k2=$(metric "$r2" 'blindml_http_requests_total{route="/add_key",code="200"}')
echo "   6 computations: replica 1 served $c1, replica 2 served $c2; add_key: $k1 + $k2"
[[ $((k1 + k2)) == 1 ]] || fail "the keys were uploaded $((k1 + k2)) times, expected once"
[[ $c1 -ge 1 && $c2 -ge 1 && $((c1 + c2)) == 6 ]] || fail "computations per replica: $c1 and $c2 (each must serve, 6 in all)"

note "replica 2 killed while requests run"
compute_through_lb 8 > "$WORK/during.log" 2>&1 &
traffic=$!
sleep 1
"${compose[@]}" kill -s SIGKILL blindml-2 >/dev/null 2>&1
rc=0; wait "$traffic" || rc=$?
[[ $rc == 0 ]] || { cat "$WORK/during.log" >&2; fail "a request failed after replica 2 was killed"; }
c1b=$(metric "$r1" 'blindml_http_requests_total{route="/compute",code="200"}')
[[ $(http_status "$r2/health") == 000 ]] || fail "replica 2 still answers after SIGKILL"
echo "   8 computations during and after the kill: all answered and equal to the clear model;" \
     "replica 1 served $((c1b - c1)) of them, replica 2 the rest before it died"

note "Redis restarted, then replica 1 restarted (cold key cache): the uid still serves"
"${compose[@]}" restart -t 10 redis >/dev/null 2>&1
"${compose[@]}" restart -t 60 blindml-1 >/dev/null 2>&1
for _ in $(seq 1 150); do [[ $(http_status "$r1/ready") == 200 ]] && break; sleep 0.2; done
[[ $(http_status "$r1/ready") == 200 ]] || fail "replica 1 not ready after the restarts"
[[ $(metric "$r1" blindml_key_store_keys) == 1 ]] || fail "Redis lost the keys across its restart"
compute_through_lb 2 || fail "computations after the Redis restart"
[[ $(metric "$r1" 'blindml_key_cache_misses_total') -ge 1 ]] || fail "replica 1 did not load the keys from Redis"
echo "PASS $TEST (per replica: $c1 / $c2 of 6; kill: 8/8 answered)"

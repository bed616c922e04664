#!/usr/bin/env bash
# The server image and scripts/deploy-docker (docs/deploy.md), against a real Docker daemon:
#   - the image from a binary built on this host (deploy/docker/Dockerfile.host) on the Debian 12
#     base built from Debian's packages; its labels carry the version and the model's id as
#     `blindml info` prints it; it runs as a non-root user; the container's HEALTHCHECK turns
#     healthy; GET /health, /ready and /info answer; start-to-ready is measured;
#   - `blindml client` against the container equals `predict --mode clear` (a decision tree);
#   - the keys live on the volume: after `docker restart` (SIGTERM, clean exit) the same uid serves;
#   - the model mounted instead of baked: the server image with a logistic regression at /model;
#   - `deploy-docker --stop` leaves no container, image or volume behind.
# usage: image_test.sh BIN_DIR SOURCE_DIR   (exit 77: skipped, no Docker daemon possible)
set -euo pipefail
TEST=container_image
BIN=$(cd "$1" && pwd)/blindml
SRC=$(cd "$2" && pwd)
source "$SRC/tests/container/common.sh"
DATA=$SRC/tests/data
PORT=${BLINDML_TEST_PORT:-18431}
NAME=blindml-test-image-$$
need_docker

version=$(sed -n 's/^project(blindml VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
server_image=blindml/blindml:$version-host
had_image=0; docker image inspect "$server_image" >/dev/null 2>&1 && had_image=1
[[ $had_image == 1 ]] || cleanups+=("docker image rm $server_image")
cleanups+=("'$SRC/scripts/deploy-docker' --stop $NAME")

note "compile a decision tree and a logistic regression"
head -n 6 "$DATA/breast_cancer/test.csv" > "$WORK/rows.csv"
"$BIN" -q compile "$DATA/models/decision_tree_breast_cancer.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$WORK/dt" >/dev/null
"$BIN" -q compile "$DATA/models/logistic_regression_breast_cancer.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$WORK/lr" >/dev/null
"$BIN" -q predict "$WORK/dt" --mode clear --input "$WORK/rows.csv" --out "$WORK/dt-clear.csv"
"$BIN" -q predict "$WORK/lr" --mode clear --input "$WORK/rows.csv" --out "$WORK/lr-clear.csv"
dt_id=$("$BIN" info "$WORK/dt/server.zip" | sed -n 's/.*"model_id": *"\([0-9a-f]*\)".*/\1/p')
lr_id=$("$BIN" info "$WORK/lr/server.zip" | sed -n 's/.*"model_id": *"\([0-9a-f]*\)".*/\1/p')
[[ ${#dt_id} -eq 32 && ${#lr_id} -eq 32 && $dt_id != "$lr_id" ]] || fail "model ids from blindml info: '$dt_id' '$lr_id'"

note "scripts/deploy-docker (host binary)"
start=$(date +%s%N)
url=$("$SRC/scripts/deploy-docker" "$WORK/dt" --binary "$BIN" --port "$PORT" --name "$NAME" 2>"$WORK/deploy.log" | tail -n 1) ||
  { cat "$WORK/deploy.log" >&2; fail "deploy-docker failed"; }
total_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $url == "http://127.0.0.1:$PORT" ]] || fail "deploy-docker's last line is '$url', expected http://127.0.0.1:$PORT"
ready_ms=$(sed -n 's/.*ready \([0-9]*\) ms after docker run.*/\1/p' "$WORK/deploy.log")
echo "   deploy-docker: ${total_ms} ms in all (image builds included), container start to /ready: ${ready_ms} ms"

note "the image: labels, user, size"
labels=$(docker inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}} {{index .Config.Labels "io.blindml.model-id"}} {{.Config.User}}' "blindml/model-$NAME")
[[ $labels == "$version $dt_id blindml" ]] || fail "labels/user: '$labels', expected '$version $dt_id blindml'"
uid_in=$(docker exec "$NAME" sh -c 'id -u')
[[ $uid_in != 0 ]] || fail "the server runs as root inside the container"
size=$(docker image inspect -f '{{.Size}}' "$server_image")
echo "   $server_image: $((size / 1000000)) MB; runs as uid $uid_in"

note "GET /health, /ready, /info; HEALTHCHECK"
[[ $(http_status "$url/health") == 200 ]] || fail "/health"
[[ $(http_status "$url/ready") == 200 ]] || fail "/ready"
http_get "$url/info" | grep -q "\"model_id\":\"$dt_id\"" || fail "/info does not name model $dt_id"
health=
for _ in $(seq 1 60); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
  [[ $health == healthy ]] && break
  sleep 0.5
done
[[ $health == healthy ]] || fail "HEALTHCHECK: $health"

note "blindml client against the container == predict --mode clear"
"$BIN" -q client "$url" --keys "$WORK/keys" --input "$WORK/rows.csv" --out "$WORK/dt-fhe.csv"
cmp "$WORK/dt-fhe.csv" "$WORK/dt-clear.csv" || fail "the container's answers differ from predict --mode clear"

note "docker restart: SIGTERM stops it cleanly; the keys volume keeps the uid"
docker restart --time 60 "$NAME" >/dev/null
docker logs "$NAME" 2>&1 | grep -q "stopped" || fail "no clean stop in the container's log after SIGTERM"
for _ in $(seq 1 100); do [[ $(http_status "$url/ready") == 200 ]] && break; sleep 0.2; done
[[ $(metric "$url" blindml_key_store_keys) == 1 ]] || fail "the restarted container does not hold the stored keys"
"$BIN" -q client "$url" --keys "$WORK/keys" --input "$WORK/rows.csv" --out "$WORK/dt-fhe2.csv"
cmp "$WORK/dt-fhe2.csv" "$WORK/dt-clear.csv" || fail "answers after restart differ"
[[ $(metric "$url" 'blindml_http_requests_total{route="/add_key",code="200"}') == 0 ]] ||
  fail "the client uploaded its keys again after the restart (the uid was lost)"

note "the model mounted at /model instead of baked in"
mport=$((PORT + 1)); mname=$NAME-mounted
cleanups+=("docker rm -f $mname; docker volume rm blindml-keys-$mname")
docker run -d --name "$mname" --init --network host -e BLINDML_HOST=127.0.0.1 -e BLINDML_PORT=$mport \
  -v "$WORK/lr:/model:ro" -v "blindml-keys-$mname:/var/lib/blindml/keys" "$server_image" >/dev/null
for _ in $(seq 1 100); do [[ $(http_status "http://127.0.0.1:$mport/ready") == 200 ]] && break; sleep 0.2; done
http_get "http://127.0.0.1:$mport/info" | grep -q "\"model_id\":\"$lr_id\"" || fail "the mounted model is not served"
"$BIN" -q client "http://127.0.0.1:$mport" --keys "$WORK/keys-lr" --input "$WORK/rows.csv" --out "$WORK/lr-fhe.csv"
cmp "$WORK/lr-fhe.csv" "$WORK/lr-clear.csv" || fail "the mounted model's answers differ from predict --mode clear"
docker stop --time 60 "$mname" >/dev/null
[[ $(docker inspect -f '{{.State.ExitCode}}' "$mname") == 0 ]] || fail "exit status after docker stop is not 0"
docker rm "$mname" >/dev/null; docker volume rm "blindml-keys-$mname" >/dev/null

note "deploy-docker --stop"
"$SRC/scripts/deploy-docker" --stop "$NAME" 2>/dev/null
left=$(docker ps -aq --filter "name=$NAME"; docker images -q "blindml/model-$NAME"; docker volume ls -q --filter "name=blindml-keys-$NAME")
[[ -z $left ]] || fail "left behind after --stop: $left"
[[ $(http_status "$url/health") == 000 ]] || fail "something still answers on $url"
echo "PASS $TEST (image $((size / 1000000)) MB, start to ready ${ready_ms} ms)"

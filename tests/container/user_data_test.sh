#!/usr/bin/env bash
# The exact user-data deploy/aws/blindml_aws.py sends to EC2, run as cloud-init would (bash, as
# root) inside a container built from the same Debian 12 base, with the stand-ins of docs/deploy.md:
# the S3 presigned URLs point at a local HTTP server on 127.0.0.1 serving the same files, the
# instance's Docker is this machine's daemon (its socket and CLI mounted, so the install step is
# skipped), BLINDML_UD_LISTEN=127.0.0.1, BLINDML_UD_WORK a directory shared with the host. The
# script must end with the model served on loopback: /ready, and `blindml client` == clear.
# A corrupted download (wrong SHA-256) must stop it before anything runs.
# usage: user_data_test.sh BIN_DIR SOURCE_DIR   (exit 77: skipped)
set -euo pipefail
TEST=container_user_data
BIN=$(cd "$1" && pwd)/blindml
SRC=$(cd "$2" && pwd)
source "$SRC/tests/container/common.sh"
DATA=$SRC/tests/data
PY=/usr/bin/python3
PORT=${BLINDML_TEST_PORT:-18470}
FPORT=$((PORT + 1))
NAME=blindml-test-ud-$$
need_docker

version=$(sed -n 's/^project(blindml VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
image=blindml/blindml:$version-host
docker image inspect "$image" >/dev/null 2>&1 || cleanups+=("docker image rm $image")
"$BIN" -q compile "$DATA/models/decision_tree_breast_cancer.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$WORK/model" >/dev/null
head -n 4 "$DATA/breast_cancer/test.csv" > "$WORK/rows.csv"
"$BIN" -q predict "$WORK/model" --mode clear --input "$WORK/rows.csv" --out "$WORK/clear.csv"
"$SRC/scripts/deploy-docker" --image-only --binary "$BIN" "$WORK/model" >/dev/null 2>"$WORK/image.log" ||
  { cat "$WORK/image.log" >&2; fail "server image"; }

note "the files deploy would upload to S3, served by a stand-in on 127.0.0.1:$FPORT"
mkdir -p "$WORK/s3" "$WORK/instance"
cp "$WORK/model/client.zip" "$WORK/model/server.zip" "$WORK/s3/"
docker save "$image" | gzip -1 > "$WORK/s3/image.tar.gz"
"$PY" -m http.server "$FPORT" --bind 127.0.0.1 --directory "$WORK/s3" >"$WORK/http.log" 2>&1 &
cleanups+=("kill $!")
"$PY" "$SRC/deploy/aws/blindml_aws.py" user-data "$WORK/model" --name test --image-tar "$WORK/s3/image.tar.gz" \
  --base-url "http://127.0.0.1:$FPORT" --port "$PORT" > "$WORK/user-data.sh"
grep -q "IMAGE=$image" "$WORK/user-data.sh" || fail "the user-data does not start $image"

note "an instance stand-in: the Debian base with curl (what the cloud images ship)"
timg=blindml/test-instance:$$
cleanups+=("docker image rm $timg")
printf 'FROM %s\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*\n' \
  "$BLINDML_BASE_IMAGE" | docker build --network host -q -t "$timg" - >/dev/null
run_user_data() {  # run_user_data SCRIPT: as cloud-init runs it, inside the stand-in
  docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock -v "$(command -v docker):/usr/bin/docker:ro" \
    -v "$WORK/instance:$WORK/instance" -v "$1:/var/lib/cloud/user-data.sh:ro" \
    -e BLINDML_UD_WORK="$WORK/instance" -e BLINDML_UD_LISTEN=127.0.0.1 -e BLINDML_UD_CONTAINER="$NAME" \
    "$timg" bash /var/lib/cloud/user-data.sh
}
cleanups+=("docker rm -f $NAME; docker volume rm $NAME-keys")

note "a download that fails its SHA-256 stops the script"
sed 's/^\(fetch server.zip .*\) \([0-9a-f]\{64\}\)$/\1 0000000000000000000000000000000000000000000000000000000000000000/' \
  "$WORK/user-data.sh" > "$WORK/bad-user-data.sh"
! cmp -s "$WORK/user-data.sh" "$WORK/bad-user-data.sh" || fail "could not corrupt the digest"
if run_user_data "$WORK/bad-user-data.sh" >"$WORK/bad.log" 2>&1; then fail "a wrong SHA-256 was accepted"; fi
docker container inspect "$NAME" >/dev/null 2>&1 && fail "a container started despite the bad download"

note "the user-data, unchanged"
start=$(date +%s%N)
run_user_data "$WORK/user-data.sh" >"$WORK/ud.log" 2>&1 || { cat "$WORK/ud.log" >&2; fail "the user-data failed"; }
echo "   user-data ran in $(( ($(date +%s%N) - start) / 1000000 )) ms; $(tail -n 1 "$WORK/ud.log")"
[[ $(http_status "http://127.0.0.1:$PORT/ready") == 200 ]] || fail "/ready after the user-data"
"$BIN" -q client "http://127.0.0.1:$PORT" --keys "$WORK/keys" --input "$WORK/rows.csv" --out "$WORK/fhe.csv"
cmp "$WORK/fhe.csv" "$WORK/clear.csv" || fail "the instance's answers differ from predict --mode clear"
echo "PASS $TEST"

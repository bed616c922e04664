#!/bin/bash
# The container's entrypoint: `blindml serve` on the model in $BLINDML_MODEL_DIR (a mounted
# volume, default /model) or else the one baked into the image (/opt/blindml/model), keys in the
# volume /var/lib/blindml/keys or in Redis ($BLINDML_REDIS). `exec` makes blindml the process
# that receives SIGTERM from `docker stop` (it answers the requests in flight, then exits 0).
# Extra arguments are passed to `blindml serve` (--slots, --threads, --tls-cert ...).
# `entrypoint.sh health` is the HEALTHCHECK: GET /health over bash's /dev/tcp (no curl inside).
#
# Environment: BLINDML_HOST (default 0.0.0.0), BLINDML_PORT (8000), BLINDML_MODEL_DIR (/model),
# BLINDML_KEYS (/var/lib/blindml/keys), BLINDML_REDIS (redis://host:port, instead of BLINDML_KEYS),
# BLINDML_SERVE_TOKEN, BLINDML_LOG (passed to blindml as they are).
set -euo pipefail
host=${BLINDML_HOST:-0.0.0.0}
port=${BLINDML_PORT:-8000}

if [[ ${1:-} == health ]]; then
  [[ $host == 0.0.0.0 ]] && host=127.0.0.1
  exec 3<>"/dev/tcp/$host/$port" || exit 1
  printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
  IFS= read -r -t 5 status <&3 || exit 1
  [[ $status == "HTTP/1."[01]" 200"* ]]
  exit
fi

model=${BLINDML_MODEL_DIR:-/model}
[[ -f $model/server.zip ]] || model=/opt/blindml/model
if [[ ! -f $model/server.zip ]]; then
  echo "blindml-entrypoint: no model: mount a directory holding server.zip (and client.zip) at" \
       "${BLINDML_MODEL_DIR:-/model}, or build an image with the model baked in (docs/deploy.md)" >&2
  exit 2
fi
args=(serve "$model/server.zip" --host "$host" --port "$port")
[[ -f $model/client.zip ]] && args+=(--client "$model/client.zip")
if [[ -n ${BLINDML_REDIS:-} ]]; then
  args+=(--redis "$BLINDML_REDIS")
else
  args+=(--keys "${BLINDML_KEYS:-/var/lib/blindml/keys}")
fi
exec /usr/local/bin/blindml "${args[@]}" "$@"

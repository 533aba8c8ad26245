#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks. Idempotent: skips what is already there.
#   scripts/setup.sh          npm packages only (enough to start the playground)
#   scripts/setup.sh --tests  also Debian's chromium (end-to-end tests) and lavapipe (Node WebGPU tests)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--tests" ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/vulkan/icd.d/lvp_icd.json ]; then
    # lavapipe must come from bookworm-backports (Mesa 25): Debian 12's Mesa 22 is rejected by Dawn.
    # The backports suite is added on the machine's own Debian mirror (read from its apt sources).
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -E '^(URIs:|deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' | awk '{print $2}' | head -n1)"
      if [ -z "$MIRROR" ]; then echo "setup.sh: no Debian mirror found in /etc/apt sources" >&2; exit 1; fi
      echo "deb $MIRROR bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
    fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
  fi
fi

# @huggingface/transformers pulls in onnxruntime-node, whose postinstall would download a binary; the
# project never uses it (tokenizers + onnxruntime-web instead), so skip that download.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

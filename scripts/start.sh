#!/usr/bin/env bash
# Start the playground on the built-in model (served from public/models; no network needed once installed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm start -- "$@"

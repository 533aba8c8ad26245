#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what is missing, then lint, types, unit, GPU (Node +
# Dawn + lavapipe), task scoring, parity against the golden fixtures, and end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
exec npm test

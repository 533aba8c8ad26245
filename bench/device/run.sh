#!/usr/bin/env bash
# Runs on the GPU machine from the packed kit (bench/device/pack.sh): unpack Node and Dawn, find the NVIDIA
# Vulkan driver, then the training and decode benchmarks. Results go to $OUT.
cd "$(dirname "$0")"
set -o pipefail
source ./setup.sh
# The built-in model's recipe with forward/backward on the GPU (npm run train:builtin -- --gpu).
timeout 230 /tmp/node train-builtin.mjs --gpu --steps "${BUILTIN_STEPS:-2200}" --log-every 500 --out "/tmp/motg-builtin" 2>&1 | tee "$OUT/train-builtin.log"
timeout 100 /tmp/node train.bench.mjs --fixtures "$PWD/fixtures" --tag gpu --no-cpu-large 2>&1 | grep -v '^{' | tee "$OUT/train.log"
cp results/*.json "$OUT/" 2>/dev/null
[ -f /tmp/motg-builtin/config.json ] && cp -r /tmp/motg-builtin models/motg-builtin-gpu-run
timeout 60 /tmp/node decode.bench.mjs --models "$PWD/models" --tag gpu 2>&1 | grep -v '^{' | tee "$OUT/decode.log"
cp results/*.json "$OUT/" 2>/dev/null

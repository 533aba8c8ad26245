#!/usr/bin/env bash
# Runs on the GPU machine from the packed kit (bench/device/pack.sh): unpack Node and Dawn, find the NVIDIA
# Vulkan driver, then the training and decode benchmarks. Results go to $OUT.
cd "$(dirname "$0")"
set -o pipefail
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
xz -dc dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
for d in *.deb; do dpkg -x "$d" /; done; ldconfig
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$f" ] && export VK_ICD_FILENAMES=$f && break
done
export XDG_RUNTIME_DIR=/tmp MOTG_FIXTURES=$PWD/fixtures
nvidia-smi -L
timeout 240 /tmp/node train.bench.mjs --fixtures "$PWD/fixtures" --tag gpu 2>&1 | grep -v '^{' | tee "$OUT/train.log"
cp results/*.json "$OUT/" 2>/dev/null
timeout 150 /tmp/node decode.bench.mjs --models "$PWD/models" --tag gpu 2>&1 | grep -v '^{' | tee "$OUT/decode.log"
cp results/*.json "$OUT/" 2>/dev/null

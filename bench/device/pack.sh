#!/usr/bin/env bash
# Pack what the GPU machine lacks into .dev/kit (git-ignored via .git/info/exclude) for the `device` tool:
# Node itself, Dawn's addon (npm `webgpu`, linux-x64 only), the Vulkan loader .deb, the fixture models,
# the built-in model, and the benchmarks bundled into single .mjs files. See bench/device/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=.dev/kit
FIX=${MOTG_FIXTURES:-../shared/fixtures}
rm -rf "$KIT" && mkdir -p "$KIT/node_modules/webgpu/dist/linux-x64" "$KIT/fixtures/hf-golden" "$KIT/models"
[ -f .dev/node.xz ] || xz -9 -T2 -c "$(command -v node)" > .dev/node.xz
cp .dev/node.xz "$KIT/"
xz -9 -T2 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$KIT/dawn.node.xz"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$KIT/node_modules/webgpu/"
cp -r node_modules/debug node_modules/ms "$KIT/node_modules/"
# The NVIDIA Vulkan ICD is libGLX_nvidia, which needs glvnd: carry the loader and the glvnd libraries.
(cd "$KIT" && apt-get download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 >/dev/null 2>&1)
for m in qwen2-tiny-a qwen2-tiny-c; do
  mkdir -p "$KIT/fixtures/hf-golden/$m" && cp "$FIX/hf-golden/$m"/{config.json,model.safetensors} "$KIT/fixtures/hf-golden/$m/"
done
cp -r public/models/* "$KIT/models/"
for b in train decode grpo; do
  npx esbuild "bench/$b.bench.ts" --bundle --platform=node --format=esm --external:webgpu \
    --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);" \
    --outfile="$KIT/$b.bench.mjs" --log-level=warning
done
npx esbuild scripts/train-builtin.ts --bundle --platform=node --format=esm --external:webgpu \
  --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);" \
  --outfile="$KIT/train-builtin.mjs" --log-level=warning
npx esbuild scripts/experiment.ts --bundle --platform=node --format=esm --external:webgpu \
  --external:vite --external:@playwright/test --external:playwright --external:playwright-core \
  --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);" \
  --outfile="$KIT/experiment.mjs" --log-level=warning
cp -r experiments "$KIT/"
cp bench/device/setup.sh bench/device/run.sh bench/device/experiments.sh bench/device/pick-lr.mjs "$KIT/"
cp bench/device/sweep-jobs.txt bench/device/matrix-jobs.txt "$KIT/"
du -sh "$KIT"

#!/usr/bin/env bash
# Runs on the GPU machine from the packed kit (bench/device/pack.sh): the GRPO and decode benchmarks, then
# the GRPO runs listed in a jobs file (one `experiment.mjs` argument list per line; a line starting with
# `cpu ` runs on the CPU reference), JOBS_GPU at once on the GPU and JOBS_CPU at once on the CPU cores.
# Everything lands in $OUT (runs.tgz, logs, bench results).
#   bash experiments.sh <jobs-file> [seconds-for-the-runs]
cd "$(dirname "$0")"
set -o pipefail
JOBS=$1
BUDGET=${2:-400}
xz -dc node.xz > /tmp/node && chmod +x /tmp/node
xz -dc dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
for d in *.deb; do dpkg -x "$d" /; done; ldconfig
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$f" ] && export VK_ICD_FILENAMES=$f && break
done
export XDG_RUNTIME_DIR=/tmp
nvidia-smi -L; nproc
mkdir -p "$OUT/logs" runs
run_one() { # kind, index, args…
  local kind=$1 i=$2; shift 2
  local flag=""; [ "$kind" = cpu ] && flag=--cpu
  timeout "$BUDGET" /tmp/node experiment.mjs "$@" $flag > "$OUT/logs/job-$i.log" 2>&1
  echo "job $i ($kind) exit $?: $*" >> "$OUT/jobs-done.txt"
}
export -f run_one; export BUDGET OUT
grep -n '^cpu ' "$JOBS" | sed 's/^\([0-9]*\):cpu /cpu \1 /' > /tmp/cpu-jobs
grep -vn '^cpu \|^$\|^#' "$JOBS" | sed 's/^\([0-9]*\):/gpu \1 /' > /tmp/gpu-jobs
(xargs -P "${JOBS_GPU:-10}" -L 1 bash -c 'run_one "$@"' _ < /tmp/gpu-jobs) &
(xargs -P "${JOBS_CPU:-5}" -L 1 bash -c 'run_one "$@"' _ < /tmp/cpu-jobs) &
# The benchmarks share the machine with the runs: their ratios (same run, same backend) are what count.
timeout 120 /tmp/node grpo.bench.mjs --model models/motg-builtin --tag "${TAG:-gpu}" --steps 3 2>&1 | grep -v '^{' | tee "$OUT/grpo-bench.log"
timeout 60 /tmp/node decode.bench.mjs --models "$PWD/models" --tag "${TAG:-gpu}" 2>&1 | grep -v '^{' | tee "$OUT/decode.log"
cp results/*.json "$OUT/" 2>/dev/null
wait
tar czf "$OUT/runs.tgz" runs
wc -l "$OUT/jobs-done.txt"

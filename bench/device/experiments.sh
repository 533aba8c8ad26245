#!/usr/bin/env bash
# Runs on the GPU machine from the packed kit (bench/device/pack.sh). Stages, all results into $OUT:
#  1. the GRPO and decode benchmarks, alone on the machine;
#  2. a learning-rate sweep (sweep-jobs.txt) on seeds the report does not use;
#  3. pick-lr.mjs picks the rate that raised held-out accuracy most on average;
#  4. the protocol's runs (matrix-jobs.txt, `LR` replaced by that rate).
# A job line is an `experiment.mjs` argument list; a line starting with `cpu ` runs on the CPU reference.
#   bash experiments.sh [seconds-per-job] [seconds-in-all]
# Every job ends before the whole budget runs out, so the results are always packed.
cd "$(dirname "$0")"
set -o pipefail
BUDGET=${1:-240}
END=$(( $(date +%s) + ${2:-540} ))
source ./setup.sh
mkdir -p "$OUT/logs" runs
run_one() { # kind, index, args…
  local kind=$1 i=$2; shift 2
  local flag=""; [ "$kind" = cpu ] && flag=--cpu
  local t0=$SECONDS left=$(( END - $(date +%s) - 15 ))
  [ "$left" -gt "$BUDGET" ] && left=$BUDGET
  if [ "$left" -lt 20 ]; then echo "$STAGE job $i skipped (out of time): $*" >> "$OUT/jobs-done.txt"; return; fi
  timeout "$left" /tmp/node experiment.mjs "$@" $flag > "$OUT/logs/$STAGE-$i.log" 2>&1
  echo "$STAGE job $i ($kind) exit $? in $((SECONDS - t0)) s: $*" >> "$OUT/jobs-done.txt"
}
export -f run_one; export BUDGET OUT END
run_jobs() { # file
  grep -n '^cpu ' "$1" | sed 's/^\([0-9]*\):cpu /cpu \1 /' > /tmp/cpu-jobs
  grep -vn '^cpu \|^$\|^#' "$1" | sed 's/^\([0-9]*\):/gpu \1 /' > /tmp/gpu-jobs
  (xargs -P "${JOBS_GPU:-10}" -L 1 bash -c 'run_one "$@"' _ < /tmp/gpu-jobs) &
  (xargs -P "${JOBS_CPU:-6}" -L 1 bash -c 'run_one "$@"' _ < /tmp/cpu-jobs) &
  wait
}
timeout 100 /tmp/node grpo.bench.mjs --model models/motg-builtin --tag "${TAG:-gpu}" --steps 3 2>&1 | grep -v '^{' | tee "$OUT/grpo-bench.log"
timeout 50 /tmp/node decode.bench.mjs --models "$PWD/models" --tag "${TAG:-gpu}" 2>&1 | grep -v '^{' | tee "$OUT/decode.log"
cp results/*.json "$OUT/" 2>/dev/null
STAGE=sweep; export STAGE; run_jobs sweep-jobs.txt
LR=$(/tmp/node pick-lr.mjs runs/sweep 2> "$OUT/pick-lr.json"); echo "picked lr $LR"; echo "$LR" > "$OUT/lr.txt"
sed "s/\bLR\b/$LR/g" matrix-jobs.txt > /tmp/matrix-jobs.txt
STAGE=matrix; export STAGE; run_jobs /tmp/matrix-jobs.txt
tar czf "$OUT/runs.tgz" runs
wc -l "$OUT/jobs-done.txt"

#!/usr/bin/env bash
# The built-in model's reproduction protocol (docs/reproduction.md, MOTG.md §5), as job lists and a runner.
#
#   bash experiments/builtin-protocol.sh jobs sweep|matrix [model-dir] [runs-dir]   # print one stage's jobs
#   bash experiments/builtin-protocol.sh run [model-dir] [runs-dir]                 # run both stages here
#   bash experiments/builtin-protocol.sh report [runs-dir] [docs-dir]                # docs/reproduction/*.md
#
# A job is an argument list of scripts/experiment.ts; a line starting with `cpu ` must run on the CPU
# reference (the exact likelihood trains only there). `run` runs JOBS (default 2) jobs at a time with
# BACKEND (default --cpu: this machine has no GPU; empty: WebGPU where Node has it), skips jobs whose folder
# already holds summary.json (so an interrupted protocol resumes), and logs to <runs-dir>/logs/.
#
# Stages (the report's verdict rules, src/experiment/stats.ts CLAIM_RULES, are fixed before either runs):
#  sweep  — the learning-rate grid: chain_sum, G = 5, matched discrete and dirichlet, seeds 100/101
#           (not the report's seeds), lr 3e-5 / 1e-4 / 3e-4 / 1e-3; bench/device/pick-lr.mjs picks the rate with the
#           largest mean gain, and the report checks the grid brackets it.
#  matrix — at the picked rate (LR), seeds 0–4 for every cell:
#           chain_sum and basic_arithmetic × full discrete, matched discrete top-2, dirichlet, different-tokens
#           at G = 5; the G curve (chain_sum, matched discrete and dirichlet, G = 2 and 10 beside 5); paper vs
#           exact likelihood (chain_sum, dirichlet, G = 5: the exact arm beside the matrix's paper arm, both
#           scored at the sampling temperature).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=experiments/builtin-protocol.json
SEEDS=(0 1 2 3 4)

jobs_sweep() { # model runs
  for lr in 3e-5 1e-4 3e-4 1e-3; do
    for preset in discrete-top-k dirichlet; do
      for seed in 100 101; do
        echo "$CONFIG --model $1 --task chain_sum:trivial --preset $preset --group 5 --seed $seed --lr $lr --out $2/sweep/lr$lr/$preset-G5-s$seed"
      done
    done
  done
}

jobs_matrix() { # model runs — longest jobs first within each block, so two workers finish together
  local m=$1 out=$2/matrix seed preset task G
  for seed in "${SEEDS[@]}"; do
    for preset in discrete-top-k dirichlet; do
      echo "$CONFIG --model $m --task chain_sum:trivial --preset $preset --group 10 --seed $seed --lr LR --out $out/chain_sum/$preset-G10-s$seed"
    done
  done
  for task in chain_sum basic_arithmetic; do
    for seed in "${SEEDS[@]}"; do
      for preset in discrete discrete-top-k dirichlet different-tokens; do
        echo "$CONFIG --model $m --task $task:trivial --preset $preset --group 5 --seed $seed --lr LR --out $out/$task/$preset-G5-s$seed"
      done
    done
    [ "$task" = chain_sum ] || continue
    for seed in "${SEEDS[@]}"; do
      echo "cpu $CONFIG --model $m --task chain_sum:trivial --preset dirichlet --group 5 --seed $seed --lr LR --likelihood exact --out $out/chain_sum/dirichlet-exact-G5-s$seed"
    done
    for seed in "${SEEDS[@]}"; do
      for preset in discrete-top-k dirichlet; do
        echo "$CONFIG --model $m --task chain_sum:trivial --preset $preset --group 2 --seed $seed --lr LR --out $out/chain_sum/$preset-G2-s$seed"
      done
    done
  done
}

run_job() { # log-dir backend-flag job…
  local logs=$1 flag=$2; shift 2
  if [ "$1" = cpu ]; then flag=--cpu; shift; fi
  local out; out=$(sed -n 's/.*--out \([^ ]*\).*/\1/p' <<< "$*")
  [ -f "$out/summary.json" ] && return 0
  local t0=$SECONDS log
  log="$logs/$(tr '/' '_' <<< "$out").log"
  if npx tsx scripts/experiment.ts "$@" $flag > "$log" 2>&1; then
    echo "ok $((SECONDS - t0)) s $out"
  else
    echo "FAILED ($?) $((SECONDS - t0)) s $out (log: $log)"
  fi
}

run_stage() { # runs-dir — jobs on stdin
  mkdir -p "$1/logs"
  export -f run_job
  xargs -P "${JOBS:-2}" -L 1 bash -c 'run_job "$0" "$1" "${@:2}"' "$1/logs" "${BACKEND---cpu}"
}

cmd=${1:-}
case "$cmd" in
  jobs)
    stage=${2:?sweep or matrix}
    "jobs_$stage" "${3:-public/models/motg-builtin}" "${4:-runs/builtin-protocol}"
    ;;
  run)
    model=${2:-public/models/motg-builtin} runs=${3:-runs/builtin-protocol}
    jobs_sweep "$model" "$runs" | run_stage "$runs"
    lr=$(node bench/device/pick-lr.mjs "$runs/sweep" 2> "$runs/pick-lr.json")
    echo "picked lr $lr ($(cat "$runs/pick-lr.json"))"
    jobs_matrix "$model" "$runs" | sed "s/ LR / $lr /" | run_stage "$runs"
    ;;
  report)
    # The tables and figures docs/reproduction.md quotes: the matrix, the sweep, and paper vs exact likelihood
    # (chain_sum, dirichlet, G = 5: the matrix's paper arm beside its exact arm).
    runs=${2:-runs/builtin-protocol} docs=${3:-docs/reproduction}
    report() { npx tsx scripts/reproduction-report.ts "$@"; }
    report "$runs/matrix" --figures "$docs" --out "$docs/matrix.md"
    report "$runs/sweep" --figures "$docs/sweep" --out "$docs/sweep.md"
    report "$runs"/matrix/chain_sum/dirichlet-G5-s* "$runs"/matrix/chain_sum/dirichlet-exact-G5-s* \
      --figures "$docs/likelihood" --out "$docs/likelihood.md"
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac

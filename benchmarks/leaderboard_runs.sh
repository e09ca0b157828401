#!/usr/bin/env bash
# The leaderboard's entries on the default LM: for shuffle_dyck, count and int_sum, inject with
# `tracr` and train the `baseline` (seeds 0, 1, 2; the injector's defaults), evaluate each model
# on its task's splits and retention as soon as it is trained, then submit everything.
#
#   benchmarks/leaderboard_runs.sh RUN_DIR [train|submit]
#
# Models go to RUN_DIR (not committed; ~50 MB each), results JSONs to RUN_DIR/results. Finished
# work is skipped, so the script can be re-run after an interruption. Two workers on two cores:
# METHODS=tracr and METHODS=baseline (default: both, one after the other).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:?usage: benchmarks/leaderboard_runs.sh RUN_DIR [train|submit]}
STAGE=${2:-train}
TB=.venv/bin/tracr-bench
LIMIT=${LIMIT:-1000}  # examples per split
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$RUN_DIR/results"
TASKS="shuffle_dyck count int_sum"
METHODS=${METHODS:-tracr baseline}

if [[ $STAGE == train ]]; then
  for seed in 0 1 2; do
    for task in $TASKS; do
      for method in $METHODS; do
        out="$RUN_DIR/$task-$method-s$seed"
        res="$RUN_DIR/results/$task-$method-s$seed.json"
        if [[ ! -f $out/injection.json ]]; then
          resume=(); [[ -d $out/checkpoints ]] && resume=(--resume)
          $TB inject --model default --task "$task" --method "$method" --seed "$seed" \
            --output "$out" --no-progress "${resume[@]}"
        fi
        [[ -f $res ]] || $TB eval --model "$out" --tasks "$task" --limit "$LIMIT" \
          --no-progress --output "$res"
      done
    done
  done
fi

if [[ $STAGE == submit ]]; then
  base="$RUN_DIR/results/default.json"
  [[ -f $base ]] || $TB eval --model default --tasks "${TASKS// /,}" --limit "$LIMIT" \
    --no-progress --output "$base"
  for res in "$base" "$RUN_DIR"/results/*-s[0-9].json; do
    $TB submit "$res" --by "tracr-bench maintainers"
  done
  $TB leaderboard
fi

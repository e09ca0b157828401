#!/usr/bin/env bash
# The leaderboard's entries on the default LM: for shuffle_dyck, count and int_sum, inject with
# `tracr` and train the `baseline` (3 seeds each, the injector's defaults), then evaluate every
# model on its task's splits (1,000 examples per split) and retention, and submit the results.
#
#   benchmarks/leaderboard_runs.sh RUN_DIR [inject|eval|submit|all]
#
# Models go to RUN_DIR (not committed; ~50 MB each); results JSONs to RUN_DIR/results. Finished
# steps are skipped, so the script can be re-run after an interruption. One thread per run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:?usage: benchmarks/leaderboard_runs.sh RUN_DIR [inject|eval|submit|all]}
STAGE=${2:-all}
TB=.venv/bin/tracr-bench
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$RUN_DIR/results"
TASKS="count int_sum shuffle_dyck"
METHODS=${METHODS:-tracr baseline}  # e.g. METHODS=baseline: one worker per method on two cores

if [[ $STAGE == inject || $STAGE == all ]]; then
  for seed in 0 1 2; do
    for method in $METHODS; do
      for task in $TASKS; do
        out="$RUN_DIR/$task-$method-s$seed"
        [[ -f $out/injection.json ]] && continue
        resume=(); [[ -d $out/checkpoints ]] && resume=(--resume)
        $TB inject --model default --task "$task" --method "$method" --seed "$seed" \
          --output "$out" --no-progress "${resume[@]}"
      done
    done
  done
fi

if [[ $STAGE == eval || $STAGE == all ]]; then
  base="$RUN_DIR/results/default.json"
  [[ -f $base ]] || $TB eval --model default --tasks "${TASKS// /,}" --limit 1000 \
    --no-progress --output "$base"
  for out in "$RUN_DIR"/*-s[0-9]; do
    [[ -f $out/injection.json ]] || continue
    task=$(basename "$out"); task=${task%%-*}
    res="$RUN_DIR/results/$(basename "$out").json"
    [[ -f $res ]] || $TB eval --model "$out" --tasks "$task" --limit 1000 --no-progress \
      --output "$res"
  done
fi

if [[ $STAGE == submit || $STAGE == all ]]; then
  for res in "$RUN_DIR/results/default.json" "$RUN_DIR"/results/*-s[0-9].json; do
    $TB submit "$res" --by "tracr-bench maintainers"
  done
  $TB leaderboard
fi

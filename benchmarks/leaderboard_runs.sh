#!/usr/bin/env bash
# The leaderboard's entries on the default LM: for shuffle_dyck, count and int_sum, inject with
# `tracr` and train the `baseline` (seeds 0, 1, 2; the injector's defaults), evaluate each model
# on its task's splits and retention as soon as it is trained, then submit everything.
#
#   benchmarks/leaderboard_runs.sh RUN_DIR [train|submit]
#
# Models go to RUN_DIR (not committed; ~50 MB each), results JSONs to RUN_DIR/results. Finished
# work is skipped, so the script can be re-run after an interruption. Two workers on two cores:
# METHODS=tracr and METHODS=baseline (default: both, one after the other). VARIANT names an
# injection setting beyond the paper's (see README, Making injection work): VARIANT=per-variable-ce
# trains `tracr` with `--algorithm-loss per-variable-ce` into RUN_DIR/<task>-tracr-pvce-s<seed>;
# TASKS and SEEDS narrow the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${1:?usage: benchmarks/leaderboard_runs.sh RUN_DIR [train|submit]}
STAGE=${2:-train}
TB=.venv/bin/tracr-bench
LIMIT=${LIMIT:-1000}  # examples per split
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$RUN_DIR/results"
TASKS=${TASKS:-shuffle_dyck count int_sum}
SEEDS=${SEEDS:-0 1 2}
METHODS=${METHODS:-tracr baseline}
VARIANT=${VARIANT:-}
variant_args=() tag=""
case $VARIANT in
  "") ;;
  per-variable-ce) variant_args=(--algorithm-loss per-variable-ce) tag=-pvce ;;
  *) echo "leaderboard_runs: unknown VARIANT '$VARIANT'; use per-variable-ce or leave it empty" >&2
     exit 2 ;;
esac

if [[ $STAGE == train ]]; then
  for seed in $SEEDS; do
    for task in $TASKS; do
      for method in $METHODS; do
        extra=() name=$task-$method-s$seed
        if [[ $method == tracr && -n $tag ]]; then extra=("${variant_args[@]}") name=$task-tracr$tag-s$seed; fi
        out="$RUN_DIR/$name"
        res="$RUN_DIR/results/$name.json"
        if [[ ! -f $out/injection.json ]]; then
          resume=(); [[ -d $out/checkpoints ]] && resume=(--resume)
          $TB inject --model default --task "$task" --method "$method" --seed "$seed" \
            --output "$out" --no-progress "${resume[@]}" "${extra[@]}"
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

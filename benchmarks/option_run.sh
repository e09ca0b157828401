#!/usr/bin/env bash
# One row of README's "Making injection work" tables: inject with the given options, evaluate
# every split and retention, decode every variable at every hidden state at the answer positions.
#
#   benchmarks/option_run.sh NAME TASK STEPS SEED LIMIT [inject options...]
#   e.g. benchmarks/option_run.sh count-pvce-200 count 200 0 300 --algorithm-loss per-variable-ce
#
# Writes RUN_DIR/NAME (the model) and RUN_DIR/results/NAME.json, NAME-decode.{json,png}
# (RUN_DIR default /work/runs/exp). Finished steps are kept, so it can be re-run after an
# interruption (an interrupted injection resumes from its last checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 5 ]] || { echo "usage: benchmarks/option_run.sh NAME TASK STEPS SEED LIMIT [inject options...]" >&2; exit 2; }
name=$1 task=$2 steps=$3 seed=$4 limit=$5
shift 5
RUN_DIR=${RUN_DIR:-/work/runs/exp}
TB=${TB:-.venv/bin/tracr-bench}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=$RUN_DIR/$name
mkdir -p "$RUN_DIR/results"
if [[ ! -f $out/injection.json ]]; then
  resume=()
  [[ -d $out/checkpoints ]] && resume=(--resume)
  $TB inject --model default --task "$task" --seed "$seed" --steps "$steps" --output "$out" \
    --no-progress "${resume[@]}" "$@"
fi
res=$RUN_DIR/results/$name.json
[[ -f $res ]] || $TB eval --model "$out" --tasks "$task" --limit "$limit" --no-progress --output "$res"
dec=$RUN_DIR/results/$name-decode
[[ -f $dec.json ]] || $TB decode --model "$out" --task "$task" --limit 300 --readout auto \
  --intervene none --noise none --positions answer --no-progress --overwrite \
  --output "$dec.json" --plot "$dec.png"
echo "done $name"

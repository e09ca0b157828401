#!/usr/bin/env bash
# Leaderboard entries with a mechanism block: for the seed-0 models of shuffle_dyck, count and
# int_sum (tracr and baseline, trained by benchmarks/leaderboard_runs.sh into RUN_DIR), evaluate
# each (eval --limit LIMIT), decode its output variable at the hidden state aligned with program
# layer L (adapter readout for every method starting with tracr, e.g. tracr-pvce, probes for the
# baseline, whose adapter is untrained; test and every OOD split, at the answer positions unless
# POSITIONS says otherwise, interchange interventions of the output variable), run the length
# search, and submit the three files together to the leaderboard folder LEADERBOARD.
#
#   benchmarks/mechanism_runs.sh LEADERBOARD [RUN_DIR]      (RUN_DIR default: /work/runs)
#
# Writes RUN_DIR/mechanism/<task>-<method>-s<SEED>.{results,decode,search}.json (the decode
# files: .decode-answer.{json,png,txt} for POSITIONS=answer, .decode.* for all); finished files
# are kept and a model is submitted once per leaderboard folder, so the script can be re-run after
# an interruption (the decode JSON, written last, marks a finished decode: without it decode runs
# again, --overwrite replacing a heatmap an unfinished run left). A new LEADERBOARD folder is
# started (--init). A model already in LEADERBOARD under the same name and seed is refused by submit
# (remove that file to replace it). Environment: LIMIT (examples per split, 1000), DECODE_LIMIT
# (examples per split for decode, LIMIT), TRAIN_EXAMPLES (probe fit, 1000), NOISE (decode
# --noise, none), POSITIONS (decode --positions: answer, the positions where the model predicts
# an answer token, or all, every position where the program defines the variable; default
# answer, since an output variable can hold one value at most positions, e.g. count's at 97%),
# SEARCH_EXAMPLES (search --max-examples, 200), TASKS, METHODS (tracr baseline; a run folder
# RUN_DIR/<task>-<method>-s<SEED> per method, e.g. tracr-pvce from VARIANT=per-variable-ce
# benchmarks/leaderboard_runs.sh), SEED (0), BY.
set -euo pipefail
cd "$(dirname "$0")/.."
LEADERBOARD=${1:?usage: benchmarks/mechanism_runs.sh LEADERBOARD [RUN_DIR]}
RUN_DIR=${2:-/work/runs}
TB=${TB:-.venv/bin/tracr-bench}
PY=${PY:-.venv/bin/python}
LIMIT=${LIMIT:-1000}
DECODE_LIMIT=${DECODE_LIMIT:-$LIMIT}
TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-1000}
NOISE=${NOISE:-none}
POSITIONS=${POSITIONS:-answer}
TASKS=${TASKS:-shuffle_dyck count int_sum}
METHODS=${METHODS:-tracr baseline}
SEARCH_EXAMPLES=${SEARCH_EXAMPLES:-200}
SEED=${SEED:-0}
BY=${BY:-tracr-bench maintainers}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT="$RUN_DIR/mechanism"
mkdir -p "$OUT"
init=(); [[ -d $LEADERBOARD ]] || init=(--init)

# the LM hidden state aligned with the program's last layer L, from the run's injection.json
aligned_layer() {
  "$PY" -c 'import json, sys
program = json.load(open(sys.argv[1] + "/injection.json"))["program"]
print((program.get("aligned_hidden_states") or [program["layers"]])[-1])' "$1"
}

for task in $TASKS; do
  for method in $METHODS; do
    model="$RUN_DIR/$task-$method-s$SEED"
    stem="$OUT/$task-$method-s$SEED"
    if [[ ! -f $model/injection.json ]]; then
      echo "mechanism_runs: $model is not a finished run; train it with" \
        "benchmarks/leaderboard_runs.sh" >&2
      exit 2
    fi
    readout=adapter; [[ $method == tracr* ]] || readout=probe
    decode="$stem.decode"; [[ $POSITIONS == all ]] || decode+="-$POSITIONS"
    layer=$(aligned_layer "$model")
    [[ -f $stem.results.json ]] || $TB eval --model "$model" --tasks "$task" --limit "$LIMIT" \
      --no-progress --output "$stem.results.json"
    [[ -f $decode.json ]] || $TB decode --model "$model" --task "$task" \
      --readout "$readout" --variables final_result --layers "$layer" --limit "$DECODE_LIMIT" \
      --train-examples "$TRAIN_EXAMPLES" --noise "$NOISE" --positions "$POSITIONS" \
      --no-progress --output "$decode.json" --plot "$decode.png" --overwrite > "$decode.txt"
    [[ -f $stem.search.json ]] || $TB search --model "$model" --task "$task" --seed 0 \
      --max-examples "$SEARCH_EXAMPLES" --output "$stem.search.json"
    marker="$stem.submitted"  # holds the leaderboard folders it went to
    if ! grep -qxF "$(realpath -m "$LEADERBOARD")" "$marker" 2>/dev/null; then
      $TB submit "$stem.results.json" --mechanism "$decode.json" \
        --search "$stem.search.json" --dir "$LEADERBOARD" "${init[@]}" --by "$BY"
      realpath -m "$LEADERBOARD" >> "$marker"
    fi
    init=()
  done
done
# the main table, on stdout only (rendering into a folder would also rewrite the README of the
# folder's parent when it has the leaderboard markers: that is `tracr-bench leaderboard`'s job)
$TB leaderboard --dir "$LEADERBOARD" --format md --output -

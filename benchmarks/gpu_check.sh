#!/usr/bin/env bash
# The GPU check (issue 13, part 3), for the day a GPU is lent: one JSON of measured figures on one
# CUDA device in under 8 minutes, nothing downloaded (see benchmarks/gpu_check.py):
#   - the injector's steps/s and tokens/s, tracr and baseline, bf16, on the default LM and on a
#     GPT-2-small-sized random model (124M parameters), and their ratio (goal <= 1.3);
#   - tracr-bench eval's fast engine against one model.generate per example on 1,000 prompts
#     (goal >= 10x);
#   - a short injection, then tracr-bench decode on it.
#
#   benchmarks/gpu_check.sh [--output gpu_check.json] [--budget-s 450]
#   benchmarks/gpu_check.sh --device cpu --tiny --output /tmp/check.json   # code paths, CPU
#
# Without a CUDA device it stops at once with one line (exit 2).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
if [ ! -x "$python" ]; then
  python="$(command -v python3)"
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$python" "$here/gpu_check.py" "$@"

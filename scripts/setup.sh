#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with tracr-bench installed (editable).
# torch 2.13.0 (CPU build) is installed first when no torch is present, so that pip does not
# pull a multi-GB CUDA build; the package itself accepts any torch >= 2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.tracr-bench-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import tracr_bench" 2>/dev/null; then
    exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
echo "$want" > "$stamp"

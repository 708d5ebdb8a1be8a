#!/usr/bin/env bash
# Set up, then run the default pipeline (dvc repro) on the shipped sample data and summarise what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} DVC_NO_ANALYTICS=1 OMP_WAIT_POLICY=PASSIVE PATH="$PWD/.venv/bin:$PATH"
dvc repro "$@"
python -m fan_timeline.report   # one screen; every metric: dvc metrics show

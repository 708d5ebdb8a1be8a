#!/bin/bash
# Rerun GPU rows of benchmarks/train_throughput.py side by side on one bare GPU machine of this
# workplace, in one device call (10 minutes at most). The runs of a group start together: they load
# and warm up at once and then time one after the other (--gpu-lock), so a group takes about its
# longest warm-up plus the sum of its timed blocks. Groups run one after the other.
#   RUNS="smollm2-135m:bf16:8,smollm2-135m:bf16:32 llama-1.2b:nf4-gc:8" BUDGET=540 WARMUP_S=400 \
#       FAN_TIMELINE_COMMIT=<commit>+dirty bash scripts/experiments/device_train_rows.sh
# BUDGET: seconds for the whole script (a run still going then is stopped, its file not written);
# WARMUP_S: a worker not warmed up by then is stopped and reported as failed, so that the group
# does not wait for it (--warmup-timeout).
# RUNS: groups separated by spaces, runs of a group by commas (not GROUPS: bash keeps that name).
# A run is SHAPE:QUANT[-gc]:BATCH[:TRAINERS] (bf16 or nf4; -gc: gradient checkpointing; TRAINERS
# joined by '+' replaces the list below, as where a peer does not fit beside the others). At the default batch
# (8) the peers are hf_trainer, hf_trainer_compile (not with checkpointing, as before), trl_sft and
# unsloth, with 4 warm-up steps and 3 blocks of 4 steps; at a larger batch the plain hf_trainer is
# left out (its padded logits over a 128k vocabulary take most of the card at batch 32) and the
# blocks are of 3 steps after 3 warm-up steps. Results: benchmarks/results/ there and, with every
# run's log, $OUT/rows.tgz.
# carry: build/site.tar.xz (the peers' packages, installed here with `pip install --no-deps --target`
#   and packed: trl 1.16, datasets 4.8.5 and its dill and multiprocess, liger-kernel, bitsandbytes cut to
#   its CUDA 13 library, pydantic, jsonschema, unsloth and unsloth_zoo less their studio and CLI,
#   xformers, torchao, cut_cross_entropy, tyro; site_u: TRL 1.15.0, the newest Unsloth allows),
#   build/tok (the embedded model's tokenizer), build/data/train.jsonl (the SFT pairs of the commit
#   measured, from the DVC cache), build/head (`git archive <commit> src params.yaml`: the code measured).
set -u
start=$(date +%s)
deadline=$((start + ${BUDGET:-540}))
tar -C /tmp -xJf build/site.tar.xz
rm -rf src && cp -r build/head/src src && cp build/head/params.yaml params.yaml
mkdir -p data/sft && cp build/data/train.jsonl data/sft/train.jsonl
export PYTHONPATH=$PWD/src:/tmp/site_build HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false \
    UNSLOTH_DISABLE_STATISTICS=1 TORCHINDUCTOR_COMPILE_THREADS=4
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
mkdir -p /tmp/logs /tmp/m
outs=()
# The random-init models, once: every run loads them from /tmp/m (--model-dir)
for shape in $(echo $RUNS | tr ' ,' '\n\n' | cut -d: -f1 | sort -u); do
  python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path
from train_throughput import make_shape_model
make_shape_model('$shape', 'build/tok', Path('/tmp/m/$shape'), 'cuda')" 2>&1 | tail -1
done
for group in $RUNS; do
  lock=/tmp/gpu.lock.$RANDOM
  for run in ${group//,/ }; do
    IFS=: read -r shape quant batch only <<< "$run"
    name=${shape}_${quant%-gc}
    args=(--device cuda --tokenizer build/tok --model-shape "$shape" --model-dir "/tmp/m/$shape"
          --gpu-lock "$lock" --unsloth-path /tmp/site_u)
    [ "${quant%-gc}" = nf4 ] && args+=(--quantization nf4)
    trainers=ft
    [ "$batch" = 8 ] && trainers+=,hf_trainer
    if [ "${quant%-gc}" != "$quant" ]; then args+=(--gradient-checkpointing); name+=_gc; else trainers+=,hf_trainer_compile; fi
    trainers+=,trl_sft,unsloth
    [ -n "$only" ] && trainers=${only//+/,}
    [ -n "${WARMUP_S:-}" ] && args+=(--warmup-timeout "$WARMUP_S")
    if [ "$batch" = 8 ]; then args+=(--warmup-steps 4 --steps 4 --repeats 3)
    else args+=(--batch-size "$batch" --warmup-steps 3 --steps 3 --repeats 3); name+=_b$batch; fi
    out=benchmarks/results/train_throughput_h100_$name.json
    rm -f "$out"   # only what this call measured comes back
    outs+=("$out")
    timeout $((deadline - $(date +%s))) python3 benchmarks/train_throughput.py "${args[@]}" --trainers "$trainers" \
        --out "$out" > "/tmp/logs/$name.log" 2>&1 &
  done
  wait
  echo "group done at $(($(date +%s) - start)) s: $group"
done
for f in /tmp/logs/*.log; do
  echo "== $f"; grep -E "^(ft|hf_|trl|unsloth)|failed|Error|error:" "$f" | grep -v "^\[" | tail -12
done
tar czf "$OUT/rows.tgz" $(ls "${outs[@]}" 2>/dev/null) -C /tmp logs

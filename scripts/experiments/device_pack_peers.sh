#!/bin/bash
# Pack, on this machine, what scripts/experiments/device_train_rows.sh needs on a bare GPU machine
# of this workplace (torch 2.11, transformers 5.17, peft 0.21 and accelerate there; no registry):
#   bash scripts/experiments/device_pack_peers.sh [COMMIT]      # COMMIT: the code measured, default HEAD
# writes (all under the ignored build/, 21 MB together, carried by the device call):
#   build/site.tar.xz   the peers' packages, installed for Python 3.12 with `pip install --no-deps --target`:
#                       site_build (trl 1.16, datasets 4.8.5 (< 5: Unsloth's pin) with dill and multiprocess,
#                       liger-kernel, bitsandbytes with its CUDA 13 library only, pydantic, jsonschema, unsloth
#                       and unsloth_zoo without Unsloth Studio's web app (82 MB) and CLI, xformers, torchao,
#                       cut_cross_entropy, tyro and their small dependencies) and site_u (trl 1.15.0: Unsloth
#                       pins trl <= 1.15.0, so its worker alone gets it first on its path)
#   build/tok           the embedded model's tokenizer files
#   build/data/train.jsonl  the SFT pairs COMMIT's dvc.lock names, from the DVC cache
#   build/head          `git archive COMMIT src params.yaml`
# Left out on purpose: diffusers and hf_transfer (Unsloth imports neither on its LoRA path).
set -euo pipefail
commit=${1:-HEAD}
cd "$(git rev-parse --show-toplevel)"
pip="${PIP:-.venv/bin/python -m pip}"
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any"
tmp=$(mktemp -d)
$pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d "$tmp/w" \
    trl==1.16.0 datasets==4.8.5 dill==0.4.1 multiprocess==0.70.19 liger-kernel==0.8.5 bitsandbytes==0.50.2 \
    pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5 jsonschema==4.26.0 \
    jsonschema_specifications==2025.9.1 referencing==0.37.0 rpds_py==2026.9.1 \
    unsloth==2026.10.9 unsloth_zoo==2026.10.9 xformers==0.0.35 torchao==0.18.0 cut_cross_entropy==25.1.1 \
    tyro==1.0.17 docstring_parser==0.18.0 shtab==1.13.0 typeguard==4.6.1 msgspec==0.23.0 structlog==26.1.0 \
    json5==0.17.3 nest_asyncio==1.6.0
$pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d "$tmp/u" trl==1.15.0
$pip install -q --no-deps --no-compile --no-index --only-binary=:all: --python-version 3.12 --implementation cp \
    $platforms --target "$tmp/site_build" "$tmp"/w/*.whl
$pip install -q --no-deps --no-compile --no-index --only-binary=:all: --python-version 3.12 --target "$tmp/site_u" \
    "$tmp"/u/*.whl
rm -rf "$tmp"/site_build/{studio,unsloth_cli,bin} "$tmp/site_u/bin"
find "$tmp/site_build/bitsandbytes" -name 'libbitsandbytes_*.so' ! -name '*cuda130*' ! -name '*cpu*' -delete
mkdir -p build
tar -C "$tmp" -cJf build/site.tar.xz site_build site_u
rm -rf build/tok build/head build/data && mkdir -p build/tok build/head build/data
model=$(.venv/bin/python -c "from fan_timeline.model import resolve_base_model; print(resolve_base_model('embedded:SmolLM2-135M-Instruct'))")
cp "$model"/tokenizer.json "$model"/tokenizer_config.json "$model"/chat_template.jinja build/tok/
md5=$(git show "$commit:dvc.lock" | grep -A2 'path: data/sft/train.jsonl' | awk '/md5:/ {print $2; exit}')
cp ".dvc/cache/files/md5/${md5:0:2}/${md5:2}" build/data/train.jsonl
git archive "$commit" src params.yaml | tar -x -C build/head
rm -rf "$tmp"
du -sh build/site.tar.xz build/tok build/data build/head

"""Data-parallel training (train_qlora.nproc > 1) on CPU: 2 processes under torchrun, gloo; no network.

    pytest tests/test_train_distributed.py        # ~40 s on 2 CPU cores

The stage script launches itself under torchrun, as `dvc repro` runs it. The base model is a tiny
random-init Llama with the real SmolLM2 tokenizer, so the processes spend their time in the code
paths, not in matmuls. The tests prove: a 2-process run, killed while checkpointing and rerun,
resumes and ends with the adapter that 1 process learns (each optimizer step is the same global
batch, its micro-batches shared out); only process 0 writes the outputs and the curves' rows
(each step once); the checkpoint holds every process's RNG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fan_timeline import train as T
from fan_timeline.config import TrainConfig, as_dict, set_values
from fan_timeline.plots import Curves

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "sft_tiny.jsonl"

# A run that resumes must be killed while process 0 writes the checkpoint of step 3: this wrapper
# runs the stage with save_checkpoint patched to die there (in every process, like a real kill).
KILL_AT_STEP_3 = """
import runpy, sys
from fan_timeline.train import recipe
real_save = recipe.save_checkpoint
def save(checkpoint_dir, model, optimizer, state, *args, **kwargs):
    if state["step"] == 3:
        raise SystemExit("killed")
    return real_save(checkpoint_dir, model, optimizer, state, *args, **kwargs)
recipe.save_checkpoint = save   # where train() looks it up
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# Loaded by every Python process of a run (as sitecustomize, through PYTHONPATH): records, per
# process, for how many examples the frozen layers ran (FrozenPrefix.runs).
COUNT_PREFIX_RUNS = """
import atexit, os
from pathlib import Path
from fan_timeline.train import frozen_prefix
made = []
class Counted(frozen_prefix.FrozenPrefix):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        made.append(self)
frozen_prefix.FrozenPrefix = Counted   # what use_frozen_prefix makes
if "RANK" in os.environ:
    atexit.register(lambda: Path(os.environ["PREFIX_RUNS"] + os.environ["RANK"]).write_text(
        str(sum(p.runs for p in made))))
"""


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, tokenizer) -> str:
    """A 2-layer random-init Llama with the real tokenizer, saved like a base model checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def sft_dir(tmp_path_factory) -> Path:
    rows = FIXTURE.read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("sft")
    (path / "train.jsonl").write_text("\n".join(rows[:6]) + "\n", encoding="utf-8")
    (path / "val.jsonl").write_text("\n".join(rows[6:8]) + "\n", encoding="utf-8")
    return path


def config(base: str, nproc: int) -> TrainConfig:
    # 6 examples of ~450 tokens, ~2 per micro-batch, 4 micro-batches a step: each process runs 2;
    # 3 steps are 4 epochs. Dropout off, so 1 and 2 processes compute the same function (only float
    # sums differ). The top layer is adapted: the bottom one's output is cached (FrozenPrefix).
    return TrainConfig(base_model=base, max_seq_len=1024, micro_batch_tokens=1024, grad_accum=4, max_steps=3,
                       learning_rate=2e-3, warmup_ratio=0.0, lora_dropout=0.0, lora_r=4, lora_layers=1,
                       checkpoint_every=2, eval_every=2, logging_every=1, nproc=nproc, threads=2,
                       calibration_windows="none")   # training alone (the stop bias is tested apart)


def run_stage(out: Path, sft: Path, cfg: TrainConfig, wrapper: str | None = None,
              env: dict | None = None) -> subprocess.CompletedProcess:
    params = out / "params.yaml"
    out.mkdir(parents=True, exist_ok=True)
    spec: dict = {}
    set_values(spec, "train_qlora", as_dict(cfg))   # the runtime keys under runtime.train_qlora
    params.write_text(yaml.safe_dump(spec), encoding="utf-8")
    stage = [str(REPO / "stages" / "train_qlora.py"), str(sft), str(out / "adapter"), str(out / "ckpt"),
             str(out / "curves"), str(out / "metrics.json"), "--params", str(params)]
    if wrapper:  # torchrun straight away (the stage's own launcher would not run the wrapper)
        script = out / "wrapper.py"
        script.write_text(wrapper, encoding="utf-8")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={cfg.nproc}",
               str(script), *stage]
    else:
        cmd = [sys.executable, *stage]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def adapter(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter" / "adapter_model.safetensors"))


def assert_same_adapter(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys() and a
    for name, value in a.items():
        torch.testing.assert_close(value, b[name], rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, tiny_base, sft_dir) -> Path:
    """A 2-process run killed while checkpointing step 3, then rerun: it resumes from step 2."""
    out = tmp_path_factory.mktemp("dp2")
    cfg = config(tiny_base, 2)
    killed = run_stage(out, sft_dir, cfg, wrapper=KILL_AT_STEP_3)
    assert killed.returncode != 0 and "killed" in killed.stderr, killed.stderr[-3000:]
    assert [p.name for p in (out / "ckpt").iterdir()] == ["step-0000002"]
    assert not (out / "adapter").exists()
    resumed = run_stage(out, sft_dir, cfg)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return out


def test_two_processes_killed_and_resumed_learn_what_one_process_learns(tmp_path, tiny_base, sft_dir,
                                                                          two_process_run):
    one = tmp_path / "dp1"
    m1 = T.train(config(tiny_base, 1), train_path=sft_dir / "train.jsonl", val_path=sft_dir / "val.jsonl",
                 out_dir=one / "adapter", checkpoint_dir=one / "ckpt", curves_dir=one / "curves",
                 metrics_path=one / "metrics.json", device="cpu", progress=False)
    m2 = json.loads((two_process_run / "metrics.json").read_text())

    assert_same_adapter(adapter(one), adapter(two_process_run))
    assert (m2["nproc"], m1["nproc"]) == (2, 1)
    for key in ("steps", "trained_tokens", "real_tokens"):
        assert m2[key] == m1[key], key
    for key in ("train_loss", "val_loss", "val_loss_initial"):
        assert m2[key] == pytest.approx(m1[key], abs=1e-4), key
    assert m2["val_loss"] < m2["val_loss_initial"]


def test_only_process_0_writes_and_logs_each_step_once(two_process_run):
    import torch

    curves = Curves(two_process_run / "curves")
    assert [step for step, _ in curves.read("loss")] == [1, 2, 3]
    assert [step for step, _ in curves.read("val_loss")] == [0, 2, 3]
    info = json.loads((two_process_run / "adapter" / "train_config.json").read_text())
    assert info["nproc"] == 2
    # The checkpoint keeps every process's RNG (each has its own dropout stream).
    (ckpt,) = (two_process_run / "ckpt").glob("step-*")
    assert len(torch.load(ckpt / "rng.pt", weights_only=True)["ranks"]) == 2


def test_auto_starts_a_process_per_core_and_no_example_runs_the_frozen_layers_twice(tmp_path, tiny_base, sft_dir):
    """`nproc: 0` on this 2-core machine (threads 2) is 2 processes. They hand each other the frozen
    layer's outputs: over 4 epochs each of the 8 examples (6 train, 2 val) runs it once. (3
    micro-batches a step are one epoch here, so no example is in two processes' part of one step.)"""
    from dataclasses import replace

    cfg = replace(config(tiny_base, 0), grad_accum=3, max_steps=4, checkpoint_every=0)
    assert T.resolve_nproc(cfg, "cpu") == 2
    assert T.resolve_nproc(replace(cfg, grad_accum=1), "cpu") == 1   # one micro-batch a step: one process
    assert T.resolve_nproc(replace(cfg, threads=1), "cpu") == 1
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(COUNT_PREFIX_RUNS, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    result = run_stage(tmp_path, sft_dir, cfg, env={"PYTHONPATH": path, "PREFIX_RUNS": str(tmp_path / "runs")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_qlora: 2 processes" in result.stderr
    runs = [int((tmp_path / f"runs{rank}").read_text()) for rank in range(2)]
    assert min(runs) > 0 and sum(runs) == 8, runs
    assert json.loads((tmp_path / "metrics.json").read_text())["nproc"] == 2
    assert json.loads((tmp_path / "adapter" / "train_config.json").read_text())["nproc"] == 2

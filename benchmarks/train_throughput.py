"""Training throughput: fan-timeline's trainer beside the trainers an informed user would pick instead.

    pip install -e '.[bench]'   # trl; on CUDA also liger-kernel, bitsandbytes and unsloth (trl <= 1.15)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_throughput.py --grad-accum 2 \
        --trainers ft,hf_trainer,hf_trainer_compile,trl_sft     # CPU, embedded SmolLM2-135M
    python benchmarks/train_throughput.py --device cuda --model-shape llama-1.2b --quantization nf4 \
        --trainers ft,hf_trainer,hf_trainer_compile,trl_sft,unsloth --warmup-steps 4 --steps 4 --repeats 3 \
        --out benchmarks/results/train_throughput_h100_llama-1.2b_nf4.json
    bash scripts/experiments/device_train_rows.sh       # every GPU row side by side (its header says how)
    python benchmarks/train_throughput.py --device cuda --model-shape llama-7b --quantization nf4 \
        --lora-layers 0 --trainers ft --micro-batch-tokens 2048 --max-seq-len 2048 --grad-accum 4

Results and the exact commands behind them: benchmarks/results/*.json (`--out`), and the table
docs/performance.md generates from them (benchmarks/results_tables.py).

Every trainer trains the same base model on the same SFT pairs (`--data`, tokenized once by
`chat.encode_pair`, loss on the completion + end-of-turn only) with the same LoRA config (the
train_qlora section of `--params`, `--lora-layers` to override) and about the same examples per
optimizer step:

- hf_trainer: the usual script. `AutoModelForCausalLM` (sdpa attention; bitsandbytes NF4 +
  `prepare_model_for_kbit_training` for QLoRA), `get_peft_model`, `Trainer` with
  `DataCollatorForSeq2Seq` (padding to the longest row of the batch), `--batch-size` rows a
  micro-batch, `--grad-accum` micro-batches a step, bf16 autocast on CUDA; one process
  (`--hf-nproc N`: N under torchrun, Trainer's own DDP, the micro-batches of a step split).
- hf_trainer_compile: the same with `torch_compile=True`.
- trl_sft: TRL's `SFTTrainer` with `packing_strategy="bfd"` into rows of ft's micro-batch budget,
  `padding_free`, `completion_only_loss` and, on CUDA, `use_liger_kernel` (`--no-liger` to drop).
- unsloth (CUDA only): Unsloth's `FastLanguageModel` (its Llama kernels; bitsandbytes NF4 for
  QLoRA) and its `get_peft_model` (its own gradient checkpointing, "unsloth", with
  `--gradient-checkpointing`), trained by the `SFTTrainer` Unsloth patches, packed like trl_sft.
  Unsloth pins an older TRL than trl_sft's: `--unsloth-path DIR` goes first on this worker's
  PYTHONPATH (DIR holding that TRL).
- ft: fan-timeline's own step (`train.build_model`, `plan_run`, `static_rows`, `train_step`: the
  functions `train.train` runs each step) with packing, micro-batches of `--micro-batch-tokens`
  tokens (default: the smallest budget whose packed micro-batches hold `--batch-size` examples on
  average, so all take the same examples per step; the table shows ex/step of each), and the
  params' `compile` (CUDA only; `--compile/--no-compile` to override), as `--nproc` data-parallel
  processes under torchrun (default: the params' `nproc`, 0 = auto as the stage resolves it: on
  the CPU one process per core, at most `--grad-accum`; a comma list runs a worker for each).

Each trainer runs in its own worker (its own peak memory: RSS on CPU, summed over the worker's
processes; `torch.cuda.max_memory_allocated` on CUDA, the largest GPU's), warms up
`--warmup-steps` steps, then the parent lets the workers run blocks of `--steps` optimizer steps
in turn (ft, the baselines, then back again, ...) for `--repeats` rounds, and measures the matmul peak of the
machine between blocks (fp32 on CPU, bf16 on CUDA). Tokens/s counts real tokens only (no
padding). MFU = real tokens/s x the FLOPs a token needs / the measured matmul peak, with the
same FLOPs per token for both trainers: the forward pass of every layer, the LM head only where
a trained token is predicted, causal attention, the backward pass (input gradients) through the
adapted layers and the LM head, and the LoRA weight gradients (`flops_per_token`). Work a
trainer does beyond that (logits of prompt tokens, padding) is not counted. Prints medians and
ratios; `--out` writes everything as JSON. A trainer that fails (an import, a shape it refuses,
out of memory) is reported with the end of its output, and the others go on.

Runs side by side on one GPU (`--gpu-lock FILE`, the same FILE for all): each run loads and warms
up its workers under a shared lock on FILE, then times its blocks under an exclusive one, so no
run times while another warms up or times. Started together, the runs of a batch thus warm up at
once and time one after the other. Its workers hand their cached GPU memory back after warming
up and after each block (so the idle workers of every run fit beside the one timing), and each
block starts with one untimed step that allocates it again.

`--model-shape` other than `real` builds a random-init Llama of that shape (seeded; weights
saved once to a temp dir, loaded by both workers the normal way): speed and memory depend on the
shape, not on the values. The vocabulary is max(the shape's, the tokenizer's), so every token id
of the data exists.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: don't spin against other processes

REPO = Path(__file__).resolve().parents[1]
# The peers fan-timeline's trainer is measured against (worker names; results/*.json keys).
BASELINES = ("hf_trainer", "hf_trainer_compile", "trl_sft", "unsloth")

# Llama shapes (random init). smollm2-135m is the embedded model's own shape, smollm2-1.7b its big
# sibling's; llama-1.2b is Llama-3.2-1B's; llama-7b is Llama-2-7B's (vocabulary raised to the
# tokenizer's 49152).
SHAPES = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, head_dim=64, vocab_size=49152, tie_word_embeddings=True,
                         rope_theta=100000.0),
    "smollm2-1.7b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                         num_key_value_heads=32, head_dim=64, vocab_size=49152, tie_word_embeddings=True,
                         rope_theta=130000.0),
    "llama-1.2b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                       num_key_value_heads=8, head_dim=64, vocab_size=128256, tie_word_embeddings=True,
                       rope_theta=500000.0),
    "llama-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, head_dim=128, vocab_size=32000, tie_word_embeddings=False,
                     rope_theta=10000.0),
}


# --------------------------------------------------------------------------------------------
# Model, data, FLOPs


def make_shape_model(shape: str, tokenizer_dir: str, out: Path, device: str) -> str:
    """Save a random-init Llama of `shape` (bf16 on CUDA, fp32 on CPU) with the tokenizer; its dir."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    spec = dict(SHAPES[shape])
    spec["vocab_size"] = max(spec["vocab_size"], len(tokenizer))
    # 32k positions (Llama-3.2's own are 128k): Unsloth truncates a packed row to its max_seq_length and
    # rescales RoPE when that exceeds the config's, and packed rows of a 4x batch pass 8k tokens.
    config = LlamaConfig(**spec, max_position_embeddings=32768, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return str(out)


def model_dims(model_dir: str) -> dict:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    return {"layers": config["num_hidden_layers"], "hidden": config["hidden_size"], "heads": heads,
            "kv_heads": config.get("num_key_value_heads", heads), "head_dim": head_dim,
            "intermediate": config["intermediate_size"], "vocab": config["vocab_size"]}


def flops_per_token(dims: dict, lora: dict, examples: list) -> float:
    """FLOPs per real token that LoRA training on `examples` needs (the same count for both trainers).

    Forward: every linear layer at every position, causal attention (QK^T and PV over the
    n(n+1)/2 pairs of each example), the LM head where a trained token is predicted. Backward:
    input gradients through the frozen weights, attention and LM head of the adapted (top) layers
    (2x forward for attention), and the LoRA products (2x their forward: input and weight grads).
    """
    d, f, L, hd = dims["hidden"], dims["intermediate"], dims["layers"], dims["head_dim"]
    q_out, kv_out = dims["heads"] * hd, dims["kv_heads"] * hd
    shapes = {"q_proj": (d, q_out), "k_proj": (d, kv_out), "v_proj": (d, kv_out), "o_proj": (q_out, d),
              "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}
    linear = sum(i * o for i, o in shapes.values())
    lora_per_token = sum(2 * lora["r"] * (i + o) for name, (i, o) in shapes.items() if name in lora["targets"])
    adapted = lora["layers"] or L
    total = tokens = 0
    for ex in examples:
        n, c = len(ex), ex.n_trained
        attention = 4 * q_out * n * (n + 1) / 2  # QK^T + PV, causal pairs, per layer
        forward = L * (2 * linear * n + attention) + adapted * lora_per_token * n + 2 * d * dims["vocab"] * c
        backward = adapted * (2 * linear * n + 2 * attention + 2 * lora_per_token * n) + 2 * d * dims["vocab"] * c
        total += forward + backward
        tokens += n
    return total / tokens


def matching_budget(lengths: list[int], batch_size: int, max_seq_len: int) -> int:
    """The smallest packing budget (a multiple of 64) whose micro-batches hold `batch_size` examples
    on average over the data, as the baseline's micro-batches do (a shuffled epoch, like a run)."""
    import random

    from fan_timeline.train import plan_micro_batches

    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    budget = max(max_seq_len, 64 * (batch_size * sum(lengths) // len(lengths) // 64))
    while True:
        plan = plan_micro_batches(lengths, order, budget, packing=True)
        if len(lengths) / len(plan) >= batch_size or len(plan) == 1:
            return budget
        budget += 64


def matmul_peak(device: str, seconds: float = 1.0) -> float:
    """Measured FLOP/s of a large matmul: fp32 2048^3 on CPU, bf16 8192^3 on CUDA (random data)."""
    import torch

    if device == "cuda":
        n, dtype = 8192, torch.bfloat16
        a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
        for _ in range(3):
            a @ b
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(10):
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        return 2 * n ** 3 / statistics.median(times)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


# --------------------------------------------------------------------------------------------
# Workers (one per trainer, of one or more data-parallel processes). Protocol: JSON lines on
# stdout; the parent writes "go" to stdin to start a block of `steps` optimizer steps. After its
# last block a worker reports "done" and waits for one more "go" before it exits, so that no
# worker shuts down beside another's timed block. Under torchrun every process inherits stdin and
# stdout; process 0 alone uses them (`dist`: its DataParallel).


def _emit(obj: dict, dist=None) -> None:
    if dist is None or dist.is_main:
        sys.stdout.write("@@" + json.dumps(obj) + "\n")
        sys.stdout.flush()


def _wait_go(dist=None) -> None:
    if dist is None or dist.is_main:
        line = sys.stdin.readline()
        if line.strip() != "go":
            raise SystemExit(f"worker: expected 'go', got {line!r}")
    if dist is not None and dist.world > 1:
        dist.broadcast(None)  # the others wait here for process 0's "go"


def _peak_memory(device, dist=None) -> float:
    """Peak memory in GiB: this process's RSS on CPU, max_memory_allocated on CUDA. With data
    parallelism (`dist`, every process calls this): the sum of the processes' RSS on CPU (one
    machine's memory), the largest GPU's on CUDA (what has to fit on one card)."""
    import resource

    import torch

    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB -> GiB
    if dist is None or dist.world == 1:
        return peak
    peaks = dist.gather(peak)
    return max(peaks) if device.type == "cuda" else sum(peaks)


def _free_gpu_cache(spec: dict) -> None:
    """With runs side by side (`--gpu-lock`): hand this worker's cached GPU memory back, so that the
    workers waiting beside a timed block hold their weights and state only."""
    if spec.get("share_gpu") and spec["device"] == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _load_examples(spec: dict, tokenizer) -> list:
    from fan_timeline import train as T

    return T.load_examples(spec["data"], tokenizer, spec["max_seq_len"])


def worker_ft(spec: dict) -> None:
    """fan-timeline's steps; with `nproc` > 1 this runs in every process torchrun started (data
    parallel, as the stage runs it) and process 0 talks to the parent."""
    import torch

    from fan_timeline import train as T
    from fan_timeline.config import TrainConfig, from_dict
    from fan_timeline.model import load_tokenizer

    cfg = from_dict(TrainConfig, {**spec["train_qlora"], "base_model": spec["model_dir"],
                                  "quantization": spec["quantization"], "max_seq_len": spec["max_seq_len"],
                                  "micro_batch_tokens": spec["micro_batch_tokens"], "grad_accum": spec["grad_accum"],
                                  "max_steps": spec["total_steps"], "lora_layers": spec["lora_layers"],
                                  "packing": True, "compile": spec["compile"],
                                  "gradient_checkpointing": spec["gradient_checkpointing"],
                                  "threads": spec["threads"], "nproc": spec["nproc"]})
    dist, dev = T.init_data_parallel(cfg, spec["device"])  # and this process's CPU threads
    quantization = T.resolve_quantization(cfg, dev)
    tokenizer = load_tokenizer(spec["model_dir"])
    examples = _load_examples(spec, tokenizer)
    micro_plan, total_steps, _ = T.plan_run(cfg, [len(ex) for ex in examples])
    model = T.build_model(cfg, spec["model_dir"], dev, quantization)
    T.own_dropout_stream(cfg, dist)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dev.type == "cuda" else None
    one_row = T.packed_one_row(dev)
    static = T.static_rows(cfg, dev, examples)

    def step(i: int) -> tuple[int, int, int, float]:
        micro = [[examples[j] for j in idx] for idx in micro_plan[i * cfg.grad_accum:(i + 1) * cfg.grad_accum]]
        loss, n_trained, n_tokens, _ = T.train_step(model, optimizer, params, micro, packing=True, one_row=one_row,
                                                     pad_id=tokenizer.pad_token_id, device=dev, autocast=autocast,
                                                     lr=T.lr_at(i, total_steps, cfg), static=static, dist=dist)
        return n_tokens, n_trained, sum(len(mb) for mb in micro), loss / n_trained

    t0 = time.perf_counter()
    losses = []
    for i in range(spec["warmup_steps"]):
        losses.append(step(i)[3])
    i = spec["warmup_steps"]
    if spec.get("profile"):  # where process 0's time of two steps goes, to stderr (shown by the parent)
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(2):
                step(i)
                i += 1
        for key in ("self_cpu_time_total", "self_device_time_total" if dev.type == "cuda" else "cpu_time_total"):
            if dist.is_main:
                print(prof.key_averages().table(sort_by=key, row_limit=25), file=sys.stderr)
    _free_gpu_cache(spec)
    _emit({"ready": True, "warmup_s": time.perf_counter() - t0, "attention": model.config._attn_implementation}, dist)
    for _ in range(spec["repeats"]):
        _wait_go(dist)
        if spec.get("share_gpu"):  # untimed: takes the memory handed back
            losses.append(step(i)[3])
            i += 1
        tokens = trained = n_examples = 0
        t0 = time.perf_counter()
        for _ in range(spec["steps"]):
            n_tokens, n_trained, n_ex, loss = step(i)
            tokens, trained, n_examples = tokens + n_tokens, trained + n_trained, n_examples + n_ex
            losses.append(loss)
            i += 1
        seconds = time.perf_counter() - t0
        _free_gpu_cache(spec)
        _emit({"block": {"seconds": seconds, "steps": spec["steps"], "real_tokens": tokens,
                         "trained_tokens": trained, "examples": n_examples}}, dist)
    _emit({"done": True, "peak_memory_gib": _peak_memory(dev, dist), "losses": losses}, dist)
    _wait_go(dist)
    if dist.world > 1:
        import torch.distributed as td

        td.destroy_process_group()


def _baseline_model(spec: dict, local: int):
    """The usual peft model for the baselines: `AutoModelForCausalLM` (sdpa; bitsandbytes NF4 +
    `prepare_model_for_kbit_training` for QLoRA), LoRA of the params' config on the top layers."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from fan_timeline.model import load_causal_lm

    cuda = spec["device"] == "cuda"
    kwargs = {"dtype": torch.bfloat16 if cuda else torch.float32, "attn_implementation": "sdpa"}
    if spec["quantization"] == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": local}
    model = load_causal_lm(spec["model_dir"], **kwargs)
    if spec["quantization"] == "nf4":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec["gradient_checkpointing"])
    lora_cfg = spec["train_qlora"]
    n_layers = model.config.num_hidden_layers
    top = spec["lora_layers"]
    return get_peft_model(model, LoraConfig(
        task_type="CAUSAL_LM", r=lora_cfg["lora_r"], lora_alpha=lora_cfg["lora_alpha"],
        lora_dropout=lora_cfg["lora_dropout"], target_modules=list(lora_cfg["target_modules"]), bias="none",
        layers_to_transform=list(range(n_layers - top, n_layers)) if 0 < top < n_layers else None))


def _baseline_args(spec: dict, world: int, **extra):
    """The baselines' TrainingArguments (or TRL's SFTConfig via `extra["cls"]`): the params' schedule."""
    from transformers import TrainingArguments

    cls = extra.pop("cls", TrainingArguments)
    cuda, lora_cfg, steps = spec["device"] == "cuda", spec["train_qlora"], spec["total_steps"]
    kwargs = dict(
        output_dir=tempfile.mkdtemp(prefix="baseline-bench-"), per_device_train_batch_size=spec["batch_size"],
        gradient_accumulation_steps=spec["grad_accum"] // world, learning_rate=lora_cfg["learning_rate"],
        lr_scheduler_type=lora_cfg["lr_schedule"], warmup_steps=max(1, round(lora_cfg["warmup_ratio"] * steps)),
        max_steps=steps, weight_decay=0.0, max_grad_norm=1.0, bf16=cuda, use_cpu=not cuda,
        gradient_checkpointing=spec["gradient_checkpointing"] and spec["quantization"] != "nf4",
        logging_steps=10 ** 6, save_strategy="no", report_to="none", disable_tqdm=True, seed=lora_cfg["seed"],
        dataloader_num_workers=0)
    return cls(**{**kwargs, **extra})


def _timed_blocks(spec: dict, counted: dict, dist, dev, started: float, info: dict | None = None):
    """A TrainerCallback that runs the worker protocol: "ready" (with `info`) after the warmup
    steps, then a block of `steps` optimizer steps per "go" (after one untimed step with
    `--gpu-lock`), counting what the collator returned."""
    import torch
    from transformers import TrainerCallback

    class Blocks(TrainerCallback):
        def __init__(self):
            self.step, self.in_block, self.blocks, self.untimed = 0, 0, 0, False
            self.t0, self.mark = 0.0, dict(counted)

        def start_block(self):
            _wait_go(dist)
            self.untimed = bool(spec.get("share_gpu"))
            self.in_block, self.t0, self.mark = 0, time.perf_counter(), dict(counted)

        def on_step_end(self, args, state, control, model=None, **kw):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            self.step += 1
            if self.step < spec["warmup_steps"]:
                return
            if self.step == spec["warmup_steps"]:
                _free_gpu_cache(spec)
                attention = getattr(getattr(model, "config", None), "_attn_implementation", None)
                _emit({"ready": True, "warmup_s": time.perf_counter() - started, "attention": attention,
                       **(info or {})}, dist)
                self.start_block()
                return
            if self.untimed:  # the block starts after it
                self.untimed, self.t0, self.mark = False, time.perf_counter(), dict(counted)
                return
            self.in_block += 1
            if self.in_block < spec["steps"]:
                return
            seconds = time.perf_counter() - self.t0
            real, trained, n_ex = (counted[k] - self.mark[k] for k in ("real", "trained", "examples"))
            if dist.world > 1:  # every process counted its own batches
                real, trained, n_ex = (int(n) for n in dist.all_sum([real, trained, n_ex], dev))
            _free_gpu_cache(spec)
            _emit({"block": {"seconds": seconds, "steps": spec["steps"], "real_tokens": real,
                             "trained_tokens": trained, "examples": n_ex}}, dist)
            self.blocks += 1
            if self.blocks == spec["repeats"]:
                losses = [h["loss"] for h in state.log_history if "loss" in h]
                _emit({"done": True, "peak_memory_gib": _peak_memory(dev, dist), "losses": losses}, dist)
                _wait_go(dist)
                control.should_training_stop = True
                return
            self.start_block()

    return Blocks()


def _baseline_setup(spec: dict):
    """(DataParallel, device, local rank, tokenizer, examples) of a baseline worker; under torchrun
    the Trainer sets the process group up itself."""
    import torch
    from transformers import AutoTokenizer

    from fan_timeline.train import DataParallel, physical_cores

    cuda = spec["device"] == "cuda"
    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    dist = DataParallel(int(os.environ.get("RANK", "0")), world)
    if spec["grad_accum"] % world:
        raise SystemExit(f"baseline: --grad-accum {spec['grad_accum']} does not split over {world} processes")
    if not cuda:
        torch.set_num_threads(max(1, (spec["threads"] or physical_cores()) // world))
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dev = torch.device("cuda", local) if cuda else torch.device("cpu")
    return dist, dev, local, tokenizer, _load_examples(spec, tokenizer)


def worker_hf(spec: dict) -> None:
    """hf_trainer: the usual script, `Trainer` with `DataCollatorForSeq2Seq` (rows padded to the
    longest of the batch). hf_trainer_compile: the same with `torch_compile=True`. With `nproc` > 1
    under torchrun, Trainer runs DDP by itself (each process `--batch-size` rows a micro-batch,
    `--grad-accum` / nproc micro-batches a step)."""
    from transformers import DataCollatorForSeq2Seq, Trainer

    dist, dev, local, tokenizer, examples = _baseline_setup(spec)
    dataset = [{"input_ids": list(ex.input_ids), "labels": ex.labels} for ex in examples]
    model = _baseline_model(spec, local)
    seq2seq = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    counted = {"real": 0, "trained": 0, "examples": 0}

    def collate(features):  # the usual collator, plus counting what it returns
        batch = seq2seq(features)
        counted["real"] += int(batch["attention_mask"].sum())
        counted["trained"] += int((batch["labels"][:, 1:] != -100).sum())
        counted["examples"] += len(features)
        return batch

    args = _baseline_args(spec, dist.world, remove_unused_columns=False,
                          torch_compile=spec["worker"] == "hf_trainer_compile")
    started = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate,
                      callbacks=[_timed_blocks(spec, counted, dist, dev, started)])
    trainer.train()


def worker_trl(spec: dict) -> None:
    """trl_sft: TRL's `SFTTrainer` as its docs recommend for speed: the examples packed best-fit
    decreasing (`packing_strategy="bfd"`) into rows of `--micro-batch-tokens` (what fan-timeline's
    micro-batches hold), padding-free, loss on the completion only (`completion_mask`), and
    Liger kernels where `liger-kernel` runs (CUDA). The pairs go in tokenized by `chat.encode_pair`
    like the others', so every trainer sees the same tokens."""
    import importlib.util

    import datasets
    from trl import SFTConfig, SFTTrainer

    dist, dev, local, tokenizer, examples = _baseline_setup(spec)
    dataset = datasets.Dataset.from_list(
        [{"input_ids": list(ex.input_ids), "completion_mask": [0] * ex.prompt_len + [1] * ex.n_trained}
         for ex in examples])
    model = _baseline_model(spec, local)
    liger = dev.type == "cuda" and importlib.util.find_spec("liger_kernel") is not None and spec["liger"]
    # one packed row of up to --micro-batch-tokens a micro-batch, as fan-timeline's
    args = _baseline_args(spec, dist.world, cls=SFTConfig, per_device_train_batch_size=1, packing=True,
                          packing_strategy="bfd", padding_free=True, completion_only_loss=True,
                          max_length=spec["micro_batch_tokens"], use_liger_kernel=liger, dataset_num_proc=None)
    started = time.perf_counter()
    counted = {"real": 0, "trained": 0, "examples": 0}
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trl_collate = trainer.data_collator

    def collate(features):  # TRL's collator, plus counting what it returns (a padding-free row)
        batch = trl_collate(features)
        counted["real"] += int(batch["input_ids"].numel())
        counted["trained"] += int((batch["labels"] != -100).sum())
        counted["examples"] += int((batch["position_ids"] == 0).sum())
        return batch

    trainer.data_collator = collate
    trainer.add_callback(_timed_blocks(spec, counted, dist, dev, started))
    trainer.train()


def worker_unsloth(spec: dict) -> None:
    """unsloth: what Unsloth's notebooks run, on the same rows as trl_sft. `FastLanguageModel` loads
    the model (bf16, or NF4 through bitsandbytes with double quantization, as the others) with its
    own Llama kernels, `get_peft_model` adds the params' LoRA to the top layers (its own offloaded
    gradient checkpointing, "unsloth", with `--gradient-checkpointing`), and the `SFTTrainer` it
    patches trains with trl_sft's packing: bfd rows of `--micro-batch-tokens`, padding-free,
    completion-only loss (Unsloth's fused loss instead of Liger's)."""
    if spec["device"] != "cuda":
        raise SystemExit("unsloth: runs on CUDA only")
    from unsloth import FastLanguageModel  # before transformers, peft and trl: it patches them on import

    if spec["nproc"] > 1:
        raise SystemExit("unsloth: one process (--hf-nproc 1)")
    import importlib.metadata as md

    import datasets
    import torch
    from trl import SFTConfig, SFTTrainer

    dist, dev, local, tokenizer, examples = _baseline_setup(spec)
    # max_seq_length: Unsloth cuts a (packed) row to it. Checkpointing is asked for twice: both calls
    # default to Unsloth's own ("unsloth"), which the runs without checkpointing must not get.
    checkpointing = "unsloth" if spec["gradient_checkpointing"] else False
    model, _ = FastLanguageModel.from_pretrained(
        model_name=spec["model_dir"], max_seq_length=max(spec["micro_batch_tokens"], spec["max_seq_len"]),
        dtype=torch.bfloat16, load_in_4bit=spec["quantization"] == "nf4", load_in_8bit=False,
        full_finetuning=False, use_gradient_checkpointing=checkpointing)
    lora_cfg, n_layers, top = spec["train_qlora"], model.config.num_hidden_layers, spec["lora_layers"]
    model = FastLanguageModel.get_peft_model(
        model, r=lora_cfg["lora_r"], lora_alpha=lora_cfg["lora_alpha"], lora_dropout=lora_cfg["lora_dropout"],
        target_modules=list(lora_cfg["target_modules"]), bias="none",
        layers_to_transform=list(range(n_layers - top, n_layers)) if 0 < top < n_layers else None,
        use_gradient_checkpointing=checkpointing, random_state=lora_cfg["seed"])
    started = time.perf_counter()
    dataset = datasets.Dataset.from_list(
        [{"input_ids": list(ex.input_ids), "completion_mask": [0] * ex.prompt_len + [1] * ex.n_trained}
         for ex in examples])
    args = _baseline_args(spec, dist.world, cls=SFTConfig, per_device_train_batch_size=1, packing=True,
                          packing_strategy="bfd", padding_free=True, completion_only_loss=True,
                          max_length=spec["micro_batch_tokens"], dataset_num_proc=None, gradient_checkpointing=False)
    counted = {"real": 0, "trained": 0, "examples": 0}
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    unsloth_collate = trainer.data_collator

    def collate(features):  # Unsloth's collator, plus counting what it returns
        batch = unsloth_collate(features)
        mask = batch.get("attention_mask")
        counted["real"] += int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
        counted["trained"] += int((batch["labels"] != -100).sum())
        if batch.get("position_ids") is not None:
            counted["examples"] += int((batch["position_ids"] == 0).sum())
        else:
            counted["examples"] += sum(len(f.get("seq_lengths") or [0]) for f in features)
        return batch

    trainer.data_collator = collate
    info = {"versions": {name: md.version(name) for name in ("unsloth", "unsloth_zoo", "trl")}}
    trainer.add_callback(_timed_blocks(spec, counted, dist, dev, started, info))
    trainer.train()


# --------------------------------------------------------------------------------------------
# The parent


class WorkerFailed(RuntimeError):
    pass


class Worker:
    def __init__(self, name: str, spec: dict, nproc: int = 1):
        """`nproc` > 1: the worker runs as that many data-parallel processes under torchrun (they
        inherit its stdin and stdout; process 0 alone reads and writes them). A thread reads its
        output as it comes (a full pipe would stall the worker): protocol messages to a queue, the
        rest to stderr, its end kept for the report should the worker fail."""
        self.name = name
        launcher = [] if nproc == 1 else ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        cmd = [sys.executable, *launcher, __file__, "--worker", name, "--spec", json.dumps(spec)]
        env = dict(os.environ)
        if name == "unsloth":  # its own compile cache: runs side by side would share ./unsloth_compiled_cache
            env.setdefault("UNSLOTH_COMPILE_LOCATION", tempfile.mkdtemp(prefix="unsloth-compiled-"))
            if spec.get("unsloth_path"):
                env["PYTHONPATH"] = os.pathsep.join(p for p in (spec["unsloth_path"], env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, env=env)
        self.blocks: list[dict] = []
        self.info: dict = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("@@"):
                self.messages.put(json.loads(line[2:]))
            else:
                self.tail.append(line)
                sys.stderr.write(f"[{self.name}] {line}")
        self.messages.put(None)

    def read(self, timeout: float | None = None) -> dict:
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise WorkerFailed(f"no answer within {timeout:.0f} s (--warmup-timeout): " +
                               "".join(self.tail)[-2000:]) from None
        if msg is None:
            raise WorkerFailed(f"exited with {self.proc.wait()}: " + "".join(self.tail)[-4000:])
        return msg

    def go(self) -> dict:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        msg = self.read()
        self.blocks.append(msg["block"])
        return msg["block"]


def summarize(worker: Worker, flops: float, peaks: list[float]) -> dict:
    peak = statistics.median(peaks)
    tok_s = [b["real_tokens"] / b["seconds"] for b in worker.blocks]
    med = statistics.median(tok_s)
    return {
        "tokens_per_s": med, "tokens_per_s_blocks": tok_s,
        "trained_tokens_per_s": statistics.median(b["trained_tokens"] / b["seconds"] for b in worker.blocks),
        "s_per_step": statistics.median(b["seconds"] / b["steps"] for b in worker.blocks),
        "examples_per_step": sum(b["examples"] for b in worker.blocks) / sum(b["steps"] for b in worker.blocks),
        "mfu": med * flops / peak, "peak_memory_gib": worker.info.get("peak_memory_gib"),
        "warmup_s": worker.info.get("warmup_s"), "attention": worker.info.get("attention"),
        "losses": worker.info.get("losses"),
        **({"versions": worker.info["versions"]} if "versions" in worker.info else {}),
    }


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "trl", "liger-kernel", "datasets",
                 "unsloth", "unsloth_zoo", "xformers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit(repo: Path = REPO) -> str:
    """The commit of `repo` measured (`+dirty` with uncommitted changes); `FAN_TIMELINE_COMMIT` when
    set (the GPU machine gets a copy of the tree, not its history)."""
    if os.environ.get("FAN_TIMELINE_COMMIT"):
        return os.environ["FAN_TIMELINE_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPUs"
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return f"{model}, {len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.2f} at start"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model-shape", default="real", choices=["real", *SHAPES],
                        help="real: the configured base model's weights; else a random-init Llama of that shape")
    parser.add_argument("--tokenizer", help="directory with the tokenizer (default: the configured base model)")
    parser.add_argument("--data", default=str(REPO / "data" / "sft" / "train.jsonl"))
    parser.add_argument("--params", default=str(REPO / "params.yaml"), help="LoRA config: its train_qlora section")
    parser.add_argument("--quantization", default="none", choices=["none", "nf4"])
    parser.add_argument("--trainers", default="ft,hf_trainer",
                        help=f"comma list of ft (fan-timeline) and the baselines: {', '.join(BASELINES)}")
    parser.add_argument("--liger", action=argparse.BooleanOptionalAction, default=True,
                        help="trl_sft: Liger kernels where liger-kernel runs (CUDA)")
    parser.add_argument("--batch-size", type=int,
                        help="hf_trainer rows per micro-batch (default 2 on CPU, 8 on CUDA)")
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step (both)")
    parser.add_argument("--micro-batch-tokens", type=int, help="ft token budget (default: batch size x mean length)")
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--lora-layers", type=int, help="adapt the top N layers (default: params; 0 = all)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="ft: compiled layers as CUDA graphs (CUDA only; default: the params' compile)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--profile", action="store_true", help="ft: print a torch.profiler table of 2 steps")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per trainer, interleaved")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = physical cores)")
    parser.add_argument("--nproc", help="ft data-parallel processes, the CPU threads split between them (default: "
                                        "the params' nproc; 0 = auto, as the stage picks); a comma list (1,0) "
                                        "runs an ft worker for each, interleaved like the rest")
    parser.add_argument("--hf-nproc", type=int, default=1,
                        help="baseline processes under torchrun (Trainer's own DDP); default 1, the usual script")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--model-dir", type=Path, help="keep the random-init model here (reused if it exists)")
    parser.add_argument("--gpu-lock", type=Path, help="runs side by side on one GPU: warm up under a shared lock on "
                                                      "this file, time under an exclusive one")
    parser.add_argument("--unsloth-path", help="first on the unsloth worker's PYTHONPATH (its pinned TRL)")
    parser.add_argument("--warmup-timeout", type=float,
                        help="seconds from the start for the workers to load and warm up; one still at it is "
                             "stopped and reported as failed (so runs side by side do not all wait for it)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.spec)
        work = (worker_ft if args.worker.startswith("ft") else worker_trl if args.worker == "trl_sft"
                else worker_unsloth if args.worker == "unsloth" else worker_hf)
        work({**spec, "worker": args.worker})
        return 0

    lock = None
    if args.gpu_lock:  # before anything touches the GPU
        import fcntl

        lock = open(args.gpu_lock, "a")
        fcntl.flock(lock, fcntl.LOCK_SH)

    import torch

    from fan_timeline import train as T
    from fan_timeline.config import TrainConfig, as_dict, from_dict, load_section
    from fan_timeline.model import load_tokenizer, resolve_base_model

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        torch.set_num_threads(args.threads or T.physical_cores())
    params = as_dict(load_section(TrainConfig, args.params))
    lora_layers = params.get("lora_layers", 0) if args.lora_layers is None else args.lora_layers
    compile_ = params.get("compile", False) if args.compile is None else args.compile
    tmp = Path(tempfile.mkdtemp(prefix="train-bench-"))
    try:
        tokenizer_dir = args.tokenizer or resolve_base_model(params["base_model"])
        if args.model_shape == "real":
            model_dir = resolve_base_model(params["base_model"])
        else:
            t0 = time.perf_counter()
            target = args.model_dir or tmp / args.model_shape
            if (target / "config.json").is_file():
                model_dir = str(target)
            else:
                model_dir = make_shape_model(args.model_shape, tokenizer_dir, target, device)
                print(f"random-init {args.model_shape} saved in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        tokenizer = load_tokenizer(model_dir)
        examples = T.load_examples(args.data, tokenizer, args.max_seq_len)
        mean_len = sum(len(ex) for ex in examples) / len(examples)
        batch_size = args.batch_size or (8 if device == "cuda" else 2)
        micro_tokens = args.micro_batch_tokens or matching_budget([len(ex) for ex in examples], batch_size,
                                                                    args.max_seq_len)
        dims = model_dims(model_dir)
        flops = flops_per_token(dims, {"r": params["lora_r"], "targets": params["target_modules"],
                                       "layers": lora_layers}, examples)
        nprocs = [params.get("nproc", 1)] if args.nproc is None else [int(n) for n in args.nproc.split(",")]
        nprocs = [T.resolve_nproc(from_dict(TrainConfig, {**params, "nproc": n, "grad_accum": args.grad_accum,
                                                          "threads": args.threads}), device) for n in nprocs]
        spec = {"device": device, "model_dir": model_dir, "data": args.data, "train_qlora": params,
                "quantization": args.quantization, "max_seq_len": args.max_seq_len, "batch_size": batch_size,
                "grad_accum": args.grad_accum, "micro_batch_tokens": micro_tokens, "lora_layers": lora_layers,
                "compile": compile_, "gradient_checkpointing": args.gradient_checkpointing, "profile": args.profile,
                "threads": args.threads, "liger": args.liger, "warmup_steps": args.warmup_steps, "steps": args.steps,
                "repeats": args.repeats, "share_gpu": lock is not None, "unsloth_path": args.unsloth_path,
                "total_steps": args.warmup_steps + (args.steps + (lock is not None)) * args.repeats + 3}
        procs = {}  # worker name -> processes: "ft", or "ft-1p", "ft-2p", ... for several counts
        for name in (n.strip() for n in args.trainers.split(",") if n.strip()):
            if name == "ft" and len(nprocs) > 1:
                procs.update({f"ft-{n}p": n for n in nprocs})
            else:
                procs[name] = nprocs[0] if name == "ft" else args.hf_nproc
        workers = {name: Worker(name, {**spec, "nproc": n}, n) for name, n in procs.items()}  # loading overlaps
        failed = {}  # worker name -> the end of its output

        def run(name: str, step) -> None:  # one protocol step of a worker; a failure drops it from the run
            try:
                step(workers[name])
            except (WorkerFailed, OSError) as e:  # OSError: "go" to a worker that has exited
                failed[name] = str(e) if isinstance(e, WorkerFailed) else f"{e}: " + "".join(workers[name].tail)
                print(f"{name} failed: {e}", file=sys.stderr, flush=True)

        deadline = time.monotonic() + (args.warmup_timeout or float("inf"))
        for name in procs:  # "ready", after the warm-up
            run(name, lambda w: w.info.update(w.read(args.warmup_timeout and max(1.0, deadline - time.monotonic()))))
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # waits for the other runs' warm-ups and timed blocks
        peaks = [matmul_peak(device)]
        for r in range(args.repeats):
            for name in (list(procs) if r % 2 == 0 else list(procs)[::-1]):
                if name in failed:
                    continue
                run(name, lambda w: w.go())
                if name not in failed:
                    b = workers[name].blocks[-1]
                    print(f"round {r + 1} {name}: {b['real_tokens'] / b['seconds']:.0f} real tok/s, "
                          f"{b['seconds'] / b['steps']:.3f} s/step", file=sys.stderr, flush=True)
                peaks.append(matmul_peak(device))
        for name in procs:
            if name not in failed:
                run(name, lambda w: w.info.update(w.read()))  # "done", sent right after its last block
        for name, w in workers.items():  # the timing is over: now they may exit
            if w.proc.poll() is None:
                try:
                    w.proc.stdin.write("go\n")
                    w.proc.stdin.flush()
                except OSError:
                    pass
            w.proc.wait()
        results = {name: {**summarize(w, flops, peaks), "processes": procs[name]}
                   for name, w in workers.items() if name not in failed}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)

    report = {
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        "commit": git_commit(),
        "machine": machine(device), "device": device, "versions": versions(),
        "model_shape": args.model_shape, "dims": dims, "quantization": args.quantization,
        "data": {"path": args.data, "examples": len(examples), "mean_tokens": mean_len,
                 "trained_fraction": sum(ex.n_trained for ex in examples) / sum(len(ex) for ex in examples)},
        "lora": {"r": params["lora_r"], "alpha": params["lora_alpha"], "dropout": params["lora_dropout"],
                 "targets": params["target_modules"], "layers": lora_layers},
        "gradient_checkpointing": args.gradient_checkpointing,
        "hf_batch_size": batch_size, "grad_accum": args.grad_accum, "ft_micro_batch_tokens": micro_tokens,
        "ft_compile": compile_ and device == "cuda",
        "flops_per_token": flops, "matmul_peak_flops": peaks, "results": results,
        **({"failed": failed} if failed else {}),  # trainer -> the end of its output
        "load_average_end": os.getloadavg()[0],
    }
    # each fan-timeline worker against each baseline, and against the fastest of them
    baselines = {name: r for name, r in results.items() if name in BASELINES}
    if baselines:
        report["strongest_baseline"] = max(baselines, key=lambda n: baselines[n]["tokens_per_s"])
        report["ratios"] = {name: {peer: {"tokens_per_s": r["tokens_per_s"] / b["tokens_per_s"],
                                          "peak_memory": r["peak_memory_gib"] / b["peak_memory_gib"]}
                                   for peer, b in baselines.items()}
                            for name, r in results.items() if name not in BASELINES}
    print_table(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


def print_table(report: dict) -> None:
    peak = statistics.median(report["matmul_peak_flops"])
    unit = "GFLOP/s" if report["device"] == "cpu" else "TFLOP/s"
    scale = 1e9 if report["device"] == "cpu" else 1e12
    print(f"\n{report['machine']}; {report['versions']}")
    print(f"model {report['model_shape']} ({report['quantization']}), LoRA {report['lora']}, "
          f"{report['data']['examples']} examples of {report['data']['mean_tokens']:.0f} tokens on average "
          f"({100 * report['data']['trained_fraction']:.0f}% trained)")
    print(f"hf_trainer: {report['hf_batch_size']} rows x {report['grad_accum']} micro-batches a step; "
          f"ft: {report['ft_micro_batch_tokens']}-token micro-batches x {report['grad_accum']}"
          f"{', compiled' if report['ft_compile'] else ''}; "
          f"matmul peak {peak / scale:.1f} {unit} (median of {len(report['matmul_peak_flops'])}), "
          f"{report['flops_per_token'] / 1e9:.2f} GFLOP per token")
    header = (f"{'trainer':<8}{'procs':>6}{'real tok/s':>11}{'s/step':>9}{'ex/step':>9}{'MFU':>7}{'peak GiB':>10}"
              f"{'warmup s':>10}  attention")
    print(header)
    print("-" * len(header))
    for name, error in report.get("failed", {}).items():
        print(f"{name}: failed: {(error.strip().splitlines() or [''])[-1][:300]}")
    for name, r in report["results"].items():
        mem = f"{r['peak_memory_gib']:.2f}" if r["peak_memory_gib"] is not None else "-"
        print(f"{name:<8}{r['processes']:>6}{r['tokens_per_s']:>11.0f}{r['s_per_step']:>9.3f}"
              f"{r['examples_per_step']:>9.1f}{100 * r['mfu']:>6.1f}%{mem:>10}{r['warmup_s']:>10.1f}  {r['attention']}")
    for name, peers in report.get("ratios", {}).items():
        for peer, ratio in peers.items():
            print(f"{name} / {peer}: {ratio['tokens_per_s']:.2f}x real tokens/s, "
                  f"{ratio['peak_memory']:.2f}x peak memory")


if __name__ == "__main__":
    sys.exit(main())

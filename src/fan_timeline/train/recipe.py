"""The fine-tuning recipe: `train`, which the `train_qlora` stage calls, read top to bottom.

    OMP_WAIT_POLICY=PASSIVE python stages/train_qlora.py

`OMP_WAIT_POLICY=PASSIVE` must be in the environment before torch is imported (the stage script
sets it): with the default active spinning, one competing process on a 2-core machine makes
2 threads several times slower than 1.

What one run does, top to bottom (`train`):

1. Tokenize every pair once with `chat.encode_pair` (the one owner of the chat template); only the
   completion and its end-of-turn token are trained. An example longer than `max_seq_len`, or one
   whose end-of-turn token would not be trained, is an error naming the example: cutting windows
   to size is build_sft's job, and a silently truncated example teaches the model never to stop.
2. Plan the whole run up front: per epoch a seeded shuffle, then micro-batches of at most
   `micro_batch_tokens` tokens. With `packing` no token is padding: on CUDA the examples of a
   micro-batch are concatenated into one row, position ids restarting at 0 per example, and
   attention runs per example (`VARLEN_ATTENTION`: flash attention given the examples' offsets;
   where torch lacks it, transformers' block-diagonal mask from the position ids), so examples
   never attend to each other; on CPU each example of the micro-batch runs as its own row, which
   is ~2x faster there (`packed_one_row`). Without packing, examples are length-bucketed and
   right-padded. The plan is a pure function of (config, data), so a resumed run only needs the
   step number.
3. A plain loop: AdamW on the LoRA weights only, warmup + cosine/linear/constant learning rate,
   gradient accumulation, clipping at 1.0. The loss of a step is the mean over the trained tokens
   of the whole step (not a mean of per-micro-batch means), so packed and padded runs, and any
   split into micro-batches, optimise the same objective. Logits are computed only at the
   positions that predict a trained token (`logits_to_keep`), which skips ~3/4 of the vocabulary
   projection on prompt-heavy data. On the CPU the frozen layers below the adapted ones run once
   per example: their output is kept for later epochs and later val losses (`FrozenPrefix`;
   bit-identical weights).
4. Curves (loss, val_loss, lr, tokens_per_s, grad_norm: `plots.Curves`), an atomic
   checkpoint every `checkpoint_every` steps that a rerun resumes from, the adapter + tokenizer +
   train_config.json at the end, and a metrics JSON.

CPU: fp32 (no native bf16 on these machines), full-precision LoRA (bitsandbytes 4-bit on CPU is
~100x too slow), LoRA layers with a cheaper dropout mask and an in-place adapter add
(`cpu_lora`). CUDA: bf16 autocast, NF4 (QLoRA) when bitsandbytes is installed, and with
`compile` each decoder layer compiled and replayed as a CUDA graph on fixed-shape rows
(`StaticRows`), which removes the kernel-launch overhead that otherwise sets the pace.
`nproc` > 1: data parallel under torchrun (`DataParallel`; the stage script launches it).
docs/performance.md has the measurements.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from fan_timeline import atomic
from fan_timeline.config import TrainConfig
from fan_timeline.plots import Curves
from fan_timeline.train.batches import packed_one_row, static_rows
from fan_timeline.train.checkpoints import (
    CURVES,
    find_checkpoint,
    load_checkpoint,
    run_fingerprint,
    save_adapter,
    save_checkpoint,
)
from fan_timeline.train.data import load_examples
from fan_timeline.train.frozen_prefix import use_frozen_prefix
from fan_timeline.train.lora_model import build_model, resolve_quantization
from fan_timeline.train.parallel import init_data_parallel, own_dropout_stream, rng_state
from fan_timeline.train.plan import lr_at, plan_run
from fan_timeline.train.step import evaluate_loss, train_step

logger = logging.getLogger(__name__)


def train(cfg: TrainConfig, *, train_path: str | os.PathLike, val_path: str | os.PathLike,
          out_dir: str | os.PathLike, checkpoint_dir: str | os.PathLike, curves_dir: str | os.PathLike,
          metrics_path: str | os.PathLike, device: str = "auto", progress: bool = True,
          frozen_prefix: bool = True) -> dict[str, Any]:
    """Fine-tune LoRA adapters on `train_path`, write the adapter to `out_dir`; returns final metrics.

    Resumes from the newest checkpoint in `checkpoint_dir` made with the same config and data (a
    resumed run ends with the same weights as an uninterrupted one). The last checkpoint is kept,
    so rerunning a finished run only re-evaluates and re-saves. Under torchrun (`cfg.nproc` > 1)
    every process runs this; process 0 alone logs, checkpoints and writes the outputs.
    `frozen_prefix=False` turns the `FrozenPrefix` cache off (same result, slower; for tests).
    """
    import torch
    from tqdm.auto import tqdm

    from fan_timeline.model import load_tokenizer, resolve_base_model

    wall_start = time.perf_counter()
    dist, dev = init_data_parallel(cfg, device)
    cfg = replace(cfg, nproc=dist.world)  # auto resolved: the fingerprint and train_config.json say how many
    quantization = resolve_quantization(cfg, dev)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dev.type == "cuda" else None
    is_main = dist.is_main

    base_path = resolve_base_model(cfg.base_model)
    tokenizer = load_tokenizer(base_path)
    pad_id = tokenizer.pad_token_id
    train_examples = load_examples(train_path, tokenizer, cfg.max_seq_len, cfg.decision_weight)
    val_examples = load_examples(val_path, tokenizer, cfg.max_seq_len)
    val_examples = atomic.spread_subset(val_examples, cfg.val_examples)   # keeps the val loss cheap
    lengths = [len(ex) for ex in train_examples]
    micro_plan, total_steps, epochs = plan_run(cfg, lengths)
    eval_every = math.ceil(total_steps / epochs) if cfg.eval_every == "epoch" else cfg.eval_every
    static = static_rows(cfg, dev, train_examples + val_examples)

    model = build_model(cfg, base_path, dev, quantization)
    own_dropout_stream(cfg, dist)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    prefix = use_frozen_prefix(cfg, model, dev, epochs, train_examples, val_examples) if frozen_prefix else None

    fingerprint = run_fingerprint(cfg, base_path, train_examples)
    ckpt_dir = Path(checkpoint_dir)
    resume_from = find_checkpoint(ckpt_dir, fingerprint) if is_main else None  # it removes stale ones
    if dist.world > 1:
        resume_from = dist.broadcast(resume_from)
    state: dict[str, Any] = {"step": 0, "fingerprint": fingerprint, "trained_tokens": 0, "real_tokens": 0,
                             "train_s": 0.0, "recent": [], "val_loss_initial": None}
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, dist, dev)
        logger.info("resuming from %s (step %d of %d)", resume_from, state["step"], total_steps)
        if state["step"] >= total_steps and is_main:   # what `dvc repro -f` of a finished run finds
            print(f"train_qlora: {ckpt_dir} holds this run finished (same params, base model and data): its "
                  f"adapter is written again, nothing is retrained; delete {ckpt_dir} to train from scratch",
                  file=sys.stderr)
    start_step = state["step"]
    recent = deque(state["recent"], maxlen=cfg.logging_every)  # (loss sum, trained tokens) per step

    curves = Curves(curves_dir) if is_main else None
    if curves is not None:
        if resume_from is not None:   # the curves up to the checkpoint's step
            curves.restore(resume_from / CURVES, start_step)
        else:
            curves.clear()

    def log(step: int, values: dict[str, float]) -> None:
        if curves is not None:
            curves.log(step, values)

    if state["val_loss_initial"] is None:
        state["val_loss_initial"] = evaluate_loss(model, val_examples, cfg, pad_id, dev, autocast, dist=dist,
                                                  static=static, prefix=prefix)
        log(0, {"val_loss": state["val_loss_initial"]})
    val_loss = state["val_loss_initial"] if start_step == 0 else None

    bar = tqdm(total=total_steps, initial=start_step, unit="step", disable=not (progress and is_main),
               dynamic_ncols=True, desc="train")
    window_tokens, window_s = 0, 0.0
    for step in range(start_step, total_steps):
        micro = [[train_examples[i] for i in idx]
                 for idx in micro_plan[step * cfg.grad_accum:(step + 1) * cfg.grad_accum]]
        lr = lr_at(step, total_steps, cfg)
        t0 = time.perf_counter()
        loss, n_trained, n_tokens, grad_norm = train_step(
            model, optimizer, params, micro, packing=cfg.packing, one_row=packed_one_row(dev), pad_id=pad_id,
            device=dev, autocast=autocast, lr=lr, dist=dist, static=static, prefix=prefix)
        if prefix is not None and epochs > 1:
            prefix.share(dist)
        dt = time.perf_counter() - t0
        done = step + 1
        state.update(step=done, trained_tokens=state["trained_tokens"] + n_trained,
                     real_tokens=state["real_tokens"] + n_tokens, train_s=state["train_s"] + dt)
        recent.append((loss, n_trained))
        window_tokens += n_tokens
        window_s += dt
        bar.update(1)
        bar.set_postfix(loss=f"{loss / n_trained:.3f}", lr=f"{lr:.2e}", tok_s=f"{n_tokens / dt:.0f}")
        if done % cfg.logging_every == 0 or done == total_steps:
            log(done, {"loss": sum(s for s, _ in recent) / sum(n for _, n in recent),
                       "lr": lr, "tokens_per_s": window_tokens / window_s, "grad_norm": grad_norm})
            window_tokens, window_s = 0, 0.0
        val_loss = None
        if (eval_every and done % eval_every == 0) or done == total_steps:
            val_loss = evaluate_loss(model, val_examples, cfg, pad_id, dev, autocast, dist=dist, static=static,
                                     prefix=prefix)
            log(done, {"val_loss": val_loss})
            if is_main:
                bar.write(f"step {done}/{total_steps}: val loss {val_loss:.4f}")
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == total_steps:
            state["recent"] = list(recent)
            if dist.world == 1:
                save_checkpoint(ckpt_dir, model, optimizer, state, curves)
            else:
                rank_rng = dist.gather(rng_state(dev))  # every process takes part
                if is_main:
                    save_checkpoint(ckpt_dir, model, optimizer, state, curves, rank_rng=rank_rng)
    bar.close()

    if val_loss is None:  # resumed a finished run, or zero steps
        val_loss = evaluate_loss(model, val_examples, cfg, pad_id, dev, autocast, dist=dist, static=static,
                                 prefix=prefix)
    metrics = {
        "train_loss": sum(s for s, _ in recent) / sum(n for _, n in recent) if recent else None,
        "val_loss": val_loss,
        "val_loss_initial": state["val_loss_initial"],
        "tokens_per_s": state["real_tokens"] / state["train_s"] if state["train_s"] else None,
        "steps": state["step"],
        "epochs": round(state["real_tokens"] / sum(lengths), 3),
        "trained_tokens": state["trained_tokens"],
        "real_tokens": state["real_tokens"],
        "train_s": round(state["train_s"], 2),
        "wall_s": round(time.perf_counter() - wall_start, 2),
        "device": str(dev),
        "nproc": dist.world,
        "quantization": quantization,
    }
    if is_main:
        save_adapter(model, tokenizer, cfg, out_dir, base_model_path=base_path,
                     extra={"quantization_resolved": quantization, "train_fingerprint": fingerprint})
        atomic.write_json(metrics_path, metrics)
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
        td.destroy_process_group()
    return metrics

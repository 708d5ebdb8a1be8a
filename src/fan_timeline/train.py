"""LoRA / QLoRA fine-tuning on the SFT pairs: the library the `train_qlora` stage calls.

    OMP_WAIT_POLICY=PASSIVE python stages/train_qlora.py

`OMP_WAIT_POLICY=PASSIVE` must be in the environment before torch is imported (the stage script
sets it): with the default active spinning, one competing process on a 2-core machine makes
2 threads several times slower than 1 (DESIGN.md section 7).

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
4. DVCLive curves (train/loss, train/lr, train/tokens_per_s, train/grad_norm, val/loss), an atomic
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

import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fan_timeline import atomic
from fan_timeline.config import TrainConfig, as_dict

logger = logging.getLogger(__name__)

# Knobs that do not change the trained weights: a checkpoint made with other values still resumes.
_OPERATIONAL_FIELDS = ("checkpoint_every", "eval_every", "logging_every", "threads", "compile", "calibration_windows")
IGNORE_INDEX = -100


# --------------------------------------------------------------------------------------------
# Data parallelism (torchrun)


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run; rank 0 of 1 when not launched by torchrun.

    Every process plans the same run; in each optimizer step process `rank` runs the micro-batches
    `rank, rank + world, ...` of the step and the LoRA gradients are summed across processes, so a
    step is the same global batch, and the same update, for any number of processes.
    """

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float], device: Any) -> list[float]:
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=device)
        td.all_reduce(t)
        return t.tolist()

    def sum_grads(self, params: list) -> None:
        """Sum the gradients of `params` across processes, in one all-reduce (LoRA grads are small)."""
        import torch
        import torch.distributed as td
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = _flatten_dense_tensors(grads)
        td.all_reduce(flat)
        for p, g in zip(params, _unflatten_dense_tensors(flat, grads), strict=True):
            if p.grad is None:
                p.grad = g
            else:
                p.grad.copy_(g)

    def broadcast(self, value: Any) -> Any:
        import torch.distributed as td

        box = [value]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        import torch.distributed as td

        out: list[Any] = [None] * self.world
        td.all_gather_object(out, value)
        return out


def resolve_nproc(cfg: TrainConfig, device: str = "auto") -> int:
    """The processes a run of `cfg` starts: `cfg.nproc`, or for 0 (auto) one per GPU on CUDA or
    per physical core (`threads` if set) on CPU, at most `grad_accum`: each process runs whole
    micro-batches of a step, so one more would idle."""
    import torch

    if cfg.nproc:
        return cfg.nproc
    if resolve_device(device).type == "cuda":
        units = torch.cuda.device_count()
    else:
        units = cfg.threads or physical_cores()
    return max(1, min(units, cfg.grad_accum))


def init_data_parallel(cfg: TrainConfig, device: str = "auto") -> tuple[DataParallel, Any]:
    """(this process's DataParallel, its device): joins torchrun's process group when WORLD_SIZE > 1.

    CUDA: one GPU per process (NCCL). CPU: gloo, and this process gets its share of the cores
    (`threads`, 0 = physical cores, split between the processes). `nproc: 0` (auto) takes the
    processes the launcher started: one when there is none (the stage script launches
    `resolve_nproc`).
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.nproc and world != cfg.nproc:
        if world == 1:
            raise ValueError(f"train_qlora.nproc={cfg.nproc} runs under torchrun: start stages/train_qlora.py, "
                             f"which launches it, or torchrun --nproc-per-node {cfg.nproc} stages/train_qlora.py ...")
        raise ValueError(f"launched with WORLD_SIZE={world} processes but train_qlora.nproc={cfg.nproc}")
    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, (cfg.threads or physical_cores()) // world))
    if world == 1:
        return DataParallel(), dev
    import torch.distributed as td

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"train_qlora.nproc={world} but this machine has {torch.cuda.device_count()} GPU(s)")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not td.is_initialized():
        td.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                              device_id=dev if dev.type == "cuda" else None)
    return DataParallel(rank, world), dev


def own_dropout_stream(cfg: TrainConfig, dist: DataParallel) -> None:
    """Reseed after `build_model`, which seeds the LoRA init alike in every process, so that each
    process draws its own dropout masks (process 0 keeps the single-process stream)."""
    import torch

    if dist.rank:
        torch.manual_seed(cfg.seed + 1_000_003 * dist.rank)


def _rng_state(device: Any) -> dict[str, Any]:
    import torch

    state = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


# --------------------------------------------------------------------------------------------
# Data: read, tokenize once, check


@dataclass(frozen=True)
class Example:
    """One tokenized pair. Ids from `prompt_len` on (completion + end-of-turn) are trained."""

    id: str
    input_ids: tuple[int, ...]
    prompt_len: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_trained(self) -> int:
        return len(self.input_ids) - self.prompt_len

    @property
    def labels(self) -> list[int]:
        """Per-position training target (unshifted, HF convention): the id, or -100 if not trained."""
        return [IGNORE_INDEX] * self.prompt_len + list(self.input_ids[self.prompt_len:])


def read_pairs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The pairs of an SFT JSONL file, with `file:line` errors for malformed rows."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from None
            for key in ("id", "prompt", "completion"):
                if key not in row:
                    raise ValueError(f"{where}: missing field {key!r}")
            completion = row["completion"]
            if (not isinstance(completion, list) or len(completion) != 1
                    or completion[0].get("role") != "assistant" or not isinstance(completion[0].get("content"), str)):
                raise ValueError(f"{where} (id {row['id']}): 'completion' must be one assistant message")
            if not isinstance(row["prompt"], list) or not row["prompt"]:
                raise ValueError(f"{where} (id {row['id']}): 'prompt' must be a non-empty list of messages")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no pairs")
    return rows


def tokenize_pairs(rows: list[dict[str, Any]], tokenizer: Any, max_seq_len: int,
                   source: str = "<pairs>") -> list[Example]:
    """Tokenize every pair once and check that each one trains its completion and end-of-turn."""
    from fan_timeline.chat import encode_pair, end_of_turn_id

    eot = end_of_turn_id(tokenizer)
    examples, problems = [], []
    for row in rows:
        text = row["completion"][0]["content"]
        ids, prompt_len = encode_pair(tokenizer, row["prompt"], text)
        ex_id = str(row["id"])
        if not text.strip() or len(ids) - prompt_len < 2:
            problems.append(f"{ex_id}: empty completion, nothing to train")
        elif eot in ids[prompt_len:-1]:
            problems.append(f"{ex_id}: the completion contains the end-of-turn token "
                            f"{tokenizer.convert_ids_to_tokens(eot)!r}; the model would learn to stop early")
        elif ids[-1] != eot:
            problems.append(f"{ex_id}: the last token is not the end-of-turn token, so stopping is not trained")
        elif len(ids) > max_seq_len:
            problems.append(f"{ex_id}: {len(ids)} tokens ({prompt_len} prompt + {len(ids) - prompt_len} "
                            f"completion) > max_seq_len {max_seq_len}; it would lose its end-of-turn token")
        else:
            examples.append(Example(ex_id, tuple(ids), prompt_len))
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError(f"{source}: {len(problems)} of {len(rows)} examples cannot be trained:\n  {shown}{more}\n"
                         "Shorten the windows in build_sft, or raise train_qlora.max_seq_len.")
    return examples


def load_examples(path: str | os.PathLike, tokenizer: Any, max_seq_len: int) -> list[Example]:
    return tokenize_pairs(read_pairs(path), tokenizer, max_seq_len, source=str(path))


# --------------------------------------------------------------------------------------------
# Plan: which examples go into which micro-batch, for the whole run


def plan_micro_batches(lengths: list[int], order: list[int], budget: int, packing: bool,
                       rng: random.Random | None = None, bucket: int = 64) -> list[list[int]]:
    """Group example indices (taken in `order`) into micro-batches of at most `budget` tokens.

    packing: consecutive examples share a micro-batch while their total fits (no padding).
    Otherwise: within chunks of `bucket` typical batches, sort by length and cut batches whose
    padded size (rows x longest) fits, so rows of one batch have similar lengths; `rng` then
    shuffles the batches of each chunk so steps are not ordered short-to-long.
    """
    batches: list[list[int]] = []
    if packing:
        current, used = [], 0
        for i in order:
            if current and used + lengths[i] > budget:
                batches.append(current)
                current, used = [], 0
            current.append(i)
            used += lengths[i]
        if current:
            batches.append(current)
        return batches
    typical = max(1, budget // max(1, round(sum(lengths) / len(lengths))))
    chunk = bucket * typical
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        current, longest = [], 0
        part_batches = []
        for i in part:
            if current and max(longest, lengths[i]) * (len(current) + 1) > budget:
                part_batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, lengths[i])
        if current:
            part_batches.append(current)
        if rng is not None:
            rng.shuffle(part_batches)
        batches.extend(part_batches)
    return batches


def plan_run(cfg: TrainConfig, lengths: list[int]) -> tuple[list[list[int]], int, int]:
    """(micro-batches in training order, total optimizer steps, epochs planned).

    Deterministic in (cfg, lengths): the order of epoch e is a shuffle seeded by (seed, e).
    """
    micro: list[list[int]] = []
    epoch = 0
    while True:
        rng = random.Random(cfg.seed * 1_000_003 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        micro.extend(plan_micro_batches(lengths, order, cfg.micro_batch_tokens, cfg.packing, rng))
        epoch += 1
        if cfg.max_steps == 0 and epoch >= cfg.epochs:
            return micro, math.ceil(len(micro) / cfg.grad_accum), epoch
        if cfg.max_steps and len(micro) >= cfg.max_steps * cfg.grad_accum:
            return micro[:cfg.max_steps * cfg.grad_accum], cfg.max_steps, epoch


# --------------------------------------------------------------------------------------------
# Batches and loss


@dataclass
class Batch:
    input_ids: Any          # (B, T) long
    position_ids: Any       # (B, T) long
    attention_mask: Any     # (B, T) long for padded rows, None for a packed row
    keep: Any               # (K,) positions whose logits predict a trained token
    targets: Any            # (B, K) next-token ids at `keep`, -100 where not trained
    n_tokens: int           # real tokens (no padding)
    n_trained: int          # trained tokens
    cu_seqlens: Any = None  # (n+1,) int32 example offsets in a packed row, for varlen attention
    max_len: int = 0        # longest example of the packed row
    hidden: Any = None      # (1, T, H) the frozen layers' output for this row (`FrozenPrefix`), or None


@dataclass(frozen=True)
class StaticRows:
    """Fixed shapes for packed rows (compiled layers run without recompiling or re-tracing):
    every row is `tokens` long (the padding tail is a segment of its own, never trained) and
    has `segments` offsets' worth of segments (zero-length ones at the end)."""

    tokens: int
    segments: int


def static_rows(cfg: TrainConfig, device: Any, examples: list[Example]) -> StaticRows | None:
    """StaticRows for `compile` on CUDA with packing (varlen attention); None otherwise."""
    import torch

    if not (cfg.compile and cfg.packing and torch.device(device).type == "cuda" and register_varlen_attention()):
        return None
    return StaticRows(cfg.micro_batch_tokens, cfg.micro_batch_tokens // min(len(ex) for ex in examples) + 1)


def collate(examples: list[Example], packing: bool, pad_id: int, device: Any = "cpu",
            varlen: bool = False, static: StaticRows | None = None) -> Batch:
    """One micro-batch: a packed row (position ids restart per example) or right-padded rows.

    varlen: also give the packed row's example offsets, for `VARLEN_ATTENTION`; with `static`,
    pad the row and the offsets to its fixed shapes.
    """
    import itertools

    import torch

    if packing:
        rows = [[t for ex in examples for t in ex.input_ids]]
        positions = [[p for ex in examples for p in range(len(ex))]]
        labels = [[lab for ex in examples for lab in ex.labels]]
        if static is not None:
            tail = static.tokens - len(rows[0])
            if tail < 0 or len(examples) >= static.segments:
                raise ValueError(f"a micro-batch of {len(examples)} examples, {len(rows[0])} tokens "
                                 f"does not fit {static}")
            rows[0] += [pad_id] * tail
            positions[0] += list(range(tail))
            labels[0] += [IGNORE_INDEX] * tail
    else:
        width = max(len(ex) for ex in examples)
        rows = [list(ex.input_ids) + [pad_id] * (width - len(ex)) for ex in examples]
        positions = [list(range(width)) for _ in examples]
        labels = [ex.labels + [IGNORE_INDEX] * (width - len(ex)) for ex in examples]
    labels_t = torch.tensor(labels, dtype=torch.long)
    # Position t predicts token t+1; keep a position if any row trains the token after it.
    shifted = torch.full_like(labels_t, IGNORE_INDEX)
    shifted[:, :-1] = labels_t[:, 1:]
    keep = (shifted != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
    attention_mask = None
    if not packing:
        attention_mask = torch.tensor([[1] * len(ex) + [0] * (len(rows[0]) - len(ex)) for ex in examples],
                                      dtype=torch.long, device=device)
    cu_seqlens, max_len = None, 0
    if packing and varlen:
        offsets = [0, *itertools.accumulate(len(ex) for ex in examples)]
        max_len = max(len(ex) for ex in examples)
        if static is not None:
            offsets += [static.tokens] * (static.segments + 1 - len(offsets))
            max_len = static.tokens
        cu_seqlens = torch.tensor(offsets, dtype=torch.int32, device=device)
    return Batch(
        input_ids=torch.tensor(rows, dtype=torch.long, device=device),
        position_ids=torch.tensor(positions, dtype=torch.long, device=device),
        attention_mask=attention_mask,
        keep=keep.to(device),
        targets=shifted[:, keep].to(device),
        n_tokens=sum(len(ex) for ex in examples),
        n_trained=sum(ex.n_trained for ex in examples),
        cu_seqlens=cu_seqlens,
        max_len=max_len,
    )


def loss_sum(model: Any, batch: Batch):
    """Summed next-token cross-entropy over the trained tokens of a micro-batch (a 0-d tensor).

    attention_mask=None + position ids that restart is how transformers 5 recognises a packed row
    (masking_utils.find_packed_sequence_indices) and builds a block-diagonal causal mask. With
    `VARLEN_ATTENTION` the example offsets go to the attention instead, and no mask is built.
    """
    import torch.nn.functional as F

    varlen = {}
    if batch.cu_seqlens is not None:
        varlen = {"cu_seq_lens_q": batch.cu_seqlens, "cu_seq_lens_k": batch.cu_seqlens,
                  "max_length_q": batch.max_len, "max_length_k": batch.max_len}
    inputs = {"input_ids": batch.input_ids} if batch.hidden is None else {"inputs_embeds": batch.hidden}
    out = model(**inputs, position_ids=batch.position_ids, attention_mask=batch.attention_mask,
                logits_to_keep=batch.keep, use_cache=False, **varlen)
    logits = out.logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


def packed_one_row(device: Any) -> bool:
    """Whether a packed micro-batch runs as one row (CUDA) or as one row per example (CPU).

    Measured on 2 CPU cores, 3 examples of ~340 tokens, forward + backward: one packed row with
    the block-diagonal mask 20-24 s, one row per example 12 s, padded rows ~2x slower than
    separate. The CPU pays for attention over the masked-out blocks and the materialised mask;
    the GPU wants the big matmuls of one long row. The loss is the same either way.
    """
    import torch

    return torch.device(device).type == "cuda"


def micro_batch_rows(examples: list[Example], *, packing: bool, one_row: bool, pad_id: int,
                     device: Any = "cpu", static: StaticRows | None = None) -> list[Batch]:
    """The forward passes of one micro-batch: a packed row, one row per example, or padded rows.

    A packed row on CUDA carries its example offsets (the model then attends with
    `VARLEN_ATTENTION`, see `build_model`).
    """
    import torch

    if packing and not one_row:
        return [collate([ex], True, pad_id, device) for ex in examples]
    varlen = packing and torch.device(device).type == "cuda"
    return [collate(examples, packing, pad_id, device, varlen=varlen, static=static if varlen else None)]


# Decoder stacks whose forward from `inputs_embeds` is exactly "layers, then norm" (no embedding
# scaling as in Gemma), so the stack can start at any layer given the layer below's output.
_PLAIN_DECODERS = frozenset({"llama", "mistral", "qwen2", "qwen3"})
PREFIX_CACHE_MAX_BYTES = 2 << 30


class FrozenPrefix:
    """The frozen bottom layers' output per example, computed once and reused.

    With adapters on the top `lora_layers` layers only, the layers below them are frozen, carry
    no adapter and no dropout: their output for an example never changes. On the CPU, where every
    example runs as its own row (`packed_one_row`), it is kept for the examples in `keep` (the
    training examples when the run has more than one epoch; the val examples, whose loss is taken
    every `eval_every` steps), and later passes run only the adapted layers from there (20 of
    SmolLM2-135M's 30 layers skipped by default). Same operations on the same shapes: the trained
    weights and val losses are bit-identical to a run without it (tested). Under data parallelism
    the processes hand each other what they computed (`share`), so an example that another
    process trains in the next epoch does not run the frozen layers again.
    """

    def __init__(self, model: Any, n_frozen: int, keep: set[str]):
        import torch

        self.inner = model.get_base_model().model      # the decoder stack (embed, layers, norm)
        self.layers, self.norm = self.inner.layers, self.inner.norm
        self.bottom = torch.nn.ModuleList(list(self.layers)[:n_frozen])
        self.top = torch.nn.ModuleList(list(self.layers)[n_frozen:])
        self.keep = keep
        self.cache: dict[str, Any] = {}
        self.fresh: dict[str, Any] = {}   # cached since the last `share`
        self.runs = 0                     # examples this process ran the frozen layers for

    def _stack(self, layers: Any, norm: Any):
        import contextlib

        @contextlib.contextmanager
        def swapped():
            self.inner.layers, self.inner.norm = layers, norm
            try:
                yield
            finally:
                self.inner.layers, self.inner.norm = self.layers, self.norm
        return swapped()

    def attach(self, example: Example, batch: Batch) -> Batch:
        """`batch` (the row of `example` alone) with the frozen layers' output filled in."""
        import torch

        hidden = self.cache.get(example.id)
        if hidden is None:
            with torch.no_grad(), self._stack(self.bottom, torch.nn.Identity()):
                hidden = self.inner(input_ids=batch.input_ids, position_ids=batch.position_ids,
                                    use_cache=False).last_hidden_state
            self.runs += 1
            if example.id in self.keep:
                self.cache[example.id] = self.fresh[example.id] = hidden
        batch.hidden = hidden
        return batch

    def share(self, dist: DataParallel) -> None:
        """Every process gets the entries the others cached since the last call (a collective:
        all processes call it, after each step)."""
        if dist.world > 1:
            for entries in dist.gather(self.fresh):
                self.cache.update(entries)
        self.fresh = {}

    def adapted_layers_only(self):
        """Within this, the model runs the adapted layers only (the forward takes `inputs_embeds`)."""
        return self._stack(self.top, self.norm)


def use_frozen_prefix(cfg: TrainConfig, model: Any, device: Any, epochs: int, train_examples: list[Example],
                      val_examples: list[Example]) -> FrozenPrefix | None:
    """A FrozenPrefix where it applies (see there) and fits `PREFIX_CACHE_MAX_BYTES`, else None."""
    import torch

    config = model.get_base_model().config
    n_layers = config.num_hidden_layers
    if (torch.device(device).type != "cpu" or not cfg.packing or packed_one_row(device)
            or not 0 < cfg.lora_layers < n_layers or cfg.gradient_checkpointing
            or config.model_type not in _PLAIN_DECODERS):
        return None
    kept = (train_examples if epochs > 1 else []) + val_examples
    cache_bytes = sum(len(ex) for ex in kept) * config.hidden_size * 4
    if cache_bytes > PREFIX_CACHE_MAX_BYTES:
        return None
    logger.info("frozen-prefix cache: layers 0-%d run once for %d examples (%.0f MB)",
                n_layers - cfg.lora_layers - 1, len(kept), cache_bytes / 2**20)
    return FrozenPrefix(model, n_layers - cfg.lora_layers, {ex.id for ex in kept})


def row_losses(model: Any, examples: list[Example], batches: list[Batch], autocast: Any = None,
               prefix: FrozenPrefix | None = None):
    """(batch, summed loss) for each forward row of one micro-batch of `examples`, in order; the
    caller may backward each loss before the next row runs. With `prefix` (rows of one example
    each, see `FrozenPrefix`) the rows start at the lowest adapted layer."""
    import contextlib

    if prefix is not None:
        batches = [prefix.attach(ex, b) for ex, b in zip(examples, batches, strict=True)]
    for batch in batches:
        adapted_only = prefix.adapted_layers_only() if prefix is not None else contextlib.nullcontext()
        with autocast() if autocast else contextlib.nullcontext(), adapted_only:
            loss = loss_sum(model, batch)
        yield batch, loss


def evaluate_loss(model: Any, examples: list[Example], cfg: TrainConfig, pad_id: int, device: Any,
                  autocast: Any = None, one_row: bool | None = None, dist: DataParallel | None = None,
                  static: StaticRows | None = None, prefix: FrozenPrefix | None = None) -> float:
    """Token-weighted mean loss over the trained tokens of `examples` (dropout off).

    With `dist`, each process takes every world-th micro-batch and the sums are all-reduced.
    `static`: the model's layers are compiled for these shapes (see `StaticRows`); `prefix`: the
    frozen layers' outputs are taken from there (`FrozenPrefix`, CPU rows of one example).
    """
    import contextlib

    import torch

    dist = dist or DataParallel()
    if one_row is None:
        one_row = packed_one_row(device)
    lengths = [len(ex) for ex in examples]
    plan = plan_micro_batches(lengths, sorted(range(len(examples)), key=lambda i: lengths[i]),
                              cfg.micro_batch_tokens, cfg.packing)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    # Compiled layers run eagerly here: without a backward pass, CUDA graphs would reuse one
    # layer's output buffer for the next layer (all layers share one compiled graph).
    eager = torch.compiler.set_stance("force_eager") if static is not None else contextlib.nullcontext()
    with torch.no_grad(), eager:
        for idx in plan[dist.rank::dist.world]:
            rows = [examples[i] for i in idx]
            batches = micro_batch_rows(rows, packing=cfg.packing, one_row=one_row, pad_id=pad_id, device=device)
            for batch, loss in row_losses(model, rows, batches, autocast, prefix):
                total += loss.item()
                count += batch.n_trained
    model.train(was_training)
    if dist.world > 1:
        total, count = dist.all_sum([total, count], device)
    return total / count


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then the schedule to 0."""
    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    if step < warmup:
        return cfg.learning_rate * (step + 1) / warmup
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    progress = (step - warmup) / max(1, total_steps - warmup)
    if cfg.lr_schedule == "linear":
        return cfg.learning_rate * (1.0 - progress)
    return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------------------------
# Model


def resolve_device(device: str = "auto"):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def resolve_quantization(cfg: TrainConfig, device: Any) -> str:
    """'nf4' or 'none' for this device; nf4 on CPU is an error (a step takes minutes)."""
    import importlib.util

    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if cfg.quantization == "auto":
        return "nf4" if device.type == "cuda" and has_bnb else "none"
    if cfg.quantization == "nf4":
        if device.type != "cuda":
            raise ValueError("train_qlora.quantization=nf4 needs a CUDA GPU (bitsandbytes 4-bit on CPU "
                             "took 160 s for one step on the 135M model); use quantization: none or auto")
        if not has_bnb:
            raise ValueError("train_qlora.quantization=nf4 needs bitsandbytes: pip install bitsandbytes")
    return cfg.quantization


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores or available, available))


VARLEN_ATTENTION = "fan_timeline_varlen"
_VARLEN: dict[str, Any] = {}


def register_varlen_attention() -> bool:
    """Register `VARLEN_ATTENTION` with transformers; False where torch has no varlen flash attention."""
    import inspect

    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return False
    from transformers import AttentionInterface

    if not _VARLEN:  # the signature of varlen_attn changed between torch releases
        params = inspect.signature(varlen_attn).parameters
        _VARLEN["causal"] = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
        _VARLEN["scale"] = "scale" in params
        _VARLEN["gqa"] = {"enable_gqa": True} if "enable_gqa" in params else None
    AttentionInterface.register(VARLEN_ATTENTION, _varlen_attention)
    return True


def _varlen_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                      dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers attention function for a packed row: flash attention within each example.

    query (1, heads, T, head_dim), key/value (1, kv_heads, T, head_dim); `cu_seq_lens_q` holds the
    example offsets (from `collate`). No (T, T) mask is built and no score crosses examples, so a
    packed row costs sum(len_i^2) attention, not T^2 with most of it masked out as with sdpa.
    """
    import torch
    from torch.nn.attention.varlen import varlen_attn

    if query.shape[0] != 1:
        raise ValueError(f"{VARLEN_ATTENTION} takes one packed row, got a batch of {query.shape[0]} rows")
    cu, longest = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    if cu is None:  # a single sequence
        longest = query.shape[2]
        cu = torch.tensor([0, longest], dtype=torch.int32, device=query.device)
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (T, heads, head_dim)
    dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else q.dtype
    if dtype not in (torch.float16, torch.bfloat16):
        dtype = torch.bfloat16
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    options = dict(_VARLEN["causal"])
    if q.shape[1] != k.shape[1]:
        if _VARLEN["gqa"]:
            options.update(_VARLEN["gqa"])
        else:
            group = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    if _VARLEN["scale"]:
        options["scale"] = scaling
    elif scaling is not None and abs(scaling - q.shape[-1] ** -0.5) > 1e-6:
        raise ValueError(f"this torch's varlen_attn has no scale argument; the model needs {scaling}")
    out = varlen_attn(q, k, v, cu, cu, longest, longest, **options)
    return out.unsqueeze(0), None


def build_model(cfg: TrainConfig, base_path: str, device: Any, quantization: str):
    """The base model with fresh LoRA adapters (seeded); only the adapters require grad.

    CUDA with packing: attention is `VARLEN_ATTENTION` (flash attention per example of a packed
    row) where torch has it, else sdpa with the block-diagonal mask. `compile` compiles each
    decoder layer (CUDA only).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fan_timeline.cpu_lora import speed_up_lora

    attention = "sdpa"
    if device.type == "cuda" and cfg.packing and register_varlen_attention():
        attention = VARLEN_ATTENTION
    kwargs: dict[str, Any] = {"dtype": torch.float32 if device.type == "cpu" else torch.bfloat16,
                              "attn_implementation": attention}
    if quantization == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": device.index or 0}
    model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
    gc_kwargs = {"use_reentrant": False}
    if quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                gradient_checkpointing_kwargs=gc_kwargs)
    else:
        model.to(device)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
    model.config.use_cache = False
    torch.manual_seed(cfg.seed)  # LoRA A init
    n_layers = model.config.num_hidden_layers
    # Adapters on the top `lora_layers` layers only: autograd then stops at the lowest adapted
    # layer, so the backward pass skips the layers below it (frozen and adapter-free).
    layers = list(range(n_layers - cfg.lora_layers, n_layers)) if 0 < cfg.lora_layers < n_layers else None
    lora = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                      lora_dropout=cfg.lora_dropout, target_modules=list(cfg.target_modules), bias="none",
                      layers_to_transform=layers)
    with warnings.catch_warnings():  # peft 0.21 reads transformers' deprecated is_gradient_checkpointing
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = get_peft_model(model, lora)
    if device.type == "cpu":
        speed_up_lora(model)  # cheaper dropout masks and adapter adds (memory-bound on the CPU)
    if cfg.compile and device.type == "cuda":
        # Regional compilation: one compiled graph serves every decoder layer of the same structure.
        # Packed rows with varlen attention have fixed shapes (`StaticRows`), so each layer also
        # runs as a CUDA graph (reduce-overhead): eager PyTorch spends ~30 us of CPU per kernel
        # here, and LoRA layers are many small kernels. Padded rows change shape every step:
        # dynamic shapes, no CUDA graphs. Frozen layers below the adapters (`lora_layers`) are
        # compiled without CUDA graphs: no backward keeps their outputs alive, so each replay
        # would overwrite the output the next layer is reading.
        static = attention == VARLEN_ATTENTION
        adapted = set(layers) if layers else set(range(n_layers))
        for i, layer in enumerate(model.get_base_model().model.layers):
            layer.compile(dynamic=not static, mode="reduce-overhead" if static and i in adapted else None)
    model.train()
    return model


def trainable_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone().cpu() for name, p in model.named_parameters() if p.requires_grad}


# --------------------------------------------------------------------------------------------
# Checkpoints and outputs (all written to a temp dir, then renamed into place)


def run_fingerprint(cfg: TrainConfig, base_path: str, examples: list[Example]) -> str:
    """What a checkpoint must match to be resumed: config (minus operational knobs), base, data."""
    h = hashlib.sha256()
    semantic = {k: v for k, v in as_dict(cfg).items() if k not in _OPERATIONAL_FIELDS}
    h.update(json.dumps({"config": semantic, "base": base_path}, sort_keys=True).encode())
    for ex in examples:
        h.update(ex.id.encode() + b"\0" + str(ex.prompt_len).encode() + b"\0")
        h.update(b",".join(str(t).encode() for t in ex.input_ids) + b"\n")
    return h.hexdigest()


def save_checkpoint(checkpoint_dir: Path, model: Any, optimizer: Any, state: dict[str, Any],
                    live_dir: Path | None = None, rank_rng: list[dict[str, Any]] | None = None) -> Path:
    """Adapter weights, optimizer, RNG, loop state and the DVCLive history so far (DVC deletes a
    stage's outputs before rerunning it, so the history must travel with the checkpoint).

    rank_rng: with data parallelism, the RNG states of every process (each has its own dropout stream).
    """
    import torch
    from safetensors.torch import save_file

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    target = checkpoint_dir / f"step-{state['step']:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=checkpoint_dir))
    try:
        save_file(trainable_state(model), str(tmp / "adapter.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        if rank_rng is not None:
            rng["ranks"] = rank_rng
        torch.save(rng, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        if live_dir is not None and (live_dir / "plots").is_dir():
            shutil.copytree(live_dir / "plots", tmp / "live" / "plots")
        atomic.replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for other in checkpoint_dir.glob("step-*"):  # keep only the newest
        if other != target:
            shutil.rmtree(other, ignore_errors=True)
    return target


def find_checkpoint(checkpoint_dir: Path, fingerprint: str) -> Path | None:
    """The newest complete checkpoint of this run; checkpoints of other runs are removed."""
    if not checkpoint_dir.is_dir():
        return None
    for stale in checkpoint_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    found = None
    for path in sorted(checkpoint_dir.glob("step-*"), reverse=True):
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            state = None
        if found is None and state and state.get("fingerprint") == fingerprint:
            found = path
            continue
        why = "is incomplete" if state is None else "was made with a different config, base model or data"
        if found is None:
            warnings.warn(f"checkpoint {path} {why}; ignoring and removing it", stacklevel=2)
        shutil.rmtree(path, ignore_errors=True)
    return found


def load_checkpoint(path: Path, model: Any, optimizer: Any, dist: DataParallel | None = None,
                    device: Any = None) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / "adapter.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    rng = torch.load(path / "rng.pt", weights_only=True)
    if dist is not None and dist.world > 1:  # nproc is in the fingerprint: the saved world is this one
        mine = rng["ranks"][dist.rank]
        torch.set_rng_state(mine["torch"])
        if "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], device)
        return json.loads((path / "state.json").read_text(encoding="utf-8"))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


def save_adapter(model: Any, tokenizer: Any, cfg: TrainConfig, out_dir: str | os.PathLike, *,
                 base_model_path: str, extra: dict[str, Any] | None = None) -> Path:
    """Write the PEFT adapter (safetensors), the tokenizer and train_config.json, atomically.

    train_config.json holds the params as configured plus the resolved base model, so evaluate and
    export can rebuild the same base (`base_model` may be `embedded:...`, resolved per machine).
    """
    import peft
    import torch
    import transformers

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        _canonical_json(tmp / "adapter_config.json")
        tokenizer.save_pretrained(tmp)
        info = {**as_dict(cfg), "resolved_base_model": base_model_path,
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "peft": peft.__version__}, **(extra or {})}
        (tmp / "train_config.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        atomic.replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _canonical_json(path: Path) -> None:
    """Rewrite a config JSON with sorted keys and sorted lists: PEFT writes `target_modules` from a
    set, in another order on every run, which gave bit-identical weights a new DVC hash (and reran
    evaluate and export)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc = {k: sorted(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v for k, v in doc.items()}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _trim_live_history(live_dir: Path, last_step: int) -> None:
    """Drop DVCLive rows logged after the checkpoint we resume from (they will be logged again)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text(encoding="utf-8").splitlines()
        if not lines:
            continue
        step_col = lines[0].split("\t").index("step")
        kept = [lines[0]] + [ln for ln in lines[1:] if int(ln.split("\t")[step_col]) <= last_step]
        tsv.write_text("\n".join(kept) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The loop


def _train_step(model: Any, optimizer: Any, params: list, micro: list[list[Example]], *, packing: bool,
                one_row: bool, pad_id: int, device: Any, autocast: Any, lr: float,
                dist: DataParallel | None = None, static: StaticRows | None = None,
                prefix: FrozenPrefix | None = None) -> tuple[float, int, int, float]:
    """One optimizer step over `micro`; returns (summed loss, trained tokens, real tokens, grad norm).

    Each forward's summed loss is divided by the step's trained-token count, so the gradient is
    that of the mean over all trained tokens of the step. With `dist`, this process runs every
    world-th micro-batch of the step, and summing the gradients across processes gives the same
    gradient as one process running them all (the count is known to all: they share the plan).
    """
    import torch

    dist = dist or DataParallel()
    for group in optimizer.param_groups:
        group["lr"] = lr
    if static is not None:
        # CUDA graphs reuse their output buffers: a gradient must be added into a .grad of its own,
        # not become the buffer, or the next micro-batch's backward overwrites it.
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
    n_trained = sum(ex.n_trained for mb in micro for ex in mb)
    # Summed on the device (float64: exact for float32 terms), so the host waits once per step.
    total = torch.zeros((), dtype=torch.float64, device=device)
    n_tokens = 0
    for examples in micro[dist.rank::dist.world]:
        batches = micro_batch_rows(examples, packing=packing, one_row=one_row, pad_id=pad_id, device=device,
                                   static=static)
        for batch, loss in row_losses(model, examples, batches, autocast, prefix):
            (loss / n_trained).backward()
            total += loss.detach()
            n_tokens += batch.n_tokens
    total = total.item()
    if dist.world > 1:
        dist.sum_grads(params)
        total, n_tokens = dist.all_sum([total, n_tokens], device)
        n_tokens = int(n_tokens)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0).item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=static is None)
    return total, n_trained, n_tokens, grad_norm


def train(cfg: TrainConfig, *, train_path: str | os.PathLike, val_path: str | os.PathLike,
          out_dir: str | os.PathLike, checkpoint_dir: str | os.PathLike, live_dir: str | os.PathLike,
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
    from dvclive import Live
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
    train_examples = load_examples(train_path, tokenizer, cfg.max_seq_len)
    val_examples = load_examples(val_path, tokenizer, cfg.max_seq_len)
    if 0 < cfg.val_examples < len(val_examples):  # a fixed spread-out subset keeps val loss cheap
        step = len(val_examples) / cfg.val_examples
        val_examples = [val_examples[int(i * step)] for i in range(cfg.val_examples)]
    lengths = [len(ex) for ex in train_examples]
    micro_plan, total_steps, epochs = plan_run(cfg, lengths)
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

    live = None
    if is_main:
        live_path = Path(live_dir)
        if resume_from is not None:
            if (resume_from / "live" / "plots").is_dir():   # the history up to the checkpoint
                shutil.rmtree(live_path / "plots", ignore_errors=True)
                shutil.copytree(resume_from / "live" / "plots", live_path / "plots")
            _trim_live_history(live_path, start_step)
        live = Live(dir=str(live_path), dvcyaml=False, save_dvc_exp=False, report=None,
                    resume=resume_from is not None)

    def log(step: int, values: dict[str, float]) -> None:
        if live is not None:
            live.step = step
            for name, value in values.items():
                live.log_metric(name, value)
            live.make_summary()

    if state["val_loss_initial"] is None:
        state["val_loss_initial"] = evaluate_loss(model, val_examples, cfg, pad_id, dev, autocast, dist=dist,
                                                  static=static, prefix=prefix)
        log(0, {"val/loss": state["val_loss_initial"]})
    val_loss = state["val_loss_initial"] if start_step == 0 else None

    bar = tqdm(total=total_steps, initial=start_step, unit="step", disable=not (progress and is_main),
               dynamic_ncols=True, desc="train")
    window_tokens, window_s = 0, 0.0
    for step in range(start_step, total_steps):
        micro = [[train_examples[i] for i in idx]
                 for idx in micro_plan[step * cfg.grad_accum:(step + 1) * cfg.grad_accum]]
        lr = lr_at(step, total_steps, cfg)
        t0 = time.perf_counter()
        loss, n_trained, n_tokens, grad_norm = _train_step(
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
            log(done, {"train/loss": sum(s for s, _ in recent) / sum(n for _, n in recent),
                       "train/lr": lr, "train/tokens_per_s": window_tokens / window_s,
                       "train/grad_norm": grad_norm})
            window_tokens, window_s = 0, 0.0
        val_loss = None
        if (cfg.eval_every and done % cfg.eval_every == 0) or done == total_steps:
            val_loss = evaluate_loss(model, val_examples, cfg, pad_id, dev, autocast, dist=dist, static=static,
                                     prefix=prefix)
            log(done, {"val/loss": val_loss})
            if is_main:
                bar.write(f"step {done}/{total_steps}: val loss {val_loss:.4f}")
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == total_steps:
            state["recent"] = list(recent)
            if dist.world == 1:
                save_checkpoint(ckpt_dir, model, optimizer, state, Path(live_dir))
            else:
                rank_rng = dist.gather(_rng_state(dev))  # every process takes part
                if is_main:
                    save_checkpoint(ckpt_dir, model, optimizer, state, Path(live_dir), rank_rng=rank_rng)
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
        live.end()
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
        td.destroy_process_group()
    return metrics

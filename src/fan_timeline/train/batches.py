"""Micro-batches as tensors (a packed row, one row per example, or padded rows) and their loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fan_timeline.config import TrainConfig
from fan_timeline.train.attention import register_varlen_attention
from fan_timeline.train.data import IGNORE_INDEX, Example


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
    weights: Any = None     # (B, K) loss weight of each target (decision tokens), or None: all 1


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

    on_cuda = torch.device(device).type == "cuda"
    if not (cfg.compile and cfg.packing and on_cuda and register_varlen_attention()):
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
    target_weights = None
    if any(ex.decisions and ex.decision_weight != 1.0 for ex in examples):
        # Each example's decision positions, where the example starts in its row; shifted like the labels.
        starts = itertools.accumulate((len(ex) for ex in examples[:-1]), initial=0) if packing else [0] * len(examples)
        shifted_w = torch.ones(labels_t.shape, dtype=torch.float32)
        for row, (start, ex) in enumerate(zip(starts, examples)):
            shifted_w[0 if packing else row, [start + i - 1 for i in ex.decisions]] = ex.decision_weight
        target_weights = shifted_w[:, keep].to(device)
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
        weights=target_weights,
        n_tokens=sum(len(ex) for ex in examples),
        n_trained=sum(ex.n_trained for ex in examples),
        cu_seqlens=cu_seqlens,
        max_len=max_len,
    )


def packed_one_row(device: Any) -> bool:
    """Whether a packed micro-batch runs as one row (CUDA) or as one row per example (CPU).

    On the CPU one row per example is about twice as fast as one packed row with the
    block-diagonal mask (docs/performance.md): the CPU pays for attention over the masked-out
    blocks and the materialised mask; the GPU wants the big matmuls of one long row. The loss is
    the same either way.
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


# Decoder stacks whose causal LM is exactly "the stack, then lm_head" (no embedding scaling or logit
# soft-capping as in Gemma): the stack can start at any layer given the layer below's output
# (`FrozenPrefix`), and the logits can be taken in chunks from its last hidden state (`loss_sum`).
PLAIN_DECODERS = frozenset({"llama", "mistral", "qwen2", "qwen3"})

# Trained positions whose logits exist at once on CUDA (`loss_sum`): each chunk's logits are
# recomputed in the backward instead of kept, so a micro-batch never holds all of them (over a
# 49k-128k vocabulary they are the largest tensor of a small model's step).
LOSS_CHUNK_CUDA = 256


def loss_sum(model: Any, batch: Batch, chunk: int | None = None):
    """Summed next-token cross-entropy over the trained tokens of a micro-batch (a 0-d tensor),
    each token times its weight where the batch has weights.

    attention_mask=None + position ids that restart is how transformers 5 recognises a packed row
    (masking_utils.find_packed_sequence_indices) and builds a block-diagonal causal mask. With
    `VARLEN_ATTENTION` the example offsets go to the attention instead, and no mask is built.

    `chunk` (default: LOSS_CHUNK_CUDA on CUDA, 0 on the CPU): the logits of this many trained
    positions at a time, each chunk checkpointed (the same loss and gradients; on the CPU, where
    memory is plenty, the one-pass loss keeps its outputs bit-identical to every earlier run).
    """
    varlen = {}
    if batch.cu_seqlens is not None:
        varlen = {"cu_seq_lens_q": batch.cu_seqlens, "cu_seq_lens_k": batch.cu_seqlens,
                  "max_length_q": batch.max_len, "max_length_k": batch.max_len}
    inputs = {"input_ids": batch.input_ids} if batch.hidden is None else {"inputs_embeds": batch.hidden}
    if chunk is None:
        chunk = LOSS_CHUNK_CUDA if batch.keep.is_cuda else 0
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not chunk or causal_lm.config.model_type not in PLAIN_DECODERS:
        out = model(**inputs, position_ids=batch.position_ids, attention_mask=batch.attention_mask,
                    logits_to_keep=batch.keep, use_cache=False, **varlen)
        return _cross_entropy_sum(out.logits, batch.targets, batch.weights)
    import torch
    from torch.utils.checkpoint import checkpoint

    hidden = causal_lm.model(**inputs, position_ids=batch.position_ids, attention_mask=batch.attention_mask,
                             use_cache=False, **varlen).last_hidden_state[:, batch.keep]
    hidden = hidden.reshape(-1, hidden.size(-1))
    targets = batch.targets.reshape(-1)
    weights = None if batch.weights is None else batch.weights.reshape(-1)
    total = torch.zeros((), device=hidden.device)
    for start in range(0, targets.numel(), chunk):
        part = slice(start, start + chunk)
        total = total + checkpoint(lambda h, t, w: _cross_entropy_sum(causal_lm.lm_head(h), t, w), hidden[part],
                                   targets[part], None if weights is None else weights[part], use_reentrant=False)
    return total


def _cross_entropy_sum(logits: Any, targets: Any, weights: Any):
    import torch.nn.functional as F

    flat = logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1)
    if weights is None:
        return F.cross_entropy(*flat, ignore_index=IGNORE_INDEX, reduction="sum")
    per_token = F.cross_entropy(*flat, ignore_index=IGNORE_INDEX, reduction="none")
    return (per_token * weights.reshape(-1)).sum()

"""The whole run planned up front: which examples go into which micro-batch, in which step, and
each step's learning rate. A pure function of (config, data), so a resumed run needs only the step.
"""

from __future__ import annotations

import math
import random

from fan_timeline.config import TrainConfig


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

"""One optimizer step, and the val loss: the forward passes of each micro-batch and their sums."""

from __future__ import annotations

from typing import Any

from fan_timeline.config import TrainConfig
from fan_timeline.train.batches import Batch, StaticRows, loss_sum, micro_batch_rows, packed_one_row
from fan_timeline.train.data import Example
from fan_timeline.train.frozen_prefix import FrozenPrefix
from fan_timeline.train.parallel import DataParallel
from fan_timeline.train.plan import plan_micro_batches


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


def train_step(model: Any, optimizer: Any, params: list, micro: list[list[Example]], *, packing: bool,
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

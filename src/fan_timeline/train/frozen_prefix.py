"""The frozen bottom layers' output per example, computed once and reused (`FrozenPrefix`, CPU)."""

from __future__ import annotations

import logging
from typing import Any

from fan_timeline.config import TrainConfig
from fan_timeline.train.batches import PLAIN_DECODERS, Batch, packed_one_row
from fan_timeline.train.data import Example
from fan_timeline.train.parallel import DataParallel

logger = logging.getLogger(__name__)


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
            or config.model_type not in PLAIN_DECODERS):
        return None
    kept = (train_examples if epochs > 1 else []) + val_examples
    cache_bytes = sum(len(ex) for ex in kept) * config.hidden_size * 4
    if cache_bytes > PREFIX_CACHE_MAX_BYTES:
        return None
    logger.info("frozen-prefix cache: layers 0-%d run once for %d examples (%.0f MB)",
                n_layers - cfg.lora_layers - 1, len(kept), cache_bytes / 2**20)
    return FrozenPrefix(model, n_layers - cfg.lora_layers, {ex.id for ex in kept})

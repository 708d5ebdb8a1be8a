"""LoRA layers made cheaper for CPU training: the dropout mask and the adapter's add.

PEFT's LoRA linear computes `base(x) + B(A(dropout(x))) * scaling`. On a CPU the frozen matmul
runs near the machine's peak and the rest is memory-bound elementwise work on (tokens x features)
tensors, which costs more than it should (`python benchmarks/cpu_lora_step.py` measures it):

- The dropout mask: `nn.Dropout` draws one random number per element, forward and backward,
  which takes longer than the frozen matmul beside it, seven times per adapted layer. At rate p
  only a p-th of the elements drop, and the gaps between the drops of independent Bernoulli(p)
  trials are independent Geometric(p) counts: `drop_positions` draws those gaps (about n*p
  uniforms, inverse-CDF in float64) and sums them into positions.
  The dropped elements are distributed exactly as with a per-element mask, from the same torch
  generator (seeds and checkpointed RNG states hold); only the random stream differs. Left is one
  scaled copy of the input and a sparse fill, forward and backward.
- The add: `B(a) * scaling` and the sum with the base output are three passes over a
  (tokens x out) tensor, forward, and one more backward. `_fused_forward` adds the adapter into
  the base output in place with one `addmm_(a, B^T, alpha=scaling)`: the same sum, rounded once.

`speed_up_lora` installs both on a PEFT model (train.build_model does on CPU). On CUDA PEFT's
modules stay: there dropout is one fused kernel and the compiled layers fuse the rest.
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch


def drop_positions(n: int, p: float, chunk: int | None = None, device: Any = None) -> torch.Tensor:
    """Sorted flat positions in [0, n) where independent Bernoulli(p) trials come up "drop".

    Gaps are drawn `chunk` at a time (default: enough for n, with 8 standard deviations to spare)
    until they pass n, so any chunk size gives the same distribution.
    """
    log_keep = math.log1p(-p)
    chunk = chunk or int(n * p + 8 * math.sqrt(n * p) + 16)
    parts, start = [], 0
    while start < n:
        u = torch.rand(chunk, dtype=torch.float64, device=device)
        # failures before the next drop: floor(log(1 - u) / log(1 - p)), u uniform in [0, 1)
        gaps = torch.floor(torch.log1p(-u) / log_keep).to(torch.int64) + 1
        positions = torch.cumsum(gaps, 0) + (start - 1)
        parts.append(positions)
        start = int(positions[-1]) + 1
    if not parts:  # n == 0
        return torch.empty(0, dtype=torch.int64, device=device)
    positions = torch.cat(parts) if len(parts) > 1 else parts[0]
    return positions[: int(torch.searchsorted(positions, n))]  # sorted: cut at the first one past the end


class LoraDropout(torch.nn.Module):
    """Inverted dropout at rate p (drops at `drop_positions`, scales the rest by 1 / (1 - p));
    identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        dropped = drop_positions(x.numel(), self.p, device=x.device)
        flat = x.reshape(-1) * (1 / (1 - self.p))  # a new tensor: the fill below cannot touch x
        return flat.index_fill_(0, dropped, 0).view(x.shape)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _fused_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """PEFT LoRA `Linear.forward` for one active, unmerged, plain LoRA adapter (no variant such as
    DoRA, no bias of its own, the input's dtype) on a plain `nn.Linear`: base(x) +
    B(A(dropout(x))) * scaling with the adapter added in place. Any other case (merged, disabled,
    several adapters, extra arguments, ...) goes to PEFT's own forward."""
    adapters = self.active_adapters
    name = adapters[0] if len(adapters) == 1 else None
    if (args or kwargs or self.disable_adapters or self.merged or name not in self.lora_A
            or name in self.lora_variant or self.lora_B[name].bias is not None
            or x.dtype != self.lora_A[name].weight.dtype or type(self.base_layer) is not torch.nn.Linear):
        return type(self).forward(self, x, *args, **kwargs)
    rows = x.reshape(-1, x.shape[-1])
    result = torch.nn.functional.linear(rows, self.base_layer.weight, self.base_layer.bias)
    a = self.lora_A[name](self.lora_dropout[name](rows))
    # In place: the linear's backward does not need its output.
    result.addmm_(a, self.lora_B[name].weight.t(), alpha=self.scaling[name])
    return result.view(*x.shape[:-1], result.shape[-1])


def speed_up_lora(model: Any) -> int:
    """Give every PEFT LoRA linear of `model` `LoraDropout` (same rate; rate 0 stays PEFT's
    identity) and `_fused_forward`; returns how many layers it changed."""
    from peft.tuners.lora import Linear

    changed = 0
    for module in model.modules():
        if not isinstance(module, Linear):
            continue
        for name, dropout in module.lora_dropout.items():
            if isinstance(dropout, torch.nn.Dropout) and dropout.p > 0:
                module.lora_dropout[name] = LoraDropout(dropout.p).train(dropout.training)
        module.forward = types.MethodType(_fused_forward, module)
        changed += 1
    return changed

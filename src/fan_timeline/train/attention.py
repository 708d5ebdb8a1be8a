"""Flash attention within each example of a packed row (`VARLEN_ATTENTION`), for transformers."""

from __future__ import annotations

from typing import Any

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

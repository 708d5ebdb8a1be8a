"""The base model with fresh LoRA adapters: quantized, attention and compilation as the device allows."""

from __future__ import annotations

import warnings
from typing import Any

from fan_timeline.config import TrainConfig
from fan_timeline.train.attention import VARLEN_ATTENTION, register_varlen_attention


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


def build_model(cfg: TrainConfig, base_path: str, device: Any, quantization: str):
    """The base model with fresh LoRA adapters (seeded); only the adapters require grad.

    CUDA with packing: attention is `VARLEN_ATTENTION` (flash attention per example of a packed
    row) where torch has it, else sdpa with the block-diagonal mask. `compile` compiles each
    decoder layer (CUDA only).
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from fan_timeline.cpu_lora import speed_up_lora
    from fan_timeline.model import load_causal_lm

    attn = "sdpa"
    if device.type == "cuda" and cfg.packing and register_varlen_attention():
        attn = VARLEN_ATTENTION
    kwargs: dict[str, Any] = {"dtype": torch.float32 if device.type == "cpu" else torch.bfloat16,
                              "attn_implementation": attn}
    if quantization == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": device.index or 0}
    model = load_causal_lm(base_path, **kwargs)
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
        # would overwrite the output the next layer is reading. With gradient checkpointing no layer
        # runs as a CUDA graph, for the same reason: the backward replays a layer's forward, which
        # overwrites the outputs the layer above still needs (compiled kernels, fixed shapes remain).
        static = attn == VARLEN_ATTENTION
        graphs = static and not cfg.gradient_checkpointing
        adapted = set(layers) if layers else set(range(n_layers))
        for i, layer in enumerate(model.get_base_model().model.layers):
            layer.compile(dynamic=not static, mode="reduce-overhead" if graphs and i in adapted else None)
    model.train()
    return model

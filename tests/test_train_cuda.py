"""The trainer on a CUDA GPU: varlen attention on packed rows, and QLoRA NF4 (bitsandbytes). Skipped without CUDA.

    pytest -s tests/test_train_cuda.py        # ~1 minute on an H100; prints the losses

CI has no GPU; run these where one is. The base model is a random-init Llama of SmolLM2-135M's
shape (bf16) with the real tokenizer (the base model's, or the directory in
$FAN_TIMELINE_TEST_TOKENIZER where the embedded model is not installed). They prove: a packed row
with varlen flash attention gives the loss and gradients of separate rows with sdpa (so examples
do not attend to each other), also padded to the fixed shapes that `compile` uses; compiled
layers (CUDA graphs) train like eager ones, with all layers adapted or only the top ones; NF4
QLoRA steps lower the loss and change only LoRA weights (the 4-bit base weights stay
bit-identical); `train` runs end to end with quantization nf4.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from fan_timeline import train as T
from fan_timeline.config import TrainConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FIXTURE = Path(__file__).parent / "data" / "sft_tiny.jsonl"
CUDA = torch.device("cuda", 0)


@pytest.fixture(scope="module")
def tokenizer_dir() -> str:
    if os.environ.get("FAN_TIMELINE_TEST_TOKENIZER"):
        return os.environ["FAN_TIMELINE_TEST_TOKENIZER"]
    from fan_timeline.model import DEFAULT_BASE_MODEL, resolve_base_model

    return resolve_base_model(DEFAULT_BASE_MODEL)


@pytest.fixture(scope="module")
def base(tmp_path_factory, tokenizer_dir) -> str:
    """SmolLM2-135M's shape, random init, bf16, saved like a base checkpoint with the tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, tie_word_embeddings=True,
                         max_position_embeddings=8192, rope_theta=100000.0, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("smollm2-shape")
    LlamaForCausalLM._from_config(config, dtype=torch.bfloat16).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tokenizer(base):
    from fan_timeline.model import load_tokenizer

    return load_tokenizer(base)


@pytest.fixture(scope="module")
def examples(tokenizer):
    return T.load_examples(FIXTURE, tokenizer, 1024)


def bf16_autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16)


def lora_grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten().float() for p in model.parameters() if p.requires_grad and p.grad is not None])


def test_packed_row_with_varlen_attention_matches_separate_rows(base, tokenizer, examples):
    pad = tokenizer.pad_token_id
    autocast = bf16_autocast
    cfg = TrainConfig(base_model=base, micro_batch_tokens=4096, lora_dropout=0.0, quantization="none")
    model = T.build_model(cfg, base, CUDA, "none")
    assert model.config._attn_implementation == T.VARLEN_ATTENTION
    sdpa = T.build_model(TrainConfig(**{**cfg.__dict__, "packing": False}), base, CUDA, "none")
    assert sdpa.config._attn_implementation == "sdpa"
    data = examples[:6]

    packed = T.evaluate_loss(model, data, cfg, pad, CUDA, autocast, one_row=True)
    separate = T.evaluate_loss(sdpa, data, cfg, pad, CUDA, autocast, one_row=False)
    print(f"\nloss: packed row, varlen attention {packed:.5f}; separate rows, sdpa {separate:.5f}")
    assert packed == pytest.approx(separate, rel=2e-3)

    # Fixed shapes for compiled layers (`compile`): the row padded to the budget with an untrained
    # tail segment, the offsets padded with zero-length segments. Same loss.
    static = T.StaticRows(4096, 20)
    padded = T.evaluate_loss(model, data, cfg, pad, CUDA, autocast, one_row=True, static=static)
    print(f"loss: packed row padded to {static}: {padded:.5f}")
    assert padded == pytest.approx(packed, rel=1e-3)

    # Gradients too: one packed row vs the same examples as separate rows.
    (batch,) = T.micro_batch_rows(data, packing=True, one_row=True, pad_id=pad, device=CUDA)
    assert batch.cu_seqlens is not None and batch.cu_seqlens.tolist()[-1] == batch.input_ids.shape[1]
    with autocast():
        T.loss_sum(model, batch).backward()
    for ex in data:
        (row,) = T.micro_batch_rows([ex], packing=True, one_row=False, pad_id=pad, device=CUDA)
        with autocast():
            T.loss_sum(sdpa, row).backward()
    a, b = lora_grads(model), lora_grads(sdpa)
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    print(f"LoRA gradient cosine, packed varlen vs separate sdpa: {cosine:.5f}")
    assert cosine > 0.999


@pytest.mark.parametrize("lora_layers, checkpointing", [(0, False), (10, False), (10, True)],
                         ids=["all-layers", "top-10", "top-10-gradient-checkpointing"])
def test_compiled_layers_train_like_eager_ones(base, tokenizer, examples, lora_layers, checkpointing):
    """All layers adapted, and the default top 10 (the frozen 20 below run without CUDA graphs);
    with gradient checkpointing (no CUDA graphs: the backward replays each layer's forward)."""
    pad = tokenizer.pad_token_id
    autocast = bf16_autocast
    data = examples[:6]

    def losses(compile_: bool) -> list[float]:
        cfg = TrainConfig(base_model=base, micro_batch_tokens=4096, lora_dropout=0.0, learning_rate=2e-3,
                          compile=compile_, lora_layers=lora_layers, gradient_checkpointing=checkpointing)
        model = T.build_model(cfg, base, CUDA, "none")
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        static = T.static_rows(cfg, CUDA, data)
        assert (static is not None) == compile_
        out = []
        for _ in range(5):  # 2 micro-batches a step: gradients accumulate across CUDA graph replays
            total, n, _, _ = T.train_step(model, optimizer, params, [data[:3], data[3:]], packing=True,
                                           one_row=True, pad_id=pad, device=CUDA, autocast=autocast,
                                           lr=cfg.learning_rate, static=static)
            out.append(total / n)
        # The val loss of a compiled model (its layers run eagerly there), then training goes on.
        out.append(T.evaluate_loss(model, data, cfg, pad, CUDA, autocast, static=static))
        out.append(T.train_step(model, optimizer, params, [data], packing=True, one_row=True, pad_id=pad,
                                 device=CUDA, autocast=autocast, lr=cfg.learning_rate, static=static)[0] / n)
        return out

    eager, compiled = losses(False), losses(True)
    print(f"\nloss per step, eager    {[round(x, 4) for x in eager]}"
          f"\n             compiled {[round(x, 4) for x in compiled]}")
    assert compiled == pytest.approx(eager, rel=1e-2)
    assert compiled[-1] < compiled[0] - 0.5


def test_nf4_steps_lower_the_loss_and_change_only_lora_weights(base, tokenizer, examples):
    pytest.importorskip("bitsandbytes")
    cfg = TrainConfig(base_model=base, quantization="nf4", micro_batch_tokens=4096, lora_dropout=0.0,
                      learning_rate=3e-3)
    model = T.build_model(cfg, base, CUDA, T.resolve_quantization(cfg, CUDA))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    four_bit = [n for n, p in model.named_parameters() if p.dtype == torch.uint8]
    assert four_bit, "no 4-bit weights: NF4 quantization did not happen"
    lora = T.trainable_state(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    autocast = bf16_autocast
    pad = tokenizer.pad_token_id
    data = examples[:4]

    before = T.evaluate_loss(model, data, cfg, pad, CUDA, autocast)
    for _ in range(15):
        T.train_step(model, optimizer, params, [data], packing=True, one_row=True, pad_id=pad, device=CUDA,
                      autocast=autocast, lr=cfg.learning_rate)
    after = T.evaluate_loss(model, data, cfg, pad, CUDA, autocast)
    print(f"\nNF4 QLoRA, 15 steps on 4 examples: loss {before:.4f} -> {after:.4f}; "
          f"{len(four_bit)} 4-bit base weights, {len(frozen)} frozen tensors checked")
    assert after < before - 0.5
    for name, value in model.named_parameters():
        if name in frozen:
            assert torch.equal(value, frozen[name]), f"base weight {name} changed"
    changed = [n for n, v in T.trainable_state(model).items() if not torch.equal(v, lora[n])]
    assert len(changed) == len(lora)


def test_train_runs_end_to_end_with_nf4(tmp_path, base, examples):
    pytest.importorskip("bitsandbytes")
    rows = FIXTURE.read_text(encoding="utf-8").splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(rows[:6]) + "\n", encoding="utf-8")
    (tmp_path / "val.jsonl").write_text("\n".join(rows[6:]) + "\n", encoding="utf-8")
    cfg = TrainConfig(base_model=base, quantization="auto", micro_batch_tokens=2048, grad_accum=1, max_steps=12,
                      learning_rate=3e-3, checkpoint_every=5, eval_every=0, logging_every=2)
    m = T.train(cfg, train_path=tmp_path / "train.jsonl", val_path=tmp_path / "val.jsonl",
                out_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt", curves_dir=tmp_path / "curves",
                metrics_path=tmp_path / "metrics.json", device="cuda", progress=False)
    print(f"\ntrain(): {json.dumps(m)}")
    assert m["quantization"] == "nf4" and m["device"].startswith("cuda")
    assert m["val_loss"] < m["val_loss_initial"] - 0.5
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()

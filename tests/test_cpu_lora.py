"""Tests of the CPU LoRA layers (fan_timeline.cpu_lora). The dropout: dropped positions are
independent Bernoulli trials at the rate, the rest is scaled, the gradient carries the same mask,
the stream is the seeded torch generator's. The fused forward: the same outputs and gradients as
PEFT's own forward, which still serves every case it does not cover. And a CPU model trains with
both as with PEFT's modules.

    pytest tests/test_cpu_lora.py     # ~30 s on 2 CPU cores
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fan_timeline.cpu_lora import LoraDropout, drop_positions, speed_up_lora


@pytest.mark.parametrize("chunk", [None, 7])  # 7: many rounds of gap draws, each ending past the last
def test_drop_positions_are_bernoulli_trials(chunk):
    torch.manual_seed(0)
    n, p = 200_003, 0.05
    rounds = [drop_positions(n, p, chunk) for _ in range(5)]
    for positions in rounds:
        assert positions.dtype == torch.int64 and 0 <= positions.min() and positions.max() < n
        assert bool((positions[1:] > positions[:-1]).all())  # sorted, each position once
    dropped = torch.zeros(len(rounds), n, dtype=torch.bool)
    for row, positions in zip(dropped, rounds, strict=True):
        row[positions] = True
    # 1M trials: the rate's standard error is 2.2e-4; the head and tail of the range (where the
    # first gap starts and the last round stops) and every decile drop at the same rate.
    assert dropped.float().mean().item() == pytest.approx(p, abs=1.5e-3)
    for part in (dropped[:, :5000], dropped[:, -5000:], *dropped.chunk(10, dim=1)):
        assert part.float().mean().item() == pytest.approx(p, rel=0.15 if part.shape[1] > 5000 else 0.3)
    # Independent trials: a drop says nothing about its neighbour.
    assert (dropped[:, 1:] & dropped[:, :-1]).float().mean().item() == pytest.approx(p * p, rel=0.25)


def test_drops_at_the_rate_scales_the_rest_and_passes_the_mask_to_the_gradient():
    torch.manual_seed(0)
    dropout = LoraDropout(0.05)
    x = (torch.rand(1000, 1001) + 0.5).requires_grad_()  # no zeros of its own
    y = dropout(x)
    dropped = y == 0
    assert dropped.float().mean().item() == pytest.approx(0.05, abs=1.5e-3)
    torch.testing.assert_close(y[~dropped], x[~dropped] / 0.95, rtol=1e-6, atol=0)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, (~dropped).float() / 0.95, rtol=1e-6, atol=0)
    assert x.min().item() >= 0.5  # the input itself is untouched


def test_seeded_stream_eval_mode_rate_zero_and_empty_input():
    x = torch.ones(64, 576)
    torch.manual_seed(1)
    first, second = LoraDropout(0.1)(x), LoraDropout(0.1)(x)
    torch.manual_seed(1)
    assert torch.equal(LoraDropout(0.1)(x), first)  # the torch generator: seeds and checkpoints hold
    assert not torch.equal(first, second)  # a fresh mask every call
    assert LoraDropout(0.1).eval()(x) is x and LoraDropout(0.0)(x) is x
    assert LoraDropout(0.1)(x.t()).shape == (576, 64)  # any layout
    assert LoraDropout(0.1)(torch.ones(0, 576)).shape == (0, 576)
    with pytest.raises(ValueError, match="dropout rate"):
        LoraDropout(1.0)


class _Tiny(torch.nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.proj = torch.nn.Linear(12, 20, bias=bias)

    def forward(self, x):
        return self.proj(x)


def _tiny_peft(bias: bool, dropout: float, lora_bias: bool = False):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["proj"], lora_bias=lora_bias)
    model = get_peft_model(_Tiny(bias), config)
    with torch.no_grad():
        model.base_model.model.proj.lora_B["default"].weight.normal_()  # B starts at 0: make the adapter count
    return model


def _forward_backward(model, x, seed=0):
    torch.manual_seed(seed)
    y = model(x)
    grads = torch.autograd.grad((y * torch.arange(y.numel()).view(y.shape).cos()).sum(),
                                [x] + [p for p in model.parameters() if p.requires_grad])
    return y.detach(), grads


# PEFT: such a layer cannot be merged; not tested here
@pytest.mark.filterwarnings("ignore:`lora_bias=True` was passed")
@pytest.mark.parametrize("bias", [False, True])
def test_fused_forward_gives_peft_outputs_and_gradients(bias):
    x = torch.randn(2, 5, 12, requires_grad=True)
    for dropout in (0.0, 0.3):
        model = _tiny_peft(bias, dropout)
        if dropout:  # the same dropout module on both sides, so the same seed drops the same elements
            model.base_model.model.proj.lora_dropout["default"] = LoraDropout(dropout)
        y_peft, g_peft = _forward_backward(model, x)
        assert speed_up_lora(model) == 1 and "forward" in vars(model.base_model.model.proj)
        y_fused, g_fused = _forward_backward(model, x)
        torch.testing.assert_close(y_fused, y_peft, rtol=1e-5, atol=1e-6)
        for a, b in zip(g_fused, g_peft, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        if dropout:  # and the dropout is on the adapter's path: another draw, another output
            assert not torch.allclose(_forward_backward(model, x, seed=1)[0], y_fused)

    # The cases it does not cover go to PEFT's forward: an adapter with a bias of its own, adapters
    # disabled, merged weights.
    with_bias = _tiny_peft(bias, 0.0, lora_bias=True)
    with torch.no_grad():
        with_bias.base_model.model.proj.lora_B["default"].bias.normal_()
    y_peft, g_peft = _forward_backward(with_bias, x)
    speed_up_lora(with_bias)
    y_fused, g_fused = _forward_backward(with_bias, x)
    torch.testing.assert_close(y_fused, y_peft, rtol=1e-5, atol=1e-6)
    proj = model.base_model.model.proj
    model.eval()
    with torch.no_grad():
        with model.disable_adapter():
            torch.testing.assert_close(model(x), proj.base_layer(x))
        unmerged = model(x)
        model.merge_adapter()
        assert proj.merged
        torch.testing.assert_close(model(x), unmerged, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_cpu_model_uses_them_and_trains_as_with_peft_modules(base_model_path, tokenizer):
    from peft.tuners.lora import Linear

    from fan_timeline import train as T
    from fan_timeline.config import TrainConfig

    torch.set_num_threads(T.physical_cores())
    examples = T.tokenize_pairs(T.read_pairs(Path(__file__).parent / "data" / "sft_tiny.jsonl"), tokenizer, 512)
    data = sorted(examples, key=len)[:2]
    pad = tokenizer.pad_token_id
    cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=512, lora_dropout=0.1, learning_rate=2e-3, lora_layers=4)

    def three_steps(peft_modules: bool) -> tuple[float, float]:
        model = T.build_model(cfg, base_model_path, torch.device("cpu"), "none")
        lora = [m for m in model.modules() if isinstance(m, Linear)]
        assert len(lora) == 7 * cfg.lora_layers
        assert all(isinstance(m.lora_dropout["default"], LoraDropout) and m.training and "forward" in vars(m)
                   for m in lora)
        if peft_modules:  # the reference: PEFT's own modules, as on CUDA
            for module in lora:
                module.lora_dropout["default"] = torch.nn.Dropout(cfg.lora_dropout)
                del module.forward
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        before = T.evaluate_loss(model, data, cfg, pad, "cpu")
        for step in range(3):
            T.train_step(model, optimizer, params, [[data[step % 2]]], packing=True, one_row=True, pad_id=pad,
                          device="cpu", autocast=None, lr=cfg.learning_rate)
        return before, T.evaluate_loss(model, data, cfg, pad, "cpu")

    before, ours = three_steps(peft_modules=False)
    same_before, peft = three_steps(peft_modules=True)
    assert before == same_before  # eval mode: no dropout either way
    assert ours < before - 0.3 and peft < before - 0.3
    # Different random streams, the same training: the two losses differ by far less than the step moved them.
    assert abs(ours - peft) < 0.1 * (before - peft), (before, ours, peft)

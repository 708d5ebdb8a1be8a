"""Tests of the LoRA trainer (fan_timeline.train) on the real embedded SmolLM2-135M; no network.

    pytest tests/test_train.py            # ~2 minutes on 2 CPU cores

They prove: exactly the completion + end-of-turn tokens are trained and an over-long example is
refused; a few real steps lower the loss and touch only LoRA weights; a packed row computes the same
per-example loss as separate/padded rows (and would not without its position-id restarts); a run
killed after its checkpoint and resumed ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fan_timeline import train as T
from fan_timeline.config import TrainConfig, as_dict, from_dict
from fan_timeline.plots import Curves
from fan_timeline.train import recipe

FIXTURE = Path(__file__).parent / "data" / "sft_tiny.jsonl"


@pytest.fixture(scope="module")
def rows():
    return T.read_pairs(FIXTURE)


@pytest.fixture(scope="module")
def examples(rows, tokenizer):
    return T.tokenize_pairs(rows, tokenizer, 512)


@pytest.fixture(autouse=True)
def _two_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(T.physical_cores())
    yield
    torch.set_num_threads(before)


def shortest(examples, n):
    return sorted(examples, key=len)[:n]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def two_train_one_val(tmp_path: Path, rows, examples) -> tuple[Path, Path]:
    """train.jsonl with the 2 shortest pairs and val.jsonl with the third: a run of a few steps."""
    order = [ex.id for ex in shortest(examples, 3)]
    by_id = {r["id"]: r for r in rows}
    return (write_jsonl(tmp_path / "train.jsonl", [by_id[i] for i in order[:2]]),
            write_jsonl(tmp_path / "val.jsonl", [by_id[order[2]]]))


# ------------------------------------------------------------------ config and plan (no model)


def test_config_rejects_unknown_key_and_bad_values():
    with pytest.raises(ValueError, match="lora_rank"):
        from_dict(TrainConfig, {"lora_rank": 8})
    with pytest.raises(ValueError, match="micro_batch_tokens"):
        TrainConfig(max_seq_len=1024, micro_batch_tokens=512)
    with pytest.raises(ValueError, match="packing"):
        TrainConfig(packing="yes")
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    cfg = from_dict(TrainConfig, {"target_modules": ["q_proj", "v_proj"]})
    assert cfg.target_modules == ("q_proj", "v_proj") and as_dict(cfg)["target_modules"] == ["q_proj", "v_proj"]


def test_plan_is_deterministic_and_respects_the_token_budget():
    lengths = [100, 300, 250, 120, 500, 80, 90, 410]
    for packing in (True, False):
        cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=600, packing=packing, epochs=2, grad_accum=2)
        micro, steps, epochs = T.plan_run(cfg, lengths)
        assert (micro, steps) == T.plan_run(cfg, lengths)[:2]
        assert epochs == 2 and steps == -(-len(micro) // 2)
        assert sorted(i for mb in micro for i in mb) == sorted(list(range(8)) * 2)  # each example once per epoch
        for mb in micro:
            cost = sum(lengths[i] for i in mb) if packing else max(lengths[i] for i in mb) * len(mb)
            assert cost <= 600
    cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=600, max_steps=7, grad_accum=3)
    micro, steps, _ = T.plan_run(cfg, lengths)
    assert steps == 7 and len(micro) == 21


def test_lr_schedule_warms_up_then_decays_without_hitting_zero():
    cfg = TrainConfig(learning_rate=1e-3, warmup_ratio=0.2, lr_schedule="cosine")
    lrs = [T.lr_at(s, 10, cfg) for s in range(10)]
    assert lrs[0] == pytest.approx(5e-4) and lrs[1] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False)) and lrs[-1] > 0


# ------------------------------------------------------------------ masking (real tokenizer)


def test_only_completion_and_end_of_turn_are_trained(rows, tokenizer):
    from fan_timeline.chat import end_of_turn_id, render_prompt

    row = rows[0]
    completion = row["completion"][0]["content"]
    (ex,) = T.tokenize_pairs([row], tokenizer, 512)
    eot = end_of_turn_id(tokenizer)

    assert tokenizer.decode(ex.input_ids[:ex.prompt_len]) == render_prompt(tokenizer, row["prompt"])
    trained = [t for t in ex.labels if t != T.IGNORE_INDEX]
    assert ex.labels[:ex.prompt_len] == [T.IGNORE_INDEX] * ex.prompt_len
    assert trained == list(ex.input_ids[ex.prompt_len:]) and trained[-1] == eot
    assert tokenizer.decode(trained) == completion + tokenizer.convert_ids_to_tokens(eot)

    # In a packed row, the kept logit positions are exactly those predicting each trained token.
    a, b = T.tokenize_pairs(rows[:2], tokenizer, 512)
    batch = T.collate([a, b], packing=True, pad_id=tokenizer.pad_token_id)
    expected_keep = list(range(a.prompt_len - 1, len(a) - 1)) + \
        list(range(len(a) + b.prompt_len - 1, len(a) + len(b) - 1))
    assert batch.keep.tolist() == expected_keep
    assert batch.targets[0].tolist() == list(a.input_ids[a.prompt_len:]) + list(b.input_ids[b.prompt_len:])
    assert batch.position_ids[0, len(a)].item() == 0 and batch.attention_mask is None
    assert (batch.n_tokens, batch.n_trained) == (len(a) + len(b), a.n_trained + b.n_trained)


@pytest.mark.slow
def test_decision_tokens_count_decision_weight_times_in_the_loss(base_model_path, tokenizer, rows):
    import torch
    import torch.nn.functional as F

    plain = T.tokenize_pairs(rows[:2], tokenizer, 512)
    heavy = T.tokenize_pairs(rows[:2], tokenizer, 512, decision_weight=5.0)
    assert all(ex.decisions for ex in heavy) and [ex.decisions for ex in plain] == [ex.decisions for ex in heavy]
    model = T.build_model(TrainConfig(max_seq_len=512, lora_dropout=0.0), base_model_path, torch.device("cpu"),
                          "none").eval()
    decided = 0.0   # each example alone: the cross-entropy of its decision tokens
    with torch.no_grad():
        for ex in plain:
            logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
            at = torch.tensor(ex.decisions)
            decided += F.cross_entropy(logits[at - 1], torch.tensor(ex.input_ids)[at], reduction="sum").item()
        for packing in (True, False):   # a packed row and padded rows
            base = T.loss_sum(model, T.collate(plain, packing, tokenizer.pad_token_id)).item()
            weighted = T.loss_sum(model, T.collate(heavy, packing, tokenizer.pad_token_id)).item()
            assert weighted == pytest.approx(base + 4.0 * decided, rel=1e-4), packing


@pytest.mark.slow
def test_chunked_loss_gives_the_one_pass_loss_and_gradients(base_model_path, tokenizer, rows):
    """`loss_sum`'s chunked logits (CUDA's default, recomputed in the backward) against the one
    pass, on the CPU: the same sum and adapter gradients, packed and padded, weighted or not."""
    import torch

    model = T.build_model(TrainConfig(max_seq_len=512, lora_dropout=0.0, lora_layers=2), base_model_path,
                          torch.device("cpu"), "none")
    params = [p for p in model.parameters() if p.requires_grad]
    for weight, packing in ((1.0, True), (4.0, False)):     # no weights on a packed row, weights on padded rows
        examples = T.tokenize_pairs(rows[:2], tokenizer, 512, decision_weight=weight)
        batch = T.collate(examples, packing, tokenizer.pad_token_id)
        found = []
        for chunk in (0, 7):       # 7: chunks that cut examples and rows anywhere
            model.zero_grad()
            loss = T.loss_sum(model, batch, chunk=chunk)
            loss.backward()
            found.append((loss.item(), [p.grad.clone() for p in params]))
        (one_pass, grads), (chunked, chunked_grads) = found
        assert batch.keep.numel() > 7 and chunked == pytest.approx(one_pass, rel=1e-5), (weight, packing)
        for g, h in zip(grads, chunked_grads):    # fp32 sums in another order: tiny differences
            assert (h - g).norm() <= 1e-3 * g.norm(), ((h - g).norm() / g.norm()).item()


def test_too_long_or_empty_example_is_an_error_naming_it(rows, tokenizer):
    (ex,) = T.tokenize_pairs(rows[:1], tokenizer, 512)
    with pytest.raises(ValueError, match=rf"{rows[0]['id']}: {len(ex)} tokens .* > max_seq_len {len(ex) - 1}"):
        T.tokenize_pairs(rows[:1], tokenizer, len(ex) - 1)
    empty = {**rows[1], "completion": [{"role": "assistant", "content": ""}]}
    with pytest.raises(ValueError, match=f"{rows[1]['id']}: empty completion"):
        T.tokenize_pairs([empty], tokenizer, 512)


def test_malformed_row_names_file_and_line(tmp_path, rows):
    path = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {"id": "x", "prompt": rows[0]["prompt"]}])
    with pytest.raises(ValueError, match=r"bad.jsonl:2: missing field 'completion'"):
        T.read_pairs(path)


# ------------------------------------------------------------------ the model


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_and_change_only_lora_weights(base_model_path, tokenizer, examples):
    import torch

    cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=512, lora_dropout=0.0, learning_rate=2e-3)
    model = T.build_model(cfg, base_model_path, torch.device("cpu"), "none")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    lora = T.trainable_state(model)
    assert lora and all("lora_" in n for n in lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    data = shortest(examples, 2)
    pad = tokenizer.pad_token_id

    before = T.evaluate_loss(model, data, cfg, pad, "cpu")
    for step in range(3):
        T.train_step(model, optimizer, params, [[data[step % 2]]], packing=True, one_row=True, pad_id=pad,
                      device="cpu", autocast=None, lr=cfg.learning_rate)
    after = T.evaluate_loss(model, data, cfg, pad, "cpu")

    assert after < before - 0.3, (before, after)
    for name, value in model.named_parameters():
        if name in frozen:
            assert torch.equal(value, frozen[name]), f"base weight {name} changed"
    changed = [n for n, v in T.trainable_state(model).items() if not torch.equal(v, lora[n])]
    assert len(changed) == len(lora)


@pytest.mark.slow
def test_packed_rows_match_separate_and_padded_rows(base_model_path, tokenizer, examples):
    import torch

    pad = tokenizer.pad_token_id
    data = shortest(examples, 2)
    packed_cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=1024, lora_dropout=0.0, packing=True)
    padded_cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=1024, lora_dropout=0.0, packing=False)
    model = T.build_model(packed_cfg, base_model_path, torch.device("cpu"), "none")
    init = T.trainable_state(model)

    # The packed row (the CUDA path), one row per example (the CPU path) and padded rows agree.
    packed = T.evaluate_loss(model, data, packed_cfg, pad, "cpu", one_row=True)
    separate = T.evaluate_loss(model, data, packed_cfg, pad, "cpu", one_row=False)
    padded = T.evaluate_loss(model, data, padded_cfg, pad, "cpu")
    assert packed == pytest.approx(separate, abs=1e-4) and packed == pytest.approx(padded, abs=1e-4)

    # Control: the same packed row with positions that do not restart lets examples attend to
    # each other, and the loss moves; so the equality above is the block-diagonal mask at work.
    batch = T.collate(data, packing=True, pad_id=pad)
    batch.position_ids = torch.arange(batch.input_ids.shape[1]).unsqueeze(0)
    model.eval()
    with torch.no_grad():
        leaky = T.loss_sum(model, batch).item() / batch.n_trained
    assert abs(leaky - packed) > 1e-3

    def two_steps(cfg):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in init:
                    p.copy_(init[name])
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
        micro = [list(data)]  # one micro-batch: one packed row, or one padded batch of 2 rows
        losses = [T.train_step(model, optimizer, params, micro, packing=cfg.packing, one_row=True, pad_id=pad,
                                device="cpu", autocast=None, lr=1e-3) for _ in range(2)]
        return [total / n for total, n, _, _ in losses], T.trainable_state(model)

    packed_losses, packed_weights = two_steps(packed_cfg)
    padded_losses, padded_weights = two_steps(padded_cfg)
    assert packed_losses[0] == pytest.approx(packed, abs=1e-4)  # dropout 0: train loss = eval loss at init
    assert packed_losses[1] < packed_losses[0] - 0.05
    assert packed_losses == pytest.approx(padded_losses, abs=1e-3)
    # Adam turns float noise in near-zero gradients into full-size updates of a few elements, so
    # compare the whole update: the packed and padded runs moved the weights the same way.
    delta_packed = torch.cat([(packed_weights[n] - init[n]).flatten() for n in init])
    delta_padded = torch.cat([(padded_weights[n] - init[n]).flatten() for n in init])
    assert (delta_packed - delta_padded).norm() / delta_packed.norm() < 1e-2


class Killed(Exception):
    pass


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch, rows, examples):
    import torch
    from safetensors.torch import load_file

    train_path, val_path = two_train_one_val(tmp_path, rows, examples)
    # Dropout on: the resumed run must restore the RNG too. 2 examples, 3 steps: crosses an epoch.
    cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=512, grad_accum=1, max_steps=3, learning_rate=1e-3,
                      warmup_ratio=0.3, lora_dropout=0.1, checkpoint_every=2, eval_every=0, logging_every=1)

    def run(name):
        d = tmp_path / name
        metrics = T.train(cfg, train_path=train_path, val_path=val_path, out_dir=d / "adapter",
                          checkpoint_dir=d / "ckpt", curves_dir=d / "curves", metrics_path=d / "metrics.json",
                          device="cpu", progress=False)
        return d, metrics

    full_dir, full = run("full")

    real_save = T.save_checkpoint

    def killed_while_saving_step_3(checkpoint_dir, model, optimizer, state, curves=None):
        if state["step"] == 3:  # step 3 was trained and logged, but its checkpoint never lands
            raise Killed
        return real_save(checkpoint_dir, model, optimizer, state, curves)

    monkeypatch.setattr(recipe, "save_checkpoint", killed_while_saving_step_3)   # where train() looks it up
    with pytest.raises(Killed):
        run("resumed")
    assert [p.name for p in (tmp_path / "resumed" / "ckpt").iterdir()] == ["step-0000002"]
    monkeypatch.setattr(recipe, "save_checkpoint", real_save)
    shutil.rmtree(tmp_path / "resumed" / "curves")  # `dvc repro` deletes a stage's outputs before rerunning it
    resumed_dir, resumed = run("resumed")

    a = load_file(str(full_dir / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(resumed_dir / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert resumed["steps"] == full["steps"] == 3
    assert resumed["trained_tokens"] == full["trained_tokens"]
    assert resumed["train_loss"] == pytest.approx(full["train_loss"], abs=1e-5)
    assert resumed["val_loss"] == pytest.approx(full["val_loss"], abs=1e-5)
    assert full["val_loss"] < full["val_loss_initial"]

    # The curves of the resumed run hold each step once; outputs are all there.
    full_curves, resumed_curves = Curves(full_dir / "curves"), Curves(resumed_dir / "curves")
    assert [step for step, _ in resumed_curves.read("loss")] == [1, 2, 3]
    for name in ("loss", "val_loss", "lr", "grad_norm"):
        full_rows, resumed_rows = full_curves.read(name), resumed_curves.read(name)
        assert [s for s, _ in resumed_rows] == [s for s, _ in full_rows], name
        assert [v for _, v in resumed_rows] == pytest.approx([v for _, v in full_rows], abs=1e-5), name
    assert json.loads((resumed_dir / "metrics.json").read_text())["steps"] == 3
    saved = {p.name for p in (resumed_dir / "adapter").iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "train_config.json"} <= saved
    info = json.loads((resumed_dir / "adapter" / "train_config.json").read_text())
    assert info["base_model"] == cfg.base_model and Path(info["resolved_base_model"]).is_dir()

    # A checkpoint of another config is not resumed: it is removed with a warning.
    with pytest.warns(UserWarning, match="different config"):
        assert T.find_checkpoint(resumed_dir / "ckpt", "another-fingerprint") is None
    assert not list((resumed_dir / "ckpt").glob("step-*"))


def test_frozen_prefix_cache_trains_bit_identical_weights(tmp_path, monkeypatch, rows, examples):
    """Epochs after the first, and every val loss after the first, start at the lowest adapted layer
    from the cached output of the frozen layers below it: the adapter and the val losses must come
    out exactly as without the cache."""
    import torch
    from safetensors.torch import load_file

    train_path, val_path = two_train_one_val(tmp_path, rows, examples)
    cfg = TrainConfig(max_seq_len=512, micro_batch_tokens=512, grad_accum=1, epochs=2, learning_rate=1e-3,
                      lora_layers=3, lora_dropout=0.1, eval_every=0, checkpoint_every=0, logging_every=1)
    hits = []
    real_attach = T.FrozenPrefix.attach

    def attach(self, example, batch):
        hits.append(example.id in self.cache)
        return real_attach(self, example, batch)

    monkeypatch.setattr(T.FrozenPrefix, "attach", attach)

    def run(name, frozen_prefix):
        d = tmp_path / name
        metrics = T.train(cfg, train_path=train_path, val_path=val_path, out_dir=d / "adapter",
                          checkpoint_dir=d / "ckpt", curves_dir=d / "curves", metrics_path=d / "metrics.json",
                          device="cpu", progress=False, frozen_prefix=frozen_prefix)
        return load_file(str(d / "adapter" / "adapter_model.safetensors")), metrics

    cached, cached_metrics = run("cached", True)
    # val loss at step 0 and epoch 1 fill the cache; epoch 2 and the final val loss read it
    assert hits == [False, False, False, True, True, True]
    plain, plain_metrics = run("plain", False)
    assert len(hits) == 6 and cached.keys() == plain.keys() and cached
    assert cached_metrics["val_loss"] == plain_metrics["val_loss"] != cached_metrics["val_loss_initial"]
    for name in cached:
        assert torch.equal(cached[name], plain[name]), name

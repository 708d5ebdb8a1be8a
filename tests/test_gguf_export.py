"""GGUF export: a Llama-shaped model through the writer and back through transformers' GGUF loader.

    pytest tests/test_gguf_export.py     (~10 s; a tiny random model with the SmolLM2 tokenizer, no network)

Proves: f16 gives the same logits within fp16 rounding (the q/k permutation and every tensor name
are right: a wrong one changes the logits by orders of magnitude), q8_0 within its quantization
step, the same greedy tokens from both; the tokenizer and chat template travel in the file's
metadata; an architecture llama.cpp's `llama` is not gets a message that says what to do; the
Modelfile carries the template, the stop token and the system prompt.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fan_timeline.gguf_export import UnsupportedArchitecture, write_gguf, write_modelfile
from fan_timeline.model import gguf_reads_once


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, base_model_path) -> tuple[Path, object]:
    import torch
    import transformers

    out = tmp_path_factory.mktemp("tiny")
    cfg = transformers.LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                   tie_word_embeddings=True, rms_norm_eps=1e-5)
    cfg.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(Path(base_model_path) / name, out / name)
    return out, model


@pytest.mark.parametrize(("fmt", "tolerance"), [("f16", 2e-3), ("q8_0", 5e-2)])
def test_round_trip_gives_the_same_logits(tiny, fmt, tolerance):
    import gguf
    import torch
    import transformers

    model_dir, model = tiny
    path = write_gguf(model_dir, model_dir / f"model-{fmt}.gguf", fmt)
    with gguf_reads_once():   # transformers parses the file for the config and again for the weights
        loaded = transformers.AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=path.name,
                                                                   dtype=torch.float32).eval()
        fields = gguf.GGUFReader(path).fields
    ids = torch.tensor([[1, 504, 2381, 30, 17, 9, 4433, 2]])
    with torch.no_grad():
        want, got = model(ids).logits, loaded(ids).logits
    assert (want - got).abs().max().item() < tolerance
    assert torch.equal(want.argmax(-1), got.argmax(-1))
    assert fields["general.architecture"].contents() == "llama"
    assert len(fields["tokenizer.ggml.tokens"].contents()) == 49152
    assert "<|im_start|>" in fields["tokenizer.chat_template"].contents()


def test_an_architecture_llama_cpp_does_not_read_as_llama_is_named(tiny, tmp_path):
    model_dir, _ = tiny
    other = tmp_path / "other"
    shutil.copytree(model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["architectures"] = ["GPTNeoXForCausalLM"]
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedArchitecture, match="no GGUF for GPTNeoXForCausalLM.*convert_hf_to_gguf"):
        write_gguf(other, tmp_path / "x.gguf", "f16")
    assert not (tmp_path / "x.gguf").exists()


def test_modelfile_has_the_template_stop_token_and_system_prompt(tmp_path):
    text = write_modelfile(tmp_path / "Modelfile", "model-q8_0.gguf", "Pick the plays that mattered.").read_text()
    assert text.startswith("FROM ./model-q8_0.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in text and "<|im_start|>assistant" in text
    assert 'SYSTEM """Pick the plays that mattered."""' in text

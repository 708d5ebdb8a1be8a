"""The merged model as GGUF, for llama.cpp, Ollama and LM Studio, written with the `gguf` package.

    write_gguf(merged_dir, out / "model-f16.gguf", "f16", base_gguf=embedded_gguf(...))
    write_modelfile(out / "Modelfile", "model-q8_0.gguf", system_prompt)

llama.cpp reads Llama-architecture models (`LlamaForCausalLM`, and `MistralForCausalLM` without
a sliding window), the default base model's family; another architecture raises
UnsupportedArchitecture, which export reports while the rest of the export goes on.

The file holds what llama.cpp needs and nothing of this project: the `llama.*` hyperparameters,
the tokenizer (copied from the base model's own GGUF when the base came as one, as the default
does, else built from tokenizer.json), the chat template, and the tensors under llama.cpp's names.
Hugging Face stores q/k projections with the rotary halves interleaved per head differently from
llama.cpp; they are permuted back, as llama.cpp's own converter does, and transformers' GGUF
loader undoes it again (the parity check in export compares the two). Norms stay f32; f16 is
every matrix in half precision; q8_0 quantizes the matrices whose rows are a multiple of 32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("f16", "q8_0")
LLAMA_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
# Tokenizer and chat keys copied from the base model's GGUF (what llama.cpp tokenizes with).
TOKENIZER_PREFIX = "tokenizer."


class UnsupportedArchitecture(ValueError):
    """The model's architecture has no GGUF writer here."""


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k weight -> llama.cpp's row order (the inverse of transformers' GGUF de-permutation)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tensor_names(hf_names: list[str], n_layers: int) -> dict[str, str]:
    """Hugging Face Llama parameter name -> GGUF tensor name, by the `gguf` package's own map
    (what llama.cpp's converter uses); a name it does not know is an UnsupportedArchitecture."""
    import gguf

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    names = {n: name_map.get_name(n, try_suffixes=(".weight", ".bias")) for n in hf_names}
    unknown = sorted(n for n, g in names.items() if g is None)
    if unknown:
        raise UnsupportedArchitecture(f"tensors with no GGUF name: {unknown[:5]}")
    return names  # type: ignore[return-value]


def _file_order(gguf_name: str) -> tuple[int, str]:
    """Tensors in file order: the global ones first, then block by block."""
    block = gguf_name.split(".")[1] if gguf_name.startswith("blk.") else "-1"
    return int(block), gguf_name


def check_architecture(config: dict[str, Any]) -> None:
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in LLAMA_ARCHITECTURES or config.get("sliding_window"):
        raise UnsupportedArchitecture(
            f"no GGUF for {arch}{' with a sliding window' if config.get('sliding_window') else ''}: this writer "
            f"covers {', '.join(LLAMA_ARCHITECTURES)} (llama.cpp's `llama`); convert it with llama.cpp's "
            "convert_hf_to_gguf.py from the merged safetensors model instead")


def _rope_theta(config: dict[str, Any]) -> float:
    return float((config.get("rope_parameters") or {}).get("rope_theta") or config.get("rope_theta") or 10000.0)


def _tokenizer_from_gguf(writer: Any, base_gguf: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(base_gguf)
    for key, field in reader.fields.items():
        if not key.startswith(TOKENIZER_PREFIX) or key == "tokenizer.chat_template":
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            values = field.contents()
            writer.add_key_value(key, values, gguf.GGUFValueType.ARRAY, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), kind)


def _tokenizer_from_json(writer: Any, model_dir: Path) -> None:
    """tokenizer.ggml.* from a byte-level BPE tokenizer.json (GPT-2 style, as SmolLM2, Llama 3)."""
    doc = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = doc["model"]
    if model.get("type") != "BPE":
        raise UnsupportedArchitecture(f"no GGUF tokenizer for a {model.get('type')} tokenizer.json (BPE only)")
    vocab = dict(model["vocab"])
    special = {t["content"]: t["id"] for t in doc.get("added_tokens", [])}
    vocab.update(special)
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [1] * size                       # 1 normal, 3 control, 5 unused
    for text, i in vocab.items():
        tokens[i] = text
    for text, i in special.items():
        types[i] = 3
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    cfg = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for key, add in (("bos_token", writer.add_bos_token_id), ("eos_token", writer.add_eos_token_id),
                     ("unk_token", writer.add_unk_token_id), ("pad_token", writer.add_pad_token_id)):
        if isinstance(cfg.get(key), str) and cfg[key] in vocab:
            add(vocab[cfg[key]])
    writer.add_add_bos_token(False)


def write_gguf(model_dir: str | Path, out: str | Path, fmt: str, *, base_gguf: str | Path | None = None,
               name: str = "fan-timeline") -> Path:
    """Write the safetensors model in `model_dir` (config, tokenizer, chat template beside it) as
    one GGUF file of `fmt` (FORMATS). UnsupportedArchitecture for a model llama.cpp's `llama` is not."""
    import gguf
    from safetensors.numpy import load_file

    if fmt not in FORMATS:
        raise ValueError(f"GGUF format {fmt!r}: expected one of {FORMATS}")
    model_dir, out = Path(model_dir), Path(out)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    check_architecture(config)
    n_layers, n_head = int(config["num_hidden_layers"]), int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    head_dim = int(config.get("head_dim") or config["hidden_size"] // n_head)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(tmp, "llama")
    writer.add_name(name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(int(config["vocab_size"]))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if fmt == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    if base_gguf is not None:
        _tokenizer_from_gguf(writer, Path(base_gguf))
    else:
        _tokenizer_from_json(writer, model_dir)
    template = model_dir / "chat_template.jinja"
    if template.is_file():
        writer.add_chat_template(template.read_text(encoding="utf-8"))

    weights: dict[str, np.ndarray] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        weights.update(load_file(shard))
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)     # llama.cpp uses token_embd when output is absent
    names = tensor_names(list(weights), n_layers)
    for hf_name in sorted(weights, key=lambda n: _file_order(names[n])):
        w = weights[hf_name].astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            w = _permute(w, n_head)
        elif hf_name.endswith("k_proj.weight"):
            w = _permute(w, n_kv)
        if w.ndim == 1:
            writer.add_tensor(names[hf_name], w)                          # norms: f32
        elif fmt == "q8_0" and w.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(names[hf_name], q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(names[hf_name], w.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


def write_modelfile(path: str | Path, gguf_name: str, system_prompt: str, stop: str = "<|im_end|>") -> Path:
    """An Ollama Modelfile: the GGUF, the ChatML template the model was trained with, its stop
    token, greedy decoding, and the system prompt its training prompts carried."""
    path = Path(path)
    quoted = system_prompt.replace('"""', "'''")
    path.write_text(
        f"FROM ./{gguf_name}\n"
        'TEMPLATE """{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
        '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
        '<|im_start|>assistant\n"""\n'
        f'PARAMETER stop "{stop}"\n'
        "PARAMETER temperature 0\n"
        f'SYSTEM """{quoted}"""\n', encoding="utf-8")
    return path

"""Base-model resolution and loading (fan_timeline.model): the GGUF conversion's read-once patch, a corrupt
cached conversion found and converted again, path errors, no kernels from the Hub.

    pytest tests/test_model.py      (a tiny GGUF written here and the embedded model; no network)

The conversion itself runs for real in every test session (conftest's `base_model_path`).
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from fan_timeline.model import cache_problem, gguf_reads_once, resolve_base_model


def _tiny_gguf(path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_reads_once_shares_one_reader_per_file_and_restores_the_module(tmp_path):
    first, second = tmp_path / "a.gguf", tmp_path / "b.gguf"
    _tiny_gguf(first)
    _tiny_gguf(second)
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with gguf_reads_once():
        reader = gguf.GGUFReader(first)
        assert gguf.GGUFReader(str(first)) is reader          # the same file: parsed once
        assert gguf.GGUFReader(second) is not reader
        assert np.array_equal(np.asarray(reader.tensors[0].data).ravel(), np.arange(12, dtype=np.float32))
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader_class, name_map)

    with pytest.raises(RuntimeError), gguf_reads_once():
        raise RuntimeError("a failed conversion")
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader_class, name_map)


def test_resolve_base_model_names_what_is_wrong(tmp_path):
    assert resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_base_model(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="neither a directory nor an embedded name"):
        resolve_base_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ValueError, match="unknown embedded model"):
        resolve_base_model("embedded:NoSuchModel")


@pytest.mark.slow
def test_a_corrupt_cached_conversion_is_named_and_converted_again(tmp_path, base_model_path, monkeypatch):
    import shutil
    from pathlib import Path

    cached = Path(base_model_path)
    copy = tmp_path / "models" / cached.name
    shutil.copytree(cached, copy)
    assert cache_problem(copy) is None
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])                      # a cut copy
    assert "bytes where its header describes" in cache_problem(copy)
    weights.write_bytes(b"garbage!" + data[8:])                      # an overwritten header
    assert "header length" in cache_problem(copy)
    monkeypatch.setenv("FAN_TIMELINE_CACHE", str(tmp_path))
    with pytest.warns(UserWarning, match=r"is corrupt \(model.safetensors: the header length"):
        again = resolve_base_model("embedded:SmolLM2-135M-Instruct")
    assert Path(again) == copy and cache_problem(copy) is None       # converted again, in place


def test_models_load_without_the_hubs_kernels(base_model_path):
    # transformers kernelizes a model it loads unless told not to, and on a GPU that downloads
    # layers from the Hugging Face Hub. The project's loader turns it off; a plain load (the
    # control) shows the check can fail.
    from transformers import AutoModelForCausalLM

    from fan_timeline.model import load_causal_lm

    assert load_causal_lm(base_model_path).kernels_mode is None
    assert AutoModelForCausalLM.from_pretrained(base_model_path).kernels_mode is not None

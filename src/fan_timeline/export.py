"""export: a standalone model directory that plain `transformers` loads with no project code.

    models/export/
      model.safetensors, config.json, generation_config.json   base + adapter merged (fp32)
      tokenizer files + chat_template.jinja                    the tokenizer with its chat template
      adapter/                                                 the PEFT adapter on its own
      timeline.schema.json                                     the output schema (constrained decoding)
      provenance.json                                          git commit, dvc.lock hashes, ingest/build_sft params
      README.md                                                model card: metrics, params, provenance, example
      gguf/model-f16.gguf, model-q8_0.gguf, Modelfile          for llama.cpp / Ollama / LM Studio (`export.gguf`)

Before anything is written, a parity check: the merged model's constrained greedy outputs on a
fixed set of test prompts (each with its window's grammar, as the server decodes) must equal the
adapter model's, or the stage fails. Both sides decode
the prompts as one batch (the same padding on both sides, so a difference is the merge's).
Each GGUF file is loaded back (transformers' `gguf_file=`) and decodes the same prompts: f16 must
give the same outputs or the stage fails; q8_0's count of equal outputs is recorded
(metrics/export.json), as quantization may turn a close call. A base architecture llama.cpp's
`llama` is not gets no GGUF, a message saying so, and the rest of the export.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from fan_timeline import atomic, schema
from fan_timeline.calibration import StopBias
from fan_timeline.generate import generate_timelines
from fan_timeline.gguf_export import UnsupportedArchitecture, write_gguf, write_modelfile
from fan_timeline.model import embedded_gguf, gguf_reads_once, load_causal_lm, resolve_base_model
from fan_timeline.report import results_tables


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _lock_hashes(lock_path: Path) -> dict[str, dict[str, str]]:
    """{stage: {path: md5}} of every dep and out recorded in dvc.lock."""
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text()) or {}
    out = {}
    for stage, info in (lock.get("stages") or {}).items():
        out[stage] = {e["path"]: e.get("md5", "") for e in (info.get("deps") or []) + (info.get("outs") or [])}
    return out


def provenance(lock_path: Path, pipeline_params: dict[str, Any], stop_bias: StopBias = StopBias()) -> dict[str, Any]:
    """What the export was built from, machine-readable (provenance.json): the git commit, every
    dep/out hash dvc.lock records, the ingest/build_sft params a served game must be read and
    windowed with to look like the training data, and the stop bias it decodes with."""
    return {"git_commit": _git_commit(), "dvc_lock": _lock_hashes(lock_path), "params": pipeline_params,
            "stop_bias": stop_bias.as_dict()}


def model_card(train_cfg: dict[str, Any], eval_metrics: dict[str, Any], parity: dict[str, Any],
               prov: dict[str, Any]) -> str:
    lock, commit, bias = prov["dvc_lock"], prov["git_commit"], StopBias.of(prov.get("stop_bias"))
    data = "\n".join(f"- `{path}`: {md5}" for stage in ("ingest", "build_sft")
                     for path, md5 in lock.get(stage, {}).items() if path.startswith("data/"))
    parity_line = (f"Parity of this merged model with the adapter model: {parity['equal']}/{parity['prompts']} "
                   "constrained greedy outputs identical. Constrained decoding takes "
                   f"{bias.moment:+.2f} off the logits that close the list of moments before a play the prompt "
                   f"lists as a likely moment and {bias.other:+.2f} before another (the stop bias fit on val: "
                   "`fan_timeline.calibration.StopBias`).")
    return f"""# fan-timeline timeline writer

A LoRA fine-tune of `{train_cfg.get('base_model')}` that writes the timeline of one window of a
basketball game (play-by-play + fan comments) as JSON, schema `timeline.schema.json` ({schema.SCHEMA_VERSION}).
The merged weights load with plain `transformers`; `adapter/` holds the PEFT adapter alone.

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("models/export")
model = AutoModelForCausalLM.from_pretrained("models/export", use_kernels=False)  # no kernels from the Hub
messages = [{{"role": "system", "content": SYSTEM}}, {{"role": "user", "content": WINDOW_TEXT}}]
ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
out = model.generate(ids, max_new_tokens=256, do_sample=False)
print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
```

`SYSTEM` and the window text format are fan_timeline.prompt's (docs/architecture.md). For output
that is always schema-valid, decode with the schema as a grammar (fan-timeline does this with
llguidance: `fan_timeline.generate.generate_timelines(..., constrained=True)`, each window's own grammar).

## Evaluation (held-out test games, metrics/eval.json)

{results_tables(eval_metrics) if eval_metrics.get("runs") else "(no evaluation)"}

{parity_line}

## llama.cpp, Ollama, LM Studio

`gguf/` holds the model as GGUF (f16; q8_0 where written) with its tokenizer and chat template,
and an Ollama `Modelfile` (`ollama create fan-timeline -f gguf/Modelfile`). Its facts are true only
under each window's own grounded JSON Schema (the window's listed plays, their clocks and
sentences, the comments shown under them): `timeline.schema.json` alone makes the JSON valid, not
true. `fan-timeline generate --game-dir GAME --emit-prompts prompts/` writes each window's
`NNN.messages.json` and `NNN.schema.json` (the API's `/v1/windows` answers them too); then, greedy:

```bash
# llama.cpp: llama-server -m gguf/model-f16.gguf --port 8080
jq -n --slurpfile m prompts/003.messages.json --slurpfile s prompts/003.schema.json \\
  '{{messages: $m[0], json_schema: $s[0], temperature: 0}}' |
  curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json' -d @-
# Ollama: ollama create fan-timeline -f gguf/Modelfile
jq -n --slurpfile m prompts/003.messages.json --slurpfile s prompts/003.schema.json \\
  '{{model: "fan-timeline", messages: $m[0], format: $s[0], stream: false, options: {{temperature: 0}}}}' |
  curl -s localhost:11434/api/chat -d @-
```

## Training params

```json
{json.dumps({k: v for k, v in train_cfg.items() if k not in ('versions',)}, indent=2, default=str)}
```

## Provenance

Machine-readable: `provenance.json` (also the ingest/build_sft params the server windows games with).

- code: git commit `{commit}`
- data (dvc.lock md5):
{data}
- training data: synthetic games from `fan-timeline simulate` (no real Reddit text).
"""


def export_gguf(model_dir: Path, base_model: str, formats: tuple[str, ...], tokenizer: Any,
                prompts: list[Any], decode: dict[str, Any], reference: list[str]) -> dict[str, Any]:
    """`model_dir`/gguf/: each format's file, loaded back and decoding the parity prompts, and a
    Modelfile with the system message the prompts carry (the one the model was trained with).
    {"formats": {fmt: {mb, parity_equal, parity_ok, seconds}}} or {"skipped": why}."""
    import time

    import torch

    base_gguf = embedded_gguf(base_model.split(":", 1)[1]) if base_model.startswith("embedded:") else None
    out, done = model_dir / "gguf", {}
    out.mkdir()
    for fmt in formats:
        t0 = time.perf_counter()
        try:
            path = write_gguf(model_dir, out / f"model-{fmt}.gguf", fmt, base_gguf=base_gguf)
        except UnsupportedArchitecture as exc:
            shutil.rmtree(out)
            return {"skipped": str(exc)}
        with gguf_reads_once():
            loaded = load_causal_lm(out, gguf_file=path.name, dtype=torch.float32).eval()
        texts = [r.text for r in generate_timelines(loaded, tokenizer, prompts, **decode)]
        equal = sum(a == b for a, b in zip(reference, texts))
        done[fmt] = {"mb": round(path.stat().st_size / 2**20, 1), "parity_equal": equal,
                     "parity_ok": equal == len(prompts), "seconds": round(time.perf_counter() - t0, 1)}
        if fmt == "f16" and equal != len(prompts):
            raise RuntimeError(f"export parity failed: {len(prompts) - equal} of {len(prompts)} outputs of the f16 "
                               "GGUF differ from the adapter model's")
    system = next(m["content"] for m in prompts[0] if m["role"] == "system")
    write_modelfile(out / "Modelfile", f"model-{'q8_0' if 'q8_0' in done else formats[0]}.gguf", system)
    return {"formats": done}


def export(adapter_dir: Path, out_dir: Path, test_pairs: list[dict[str, Any]], *, parity_prompts: int,
           eval_metrics: dict[str, Any], lock_path: Path, pipeline_params: dict[str, Any],
           max_new_tokens: int | None = None, gguf: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write the export directory atomically; `max_new_tokens` None = the schema's full budget.

    `pipeline_params` = {"ingest": {...}, "build_sft": {...}}, the params the training data was
    built with, recorded in provenance.json for the server."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    train_cfg = json.loads((adapter_dir / "train_config.json").read_text())
    base_path = resolve_base_model(train_cfg["base_model"])
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    tokenizer.padding_side = "left"
    prompts = [p["prompt"] for p in test_pairs[:parity_prompts]]
    if not prompts:
        raise ValueError("export needs at least one test prompt for the parity check")
    groundings = [schema.Grounding.of(p["grounding"]["plays"]) for p in test_pairs[:parity_prompts]]

    base = load_causal_lm(base_path, dtype=torch.float32, use_safetensors=True)
    with_adapter = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False).eval()
    stop_bias = StopBias.of(train_cfg.get("stop_bias"))
    decode = dict(constrained=True, groundings=groundings, batch_size=len(prompts), max_new_tokens=max_new_tokens,
                  stop_bias=stop_bias)
    reference = [r.text for r in generate_timelines(with_adapter, tokenizer, prompts, **decode)]
    merged = with_adapter.merge_and_unload()

    with atomic.atomic_dir(out_dir) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.copytree(adapter_dir, tmp / "adapter")
        shutil.copy(schema.SCHEMA_PATH, tmp / schema.SCHEMA_PATH.name)
        # parity: the saved directory, loaded the way a user would, must say the same things
        reloaded = load_causal_lm(tmp, dtype=torch.float32, use_safetensors=True).eval()
        merged_texts = [r.text for r in generate_timelines(reloaded, tokenizer, prompts, **decode)]
        equal = sum(a == b for a, b in zip(reference, merged_texts))
        parity = {"prompts": len(prompts), "equal": equal, "ok": equal == len(prompts),
                  "mismatches": [{"adapter": a, "merged": b} for a, b in zip(reference, merged_texts) if a != b]}
        if not parity["ok"]:
            raise RuntimeError(f"export parity failed: {len(prompts) - equal} of {len(prompts)} outputs differ "
                               f"between the merged and the adapter model: {parity['mismatches'][:1]}")
        gguf_result = export_gguf(tmp, train_cfg["base_model"], gguf, tokenizer, prompts, decode, reference) \
            if gguf else {"formats": {}}
        prov = provenance(lock_path, pipeline_params, stop_bias)
        atomic.write_json(tmp / "provenance.json", prov)
        (tmp / "README.md").write_text(model_card(train_cfg, eval_metrics, parity, prov), encoding="utf-8")
        size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    return {"parity_prompts": parity["prompts"], "parity_equal": parity["equal"], "parity_ok": parity["ok"],
            "export_mb": round(size / 2**20, 1), "base_model": train_cfg["base_model"], "gguf": gguf_result}

"""export: a standalone model directory that plain `transformers` loads with no project code.

    models/export/
      model.safetensors, config.json, generation_config.json   base + adapter merged (fp32)
      tokenizer files + chat_template.jinja                    the tokenizer with its chat template
      adapter/                                                 the PEFT adapter on its own
      timeline.schema.json                                     the output schema (constrained decoding)
      provenance.json                                          git commit, dvc.lock hashes, ingest/build_sft params
      README.md                                                model card: metrics, params, provenance, example

Before anything is written, a parity check: the merged model's constrained greedy outputs on a
fixed set of test prompts (each with its window's grammar, as the server decodes) must equal the
adapter model's, or the stage fails. Both sides decode
the prompts as one batch (the same padding on both sides, so a difference is the merge's).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from fan_timeline import atomic, schema
from fan_timeline.generate import generate_timelines
from fan_timeline.model import resolve_base_model


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


def provenance(lock_path: Path, pipeline_params: dict[str, Any]) -> dict[str, Any]:
    """What the export was built from, machine-readable (provenance.json): the git commit, every
    dep/out hash dvc.lock records, and the ingest/build_sft params a served game must be read and
    windowed with to look like the training data."""
    return {"git_commit": _git_commit(), "dvc_lock": _lock_hashes(lock_path), "params": pipeline_params}


def model_card(train_cfg: dict[str, Any], eval_metrics: dict[str, Any], parity: dict[str, Any],
               prov: dict[str, Any]) -> str:
    lock, commit = prov["dvc_lock"], prov["git_commit"]
    runs = eval_metrics.get("runs", {})
    rows = "\n".join(
        f"| {name} | {m['windows']} | {m['event_f1']:.2f} ({m['event_f1_ci95'][0]:.2f}-{m['event_f1_ci95'][1]:.2f}) | "
        f"{m['event_f1_ts_only']:.2f} | {m['fact_precision']:.0%} | {m['hallucinated_name_rate']:.0%} | "
        f"{m['sentiment_macro_f1']:.2f} ({m['sentiment_pairs']}) | {m['json_validity']:.0%} |"
        for name, m in runs.items())
    data = "\n".join(f"- `{path}`: {md5}" for stage in ("ingest", "build_sft")
                     for path, md5 in lock.get(stage, {}).items() if path.startswith("data/"))
    header = ("| run | windows | event F1, same play (95% interval, games resampled) | event F1, ts only | "
              "facts true | hallucinated names | sentiment macro-F1 (pairs) | valid JSON |")
    parity_line = (f"Parity of this merged model with the adapter model: {parity['equal']}/{parity['prompts']} "
                   "constrained greedy outputs identical.")
    return f"""# fan-timeline timeline writer

A LoRA fine-tune of `{train_cfg.get('base_model')}` that writes the timeline of one window of a
basketball game (play-by-play + fan comments) as JSON, schema `timeline.schema.json` ({schema.SCHEMA_VERSION}).
The merged weights load with plain `transformers`; `adapter/` holds the PEFT adapter alone.

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("models/export")
model = AutoModelForCausalLM.from_pretrained("models/export")
messages = [{{"role": "system", "content": SYSTEM}}, {{"role": "user", "content": WINDOW_TEXT}}]
ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
out = model.generate(ids, max_new_tokens=256, do_sample=False)
print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
```

`SYSTEM` and the window text format are fan_timeline.prompt's (docs/architecture.md). For output
that is always schema-valid, decode with the schema as a grammar (fan-timeline does this with
llguidance: `fan_timeline.generate.generate_timelines(..., constrained=True)`).

## Evaluation (held-out test games, metrics/eval.json)

{header}
|---|---|---|---|---|---|---|---|
{rows}

{parity_line}

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


def export(adapter_dir: Path, out_dir: Path, test_pairs: list[dict[str, Any]], *, parity_prompts: int,
           eval_metrics: dict[str, Any], lock_path: Path, pipeline_params: dict[str, Any],
           max_new_tokens: int | None = None) -> dict[str, Any]:
    """Write the export directory atomically; `max_new_tokens` None = the schema's full budget.

    `pipeline_params` = {"ingest": {...}, "build_sft": {...}}, the params the training data was
    built with, recorded in provenance.json for the server."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train_cfg = json.loads((adapter_dir / "train_config.json").read_text())
    base_path = resolve_base_model(train_cfg["base_model"])
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    tokenizer.padding_side = "left"
    prompts = [p["prompt"] for p in test_pairs[:parity_prompts]]
    if not prompts:
        raise ValueError("export needs at least one test prompt for the parity check")
    groundings = [schema.Grounding.of(p["grounding"]["plays"]) for p in test_pairs[:parity_prompts]]

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, use_safetensors=True)
    with_adapter = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False).eval()
    decode = dict(constrained=True, groundings=groundings, batch_size=len(prompts), max_new_tokens=max_new_tokens)
    reference = [r.text for r in generate_timelines(with_adapter, tokenizer, prompts, **decode)]
    merged = with_adapter.merge_and_unload()

    with atomic.atomic_dir(out_dir) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.copytree(adapter_dir, tmp / "adapter")
        shutil.copy(schema.SCHEMA_PATH, tmp / schema.SCHEMA_PATH.name)
        # parity: the saved directory, loaded the way a user would, must say the same things
        reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, use_safetensors=True).eval()
        merged_texts = [r.text for r in generate_timelines(reloaded, tokenizer, prompts, **decode)]
        equal = sum(a == b for a, b in zip(reference, merged_texts))
        parity = {"prompts": len(prompts), "equal": equal, "ok": equal == len(prompts),
                  "mismatches": [{"adapter": a, "merged": b} for a, b in zip(reference, merged_texts) if a != b]}
        if not parity["ok"]:
            raise RuntimeError(f"export parity failed: {len(prompts) - equal} of {len(prompts)} outputs differ "
                               f"between the merged and the adapter model: {parity['mismatches'][:1]}")
        prov = provenance(lock_path, pipeline_params)
        atomic.write_json(tmp / "provenance.json", prov)
        (tmp / "README.md").write_text(model_card(train_cfg, eval_metrics, parity, prov), encoding="utf-8")
        size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    return {"parity_prompts": parity["prompts"], "parity_equal": parity["equal"], "parity_ok": parity["ok"],
            "export_mb": round(size / 2**20, 1), "base_model": train_cfg["base_model"]}

"""Training-recipe sweep for the default task, run on one GPU with many configs side by side.

Each config trains an adapter with the project's trainer and scores it with the project's
evaluation (constrained and free) on every val window, and constrained on test and stress, beside
the rule baseline on the same windows. Recipes are chosen on val; test is reported, never chosen
on. The model runs in fp32 without autocast, as on the CPU pipeline, so a recipe's outcome
carries over.

    python scripts/experiments/sweep.py BASE_DIR CONFIGS.json OUT_DIR [--parallel 6]

CONFIGS.json: a list of {"name", "data": SFT dir (train/val/test/stress.jsonl, rule.json), "train": optional
train.jsonl override, "empty_keep": share of empty-target train windows kept (default 1),
"set": train_qlora overrides, "base": true to score the untrained base model instead, "limit": windows
per split for a dry run, "splits": the splits to score (default val, test, stress), "decisions": "choices"
to weight only the tokens where the ranked grammar still chooses (one more moment, or close), not the
entries' `ts` too (`choice_decisions`), "unranked_too": true
to score each split again with the grammar that admits any listed plays in order, not only the
first N (schema.Grounding.ranked), as "unranked_<run>"}.
OUT_DIR/NAME/result.json holds each config's scores; sweep_table.py pools them per recipe.
Val is decoded once with the list of moments never closed by choice; its stop bias is fit on
`train_qlora.calibration_windows` of its windows (params.yaml) as train_qlora does, and test and
stress decode with that bias.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

KEYS = ("event_precision", "event_recall", "event_f1", "event_f1_ts_only", "fact_precision", "sentiment_macro_f1",
        "sentiment_pairs", "quote_grounding", "json_validity", "predicted", "reference")


def is_empty(row: dict) -> bool:
    return not json.loads(row["completion"][0]["content"])["timeline"]


def choice_decisions(encode_pair):
    """`chat.encode_pair` with only the tokens where the ranked grammar still chooses as decisions:
    the first token of the piece after `{"timeline":[` and of each piece after an entry (go on or
    close); an entry after a `,` and its `ts` are forced there."""
    from fan_timeline.schema import decision_pieces

    def encode(tokenizer, prompt, text):
        ids, n_prompt, _ = encode_pair(tokenizer, prompt, text)
        pieces, pos, decisions = decision_pieces(text), n_prompt, []
        for k, piece in enumerate(pieces):
            if k and pieces[k - 1] != ",":
                decisions.append(pos)
            pos += len(tokenizer(piece, add_special_tokens=False)["input_ids"])
        return ids, n_prompt, decisions
    return encode


def run_one(base: str, conf: dict, out: Path) -> dict:
    import torch
    import transformers

    from fan_timeline import atomic, schema
    from fan_timeline import train as train_mod
    from fan_timeline.atomic import spread_subset
    from fan_timeline.calibration import (
        STOP_BIAS_NEVER,
        StopBias,
        f1_by_stop_bias,
        fit_stop_bias,
        pair_grounding,
        texts_at_bias,
    )
    from fan_timeline.config import TrainConfig, load_section
    from fan_timeline.evaluate import rule_entries, score_texts
    from fan_timeline.generate import generate_timelines
    from fan_timeline.model import load_model
    from fan_timeline.train import attention as train_attention

    # fp32 and no bf16 autocast, as on the CPU pipeline; sdpa with a block mask (flash varlen is bf16-only).
    load = transformers.AutoModelForCausalLM.from_pretrained
    transformers.AutoModelForCausalLM.from_pretrained = lambda *a, **k: load(*a, **{**k, "dtype": torch.float32})
    torch.autocast = lambda *a, **k: contextlib.nullcontext()
    train_attention.register_varlen_attention = lambda: False
    torch.backends.cuda.matmul.allow_tf32 = False

    if conf.get("decisions") == "choices":
        from fan_timeline import chat
        chat.encode_pair = choice_decisions(chat.encode_pair)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(conf["data"])
    result: dict = {"config": conf}
    t0 = time.perf_counter()
    adapter = None
    if not conf.get("base"):
        cfg = load_section(TrainConfig, "params.yaml")
        cfg = dataclasses.replace(cfg, base_model=base, quantization="none", compile=False, **conf.get("set", {}))
        rows = atomic.read_jsonl(Path(conf.get("train") or data / "train.jsonl"))
        rng = random.Random(cfg.seed)
        keep = conf.get("empty_keep", 1.0)
        rows = [r for r in rows if not is_empty(r) or rng.random() < keep]
        atomic.write_jsonl(out / "train.jsonl", rows)
        result["train_windows"] = len(rows)
        m = train_mod.train(cfg, train_path=out / "train.jsonl", val_path=data / "val.jsonl", out_dir=out / "adapter",
                            checkpoint_dir=out / "ckpt", curves_dir=out / "curves", metrics_path=out / "train.json",
                            progress=False)
        result["train"] = {k: m[k] for k in ("steps", "train_loss", "val_loss", "val_loss_initial") if k in m}
        adapter = str(out / "adapter")
    result["train_s"] = time.perf_counter() - t0
    model, tokenizer = load_model(base, adapter=adapter, quantization="none", dtype=torch.float32)
    preds = []
    threshold = json.loads((data / "rule.json").read_text())["threshold"]
    calibration_windows = load_section(TrainConfig, "params.yaml").calibration_windows
    for ranked in (True, False) if conf.get("unranked_too") else (True,):
        grounding_of = pair_grounding if ranked else (lambda p: dataclasses.replace(pair_grounding(p), ranked=False))
        tag = "" if ranked else "unranked_"
        bias = StopBias()
        for split in conf.get("splits", ("val", "test", "stress")):
            pairs = atomic.read_jsonl(data / f"{split}.jsonl")[:conf.get("limit")]
            # Every split decoded once with the list never closed by choice; its texts at a bias from there
            # (`texts_at_bias`); val fits the bias as the pipeline does, on its calibration windows.
            results = generate_timelines(model, tokenizer, [p["prompt"] for p in pairs], constrained=True,
                                         groundings=[grounding_of(p) for p in pairs], batch_size=32,
                                         stop_bias=STOP_BIAS_NEVER)
            result[f"{tag}{split}_margins"] = {p["id"]: list(r.stop_margins) for p, r in zip(pairs, results)}
            result[f"{tag}{split}_texts"] = {p["id"]: r.text for p, r in zip(pairs, results)}
            if split == "val":
                n = 0 if calibration_windows == "none" else calibration_windows
                calib = {p["id"] for p in spread_subset(pairs, n)}
                bias, _ = fit_stop_bias(*zip(*[(p, r) for p, r in zip(pairs, results) if p["id"] in calib]), 20)
                curve = f1_by_stop_bias(pairs, results, 20)
                result[tag + "val_stop_bias"] = {"fit": bias.as_dict(), "f1_at_0": curve[0.0],
                                                 "best": max(curve, key=curve.get), "f1_best": max(curve.values())}
            name = f"{split}_constrained"
            runs = {name: score_texts(name, pairs, texts_at_bias(results, [grounding_of(p) for p in pairs], bias), 20)}
            if split == "val" and ranked:
                free = spread_subset(pairs, 32)
                free_results = generate_timelines(model, tokenizer, [p["prompt"] for p in free],
                                                  constrained=False, max_new_tokens=256, batch_size=32)
                runs["val_free"] = score_texts("val_free", free, [r.text for r in free_results], 20, free_results)
            rule_texts = [schema.dump_timeline(rule_entries(p, threshold)) for p in pairs]
            runs[f"{split}_rule"] = score_texts(f"{split}_rule", pairs, rule_texts, 20)
            for name, (score, p) in runs.items():
                if not score.windows:
                    continue
                s = score.summary()
                with_moments = [w for w in score.windows if w.reference]
                result[tag + name] = {k: s[k] for k in KEYS} | {"windows_with_moments": len(with_moments),
                                                                "empty_on_moments": sum(not w.predicted
                                                                                        for w in with_moments)}
                preds += [{**row, "run": tag + row["run"]} for row in p]
    atomic.write_jsonl(out / "predictions.jsonl", preds)
    result["wall_s"] = time.perf_counter() - t0
    atomic.write_json(out / "result.json", result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("configs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--parallel", type=int, default=6)
    parser.add_argument("--one", help="run the named config in this process")
    args = parser.parse_args()
    configs = json.loads(args.configs.read_text())
    if args.one:
        conf = next(c for c in configs if c["name"] == args.one)
        run_one(args.base, conf, args.out / conf["name"])
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false")
    pending, running = list(configs), []
    args.out.mkdir(parents=True, exist_ok=True)
    while pending or running:
        while pending and len(running) < args.parallel:
            c = pending.pop(0)
            log = open(args.out / f"{c['name']}.log", "w")
            running.append((c, subprocess.Popen([sys.executable, __file__, args.base, str(args.configs), str(args.out),
                                                 "--one", c["name"]], stdout=log, stderr=subprocess.STDOUT, env=env)))
        time.sleep(2)
        for c, p in list(running):
            if p.poll() is not None:
                running.remove((c, p))
                print(f"{c['name']}: rc {p.returncode}", flush=True)
    failed = [c["name"] for c in configs if not (args.out / c["name"] / "result.json").is_file()]
    print(f"failed: {', '.join(failed) or 'none'}; table: python scripts/experiments/sweep_table.py {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DVC stage `build_sft`: canonical tables -> prompt/completion pairs split by game.

    python stages/build_sft.py data/interim data/sft metrics/sft.json

Reads params.yaml sections `build_sft` and `train_qlora.base_model` (its tokenizer sets the
prompt token budget). Writes data/sft/{train,val,test,stress}.jsonl, data/sft/split.json,
data/sft/rule.json (the thresholds of the rule and the state and volume baselines, fit on train) and metrics/sft.json.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from fan_timeline import atomic
from fan_timeline.config import BuildSftConfig, ConfigError, TrainConfig, load_section
from fan_timeline.model import load_tokenizer, resolve_base_model
from fan_timeline.sft import SPLITS, build


def records(path: Path) -> list[dict]:
    frame = pd.read_parquet(path)
    return json.loads(frame.to_json(orient="records"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("interim_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes building games in parallel (default: all cores; same output for any number)")
    args = parser.parse_args(argv)
    try:
        cfg = load_section(BuildSftConfig, args.params)
        base_model = load_section(TrainConfig, args.params).base_model   # the tokenizer budgets prompts
    except ConfigError as exc:
        print(f"build_sft failed: {exc}", file=sys.stderr)
        return 1
    tokenizer = load_tokenizer(resolve_base_model(base_model))
    result = build(records(args.interim_dir / "games.parquet"), records(args.interim_dir / "plays.parquet"),
                   records(args.interim_dir / "comments.parquet"), atomic.read_jsonl(args.interim_dir / "gold.jsonl"),
                   cfg, tokenizer, workers=args.workers)
    with atomic.atomic_dir(args.out_dir) as out:   # the directory appears whole or not at all
        for split in SPLITS:
            atomic.write_jsonl(out / f"{split}.jsonl", result.pairs[split])
        atomic.write_json(out / "split.json", result.manifest)
        atomic.write_json(out / "rule.json", result.rule)
    atomic.write_json(args.metrics, result.metrics)
    m = result.metrics
    print(f"build_sft: pairs {m['pairs']}, games {m['games']}, prompt tokens p90 "
          f"{m['prompt_tokens']['train'].get('p90')}, gold moments among the candidates "
          f"{m['gold']['candidate_recall'] or 0:.0%}, thresholds {m['rule']['thresholds']}")
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("build_sft", main))

"""DVC stage `ingest`: raw games -> canonical tables + an account of every rejected row.

    python stages/ingest.py data/raw/sample data/interim metrics/ingest.json --stress data/raw/stress \
        --realism metrics/realism.json

Reads params.yaml section `ingest`. Writes data/interim/{games,plays,comments}.parquet,
gold.jsonl, rejected.jsonl, metrics/ingest.json and metrics/realism.json (how the threads behave
against a real game's, `fan_timeline.realism`; all declared in dvc.yaml).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from fan_timeline import atomic, tables
from fan_timeline.config import ConfigError, IngestConfig, load_section
from fan_timeline.ingest import IngestError, ingest


def write_table(rows: list[dict], columns: tuple[str, ...], path: Path) -> None:
    frame = pd.DataFrame(rows, columns=list(columns))
    with atomic.atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--stress", type=Path, help="the stress set's games (split `stress`, never trained on)")
    parser.add_argument("--realism", type=Path, help="write how the threads behave against a real game's here "
                                                     "(fan_timeline.realism)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        cfg = load_section(IngestConfig, args.params)
        result = ingest(args.raw_dir, cfg, args.stress)
    except (ConfigError, IngestError) as exc:
        print(f"ingest failed: {exc}", file=sys.stderr)
        return 1
    with atomic.atomic_dir(args.out_dir) as out:   # the directory appears whole or not at all
        write_table(result.games, tables.GAME_COLUMNS, out / "games.parquet")
        write_table(result.plays, tables.PLAY_COLUMNS, out / "plays.parquet")
        write_table(result.comments, tables.COMMENT_COLUMNS, out / "comments.parquet")
        atomic.write_jsonl(out / "gold.jsonl", result.gold)
        atomic.write_jsonl(out / "rejected.jsonl", result.rejections.items)
    atomic.write_json(args.metrics, result.metrics)
    if args.realism:
        atomic.write_json(args.realism, result.realism)
    m = result.metrics
    print(f"ingest: {m['games']} games, {m['plays']} plays, {m['comments']} comments kept, "
          f"{m['rejected']} rows rejected (see {args.out_dir / 'rejected.jsonl'})")
    if args.realism:
        print(f"realism: {result.realism['games']} games measured, every figure within its band of a real "
              f"game's: {result.realism['all_in_band']} ({args.realism})")
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("ingest", main))

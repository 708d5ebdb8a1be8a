"""DVC stage `export`: merged model + adapter + schema + model card, after a parity check.

    python stages/export.py models/adapter data/sft/test.jsonl metrics/eval.json models/export metrics/export.json

Reads params.yaml section `export`. Fails (and writes nothing) if the merged model's constrained
greedy outputs differ from the adapter model's on the first `export.parity_prompts` test prompts.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see stages/train_qlora.py)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from fan_timeline import atomic  # noqa: E402
from fan_timeline.config import (  # noqa: E402
    BuildSftConfig,
    ConfigError,
    ExportConfig,
    IngestConfig,
    as_dict,
    load_section,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("eval_metrics", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--lock", type=Path, default=Path("dvc.lock"))
    args = parser.parse_args(argv)
    try:
        cfg = load_section(ExportConfig, args.params)
        # what DVC tracks of them (the server reads with its own limits, not ingest's runtime ones)
        pipeline_params = {"ingest": as_dict(load_section(IngestConfig, args.params), runtime=False),
                           "build_sft": as_dict(load_section(BuildSftConfig, args.params), runtime=False)}
    except ConfigError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    from fan_timeline.export import export

    try:
        metrics = export(args.adapter, args.out_dir, atomic.read_jsonl(args.test), parity_prompts=cfg.parity_prompts,
                         eval_metrics=json.loads(args.eval_metrics.read_text()), lock_path=args.lock,
                         pipeline_params=pipeline_params, gguf=cfg.gguf)
    except RuntimeError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    atomic.write_json(args.metrics, metrics)
    g = metrics["gguf"]
    gguf = (f"; GGUF skipped: {g['skipped']}" if "skipped" in g else
            "".join(f"; GGUF {f} {v['mb']} MB, parity {v['parity_equal']}/{metrics['parity_prompts']}, {v['seconds']} s"
                    for f, v in g["formats"].items()))
    print(f"export: {args.out_dir} ({metrics['export_mb']} MB), "
          f"parity {metrics['parity_equal']}/{metrics['parity_prompts']}{gguf}")
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("export", main))

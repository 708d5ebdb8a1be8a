"""DVC stage `train_qlora`: LoRA (CPU, fp32) or QLoRA NF4 (CUDA) fine-tuning on the SFT pairs.

    python stages/train_qlora.py data/sft models/adapter models/checkpoints plots/train metrics/train.json

Reads params.yaml section `train_qlora` (and `evaluate.ts_tolerance_s`, to score the calibration
as evaluate scores). Writes the adapter (+ tokenizer, train_config.json), the training curves under
plots/train/ (`plots.Curves`), metrics/train.json, and resumable checkpoints in models/checkpoints/ (a persisted
DVC output: a killed run resumes when the stage is rerun). Then the trained model decodes
`calibration_windows` val windows once to fit its stop bias (`calibration.fit_stop_bias`: one before
a likely moment, a play whose score reaches the rule's threshold in data/sft/rule.json, one before
another), written into the adapter's train_config.json and metrics/train.json.
With `nproc: N` > 1 the script starts itself again under torchrun, N data-parallel processes
(one per GPU on CUDA; gloo on CPU, the cores split between them); process 0 writes the outputs.
`nproc: 0` (auto) picks N: one process per GPU or physical core, at most one per micro-batch of
a step (`train.resolve_nproc`).
"""

import os

# Before torch is imported: spinning OpenMP threads make 2 threads several times slower than 1
# as soon as another process wants a core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from fan_timeline import atomic  # noqa: E402
from fan_timeline.config import ConfigError, EvaluateConfig, TrainConfig, load_section  # noqa: E402

CALIBRATION_BATCH = 16   # val windows decoded together to fit the stop bias


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sft_dir", type=Path)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("checkpoints", type=Path)
    parser.add_argument("plots", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        cfg = load_section(TrainConfig, args.params)
        calibrates = cfg.calibration_windows != "none"   # scored as evaluate scores, by its tolerance
        tol_s = load_section(EvaluateConfig, args.params).ts_tolerance_s if calibrates else 0.0
    except ConfigError as exc:
        print(f"train_qlora failed: {exc}", file=sys.stderr)
        return 1
    from fan_timeline.process import Busy, die_with_parent, exclusive
    from fan_timeline.train import resolve_nproc

    if "LOCAL_RANK" in os.environ:   # a torchrun worker, in a session of its own: it dies with its launcher
        die_with_parent()
        return run(cfg, args)
    try:
        with exclusive(args.checkpoints, "train_qlora"):   # one run per checkpoint directory
            if (nproc := resolve_nproc(cfg)) > 1:
                code = launch(nproc, [__file__, *(sys.argv[1:] if argv is None else argv)])
            else:
                code = run(cfg, args)
            return code or calibrate(cfg, args, tol_s)
    except Busy as exc:
        print(f"train_qlora failed: {exc}", file=sys.stderr)
        return 1


def run(cfg, args: argparse.Namespace) -> int:
    from fan_timeline.train import train

    try:
        m = train(cfg, train_path=args.sft_dir / "train.jsonl", val_path=args.sft_dir / "val.jsonl",
                  out_dir=args.adapter, checkpoint_dir=args.checkpoints, curves_dir=args.plots,
                  metrics_path=args.metrics)
    except ValueError as exc:   # bad examples, bad device/quantization combination: say what and where
        print(f"train_qlora failed: {exc}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") != "0":
        return 0
    print(f"train_qlora: {m['steps']} steps, train loss {m['train_loss']:.3f}, val loss "
          f"{m['val_loss_initial']:.3f} -> {m['val_loss']:.3f}, {m['tokens_per_s']:.0f} tok/s, {m['wall_s']:.0f} s")
    return 0


def calibrate(cfg, args: argparse.Namespace, tol_s: float) -> int:
    """Fit the trained model's stop bias on val windows (`calibration.fit_stop_bias`) and record it."""
    import json

    from fan_timeline.calibration import STOP_BIAS_NEVER, StopBias, fit_stop_bias, pair_grounding
    from fan_timeline.generate import generate_timelines
    from fan_timeline.model import load_model

    config_path = args.adapter / "train_config.json"
    train_config = json.loads(config_path.read_text())
    bias, scores = StopBias(), {}
    if cfg.calibration_windows != "none":
        val = atomic.spread_subset(atomic.read_jsonl(args.sft_dir / "val.jsonl"), cfg.calibration_windows)
        model, tokenizer = load_model(train_config["base_model"], adapter=str(args.adapter))
        results = generate_timelines(model, tokenizer, [p["prompt"] for p in val], constrained=True,
                                     groundings=[pair_grounding(p) for p in val], batch_size=CALIBRATION_BATCH,
                                     stop_bias=STOP_BIAS_NEVER)
        threshold = json.loads((args.sft_dir / "rule.json").read_text())["thresholds"]["rule"]
        bias, scores = fit_stop_bias(val, results, tol_s, threshold)
    calibration = {"stop_bias": bias.as_dict(), "calibration_windows": cfg.calibration_windows,
                   **{f"calibration_val_{k}": v for k, v in scores.items()}}
    atomic.write_json(config_path, {**train_config, **calibration})
    atomic.write_json(args.metrics, {**json.loads(args.metrics.read_text()), **calibration})
    if scores:
        print(f"train_qlora: stop bias {bias.moment:+.2f} before a likely moment (score {bias.threshold} or more), "
              f"{bias.other:+.2f} before another play, on {len(val)} val windows: event F1 "
              f"{scores['event_f1_at_0']:.2f} -> {scores['event_f1']:.2f} (the rule's timeline: "
              f"{scores['event_f1_rule']:.2f})")
    return 0


def launch(nproc: int, script_argv: list[str]) -> int:
    """Run the stage as `nproc` data-parallel processes under torchrun; its exit status. The
    torchrun agent dies with this process, and its workers with it (`process.die_with_parent`)."""
    import subprocess

    from fan_timeline.process import die_with_parent

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           *script_argv]
    print(f"train_qlora: {nproc} processes: {' '.join(cmd[1:])}", file=sys.stderr)
    return subprocess.run(cmd, check=False, preexec_fn=die_with_parent).returncode


if __name__ == "__main__":
    sys.exit(atomic.run_stage("train_qlora", main))

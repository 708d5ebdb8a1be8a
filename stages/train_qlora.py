"""DVC stage `train_qlora`: LoRA (CPU, fp32) or QLoRA NF4 (CUDA) fine-tuning on the SFT pairs.

    python stages/train_qlora.py data/sft models/adapter models/checkpoints plots/train metrics/train.json

Reads params.yaml section `train_qlora`. Writes the adapter (+ tokenizer, train_config.json),
DVCLive curves under plots/train/, metrics/train.json, and resumable checkpoints in
models/checkpoints/ (a persisted DVC output: a killed run resumes when the stage is rerun).
With `nproc: N` > 1 the script starts itself again under torchrun, N data-parallel processes
(one per GPU on CUDA; gloo on CPU, the cores split between them); process 0 writes the outputs.
`nproc: 0` (auto) picks N: one process per GPU or physical core, at most one per micro-batch of
a step (`train.resolve_nproc`).
"""

import os

# Before torch is imported: spinning OpenMP threads make 2 threads several times slower than 1
# as soon as another process wants a core (DESIGN.md §7).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from fan_timeline import atomic  # noqa: E402
from fan_timeline.config import ConfigError, TrainConfig, load_section  # noqa: E402


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
                return launch(nproc, [__file__, *(sys.argv[1:] if argv is None else argv)])
            return run(cfg, args)
    except Busy as exc:
        print(f"train_qlora failed: {exc}", file=sys.stderr)
        return 1


def run(cfg, args: argparse.Namespace) -> int:
    from fan_timeline.train import train

    try:
        m = train(cfg, train_path=args.sft_dir / "train.jsonl", val_path=args.sft_dir / "val.jsonl",
                  out_dir=args.adapter, checkpoint_dir=args.checkpoints, live_dir=args.plots, metrics_path=args.metrics)
    except ValueError as exc:   # bad examples, bad device/quantization combination: say what and where
        print(f"train_qlora failed: {exc}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") != "0":
        return 0
    print(f"train_qlora: {m['steps']} steps, train loss {m['train_loss']:.3f}, val loss "
          f"{m['val_loss_initial']:.3f} -> {m['val_loss']:.3f}, {m['tokens_per_s']:.0f} tok/s, {m['wall_s']:.0f} s")
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

"""Data-parallel scaling of the train_qlora stage: the same run on 1 and on N GPUs (torchrun, NCCL).

    python benchmarks/train_scaling.py --nproc 1,2 --model-shape llama-1.2b --quantization nf4

Runs `stages/train_qlora.py` itself (the stage launches torchrun when `nproc` > 1) with the
train_qlora section of `--params`, changed only in: the base model (a random-init Llama of
`--model-shape`, saved once, see train_throughput.py), `nproc`, `max_steps`, the micro-batch
budget, `grad_accum` and no checkpoints or mid-run val loss. Every run trains the same global
batches (the processes share each step's micro-batches), so tokens/s compare directly. Reports the
steady-state tokens/s (median of the `tokens_per_s` curve's windows after the first
`--skip-windows`, which hold the compilation) and the speed-up over the first `--nproc` entry.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from train_throughput import REPO, SHAPES, make_shape_model, versions  # same folder

from fan_timeline.config import TrainConfig, as_dict, load_section, set_values
from fan_timeline.plots import Curves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", default="1,2", help="comma list of process counts")
    parser.add_argument("--model-shape", default="llama-1.2b", choices=list(SHAPES))
    parser.add_argument("--quantization", default="nf4", choices=["none", "nf4"])
    parser.add_argument("--tokenizer", help="directory with the tokenizer (default: the configured base model)")
    parser.add_argument("--sft-dir", type=Path, default=REPO / "data" / "sft")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--micro-batch-tokens", type=int, default=5056)
    parser.add_argument("--grad-accum", type=int, default=4, help="micro-batches per step, shared out")
    parser.add_argument("--lora-layers", type=int, default=0)
    parser.add_argument("--skip-windows", type=int, default=3, help="logging windows left out (compilation)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from fan_timeline.model import resolve_base_model

    params = as_dict(load_section(TrainConfig, args.params))
    tmp = Path(tempfile.mkdtemp(prefix="train-scaling-"))
    tokenizer = args.tokenizer or resolve_base_model(params["base_model"])
    model_dir = make_shape_model(args.model_shape, tokenizer, tmp / "model", "cuda")
    torch.cuda.empty_cache()
    runs = []
    for n in [int(x) for x in args.nproc.split(",")]:
        out = tmp / f"nproc{n}"
        out.mkdir()
        section = {**params, "base_model": model_dir, "quantization": args.quantization, "nproc": n,
                   "max_steps": args.max_steps, "micro_batch_tokens": args.micro_batch_tokens,
                   "grad_accum": args.grad_accum, "lora_layers": args.lora_layers, "checkpoint_every": 0,
                   "eval_every": 0, "logging_every": 2, "val_examples": 4, "compile": True}
        spec: dict = {}
        set_values(spec, "train_qlora", section)
        (out / "params.yaml").write_text(yaml.safe_dump(spec))
        cmd = [sys.executable, str(REPO / "stages" / "train_qlora.py"), str(args.sft_dir), str(out / "adapter"),
               str(out / "ckpt"), str(out / "curves"), str(out / "metrics.json"), "--params", str(out / "params.yaml")]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if done.returncode:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"nproc={n} failed")
        metrics = json.loads((out / "metrics.json").read_text())
        windows = [v for _, v in Curves(out / "curves").read("tokens_per_s")]
        steady = statistics.median(windows[args.skip_windows:])
        runs.append({"nproc": n, "tokens_per_s": steady, "windows": windows, "wall_s": wall,
                     "train_loss": metrics["train_loss"], "val_loss": metrics["val_loss"],
                     "real_tokens": metrics["real_tokens"], "steps": metrics["steps"]})
        print(f"nproc {n}: {steady:.0f} tokens/s steady, wall {wall:.0f} s, train loss {metrics['train_loss']:.4f}, "
              f"val loss {metrics['val_loss']:.4f}", flush=True)
    base = runs[0]["tokens_per_s"]
    for r in runs:
        r["speedup"] = r["tokens_per_s"] / base
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    report = {"command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
              "gpus": gpus, "versions": versions(), "model_shape": args.model_shape,
              "quantization": args.quantization, "micro_batch_tokens": args.micro_batch_tokens,
              "grad_accum": args.grad_accum, "runs": runs}
    print(f"\n{gpus}; {args.model_shape} {args.quantization}, {args.grad_accum} x {args.micro_batch_tokens}-token "
          f"micro-batches a step")
    print(f"{'nproc':>5}{'tokens/s':>10}{'speed-up':>10}{'wall s':>8}{'train loss':>12}")
    for r in runs:
        print(f"{r['nproc']:>5}{r['tokens_per_s']:>10.0f}{r['speedup']:>9.2f}x{r['wall_s']:>8.0f}{r['train_loss']:>12.4f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

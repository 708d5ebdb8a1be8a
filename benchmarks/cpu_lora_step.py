"""What the CPU LoRA layers (fan_timeline.cpu_lora) save: one training step, PEFT's modules vs ours.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/cpu_lora_step.py [--rounds 6] [--examples 2] [--out cpu-lora.json]

Builds the train stage's model (`train.build_model`, params.yaml's train_qlora section, the
embedded SmolLM2-135M) and times `train.train_step` on the same middle-length examples of
data/sft/train.jsonl, one row per example as on the CPU, with three variants of every LoRA
linear, swapped in place between steps and interleaved (ABC, CBA, ...) so that a machine whose
speed drifts treats them alike:

- peft: PEFT's own forward and `nn.Dropout`, as on CUDA and in a plain HF script;
- dropout: PEFT's forward with `cpu_lora.LoraDropout`;
- fused: `LoraDropout` and `cpu_lora._fused_forward`, what `train.build_model` installs on CPU.

The learning rate is 0, so every step sees the same weights. Prints the median seconds per step
and the ratio to peft; `--out` writes the per-step times as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: don't spin against other processes

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("peft", "dropout", "fused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO / "data" / "sft" / "train.jsonl"))
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--examples", type=int, default=2, help="examples per step (the default micro-batch holds ~2)")
    parser.add_argument("--rounds", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=0, help="0 = physical cores")
    parser.add_argument("--out")
    args = parser.parse_args()

    import torch
    from peft.tuners.lora import Linear

    from fan_timeline import train as T
    from fan_timeline.config import TrainConfig, load_section
    from fan_timeline.cpu_lora import LoraDropout, _fused_forward
    from fan_timeline.model import load_tokenizer, resolve_base_model

    torch.set_num_threads(args.threads or T.physical_cores())
    cfg = load_section(TrainConfig, args.params)
    base = resolve_base_model(cfg.base_model)
    tokenizer = load_tokenizer(base)
    examples = sorted(T.load_examples(args.data, tokenizer, cfg.max_seq_len), key=len)
    middle = len(examples) // 2
    data = examples[middle:middle + args.examples]
    model = T.build_model(cfg, base, torch.device("cpu"), "none")
    lora = [m for m in model.modules() if isinstance(m, Linear)]

    def use(variant: str) -> None:
        for module in lora:
            module.lora_dropout["default"] = (torch.nn.Dropout(cfg.lora_dropout) if variant == "peft"
                                              else LoraDropout(cfg.lora_dropout))
            if variant == "fused":
                module.forward = types.MethodType(_fused_forward, module)
            else:
                vars(module).pop("forward", None)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=0.0)

    def step() -> float:
        start = time.perf_counter()
        T.train_step(model, optimizer, params, [data], packing=True, one_row=False, pad_id=tokenizer.pad_token_id,
                      device="cpu", autocast=None, lr=0.0)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for variant in VARIANTS:  # warm-up, untimed
        use(variant)
        step()
    for r in range(args.rounds):
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            use(variant)
            times[variant].append(step())

    medians = {v: statistics.median(t) for v, t in times.items()}
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; "
          f"{len(data)} examples of {[len(ex) for ex in data]} tokens a step, LoRA on {len(lora)} linears, "
          f"dropout {cfg.lora_dropout}, medians of {args.rounds} interleaved steps")
    print(f"{'variant':8s} {'s/step':>7s} {'vs peft':>8s}  steps")
    for v in VARIANTS:
        print(f"{v:8s} {medians[v]:7.3f} {medians[v] / medians['peft']:7.2f}x  "
              + " ".join(f"{t:.2f}" for t in times[v]))
    if args.out:
        Path(args.out).write_text(json.dumps({"command": "python " + " ".join(sys.argv),
                                              "tokens": [len(ex) for ex in data],
                                              "times": times, "medians": medians}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

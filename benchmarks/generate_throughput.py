"""Generation throughput: batch 1 vs batched, free vs constrained decoding, on the embedded model.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/generate_throughput.py [--batch-size 8] [--prompts 8]
        [--free-max-new-tokens 96] [--threads N] [--model embedded:SmolLM2-135M-Instruct]
    python benchmarks/generate_throughput.py --data data/sft/test.jsonl --adapter models/adapter --out gen.json

`--data` takes the prompts (and, for constrained decoding, each window's grounding: its play
clocks and shown comments) from an SFT JSONL instead of the 8 built-in windows; `--adapter`
decodes with the fine-tuned adapter (merged), which stops where the trained model stops.

Prints one row per (decoding, batch size): useful new tokens per second (tokens up to and
including each row's stop token; a finished row leaves its batch),
decode steps per second, mean time to first token, and for constrained decoding the grammar's
share of the time and its cost per step (one llguidance mask for every row of the batch + the
torch masking). Free decoding is capped at --free-max-new-tokens; constrained decoding runs with
its real budget (the schema bound) and stops when the JSON closes. Outputs differ between the two,
so compare tokens/s, not seconds. Uses no network; the first run converts the embedded model (~25 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: don't spin against other processes

import torch
from train_throughput import git_commit, machine  # same folder

from fan_timeline.generate import generate_timelines
from fan_timeline.grammar import ll_tokenizer
from fan_timeline.model import DEFAULT_BASE_MODEL, load_model
from fan_timeline.schema import timeline_from_text

SYSTEM = "Write the JSON timeline of the moments that mattered in this window of the game."
WINDOWS = [
    ("Q4 02:10 LIN Reyes driving layup 99-101\nQ4 01:48 HAR Okafor block (Reyes) 101-101\n"
     "Q4 00:21 HAR Lindqvist 3PT jump shot 104-101",
     "[+12s] HAR fan: OKAFOR WITH THE SWAT\n[+30s] LIN fan: of course he hits that\n[+41s] HAR fan: ICE IN HIS VEINS"),
    ("Q1 11:32 BOS Tatum 2PT pullup 2-0\nQ1 11:05 NYK Brunson 3PT 2-3",
     "[+8s] BOS fan: tatum cooking already\n[+15s] NYK fan: brunson answers"),
    ("Q3 05:02 MIA Adebayo dunk (Butler assist) 70-68\nQ3 04:40 NYK Brunson bad pass turnover\n"
     "Q3 04:31 MIA Herro 3PT 73-68",
     "[+5s] MIA fan: BAM!!!\n[+20s] NYK fan: brunson what was that\n[+26s] NYK fan: this is painful"),
    ("Q2 07:44 DEN Jokic hook shot 40-38\nQ2 07:20 LAL James driving dunk 40-40\nQ2 06:58 DEN Murray 3PT 43-40",
     "[+10s] DEN fan: jokic is just different\n[+25s] LAL fan: BRON STILL HAS IT\n[+40s] DEN fan: murray splash"),
    ("OT1 00:45 GSW Curry 3PT 118-115\nOT1 00:12 SAC Fox layup 118-117",
     "[+6s] GSW fan: NIGHT NIGHT\n[+9s] SAC fan: not again\n[+30s] SAC fan: fox keeping us alive"),
    ("Q4 08:30 PHX Booker foul (personal) \nQ4 08:30 MIL Antetokounmpo free throw 1 of 2 88-85\n"
     "Q4 08:30 MIL Antetokounmpo free throw 2 of 2 89-85",
     "[+15s] MIL fan: he made both?? wow\n[+22s] PHX fan: soft foul"),
    ("Q1 03:10 BKN Thomas step back jumper 20-22\nQ1 02:51 CHI LaVine alley oop dunk 20-24",
     "[+4s] CHI fan: ZACH!!\n[+12s] BKN fan: defense is asleep"),
    ("Q3 00:02 DAL Doncic 3PT buzzer beater 80-77",
     "[+3s] DAL fan: LUKA MAGIC\n[+5s] DAL fan: are you kidding me\n[+9s] opp fan: unreal"),
]


def prompts(n: int) -> list[list[dict]]:
    out = []
    for i in range(n):
        plays, comments = WINDOWS[i % len(WINDOWS)]
        out.append([{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"Plays:\n{plays}\nComments:\n{comments}"}])
    return out


def sft_prompts(path: str, n: int) -> tuple[list[list[dict]], list]:
    """The first `n` prompts of an SFT JSONL (spread over the file) and their groundings."""
    from fan_timeline.calibration import pair_grounding

    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    picked = [rows[int(i * len(rows) / n)] for i in range(min(n, len(rows)))]
    return [r["prompt"] for r in picked], [pair_grounding(r) for r in picked]


def run(model, tokenizer, batch: list, *, constrained: bool, batch_size: int, free_max: int,
        groundings: list | None = None) -> dict:
    start = time.perf_counter()
    results = generate_timelines(model, tokenizer, batch, constrained=constrained, batch_size=batch_size,
                                 groundings=groundings if constrained else None,
                                 max_new_tokens=None if constrained else free_max)
    wall = time.perf_counter() - start
    tokens = sum(r.n_new_tokens for r in results)
    valid = sum(not timeline_from_text(r.text)[1] for r in results)
    return {
        "tokens": tokens, "wall": wall, "tok_s": tokens / wall,
        "ttft": sum(r.time_to_first_token for r in results) / len(results),  # what a prompt waited
        "grammar_s": sum(r.constraint_seconds for r in results),
        "finished": sum(r.finished for r in results), "valid": valid, "n": len(results),
        "steps": _steps(results),
    }


def _steps(results) -> int:
    """Decode steps (forward passes) run in all: the rows of a batch share its steps and its batch_seconds."""
    return sum({r.batch_seconds: r.steps for r in results}.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--prompts", type=int, default=8, help="number of prompts (cycled from 8 windows)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--free-max-new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--data", help="take the prompts and groundings from this SFT JSONL")
    parser.add_argument("--adapter", help="a trained adapter directory (models/adapter)")
    parser.add_argument("--out", help="write the rows and ratios as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model(args.model, adapter=args.adapter)
    groundings = None
    if args.data:
        batch, groundings = sft_prompts(args.data, args.prompts)
    else:
        batch = prompts(args.prompts)
    generate_timelines(model, tokenizer, batch[:1], constrained=False, max_new_tokens=8)  # warm-up
    ll_tokenizer(tokenizer)  # built once per tokenizer (~0.6 s): not part of any row below

    print(f"model {args.model}{' + ' + args.adapter if args.adapter else ''}, {len(batch)} prompts"
          f"{' from ' + args.data if args.data else ''}, {next(model.parameters()).device}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'decoding':<12}{'batch':>6}{'tokens':>8}{'steps':>7}{'seconds':>9}{'tok/s':>8}"
              f"{'steps/s':>9}{'TTFT s':>8}{'grammar':>9}{'ms/step':>9}{'finished':>10}{'valid':>7}")
    print(header)
    print("-" * len(header))
    rows = {}
    for constrained in (False, True):
        for batch_size in (1, args.batch_size):
            r = run(model, tokenizer, batch, constrained=constrained, batch_size=batch_size,
                    free_max=args.free_max_new_tokens, groundings=groundings)
            rows[("constrained" if constrained else "free", batch_size)] = r
            steps = r["steps"]
            grammar = f"{100 * r['grammar_s'] / r['wall']:.1f}%" if constrained else "-"
            per_step = f"{1000 * r['grammar_s'] / steps:.2f}" if constrained else "-"
            print(f"{'constrained' if constrained else 'free':<12}{batch_size:>6}{r['tokens']:>8}{steps:>7}"
                  f"{r['wall']:>9.1f}{r['tok_s']:>8.1f}{steps / r['wall']:>9.1f}{r['ttft']:>8.2f}"
                  f"{grammar:>9}{per_step:>9}{r['finished']:>6}/{r['n']:<3}{r['valid']:>4}/{r['n']}")
    b = args.batch_size
    ratios = {
        f"batched_{b}_vs_1_free": rows["free", b]["tok_s"] / rows["free", 1]["tok_s"],
        f"batched_{b}_vs_1_constrained": rows["constrained", b]["tok_s"] / rows["constrained", 1]["tok_s"],
        # The grammar's cost: its share of the constrained run's time (outputs differ between free and
        # constrained decoding, so their tokens/s differ for reasons other than the grammar too).
        "grammar_share_batch_1": rows["constrained", 1]["grammar_s"] / rows["constrained", 1]["wall"],
        f"grammar_share_batch_{b}": rows["constrained", b]["grammar_s"] / rows["constrained", b]["wall"],
        "constrained_vs_free_tok_s_batch_1": rows["constrained", 1]["tok_s"] / rows["free", 1]["tok_s"],
        f"constrained_vs_free_tok_s_batch_{b}": rows["constrained", b]["tok_s"] / rows["free", b]["tok_s"],
    }
    print("; ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    if args.out:
        device = next(model.parameters()).device
        report = {"command": "python " + " ".join(sys.argv), "commit": git_commit(), "machine": machine(device.type),
                  "model": args.model, "adapter": args.adapter, "data": args.data, "device": str(device),
                  "threads": torch.get_num_threads(), "load_average_end": os.getloadavg()[0],
                  "versions": {"torch": torch.__version__, "python": platform.python_version()},
                  "rows": [{"decoding": d, "batch_size": bs, **r} for (d, bs), r in rows.items()], "ratios": ratios}
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()

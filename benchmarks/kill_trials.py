"""Kill -9 `train_qlora` at random points, rerun `dvc repro`, compare with an uninterrupted run.

    python benchmarks/kill_trials.py [--trials 3] [--kills 2] [--steps 12] [--games 4] [--seed 0]
                                     [--evaluate] [--keep DIR]

Copies this working tree's pipeline (dvc.yaml, params.yaml, stages/, src/; uncommitted changes
included) into a temporary git + DVC repo with `--games` freshly simulated games, runs ingest and
build_sft once, then:
- reference: `dvc repro train_qlora` uninterrupted, with small settings (`--steps` optimizer steps,
  a checkpoint every 2, LoRA on the top 2 layers), timed;
- each trial: from the same start, `dvc repro train_qlora` is SIGKILLed (the whole process group,
  as a crash or the OOM killer would) `--kills` times, each at a uniformly random moment of what is
  left to run (model loading included), each time followed by another `dvc repro`, and finally one
  `dvc repro` that runs to the end.
Prints per trial the kill times, the checkpoint step each rerun found, the final val loss, the
largest absolute difference of any adapter weight from the reference and whether the adapter
files are bitwise identical; `--evaluate` also runs `dvc repro evaluate` (1 test window) after the
reference and each trial and compares metrics/eval.json. Uses the embedded SmolLM2-135M; CPU only is
fine (~2 min per training run on 2 cores). No network.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TRAIN_OUTS = ("models/adapter", "models/checkpoints", "metrics/train.json", "plots/train")


def env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(cmd: list[str], cwd: Path) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout + out.stderr


def make_repo(root: Path, games: int, seed: int, steps: int) -> Path:
    from fan_timeline.config import set_values
    from fan_timeline.simulate.cli import simulate

    repo = root / "base"
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO / name, repo / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    simulate(repo / "data" / "raw" / "sample", games, seed)
    simulate(repo / "data" / "raw" / "stress", 1, seed + 1, id_prefix="X", stress=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    # grad_accum 2: the default's two training processes (nproc auto), killed with their launcher's group
    set_values(params, "train_qlora", {"max_steps": steps, "grad_accum": 2, "lora_layers": 2, "checkpoint_every": 2,
                                       "eval_every": steps, "val_examples": 4, "logging_every": 1,
                                       "calibration_windows": 2})
    set_values(params, "evaluate", {"max_windows": 1, "base_windows": 1, "batch_size": 1, "free_max_new_tokens": 16})
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(["git", "init", "-q"], repo)
    sh(["dvc", "init", "-q"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "-c", "user.name=k", "-c", "user.email=k@k", "commit", "-qm", "start"], repo)
    sh(["dvc", "repro", "build_sft"], repo)
    return repo


def fresh_copy(base: Path, name: str) -> Path:
    """The base repo after build_sft, with no training output and no checkpoint."""
    repo = base.parent / name
    shutil.copytree(base, repo, symlinks=True)
    for rel in TRAIN_OUTS:
        p = repo / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    return repo


def repro(repo: Path, stage: str = "train_qlora", kill_after_s: float | None = None) -> tuple[float, bool]:
    """(seconds, killed). With `kill_after_s`, SIGKILL the whole process group at that moment."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["dvc", "repro", stage], cwd=repo, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=kill_after_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return time.perf_counter() - t0, True
    if proc.returncode != 0:
        raise SystemExit(f"dvc repro {stage} failed in {repo}:\n{out[-3000:]}")
    return time.perf_counter() - t0, False


def checkpoint_step(repo: Path) -> int | None:
    steps = sorted(p.name for p in (repo / "models" / "checkpoints").glob("step-*"))
    return int(steps[-1].split("-")[1]) if steps else None


def adapter_diff(a: Path, b: Path) -> tuple[float, bool]:
    """(max |a - b| over all adapter tensors, files bitwise identical)."""
    from safetensors.torch import load_file

    fa, fb = a / "models/adapter/adapter_model.safetensors", b / "models/adapter/adapter_model.safetensors"
    ta, tb = load_file(str(fa)), load_file(str(fb))
    assert ta.keys() == tb.keys()
    diff = max(float((ta[k] - tb[k]).abs().max()) for k in ta)
    return diff, fa.read_bytes() == fb.read_bytes()


def eval_summary(repo: Path) -> dict:
    """Every quality metric of the fine-tuned runs (all but the speed, which varies run to run)."""
    runs = json.loads((repo / "metrics/eval.json").read_text())["runs"]
    return {name: {k: v for k, v in r.items() if k != "tokens_per_s"}
            for name, r in runs.items() if name.startswith("finetuned")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial before the run that finishes")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps of the training run")
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments and the simulated games")
    parser.add_argument("--evaluate", action="store_true", help="also compare metrics/eval.json (1 window)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir, removed)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="fan-timeline-kill-")
    root = args.keep or Path(tmp.name)
    base = make_repo(root, args.games, args.seed, args.steps)

    ref = fresh_copy(base, "reference")
    ref_s, _ = repro(ref)
    ref_metrics = json.loads((ref / "metrics/train.json").read_text())
    print(f"reference: {ref_metrics['steps']} steps, {ref_s:.0f} s (dvc repro included), "
          f"val loss {ref_metrics['val_loss']:.6f}", flush=True)
    ref_eval = None
    if args.evaluate:
        repro(ref, "evaluate")
        ref_eval = eval_summary(ref)

    rows = []
    for trial in range(1, args.trials + 1):
        repo = fresh_copy(base, f"trial{trial}")
        kills = []
        for _ in range(args.kills):
            # A random moment of what is left to run: a resumed run only has the remaining steps.
            done = checkpoint_step(repo) or 0
            at = rng.uniform(0.05, 0.95) * ref_s * (1 - done / ref_metrics["steps"]) + (10 if done else 0)
            _, killed = repro(repo, kill_after_s=at)
            kills.append((round(at), killed, checkpoint_step(repo)))
            if not killed:
                break
        final_s, _ = repro(repo)
        m = json.loads((repo / "metrics/train.json").read_text())
        diff, identical = adapter_diff(ref, repo)
        row = {"trial": trial, "kills": kills, "final_run_s": round(final_s), "steps": m["steps"],
               "val_loss": m["val_loss"], "val_loss_delta": m["val_loss"] - ref_metrics["val_loss"],
               "adapter_max_abs_diff": diff, "adapter_bitwise_identical": identical}
        if args.evaluate:
            repro(repo, "evaluate")
            row["eval_equal"] = eval_summary(repo) == ref_eval
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n| trial | kills at s (killed, checkpoint step found) | last run | val loss | Δ val loss | "
          f"max abs Δ adapter | adapter bitwise equal |{' eval equal |' if args.evaluate else ''}")
    print(f"|---|---|---|---|---|---|---|{'---|' if args.evaluate else ''}")
    print(f"| reference | none | {ref_s:.0f} s | {ref_metrics['val_loss']:.6f} | 0 | 0 | yes |"
          f"{' yes |' if args.evaluate else ''}")
    for r in rows:
        kills = ", ".join(f"{at} ({'killed' if k else 'finished first'}, {f'step {s}' if s else 'no checkpoint'})"
                          for at, k, s in r["kills"])
        print(f"| {r['trial']} | {kills} | {r['final_run_s']} s | {r['val_loss']:.6f} | {r['val_loss_delta']:.2e} | "
              f"{r['adapter_max_abs_diff']:.2e} | {'yes' if r['adapter_bitwise_identical'] else 'no'} |"
              + (f" {'yes' if r['eval_equal'] else 'no'} |" if args.evaluate else ""))
    if ref_eval is not None:
        keep = ("json_validity", "schema_compliance", "event_f1", "sentiment_macro_f1", "quote_grounding")
        print("\nreference eval (fine-tuned runs): "
              + json.dumps({n: {k: r[k] for k in keep if k in r} for n, r in ref_eval.items()}))
    ok = all(r["steps"] == ref_metrics["steps"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

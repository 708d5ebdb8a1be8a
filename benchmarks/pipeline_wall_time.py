"""Wall time of the full default pipeline from a fresh clone, per stage.

    python benchmarks/pipeline_wall_time.py [--cold-model-cache] [--keep DIR | --in-place]
        [--set section.key=value ...] [--without-dvc]

Clones HEAD of this repository into a temporary directory (so uncommitted changes are not
measured) — or, with --in-place, uses this checkout (its persisted outputs, the training
checkpoints, removed first) and leaves its outputs and dvc.lock updated —
then runs each stage with `dvc repro --force --single-item <stage>` in pipeline order and prints
seconds per stage and in total.
`--cold-model-cache` also points FAN_TIMELINE_CACHE at an empty directory, so the one-time GGUF
conversion of the embedded base model is included. Needs the project venv on PATH (scripts/setup.sh).

`--set` overrides params before the run, as `dvc exp run -S` does (the `full` configuration in
docs/performance.md is a list of them). `--without-dvc` runs each stage's `cmd` from dvc.yaml
itself, `${...}` filled in from params.yaml, for a machine without DVC (the GPU machine we measure
on has none); the commands and their order are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from train_throughput import git_commit, machine, versions  # same folder

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-model-cache", action="store_true")
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temp dir, removed)")
    parser.add_argument("--in-place", action="store_true", help="run in this checkout instead of a clone")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a param first, like `dvc exp run -S` (repeatable; VALUE is YAML)")
    parser.add_argument("--without-dvc", action="store_true", help="run the stages' commands directly")
    parser.add_argument("--out", type=Path, help="write the result as JSON here (benchmarks/results/...)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="fan-timeline-bench-")
    if args.in_place:
        work = REPO
    else:
        work = args.keep or Path(tmp.name) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if args.cold_model_cache:
        env["FAN_TIMELINE_CACHE"] = str(Path(tmp.name) / "model-cache")
    set_params(work / "params.yaml", args.set)
    params = yaml.safe_load((work / "params.yaml").read_text())
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    rows, total = [], 0.0
    for stage, spec in stages.items():
        # A fresh clone has no persisted outputs (train_qlora's checkpoints): without this, a forced
        # train_qlora in place would resume a finished run and only re-save it.
        for out_spec in spec.get("outs", []):
            if isinstance(out_spec, dict):
                (path, opts), = out_spec.items()
                if opts.get("persist"):
                    shutil.rmtree(work / path, ignore_errors=True)
        if args.without_dvc:
            command = shlex.split(fill(spec["cmd"], params))
            command[0] = sys.executable if command[0] == "python" else command[0]
        else:
            command = ["dvc", "repro", "--force", "--single-item", stage]
        t0 = time.perf_counter()
        out = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if out.returncode:
            print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
            print(f"stage {stage} failed after {dt:.0f} s", file=sys.stderr)
            return 1
        rows.append((stage, dt))
        total += dt
        print(f"{stage:<12} {dt:7.1f} s", flush=True)
    print(f"{'total':<12} {total:7.1f} s  ({total / 60:.1f} min)")
    print(f"machine: {machine('cpu')}, python {platform.python_version()}")
    if args.out:
        quality = {}
        for name in ("train", "eval", "export"):   # what the run produced, to compare with the committed metrics
            path = work / "metrics" / f"{name}.json"
            quality[name] = json.loads(path.read_text()) if path.is_file() else None
        report = {"command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
                  "commit": git_commit(work), "machine": machine("cpu"),
                  "python": platform.python_version(), "versions": versions(),
                  "cold_model_cache": args.cold_model_cache, "overrides": args.set,
                  "stages_s": dict(rows), "total_s": total, "metrics": quality}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


def set_params(path: Path, overrides: list[str]) -> None:
    """Apply `section.key=value` overrides (value parsed as YAML) to a params file."""
    if not overrides:
        return
    params = yaml.safe_load(path.read_text())
    for item in overrides:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not name or section not in params or name not in params[section]:
            raise SystemExit(f"--set {item}: no param {key!r} in {path}")
        params[section][name] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


def fill(cmd: str, params: dict) -> str:
    """A dvc.yaml command with its `${section.key}` references replaced by their params values."""
    def value(match: re.Match) -> str:
        node = params
        for part in match.group(1).split("."):
            node = node[part]
        return str(node)
    return re.sub(r"\$\{\s*([\w.]+)\s*\}", value, cmd)


if __name__ == "__main__":
    sys.exit(main())

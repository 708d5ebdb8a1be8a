"""Wall time of the full default pipeline from a fresh clone, per stage.

    python benchmarks/pipeline_wall_time.py [--cold-model-cache] [--keep DIR | --in-place]

Clones HEAD of this repository into a temporary directory (so uncommitted changes are not
measured) — or, with --in-place, uses this checkout and leaves its outputs and dvc.lock updated —
then runs each stage with `dvc repro --force --single-item <stage>` in pipeline order and prints
seconds per stage and in total.
`--cold-model-cache` also points FAN_TIMELINE_CACHE at an empty directory, so the one-time GGUF
conversion of the embedded base model is included. Needs the project venv on PATH (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-model-cache", action="store_true")
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temp dir, removed)")
    parser.add_argument("--in-place", action="store_true", help="run in this checkout instead of a clone")
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
    stages = list(yaml.safe_load((work / "dvc.yaml").read_text())["stages"])
    rows, total = [], 0.0
    for stage in stages:
        t0 = time.perf_counter()
        out = subprocess.run(["dvc", "repro", "--force", "--single-item", stage], cwd=work, env=env,
                             capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if out.returncode:
            print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
            print(f"stage {stage} failed after {dt:.0f} s", file=sys.stderr)
            return 1
        rows.append((stage, dt))
        total += dt
        print(f"{stage:<12} {dt:7.1f} s", flush=True)
    print(f"{'total':<12} {total:7.1f} s  ({total / 60:.1f} min)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

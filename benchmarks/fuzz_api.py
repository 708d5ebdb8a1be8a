"""The API fuzz run at full size: N generated malformed requests per input kind.

    python benchmarks/fuzz_api.py --examples 10000 [--http-examples 200] [--seed 0] [--json out.json]

Runs tests/test_fuzz_api.py (the same strategies and checks as CI, where the default is 150
inputs per kind over ASGI and 30 over HTTP) with FUZZ_EXAMPLES=N, then prints per kind and
transport (the FastAPI app over ASGI; a real uvicorn on loopback over HTTP): inputs run, answers
by status and the slowest answer. Any 5xx, an error without a location, or a hang (> FUZZ_SLOW_S,
default 10 s, on one request) fails the run with hypothesis' minimal failing input. Needs the
project venv and the embedded model's tokenizer (FAN_TIMELINE_CACHE); no network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/test_fuzz_api.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10000, help="inputs per kind over ASGI")
    parser.add_argument("--http-examples", type=int, default=None, help="inputs per kind over HTTP (default N/50)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (the run is reproducible)")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    http = args.http_examples if args.http_examples is not None else max(30, args.examples // 50)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "fuzz.json"
        env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_HTTP_EXAMPLES": str(http),
               "FUZZ_REPORT": str(report)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
                               f"--hypothesis-seed={args.seed}"], cwd=REPO, env=env, check=False)
        wall = time.perf_counter() - t0
        result = json.loads(report.read_text()) if report.is_file() else {"kinds": {}}
    result.update({"seed": args.seed, "pytest_exit": proc.returncode, "wall_s": round(wall, 1),
                   "python": platform.python_version(), "cpus": os.cpu_count()})
    print(f"\n{args.examples} inputs per kind over ASGI, {http} over HTTP, seed {args.seed}, "
          f"{result['cpus']} CPUs, pytest exit {proc.returncode}, {wall:.0f} s in total\n")
    print("| kind | transport | inputs | 200 | 400 | 413 | 422 | 5xx | slowest answer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in result["kinds"].items():
        kind, transport = name.split("/")
        st = s["status"]
        fivexx = sum(n for code, n in st.items() if code.startswith("5"))
        print(f"| {kind} | {transport} | {s['inputs']} | {st.get('200', 0)} | {st.get('400', 0)} | "
              f"{st.get('413', 0)} | {st.get('422', 0)} | {fivexx} | {s['max_ms']:.0f} ms |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())

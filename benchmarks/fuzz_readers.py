"""The reader fuzz run at full size: N malformed inputs per reader and detection entry point.

    python benchmarks/fuzz_readers.py --examples 10000 [--seed 0]

Runs tests/readers/test_fuzz_readers.py (the same strategies and checks as CI, where the default
is 250 inputs per target) with FUZZ_EXAMPLES=N, then prints per target: inputs run, whole-file
errors (UnreadableFileError), files read, rows read = kept + rejected, the slowest input and the
wall time. Any crash, hang (> FUZZ_SLOW_S, default 10 s, on one input) or broken count fails the
run with hypothesis' minimal failing input. Needs the project venv; no network.
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
TEST = "tests/readers/test_fuzz_readers.py::test_malformed_input_is_rejected_or_accounted"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (the run is reproducible)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "fuzz.json"
        env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_REPORT": str(report)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
                               f"--hypothesis-seed={args.seed}"], cwd=REPO, env=env)
        wall = time.perf_counter() - t0
        stats = json.loads(report.read_text())["targets"] if report.is_file() else {}
    print(f"\n{args.examples} examples per target, seed {args.seed}, {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, pytest exit {proc.returncode}, {wall:.0f} s in total\n")
    print("| target | inputs | unreadable file | files read | rows read | kept | rejected | slowest input |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in stats.items():
        print(f"| {name} | {s.get('inputs', 0)} | {s.get('unreadable_file', 0)} | {s.get('files_read', 0)} | "
              f"{s.get('rows_read', 0)} | {s.get('rows_kept', 0)} | {s.get('rows_rejected', 0)} | "
              f"{s.get('max_ms', 0)} ms |")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())

"""How fast the comment readers refuse files built to cost time or memory, and what they cost.

    python benchmarks/reader_bombs.py [--bomb-mb 600] [--sizes-mb 64 128 250]
        [--out benchmarks/results/reader_bombs.json] [--src DIR]

Cases (each file is built streaming into a temporary directory, so the builder holds one MiB):
- `ndjson_zst_one_line_<N>mb`: a .ndjson.zst of a few KB that decompresses to one N MB line with
  no newline: the bomb (`--bomb-mb`) and the sizes that show how the cost grows (`--sizes-mb`).
- `ndjson_plain_one_line_<N>mb`: the same line, uncompressed.
- `csv_one_line_<N>mb`: a scraper CSV whose first row is one N MB line.

Each case runs in a fresh Python process: it loads the file, notes its peak resident memory
(`ru_maxrss`), calls `readers.comments.read_comments` with the default `ReadLimits`, and reports
the wall time of the call, the peak's growth during it ("extra resident") and how it ended.
Targets: the bomb refused in under 2 s with under 100 MB extra resident. No network.

`--src` measures another copy of the package, for a before/after comparison, e.g. the commit
before a change: `git archive <commit> src | tar -x -C /tmp/old`, then `--src /tmp/old/src`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard

REPO = Path(__file__).resolve().parents[1]
PIECE = 1 << 20
TARGET_S, TARGET_MB = 2.0, 100.0

# Runs in the child: the file is loaded before the baseline, so only the reader's own memory counts.
CHILD = r"""
import json, resource, sys, time
from fan_timeline.readers.comments import read_comments
path = sys.argv[1]
data = open(path, "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    res = read_comments(data, path)
    outcome = f"read: {len(res.comments)} kept, {len(res.rejections)} rejected"
    error = None
except Exception as exc:
    outcome, error = type(exc).__name__, str(exc).replace(path, "<file>")
took = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": took, "extra_resident_mb": (peak - base) / 1024, "outcome": outcome,
                  "error": error}))
"""


def one_line_pieces(mb: int):
    """A JSON comment line that never ends: its head, then `mb` MB of body text, no newline."""
    yield b'{"id": "bomb", "author": "x", "created_utc": 1700000000, "body": "'
    for _ in range(mb):
        yield b"x" * PIECE


def write_zst(path: Path, pieces) -> None:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    with path.open("wb") as f:
        for piece in pieces:
            f.write(cobj.compress(piece))
        f.write(cobj.flush())


def write_plain(path: Path, pieces) -> None:
    with path.open("wb") as f:
        for piece in pieces:
            f.write(piece)


def csv_pieces(mb: int):
    yield b"id,parentId,postId,body,createdAt,upVotes,username\n"
    yield b'c1,t3_p,p,"'
    for _ in range(mb):
        yield b"x" * PIECE


def run_case(path: Path, src: Path, timeout_s: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                             timeout=timeout_s, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "extra_resident_mb": None, "outcome": f"killed after {timeout_s:.0f} s",
                "error": None}
    if out.returncode:
        return {"seconds": None, "extra_resident_mb": None, "outcome": f"exit {out.returncode}",
                "error": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return f"{model}, {len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.2f} at start"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bomb-mb", type=int, default=600, help="decompressed size of the one-line bomb")
    parser.add_argument("--sizes-mb", type=int, nargs="*", default=[64, 128, 250],
                        help="more one-line sizes, to show how the cost grows with the line")
    parser.add_argument("--timeout-s", type=float, default=300, help="a case running longer is killed")
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the package source to measure")
    parser.add_argument("--out", type=Path, help="write the results as JSON here (benchmarks/results/...)")
    args = parser.parse_args()
    started = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="reader-bombs-") as tmp:
        cases = [(f"ndjson_zst_one_line_{mb}mb", f"{mb}.ndjson.zst", write_zst, one_line_pieces, mb)
                 for mb in sorted({*args.sizes_mb, args.bomb_mb})]
        big = max(args.sizes_mb, default=args.bomb_mb)
        cases += [(f"ndjson_plain_one_line_{big}mb", f"{big}.ndjson", write_plain, one_line_pieces, big),
                  (f"csv_one_line_{big}mb", f"{big}.csv", write_plain, csv_pieces, big)]
        for name, filename, write, pieces, mb in cases:
            path = Path(tmp) / filename
            write(path, pieces(mb))
            row = {"case": name, "file_bytes": path.stat().st_size, "decompressed_mb": mb,
                   **run_case(path, args.src, args.timeout_s)}
            path.unlink()
            rows.append(row)
            secs = "-" if row["seconds"] is None else f"{row['seconds']:.2f} s"
            mem = "-" if row["extra_resident_mb"] is None else f"{row['extra_resident_mb']:.0f} MB"
            print(f"{name:<30} {row['file_bytes']:>12,} B  {secs:>9}  {mem:>8}  {row['outcome']}", flush=True)
            if row["error"]:
                print(f"{'':<30} {row['error'][:160]}", flush=True)
    bomb = next(r for r in rows if r["case"] == f"ndjson_zst_one_line_{args.bomb_mb}mb")
    met = (bomb["seconds"] is not None and bomb["seconds"] < TARGET_S
           and bomb["extra_resident_mb"] < TARGET_MB and bomb["outcome"] == "InputTooLargeError")
    print(f"bomb ({args.bomb_mb} MB line): target < {TARGET_S:g} s and < {TARGET_MB:g} MB extra, refused: "
          f"{'met' if met else 'NOT met'}")
    if args.out:
        report = {"command": "python " + " ".join([os.path.relpath(__file__, REPO), *sys.argv[1:]]),
                  "commit": git_commit(), "src": os.path.relpath(args.src.resolve(), REPO),
                  "machine": started, "python": platform.python_version(),
                  "zstandard": zstandard.__version__, "target": {"seconds": TARGET_S, "extra_resident_mb": TARGET_MB},
                  "target_met": met, "cases": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

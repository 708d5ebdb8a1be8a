"""`fan-timeline` command line: the tools around the DVC pipeline.

    fan-timeline simulate --games 12 --seed 7 --out data/raw/sample

The pipeline stages themselves run through `dvc repro` (see dvc.yaml).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fan-timeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("simulate", help="write deterministic synthetic games in the real raw formats", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from fan_timeline import simulate
        return simulate.main(rest)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

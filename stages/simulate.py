"""DVC stage `simulate`: write the sample games (and the stress set) with the project's simulator.

    python stages/simulate.py data/raw/sample data/raw/stress

Reads params.yaml section `simulate`. The sample is synthetic (Reddit text is not ours to
redistribute): play-by-play in the four real feed formats and threads in the real comment formats,
each game with its gold timeline, byte-identical for a seed (`fan_timeline.simulate`). Writes both
directories whole or not at all (declared in dvc.yaml) and prints how the fans behave against a
real game's threads (`fan_timeline.realism`).
"""

import argparse
import sys
from pathlib import Path

from fan_timeline import atomic, realism
from fan_timeline.config import ConfigError, SimulateConfig, load_section
from fan_timeline.simulate.cli import simulate
from fan_timeline.simulate.fans import WORLDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sample_dir", type=Path)
    parser.add_argument("stress_dir", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        cfg = load_section(SimulateConfig, args.params)
    except ConfigError as exc:
        print(f"simulate failed: {exc}", file=sys.stderr)
        return 1
    world = WORLDS[cfg.world]
    with atomic.atomic_dir(args.sample_dir) as out:
        _, report = simulate(out, cfg.games, cfg.seed, world=world)
    with atomic.atomic_dir(args.stress_dir) as out:
        simulate(out, cfg.stress_games, cfg.stress_seed, id_prefix="X", stress=True, world=world)
    print("\n".join(realism.report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("simulate", main))

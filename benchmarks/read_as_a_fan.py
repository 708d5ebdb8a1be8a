"""Read the exported model's timelines of real games as a fan would: every audience, the whole game.

    python benchmarks/read_as_a_fan.py --out benchmarks/results/read_as_a_fan.json   (~6 min on 2 CPU cores)

The repo's real play-by-play samples (tests/data/real: real NBA games, real players and scores) get
simulated realistic threads (`fan-timeline simulate --pbp`: the league thread and both teams'
subreddits, with the simulator's gold: which plays its fans made the moments and how each fan base
felt), and the exported model (models/export, as `fan-timeline generate` loads it) writes each
audience's timeline of the whole game. What a fan checks, per game and audience:

- entries over the whole game, and the share that quote a fan;
- facts: every entry's sentence is the play-by-play's own play at that clock (`facts.game_facts`);
- the moments of the last two minutes (of regulation, and of the last overtime): the gold moments
  there found (an entry about that very play) and with the audience's feeling right.

It prints every timeline in full (what docs/results.md's "Read as a fan" quotes) and writes the counts.
Nothing here is chosen: the model and its params are the export's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from train_throughput import git_commit, machine  # same folder

from fan_timeline import atomic, sport
from fan_timeline.facts import game_facts
from fan_timeline.game import RawFile
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.simulate.cli import threads_over_pbp

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"
GAMES = (  # file, local date, arena time zone
    ("stats_playbyplayv3_0022200552.json", "2023-01-02", "America/New_York"),   # CHI at CLE, Mitchell's 71, OT
    ("cdn_liveData_playbyplay_0022000001.json", None, "America/New_York"),      # GSW at BKN, opening night 2020
    ("stats_playbyplayv2_0021900001.json", "2019-10-22", "America/Toronto"),    # NOP at TOR, OT
)
LAST_S = 120.0   # "the last two minutes"


def last_minutes(entry_s: float, periods: int) -> bool:
    """Whether a game second is in the last two minutes of regulation or of the last period."""
    ends = {sport.game_seconds(sport.REGULATION_PERIODS, 0.0), sport.game_seconds(periods, 0.0)}
    return any(end - LAST_S <= entry_s <= end for end in ends)


def read_game(service: Any, game_dir: Path) -> dict[str, Any]:
    meta = json.loads((game_dir / "game.json").read_text())
    pbp_raw = RawFile("pbp.json", (game_dir / "pbp.json").read_bytes())
    comments = [RawFile(p.name, p.read_bytes()) for p in sorted((game_dir / "comments").iterdir())]
    game = service.read_raw(pbp_raw, comments, meta)
    pbp = read_pbp((game_dir / "pbp.json").read_bytes(), "pbp.json")
    facts = game_facts(pbp.plays, pbp.home_team, pbp.away_team)
    by_clock: dict[tuple[str, str], int] = {(f.clock, f.text): f.seq for f in facts.values()}
    by_source = {f.source_id: f for f in facts.values()}
    periods = max(int(p["period"]) for p in pbp.plays)
    gold = json.loads((game_dir / "gold.json").read_text())["timeline"]
    late_gold = [(by_source[str(g["play"])], g) for g in gold
                 if last_minutes(by_source[str(g["play"])].game_s, periods)]
    out = {"game": f"{pbp.away_team} at {pbp.home_team}", "file": game_dir.name, "audiences": {}}
    for audience in game.audiences:
        result = service.timeline(game, None, audience).as_dict()
        entries = result["timeline"]
        seqs = {by_clock.get((e["ts"], e["event"])) for e in entries}
        feelings = {by_clock.get((e["ts"], e["event"])): e["fan_sentiment"] for e in entries}
        found = [f.seq in seqs for f, _ in late_gold]
        felt = [feelings.get(f.seq) == (g.get("audiences", {}).get(audience) or g)["fan_sentiment"]
                for f, g in late_gold]
        out["audiences"][audience] = {
            "entries": len(entries), "with_quote": sum(bool(e.get("quote")) for e in entries),
            "facts_true": sum((e["ts"], e["event"]) in by_clock for e in entries),
            "late_gold": len(late_gold), "late_found": sum(found), "late_felt": sum(felt),
            "timeline": entries}
    return out


def main(argv: list[str] | None = None) -> int:
    from fan_timeline.service import TimelineService

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/export")
    parser.add_argument("--seed", type=int, default=1, help="of the simulated threads")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    service = TimelineService.load(args.model)
    games = []
    with tempfile.TemporaryDirectory(prefix="fan-timeline-real-") as tmp:
        for name, date, tz in GAMES:
            game_id = threads_over_pbp(REAL / name, Path(tmp), args.seed, date_=date, tz=tz, tipoff_utc=None)
            games.append(read_game(service, Path(tmp) / game_id))
    for g in games:
        for audience, a in g["audiences"].items():
            print(f"\n## {g['game']} for {audience}: {a['entries']} moments, {a['with_quote']} quoting a fan, "
                  f"{a['facts_true']} true facts; last two minutes: {a['late_found']} of {a['late_gold']} "
                  f"moments, {a['late_felt']} felt right")
            for e in a["timeline"]:
                print(f"{e['ts']} {e['event']} | {e['fan_sentiment']}" + (f" | {e['quote']}" if e.get("quote") else ""))
    totals = {k: sum(a[k] for g in games for a in g["audiences"].values())
              for k in ("entries", "with_quote", "facts_true", "late_gold", "late_found", "late_felt")}
    print(f"\nall: {json.dumps(totals)}")
    if args.out:
        atomic.write_json(args.out, {"command": "python " + " ".join(sys.argv), "commit": git_commit(),
                                     "machine": machine("cpu"), "python": platform.python_version(),
                                     "totals": totals, "games": games})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`fan-timeline simulate`: write synthetic games, or simulated threads over a real play-by-play.

    fan-timeline simulate --games 24 --seed 7 --out data/raw/sample
    fan-timeline simulate --games 8 --seed 2027 --id-prefix X --stress --out data/raw/stress
    fan-timeline simulate --pbp tests/data/real/stats_playbyplayv3_0022200552.json --date 2023-01-02 --out /tmp/real

A game's directory holds game.json, pbp.json (in FORMATS[i % 4], or the real file as it is), one
file per comment thread and gold.json. The play-by-play is read back through the project's own
readers before anything reacts to it, so the fans, the gold and the pipeline all see the same
canonical rows and the same rendered facts.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from fan_timeline import realism
from fan_timeline.facts import game_facts
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.simulate import formats as fmt
from fan_timeline.simulate.engine import PROFILES, REFEREES, GameResult, GameSim, Play
from fan_timeline.simulate.fans import REALISTIC, WORLDS, ThreadWriter, World, draw_mood
from fan_timeline.simulate.gold import draw_excitement, gold_doc, latent, select_gold
from fan_timeline.simulate.league import Team, draw_teams
from fan_timeline.simulate.threads import Comment, GameView, Side, hide_collapsed, plan_threads
from fan_timeline.tables import PbpResult

FORMATS = ("stats_v2", "cdn_live", "stats_v3", "espn")
# Comment file formats and how often a thread is written in each (dumps are mostly zstd NDJSON).
COMMENT_FORMATS = {"ndjson_zst": 0.55, "listing": 0.15, "csv": 0.15, "ndjson_str": 0.08, "ndjson": 0.07}


def _local_start(rng: random.Random, tz: str, season_day: int) -> tuple[str, float]:
    day = date(2025, 10, 21) + timedelta(days=season_day)
    hour, minute = rng.choice(((19, 0), (19, 0), (19, 30), (19, 30), (20, 0), (22, 0)))
    if tz in ("America/Los_Angeles", "America/Phoenix", "America/Denver") and hour == 22:
        hour = 19
    sched = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz))
    tip = sched + timedelta(seconds=rng.uniform(6 * 60, 12 * 60))
    return day.isoformat(), tip.astimezone(timezone.utc).timestamp()


_KIND_OF = {"made_shot": "shot", "missed_shot": "shot", "block": "shot", "free_throw_made": "free_throw",
            "free_throw_missed": "free_throw", "turnover": "turnover", "steal": "turnover"}


def log_delays(rng: random.Random, plays: list[Play], world: World) -> dict[int, float]:
    """Engine seq -> the wall time the feed logs each play at: when it happened plus the scorer's
    delay (a few seconds, now and then up to a minute or more; a play is never logged before the one
    before it). Real feeds' clocks are when a play was logged, not when it happened."""
    out, last = {}, -math.inf
    for p in plays:
        delay = rng.expovariate(1.0 / world.logging_s) if world.logging_s else 0.0
        r = rng.random()
        if world.logging_s and r < 0.02:
            delay += rng.uniform(45, 100)
        elif world.logging_s and r < 0.14:
            delay += rng.uniform(10, 45)
        last = max(last, round(p.wall + delay, 1))
        out[p.seq] = last
    return out


def engine_walls(rows: list[dict], plays: list[Play], walls: dict[int, float] | None = None) -> dict[int, float]:
    """seq -> the wall time of each canonical row, from the engine play it was written from
    (matched by clock and kind: formats split a play into several rows or merge two into one):
    `walls` by engine seq (default the engine's own, when the play happened)."""
    by_clock: dict[str, list[Play]] = {}
    for p in plays:
        by_clock.setdefault(p.label, []).append(p)
    walls = walls or {p.seq: p.wall for p in plays}
    used: set[int] = set()
    out: dict[int, float] = {}
    last = walls[plays[0].seq]
    for r in rows:
        kind = _KIND_OF.get(r["event_type"], r["event_type"])
        cands = by_clock.get(r["clock"], [])
        same = [p for p in cands if (p.kind if p.kind not in ("replay", "game_end") else "other") == kind]
        if r["event_type"] in ("block", "steal") and same:
            out[r["seq"]] = last          # the block/steal row rides on its miss/turnover
            continue
        free = [p for p in same if p.seq not in used] or same or cands
        if free:
            used.add(free[0].seq)
            last = walls[free[0].seq]
        out[r["seq"]] = last
    return out


def _side(team: Team) -> Side:
    return Side(team.tricode, team.name, team.nickname, team.subreddit, tuple(p.name for p in team.players))


def _summary(game_id: str, pbp: PbpResult, pbp_format: str, n_comments: int, threads: list, n_gold: int) -> str:
    last = pbp.plays[-1]
    return (f"{game_id} {pbp.away_team} {last['score_away']} @ {pbp.home_team} {last['score_home']}  {pbp_format:8s} "
            f"{len(pbp.plays)} plays  comments {n_comments} in {', '.join(t.file for t in threads)}  gold {n_gold}")


@dataclass
class Written:
    """What `write_game` wrote for one game."""

    comments: list[Comment]
    threads: list
    gold: list[int]


def write_game(gdir: Path, rng: random.Random, view: GameView, pbp: PbpResult, *, opened: int, size: float,
               formats: tuple[str, ...], both_teams: bool, lag_s: float | None = None,
               world: World = REALISTIC) -> Written:
    """Threads and gold over a game whose pbp.json is written: the comments, gold.json."""
    mood = draw_mood(rng, lag_s)
    scores, argued = draw_excitement(rng, view.facts, view.plays)
    gold = select_gold(view.facts, scores)
    half_end = next((view.walls[p["seq"]] for p in view.plays if p["event_type"] == "period_end"
                     and int(p["period"]) == 2), view.walls[view.plays[len(view.plays) // 2]["seq"]])
    threads = plan_threads(rng, view, opened=opened, half_end=half_end, size=size, formats=formats,
                           both_teams=both_teams)
    comments = ThreadWriter(rng, view, threads, mood, world).write(latent(scores, gold, argued))
    hide_collapsed(rng, comments, {t.id for t in threads if t.fmt == "listing"})
    file_rng = random.Random(rng.random())
    (gdir / "comments").mkdir(parents=True, exist_ok=True)
    for t in threads:
        fmt.write_comments(gdir / "comments" / t.file, t, [c for c in comments if c.thread == t.id], file_rng)
    fmt.write_json(gdir / "gold.json", gold_doc(rng, view.game_id, view.facts, gold, comments), ensure_ascii=False)
    return Written(comments, threads, gold)


def statistics(view: GameView, logged: dict[int, float], written: Written) -> dict[str, list[float]]:
    """`realism.game_statistics` of a written game, against the wall clock its feed logged."""
    teams = [t.subreddit for t in written.threads if t.side]
    people = [c for c in written.comments if c.kind != "bot"]
    gone = [c for c in people if c.body in ("[deleted]", "[removed]")]
    kept = [{"created_utc": c.created, "subreddit": c.subreddit, "body": c.body} for c in people
            if c.body not in ("[deleted]", "[removed]")]
    return realism.game_statistics(view.plays, kept, teams, walls=logged, deleted=len(gone), read=len(people))


def _fresh(gdir: Path) -> None:
    if gdir.exists():   # a rerun must not leave stale files behind
        shutil.rmtree(gdir)
    (gdir / "comments").mkdir(parents=True)


def simulate(out_dir: Path, games: int, seed: int, *, id_prefix: str = "S", stress: bool = False,
             lag_s: float | None = None, world: World = REALISTIC) -> tuple[list[str], dict]:
    """Write `games` synthetic games under out_dir; return their ids (sorted = generation order) and
    the realism report of what was written (`realism.realism_report`). `lag_s` gives every game
    that stream lag instead of its own draw."""
    out_dir = Path(out_dir)
    ids, stats = [], []
    for i in range(games):
        rng = random.Random(seed * 1_000_003 + i * 7919 + 17)
        game_id = f"{id_prefix}{i + 1:04d}"
        home, away = draw_teams(rng, i)
        local_date, tip = _local_start(rng, home.tz, (i * 11 + rng.randrange(11)) % 170)
        profile = "ot" if i % 6 == 2 else rng.choices(PROFILES[1:], weights=(0.5, 0.3, 0.2))[0]
        refs = tuple(rng.sample(REFEREES, 3))
        plays = GameSim(rng, home, away, tip, profile, refs).play_game()
        happened = {p.seq: p.wall for p in plays}
        logged = log_delays(rng, plays, world)
        for p in plays:            # the feed writes when each play was logged
            p.wall = logged[p.seq]
        game = GameResult(game_id, home, away, local_date, home.tz, plays, refs)
        gdir = out_dir / game_id
        _fresh(gdir)
        pbp_format = FORMATS[i % len(FORMATS)]
        fmt.write_json(gdir / "game.json", fmt.game_doc(game, f"synthetic: fan-timeline simulate --seed {seed}"))
        fmt.write_pbp(gdir / "pbp.json", pbp_format, game)
        pbp = read_pbp((gdir / "pbp.json").read_bytes(), str(gdir / "pbp.json"))
        for r in pbp.plays:
            r["game_id"] = game_id
        view = GameView(game_id, _side(home), _side(away), pbp.plays, game_facts(pbp.plays, home.tricode, away.tricode),
                        engine_walls(pbp.plays, plays, happened))
        big = rng.random() < (0.35 if stress else 0.12)   # a big game: hundreds of comments a minute
        size = rng.lognormvariate(0.0, 0.4) * (rng.uniform(3, 6) if big else 1.0)
        formats = ("ndjson_zst",) * 5 if big else tuple(rng.choices(list(COMMENT_FORMATS),
                                                                     weights=list(COMMENT_FORMATS.values()), k=5))
        lag = rng.uniform(45, 90) if stress and rng.random() < 0.5 else None
        lag = lag_s if lag_s is not None else lag
        written = write_game(gdir, rng, view, pbp, opened=int(tip - rng.uniform(45 * 60, 75 * 60)), size=size,
                             formats=formats, both_teams=stress, lag_s=lag, world=world)
        stats.append(statistics(view, engine_walls(pbp.plays, plays, logged), written))
        print(_summary(game_id, pbp, pbp_format, len(written.comments), written.threads, len(written.gold)))
        ids.append(game_id)
    return ids, realism.realism_report(stats)


def threads_over_pbp(pbp_file: Path, out_dir: Path, seed: int, *, date_: str | None, tz: str,
                     tipoff_utc: str | None, game_id: str | None = None, world: World = REALISTIC) -> str:
    """Simulated threads (the league's and both teams') over a real play-by-play file: game.json,
    the pbp copied as it is, comments and gold. The play-by-play's own wall clock (or, for formats
    that have none per play, the alignment's estimate) times the reactions."""
    from fan_timeline.align import build_alignment

    data = Path(pbp_file).read_bytes()
    pbp = read_pbp(data, str(pbp_file))
    game_id = game_id or pbp.game_id
    for r in pbp.plays:
        r["game_id"] = game_id
    alignment = build_alignment(pbp, date=date_ or pbp.date, tz=tz, tipoff_utc=tipoff_utc)
    walls = {p["seq"]: w for p, w in zip(pbp.plays, alignment.play_wall_s)}
    rng = random.Random(seed)

    def side(which: str) -> Side:
        code = getattr(pbp, f"{which}_team")
        name = getattr(pbp, f"{which}_name") or code
        players = tuple(dict.fromkeys(p[k] for p in pbp.plays for k in ("player",)
                                      if p.get(k) and p.get("team") == code))
        nick = name.split()[-1] if name != code else code
        return Side(code, name, nick, (name.replace(" ", "") if name != code else f"{code}fans").lower(), players)

    view = GameView(game_id, side("home"), side("away"), pbp.plays,
                    game_facts(pbp.plays, pbp.home_team, pbp.away_team), walls)
    gdir = Path(out_dir) / game_id
    _fresh(gdir)
    shutil.copyfile(pbp_file, gdir / "pbp.json")
    meta = {"game_id": game_id, "date": date_ or pbp.date, "tz": tz,
            "home": {"team": view.home.code, "name": view.home.name, "aliases": [], "subreddit": view.home.subreddit},
            "away": {"team": view.away.code, "name": view.away.name, "aliases": [], "subreddit": view.away.subreddit},
            "source": f"real play-by-play {Path(pbp_file).name}; comments simulated: fan-timeline simulate --pbp "
                      f"--seed {seed}"}
    if tipoff_utc:
        meta["tipoff_utc"] = tipoff_utc
    fmt.write_json(gdir / "game.json", meta)
    written = write_game(gdir, rng, view, pbp, opened=int(alignment.play_wall_s[0] - 3600), size=1.5,
                         formats=("ndjson", "ndjson", "ndjson", "ndjson"), both_teams=True, world=world)
    print(_summary(game_id, pbp, pbp.format, len(written.comments), written.threads, len(written.gold)))
    return game_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fan-timeline simulate", description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=30, help="number of games to generate")
    ap.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes")
    ap.add_argument("--out", type=Path, default=Path("data/raw/sample"), help="output directory")
    ap.add_argument("--id-prefix", default="S", help="game ids are <prefix>0001, <prefix>0002, ...")
    ap.add_argument("--stress", action="store_true",
                    help="harder games: bigger and busier threads, longer reaction lags, both teams' threads")
    ap.add_argument("--lag-s", type=float, help="every game's stream lag in seconds (default: each its own draw)")
    ap.add_argument("--world", choices=sorted(WORLDS), default=REALISTIC.name,
                    help="realistic: fans as weak, late and noisy as real threads (default); clean: the loud, "
                         "on-cue bursts of earlier samples")
    ap.add_argument("--pbp", type=Path, help="a real play-by-play file: write simulated threads over it instead")
    ap.add_argument("--date", help="with --pbp: the game's local date (YYYY-MM-DD), if the file does not say")
    ap.add_argument("--tz", default="America/New_York", help="with --pbp: the arena's IANA time zone")
    ap.add_argument("--tipoff-utc", help="with --pbp: tip-off (ISO-8601 UTC) for files with no wall clock at all")
    args = ap.parse_args(argv)
    if args.pbp is not None:
        if not args.pbp.is_file():
            ap.error(f"--pbp {args.pbp}: no such file")
        threads_over_pbp(args.pbp, args.out, args.seed, date_=args.date, tz=args.tz, tipoff_utc=args.tipoff_utc,
                         world=WORLDS[args.world])
        return 0
    if args.games < 1:
        ap.error("--games must be at least 1")
    _, report = simulate(args.out, args.games, args.seed, id_prefix=args.id_prefix, stress=args.stress,
                         lag_s=args.lag_s, world=WORLDS[args.world])
    print("\nHow the fans behave, against a real game's threads (fan_timeline.realism):")
    print("\n".join(realism.report_lines(report)))
    return 0

"""The synthetic sample generator (fan_timeline.simulate): games, threads and gold like real ones.

    pytest tests/test_simulate.py      (no network, ~15 s)

Proves: the same seed writes byte-identical files (under another PYTHONHASHSEED too); every game
draws its own teams and players; the games are basketball-shaped; the threads carry what real
game threads carry (volume from quiet to busy, caps, profanity, one-word bursts, replies, deleted
comments, flair in the league thread, each team's own subreddit), and the feed logs plays late (how
weak and late the fans' reaction is: tests/test_realism.py); gold moments are plays of the written
file with their rendered facts, and the same moment is felt positive by one team's subreddit and
negative by the other's; and threads can be written over a real play-by-play, naming only its real
players.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from fan_timeline.config import SimulateConfig, load_section
from fan_timeline.facts import game_facts, surname
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.simulate import cli as sim
from fan_timeline.simulate.engine import REFEREES, GameSim
from fan_timeline.simulate.league import draw_teams

ROOT = Path(__file__).resolve().parents[1]
GAMES, SEED = 4, load_section(SimulateConfig, ROOT / "params.yaml").seed   # conftest.py's sample_games
REAL_V3 = Path(__file__).resolve().parent / "data" / "real" / "stats_playbyplayv3_0022200552.json"


@pytest.fixture(scope="module")
def sample(sample_games: Path) -> Path:
    """The pipeline's first GAMES sample games, written once per session (conftest.py)."""
    return sample_games


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stress")
    sim.simulate(out, 3, 2027, id_prefix="X", stress=True)
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load_comments(game_dir: Path) -> list[dict[str, Any]]:
    """Every comment object of a game's files, read without the project's readers."""
    out: list[dict[str, Any]] = []
    for f in sorted((game_dir / "comments").iterdir()):
        data = f.read_bytes()
        if f.name.endswith(".zst"):
            data = zstandard.ZstdDecompressor().decompress(data)
        if ".ndjson" in f.name:
            out += [json.loads(line) for line in data.decode("utf-8").splitlines()]
        elif f.suffix == ".csv":
            assert data.startswith(b"\xef\xbb\xbf"), f"{f.name}: scraper CSVs start with a BOM"
            out += [{"body": r["body"], "author": r["username"], "id": r["id"], "parent_id": r["parentId"],
                     "subreddit": r["communityName"].removeprefix("r/"), "created_utc": None, "_csv": True}
                    for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
        else:
            post, listing = json.loads(data)
            assert post["data"]["children"][0]["kind"] == "t3"
            stack = list(listing["data"]["children"])
            while stack:
                node = stack.pop()
                if node["kind"] == "more":
                    continue
                out.append(node["data"])
                if node["data"]["replies"]:
                    stack += node["data"]["replies"]["data"]["children"]
    return out


def test_same_seed_writes_identical_bytes(sample: Path, tmp_path: Path) -> None:
    ids, report = sim.simulate(tmp_path / "again", GAMES, SEED)
    assert ids == [f"S{i:04d}" for i in range(1, GAMES + 1)] and report["games"] == GAMES
    assert tree(tmp_path / "again") == tree(sample)
    env = dict(os.environ, PYTHONHASHSEED="12345")   # str hashing is randomised per process
    subprocess.run([sys.executable, "-m", "fan_timeline.cli", "simulate", "--games", "2", "--seed", str(SEED),
                    "--out", str(tmp_path / "other_hash")], check=True, env=env, capture_output=True)
    first_two = {k: v for k, v in tree(sample).items() if k.startswith(("S0001", "S0002"))}
    assert tree(tmp_path / "other_hash") == first_two
    sim.simulate(tmp_path / "b", 1, SEED + 1)
    assert (tmp_path / "b/S0001/gold.json").read_bytes() != (sample / "S0001/gold.json").read_bytes()


def test_every_game_draws_its_own_teams_and_players(sample: Path, stress: Path) -> None:
    games = [json.loads((g / "game.json").read_text()) for root in (sample, stress) for g in sorted(root.iterdir())]
    names = [g[side]["name"] for g in games for side in ("home", "away")]
    assert len(set(names)) == len(names), "no team comes back: nothing to memorise"
    rosters = [{p["player"] for p in read_pbp((root / g["game_id"] / "pbp.json").read_bytes(), "p").plays
                if p.get("player")} for root in (sample, stress) for g in
               [json.loads((d / "game.json").read_text()) for d in sorted(root.iterdir())]]
    for a, b in zip(rosters, rosters[1:]):
        assert len(a & b) <= 3, "rosters are drawn per game"
    for g in games:
        assert set(g) == {"game_id", "date", "tz", "home", "away", "source"}   # no tipoff_utc
        assert g["home"]["team"] != g["away"]["team"] and g["home"]["subreddit"] != g["away"]["subreddit"]


def test_games_are_basketball_shaped() -> None:
    import random

    for i, profile in enumerate(("close", "open", "blowout", "ot")):
        rng = random.Random(i)
        home, away = draw_teams(rng, i)
        plays = GameSim(rng, home, away, 1_760_000_000.0, profile, REFEREES[:3]).play_game()
        h = a = 0
        for prev, p in zip(plays, plays[1:]):
            assert p.wall >= prev.wall and (p.period != prev.period or p.clock_s <= prev.clock_s)
        for p in plays:
            h += p.points * (p.side == "home")
            a += p.points * (p.side == "away")
            assert (p.score_home, p.score_away) == (h, a)
        assert 80 <= h <= 170 and 80 <= a <= 170 and h != a
        ends = [p for p in plays if p.kind == "period_end"]
        assert [p.period for p in ends] == list(range(1, len(ends) + 1))
        assert 1.9 <= (ends[3].wall - plays[0].wall) / 3600 <= 2.8
        assert {"timeout", "substitution", "foul", "free_throw", "turnover"} <= {p.kind for p in plays}
        if profile == "ot":
            assert plays[-1].period > 4
        if profile == "blowout":
            assert abs(h - a) >= 10


def test_threads_carry_what_real_threads_carry(sample: Path, stress: Path) -> None:
    sizes, subs_seen = [], set()
    for root in (sample, stress):
        for gdir in sorted(root.iterdir()):
            meta = json.loads((gdir / "game.json").read_text())
            cs = load_comments(gdir)
            sizes.append(len(cs))
            bodies = [c["body"] for c in cs]
            real = [b for b in bodies if b not in ("[deleted]", "[removed]")]
            assert 0.02 <= (len(bodies) - len(real)) / len(bodies) <= 0.12, "deleted and removed comments"
            assert any(str(c["parent_id"]).startswith("t1_") for c in cs), "replies"
            caps = sum(b.isupper() and len(b) >= 3 for b in real) / len(real)
            swear = sum(bool(re.search(r"fuck|shit|wtf|damn", b, re.I)) for b in real) / len(real)
            assert 0.05 <= caps <= 0.45 and 0.05 <= swear <= 0.4, (caps, swear)
            assert any(len(b.split()) == 1 for b in real) and any(len(b) > 150 for b in real), "bursts and rants"
            assert 15 <= statistics.median(len(b) for b in real) <= 60
            league = [c for c in cs if c.get("subreddit") == "nba" and "author_flair_text" in c]
            if len(league) > 100:
                flaired = sum(bool(c["author_flair_text"]) for c in league) / len(league)
                assert 0.45 <= flaired <= 0.9, flaired
            subs_seen |= {c["subreddit"] for c in cs} - {"nba"}
            assert {c["subreddit"] for c in cs} - {"nba"} <= {meta["home"]["subreddit"], meta["away"]["subreddit"]}
    assert max(sizes) >= 4 * min(sizes), f"volume should vary a lot from game to game: {sizes}"
    assert subs_seen, "some games have a team's own subreddit thread"


def test_gold_is_plays_of_the_file_felt_by_each_fan_base(sample: Path, stress: Path) -> None:
    opposite = 0
    for root in (sample, stress):
        for gdir in sorted(root.iterdir()):
            meta = json.loads((gdir / "game.json").read_text())
            res = read_pbp((gdir / "pbp.json").read_bytes(), "pbp.json")
            facts = {f.source_id: f for f in game_facts(res.plays, meta["home"]["team"], meta["away"]["team"]).values()}
            gold = json.loads((gdir / "gold.json").read_text())
            assert gold["annotator"] == "simulate" and 10 <= len(gold["timeline"]) <= 24
            bodies = {c["body"] for c in load_comments(gdir)}
            subs = {f"r/{c['subreddit']}" for c in load_comments(gdir)}
            for item in gold["timeline"]:
                fact = facts[item["play"]]
                assert (item["ts"], item["event"]) == (fact.clock, fact.text)
                assert set(item["audiences"]) == subs
                for feel in [item, *item["audiences"].values()]:
                    assert feel["fan_sentiment"] in ("positive", "negative", "mixed", "neutral")
                    assert feel.get("quote") is None or feel["quote"] in bodies
                teams = [feel["fan_sentiment"] for aud, feel in item["audiences"].items() if aud != "r/nba"]
                opposite += sorted(teams) == ["negative", "positive"]
    assert opposite >= 5, "the same play is one team's joy and the other's pain"


def test_threads_over_a_real_play_by_play_name_only_its_players(tmp_path: Path) -> None:
    game_id = sim.threads_over_pbp(REAL_V3, tmp_path, 1, date_="2023-01-02", tz="America/New_York", tipoff_utc=None)
    gdir = tmp_path / game_id
    assert (gdir / "pbp.json").read_bytes() == REAL_V3.read_bytes()
    meta = json.loads((gdir / "game.json").read_text())
    assert (meta["home"]["team"], meta["away"]["team"]) == ("CLE", "CHI")
    res = read_pbp(REAL_V3.read_bytes(), REAL_V3.name)
    real_players = {w for p in res.plays if p.get("player") for w in surname(p["player"]).split()}
    gold = json.loads((gdir / "gold.json").read_text())["timeline"]
    assert any("Mitchell" in g["event"] for g in gold)
    for g in gold:
        names = [w for w in re.findall(r"\b[A-Z][a-zA-Z'\-]+\b", g["event"]) if w not in ("Final", "End", "Jr")]
        assert all(n in real_players or n in ("CLE", "CHI") for n in names), g["event"]
    cs = load_comments(gdir)
    assert {c["subreddit"] for c in cs} == {"nba", meta["home"]["subreddit"], meta["away"]["subreddit"]}


def test_the_feed_logs_plays_late() -> None:
    """The play-by-play's wall clock is when a play was logged: a few seconds after it happened,
    now and then a minute or more, never before the play logged before it."""
    import random

    rng = random.Random(4)
    home, away = draw_teams(rng, 0)
    plays = GameSim(rng, home, away, 1_760_000_000.0, "close", REFEREES[:3]).play_game()
    logged = sim.log_delays(rng, plays, sim.REALISTIC)
    delays = sorted(logged[p.seq] - p.wall for p in plays)
    assert delays[0] >= 0 and 1 <= statistics.median(delays) <= 20 and delays[-1] >= 30   # seconds to a minute
    assert all(logged[a.seq] <= logged[b.seq] for a, b in zip(plays, plays[1:]))
    clean = sim.log_delays(rng, plays, sim.WORLDS["clean"])          # the earlier samples' feed: logged at once
    assert all(clean[p.seq] == round(p.wall, 1) for p in plays)


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.main(["--games", "1", "--seed", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "S0001" in out and "league.ratio_p50" in out and "all in band:" in out   # what it wrote, against real
    assert (tmp_path / "S0001" / "gold.json").exists()
    with pytest.raises(SystemExit):
        sim.main(["--pbp", str(tmp_path / "missing.json"), "--out", str(tmp_path)])

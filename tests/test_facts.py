"""The fact renderer (fan_timeline.facts) on every play-by-play format, the real samples included.

    pytest tests/test_facts.py      (no network, a few seconds)

Proves: the sentences say what the rows say (players, teams, scores, what the play did to the
game) for real games in three formats and a hand-made ESPN file; one simulated game written in all
four formats renders to the same facts; every sentence fits the schema and names only the game's
players and teams; names are cut to the surname the way every format can agree on.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from fan_timeline import schema
from fan_timeline.facts import MAX_EVENT_CHARS, game_facts, surname
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.simulate import formats
from fan_timeline.simulate.engine import REFEREES, GameResult, GameSim
from fan_timeline.simulate.league import draw_teams

DATA = Path(__file__).resolve().parent / "data"
REAL = {"stats_v2": DATA / "real" / "stats_playbyplayv2_0021900001.json",
        "cdn_live": DATA / "real" / "cdn_liveData_playbyplay_0022000001.json",
        "stats_v3": DATA / "real" / "stats_playbyplayv3_0022200552.json",
        "espn": DATA / "espn_small.json"}


def facts_of(path: Path):
    res = read_pbp(path.read_bytes(), path.name)
    return res, game_facts(res.plays, res.home_team, res.away_team)


def texts(facts) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in facts.values():
        out.setdefault(f.clock, []).append(f.text)
    return out


def test_real_games_read_as_a_fan_would_tell_them() -> None:
    _, v3 = facts_of(REAL["stats_v3"])       # CHI @ CLE 2023-01-02: Mitchell's 71 points, overtime
    t = texts(v3)
    assert "Mitchell (CLE) scores to tie it at 130-130" in t["Q4 00:03"]
    assert "DeRozan (CHI) misses a three, tied 130-130" in t["Q4 00:00"]              # the last chance
    assert "End of regulation, tied 130-130, overtime next" in t["Q4 00:00"]
    assert "Mitchell (CLE) hits a three, 13-0 CLE run, CLE lead 140-130" in t["OT1 01:49"]
    assert "DeRozan (CHI) scores to end a 13-0 CLE run, CLE lead 140-132" in t["OT1 01:05"]
    assert t["OT1 00:00"] == ["Final: CLE beat CHI 145-134 in overtime"]
    _, v2 = facts_of(REAL["stats_v2"])       # NOP @ TOR 2019-10-22, overtime
    t = texts(v2)
    assert "Favors (NOP) blocks Siakam, NOP lead 19-14" in t["Q1 05:46"]      # V2: the blocker rides on the miss
    assert t["OT1 02:06"] == ["Lowry (TOR) makes 2 free throws to put TOR ahead 124-122"]   # a trip is one fact
    assert t["OT1 00:00"] == ["Final: TOR beat NOP 130-122 in overtime"]
    _, live = facts_of(REAL["cdn_live"])     # GSW @ BKN 2020-12-22
    t = texts(live)
    assert "Jordan (BKN) blocks Paschall, BKN lead 18-8" in t["Q1 07:06"]   # liveData: a block row of its own
    assert "Oubre Jr. (GSW) steals it from Durant, BKN lead 28-15" in t["Q1 03:42"]
    assert t["Q4 00:00"] == ["Final: BKN beat GSW 125-99"]


@pytest.mark.parametrize("fmt", list(REAL))
def test_every_sentence_fits_the_schema_and_names_only_the_game(fmt: str) -> None:
    res, facts = facts_of(REAL[fmt])
    assert facts, "a whole game has facts"
    players = {surname(p[k]) for p in res.plays for k in ("player", "player2") if p.get(k)}
    teams = {res.home_team, res.away_team}
    scores = {f"{p['score_home']}-{p['score_away']}" for p in res.plays} | \
             {f"{p['score_away']}-{p['score_home']}" for p in res.plays}
    event = re.compile(schema.item_schema()["properties"]["event"]["pattern"])
    for f in facts.values():
        assert event.search(f.text) and len(f.text) <= MAX_EVENT_CHARS, f.text
        assert f.actor in players | {""} and f.victim in players | {""}
        assert f.for_team in teams | {None}
        for number in re.findall(r"\b(\d+)-(\d+)\b", f.text):
            run = f"{number[0]}-{number[1]}"
            assert run in scores or number[1] == "0", f"{f.text}: {run} is no score of the game"
        for code in re.findall(r"\b[A-Z]{3}\b", f.text):
            assert code in teams, f"{f.text}: {code} is no team of the game"


def test_one_game_in_every_format_is_the_same_facts(tmp_path: Path) -> None:
    """The renderer sees canonical rows only: the same game written as V2, V3, liveData and ESPN
    (which split or merge blocks, steals and names differently) gives the same sentences."""
    rng = random.Random(11)
    home, away = draw_teams(rng, 0)
    plays = GameSim(rng, home, away, 1_760_000_000.0, "close", REFEREES[:3]).play_game()
    game = GameResult("S0001", home, away, "2025-10-21", home.tz, plays, REFEREES[:3])
    rendered = {}
    for fmt in ("stats_v2", "stats_v3", "cdn_live", "espn"):
        path = tmp_path / f"{fmt}.json"
        formats.write_pbp(path, fmt, game)
        res = read_pbp(path.read_bytes(), path.name)
        rendered[fmt] = sorted((f.clock, f.text) for f in game_facts(res.plays, home.tricode, away.tricode).values())
    assert len(rendered["cdn_live"]) > 80
    for fmt, facts in rendered.items():
        assert facts == rendered["cdn_live"], f"{fmt} differs: {sorted(set(facts) ^ set(rendered['cdn_live']))[:4]}"


@pytest.mark.parametrize("name,expected", [
    ("Ismael Ivanov", "Ivanov"), ("I. Ivanov", "Ivanov"), ("D. Jones Jr.", "Jones Jr."), ("Oubre Jr.", "Oubre Jr."),
    ("J. Van Dyke", "Van Dyke"), ("Nicolás De la Cruz", "De la Cruz"), ("T. Luwawu-Cabarrot", "Luwawu-Cabarrot"),
    ("Luka Dončić", "Doncic"), ("", ""), (None, ""),
])
def test_surname_is_what_every_format_agrees_on(name: str | None, expected: str) -> None:
    assert surname(name) == expected


def test_a_miss_with_no_player_named_is_its_own_teams() -> None:
    """A feed row without player fields: a missed free throw or shot is the shooting team's, never the
    team it was good for ("GSW misses a free throw" for a Cleveland miss was a bug)."""
    def row(seq, clock_s, event_type, team, points=0, home=0, away=0):
        return {"game_id": "g", "seq": seq, "source_id": str(seq), "period": 4, "clock_s": clock_s,
                "clock": f"Q4 00:{int(clock_s):02d}", "game_s": 2880.0 - clock_s, "wall_utc": None, "team": team,
                "player": None, "player2": None, "event_type": event_type, "points": points,
                "score_home": home, "score_away": away, "text": "", "wall_s": None}

    plays = [row(0, 20.0, "free_throw_missed", "CLE", home=100, away=101),
             row(1, 10.0, "missed_shot", "CLE", home=100, away=101)]
    facts = game_facts(plays, "CLE", "GSW")
    assert [facts[s].text for s in (0, 1)] == ["CLE misses a free throw, GSW lead 101-100",
                                               "CLE misses, GSW lead 101-100"]
    assert facts[0].for_team == facts[1].for_team == "GSW"     # the miss was good for the other team

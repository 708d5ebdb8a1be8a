"""A real NBA play-by-play with simulated threads over it, through the server's path, end to end:
what the grounded grammar guarantees on a real game, whatever the model.

    pytest tests/test_real_game.py     (the real model, untrained; no network)

The game: CHI @ CLE, 2023-01-02, Mitchell's 71 points, in stats.nba.com's PlayByPlayV3. The model
is the untrained base model, so this proves nothing about which moments it picks (training and
evaluate measure that); it proves what holds by construction for every audience (the league
thread and both teams' own): each entry is one of its window's listed plays, written as that
play's fact of this game at its clock (only this game's players and teams, only scores it had),
with the play's feeling where the window fixes one, and quoted, if at all, verbatim from a
comment of that audience's own thread shown under the play. The base model's free text would
break all of these.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fan_timeline.candidates import audience_of
from fan_timeline.facts import game_facts
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.samples import find_samples
from fan_timeline.service import RawFile, TimelineService
from fan_timeline.simulate.cli import threads_over_pbp

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
V3 = ROOT / "tests" / "data" / "real" / "stats_playbyplayv3_0022200552.json"


@pytest.fixture(scope="module")
def game_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real")
    game_id = threads_over_pbp(V3, out, 3, date_="2023-01-02", tz="America/New_York", tipoff_utc=None)
    return out / game_id


def test_a_real_games_timelines_state_only_its_facts_and_quote_only_its_threads(game_dir, base_model_path):
    res = read_pbp(V3.read_bytes(), V3.name)
    facts = {(f.clock, f.text) for f in game_facts(res.plays, res.home_team, res.away_team).values()}
    players = {w for p in res.plays for k in ("player", "player2") if p.get(k) for w in re.split(r"[\s.]+", p[k]) if w}
    scores = {f"{p['score_home']}-{p['score_away']}" for p in res.plays} | \
        {f"{p['score_away']}-{p['score_home']}" for p in res.plays}
    service = TimelineService.load(base_model_path, params_file=ROOT / "params.yaml", batch_size=4)
    (sample,) = find_samples(game_dir)
    pbp, files = sample.raw_files()
    game = service.read_raw(RawFile(pbp.name, pbp.data), files, sample.meta)
    assert sorted(a["team"] or "league" for a in game.audience_info()) == ["CHI", "CLE", "league"]
    last = len(game.windows()) - 1                      # overtime's last minutes and the final
    quoted = 0
    for audience in game.audiences:
        result = service.timeline(game, [last - 2, last], audience)
        timeline = result.as_dict()["timeline"]
        assert timeline, f"{audience}: the base model writes entries in these windows"
        for e in timeline:
            assert (e["ts"], e["event"]) in facts, e          # a sentence of one of this game's plays, at its clock
            for name in re.findall(r"\b[A-Z][a-zA-Z'\-]+\b", e["event"]):
                assert name in players | {"CLE", "CHI", "Final", "End"}, f"{name} is nobody in this game: {e}"
            for score in re.findall(r"\b\d+-\d+\b", e["event"]):
                assert score in scores or score.endswith("-0"), f"{score} never happened: {e}"
        thread = {c["body"] for c in game.comments if audience_of(c) == audience}
        for window in result.windows:
            assert window.finished and window.errors == [], window.text
            plays = {(p.ts, p.event): p for p in window.plan.prompt.grounding.plays}
            for e in window.entries:
                play = plays[(e["ts"], e["event"])]              # KeyError: not a play its window lists
                assert e.get("quote") in play.quotes if play.quotes else "quote" not in e, e
                assert play.feeling is None or e["fan_sentiment"] == play.feeling, e
                if "quote" in e:
                    assert e["quote"] in thread, f"{audience}: {e['quote']!r} is no comment of this thread"
                    quoted += 1
    assert quoted, "some entry quotes a fan: the quote checks ran"

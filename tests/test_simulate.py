"""Tests for the synthetic sample generator (fan_timeline.simulate). No network, a few seconds.

    pytest tests/test_simulate.py

They prove: the same seed writes byte-identical files (also under another PYTHONHASHSEED), a
different seed writes different ones, the games are basketball-shaped (scores, clocks, wall time,
overtime), the comment files carry the mess real dumps carry, and every gold entry is valid
against the timeline schema, grounded in the plays and quoted verbatim from the comments.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import zstandard

from fan_timeline import simulate as sim
from fan_timeline.sport import label_to_game_seconds

GAMES, SEED = 4, 3
ROSTER = {sim.ascii_name(p.last) for t in sim.TEAMS for p in t.players}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    assert sim.simulate(out, GAMES, SEED) == [f"S{i:04d}" for i in range(1, GAMES + 1)]
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load_comments(game_dir: Path) -> list[dict[str, Any]]:
    """Every comment object in a game's files, read without the project's readers."""
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
                     "_csv": True} for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
        else:
            post, listing = json.loads(data)
            assert post["data"]["children"][0]["kind"] == "t3"
            stack = list(listing["data"]["children"])
            while stack:
                node = stack.pop()
                if node["kind"] == "more":
                    out.append({"_more": True})
                    continue
                out.append(node["data"])
                if node["data"]["replies"]:
                    stack += node["data"]["replies"]["data"]["children"]
    return out


def test_same_seed_writes_identical_bytes(sample: Path, tmp_path: Path) -> None:
    sim.simulate(tmp_path / "again", GAMES, SEED)
    assert tree(tmp_path / "again") == tree(sample)
    # str hashing is randomised per process; the output must not depend on it
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-m", "fan_timeline.simulate", "--games", "2", "--seed", str(SEED),
                    "--out", str(tmp_path / "other_hash")], check=True, env=env, capture_output=True)
    first_two = {k: v for k, v in tree(sample).items() if k.startswith(("S0001", "S0002"))}
    assert tree(tmp_path / "other_hash") == first_two


def test_different_seed_differs(sample: Path, tmp_path: Path) -> None:
    sim.simulate(tmp_path / "b", 1, SEED + 1)
    assert (tmp_path / "b/S0001/pbp.json").read_bytes() != (sample / "S0001/pbp.json").read_bytes()
    assert (tmp_path / "b/S0001/gold.json").read_bytes() != (sample / "S0001/gold.json").read_bytes()


def test_layout_and_formats(sample: Path) -> None:
    for i, gdir in enumerate(sorted(sample.iterdir())):
        game = json.loads((gdir / "game.json").read_text())
        assert set(game) == {"game_id", "date", "tz", "home", "away", "source"}  # no tipoff_utc
        assert game["game_id"] == gdir.name and game["home"]["team"] != game["away"]["team"]
        assert game["tz"].startswith("America/") and len(game["home"]["team"]) == 3
        pbp = json.loads((gdir / "pbp.json").read_text())
        if "resultSets" in pbp:
            found = "stats_v2"
            assert pbp["resultSets"][0]["name"] == "PlayByPlay" and len(pbp["resultSets"][0]["headers"]) == 34
        elif "plays" in pbp:
            found = "espn"
            assert {c["homeAway"] for c in pbp["header"]["competitions"][0]["competitors"]} == {"home", "away"}
        else:
            found = "cdn_live" if "timeActual" in pbp["game"]["actions"][0] else "stats_v3"
        assert found == sim.FORMATS[i % 4]
        assert 1 <= len(list((gdir / "comments").iterdir())) <= 3


def test_games_are_basketball_shaped() -> None:
    overtime = 0
    for i in range(12):  # the default sample: --games 12 --seed 7
        game = sim.simulate_game(i, 7)[0]
        plays = game.plays
        home = away = 0
        for prev, p in zip(plays, plays[1:]):
            assert p.wall >= prev.wall
            if p.period == prev.period:
                assert p.clock_s <= prev.clock_s
        for p in plays:
            if p.points:
                home += p.points * (p.side == "home")
                away += p.points * (p.side == "away")
            assert (p.score_home, p.score_away) == (home, away), f"{game.game_id} seq {p.seq}"
        assert 85 <= home <= 160 and 85 <= away <= 160 and home != away
        ends = [p for p in plays if p.kind == "period_end"]
        assert [p.period for p in ends] == list(range(1, len(ends) + 1))
        regulation_h = (ends[3].wall - plays[0].wall) / 3600
        assert 1.9 <= regulation_h <= 2.8, regulation_h
        halftime = next(p for p in plays if p.kind == "period_start" and p.period == 3).wall - ends[1].wall
        assert 13 * 60 <= halftime <= 17 * 60
        kinds = {p.kind for p in plays}
        assert {"timeout", "substitution", "foul", "free_throw", "turnover"} <= kinds
        assert any(p.block for p in plays) and any(p.steal for p in plays)
        assert any(p.made and sim.SHOTS[p.shot][1] == "dunk" for p in plays if p.kind == "shot")
        overtime += plays[-1].period > 4
    assert 1 <= overtime <= 6


def test_file_scores_match_the_game(sample: Path) -> None:
    for i, gdir in enumerate(sorted(sample.iterdir())):
        last = sim.simulate_game(i, SEED)[0].plays[-1]
        pbp = json.loads((gdir / "pbp.json").read_text())
        fmt = sim.FORMATS[i % 4]
        if fmt == "stats_v2":
            score = [r[10] for r in pbp["resultSets"][0]["rowSet"] if r[10]][-1]
            assert score == f"{last.score_away} - {last.score_home}"
        elif fmt == "espn":
            assert (pbp["plays"][-1]["homeScore"], pbp["plays"][-1]["awayScore"]) == (last.score_home, last.score_away)
        else:
            a = pbp["game"]["actions"][-1]
            assert (a["scoreHome"], a["scoreAway"]) == (str(last.score_home), str(last.score_away))
            if fmt == "stats_v3":
                assert pbp["game"]["actions"][0]["description"].startswith("Start of 1st Period (")


def test_comments_carry_real_mess(sample: Path) -> None:
    for gdir in sorted(sample.iterdir()):
        cs = load_comments(gdir)
        real = [c for c in cs if not c.get("_more")]
        assert 450 <= len(real) <= 1200
        bodies = [c["body"] for c in real]
        assert "[deleted]" in bodies or "[removed]" in bodies
        assert all(c["author"] == "[deleted]" for c in real if c["body"] in ("[deleted]", "[removed]"))
        assert any(str(c["parent_id"]).startswith("t1_") for c in real)  # replies
        assert any(b.isupper() and len(b) > 8 for b in bodies)  # caps
        assert any(ord(ch) > 0x2000 for b in bodies for ch in b)  # emoji
        dumped = [c for c in real if "retrieved_on" in c]
        if dumped:
            ids = [c["id"] for c in dumped]
            assert len(ids) > len(set(ids)), "dumps repeat some comment ids"
            assert any(isinstance(c["edited"], int) and not isinstance(c["edited"], bool) for c in dumped)
            assert any(c["author"] == "AutoModerator" for c in dumped) or gdir.name != "S0001"
            flaired = [c for c in dumped if c["author_flair_text"]]
            assert len(flaired) > len(dumped) / 2
    all_comments = [c for g in sample.iterdir() for c in load_comments(g)]
    assert any(c.get("_more") for c in all_comments)
    assert any(c.get("_csv") for c in all_comments)


def test_gold_is_valid_grounded_and_quoted(sample: Path) -> None:
    schema = json.loads(resources.files("fan_timeline").joinpath("timeline.schema.json").read_text())
    item_validator = jsonschema.Draft202012Validator(schema["properties"]["timeline"]["items"])
    for gdir in sorted(sample.iterdir()):
        gold = json.loads((gdir / "gold.json").read_text())
        assert gold["game_id"] == gdir.name and gold["annotator"] == "simulate"
        items = gold["timeline"]
        assert 12 <= len(items) <= 25
        for item in items:
            item_validator.validate(item)
        times = [label_to_game_seconds(t["ts"]) for t in items]
        assert times == sorted(times), "gold entries in game order"
        bodies = {c["body"] for c in load_comments(gdir) if not c.get("_more")}
        quoted = [t["quote"] for t in items if "quote" in t]
        assert len(quoted) == len(items)
        assert all(q in bodies for q in quoted), "quotes are verbatim comment bodies"
        # Player names in events are ASCII; ESPN and V3 names keep diacritics, so fold before looking.
        pbp_text = sim.ascii_name(json.dumps(json.loads((gdir / "pbp.json").read_text()),
                                             ensure_ascii=False))
        named = 0
        for t in items:
            players = [w for w in re.findall(r"[A-Za-z'-]+", t["event"]) if w in ROSTER]
            assert all(w in pbp_text for w in players), t["event"]
            named += bool(players)
        assert named >= len(items) // 2
        assert len({t["fan_sentiment"] for t in items}) >= 2


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.main(["--games", "1", "--seed", "5", "--out", str(tmp_path)]) == 0
    assert "S0001" in capsys.readouterr().out
    assert (tmp_path / "S0001" / "gold.json").exists()

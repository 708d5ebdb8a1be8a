"""Play-by-play readers on real NBA samples, a hand-made ESPN file and broken inputs.

Proves: each format is detected by structure; concrete plays, scores, names, wall clocks and
wall-clock hints come out as they are in the files; every raw row is either kept or rejected with
a reason; whole-file problems raise UnreadableFileError with a message a user can act on.
Run: pytest tests/readers/test_pbp_readers.py  (no network, < 5 s)
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from fan_timeline.readers import cdn_live, espn, stats_v2, stats_v3
from fan_timeline.readers.pbp import detect_pbp_format, read_pbp
from fan_timeline.sport import EVENT_TYPES, clock_label
from fan_timeline.tables import PLAY_COLUMNS, PbpResult, UnreadableFileError

DATA = Path(__file__).resolve().parents[1] / "data"
V2 = DATA / "real" / "stats_playbyplayv2_0021900001.json"
V3 = DATA / "real" / "stats_playbyplayv3_0022200552.json"
LIVE = DATA / "real" / "cdn_liveData_playbyplay_0022000001.json"
ESPN = DATA / "espn_small.json"
FILES = {"stats_v2": V2, "stats_v3": V3, "cdn_live": LIVE, "espn": ESPN}

_cache: dict[Path, Any] = {}


def raw(path: Path) -> Any:
    """A fresh deep copy of a fixture's JSON (tests mutate it)."""
    if path not in _cache:
        _cache[path] = json.loads(path.read_bytes())
    return copy.deepcopy(_cache[path])


@functools.cache
def clean(path: Path) -> PbpResult:
    """The fixture read as shipped."""
    return read_pbp(path.read_bytes(), path.name)


def read_obj(obj: Any, name: str = "mutated.json") -> PbpResult:
    return read_pbp(json.dumps(obj).encode(), name)


def by_source_id(result: PbpResult, source_id: str) -> list[dict[str, Any]]:
    return [p for p in result.plays if p["source_id"] == source_id]


# --- every format: detection and invariants ---
@pytest.mark.parametrize("fmt", list(FILES))
def test_detects_format_and_keeps_every_row(fmt: str) -> None:
    path = FILES[fmt]
    assert detect_pbp_format(raw(path)) == fmt
    res = read_pbp(path.read_bytes(), path.name)
    assert res.format == fmt
    assert len(res.rejections) == 0, res.rejections.items[:3]
    assert res.read == len(res.plays) + len(res.rejections)
    assert [p["seq"] for p in res.plays] == list(range(len(res.plays)))
    last = res.plays[-1]
    # points add up to the final score: scoring events and carried-forward scores agree
    assert sum(p["points"] for p in res.plays) == last["score_home"] + last["score_away"]
    for p in res.plays:
        assert tuple(p) == PLAY_COLUMNS
        assert p["event_type"] in EVENT_TYPES
        assert 0 <= p["points"] <= 3
        assert p["clock"] == clock_label(p["period"], p["clock_s"])
        assert p["game_id"] == res.game_id
    game_s = [p["game_s"] for p in res.plays]
    assert game_s == sorted(game_s)


@pytest.mark.parametrize("fmt", list(FILES))
def test_module_read_matches_dispatch(fmt: str) -> None:
    module = {"stats_v2": stats_v2, "stats_v3": stats_v3, "cdn_live": cdn_live, "espn": espn}[fmt]
    data = FILES[fmt].read_bytes()
    assert module.read(data, "x.json").plays == read_pbp(data, "x.json", fmt=fmt).plays


# --- stats.nba.com playbyplayv2 ---
def test_stats_v2_real_game() -> None:
    res = read_pbp(V2.read_bytes(), V2.name)
    assert (res.game_id, res.home_team, res.away_team) == ("0021900001", "TOR", "NOP")
    assert (res.home_name, res.away_name, res.date) == ("Toronto Raptors", "New Orleans Pelicans", None)
    assert res.read == 573 and len(res.plays) == 573
    [tip_in] = by_source_id(res, "9")  # "Favors 1' Tip Layup Shot (2 PTS)", SCORE "2 - 0" (away - home)
    assert (tip_in["period"], tip_in["clock"], tip_in["game_s"]) == (1, "Q1 11:47", 13.0)
    assert (tip_in["team"], tip_in["player"], tip_in["event_type"], tip_in["points"]) == (
        "NOP", "Derrick Favors", "made_shot", 2)
    assert (tip_in["score_home"], tip_in["score_away"]) == (0, 2)
    [steal] = by_source_id(res, "41")  # home and visitor descriptions on one row
    assert steal["text"] == "Lowry Bad Pass Turnover (P2.T3) | Ingram STEAL (1 STL)"
    assert (steal["player"], steal["player2"], steal["team"]) == ("Kyle Lowry", "Brandon Ingram", "TOR")
    assert (steal["score_home"], steal["score_away"]) == (4, 10)  # carried: SCORE is null on this row
    last = res.plays[-1]
    assert (last["event_type"], last["clock"], last["text"]) == ("period_end", "OT1 00:00", "End of OT1")
    assert (last["score_home"], last["score_away"]) == (130, 122)
    assert max(p["period"] for p in res.plays) == 5
    # V2 wall clock: local minute stamps only, as hints for alignment
    assert all(p["wall_utc"] is None for p in res.plays)
    assert len(res.wall_hints) == 573
    assert res.wall_hints[0] == (0, "8:04 PM", 60.0)
    assert res.wall_hints[-1] == (572, "10:54 PM", 60.0)


# --- stats.nba.com playbyplayv3 ---
def test_stats_v3_real_game() -> None:
    res = read_pbp(V3.read_bytes(), V3.name)
    assert (res.game_id, res.home_team, res.away_team, res.date) == ("0022200552", "CLE", "CHI", None)
    assert res.read == 560 and len(res.plays) == 560
    [three] = by_source_id(res, "7")
    assert (three["clock"], three["team"], three["player"], three["points"]) == (
        "Q1 11:41", "CHI", "D. DeRozan", 3)
    assert (three["score_home"], three["score_away"]) == (0, 3)
    # steal rows have an empty actionType and share the turnover's actionNumber: both kept
    turnover, steal = by_source_id(res, "27")
    assert (turnover["event_type"], turnover["player"]) == ("turnover", "C. LeVert")
    assert (steal["event_type"], steal["player"], steal["team"]) == ("steal", "D. DeRozan", "CHI")
    assert steal["seq"] == turnover["seq"] + 1
    assist = next(p for p in res.plays if p["text"] == "Allen 2' Cutting Layup Shot (2 PTS) (Love 1 AST)")
    assert assist["player2"] == "Love"
    [ot_start] = by_source_id(res, "717")
    assert (ot_start["event_type"], ot_start["clock"]) == ("period_start", "OT1 05:00")
    assert (ot_start["score_home"], ot_start["score_away"]) == (130, 130)
    assert (res.plays[-1]["score_home"], res.plays[-1]["score_away"]) == (145, 134)
    # wall-clock hints from "Start of 1st Period (7:11 PM EST)" and similar texts
    assert res.wall_hints[0] == (0, "7:11 PM", 60.0)
    assert (ot_start["seq"], "9:48 PM", 60.0) in res.wall_hints
    assert res.wall_hints[-1] == (559, "10:02 PM", 60.0)
    assert len(res.wall_hints) == 15
    assert all(p["wall_utc"] is None for p in res.plays)


# --- cdn.nba.com liveData ---
def test_cdn_live_real_game() -> None:
    res = read_pbp(LIVE.read_bytes(), LIVE.name)
    assert (res.game_id, res.home_team, res.away_team) == ("0022000001", "BKN", "GSW")
    assert res.date == "2020-12-22"  # first action 2020-12-23T00:06Z is 7:06 PM Eastern on the 22nd
    assert res.read == 610 and len(res.plays) == 610
    [shot] = by_source_id(res, "12")
    assert shot["wall_utc"] == "2020-12-23T00:07:56.900Z"
    assert (shot["clock"], shot["team"], shot["player"], shot["player2"]) == (
        "Q1 11:22", "BKN", "K. Irving", "K. Durant")
    assert (shot["event_type"], shot["points"], shot["score_home"], shot["score_away"]) == (
        "made_shot", 2, 2, 2)
    [block] = by_source_id(res, "69")
    assert (block["event_type"], block["player"]) == ("block", "D. Jordan")
    assert res.plays[0]["wall_utc"] == "2020-12-23T00:06:19.000Z"
    last = res.plays[-1]
    assert (last["event_type"], last["text"], last["score_home"], last["score_away"]) == (
        "other", "Game End", 125, 99)
    assert all(p["wall_utc"] for p in res.plays)
    assert res.wall_hints == []


# --- ESPN summary (hand-made) ---
def test_espn_small() -> None:
    res = read_pbp(ESPN.read_bytes(), ESPN.name)
    assert (res.game_id, res.home_team, res.away_team) == ("401999001", "HAR", "MES")
    assert (res.home_name, res.away_name, res.date) == ("Harbor Herons", "Mesa Comets", "2024-01-15")
    assert res.read == 19 and len(res.plays) == 19
    types = [p["event_type"] for p in res.plays]
    assert types[:8] == ["jump_ball", "made_shot", "missed_shot", "rebound", "turnover", "foul",
                         "free_throw_made", "free_throw_missed"]
    assert types[-1] == "other" and types[11] == "period_end" and "violation" in types
    late = res.plays[10]  # clock.displayValue "34.5": ESPN drops the minutes in the last minute
    assert (late["clock"], late["clock_s"], late["points"], late["player"]) == (
        "Q1 00:34", 34.5, 3, "Tomas Reyes")
    assert late["wall_utc"] == "2024-01-16T01:05:30.000Z"
    assert res.plays[1]["player2"] == "Nils Lindqvist"  # names come from the boxscore
    assert (res.plays[-1]["score_home"], res.plays[-1]["score_away"]) == (9, 6)


# --- whole-file problems ---
def _truncated(path: Path, fraction: float) -> bytes:
    data = path.read_bytes()
    return data[: int(len(data) * fraction)]


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "file is empty"),
    (b"  \n ", "file is empty"),
    (b'{"game": "\xff\xfe"}', "not UTF-8"),
    (_truncated(V2, 0.5), "truncated"),
    (_truncated(V3, 0.03), "truncated"),
    (_truncated(LIVE, 0.77), "truncated"),
    (_truncated(ESPN, 0.999), "truncated"),
    ('{"game": "é"}'.encode()[:-3], "truncated"),  # cut inside a two-byte character
    (b"<html><body>Access denied</body></html>", "not valid JSON"),
    (b"[1, 2, 3]", "not a known play-by-play format"),
    (b'{"resource": "boxscore", "rows": []}', "top-level keys: resource, rows"),
    (b'{"game": {"gameId": "1", "actions": []}}', "game.actions is empty"),
], ids=["empty", "blank", "not-utf8", "truncated-v2", "truncated-v3", "truncated-live",
        "truncated-espn", "truncated-utf8", "html", "json-list", "other-endpoint",
        "no-actions"])
def test_unreadable_files(data: bytes, expected: str) -> None:
    with pytest.raises(UnreadableFileError) as err:
        read_pbp(data, "games/g1/pbp.json")
    assert expected in str(err.value)
    assert str(err.value).startswith("games/g1/pbp.json: ")


@pytest.mark.parametrize(("fmt", "obj", "expected"), [
    ("stats_v2", {"resultSets": [{"name": "PlayByPlay", "headers": ["GAME_ID"], "rowSet": []}]},
     "PlayByPlay headers lack EVENTNUM, EVENTMSGTYPE, PERIOD, PCTIMESTRING"),
    ("stats_v2", {"resultSets": "nope"}, "'resultSets' is str, not list"),
    ("stats_v3", {"game": {"actions": []}}, "game.actions is empty"),
    ("cdn_live", {"game": {"actions": {"a": 1}}}, "'game.actions' is dict, not list"),
    ("espn", {"plays": [], "header": {"competitions": [{}]}}, "plays[] is empty"),
    ("espn", raw(V2), "no 'plays' in the JSON"),
])
def test_unreadable_structure_with_forced_format(fmt: str, obj: Any, expected: str) -> None:
    with pytest.raises(UnreadableFileError) as err:
        read_pbp(json.dumps(obj).encode(), "pbp.json", fmt=fmt)
    assert expected in str(err.value)


def test_unknown_forced_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected one of stats_v2, stats_v3, cdn_live, espn"):
        read_pbp(V2.read_bytes(), "pbp.json", fmt="v2")


# --- bad rows: accounted, never an exception ---
_DELETE = object()  # marker: remove the key instead of setting it


def _v2_set(row: int, column: str, value: Any) -> Callable[[Any], None]:
    def mutate(obj: Any) -> None:
        rs = obj["resultSets"][0]
        rs["rowSet"][row][rs["headers"].index(column)] = value
    return mutate


def _v2_row(row: int, value: Any) -> Callable[[Any], None]:
    def mutate(obj: Any) -> None:
        obj["resultSets"][0]["rowSet"][row] = value
    return mutate


def _action(path: Path, row: int, key: str, value: Any, list_key: str = "actions") -> Callable[[Any], None]:
    def mutate(obj: Any) -> None:
        rows = obj["plays"] if path == ESPN else obj["game"][list_key]
        if value is _DELETE:
            del rows[row][key]
        else:
            rows[row][key] = value
    return mutate


def _replace_action(path: Path, row: int, value: Any) -> Callable[[Any], None]:
    def mutate(obj: Any) -> None:
        (obj["plays"] if path == ESPN else obj["game"]["actions"])[row] = value
    return mutate

BAD_ROWS = [
    # (file, mutation, row index, field, reason)
    (V2, _v2_set(4, "PERIOD", "x"), 4, "PERIOD", "bad_type"),
    (V2, _v2_set(4, "PERIOD", 0), 4, "PERIOD", "bad_period"),
    (V2, _v2_set(4, "SCORE", [2, 0]), 4, "SCORE", "bad_type"),
    (V2, _v2_set(4, "SCORE", "two - nil"), 4, "SCORE", "bad_type"),
    (V2, _v2_set(4, "PCTIMESTRING", None), 4, "PCTIMESTRING", "missing_field"),
    (V2, _v2_set(4, "PCTIMESTRING", "14:00"), 4, "PCTIMESTRING", "bad_clock"),
    (V2, _v2_set(4, "EVENTNUM", 8), 4, "EVENTNUM", "duplicate_event"),
    (V2, _v2_set(4, "EVENTMSGTYPE", None), 4, "EVENTMSGTYPE", "missing_field"),
    (V2, _v2_set(4, "GAME_ID", "0021900002"), 4, "GAME_ID", "wrong_game"),
    (V2, _v2_row(4, "not a row"), 4, None, "bad_type"),
    (V2, _v2_row(4, ["0021900001", 9, 1]), 4, "PERIOD", "missing_field"),  # short row
    (V3, _action(V3, 2, "period", "x"), 2, "period", "bad_type"),
    (V3, _action(V3, 2, "scoreHome", ["0"]), 2, "scoreHome", "bad_type"),
    (V3, _action(V3, 2, "clock", "PT99M00.00S"), 2, "clock", "bad_clock"),
    (V3, _action(V3, 2, "clock", "soon"), 2, "clock", "bad_clock"),
    (V3, _action(V3, 2, "actionNumber", _DELETE), 2, "actionNumber", "missing_field"),
    (V3, _action(V3, 2, "actionId", 1), 2, "actionId", "duplicate_event"),
    (V3, _replace_action(V3, 2, "DeRozan 3PT"), 2, None, "bad_type"),
    (LIVE, _action(LIVE, 6, "timeActual", "yesterday"), 6, "timeActual", "bad_time"),
    (LIVE, _action(LIVE, 6, "scoreAway", "abc"), 6, "scoreAway", "bad_type"),
    (LIVE, _action(LIVE, 6, "scoreAway", "-4"), 6, "scoreAway", "bad_score"),
    (LIVE, _action(LIVE, 6, "clock", None), 6, "clock", "missing_field"),
    (LIVE, _action(LIVE, 6, "period", True), 6, "period", "bad_type"),
    (LIVE, _replace_action(LIVE, 6, None), 6, None, "bad_type"),
    (ESPN, _action(ESPN, 3, "period", {"number": "x"}), 3, "period.number", "bad_type"),
    (ESPN, _action(ESPN, 3, "clock", _DELETE), 3, "clock.displayValue", "missing_field"),
    (ESPN, _action(ESPN, 3, "homeScore", [2]), 3, "homeScore", "bad_type"),
    (ESPN, _action(ESPN, 3, "id", None), 3, "id", "missing_field"),
    (ESPN, _action(ESPN, 3, "id", "40199900003"), 3, "id", "duplicate_event"),
    (ESPN, _action(ESPN, 3, "wallclock", 12345), 3, "wallclock", "bad_type"),
]


@pytest.mark.parametrize(("path", "mutate", "row", "field", "reason"), BAD_ROWS,
                         ids=[f"{p.stem[:12]}-{f}-{r}-{i}" for i, (p, _, _, f, r) in enumerate(BAD_ROWS)])
def test_bad_row_is_one_accounted_rejection(path: Path, mutate: Callable[[Any], None], row: int,
                                            field: str | None, reason: str) -> None:
    obj = raw(path)
    mutate(obj)
    res = read_obj(obj)
    assert res.read == len(res.plays) + len(res.rejections)
    assert len(res.rejections) == 1, res.rejections.items
    [item] = res.rejections.items
    assert (item["file"], item["row"], item["field"], item["reason"]) == ("mutated.json", row, field, reason)
    # the running score recovers on the next row that states it
    good = clean(path)
    assert (res.plays[-1]["score_home"], res.plays[-1]["score_away"]) == (
        good.plays[-1]["score_home"], good.plays[-1]["score_away"])


def test_optional_fields_missing_use_documented_defaults() -> None:
    obj = raw(LIVE)
    for key in ("description", "teamTricode", "playerName", "playerNameI", "timeActual"):
        obj["game"]["actions"][6].pop(key)
    res = read_obj(obj)
    assert len(res.rejections) == 0
    p = res.plays[6]
    assert (p["text"], p["team"], p["player"], p["wall_utc"]) == ("2pt jump shot", None, None, None)
    assert (p["event_type"], p["points"]) == ("made_shot", 2)  # from shotResult and the score change


def test_unknown_event_types_map_to_other() -> None:
    obj = raw(V3)
    obj["game"]["actions"][2]["actionType"] = "Coach Ejection"
    res = read_obj(obj)
    assert res.plays[2]["event_type"] == "other"
    assert res.plays[2]["score_away"] == 3  # the score still moves on an unmapped row


# --- the synthetic sample generator writes files these readers accept ---
def test_simulated_pbp_files_parse_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fan_timeline.simulate.cli import FORMATS, simulate

    ids, _ = simulate(tmp_path, games=len(FORMATS), seed=11)  # one game per play-by-play format
    capsys.readouterr()
    seen = set()
    for gid in ids:
        game = json.loads((tmp_path / gid / "game.json").read_text())
        res = read_pbp((tmp_path / gid / "pbp.json").read_bytes(), f"{gid}/pbp.json")
        seen.add(res.format)
        assert res.rejections.items == [] and res.read == len(res.plays) > 300
        assert (res.home_team, res.away_team) == (game["home"]["team"], game["away"]["team"])
        last = res.plays[-1]
        assert sum(p["points"] for p in res.plays) == last["score_home"] + last["score_away"]
        if res.format in ("cdn_live", "espn"):
            assert all(p["wall_utc"] for p in res.plays)
        else:
            assert res.wall_hints
    assert seen == set(FORMATS)

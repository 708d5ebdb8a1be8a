"""The play-by-play as a whole, on the real NBA samples with one thing broken at a time.

Proves: a row whose game clock runs backwards, a score that goes down, anything after the final
and a name carrying markup each cost their own row, as a rejection with its reason (read == kept +
rejected), while the real samples (equal clocks for free throws, period boundaries) lose no row; a
single wrong clock or score costs that row, not the rows after it; a file whose rows are mostly out
of order is refused, naming the file and the rule; home/away tricodes follow one shared rule.
Run: pytest tests/readers/test_pbp_order.py  (no network, a few seconds)
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from fan_timeline.readers.common import home_away
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.tables import PbpResult, UnreadableFileError

DATA = Path(__file__).resolve().parents[1] / "data"
V2 = DATA / "real" / "stats_playbyplayv2_0021900001.json"
V3 = DATA / "real" / "stats_playbyplayv3_0022200552.json"
LIVE = DATA / "real" / "cdn_liveData_playbyplay_0022000001.json"
ESPN = DATA / "espn_small.json"


@functools.cache
def _parsed(path: Path) -> Any:
    return json.loads(path.read_bytes())


def raw(path: Path) -> Any:
    return copy.deepcopy(_parsed(path))


@functools.cache
def clean(path: Path) -> PbpResult:
    return read_pbp(path.read_bytes(), path.name)


def read_obj(obj: Any) -> PbpResult:
    res = read_pbp(json.dumps(obj).encode(), "mutated.json")
    assert res.read == len(res.plays) + len(res.rejections)
    return res


def rejected(res: PbpResult) -> list[tuple[Any, Any, str]]:
    return [(r["row"], r["field"], r["reason"]) for r in res.rejections.items]


def final(res: PbpResult) -> tuple[int, int]:
    return res.plays[-1]["score_home"], res.plays[-1]["score_away"]


def test_real_samples_keep_every_row_under_the_order_rules() -> None:
    for path in (V2, V3, LIVE, ESPN):
        res = clean(path)
        assert res.rejections.items == [] and len(res.plays) == res.read
    # what the rules must let through: equal clocks (free throws and the fouls and substitutions
    # around them) and period boundaries (Q1 00:00 end, Q2 12:00 start) are in order
    v2 = clean(V2).plays
    assert sum(a["game_s"] == b["game_s"] for a, b in zip(v2, v2[1:])) > 100
    assert any(a["clock"] == "Q1 00:00" and b["clock"] == "Q2 12:00" for a, b in zip(v2, v2[1:]))


# --- the game clock ---
def test_a_clock_that_runs_backwards_costs_its_row() -> None:
    obj = raw(V3)
    actions = obj["game"]["actions"]
    i = 100
    assert (actions[i]["period"], actions[i]["scoreHome"]) == (1, "")   # a Q1 row that scores nothing
    actions[i]["clock"] = "PT11M59.00S"                                   # back near the tip-off
    res = read_obj(obj)
    assert rejected(res) == [(i, "clock", "clock_backwards")]
    assert "Q1 11:59 comes after" in res.rejections.items[0]["detail"]
    assert len(res.plays) == len(clean(V3).plays) - 1 and final(res) == final(clean(V3))


def test_one_clock_too_far_ahead_costs_that_row_not_the_rest_of_the_period() -> None:
    obj = raw(V2)
    rs = obj["resultSets"][0]
    col = rs["headers"].index("PCTIMESTRING")
    i = 20
    assert rs["rowSet"][i][rs["headers"].index("PERIOD")] == 1 and rs["rowSet"][i][col] != "0:00"
    rs["rowSet"][i][col] = "0:00"            # a typo'd buzzer mid-quarter: every later Q1 row is "earlier"
    res = read_obj(obj)
    assert rejected(res) == [(i, "PCTIMESTRING", "clock_backwards")]
    assert "runs backwards after it" in res.rejections.items[0]["detail"]
    assert final(res) == final(clean(V2))


# --- the score ---
def test_a_score_reset_costs_its_row_and_the_score_carries_on() -> None:
    obj = raw(LIVE)
    actions = obj["game"]["actions"]
    i = 300
    assert int(actions[i]["scoreHome"]) > 40
    actions[i]["scoreHome"], actions[i]["scoreAway"] = "0", "0"
    res = read_obj(obj)
    assert rejected(res) == [(i, "scoreHome", "score_down")]
    assert "home score 0 is lower than" in res.rejections.items[0]["detail"]
    assert final(res) == final(clean(LIVE)) == (125, 99)
    assert all(b["score_home"] >= a["score_home"] and b["score_away"] >= a["score_away"]
               for a, b in zip(res.plays, res.plays[1:]))


def test_one_score_too_high_costs_that_row_not_the_rest_of_the_game() -> None:
    obj = raw(LIVE)
    actions = obj["game"]["actions"]
    actions[200]["scoreAway"] = "199"        # every later away score would be "lower"
    res = read_obj(obj)
    assert rejected(res) == [(200, "scoreAway", "score_down")]
    assert "away score 199 is higher than" in res.rejections.items[0]["detail"]
    assert final(res) == (125, 99) and sum(p["points"] for p in res.plays) <= 125 + 99


def test_a_score_reset_for_the_rest_of_the_file_costs_the_shorter_side() -> None:
    obj = raw(V3)
    actions = obj["game"]["actions"]
    cut = 500                                 # the last 60 rows (the end of Q4, the overtime) lose 130 points
    for a in actions[cut:]:
        for key in ("scoreHome", "scoreAway"):
            if a[key] != "":
                a[key] = str(max(0, int(a[key]) - 130))
    res = read_obj(obj)
    reasons = {reason for _, _, reason in rejected(res)}
    assert reasons == {"score_down"}
    assert all(row >= cut for row, _, _ in rejected(res))   # the 500 rows before the reset are kept
    at_cut = clean(V3).plays[cut - 1]
    assert final(res) == (at_cut["score_home"], at_cut["score_away"]) == (128, 130)   # carried to the end


# --- the final ---
def test_nothing_moves_after_the_final() -> None:
    obj = raw(LIVE)
    actions = obj["game"]["actions"]
    end = actions[-1]
    assert (end["actionType"], end["subType"]) == ("game", "end")
    replay = {**actions[-2], "actionNumber": 9001, "orderNumber": 9001}   # same clock and score: kept
    second_end = {**end, "actionNumber": 9002, "orderNumber": 9002}
    overtime = {**actions[-2], "actionNumber": 9003, "orderNumber": 9003, "period": 5, "clock": "PT04M00.00S"}
    late_basket = {**overtime, "actionNumber": 9004, "orderNumber": 9004, "scoreHome": "127"}
    actions += [replay, second_end, overtime, late_basket]
    res = read_obj(obj)
    assert rejected(res) == [(611, None, "after_final"), (612, None, "after_final"), (613, None, "after_final")]
    details = [r["detail"] for r in res.rejections.items]
    assert details[0] == "a second end of game after the game ended on row 609 (Q4 00:00, 125-99)"
    assert details[1].startswith("moves the clock or the score after the game ended on row 609")
    assert res.plays[-1]["source_id"] == "9001" and final(res) == (125, 99)


# --- a file that is not one game in order ---
def test_a_file_mostly_out_of_order_is_refused_naming_file_and_rule() -> None:
    obj = raw(LIVE)
    obj["game"]["actions"].reverse()
    with pytest.raises(UnreadableFileError) as err:
        read_pbp(json.dumps(obj).encode(), "games/g1/pbp.json")
    msg = str(err.value)
    assert msg.startswith("games/g1/pbp.json: ")
    assert "of 610 events break the game's order" in msg and "game clock runs backwards" in msg


def test_two_games_back_to_back_are_refused() -> None:
    obj = raw(ESPN)
    obj["plays"] = [copy.deepcopy(p) for _ in range(3) for p in obj["plays"]]   # the game three times
    for k, p in enumerate(obj["plays"]):
        p["id"] = str(k)
    with pytest.raises(UnreadableFileError, match="break the game's order"):
        read_pbp(json.dumps(obj).encode(), "espn.json")


# --- names are text ---
@pytest.mark.parametrize("name", ['Brooks"><script>alert(1)</script>', "<b>Brooks</b>", "Brooks\x00", "x" * 101])
def test_a_name_with_markup_rejects_its_row(name: str) -> None:
    obj = raw(V2)
    rs = obj["resultSets"][0]
    i = 5
    rs["rowSet"][i][rs["headers"].index("PLAYER1_NAME")] = name
    res = read_obj(obj)
    assert rejected(res) == [(i, "player", "bad_name")]
    assert final(res) == final(clean(V2))
    assert all(name not in (p["player"], p["player2"]) for p in res.plays)


def test_real_names_stay_as_written() -> None:
    names = ["Royce O'Neale", "Shai Gilgeous-Alexander", "Nikola Jokić", "Kelly Oubre Jr.", "D\u2019Angelo Russell"]
    obj = raw(LIVE)
    actions = obj["game"]["actions"]
    for i, name in enumerate(names, start=6):
        actions[i]["playerNameI"] = name
    res = read_obj(obj)
    assert res.rejections.items == []
    assert [res.plays[i]["player"] for i in range(6, 6 + len(names))] == names


def test_markup_in_a_secondary_name_or_team_rejects_the_row() -> None:
    obj = raw(V3)
    actions = obj["game"]["actions"]
    actions[2]["teamTricode"] = "<i>CHI</i>"
    actions[3]["description"] = 'Allen Layup (2 PTS) (Love"><b> 1 AST)'
    res = read_obj(obj)
    assert rejected(res) == [(2, "team", "bad_name"), (3, "player2", "bad_name")]
    assert (res.home_team, res.away_team) == ("CLE", "CHI")    # the bad tricode got no vote


def test_a_team_name_with_markup_counts_as_missing() -> None:
    obj = raw(ESPN)
    home = next(c for c in obj["header"]["competitions"][0]["competitors"] if c["homeAway"] == "home")
    home["team"]["displayName"] = "Harbor Herons<script>x</script>"
    res = read_obj(obj)
    assert (res.home_team, res.home_name, res.away_name) == ("HAR", None, "Mesa Comets")
    assert len(res.plays) == 19


# --- home and away: one rule for V3 and liveData ---
def _act(team: str, home: str, away: str, location: str | None = None) -> dict[str, Any]:
    a = {"teamTricode": team, "scoreHome": home, "scoreAway": away}
    if location is not None:
        a["location"] = location
    return a


def test_home_away_from_location_even_when_few_rows_carry_it() -> None:
    # the scores say AAA scores for home and BBB for away, but the two located rows say otherwise:
    # the feed's own field wins (liveData's old weighting let the scoring rows outvote it)
    actions = [_act("BBB", "0", "0", "h"), _act("AAA", "0", "0", "v")] + \
        [_act("AAA", str(2 * k), "0") for k in range(1, 5)] + [_act("BBB", "8", str(2 * k)) for k in range(1, 5)]
    assert home_away(actions) == ("BBB", "AAA")
    assert home_away(actions[2:]) == ("AAA", "BBB")     # the same rows without location


def test_home_away_from_scores_when_no_row_has_location() -> None:
    actions = [_act("AAA", "2", "0"), _act("BBB", "2", "3"), _act("AAA", "", ""), _act("AAA", "4", "3")]
    assert home_away(actions) == ("AAA", "BBB")         # V3's old rule gave (None, None)
    obj = raw(V3)
    for a in obj["game"]["actions"]:
        a.pop("location", None)
    res = read_obj(obj)
    assert (res.home_team, res.away_team) == ("CLE", "CHI") == (clean(V3).home_team, clean(V3).away_team)
    assert (clean(LIVE).home_team, clean(LIVE).away_team) == ("BKN", "GSW")   # no location in this feed


def test_home_away_never_names_one_team_twice() -> None:
    assert home_away([_act("AAA", "0", "0", "h"), _act("AAA", "0", "0", "v")]) == ("AAA", None)
    assert home_away([_act("AAA", "2", "0"), _act("AAA", "2", "2")]) == ("AAA", None)

"""Reader for stats.nba.com `playbyplayv2` responses.

Shape: `{"resource", "parameters": {"GameID", ...}, "resultSets": [{"name": "PlayByPlay",
"headers": [...], "rowSet": [[...], ...]}, ...]}` — rows are positional lists named by `headers`.

Quirks handled here:
- `SCORE` is "AWAY - HOME" and only set on rows that change (or restate) the score; other rows
  leave it null, so the running score is carried forward.
- Text is split over HOMEDESCRIPTION / NEUTRALDESCRIPTION / VISITORDESCRIPTION (a turnover and the
  steal that caused it share one row); they are joined with " | ".
- No home/away fields: PERSON{n}TYPE 4/5 mark home/visitor players (2/3 home/visitor team rows,
  whose PLAYER1_ID is the team id), which gives the tricodes and city + nickname names.
- Steals and blocks are not rows of their own: they are PLAYER2 / PLAYER3 of the turnover or miss.
- Free throws are one type (3) for made and missed: "MISS" in the text marks a miss.
- `WCTIMESTRING` is local (US Eastern) wall time at minute resolution with no date: it becomes a
  `wall_hints` entry per play; `wall_utc` stays None. No game date in the file.
- Officials can appear as PLAYER1 (instant replay rows): a name without a team is not a player.
- Period start/end rows have no text: it becomes "Start of Q1" / "End of OT1".
- EVENTNUM is not monotone (late-entered events); file order is game order.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from fan_timeline.readers.common import (
    Event,
    RowError,
    collect,
    is_blank,
    is_name,
    join_text,
    load_json,
    local_time_text,
    parse_clock,
    parse_period,
    require,
    to_int,
    to_str,
)
from fan_timeline.sport import period_name
from fan_timeline.tables import PbpResult, UnreadableFileError

FORMAT = "stats_v2"
REQUIRED_COLUMNS = ("EVENTNUM", "EVENTMSGTYPE", "PERIOD", "PCTIMESTRING")

# EVENTMSGTYPE -> canonical type; 3 (free throw) is split by the text, unknown codes -> "other".
_EVENT_TYPES = {
    1: "made_shot", 2: "missed_shot", 4: "rebound", 5: "turnover", 6: "foul", 7: "violation",
    8: "substitution", 9: "timeout", 10: "jump_ball", 12: "period_start", 13: "period_end",
}
_HOME_PLAYER, _AWAY_PLAYER, _HOME_TEAM, _AWAY_TEAM = 4, 5, 2, 3


def read(data: bytes, source: str | Path) -> PbpResult:
    """Read one playbyplayv2 JSON file (raw bytes) into canonical plays."""
    return from_json(load_json(data, source), source)


def from_json(obj: Any, source: str | Path) -> PbpResult:
    """Read an already-parsed playbyplayv2 response."""
    what = "a stats.nba.com playbyplayv2 response with resultSets[name=PlayByPlay]"
    sets = require(obj, "resultSets", list, source, what)
    pbp = next((s for s in sets if isinstance(s, dict) and s.get("name") == "PlayByPlay"), None)
    if pbp is None:
        raise UnreadableFileError(source, "no result set named 'PlayByPlay'", f"expected {what}")
    headers = require(pbp, "headers", list, source, what)
    rows = require(pbp, "rowSet", list, source, what)
    if not all(isinstance(h, str) for h in headers):
        raise UnreadableFileError(source, "PlayByPlay.headers holds non-text column names", f"expected {what}")
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    if missing:
        raise UnreadableFileError(source, f"PlayByPlay headers lack {', '.join(missing)}",
                                  "is this a different stats.nba.com endpoint?")
    if not rows:
        raise UnreadableFileError(source, "PlayByPlay.rowSet is empty: no events",
                                  "the game may not have started when the file was saved")
    records = [dict(zip(headers, r)) if isinstance(r, list) else r for r in rows]
    game_id = _game_id(obj, records, source)
    teams = _teams(records)

    def parse(rec: Any) -> Event:
        return _parse_row(rec, game_id, teams)

    plays, rejections, hints = collect(records, source, game_id, "EVENTNUM", parse)
    return PbpResult(format=FORMAT, game_id=game_id, plays=plays, home_team=teams["home"],
                     away_team=teams["away"], home_name=teams["home_name"],
                     away_name=teams["away_name"], date=None, read=len(rows),
                     rejections=rejections, wall_hints=hints)


def _game_id(obj: dict[str, Any], records: list[Any], source: str | Path) -> str:
    params = obj.get("parameters")
    gid = to_str(params.get("GameID")) if isinstance(params, dict) else None
    if gid is None:
        gid = next((to_str(r.get("GAME_ID")) for r in records
                    if isinstance(r, dict) and to_str(r.get("GAME_ID"))), None)
    return gid or Path(str(source)).stem


def _teams(records: list[Any]) -> dict[str, Any]:
    """Home/away tricodes and names by majority over player rows, plus team id -> tricode.
    Values that are not names (see common.is_name) do not vote."""
    side: dict[str, Counter[tuple[str, str | None]]] = {"home": Counter(), "away": Counter()}
    by_id: dict[int, str] = {}
    for r in records:
        if not isinstance(r, dict):
            continue
        for n in (1, 2, 3):
            abbr = to_str(r.get(f"PLAYER{n}_TEAM_ABBREVIATION"))
            if abbr is None or not is_name(abbr):
                continue
            city = to_str(r.get(f"PLAYER{n}_TEAM_CITY"))
            nick = to_str(r.get(f"PLAYER{n}_TEAM_NICKNAME"))
            name = " ".join(p for p in (city, nick) if p) or None
            name = name if name is not None and is_name(name) else None
            kind = r.get(f"PERSON{n}TYPE")
            if kind == _HOME_PLAYER:
                side["home"][(abbr, name)] += 1
            elif kind == _AWAY_PLAYER:
                side["away"][(abbr, name)] += 1
            team_id = r.get(f"PLAYER{n}_TEAM_ID")
            if isinstance(team_id, int):
                by_id[team_id] = abbr
    out: dict[str, Any] = {"by_id": by_id}
    for s in ("home", "away"):
        abbr, name = side[s].most_common(1)[0][0] if side[s] else (None, None)
        out[s], out[f"{s}_name"] = abbr, name
    return out


def _parse_row(rec: Any, game_id: str, teams: dict[str, Any]) -> Event:
    if not isinstance(rec, dict):
        raise RowError(None, "bad_type", f"row is {type(rec).__name__}, not a list", rec)
    row_game = to_str(rec.get("GAME_ID"))
    if row_game is not None and row_game != game_id:
        raise RowError("GAME_ID", "wrong_game", f"row belongs to game {row_game}, file to {game_id}",
                       row_game)
    eventnum = to_int(rec.get("EVENTNUM"), "EVENTNUM")
    msgtype = to_int(rec.get("EVENTMSGTYPE"), "EVENTMSGTYPE")
    period = parse_period(rec.get("PERIOD"), "PERIOD")
    clock_s = parse_clock(rec.get("PCTIMESTRING"), period, "PCTIMESTRING")
    text = join_text(rec.get("HOMEDESCRIPTION"), rec.get("NEUTRALDESCRIPTION"),
                     rec.get("VISITORDESCRIPTION"))
    if msgtype == 3:
        event_type = "free_throw_missed" if "MISS" in text.upper() else "free_throw_made"
    else:
        event_type = _EVENT_TYPES.get(msgtype, "other")
    if not text and event_type in ("period_start", "period_end"):  # V2 leaves these blank
        text = f"{'Start' if event_type == 'period_start' else 'End'} of {period_name(period)}"
    home, away = _score(rec.get("SCORE"))
    return Event(
        source_id=str(eventnum), period=period, clock_s=clock_s, event_type=event_type, text=text,
        team=_team(rec, teams), player=_player(rec, 1), player2=_player(rec, 2) or _player(rec, 3),
        score_home=home, score_away=away, score_fields=("SCORE", "SCORE"), clock_field="PCTIMESTRING",
        shot_value=3 if "3PT" in text.upper() else 2 if msgtype in (1, 2) else None,
        wall_hint=local_time_text(rec.get("WCTIMESTRING")))


def _score(value: Any) -> tuple[int | None, int | None]:
    """(home, away) from "AWAY - HOME"; (None, None) when the row carries no score."""
    if is_blank(value):
        return None, None
    if not isinstance(value, str):
        raise RowError("SCORE", "bad_type", "expected 'AWAY - HOME' text", value)
    parts = value.split("-")
    try:
        if len(parts) != 2:
            raise RowError("SCORE", "bad_score", "expected 'AWAY - HOME'", value)
        away, home = (to_int(p, "SCORE") for p in parts)
    except RowError as e:
        raise RowError("SCORE", e.reason if e.reason == "bad_score" else "bad_type",
                       "expected 'AWAY - HOME' with two integers", value) from None
    return home, away


def _team(rec: dict[str, Any], teams: dict[str, Any]) -> str | None:
    abbr = to_str(rec.get("PLAYER1_TEAM_ABBREVIATION"))
    if abbr:
        return abbr
    kind = rec.get("PERSON1TYPE")
    if kind == _HOME_TEAM:
        return teams["home"]
    if kind == _AWAY_TEAM:
        return teams["away"]
    player_id = rec.get("PLAYER1_ID")
    return teams["by_id"].get(player_id) if isinstance(player_id, int) else None


def _player(rec: dict[str, Any], n: int) -> str | None:
    """PLAYERn_NAME when it belongs to a team (officials in replay rows have no team)."""
    if is_blank(rec.get(f"PLAYER{n}_TEAM_ID")) and is_blank(rec.get(f"PLAYER{n}_TEAM_ABBREVIATION")):
        return None
    return to_str(rec.get(f"PLAYER{n}_NAME"))

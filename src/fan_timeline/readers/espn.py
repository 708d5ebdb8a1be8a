"""Reader for ESPN's game summary JSON (`.../summary?event=ID`).

Shape: `{"header": {"id", "competitions": [{"date", "competitors": [{"homeAway", "score",
"team": {"id", "abbreviation", "displayName"}}]}]}, "plays": [...], "boxscore": {...}}`; each
play has `id, sequenceNumber, type{id,text}, text, awayScore, homeScore, period{number},
clock{displayValue}, scoringPlay, scoreValue, team{id}, participants[{athlete{id}}], wallclock
(UTC, 1 s), shootingPlay`.

Quirks handled here:
- Event kinds are free text in `type.text` ("Driving Layup Shot", "Bad Pass\\nTurnover",
  "Free Throw - 1 of 2", "End Period"); shots are recognised by `shootingPlay` and made/missed by
  `scoringPlay`, the rest by keywords.
- `clock.displayValue` is "MM:SS" but only seconds in the last minute ("34.5").
- Plays name teams by id and players only by athlete id: tricodes come from the competitors,
  names from `boxscore.players[].statistics[].athletes[].athlete` (or an inline
  `athlete.displayName`); a player with no known name is None.
- `wallclock` is per-play UTC: it becomes `wall_utc` (missing -> None, unparseable -> rejected).
- `competitions[0].date` is the UTC tip-off; `date` is its US-Eastern calendar date.
- "End Game" (type id 402) is the final (see `common.order_rejections`).
- A competitor abbreviation or display name that is not a name (markup) counts as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fan_timeline.readers.common import (
    Event,
    RowError,
    collect,
    is_blank,
    is_name,
    league_date,
    load_json,
    parse_clock,
    parse_period,
    parse_utc,
    require,
    to_int,
    to_str,
    utc_text,
)
from fan_timeline.tables import PbpResult, UnreadableFileError

FORMAT = "espn"

# Keyword (in lower-cased type.text) -> canonical type, checked in this order after free throws
# and shots; "turnover" before "foul" so that "Offensive Foul Turnover" is a turnover.
_KEYWORDS = (
    ("jump ball", "jump_ball"), ("jumpball", "jump_ball"),
    ("end game", "other"), ("end of game", "other"),
    ("end period", "period_end"), ("end of", "period_end"),
    ("start period", "period_start"), ("start of", "period_start"),
    ("timeout", "timeout"), ("substitution", "substitution"), ("rebound", "rebound"),
    ("turnover", "turnover"), ("traveling", "turnover"), ("bad pass", "turnover"),
    ("lost ball", "turnover"), ("violation", "violation"), ("goaltending", "violation"),
    ("foul", "foul"), ("steal", "steal"), ("block", "block"),
)


def read(data: bytes, source: str | Path) -> PbpResult:
    """Read one ESPN summary JSON file (raw bytes) into canonical plays."""
    return from_json(load_json(data, source), source)


def from_json(obj: Any, source: str | Path) -> PbpResult:
    """Read an already-parsed ESPN summary."""
    what = "an ESPN summary with plays[] and header.competitions[]"
    plays_raw = require(obj, "plays", list, source, what)
    competitions = require(obj, "header.competitions", list, source, what)
    if not competitions or not isinstance(competitions[0], dict):
        raise UnreadableFileError(source, "header.competitions is empty", f"expected {what}")
    if not plays_raw:
        raise UnreadableFileError(source, "plays[] is empty: no events",
                                  "the game may not have started when the file was saved")
    comp = competitions[0]
    game_id = (to_str(obj["header"].get("id")) or to_str(comp.get("id"))
               or Path(str(source)).stem)
    sides, by_team_id = _competitors(comp)
    names = _athlete_names(obj)

    def parse(play: Any) -> Event:
        return _parse_play(play, by_team_id, names)

    plays, rejections, hints = collect(plays_raw, source, game_id, "id", parse)
    date = None
    if not is_blank(comp.get("date")):
        try:
            date = league_date(parse_utc(comp["date"], "date"))
        except RowError:
            date = None
    home, away = sides.get("home", {}), sides.get("away", {})
    return PbpResult(format=FORMAT, game_id=game_id, plays=plays,
                     home_team=home.get("abbr"), away_team=away.get("abbr"),
                     home_name=home.get("name"), away_name=away.get("name"), date=date,
                     read=len(plays_raw), rejections=rejections, wall_hints=hints)


def _competitors(comp: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """{"home": {"abbr", "name"}, "away": ...} and team id -> tricode."""
    sides: dict[str, dict[str, Any]] = {}
    by_id: dict[str, str] = {}
    competitors = comp.get("competitors")
    for c in competitors if isinstance(competitors, list) else []:
        if not isinstance(c, dict) or not isinstance(c.get("team"), dict):
            continue
        team = c["team"]
        abbr = _team_name(team.get("abbreviation"))
        if c.get("homeAway") in ("home", "away"):
            sides[c["homeAway"]] = {"abbr": abbr, "name": _team_name(team.get("displayName"))}
        for tid in (team.get("id"), c.get("id")):
            if to_str(tid) and abbr:
                by_id[to_str(tid)] = abbr  # type: ignore[index]
    return sides, by_id


def _team_name(value: Any) -> str | None:
    """A competitor's abbreviation or display name; one that is not a name counts as missing."""
    text = to_str(value)
    return text if text is not None and is_name(text) else None


def _athlete_names(obj: dict[str, Any]) -> dict[str, str]:
    """Athlete id -> display name from the boxscore, when the summary has one."""
    names: dict[str, str] = {}
    box = obj.get("boxscore")
    teams = box.get("players") if isinstance(box, dict) else None
    for team in teams if isinstance(teams, list) else []:
        stats = team.get("statistics") if isinstance(team, dict) else None
        for group in stats if isinstance(stats, list) else []:
            athletes = group.get("athletes") if isinstance(group, dict) else None
            for entry in athletes if isinstance(athletes, list) else []:
                athlete = entry.get("athlete") if isinstance(entry, dict) else None
                if isinstance(athlete, dict) and to_str(athlete.get("id")):
                    name = to_str(athlete.get("displayName")) or to_str(athlete.get("shortName"))
                    if name:
                        names[to_str(athlete["id"])] = name  # type: ignore[index]
    return names


def _parse_play(p: Any, by_team_id: dict[str, str], names: dict[str, str]) -> Event:
    if not isinstance(p, dict):
        raise RowError(None, "bad_type", f"play is {type(p).__name__}, not an object", p)
    play_id = to_str(p.get("id"))
    if play_id is None:
        raise RowError("id", "missing_field", "play has no id", p.get("id"))
    period_obj = p.get("period")
    period = parse_period(period_obj.get("number") if isinstance(period_obj, dict) else period_obj,
                          "period.number")
    clock_obj = p.get("clock")
    clock = clock_obj if not isinstance(clock_obj, dict) else (
        clock_obj.get("displayValue") if not is_blank(clock_obj.get("displayValue"))
        else clock_obj.get("value"))
    clock_s = parse_clock(clock, period, "clock.displayValue")
    wall = None if is_blank(p.get("wallclock")) else utc_text(parse_utc(p["wallclock"], "wallclock"))
    type_obj = p.get("type")
    type_text = to_str(type_obj.get("text")) if isinstance(type_obj, dict) else to_str(type_obj)
    score_value = to_int(p["scoreValue"], "scoreValue") if not is_blank(p.get("scoreValue")) else 0
    scoring = p["scoringPlay"] if isinstance(p.get("scoringPlay"), bool) else score_value > 0
    event_type = _event_type(type_text or "", scoring, p.get("shootingPlay") is True)
    team_obj = p.get("team")
    team_id = to_str(team_obj.get("id")) if isinstance(team_obj, dict) else None
    participants = p.get("participants") if isinstance(p.get("participants"), list) else []
    people = [_athlete(x, names) for x in participants if isinstance(x, dict)]
    text = p.get("text") if isinstance(p.get("text"), str) else ""
    return Event(
        source_id=play_id, period=period, clock_s=clock_s, wall_utc=wall, event_type=event_type,
        text=text or (type_text or ""), team=by_team_id.get(team_id) if team_id else None,
        player=people[0] if people else None, player2=people[1] if len(people) > 1 else None,
        score_home=p.get("homeScore"), score_away=p.get("awayScore"),
        score_fields=("homeScore", "awayScore"), clock_field="clock.displayValue",
        game_end=_is_game_end(type_text or ""),
        shot_value=score_value if event_type == "made_shot" and score_value in (2, 3) else None)


def _athlete(participant: dict[str, Any], names: dict[str, str]) -> str | None:
    athlete = participant.get("athlete")
    if not isinstance(athlete, dict):
        return None
    return to_str(athlete.get("displayName")) or names.get(to_str(athlete.get("id")) or "")


def _is_game_end(type_text: str) -> bool:
    t = " ".join(type_text.lower().split())
    return "end game" in t or "end of game" in t


def _event_type(type_text: str, scoring: bool, shooting: bool) -> str:
    t = " ".join(type_text.lower().split())  # ESPN puts newlines inside some type texts
    if "free throw" in t:
        return "free_throw_made" if scoring else "free_throw_missed"
    if shooting:
        return "made_shot" if scoring else "missed_shot"
    for word, event_type in _KEYWORDS:
        if word in t:
            return event_type
    return "other"

"""Reader for the cdn.nba.com liveData `playbyplay` feed.

Shape: `{"meta", "game": {"gameId", "actions": [...]}}`, one dict per action with
`actionNumber, orderNumber, clock ("PT11M05.00S"), timeActual (UTC, 0.1 s), period, teamTricode,
actionType, subType, descriptor, personId, playerName, playerNameI, scoreHome, scoreAway,
shotResult, description` plus `assist*`, `block*`, `steal*`, `foulDrawn*`, `jumpBall*` fields.

Quirks handled here:
- `timeActual` is a true UTC wall clock per action (0.1 s): it becomes `wall_utc`. A missing one
  leaves `wall_utc` None; an unparseable one rejects the row (bad_time).
- Scores are strings on every row; blanks (not seen in real files) are carried forward.
- Steals and blocks are actions of their own; the turnover/miss also names the stealer/blocker,
  which becomes its `player2`.
- Some actions (stoppages) have no description: the text falls back to "stoppage out-of-bounds".
- No home/away field in most versions: `location` ("h"/"v") when present, else the side whose
  score a team's made shots move (`common.home_away`, shared with V3). No team names in the file.
- The last action is "Game End" (actionType "game", subType "end"): the final (see
  `common.order_rejections`).
- No local game date: `date` is the US-Eastern date of the first action's `timeActual`.
- actionNumber is not monotone; file order (= orderNumber order) is game order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fan_timeline.readers.common import (
    Event,
    RowError,
    collect,
    home_away,
    is_blank,
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

FORMAT = "cdn_live"

_EVENT_TYPES = {
    "rebound": "rebound", "turnover": "turnover", "steal": "steal", "block": "block",
    "foul": "foul", "violation": "violation", "substitution": "substitution",
    "timeout": "timeout", "jumpball": "jump_ball",
}
# Secondary player, by the action that names one (first present wins).
_PLAYER2_FIELDS = ("assistPlayerNameInitial", "blockPlayerName", "stealPlayerName",
                   "foulDrawnPlayerName", "jumpBallLostPlayerName")


def read(data: bytes, source: str | Path) -> PbpResult:
    """Read one liveData playbyplay JSON file (raw bytes) into canonical plays."""
    return from_json(load_json(data, source), source)


def from_json(obj: Any, source: str | Path) -> PbpResult:
    """Read an already-parsed liveData playbyplay document."""
    actions = require(obj, "game.actions", list, source,
                      "a cdn.nba.com liveData playbyplay document with game.actions")
    if not actions:
        raise UnreadableFileError(source, "game.actions is empty: no events",
                                  "the game may not have started when the file was saved")
    game_id = to_str(obj["game"].get("gameId")) or Path(str(source)).stem
    home, away = home_away(actions)
    plays, rejections, hints = collect(actions, source, game_id, "actionNumber", _parse_action)
    return PbpResult(format=FORMAT, game_id=game_id, plays=plays, home_team=home, away_team=away,
                     date=_date(actions), read=len(actions), rejections=rejections,
                     wall_hints=hints)


def _date(actions: list[Any]) -> str | None:
    for a in actions:
        if isinstance(a, dict) and not is_blank(a.get("timeActual")):
            try:
                return league_date(parse_utc(a["timeActual"], "timeActual"))
            except RowError:
                continue
    return None


def _parse_action(a: Any) -> Event:
    if not isinstance(a, dict):
        raise RowError(None, "bad_type", f"action is {type(a).__name__}, not an object", a)
    number = to_int(a.get("actionNumber"), "actionNumber")
    period = parse_period(a.get("period"))
    clock_s = parse_clock(a.get("clock"), period)
    wall = None if is_blank(a.get("timeActual")) else utc_text(parse_utc(a["timeActual"], "timeActual"))
    kind = a.get("actionType").strip().lower() if isinstance(a.get("actionType"), str) else ""
    sub = a.get("subType").strip().lower() if isinstance(a.get("subType"), str) else ""
    text = a.get("description") if isinstance(a.get("description"), str) else ""
    if not text.strip():
        text = f"{kind} {sub}".strip()
    player = to_str(a.get("playerNameI")) or to_str(a.get("playerName"))
    if kind == "jumpball":
        player = player or to_str(a.get("jumpBallWonPlayerName"))
    return Event(
        source_id=str(number), period=period, clock_s=clock_s, wall_utc=wall,
        event_type=_event_type(kind, sub, a.get("shotResult"), text), text=text,
        team=to_str(a.get("teamTricode")), player=player,
        player2=next((to_str(a.get(f)) for f in _PLAYER2_FIELDS if to_str(a.get(f))), None),
        score_home=a.get("scoreHome"), score_away=a.get("scoreAway"),
        shot_value={"2pt": 2, "3pt": 3}.get(kind), game_end=(kind, sub) == ("game", "end"))


def _event_type(kind: str, sub: str, shot_result: Any, text: str) -> str:
    if kind in ("2pt", "3pt", "freethrow"):
        if isinstance(shot_result, str) and shot_result.strip():
            made = shot_result.strip().lower() == "made"
        else:
            made = not text.upper().startswith("MISS")
        if kind == "freethrow":
            return "free_throw_made" if made else "free_throw_missed"
        return "made_shot" if made else "missed_shot"
    if kind == "period":
        return {"start": "period_start", "end": "period_end"}.get(sub, "other")
    return _EVENT_TYPES.get(kind, "other")  # game end, stoppage, instantreplay, ejection, ...

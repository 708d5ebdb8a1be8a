"""Reader for stats.nba.com `playbyplayv3` responses.

Shape: `{"meta", "game": {"gameId", "videoAvailable", "actions": [...]}}`, one dict per action with
`actionNumber, actionId, clock ("PT11M05.00S"), period, teamTricode, playerName, playerNameI,
location ("h"/"v"), scoreHome, scoreAway, description, actionType, subType, shotValue, ...`.

Quirks handled here:
- `scoreHome`/`scoreAway` are strings, "" on rows that do not change the score: carried forward.
- Steals and blocks are extra actions with an *empty* actionType that share the actionNumber of the
  turnover/shot they belong to; the description ("DeRozan STEAL (1 STL)") says which. So
  `source_id` (= actionNumber, which matches V2's EVENTNUM) is not unique within a V3 game;
  duplicates are detected on the unique `actionId` instead.
- actionNumber is not monotone; file order (= actionId order) is game order.
- Free throws are one actionType for made and missed: "MISS" in the description marks a miss.
- No per-action wall clock. Period start/end and replay descriptions carry a local time,
  "Start of 1st Period (7:11 PM EST)": those become `wall_hints` ("7:11 PM", 60 s precision).
- No team names and no game date in the file; home/away tricodes come from `location`
  (`common.home_away`, shared with liveData).
- No secondary-player fields: the assister is parsed from "(Love 1 AST)"; others are None.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fan_timeline.readers.common import (
    Event,
    RowError,
    collect,
    home_away,
    is_blank,
    load_json,
    local_time_text,
    parse_clock,
    parse_period,
    require,
    to_int,
    to_str,
)
from fan_timeline.tables import PbpResult, UnreadableFileError

FORMAT = "stats_v3"

_EVENT_TYPES = {
    "made shot": "made_shot", "missed shot": "missed_shot", "rebound": "rebound",
    "turnover": "turnover", "foul": "foul", "violation": "violation",
    "substitution": "substitution", "timeout": "timeout", "jump ball": "jump_ball",
}
_ASSIST_RE = re.compile(r"\(([^()]+?) \d+ AST\)")
# Bounded gaps: with `\s*`/`[^)]*` a description of many "(7:11 PM" without ")" took quadratic time.
_TIME_IN_PARENS_RE = re.compile(r"\(\s{0,3}\d{1,2}:\d{2}\s{0,3}[AP]M\b[^()]{0,40}\)", re.IGNORECASE)


def read(data: bytes, source: str | Path) -> PbpResult:
    """Read one playbyplayv3 JSON file (raw bytes) into canonical plays."""
    return from_json(load_json(data, source), source)


def from_json(obj: Any, source: str | Path) -> PbpResult:
    """Read an already-parsed playbyplayv3 response."""
    actions = require(obj, "game.actions", list, source,
                      "a stats.nba.com playbyplayv3 response with game.actions")
    if not actions:
        raise UnreadableFileError(source, "game.actions is empty: no events",
                                  "the game may not have started when the file was saved")
    game_id = to_str(obj["game"].get("gameId")) or Path(str(source)).stem
    home, away = home_away(actions)

    def parse(action: Any) -> Event:
        return _parse_action(action)

    plays, rejections, hints = collect(actions, source, game_id, "actionId", parse)
    return PbpResult(format=FORMAT, game_id=game_id, plays=plays, home_team=home, away_team=away,
                     read=len(actions), rejections=rejections, wall_hints=hints)


def _parse_action(a: Any) -> Event:
    if not isinstance(a, dict):
        raise RowError(None, "bad_type", f"action is {type(a).__name__}, not an object", a)
    number = to_int(a.get("actionNumber"), "actionNumber")
    key = str(to_int(a["actionId"], "actionId")) if not is_blank(a.get("actionId")) else str(number)
    period = parse_period(a.get("period"))
    clock_s = parse_clock(a.get("clock"), period)
    text = a.get("description") if isinstance(a.get("description"), str) else ""
    shot_value = a.get("shotValue") if a.get("shotValue") in (2, 3) else None
    assist = _ASSIST_RE.search(text)
    hint = _TIME_IN_PARENS_RE.search(text)
    return Event(
        source_id=str(number), key=key, period=period, clock_s=clock_s,
        event_type=_event_type(a.get("actionType"), a.get("subType"), text), text=text,
        team=to_str(a.get("teamTricode")), player=to_str(a.get("playerNameI")) or to_str(a.get("playerName")),
        player2=assist.group(1).strip() if assist else None,
        score_home=a.get("scoreHome"), score_away=a.get("scoreAway"), shot_value=shot_value,
        wall_hint=local_time_text(hint.group(0)) if hint else None)


def _event_type(action_type: Any, sub_type: Any, text: str) -> str:
    kind = action_type.strip().lower() if isinstance(action_type, str) else ""
    if kind == "free throw":
        return "free_throw_missed" if "MISS" in text.upper() else "free_throw_made"
    if kind == "period":
        sub = sub_type.strip().lower() if isinstance(sub_type, str) else ""
        return {"start": "period_start", "end": "period_end"}.get(sub, "other")
    if kind in _EVENT_TYPES:
        return _EVENT_TYPES[kind]
    if not kind:  # steal/block rows have no actionType
        if re.search(r"\bSTEAL\b", text, re.IGNORECASE):
            return "steal"
        if re.search(r"\bBLOCK\b", text, re.IGNORECASE):
            return "block"
    return "other"  # Instant Replay, Ejection, anything new

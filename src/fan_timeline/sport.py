"""The sport: basketball (NBA rules). Everything that would change for another sport lives here.

- the clock: periods (4 quarters of 12 minutes, overtimes of 5), their names in timelines
  ("Q4", "OT1"), game seconds;
- the canonical play kinds every reader maps its source's events onto (`EVENT_TYPES`);
- the words a play's fact is written in (`ACTION_WORDS`) and which plays can be a moment;
- how much a play's game situation matters to a fan (`importance`), for the rule baseline and
  the prompt's choice of candidate plays.

The rest of the project speaks of periods, clocks, points and teams, never of quarters or threes.

Game clock conventions
----------------------
- `period`: 1..4 regulation, 5.. overtime (OT1 = period 5).
- `clock_s`: seconds remaining in the period (float, 0.0 at the buzzer).
- `game_s`: seconds of game clock elapsed since tip-off (monotone over the game).
- `clock`: the label used in timelines, e.g. "Q4 01:50" or "OT1 04:59"; MM:SS of *remaining* time,
  truncated to whole seconds (NBA convention: 0:00.4 shows as 00:00).
"""

from __future__ import annotations

import math
import re
from typing import Any

REGULATION_PERIODS = 4
PERIOD_S = 12 * 60
OT_PERIOD_S = 5 * 60

# Canonical event types. Readers map every source type onto one of these.
EVENT_TYPES = (
    "made_shot",        # field goal made (2 or 3 points)
    "missed_shot",      # field goal missed
    "free_throw_made",
    "free_throw_missed",
    "rebound",
    "turnover",
    "steal",
    "block",
    "foul",
    "violation",
    "substitution",
    "timeout",
    "jump_ball",
    "period_start",
    "period_end",
    "other",            # ejection, replay, game end, anything else
)


# --- the clock ----------------------------------------------------------------------------------
def period_length_s(period: int) -> int:
    return PERIOD_S if period <= REGULATION_PERIODS else OT_PERIOD_S


def period_name(period: int) -> str:
    return f"Q{period}" if period <= REGULATION_PERIODS else f"OT{period - REGULATION_PERIODS}"


def period_label(period: int) -> str:
    """How a sentence names the end of a period: "Q1", "regulation", "OT1"."""
    return "regulation" if period == REGULATION_PERIODS else period_name(period)


def clock_label(period: int, clock_s: float) -> str:
    """`clock_label(4, 110.4) == "Q4 01:50"`: period name plus MM:SS remaining (truncated)."""
    whole = max(0, int(math.floor(clock_s + 1e-6)))
    return f"{period_name(period)} {whole // 60:02d}:{whole % 60:02d}"


_LABEL_RE = re.compile(r"^(Q([1-4])|OT([1-9]))\s+(\d{1,2}):([0-5]\d)$")
CLOCK_LABEL_PATTERN = r"^(Q[1-4]|OT[1-9]) \d{1,2}:[0-5]\d$"
"""A label as `clock_label` writes it, as a pattern for request validation (API models)."""


def parse_clock_label(label: str) -> tuple[int, float]:
    """Inverse of clock_label: "OT1 04:59" -> (5, 299.0). Raises ValueError on a bad label."""
    m = _LABEL_RE.match(label.strip())
    if not m:
        raise ValueError(f"not a game-clock label: {label!r} (expected like 'Q4 01:50' or 'OT1 04:59')")
    period = int(m.group(2)) if m.group(2) else REGULATION_PERIODS + int(m.group(3))
    clock_s = int(m.group(4)) * 60 + int(m.group(5))
    if clock_s > period_length_s(period):
        raise ValueError(f"clock {label!r} exceeds the period length")
    return period, float(clock_s)


def game_seconds(period: int, clock_s: float) -> float:
    """Game seconds elapsed since tip-off at (period, seconds remaining)."""
    before = sum(period_length_s(p) for p in range(1, period))
    return before + period_length_s(period) - clock_s


def from_game_seconds(game_s: float) -> tuple[int, float]:
    """Inverse of game_seconds: (period, seconds remaining). Period ends belong to that period."""
    period, start = 1, 0.0
    while game_s > start + period_length_s(period) + 1e-9:
        start += period_length_s(period)
        period += 1
    return period, start + period_length_s(period) - game_s


def label_to_game_seconds(label: str) -> float:
    return game_seconds(*parse_clock_label(label))


# --- the league ---------------------------------------------------------------------------------
LEAGUE_TEAMS = frozenset(("ATL BOS BKN CHA CHI CLE DAL DEN DET GSW HOU IND LAC LAL MEM MIA MIL MIN NOP NYK "
                          "OKC ORL PHI PHX POR SAC SAS TOR UTA WAS").split())   # the NBA's 30 tricodes
SCORE_SLACK = 6   # points a fan's typed score may lag the game's (a basket or two late is not wrong)


# --- which plays are moments, and their words ----------------------------------------------------
RUN_POINTS = 8            # unanswered points that make a run worth naming
CLOSE_MARGIN = 5          # points: a game this close late is "close"
LATE_S = 300.0            # the last five minutes of the last regulation period, and every overtime
LAST_CHANCE_S = 24.0      # a miss or turnover in the last shot clock of a close game is a moment
LAST_CHANCE_MARGIN = 3
BUZZER_S = 1.0

FACT_KINDS = ("three", "dunk", "two", "free_throw", "block", "steal", "turnover", "miss_three", "miss",
              "miss_free_throw", "period_end", "overtime", "final")
SCORING_KINDS = frozenset({"three", "dunk", "two", "free_throw"})
ACTION_WORDS = {
    "three": "hits a three", "dunk": "dunks", "two": "scores", "free_throw": "makes a free throw",
    "miss_three": "misses a three", "miss": "misses", "miss_free_throw": "misses a free throw",
}


def action_words(kind: str, made: int = 1) -> str:
    """"hits a three", "makes 2 free throws": what a scoring play or a miss did."""
    if kind == "free_throw" and made > 1:
        return f"makes {made} free throws"
    return ACTION_WORDS[kind]


def is_late(play: dict[str, Any]) -> bool:
    return int(play["period"]) >= REGULATION_PERIODS and float(play["clock_s"]) <= LATE_S


def is_last_chance(play: dict[str, Any]) -> bool:
    return int(play["period"]) >= REGULATION_PERIODS and float(play["clock_s"]) <= LAST_CHANCE_S


def is_buzzer(play: dict[str, Any]) -> bool:
    return float(play["clock_s"]) <= BUZZER_S


def scoring_kind(play: dict[str, Any]) -> str:
    if play["event_type"] == "free_throw_made":
        return "free_throw"
    if int(play.get("points") or 0) >= 3:
        return "three"
    return "dunk" if "dunk" in str(play.get("text") or "").lower() else "two"


def miss_kind(play: dict[str, Any]) -> str:
    if play["event_type"] == "free_throw_missed":
        return "miss_free_throw"
    return "miss_three" if re.search(r"\b3pt\b|three", str(play.get("text") or ""), re.I) else "miss"


def importance(fact: Any) -> float:
    """How much a play's situation matters to a fan, from the play-by-play alone (no comments):
    late, close, lead-changing, tying, run-ending plays and finals matter most."""
    w = {"three": 1.0, "dunk": 1.2, "two": 0.5, "free_throw": 0.2, "block": 1.0, "steal": 0.8,
         "turnover": 0.8, "miss_three": 1.0, "miss": 0.8, "miss_free_throw": 0.6,
         "period_end": 0.8, "overtime": 4.0, "final": 4.0}[fact.kind]
    close = fact.margin <= CLOSE_MARGIN
    if fact.lead_change:
        w += 2.0 if fact.late else 1.0
    if fact.ties:
        w += 1.5 if fact.late else 0.5
    if fact.ended_run:
        w += 1.0
    if fact.run >= RUN_POINTS:
        w += 1.0
    if fact.buzzer:
        w += 2.0
    if fact.late and close:
        w += 1.5
    return w

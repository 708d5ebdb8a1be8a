"""Small parsing helpers shared by the raw-format readers.

Readers raise `RowError` from inside their per-row code; the row loop catches it and records a
rejection, so one bad row never stops a file. Whole-file problems raise
`tables.UnreadableFileError` instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fan_timeline.sport import EVENT_TYPES, clock_label, game_seconds, period_length_s
from fan_timeline.tables import PLAY_COLUMNS, Rejections, UnreadableFileError

MAX_PERIOD = 20  # 4 quarters + 16 overtimes: anything above is a corrupt value, not a marathon
LEAGUE_TZ = ZoneInfo("America/New_York")  # NBA game dates are Eastern-time dates


class RowError(Exception):
    """One raw row cannot be kept; carries what `Rejections.record` needs."""

    def __init__(self, field: str | None, reason: str, detail: str = "", value: Any = None):
        super().__init__(f"{field}: {reason} {detail}")
        self.field = field
        self.reason = reason
        self.detail = detail
        self.value = value


# --- whole-file loading ---------------------------------------------------------------------------
_PARTIAL_TOKEN_RE = re.compile(r"[-+.\w]{1,5}")
# A \uD800..\uDFFF escape: the only way decoded UTF-8 text can yield a lone surrogate.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonTextError(ValueError):
    """Text that is not usable JSON for a reason `json.JSONDecodeError` does not cover."""

    def __init__(self, reason: str, problem: str):
        super().__init__(problem)
        self.reason = reason    # "bad_json" or "bad_encoding": the rejection reason for one row
        self.problem = problem


def parse_json_text(text: str) -> Any:
    """`json.loads` whose failures are all JSONDecodeError or JsonTextError.

    Beyond syntax errors, json.loads raises RecursionError for nesting deeper than the interpreter's
    stack allows and ValueError for integers of more than 4300 digits; and it accepts `\\ud800`
    escapes, which decode to lone surrogates that no UTF-8 writer (parquet, rejected.jsonl) accepts.
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonTextError("bad_json", "JSON nested too deeply (more than ~900 levels of arrays/objects)") from None
    except ValueError as e:  # int() refuses very long digit strings (CVE-2020-10735 limit)
        raise JsonTextError("bad_json", f"unreadable number ({str(e).split(':')[0]})") from None
    if _SURROGATE_ESCAPE_RE.search(text):
        where = _lone_surrogate_path(obj)
        if where is not None:
            raise JsonTextError("bad_encoding",
                                f"invalid \\u escape in {where}: a lone UTF-16 surrogate is not a character")
    return obj


def _lone_surrogate_path(obj: Any) -> str | None:
    """Path ("game.actions[3].description") of the first text that is not encodable, else None."""
    stack: list[tuple[str, Any]] = [("$", obj)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if not is_utf8(node):
                return path
        elif isinstance(node, dict):
            for k, v in node.items():
                if not is_utf8(k):
                    return f"a key of {path}"
                stack.append((f"{path}.{k}"[:120], v))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]"[:120], v) for i, v in enumerate(node))
    return None


def is_utf8(text: str) -> bool:
    """True unless `text` holds lone surrogates (which cannot be written as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_json(data: bytes, source: str | Path) -> Any:
    """Decode UTF-8 JSON bytes, raising UnreadableFileError that says what is wrong and where."""
    if not data or not data.strip():
        raise UnreadableFileError(source, "file is empty", "re-export or re-download it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":  # cut inside a multi-byte character
            raise UnreadableFileError(source, "file ends inside a character: it is truncated",
                                      "the download or copy was cut off; fetch the file again") from None
        raise UnreadableFileError(
            source, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            "JSON files must be UTF-8; re-save the file as UTF-8") from None
    try:
        return parse_json_text(text)
    except JsonTextError as e:
        raise UnreadableFileError(source, e.problem, "fix or re-export the file") from None
    except json.JSONDecodeError as e:
        # Cut-off files fail at their very end: after the last token, inside a string that runs
        # to the end, or on a partial literal ("nul", "tr", "-").
        rest = text[e.pos:].strip()
        if e.pos > 0 and (not rest or e.msg.startswith("Unterminated string")
                          or _PARTIAL_TOKEN_RE.fullmatch(rest)):
            raise UnreadableFileError(
                source, f"JSON ends early (line {e.lineno} column {e.colno}): the file is truncated",
                "the download or copy was cut off; fetch the file again") from None
        raise UnreadableFileError(
            source, f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}",
            "check that this is the raw JSON response, not an HTML page or another format") from None


def require(obj: Any, path: str, kind: type, source: str | Path, what: str) -> Any:
    """`obj[a][b]...` for a dotted `path`, checked to be `kind`; else UnreadableFileError."""
    cur = obj
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise UnreadableFileError(source, f"no '{path}' in the JSON", f"expected {what}")
        cur = cur[key]
    if not isinstance(cur, kind):
        raise UnreadableFileError(
            source, f"'{path}' is {type(cur).__name__}, not {kind.__name__}", f"expected {what}")
    return cur


# --- field parsing (raise RowError) ---------------------------------------------------------------
def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_int(value: Any, field: str) -> int:
    """An int from an int, an integral float or a numeric string; RowError otherwise."""
    if is_blank(value):
        raise RowError(field, "missing_field", "no value", value)
    if isinstance(value, bool):
        raise RowError(field, "bad_type", "boolean where an integer was expected", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                f = float(value.strip())
            except ValueError:
                f = math.nan
            if math.isfinite(f) and f.is_integer():
                return int(f)
    raise RowError(field, "bad_type", f"expected an integer, got {type(value).__name__}", value)


def to_str(value: Any) -> str | None:
    """Stripped text, or None for null/empty/non-scalar values (names, tricodes)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def parse_period(value: Any, field: str = "period") -> int:
    period = to_int(value, field)
    if not 1 <= period <= MAX_PERIOD:
        raise RowError(field, "bad_period", f"period must be 1..{MAX_PERIOD}", value)
    return period


_ISO_CLOCK_RE = re.compile(r"^PT(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?$")
_MMSS_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}(?:\.\d*)?)$")


def parse_clock(value: Any, period: int, field: str = "clock") -> float:
    """Seconds remaining from "PT11M05.00S", "11:05", "0:34.5" or "34.5" (ESPN's last minute).

    Checked against the period's length, so a 15:00 clock in a quarter is a bad_clock.
    """
    if is_blank(value):
        raise RowError(field, "missing_field", "no game clock", value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf  # float(10**400) overflows
    elif isinstance(value, str):
        text = value.strip()
        m = _ISO_CLOCK_RE.match(text)
        m2 = None if m else _MMSS_RE.match(text)
        if m and (m.group(1) or m.group(2)):
            seconds = int(m.group(1) or 0) * 60 + float(m.group(2) or 0)
        elif m2:
            seconds = int(m2.group(1) or 0) * 60 + float(m2.group(2))
        else:
            raise RowError(field, "bad_clock", "expected 'PT11M05.00S' or 'MM:SS'", value)
    else:
        raise RowError(field, "bad_clock", f"expected a clock string, got {type(value).__name__}", value)
    if not (math.isfinite(seconds) and 0 <= seconds <= period_length_s(period) + 1e-6):
        raise RowError(field, "bad_clock",
                       f"{seconds:g} s is outside period {period} (0..{period_length_s(period)} s)", value)
    return seconds


def parse_utc(value: Any, field: str) -> datetime:
    """A timezone-aware UTC datetime from an ISO-8601 string ("...Z" or with offset)."""
    if not isinstance(value, str) or not value.strip():
        raise RowError(field, "missing_field" if is_blank(value) else "bad_type",
                       "expected an ISO-8601 UTC time", value)
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:  # the formats that carry these fields document them as UTC
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(timezone.utc)
    except ValueError:
        raise RowError(field, "bad_time", "not an ISO-8601 time", value) from None
    except OverflowError:  # "0001-01-01T00:00+05:00" is before year 1 in UTC
        raise RowError(field, "bad_time", "time outside the representable years 1..9999", value) from None


def utc_text(dt: datetime) -> str:
    """Canonical wall_utc text: "2020-12-23T00:06:19.000Z"."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def league_date(dt: datetime) -> str:
    """The local (US Eastern) calendar date of a UTC instant, as YYYY-MM-DD."""
    try:
        return dt.astimezone(LEAGUE_TZ).date().isoformat()
    except OverflowError:  # 0001-01-01 UTC is still year 0 in New York
        raise RowError(None, "bad_time", "time outside the representable years 1..9999", utc_text(dt)) from None


_LOCAL_TIME_RE = re.compile(r"\b(1[0-2]|0?[1-9]):([0-5]\d)\s*([AaPp][Mm])\b")


def local_time_text(text: Any) -> str | None:
    """Normalised "h:mm AM/PM" from text like "8:05 PM" or "(7:11 PM EST)", else None."""
    if not isinstance(text, str):
        return None
    m = _LOCAL_TIME_RE.search(text)
    if not m:
        return None
    return f"{int(m.group(1))}:{m.group(2)} {m.group(3).upper()}"


# --- building canonical rows ----------------------------------------------------------------------
class Score:
    """Running score: carries forward over rows where the source leaves the score empty."""

    def __init__(self) -> None:
        self.home = 0
        self.away = 0

    def update(self, home: Any, away: Any, field_home: str, field_away: str) -> tuple[int, int]:
        """New (home, away) after a row; blanks keep the last score, garbage raises RowError.

        Does not change state, so that a row rejected later does not move the score: call
        `commit` once the row is kept.
        """
        h = self.home if is_blank(home) else to_int(home, field_home)
        a = self.away if is_blank(away) else to_int(away, field_away)
        if h < 0 or a < 0:
            raise RowError(field_home if h < 0 else field_away, "bad_score", "negative score",
                           [home, away])
        return h, a

    def commit(self, home: int, away: int) -> int:
        """Store the new score; returns how many points the row added (0 if none or a correction)."""
        delta = (home + away) - (self.home + self.away)
        self.home, self.away = home, away
        return delta


def event_points(event_type: str, score_delta: int, shot_value: int | None = None) -> int:
    """Points an event scored: the score change for a made basket when it is plausible (1..3),
    else the basket's nominal value; 0 for every non-scoring event."""
    if event_type == "free_throw_made":
        return 1
    if event_type != "made_shot":
        return 0
    if 2 <= score_delta <= 3:
        return score_delta
    return shot_value if shot_value in (2, 3) else 2


def play_row(*, game_id: str, seq: int, source_id: str, period: int, clock_s: float,
             wall_utc: str | None, team: str | None, player: str | None, player2: str | None,
             event_type: str, points: int, score_home: int, score_away: int, text: str) -> dict[str, Any]:
    """One canonical play (exactly tables.PLAY_COLUMNS), with clock label and game seconds filled;
    `wall_s` is left for the alignment to fill (see game.read_game)."""
    assert event_type in EVENT_TYPES, event_type
    row = {
        "game_id": game_id, "seq": seq, "source_id": source_id, "period": period,
        "clock_s": float(clock_s), "clock": clock_label(period, clock_s),
        "game_s": float(game_seconds(period, clock_s)), "wall_utc": wall_utc, "team": team,
        "player": player, "player2": player2, "event_type": event_type, "points": points,
        "score_home": score_home, "score_away": score_away, "text": text, "wall_s": None,
    }
    assert tuple(row) == PLAY_COLUMNS
    return row


@dataclass
class Event:
    """What a format's row parser extracts from one raw event, before scores and order are applied."""

    source_id: str
    period: int
    clock_s: float
    event_type: str                   # one of EVENT_TYPES
    text: str = ""
    team: str | None = None
    player: str | None = None
    player2: str | None = None
    score_home: Any = None            # raw values; blank = unchanged since the previous row
    score_away: Any = None
    score_fields: tuple[str, str] = ("scoreHome", "scoreAway")
    shot_value: int | None = None     # 2 or 3 for field goals when the source says
    wall_utc: str | None = None
    wall_hint: str | None = None      # local "h:mm AM/PM" seen in this row (minute precision)
    key: str | None = None            # duplicate-detection key; defaults to source_id


HINT_PRECISION_S = 60.0  # "8:05 PM" pins a moment to within a minute


def collect(rows: list[Any], source: str | Path, game_id: str, id_field: str,
            parse: Callable[[Any], Event]) -> tuple[list[dict[str, Any]], Rejections,
                                                    list[tuple[int, str, float]]]:
    """Run `parse` over raw rows in file order: kept plays, rejections and wall-clock hints.

    Every row ends up as exactly one play or one rejection. Shared by all play-by-play readers so
    that ordering, duplicate detection, score carry-forward and points work the same everywhere.
    """
    plays: list[dict[str, Any]] = []
    rejections = Rejections()
    hints: list[tuple[int, str, float]] = []
    seen: dict[str, int] = {}
    score = Score()
    for i, raw in enumerate(rows):
        try:
            ev = parse(raw)
            key = ev.key if ev.key is not None else ev.source_id
            if key in seen:
                raise RowError(id_field, "duplicate_event", f"same {id_field} as row {seen[key]}", key)
            home, away = score.update(ev.score_home, ev.score_away, *ev.score_fields)
        except RowError as e:
            rejections.record(source, i, e.field, e.reason, e.detail, e.value)
            continue
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            # Safety net: a shape no parser check anticipated still becomes an accounted rejection.
            rejections.record(source, i, None, "bad_row", f"{type(e).__name__}: {e}", raw)
            continue
        delta = score.commit(home, away)
        seq = len(plays)
        plays.append(play_row(
            game_id=game_id, seq=seq, source_id=ev.source_id, period=ev.period, clock_s=ev.clock_s,
            wall_utc=ev.wall_utc, team=ev.team, player=ev.player, player2=ev.player2,
            event_type=ev.event_type, points=event_points(ev.event_type, delta, ev.shot_value),
            score_home=home, score_away=away, text=ev.text))
        seen[key] = i
        if ev.wall_hint:
            hints.append((seq, ev.wall_hint, HINT_PRECISION_S))
    return plays, rejections, hints


def join_text(*parts: Any) -> str:
    """Non-empty text parts joined with " | " (V2 splits a row's text by home/neutral/visitor)."""
    return " | ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())

"""Small parsing helpers shared by the raw-format readers.

Readers raise `RowError` from inside their per-row code; the row loop catches it and records a
rejection, so one bad row never stops a file. Whole-file problems raise
`tables.UnreadableFileError` instead.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
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


MAX_NAME_CHARS = 100  # the longest NBA player or team name is under 30 characters
# What names are made of: letters of any script with their accents (also as combining marks), digits
# ("76ers"), spaces and the punctuation real names use: O'Neale, Gilgeous-Alexander, Jokić, "Jr.",
# "Nance, Larry". Markup (<b>, Brooks"><script>), quotes, brackets and control characters are not.
_NAME_RE = re.compile("[\\w\u0300-\u036f][\\w\u0300-\u036f .,'\u2018\u2019\u00a0\u2010\u2011\u2013-]*")


def is_name(text: str) -> bool:
    """True for text that can be a person's or a team's name (see _NAME_RE)."""
    return len(text) <= MAX_NAME_CHARS and _NAME_RE.fullmatch(text) is not None


def check_name(name: str | None, field: str) -> None:
    """RowError(bad_name) unless `name` is None or a name.

    The row is rejected, not cleaned: a name with markup comes from a broken or hostile file, and a
    cleaned guess ('Brooks">alert(1)' from 'Brooks"><script>alert(1)</script>') would enter the
    timeline's facts as if the feed had said it. The rejection shows in rejected.jsonl, and the
    score carries on to the next row.
    """
    if name is not None and not is_name(name):
        raise RowError(field, "bad_name", "not a name: only letters, digits, spaces and . , ' - "
                       f"(at most {MAX_NAME_CHARS} characters)", name)


def home_away(actions: list[Any]) -> tuple[str | None, str | None]:
    """Home and away tricodes of a playbyplayv3 or liveData game, by majority.

    When the feed has `location` ("h"/"v") on any row, by that field alone: it says it outright.
    Otherwise (most liveData versions), each side is the team whose rows move only that side's
    score. Never the same team for both sides; tricodes that are not names do not vote.
    """
    located: dict[str, Counter[str]] = {"h": Counter(), "v": Counter()}
    scored: dict[str, Counter[str]] = {"h": Counter(), "v": Counter()}
    last = (0, 0)
    for a in actions:
        if not isinstance(a, dict):
            continue
        team = to_str(a.get("teamTricode"))
        team = team if team is not None and is_name(team) else None
        loc = a.get("location")
        if team and isinstance(loc, str) and loc in located:
            located[loc][team] += 1
        try:
            now = (to_int(a.get("scoreHome"), "scoreHome"), to_int(a.get("scoreAway"), "scoreAway"))
        except RowError:
            continue  # a blank score (V3's non-scoring rows) says nothing
        if team and now[0] > last[0] and now[1] == last[1]:
            scored["h"][team] += 1
        elif team and now[1] > last[1] and now[0] == last[0]:
            scored["v"][team] += 1
        last = now
    votes = located if located["h"] or located["v"] else scored
    home = _most_common(votes["h"])
    return home, _most_common(votes["v"], besides=home)


def _most_common(votes: Counter[str], besides: str | None = None) -> str | None:
    return next((team for team, _ in votes.most_common() if team != besides), None)


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
def stated_score(home: Any, away: Any, field_home: str, field_away: str) -> tuple[int | None, int | None]:
    """The (home, away) score a row states; None for a side it leaves blank (= unchanged).
    Garbage or a negative score raises RowError."""
    h = None if is_blank(home) else to_int(home, field_home)
    a = None if is_blank(away) else to_int(away, field_away)
    if (h is not None and h < 0) or (a is not None and a < 0):
        raise RowError(field_home if h is not None and h < 0 else field_away, "bad_score", "negative score",
                       [home, away])
    return h, a


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
    clock_field: str = "clock"        # the source's name of the game clock, for rejections
    shot_value: int | None = None     # 2 or 3 for field goals when the source says
    wall_utc: str | None = None
    wall_hint: str | None = None      # local "h:mm AM/PM" seen in this row (minute precision)
    key: str | None = None            # duplicate-detection key; defaults to source_id
    game_end: bool = False            # the source's own end-of-game event (liveData "game end", ESPN "End Game")


HINT_PRECISION_S = 60.0  # "8:05 PM" pins a moment to within a minute
MAX_PLAY_TEXT_CHARS = 1_000  # real descriptions are under 150 characters (V2's three joined: under 300)
# More events than this share out of order, and the file is not one game in game order (shuffled,
# two games concatenated, a feed replayed): refused as a whole rather than read as a few rows.
MAX_OUT_OF_ORDER_SHARE = 0.5


@dataclass
class ParsedRow:
    """A row that parsed, with what the order checks compare."""

    row: int
    ev: Event
    game_s: float
    home: int | None                  # the score the row states; None = unchanged
    away: int | None


def collect(rows: list[Any], source: str | Path, game_id: str, id_field: str,
            parse: Callable[[Any], Event]) -> tuple[list[dict[str, Any]], Rejections,
                                                    list[tuple[int, str, float]]]:
    """Run `parse` over raw rows in file order: kept plays, rejections and wall-clock hints.

    Every row ends up as exactly one play or one rejection. Shared by all play-by-play readers so
    that ordering, duplicate detection, score carry-forward and points work the same everywhere:
    rows are parsed one by one, then checked as a game (see `order_rejections`), then built into
    plays with the score carried over rows that leave it blank. UnreadableFileError when most rows
    break the game's order.
    """
    rejected: dict[int, tuple[str | None, str, str, Any]] = {}
    parsed: list[ParsedRow] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        try:
            ev = parse(raw)
            key = ev.key if ev.key is not None else ev.source_id
            if key in seen:
                raise RowError(id_field, "duplicate_event", f"same {id_field} as row {seen[key]}", key)
            check_name(ev.team, "team")
            check_name(ev.player, "player")
            check_name(ev.player2, "player2")
            if len(ev.text) > MAX_PLAY_TEXT_CHARS:
                raise RowError("text", "too_long", f"{len(ev.text):,} characters of play text "
                               f"(at most {MAX_PLAY_TEXT_CHARS:,})", ev.text)
            home, away = stated_score(ev.score_home, ev.score_away, *ev.score_fields)
        except RowError as e:
            rejected[i] = (e.field, e.reason, e.detail, e.value)
            continue
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            # Safety net: a shape no parser check anticipated still becomes an accounted rejection.
            rejected[i] = (None, "bad_row", f"{type(e).__name__}: {e}", raw)
            continue
        seen[key] = i
        parsed.append(ParsedRow(i, ev, float(game_seconds(ev.period, ev.clock_s)), home, away))

    out_of_order = order_rejections(parsed)
    if len(out_of_order) > MAX_OUT_OF_ORDER_SHARE * len(parsed):
        counts: dict[str, int] = {}
        for _, reason, _, _ in out_of_order.values():
            counts[reason] = counts.get(reason, 0) + 1
        rules = ", ".join(f"{_ORDER_RULES[r]}: {n:,}" for r, n in counts.items())
        raise UnreadableFileError(
            source, f"{len(out_of_order):,} of {len(parsed):,} events break the game's order ({rules})",
            "a play-by-play is one game in game order: the clock counts down in each period, scores "
            "never go down, nothing follows the final; check that the file holds one game")
    rejected.update(out_of_order)

    plays: list[dict[str, Any]] = []
    hints: list[tuple[int, str, float]] = []
    home, away = 0, 0
    for p in parsed:
        if p.row in rejected:
            continue
        ev = p.ev
        new_home = home if p.home is None else p.home
        new_away = away if p.away is None else p.away
        delta = (new_home + new_away) - (home + away)
        home, away = new_home, new_away
        seq = len(plays)
        plays.append(play_row(
            game_id=game_id, seq=seq, source_id=ev.source_id, period=ev.period, clock_s=ev.clock_s,
            wall_utc=ev.wall_utc, team=ev.team, player=ev.player, player2=ev.player2,
            event_type=ev.event_type, points=event_points(ev.event_type, delta, ev.shot_value),
            score_home=home, score_away=away, text=ev.text))
        if ev.wall_hint:
            hints.append((seq, ev.wall_hint, HINT_PRECISION_S))
    rejections = Rejections()
    for i in sorted(rejected):
        rejections.record(source, i, *rejected[i])
    return plays, rejections, hints


# --- the play-by-play as a whole ------------------------------------------------------------------
_ORDER_RULES = {"clock_backwards": "game clock runs backwards", "score_down": "a score goes down",
                "after_final": "events after the final"}


def order_rejections(parsed: list[ParsedRow]) -> dict[int, tuple[str | None, str, str, Any]]:
    """Rows (by raw row index) that break the game's order, each with (field, reason, detail, value).

    Rules, checked in this order on the rows still kept:
    - clock_backwards: game time (period, then the clock counting down) never goes back;
    - score_down: neither team's score goes down (rows that leave a score blank are not checked);
    - after_final: after the source's end-of-game event, nothing moves the clock or the score, and
      no second end of game comes.
    Equal clocks (free throws, a foul and its substitutions, a period's end and the next one's
    start) and equal scores are in order. For the first two rules the fewest rows that restore the
    order are rejected (a longest non-decreasing subsequence is kept): a row with a wrong clock or
    score costs that row, not every row after it; a score reset mid-file costs the shorter side.
    """
    out: dict[int, tuple[str | None, str, str, Any]] = {}
    for p, q_before, q_after in _out_of_order(parsed, [p.game_s for p in parsed]):
        label = clock_label(p.ev.period, p.ev.clock_s)
        if q_before is not None and p.game_s < q_before.game_s:
            detail = (f"{label} comes after {clock_label(q_before.ev.period, q_before.ev.clock_s)} "
                      f"(row {q_before.row}): the game clock runs backwards")
        else:
            assert q_after is not None
            detail = (f"{label} comes before {clock_label(q_after.ev.period, q_after.ev.clock_s)} "
                      f"(row {q_after.row}): the game clock runs backwards after it")
        out[p.row] = (p.ev.clock_field, "clock_backwards", detail, label)
    for k, side in enumerate(("home", "away")):
        stating = [p for p in parsed if p.row not in out and getattr(p, side) is not None]
        for p, q_before, q_after in _out_of_order(stating, [getattr(p, side) for p in stating]):
            value = getattr(p, side)
            if q_before is not None and value < getattr(q_before, side):
                detail = f"{side} score {value} is lower than {getattr(q_before, side)} on row {q_before.row} before it"
            else:
                assert q_after is not None
                detail = f"{side} score {value} is higher than {getattr(q_after, side)} on row {q_after.row} after it"
            out[p.row] = (p.ev.score_fields[k], "score_down", detail, value)
    final: ParsedRow | None = None
    home = away = 0
    for p in parsed:
        if p.row in out:
            continue
        if final is None:
            home = home if p.home is None else p.home
            away = away if p.away is None else p.away
            final = p if p.ev.game_end else None
            continue
        moved = (p.game_s > final.game_s or (p.home is not None and p.home != home)
                 or (p.away is not None and p.away != away))
        if p.ev.game_end or moved:
            what = "a second end of game" if p.ev.game_end else "moves the clock or the score"
            out[p.row] = (None, "after_final", f"{what} after the game ended on row {final.row} "
                          f"({clock_label(final.ev.period, final.ev.clock_s)}, {home}-{away})", p.ev.text)
    return out


def longest_non_decreasing(keys: Sequence[Any]) -> list[int]:
    """Indexes of a longest non-decreasing subsequence of `keys`, in order (O(n log n)): what is
    kept of a sequence with a few entries out of order (a feed's clock, a thread's time stamps)."""
    tails: list[Any] = []          # tails[k]: the smallest last key of a run of length k + 1
    tail_at: list[int] = []
    prev = [-1] * len(keys)
    for i, k in enumerate(keys):
        j = bisect_right(tails, k)
        if j == len(tails):
            tails.append(k)
            tail_at.append(i)
        else:
            tails[j] = k
            tail_at[j] = i
        prev[i] = tail_at[j - 1] if j else -1
    out, i = [], tail_at[-1] if tail_at else -1
    while i >= 0:
        out.append(i)
        i = prev[i]
    return out[::-1]


def _out_of_order(items: list[ParsedRow],
                  keys: list[Any]) -> list[tuple[ParsedRow, ParsedRow | None, ParsedRow | None]]:
    """Items outside a longest non-decreasing run of `keys`, each with the nearest kept item before
    and after it: the one it runs backwards from, or the one it runs ahead of."""
    keep = [False] * len(keys)
    for i in longest_non_decreasing(keys):
        keep[i] = True
    before: list[ParsedRow | None] = []
    last = None
    for item, k in zip(items, keep):
        before.append(last)
        if k:
            last = item
    out = []
    nxt = None
    for idx in range(len(items) - 1, -1, -1):
        if keep[idx]:
            nxt = items[idx]
        else:
            out.append((items[idx], before[idx], nxt))
    return out[::-1]


def join_text(*parts: Any) -> str:
    """Non-empty text parts joined with " | " (V2 splits a row's text by home/neutral/visitor)."""
    return " | ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())

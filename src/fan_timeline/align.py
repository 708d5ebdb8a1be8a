"""Align comments' wall-clock times to the game clock they react to.

A comment posted at wall time t reacts to what happened at t - reaction_lag_s. To turn that wall
time into game seconds we need, for the game, a monotone map wall -> game_s. It is built from
anchor points (wall_s, game_s): one per play, each play's wall time taken from the source or
estimated, then interpolated linearly (np.interp). The game clock stops during dead balls, so
consecutive anchors with equal game_s are normal: comments during a timeout all map to the
clock at which it was called.

How each play's wall time is known depends on the play-by-play format (`Alignment.method`):

- per_play_utc (cdn.nba.com liveData `timeActual`, ESPN `wallclock`): taken as is. Out-of-order
  stamps (corrections entered late) are dropped from the anchors by keeping the longest run of
  non-decreasing wall times in game order.
- minute_stamps (stats.nba.com V2 `WCTIMESTRING`, local "8:05 PM", no date): each stamp is made a
  UTC minute with game.json `date` + `tz` (zoneinfo: DST-correct, rolling past midnight), and the
  k plays sharing one stamp are spread evenly across that minute at (j + 0.5) * 60 / k s.
- period_anchors (stats.nba.com V3: "Start of 1st Period (7:11 PM EST)" and friends, minute
  precision): each stamped play is an anchor at its minute + 30 s. Period start/end times that
  no stamp gives are filled from the neighbouring period with a typical break (BREAK_S,
  HALFTIME_S), else extrapolated with a typical wall/game ratio (WALL_PER_GAME_S). Inside a
  period, game clock is linear in wall time between anchors.
- interpolated (no wall information at all): game.json `tipoff_utc` starts period 1 and every
  later boundary follows from the same typical ratios and breaks.

Expected absolute error (`Alignment.expected_error_s`) is in wall-clock seconds: how far a
play's estimated wall time is from its true one, so how far from its true reaction a comment is
matched. The game-clock error of an aligned comment is about a third of it, because the clock
stands still most of the wall time. Measured on the real cdn.nba.com liveData sample (GSW @ BKN,
610 actions with 0.1 s UTC stamps) by degrading its stamps to what each format keeps and
re-estimating; mean (p90) over plays, and game-clock error of comments spread over the game:

| method          | degraded to                         | wall error       | game-clock error |
|-----------------|-------------------------------------|------------------|------------------|
| minute_stamps   | local minute of every action        | 8.5 s (19.5 s)   | 2.5 s (7.9 s)    |
| period_anchors  | minute of every period start + end  | 68 s (144 s)     | 22 s (59 s)      |
| period_anchors  | minute of period starts only        | 123 s (323 s)    | 40 s (109 s)     |
| interpolated    | exact tip-off only                  | 136 s (393 s)    | 43 s (132 s)     |

The constants round these up for what the measurement cannot see: per_play_utc 2 s (the
scorer's entry delay after the whistle; the stamps are the reference here), minute_stamps 20 s
(whether a source floors or rounds its minute is undocumented: rounding shifts every play by
30 s), period_anchors 90 s (V3 gives starts, ends and replay times, between the two rows),
interpolated 300 s (this game's periods ran close to the typical ratios; the V3 sample's 4th
quarter ran 43 minutes instead of ~35, an 8-minute drift by the end).

Play wall times that were estimated (V2/V3/tip-off) are not written into plays.wall_utc, which
keeps meaning "the source said so"; `estimated_play_walls` returns them separately for callers
that want them (e.g. to display, or to store in a column marked as estimated).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date as Date
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from fan_timeline.authors import ANONYMOUS_AUTHORS, flair_team, pseudonymise, subreddit_team
from fan_timeline.readers.common import RowError, longest_non_decreasing, parse_utc, utc_text
from fan_timeline.sport import (
    REGULATION_PERIODS,
    clock_label,
    from_game_seconds,
    game_seconds,
    period_length_s,
)
from fan_timeline.tables import COMMENT_COLUMNS, PbpResult, Rejections

ALIGN_METHODS = ("per_play_utc", "minute_stamps", "period_anchors", "interpolated")
EXPECTED_ERROR_S = {"per_play_utc": 2.0, "minute_stamps": 20.0, "period_anchors": 90.0,
                    "interpolated": 300.0}

# Typical wall seconds per game second in each period, and break lengths, from the two real
# samples (V3 CHI @ CLE 2023: 2.25/2.33/3.00/3.58, OT 2.8; liveData GSW @ BKN 2020:
# 2.28/2.23/2.54/2.16). Late periods run longer (fouls, timeouts, replays).
WALL_PER_GAME_S = {1: 2.3, 2: 2.3, 3: 2.7, 4: 2.9}
WALL_PER_GAME_S_OT = 2.8
BREAK_S = 165.0       # between quarters and before overtimes (rule: 130 s; TV breaks run longer)
HALFTIME_S = 975.0    # rule: 15 min; measured 16-16.5 min

# The same author posting the same text again within this window is a double submit (flaky
# mobile connections, impatient refreshes), not a second reaction: counting it twice would
# double its weight in sentiment and quote selection. Longer gaps are kept ("DEFENSE" chants).
DUPLICATE_BODY_WINDOW_S = 60.0
# Author names that are not a person; they are kept as is and never treated as one author.

_TIME_RE = re.compile(r"\b(1[0-2]|0?[1-9]):([0-5]\d)\s*([AaPp])\.?[Mm]\.?")


@dataclass(frozen=True)
class Alignment:
    """How a game's wall clock maps to its game clock, and how well."""

    method: str                                  # one of ALIGN_METHODS
    expected_error_s: float                      # see the module docstring
    wall_start_utc: str                          # first play (tip-off), ISO "...Z"
    wall_end_utc: str                            # last play (final buzzer)
    anchors: tuple[tuple[float, float], ...]     # (wall Unix s, game_s); wall strictly increasing
    play_wall_s: tuple[float, ...] = field(default=(), repr=False)  # per play, by seq
    play_wall_estimated: tuple[bool, ...] = field(default=(), repr=False)

    def game_s_at(self, wall_s: float) -> float:
        """Game seconds at a wall time; clamped to the first/last play outside the game."""
        walls, games = zip(*self.anchors)
        return float(np.interp(wall_s, walls, games))


@dataclass
class AlignedComments:
    rows: list[dict[str, Any]]       # exactly tables.COMMENT_COLUMNS, in created order
    rejections: Rejections           # items also carry "source_format"
    alignment: Alignment


# --- wall-clock sources ---------------------------------------------------------------------------
def _zone(tz: str | None, method: str) -> ZoneInfo:
    if not tz:
        raise ValueError(f"alignment by {method} needs the time zone of the play-by-play's local "
                         "times: add game.json \"tz\" (IANA name, e.g. \"America/New_York\")")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"game.json \"tz\" {tz!r} is not an IANA time zone (e.g. \"America/New_York\")") from None


def _local_date(date: str | None, method: str) -> Date:
    if not date:
        raise ValueError(f"alignment by {method} needs the game's local date: add game.json "
                         "\"date\" (YYYY-MM-DD, the date in \"tz\" when the game tipped off)")
    try:
        return Date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"game.json \"date\" {date!r} is not YYYY-MM-DD") from None


def hint_walls(hints: Sequence[tuple[int, str, float]], date: str | None, tz: str | None,
               method: str) -> list[tuple[int, float]]:
    """(seq, Unix seconds of the start of the stamped minute) for each parseable local stamp.

    Stamps carry no date: they are placed on `date` in `tz`, moving to the next day when the
    time of day jumps back by more than 6 hours (a game running past midnight).
    """
    zone, day0 = _zone(tz, method), _local_date(date, method)
    out: list[tuple[int, float]] = []
    days, prev = 0, None
    for seq, text, _precision in sorted(hints):
        m = _TIME_RE.search(text) if isinstance(text, str) else None
        if not m:
            continue
        hour = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "p" else 0)
        tod = time(hour, int(m.group(2)))
        local = datetime.combine(day0 + timedelta(days=days), tod, tzinfo=zone)
        if prev is not None and local < prev - timedelta(hours=6):
            days += 1
            local = datetime.combine(day0 + timedelta(days=days), tod, tzinfo=zone)
        prev = local
        out.append((seq, local.timestamp()))
    return out


def _fill_by_seq(n: int, known: dict[int, float]) -> list[float]:
    """Wall time for every seq 0..n-1, interpolating by position between known ones."""
    xs = sorted(known)
    return [float(v) for v in np.interp(np.arange(n), xs, [known[x] for x in xs])]


def _per_play_walls(plays: Sequence[dict[str, Any]]) -> dict[int, float]:
    known: dict[int, float] = {}
    for i, p in enumerate(plays):
        if p.get("wall_utc"):
            try:
                known[i] = parse_utc(p["wall_utc"], "wall_utc").timestamp()
            except RowError:
                continue
    return known


def _minute_stamp_walls(n: int, stamps: list[tuple[int, float]]) -> dict[int, float]:
    """Spread the plays of each stamped minute evenly across it; stamps made monotone first."""
    known: dict[int, float] = {}
    run: list[int] = []
    run_minute = -math.inf
    for seq, minute in stamps + [(n, math.inf)]:
        minute = max(minute, run_minute)      # a stamp earlier than the last one is a typo
        if minute != run_minute and run:
            for j, s in enumerate(run):
                known[s] = run_minute + (j + 0.5) * 60.0 / len(run)
            run = []
        run_minute = minute
        if seq < n:
            run.append(seq)
    return known


def _ratio(period: int) -> float:
    return WALL_PER_GAME_S.get(period, WALL_PER_GAME_S_OT)


def _break_after(period: int) -> float:
    return HALFTIME_S if period == REGULATION_PERIODS // 2 else BREAK_S


def _period_model_walls(plays: Sequence[dict[str, Any]], points: list[tuple[int, float]],
                        tipoff: float | None = None) -> dict[int, float]:
    """Wall time of every play from a few (seq, wall) points and/or the tip-off, by a per-period
    linear model.

    Each period p runs from wall S[p] (game clock starts) to E[p] (clock hits 0:00); between
    known points the clock is linear in wall time. Unknown S/E come first from a neighbouring
    period plus the typical break, else by extrapolating with the typical wall/game ratio.
    """
    periods = sorted({int(p["period"]) for p in plays})
    start = {p: game_seconds(p, period_length_s(p)) for p in periods}
    length = {p: float(period_length_s(p)) for p in periods}
    inner: dict[int, list[tuple[float, float]]] = {p: [] for p in periods}   # (game_s, wall)
    S: dict[int, float] = {}
    E: dict[int, float] = {}
    if tipoff is not None:
        S[periods[0]] = tipoff
    for seq, wall in points:
        play = plays[seq]
        p, g = int(play["period"]), float(play["game_s"])
        if g <= start[p] + 1e-6:
            S.setdefault(p, wall)          # earliest stamp at the period's first second
        elif g >= start[p] + length[p] - 1e-6:
            E.setdefault(p, wall)          # the buzzer; later stamps there are replays/breaks
        else:
            inner[p].append((g, wall))
    if not S and not E and not any(inner.values()):
        raise ValueError("no usable wall-clock point to align with")
    while any(p not in S or p not in E for p in periods):
        changed = False
        for i, p in enumerate(periods):       # neighbour + break first: the more reliable rule
            prev_p = periods[i - 1] if i else None
            next_p = periods[i + 1] if i + 1 < len(periods) else None
            if p not in S and prev_p is not None and prev_p in E:
                S[p] = E[prev_p] + _break_after(prev_p)
                changed = True
            if p not in E and next_p is not None and next_p in S:
                E[p] = S[next_p] - _break_after(p)
                changed = True
        if changed:
            continue
        for p in periods:                     # then extrapolate inside periods that have a point
            pts = ([(start[p], S[p])] if p in S else []) + inner[p] + \
                  ([(start[p] + length[p], E[p])] if p in E else [])
            if not pts:
                continue
            if p not in S:
                S[p] = pts[0][1] - (pts[0][0] - start[p]) * _ratio(p)
                changed = True
            if p not in E:
                E[p] = pts[-1][1] + (start[p] + length[p] - pts[-1][0]) * _ratio(p)
                changed = True
        if not changed:   # only when periods have gaps no rule bridges; cannot happen in order
            raise ValueError("could not place every period in wall time")
    walls: dict[int, float] = {}
    for p in periods:
        pts = sorted([(start[p], S[p]), *inner[p], (start[p] + length[p], E[p])])
        keep = longest_non_decreasing([w for _, w in pts])
        gs = [pts[k][0] for k in keep]
        ws = [pts[k][1] for k in keep]
        for seq, play in enumerate(plays):
            if int(play["period"]) == p:
                walls[seq] = float(np.interp(float(play["game_s"]), gs, ws))
    return walls


def _anchors(walls: Sequence[float], games: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Monotone (wall, game) anchors: longest non-decreasing run of walls in game order, game
    clock made non-decreasing, equal walls collapsed to the latest game time."""
    keep = longest_non_decreasing(walls)
    out: list[tuple[float, float]] = []
    top = -math.inf
    for k in keep:
        top = max(top, games[k])
        if out and walls[k] <= out[-1][0]:
            out[-1] = (out[-1][0], top)
        else:
            out.append((walls[k], top))
    return tuple(out)


def build_alignment(pbp: PbpResult, *, date: str | None, tz: str | None,
                    tipoff_utc: str | None) -> Alignment:
    """Pick the best wall-clock source the game offers and build its wall -> game map.

    Raises ValueError naming the game.json field to add when the source needs date/tz
    (minute stamps, period anchors) or has no wall information and no tipoff_utc.
    """
    plays = pbp.plays
    if not plays:
        raise ValueError(f"game {pbp.game_id}: no plays to align comments with")
    n = len(plays)
    known = _per_play_walls(plays)
    if len(known) >= 2 and len(known) >= n / 2:
        method, walls = "per_play_utc", known
    elif pbp.wall_hints and len(pbp.wall_hints) >= n / 2:
        method = "minute_stamps"
        stamps = [(s, w) for s, w in hint_walls(pbp.wall_hints, date, tz, method) if 0 <= s < n]
        walls = _minute_stamp_walls(n, stamps)
    elif pbp.wall_hints:
        method = "period_anchors"
        stamps = [(s, w + 30.0) for s, w in hint_walls(pbp.wall_hints, date, tz, method) if 0 <= s < n]
        walls = _period_model_walls(plays, stamps)
    elif tipoff_utc:
        method = "interpolated"
        try:
            tip = parse_utc(tipoff_utc, "tipoff_utc").timestamp()
        except RowError:
            raise ValueError(f"game.json \"tipoff_utc\" {tipoff_utc!r} is not an ISO-8601 UTC time "
                             "like \"2024-01-05T00:40:00Z\"") from None
        walls = _period_model_walls(plays, [], tipoff=tip)
    else:
        raise ValueError(f"game {pbp.game_id}: the play-by-play ({pbp.format}) has no wall-clock "
                         "times; add game.json \"tipoff_utc\" (ISO-8601 UTC tip-off, e.g. "
                         "\"2024-01-05T00:40:00Z\") so comments can be aligned")
    if not walls:
        raise ValueError(f"game {pbp.game_id}: no readable wall-clock time in the play-by-play")
    play_wall = _fill_by_seq(n, walls)
    anchors = _anchors(play_wall, [float(p["game_s"]) for p in plays])
    return Alignment(
        method=method, expected_error_s=EXPECTED_ERROR_S[method],
        wall_start_utc=_iso(anchors[0][0]), wall_end_utc=_iso(anchors[-1][0]), anchors=anchors,
        play_wall_s=tuple(play_wall),
        play_wall_estimated=tuple(not (method == "per_play_utc" and i in known) for i in range(n)))


def _iso(unix_s: float) -> str:
    return utc_text(datetime.fromtimestamp(unix_s, tz=timezone.utc))


def estimated_play_walls(alignment: Alignment) -> dict[int, str]:
    """{seq: ISO UTC} for plays whose wall time was estimated (the source had none)."""
    return {seq: _iso(w) for seq, (w, est) in
            enumerate(zip(alignment.play_wall_s, alignment.play_wall_estimated)) if est}


# --- refining an imprecise alignment from the comments --------------------------------------------
REFINE_STEP_S = 4.0          # offsets tried, in steps of this many seconds
REFINE_MAX_S = 240.0         # at most this far from the first estimate, whatever its expected error
REFINE_MOVE_COST = 0.2       # named reactions an offset change of one step between two plays must win
REFINE_MIN_METHOD_ERROR_S = 10.0   # alignments better than this (per-play UTC) are left as they are


def _reaction_weight(delay: np.ndarray) -> np.ndarray:
    """1 at a reaction's usual delay after its play (on the lag-corrected clock), falling to 0 at
    8 s before it and 26 s after: the same shape as a reaction burst."""
    up = np.clip((delay + 8.0) / 8.0, 0.0, None) * (delay < 0)
    down = np.clip((26.0 - delay) / 26.0, 0.0, None) * (delay >= 0)
    return up + down


def refine_alignment(alignment: Alignment, plays: Sequence[dict[str, Any]],
                     marks: Sequence[tuple[int, tuple[str, ...]]], comments: Sequence[tuple[float, str]],
                     lag_s: float) -> Alignment:
    """A finer alignment where the first one is only minute- or period-precise (V2, V3, tip-off
    only): fans name the player of a play in the seconds after it ("OKAFOR!!!"), so the named
    reactions place each play on the wall clock.

    `marks` are (play index, the player names fans would use) of the plays that can draw a
    reaction; `comments` are (created Unix s, body). For each mark and each offset within the
    alignment's expected error (up to REFINE_MAX_S), the evidence is the comments naming its player
    at the usual reaction delay after the shifted play; a Viterbi pass picks one offset per mark,
    paying REFINE_MOVE_COST per REFINE_STEP_S of change from the previous mark (the wall clock
    drifts smoothly between anchors). Plays between marks take interpolated offsets; the walls stay
    in game order. Alignments from per-play UTC are returned as they are.
    """
    if alignment.expected_error_s < REFINE_MIN_METHOD_ERROR_S or not marks or not comments:
        return alignment
    reach = min(REFINE_MAX_S, 3.0 * alignment.expected_error_s)
    offsets = np.arange(-reach, reach + REFINE_STEP_S / 2, REFINE_STEP_S)
    named: dict[str, list[float]] = {}
    for created, body in comments:
        for word in set(re.findall(r"[a-z][a-z'\-]+", body.lower())):
            named.setdefault(word, []).append(created - lag_s)
    times = {w: np.sort(np.asarray(ts)) for w, ts in named.items()}
    walls = np.asarray(alignment.play_wall_s, dtype=float)
    evidence = []
    for idx, names in marks:
        ev = np.zeros(len(offsets))
        for name in names:
            ts = times.get(name.lower())
            if ts is None:
                continue
            lo, hi = np.searchsorted(ts, [walls[idx] - reach - 8.0, walls[idx] + reach + 26.0])
            if hi > lo:
                d = ts[lo:hi][None, :] - (walls[idx] + offsets[:, None])
                ev += _reaction_weight(d).sum(axis=1)
        evidence.append(ev)
    if not any(ev.any() for ev in evidence):
        return alignment
    steps = np.abs(np.arange(len(offsets))[:, None] - np.arange(len(offsets))[None, :]) * REFINE_MOVE_COST
    score = evidence[0].copy()
    back = []
    for ev in evidence[1:]:
        total = score[None, :] - steps          # [to, from]
        arg = total.argmax(axis=1)
        back.append(arg)
        score = total[np.arange(len(offsets)), arg] + ev
    path = [int(score.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    chosen = offsets[path[::-1]]
    at = np.array([idx for idx, _ in marks], dtype=float)
    shifted = walls + np.interp(np.arange(len(walls)), at, chosen)
    shifted = np.maximum.accumulate(shifted)
    anchors = _anchors(shifted.tolist(), [float(p["game_s"]) for p in plays])
    return replace(alignment, method=alignment.method, anchors=anchors, wall_start_utc=_iso(anchors[0][0]),
                   wall_end_utc=_iso(anchors[-1][0]), play_wall_s=tuple(float(w) for w in shifted))


# --- reaction lag ---------------------------------------------------------------------------------
# When the game's comments cannot say: where a real NBA playoff game's comment bursts peaked after
# the plays' logged times (anywhere from 0 to ~105 s, median about 45 s), a little before it.
DEFAULT_REACTION_LAG_S = 40.0
MAX_REACTION_LAG_S = 120
LAG_STEP_S = 2.0           # lags tried, in steps of this many seconds
LAG_BIN_S = 20.0           # named comments counted in a bin this wide around each play + lag
LAG_AROUND_S = (300.0, 420.0)   # ... against that name's pace in the minutes around the play
MIN_LAG_MENTIONS = 100     # fewer comments naming a play's player than this cannot place a peak
MIN_LAG_CONTRAST = 1.2     # the peak must stand this many times above the median lag's score ...
MIN_LAG_SD = 4.5           # ... and this many standard deviations of its counting noise
MAX_LAG_ALIGN_ERROR_S = 20.0   # alignments coarser than this (V3 period anchors, tip-off only) cannot place it
_NAME_WORD = re.compile(r"[a-z][a-z'\-]+")


def name_words(name: str | None) -> set[str]:
    """The word fans call a player by: the last word of 3+ letters of the name as the feed writes it,
    lower-case ("D. Jones Jr." -> jones, "Antetokounmpo" -> antetokounmpo)."""
    words = [w for w in re.split(r"[\s.]+", str(name or "").lower())
             if len(w) >= 3 and w not in {"jr", "sr", "ii", "iii", "iv"}]
    return set(words[-1:])


def estimate_reaction_lag(play_walls: Sequence[float], play_names: Sequence[set[str]],
                          comments: Sequence[tuple[float, str]]) -> tuple[float | None, float]:
    """(lag, contrast): the delay after the plays at which the comments naming their players peak,
    from the game's own data, or (None, contrast) when the peak is not clear.

    Real threads react weakly: a play barely lifts the comment rate (1.2-2x), but the share of
    comments naming its player rises 2-3x in the minute after it. So each lag L (0..120 s) is scored
    by the comments naming a play's player (`play_names`, see `name_words`) within LAG_BIN_S of
    `wall + L`, over every play, against what that name's own pace in the minutes around the play
    would bring (chatter names the players on the floor all the time); the best lag wins if it
    stands MIN_LAG_CONTRAST times above the median lag's score and MIN_LAG_SD standard deviations
    of its counting noise above it. `comments` are (created Unix s, body).
    """
    by_name: dict[str, list[float]] = {}
    wanted = set().union(*play_names) if play_names else set()
    for created, body in comments:
        for w in set(_NAME_WORD.findall(body.lower())) & wanted:
            by_name.setdefault(w, []).append(created)
    if sum(map(len, by_name.values())) < MIN_LAG_MENTIONS:
        return None, 0.0
    times = {w: np.sort(np.asarray(ts)) for w, ts in by_name.items()}
    lags = np.arange(0, MAX_REACTION_LAG_S + 1, LAG_STEP_S)
    score, expected = np.zeros(len(lags)), 0.0
    for wall, names in zip(play_walls, play_names):
        for name in names:
            ts = times.get(name)
            if ts is None:
                continue
            score += np.searchsorted(ts, wall + lags + LAG_BIN_S / 2) - np.searchsorted(ts, wall + lags - LAG_BIN_S / 2)
            lo, hi = np.searchsorted(ts, [wall - LAG_AROUND_S[0], wall + LAG_AROUND_S[1]])
            expected += (hi - lo) / sum(LAG_AROUND_S) * LAG_BIN_S
    if expected <= 0:
        return None, 0.0
    best, typical = int(np.argmax(score)), float(np.median(score))
    contrast = float(score[best] / max(typical, 1e-9))
    # the peak must stand out of the counting noise too (61 lags tried: a noise peak reaches ~3 sd)
    clear = contrast >= MIN_LAG_CONTRAST and (score[best] - typical) / math.sqrt(max(typical, 1.0)) >= MIN_LAG_SD
    return (float(lags[best]) if clear else None), contrast


# --- comments -------------------------------------------------------------------------------------
def align_game(pbp: PbpResult, comments: Sequence[dict[str, Any]], alignment: Alignment, *,
               reaction_lag_s: float, postgame_grace_s: float, author_salt: str,
               teams: Mapping[str, Mapping[str, Any]]) -> AlignedComments:
    """Aligned comment rows (tables.COMMENT_COLUMNS) and rejections for one game, on the game's
    `alignment` (`build_alignment`).

    `comments` are reader dicts; ingest adds "_source_format"/"_source_file" to each so rows and
    rejections say where they came from. Kept: comments posted from tip-off (reaction time up
    to `reaction_lag_s` before it maps to the opening tip) until `reaction_lag_s +
    postgame_grace_s` after the final play (reactions after the buzzer map to the final clock).
    Rejected: outside_game_window, duplicate_id (the same id from two files), and
    duplicate_body_author (see DUPLICATE_BODY_WINDOW_S). Each input is kept or rejected once.
    `fan_team` is the team whose own subreddit the comment is in, else the one its flair names.
    """
    sub_team = {sub: subreddit_team(sub, teams) for sub in {c.get("subreddit") for c in comments} if sub}
    walls = np.array([a[0] for a in alignment.anchors])
    games = np.array([a[1] for a in alignment.anchors])
    start, end = walls[0], walls[-1]
    rows: list[dict[str, Any]] = []
    rejections = Rejections()
    seen_ids: set[str] = set()
    last_post: dict[tuple[str, str], float] = {}

    def reject(c: dict[str, Any], field_: str | None, reason: str, detail: str, value: Any) -> None:
        rejections.record(c.get("_source_file", "<comments>"), c["comment_id"], field_, reason, detail, value)
        rejections.items[-1]["source_format"] = c.get("_source_format")

    for c in sorted(comments, key=lambda c: c["created_utc"]):
        t = float(c["created_utc"])
        react = t - reaction_lag_s
        if c["comment_id"] in seen_ids:
            reject(c, "comment_id", "duplicate_id", "same comment id in another comment file", c["comment_id"])
            continue
        seen_ids.add(c["comment_id"])
        if t < start:
            reject(c, "created_utc", "outside_game_window",
                   f"posted {start - t:.0f} s before tip-off ({alignment.wall_start_utc})", _iso(t))
            continue
        if react > end + postgame_grace_s:
            reject(c, "created_utc", "outside_game_window",
                   f"reacts {react - end:.0f} s after the final play ({alignment.wall_end_utc}); "
                   f"postgame_grace_s is {postgame_grace_s:g}", _iso(t))
            continue
        key = (c["author"], c["body"].strip())
        if c["author"] not in ANONYMOUS_AUTHORS and t - last_post.get(key, -math.inf) <= DUPLICATE_BODY_WINDOW_S:
            reject(c, "body", "duplicate_body_author",
                   f"same author posted the same text {t - last_post[key]:.0f} s earlier", c["body"])
            continue
        last_post[key] = t
        game_s = float(np.interp(react, walls, games))
        period, clock_s = from_game_seconds(game_s)
        row = {
            "game_id": pbp.game_id, "comment_id": c["comment_id"], "thread_id": c.get("thread_id"),
            "parent_id": c.get("parent_id"), "author": pseudonymise(c["author"], author_salt),
            "flair": c.get("flair"), "flair_team": flair_team(c.get("flair"), teams),
            "body": c["body"], "created_utc": _iso(t), "score": c.get("score"),
            "edited": bool(c.get("edited")), "game_s": game_s, "period": period,
            "clock": clock_label(period, clock_s), "source_format": c.get("_source_format"),
            "subreddit": c.get("subreddit"),
            "fan_team": sub_team.get(c.get("subreddit")) or flair_team(c.get("flair"), teams),
        }
        assert tuple(row) == COMMENT_COLUMNS
        rows.append(row)
    return AlignedComments(rows, rejections, alignment)

"""How a game's threads behave, measured the way a real game's were: is the sample realistic?

Real game threads react weakly and late. Measured per play on a real NBA playoff game (267 plays
with the feed's logged UTC time; the league thread with both halves, both teams' subreddits): the
comment rate in the 60 s from +15 s to +75 s after a play's logged time against the rate in the
90 s before it has a median of 1.18 in the league thread (p10 0.76, p90 1.76) and 1.24-1.27 in the
team threads (p90 2.06-2.40); scoring plays do not stand out (median 1.08-1.16 against 1.22-1.37
for other rows: stoppages draw the loudest ratios); the 20 loudest plays' comments peak anywhere
from +0 to +105 s after the play, median about +45 s; in the 90 s after a play a median 6.8% of all
comments name one of its players (4.6% before; p90 22%), and after a block "block" rose from 3.8%
to 12.5%. Comment bodies: median 36-38 characters, p90 98-113; 12-20% in capitals; 17-23% with
profanity; 5-7% deleted or removed.

`game_statistics` measures one game from the rows ingest reads (plays with the feed's own
per-play wall clock; kept comments; the readers' rejections), `realism_report` pools games and
holds each figure against `BANDS`: the real figure, widened for the sample's smaller, ordinary
games. ingest writes the report as metrics/realism.json; `fan-timeline simulate` prints it for
what it wrote; a test keeps the shipped sample inside the bands.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

import numpy as np

from fan_timeline.align import name_words

AFTER_S = (15.0, 75.0)      # the reaction span after a play's logged time
BEFORE_S = 90.0             # ... against this many seconds before it
WORDS_S = 90.0              # the spans a play's name share is counted over, after and before
PEAK_BIN_S = 15.0           # where a loud play's comments peak: bins this wide ...
PEAK_SPAN_S = 120.0         # ... from the play to this long after it
LOUDEST = 20                # ... over the loudest plays of each thread
MIN_BEFORE = 10             # a play's ratio needs this many comments before it (fewer: counting noise)

# (low, high) per statistic: the real game's figure (docstring), widened for sampling error and
# for the sample's ordinary games (smaller threads than a playoff game's).
BANDS: dict[str, tuple[float, float]] = {
    "league.ratio_p10": (0.55, 0.92),
    "league.ratio_p50": (1.05, 1.35),
    "league.ratio_p90": (1.45, 2.2),
    "team.ratio_p10": (0.5, 0.85),
    "team.ratio_p50": (1.08, 1.4),
    "team.ratio_p90": (1.7, 2.7),
    "ratio_p50_other_minus_scoring": (0.0, 0.4),
    "peak_delay_p50_s": (25.0, 65.0),
    "peak_delay_p90_s": (60.0, 110.0),
    "name_share_after_p50": (0.03, 0.11),
    "name_share_before_p50": (0.02, 0.08),
    "name_share_after_p90": (0.12, 0.32),
    "name_lift_p50": (1.15, 2.2),
    "block_word_lift": (1.8, 5.0),
    "general_share": (0.55, 0.92),
    "body_chars_p50": (28.0, 46.0),
    "body_chars_p90": (80.0, 125.0),
    "caps_share": (0.10, 0.22),
    "profanity_share": (0.12, 0.25),
    "deleted_share": (0.04, 0.08),
}
REAL = {  # the real game's figures, for the side-by-side table
    "league.ratio_p10": "0.76", "league.ratio_p50": "1.18", "league.ratio_p90": "1.76",
    "team.ratio_p10": "0.65-0.68", "team.ratio_p50": "1.24-1.27", "team.ratio_p90": "2.06-2.40",
    "ratio_p50_other_minus_scoring": "0.06-0.29", "peak_delay_p50_s": "~45", "peak_delay_p90_s": "~105 (max)",
    "name_share_after_p50": "0.068", "name_share_before_p50": "0.046", "name_share_after_p90": "0.22",
    "name_lift_p50": "~1.5", "block_word_lift": "3.3", "general_share": "most",
    "body_chars_p50": "36-38", "body_chars_p90": "98-113", "caps_share": "0.12-0.20",
    "profanity_share": "0.17-0.23", "deleted_share": "0.05-0.07",
}

SCORING = frozenset({"made_shot"})          # made baskets (a free-throw trip is a stoppage)
SKIP = frozenset({"substitution", "period_start"})     # rows no fan reacts to as such
PLAY_WORDS = ("block", "three", "dunk", "and one", "and-one", "steal", "free throw", "layup", "foul")
PROFANITY = re.compile(r"fuck|shit|damn|goddamn|wtf|bitch|ass\b", re.I)
_WORD = re.compile(r"[a-z][a-z'\-]+")


def _unix(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _count(times: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    return np.searchsorted(times, hi, "left") - np.searchsorted(times, lo, "left")


def _is_caps(body: str) -> bool:
    letters = [ch for ch in body if ch.isalpha()]
    return len(letters) >= 3 and sum(ch.isupper() for ch in letters) / len(letters) > 0.7


def game_statistics(plays: list[dict[str, Any]], comments: list[dict[str, Any]], team_subreddits: Iterable[str],
                    walls: dict[int, float] | None = None, deleted: int = 0, read: int = 0) -> dict[str, list[float]]:
    """One game's raw figures (lists pooled over games by `realism_report`): per thread kind
    ("league", "team") the plays' after/before rate ratios; scoring and other rows' ratios; the
    loudest plays' peak delays; the name shares after and before each play naming a player;
    "block" after and before blocks; and the comment bodies' lengths and styles.

    Each play's time is the wall clock its feed logged: `walls` (seq -> Unix seconds), default its
    `wall_utc` (plays without one are left out). `comments` need `created_utc`, `subreddit` and
    `body`; `deleted` of `read` comment rows were deleted or removed."""
    teams = {str(s).lower().removeprefix("r/") for s in team_subreddits}
    rows, last = [], None
    for p in sorted(plays, key=lambda p: p["seq"]):
        wall = walls.get(p["seq"]) if walls is not None else (_unix(p["wall_utc"]) if p.get("wall_utc") else None)
        if wall is None or p["event_type"] in SKIP:
            continue
        if wall != last:                   # rows logged at one instant are one moment for the fans
            rows.append((wall, p))
        last = wall
    out: dict[str, list[float]] = defaultdict(list)
    out["deleted"], out["read"] = [float(deleted)], [float(read)]
    texts = [str(c["body"]) for c in comments]
    out["chars"] = [float(len(t)) for t in texts]
    out["caps"] = [float(_is_caps(t)) for t in texts]
    out["profanity"] = [float(bool(PROFANITY.search(t))) for t in texts]
    if not rows or not comments:
        return out
    players = {w for p in plays for k in ("player", "player2") for w in name_words(p.get(k))}
    start, end = rows[0][0], rows[-1][0]
    by_sub: dict[str, list[tuple[float, set[str], str]]] = defaultdict(list)
    for c, text in zip(comments, texts):
        low = text.lower()
        by_sub[str(c.get("subreddit") or "").lower()].append((_unix(c["created_utc"]), set(_WORD.findall(low)), low))
    walls_a = np.array([w for w, _ in rows])
    scoring = np.array([p["event_type"] in SCORING for _, p in rows])
    for sub, items in by_sub.items():
        items.sort(key=lambda x: x[0])
        times = np.array([t for t, _, _ in items])
        kind = "team" if sub in teams else "league"
        after = _count(times, walls_a + AFTER_S[0], walls_a + AFTER_S[1]) / (AFTER_S[1] - AFTER_S[0])
        before_n = _count(times, walls_a - BEFORE_S, walls_a)
        ok = before_n >= MIN_BEFORE
        ratio = np.where(ok, after / np.maximum(before_n, 1) * BEFORE_S, np.nan)
        out[f"{kind}.ratio"] += ratio[ok].tolist()
        out["ratio_scoring"] += ratio[ok & scoring].tolist()
        out["ratio_other"] += ratio[ok & ~scoring].tolist()
        for i in np.argsort(-np.nan_to_num(ratio, nan=-1.0))[:LOUDEST]:
            if ok[i]:
                bins = np.histogram(times, bins=np.arange(0, PEAK_SPAN_S + 1, PEAK_BIN_S) + walls_a[i])[0]
                out["peak_delay_s"].append(float(np.argmax(bins) * PEAK_BIN_S))
        lo, hi = np.searchsorted(times, [start, end + 300])
        out["general"] += [float(not words & players and not any(w in low for w in PLAY_WORDS))
                           for _, words, low in items[lo:hi]]
        for wall, p in rows:
            names = name_words(p.get("player")) | name_words(p.get("player2"))
            if not names:
                continue
            a0, a1 = np.searchsorted(times, [wall, wall + WORDS_S])
            b0, b1 = np.searchsorted(times, [wall - WORDS_S, wall])
            if a1 - a0 < MIN_BEFORE or b1 - b0 < MIN_BEFORE:
                continue
            out["name_after"].append(sum(bool(names & items[j][1]) for j in range(a0, a1)) / (a1 - a0))
            out["name_before"].append(sum(bool(names & items[j][1]) for j in range(b0, b1)) / (b1 - b0))
            if p["event_type"] == "block" or (p["event_type"] == "missed_shot" and p.get("player2")
                                              and "block" in str(p.get("text")).lower()):
                out["block_after"] += [sum("block" in items[j][2] for j in range(a0, a1)), a1 - a0]
                out["block_before"] += [sum("block" in items[j][2] for j in range(b0, b1)), b1 - b0]
    return out


def _q(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def realism_report(games: list[dict[str, list[float]]]) -> dict[str, Any]:
    """The pooled figures of `games` (`game_statistics` each), each with its band and whether it is
    in it, and `all_in_band`."""
    pool: dict[str, list[float]] = defaultdict(list)
    for g in games:
        for k, v in g.items():
            pool[k] += v
    pairs = lambda k: (sum(pool[k][0::2]), sum(pool[k][1::2]))   # noqa: E731  (hits, comments) pairs
    lift = [a / b for a, b in zip(pool["name_after"], pool["name_before"]) if b > 0]
    block_a, block_b = pairs("block_after"), pairs("block_before")
    figures = {
        "league.ratio_p10": _q(pool["league.ratio"], 10), "league.ratio_p50": _q(pool["league.ratio"], 50),
        "league.ratio_p90": _q(pool["league.ratio"], 90), "team.ratio_p10": _q(pool["team.ratio"], 10),
        "team.ratio_p50": _q(pool["team.ratio"], 50), "team.ratio_p90": _q(pool["team.ratio"], 90),
        "ratio_p50_other_minus_scoring": (_q(pool["ratio_other"], 50) - _q(pool["ratio_scoring"], 50)
                                          if pool["ratio_other"] and pool["ratio_scoring"] else None),
        "peak_delay_p50_s": _q(pool["peak_delay_s"], 50), "peak_delay_p90_s": _q(pool["peak_delay_s"], 90),
        "name_share_after_p50": _q(pool["name_after"], 50), "name_share_before_p50": _q(pool["name_before"], 50),
        "name_share_after_p90": _q(pool["name_after"], 90), "name_lift_p50": _q(lift, 50),
        "block_word_lift": ((block_a[0] / block_a[1]) / (block_b[0] / block_b[1])
                            if block_a[1] and block_b[1] and block_b[0] else None),
        "general_share": float(np.mean(pool["general"])) if pool["general"] else None,
        "body_chars_p50": _q(pool["chars"], 50), "body_chars_p90": _q(pool["chars"], 90),
        "caps_share": float(np.mean(pool["caps"])) if pool["caps"] else None,
        "profanity_share": float(np.mean(pool["profanity"])) if pool["profanity"] else None,
        "deleted_share": sum(pool["deleted"]) / sum(pool["read"]) if sum(pool["read"]) else None,
    }
    stats = {}
    for key, value in figures.items():
        lo, hi = BANDS[key]
        stats[key] = {"value": None if value is None else round(value, 4), "band": [lo, hi], "real": REAL[key],
                      "in_band": value is not None and lo <= value <= hi}
    return {"games": len(games), "plays_measured": len(pool["league.ratio"]) + len(pool["team.ratio"]),
            "statistics": stats, "all_in_band": all(s["in_band"] for s in stats.values())}


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as a table a terminal shows: statistic, value, band, real figure."""
    lines = [f"{'statistic':32s} {'value':>8s}  {'band':14s} real   ({report['games']} games)"]
    for key, s in report["statistics"].items():
        value = "-" if s["value"] is None else f"{s['value']:.3g}"
        mark = "" if s["in_band"] else "  OUT OF BAND"
        lines.append(f"{key:32s} {value:>8s}  {s['band'][0]:g}-{s['band'][1]:g}{'':6s} {s['real']}{mark}")
    lines.append(f"all in band: {report['all_in_band']}")
    return lines

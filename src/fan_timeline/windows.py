"""Cut a game into windows of game time and rank each window's comments by relevance.

build_sft, the evaluator and the server all window games here, so a served game is cut exactly
as the training data was.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from fan_timeline import sport


@dataclass
class Window:
    index: int
    start_s: float
    end_s: float
    start: str                      # clock label at the window start, e.g. "Q2 12:00"
    end: str                        # clock label at the window end, e.g. "Q2 09:00"
    score_home: int                 # score when the window starts
    score_away: int
    plays: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)   # ranked, most relevant first
    all_comments: list[dict[str, Any]] = field(default_factory=list)   # every comment aligned into it

    def info(self) -> dict[str, Any]:
        return {"index": self.index, "start_s": self.start_s, "end_s": self.end_s, "start": self.start,
                "end": self.end, "score_home": self.score_home, "score_away": self.score_away}

    def contains(self, game_s: float) -> bool:
        return self.start_s <= game_s <= self.end_s


def start_label(game_s: float) -> str:
    """Clock label of a window start: on a period boundary it names the new period ("Q2 12:00")."""
    period, clock_s = sport.from_game_seconds(game_s)
    if clock_s <= 1e-9 and game_s > 0:
        return sport.clock_label(period + 1, sport.period_length_s(period + 1))
    return sport.clock_label(period, clock_s)


def window_bounds(periods: int, window_s: float, overlap_s: float) -> list[tuple[float, float]]:
    """(start_s, end_s) of every window; windows never cross a period boundary.

    Each period gets n = ceil((L - overlap) / (window - overlap)) windows of length `window_s`
    (or the whole period when it is shorter), spread evenly so the first starts at the period start
    and the last ends at the buzzer; neighbours overlap by at least `overlap_s`.
    """
    bounds = []
    for period in range(1, periods + 1):
        length = sport.period_length_s(period)
        p0 = sport.game_seconds(period, length)
        if length <= window_s:
            bounds.append((p0, p0 + length))
            continue
        n = math.ceil((length - overlap_s) / (window_s - overlap_s))
        step = (length - window_s) / (n - 1)
        bounds += [(p0 + round(k * step), p0 + round(k * step) + window_s) for k in range(n)]
    return bounds


_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")


def _surname(name: str | None) -> str | None:
    words = name.split() if name else []
    return words[-1].lower() if words else None


def relevance(comment: dict[str, Any], names: set[str], big_play_times: list[float]) -> float:
    """How worth showing a comment is: reactions to named players and big plays, upvotes, energy."""
    body = str(comment["body"])
    words = {w.lower() for w in _WORD.findall(body)}
    score = 2.0 if words & names else 0.0
    letters = [ch for ch in body if ch.isalpha()]
    if len(letters) >= 5 and sum(ch.isupper() for ch in letters) / len(letters) > 0.6:
        score += 1.0
    if "!" in body or any(ord(ch) > 0x2000 for ch in body):
        score += 0.5
    score += 0.5 * math.log1p(max(0, comment.get("score") or 0))
    if len(body) > 140 or len(body) < 4:
        score -= 1.0
    if comment.get("parent_id", "") and str(comment.get("parent_id")).startswith("t1_"):
        score -= 0.3
    if comment.get("flair_team"):
        score += 0.3
    t = comment["game_s"]
    if any(0 <= t - bt <= 30 for bt in big_play_times):
        score += 1.0
    return score


BIG_EVENTS = frozenset({"made_shot", "block", "steal", "period_end"})


def make_windows(plays: list[dict[str, Any]], comments: list[dict[str, Any]], *, window_s: float,
                 overlap_s: float, max_comments: int) -> list[Window]:
    """Windows of one game with their plays (game order) and top comments (most relevant first).

    Identical comment bodies are shown once per window (bots and spam repeat themselves).
    """
    plays = sorted(plays, key=lambda p: p["seq"])
    periods = max(p["period"] for p in plays)
    windows = []
    for i, (s, e) in enumerate(window_bounds(periods, window_s, overlap_s)):
        period = sport.from_game_seconds(s + 1e-6)[0]
        before = [p for p in plays if p["period"] < period or (p["period"] == period and p["game_s"] < s)]
        home = before[-1]["score_home"] if before else 0
        away = before[-1]["score_away"] if before else 0
        w = Window(i, float(s), float(e), start_label(s), sport.clock_label(*sport.from_game_seconds(e)), home, away)
        w.plays = [p for p in plays if p["period"] == period and s <= p["game_s"] <= e]
        names = {n for p in w.plays for n in (_surname(p.get("player")), _surname(p.get("player2"))) if n}
        big = [p["game_s"] for p in w.plays if p["event_type"] in BIG_EVENTS]
        w.all_comments = [c for c in comments if c["period"] == period and s <= c["game_s"] <= e]
        seen, cands = set(), []
        for c in w.all_comments:
            if c["body"] not in seen:
                seen.add(c["body"])
                cands.append(c)
        cands.sort(key=lambda c: (-relevance(c, names, big), c["game_s"], c["comment_id"]))
        w.comments = cands[:max_comments]
        windows.append(w)
    return windows

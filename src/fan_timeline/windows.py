"""A game cut into windows of game time, each prompted once per audience.

build_sft and the server plan games here (`plan_game`), so a served game is cut, its candidate
plays chosen and its prompts written exactly as the training data's were:

    plans = plan_game(game, plays, comments, tokenizer, cfg)     # [WindowPlan], window then audience

An audience is the comments of one subreddit (`candidates.audience_of`): the league's game thread
(where flair tells a fan's team) or a team's own (where the subreddit does). Its timeline's feeling
is that audience's, so the same play can be positive in one team's and negative in the other's.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fan_timeline import prompt, sport
from fan_timeline.candidates import (
    NO_SUBREDDIT,
    Evidence,
    ReactionClock,
    Reactions,
    audience_of,
    window_candidates,
)
from fan_timeline.config import BuildSftConfig
from fan_timeline.facts import Fact, game_facts


@dataclass
class Window:
    index: int
    start_s: float
    end_s: float
    start: str                      # clock label at the window start, e.g. "Q2 12:00"
    end: str                        # clock label at the window end, e.g. "Q2 09:00"
    score_home: int                 # score when the window starts
    score_away: int
    period: int
    plays: list[dict[str, Any]] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    evidence: dict[int, Evidence] = field(default_factory=dict)   # seq -> what the fans said of each fact

    def info(self) -> dict[str, Any]:
        return {"index": self.index, "start_s": self.start_s, "end_s": self.end_s, "start": self.start,
                "end": self.end, "score_home": self.score_home, "score_away": self.score_away}

    def contains(self, game_s: float, period: int | None = None) -> bool:
        return self.start_s <= game_s <= self.end_s and (period is None or period == self.period)


def start_label(game_s: float) -> str:
    """Clock label of a window start: on a period boundary it names the new period ("Q2 12:00")."""
    period, clock_s = sport.from_game_seconds(game_s)
    if clock_s <= 1e-9 and game_s > 0:
        return sport.clock_label(period + 1, sport.period_length_s(period + 1))
    return sport.clock_label(period, clock_s)


def _spread(start: float, length: float, window_s: float, overlap_s: float) -> list[tuple[float, float]]:
    """Windows of `window_s` (or one of `length` when shorter) covering [start, start + length], spread
    evenly: the first starts at `start`, the last ends at the end, neighbours overlap >= `overlap_s`."""
    if length <= window_s:
        return [(start, start + length)]
    n = math.ceil((length - overlap_s) / (window_s - overlap_s))
    step = (length - window_s) / (n - 1)
    return [(start + round(k * step), start + round(k * step) + window_s) for k in range(n)]


def window_bounds(periods: int, window_s: float, overlap_s: float, late_window_s: float | None = None,
                  late_span_s: float = 0.0) -> list[tuple[float, float]]:
    """(start_s, end_s) of every window; windows never cross a period boundary.

    Each period is cut into windows of `window_s` overlapping by at least `overlap_s` (`_spread`),
    except the last `late_span_s` of the fourth quarter and of every overtime, which are cut into
    windows of `late_window_s` (no overlap): late in a close game, moments crowd.
    """
    bounds = []
    for period in range(1, periods + 1):
        length = sport.period_length_s(period)
        p0 = sport.game_seconds(period, length)
        late = min(late_span_s, length) if period >= sport.REGULATION_PERIODS and late_window_s else 0.0
        if length - late > 0:
            bounds += _spread(p0, length - late, window_s, overlap_s)
        if late:
            bounds += _spread(p0 + length - late, late, late_window_s, 0.0)
    return bounds


def make_windows(plays: list[dict[str, Any]], facts: dict[int, Fact], *, window_s: float,
                 overlap_s: float, late_window_s: float | None = None, late_span_s: float = 0.0) -> list[Window]:
    """Windows of one game with their plays and facts (game order)."""
    plays = sorted(plays, key=lambda p: p["seq"])
    periods = max(p["period"] for p in plays)
    windows = []
    for i, (s, e) in enumerate(window_bounds(periods, window_s, overlap_s, late_window_s, late_span_s)):
        period = sport.from_game_seconds(s + 1e-6)[0]
        before = [p for p in plays if p["period"] < period or (p["period"] == period and p["game_s"] < s)]
        home = before[-1]["score_home"] if before else 0
        away = before[-1]["score_away"] if before else 0
        w = Window(i, float(s), float(e), start_label(s), sport.clock_label(*sport.from_game_seconds(e)), home, away,
                   period)
        w.plays = [p for p in plays if w.contains(p["game_s"], p["period"])]
        w.facts = [facts[p["seq"]] for p in w.plays if p["seq"] in facts]
        windows.append(w)
    return windows


@dataclass
class WindowPlan:
    """One window of a game for one audience, and the prompt the model gets for it."""

    window: Window
    audience: str
    prompt: prompt.WindowPrompt
    comments: int                   # the audience's comments aligned into the window
    budget: int                     # build_sft.max_prompt_tokens
    audience_team: str | None = None    # the team whose own subreddit the audience is (None: a league thread)

    def info(self) -> dict[str, Any]:
        p = self.prompt
        return {**self.window.info(), "audience": self.audience, "plays": len(self.window.plays),
                "candidates": len(p.candidates), "comments": self.comments,
                "comments_shown": len(p.shown_comments), "comments_trimmed": p.comments_trimmed,
                "prompt_tokens": p.n_tokens, "over_budget": p.n_tokens > self.budget}


def team_audiences(game: dict[str, Any]) -> dict[str, str]:
    """{tricode: "r/<its own subreddit>"} from the game row's `audiences`."""
    raw = game.get("audiences") or "{}"
    mapping = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return {team: aud for aud, team in mapping.items() if team}


def audiences(comments: list[dict[str, Any]], min_comments: int) -> dict[str, list[dict[str, Any]]]:
    """The game's comments by audience, those with at least `min_comments`, largest first."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in comments:
        groups[audience_of(c)].append(c)
    keep = [(aud, cs) for aud, cs in groups.items() if len(cs) >= min_comments]
    if not keep:   # too few comments anywhere (or none): one audience of them all, so plays still get a window
        keep = [(audience_of(comments[0]) if comments else NO_SUBREDDIT, list(comments))]
    return dict(sorted(keep, key=lambda kv: (-len(kv[1]), kv[0])))


def plan_game(game: dict[str, Any], plays: list[dict[str, Any]], comments: list[dict[str, Any]], tokenizer: Any,
              cfg: BuildSftConfig) -> list[WindowPlan]:
    """Every window of one game for every audience (see the module docstring)."""
    facts = game_facts(plays, game["home_team"], game["away_team"])
    windows = make_windows(plays, facts, window_s=cfg.window_s, overlap_s=cfg.overlap_s,
                           late_window_s=cfg.late_window_s, late_span_s=cfg.late_span_s)
    teams = team_audiences(game)
    reactions = Reactions(ReactionClock(plays, comments, game.get("reaction_lag_s")), facts)
    for w in windows:
        w.evidence = {f.seq: reactions.evidence[f.seq] for f in w.facts if f.seq in reactions.evidence}
    plans = []
    for aud, cs in audiences(comments, cfg.min_audience_comments).items():
        own = aud if all(audience_of(c) == aud for c in cs) else None   # None: the catch-all of a quiet game
        for w in windows:
            team = prompt.audience_team(aud, teams)
            cands = window_candidates(w.facts, reactions, own, cfg.max_candidates, cfg.max_shown, team,
                                      cfg.min_candidate_score, (game["home_team"], game["away_team"]))
            n = sum(1 for c in cs if w.contains(float(c["game_s"]), int(c["period"])))
            wp = prompt.window_prompt(tokenizer, game, w.info(), aud, cands, n, teams, cfg.max_prompt_tokens)
            plans.append(WindowPlan(w, aud, wp, n, cfg.max_prompt_tokens, team))
    plans.sort(key=lambda p: p.window.index)   # stable: window order, then audience order
    return plans

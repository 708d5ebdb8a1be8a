"""The plays a window's prompt shows: its candidate moments, each with how its fans reacted.

A moment is a play that changed the game and that fans reacted to. Every comment of a game is put
to the play it reacts to, or to none (`Reactions`: a mixture model fit by EM over the whole game,
so a quiet play right after a big one does not take its burst), and each of a window's facts
(`facts.Fact`: scores, blocks, steals, period ends, late misses) gets:

- `ratio`: its burst over every thread of the game (a moment is one for every fan base) against
  the comments the usual pace brings in the same seconds (0 = nothing; a big play draws 5-20x);
- per audience (one subreddit: the league's thread, or a team's own): `count`, the audience's
  comments that react to it, and `by_team`, those by the team their author supports (flair, or
  the team's subreddit);
- `shown`: the few reactions that best say what the fans felt (never chatter that says nothing
  about the play), the only quotes the answer may use;
- `feeling`: how the audience's reacting fans voted (`fan_sentiment`): a fan whose team is known
  cheers their team's good play and groans at the other's; one whose team is not is read by a
  small lexicon. The answer's `fan_sentiment` for the play is that vote (the grammar fixes it).

The window shows its `max_candidates` facts with the highest `score` (what the play did to the
game, `sport.importance`, plus REACTION_WEIGHT x log2(1 + ratio)) that reach `min_score`, the
highest first: a small model picks the moments of a window far better from a list that leads with
the likeliest ones than from one in game order. Answers name their moments in that order; a
timeline puts them in game order. build_sft, the rule baseline, the evaluator and the server all
pick candidates here.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

import numpy as np

from fan_timeline import schema, sport
from fan_timeline.facts import Fact

REACT_BEFORE_S = 8.0       # after the lag, a reaction may land a little before its play (timing error)
REACT_AFTER_S = 26.0       # ... and trails off this long after it
PACE_SPAN_S = 1200.0       # the audience's usual pace: the median of the 20 minutes around the play
PACE_BIN_S = 30.0          # ... in bins this long
ATTRIBUTION_ROUNDS = 20    # EM rounds of `Reactions`; the shares settle in about ten
MAX_CANDIDATES = 3         # facts shown per window (build_sft.max_candidates)
MAX_SHOWN = 2              # reactions shown per fact
REACTION_WEIGHT = 2.0      # score = importance + REACTION_WEIGHT * log2(1 + ratio)
NO_SUBREDDIT = "comments"  # the audience of comments whose file names no subreddit

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")


POSITIVE = ("let's go", "lets go", "yes", "what a", "clutch", "beautiful", "huge", "wow", "nasty", "cold",
            "goat", "love", "insane", "hell yeah", "money", "cash", "swat", "him", "mvp", "baby", "elite",
            "cooking", "splash", "🔥", "🚀", "💪", "🙌", "😤", "🐐", "♥", "❤")
NEGATIVE = ("ugh", "trash", "terrible", "awful", "refs", "ref ", "rigged", "choke", "brick", "come on", "cmon",
            "wtf", "fml", "kill me", "of course", "again", "pathetic", "embarrassing", "soft", "horrible",
            "garbage", "can't", "cant ", "no way", "bs", "pain", "hate", "unreal", "brutal", "fire the", "noooo",
            "💀", "🤡", "😭", "🤦", "😡", "🙄")


def polarity(body: str) -> int:
    """+1, -1 or 0 from a small lexicon (sarcasm markers like "great defense as always" are negative)."""
    low = body.lower()
    if "as always" in low or "/s" in low:
        return -1
    pos = sum(w in low for w in POSITIVE)
    neg = sum(w in low for w in NEGATIVE)
    return (pos > neg) - (neg > pos)


def vote(comment: dict[str, Any], for_team: str | None) -> int:
    """+1 (cheers), -1 (groans) or 0 on a play that was good for `for_team`: by the author's team
    when it is known; else by the lexicon, and an excited reaction the lexicon cannot read ("WHAT
    A PLAY", "OH MY GOD") cheers (fans with no side are there for the show)."""
    if comment.get("fan_team") and for_team:
        return 1 if comment["fan_team"] == for_team else -1
    body = str(comment["body"])
    return polarity(body) or (1 if _energy(body) > 0 else 0)


def fan_sentiment(reactions: Iterable[dict[str, Any]], for_team: str | None, audience_team: str | None = None) -> str:
    """How the fans who reacted to a play that was good for `for_team` felt, from their votes
    (those that cheer or groan): mixed with 30% on each side, else the larger side.

    With reactions but no vote to go by, the audience's side: in a team's own subreddit
    (`audience_team`) its fans cheer their team's play and groan at the other's; a league thread
    cheers (it is there for the show). With no reaction at all: neutral. A play good for nobody
    (a tied period end) has no side to cheer: only the words vote (`polarity`: "we blew a
    ten-point lead" groans, "OVERTIME BABY" cheers), and with none that say a feeling it is neutral.
    """
    reactions = list(reactions)
    if for_team is None:
        votes = [v for v in (polarity(str(c["body"])) for c in reactions) if v]
        if not votes:
            return "neutral"
    else:
        votes = [v for v in (vote(c, for_team) for c in reactions) if v]
        if not votes:
            if not reactions:
                return "neutral"
            return "positive" if audience_team in (None, for_team) else "negative"
    pos = sum(v > 0 for v in votes) / len(votes)
    neg = 1.0 - pos
    if pos >= 0.3 and neg >= 0.3:
        return "mixed"
    return "positive" if pos > neg else "negative"


def audience_of(comment: dict[str, Any]) -> str:
    """"r/nba", "r/clevelandcavs": the subreddit a comment was posted in (its audience)."""
    sub = comment.get("subreddit")
    return f"r/{sub}" if sub else NO_SUBREDDIT


@dataclass
class Candidate:
    fact: Fact
    count: int = 0
    ratio: float = 0.0
    by_team: dict[str, int] = field(default_factory=dict)   # tricode (or "?") -> reacting comments
    reactions: list[dict[str, Any]] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)
    score: float = 0.0
    audience_team: str | None = None     # the team whose own subreddit the audience is (None: a league thread)
    nearby: list[dict[str, Any]] = field(default_factory=list)   # the audience's comments in its reaction span

    @property
    def feeling(self) -> str:
        """The audience's vote on this play (`fan_sentiment` over its reactions, else over the
        audience's comments in the seconds after it)."""
        return fan_sentiment(self.reactions or self.nearby, self.fact.for_team, self.audience_team)

    @property
    def quotes(self) -> tuple[str, ...]:
        """The shown reactions the schema admits as a quote, verbatim."""
        return tuple(dict.fromkeys(str(c["body"]) for c in self.shown if schema.quote_ok(str(c["body"]))))


def _unix(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


class ReactionClock:
    """Comment reaction times on the same clock as the plays' times.

    With wall times (every play has `wall_s`, every comment `created_utc`) a comment reacts at
    created - lag, a play happens at its wall time; without them (canonical input) both are game
    seconds, the comment's aligned `game_s`.
    """

    def __init__(self, plays: list[dict[str, Any]], comments: list[dict[str, Any]], lag_s: float | None):
        self.on_wall = bool(plays) and lag_s is not None and all(p.get("wall_s") is not None for p in plays) \
            and all(c.get("created_utc") for c in comments)
        if self.on_wall:
            self.play_t = {p["seq"]: float(p["wall_s"]) for p in plays}
            pairs = sorted((_unix(c["created_utc"]) - float(lag_s), i) for i, c in enumerate(comments))
        else:
            self.play_t = {p["seq"]: float(p["game_s"]) for p in plays}
            pairs = sorted((float(c["game_s"]), i) for i, c in enumerate(comments))
        self.times = np.array([t for t, _ in pairs], dtype=float)
        self.comments = [comments[i] for _, i in pairs]
        # without wall times the clock stands still in dead balls: a game second holds more comments
        self.span_scale = 1.0 if self.on_wall else 0.45

    def between(self, lo: float, hi: float) -> list[dict[str, Any]]:
        return self.comments[int(np.searchsorted(self.times, lo, "left")):int(np.searchsorted(self.times, hi, "right"))]

    def pace(self, t: float, times: np.ndarray | None = None) -> float:
        """Usual comments per PACE_BIN_S around t (of `times`, default all): the median bin of the
        PACE_SPAN_S around it, so the bursts of nearby plays do not raise it (at least 0.5)."""
        times = self.times if times is None else times
        width = PACE_BIN_S * self.span_scale
        bins = max(3, int(PACE_SPAN_S * self.span_scale / width))
        edges = np.searchsorted(times, t - bins * width / 2 + width * np.arange(bins + 1))
        return max(0.5, float(np.median(np.diff(edges))))


def _kernel(d: np.ndarray, scale: float) -> np.ndarray:
    """How likely a reaction lands d seconds after its play (on the lag-corrected clock): rising over
    the REACT_BEFORE_S before it (timing error), then trailing off over REACT_AFTER_S; integrates to 1."""
    b, a = REACT_BEFORE_S * scale, REACT_AFTER_S * scale
    up = np.clip((d + b) / b, 0.0, None) * (d < 0)
    down = np.clip((a - d) / a, 0.0, None) * (d >= 0)
    return (up + down) * 2.0 / (a + b)


class Reactions:
    """Every comment of a game put to the play it reacts to, or to none (chatter).

    Comments come as a background at the thread's usual pace plus a burst after each play, its
    size unknown. Where plays follow each other within seconds (a dunk, then its and-one free
    throw; a block, then the score at the other end), a window of seconds after each play would
    count one burst for both. Instead, a mixture model, fit by EM over the whole game: each
    comment is a reaction rather than chatter as the plays' burst sizes times `_kernel` of the delay
    stand against the background, and its share of each play within reach is that play's part of
    those, weighted by how much the play matters (`sport.importance`: where the timing cannot
    tell, the dunk rather than its and-one free throw); a play's burst size is the sum of its shares.
    A comment belongs to the play of its largest share when that share is at least half
    (`owner`); a play's `strength` is its burst in comments, its `ratio` that against the
    comments the background brings in the same span (1 = as many as usual again).
    """

    def __init__(self, clock: ReactionClock, facts: dict[int, Fact]):
        self.clock = clock
        seqs = sorted(facts, key=lambda s: (clock.play_t[s], s))
        prior = np.array([sport.importance(facts[s]) for s in seqs], dtype=float)
        t = np.array([clock.play_t[s] for s in seqs], dtype=float)
        times = clock.times
        span = (REACT_BEFORE_S + REACT_AFTER_S) * clock.span_scale
        # the background rate (comments a second) at each play, and at each comment from its nearest play
        bg = np.array([clock.pace(x) for x in t]) / (PACE_BIN_S * clock.span_scale)
        self.owner: list[int | None] = [None] * len(times)
        self.strength = dict.fromkeys(seqs, 0.0)
        self.ratio = dict.fromkeys(seqs, 0.0)
        self.usual = {s: float(b * span) for s, b in zip(seqs, bg)}
        if not len(times) or not len(t):
            return
        lo = np.searchsorted(t, times - REACT_AFTER_S * clock.span_scale, side="left")
        hi = np.searchsorted(t, times + REACT_BEFORE_S * clock.span_scale, side="right")
        com = np.repeat(np.arange(len(times)), hi - lo)     # (comment, play) pairs within reach
        play = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(com) else np.zeros(0, int)
        if not len(com):
            return
        k = _kernel(times[com] - t[play], clock.span_scale)
        bg_c = bg[np.clip(np.searchsorted(t, times), 0, len(t) - 1)]
        size = np.ones(len(t))
        for _ in range(ATTRIBUTION_ROUNDS):
            burst = size[play] * k
            of_burst = np.bincount(com, burst, minlength=len(times))
            weighted = burst * prior[play]      # the prior splits a comment among plays, never against the background
            split = np.bincount(com, weighted, minlength=len(times))[com]
            share = (of_burst / (of_burst + bg_c))[com] * weighted / np.maximum(split, 1e-300)
            size = np.bincount(play, share, minlength=len(t))
        best: dict[int, tuple[float, int]] = {}
        for c, p, s in zip(com.tolist(), play.tolist(), share.tolist()):
            if s >= 0.5 and s > best.get(c, (0.0, -1))[0]:
                best[c] = (s, p)
        for c, (_, p) in best.items():
            self.owner[c] = seqs[p]
        for s, b, x in zip(seqs, bg, size):
            self.strength[s] = float(x)
            self.ratio[s] = float(x / (b * span))

    def of(self, seq: int, audience: str | None = None) -> list[dict[str, Any]]:
        """The comments that react to play `seq` (of one audience, or all), in clock order."""
        return [c for c, o in zip(self.clock.comments, self.owner)
                if o == seq and (audience is None or audience_of(c) == audience)]


def _energy(body: str) -> float:
    letters = [ch for ch in body if ch.isalpha()]
    caps = len(letters) >= 4 and sum(ch.isupper() for ch in letters) / len(letters) > 0.6
    return 1.0 * caps + 0.5 * ("!" in body)


def _names_a_player(body: str, fact: Fact) -> bool:
    words = {w.lower() for w in _WORD.findall(body)}
    return bool(words & {n.lower() for name in fact.names for n in name.replace("-", " ").split()})


def says_something(comment: dict[str, Any], fact: Fact) -> bool:
    """Whether a reaction says anything about a play: it names one of its players, is excited, or
    cheers or groans. Chatter ("anyone got a stream?", "real") is never shown or quoted."""
    body = str(comment["body"])
    return _names_a_player(body, fact) or _energy(body) > 0 or polarity(body) != 0


def telling(comment: dict[str, Any], fact: Fact) -> float:
    """How well a reaction says what its fans felt about the play: it names a player of the play,
    it is excited, cheers or groans, is upvoted, short enough to quote, and its author's team is known."""
    body = str(comment["body"])
    score = 2.0 if _names_a_player(body, fact) else 0.0
    score += _energy(body) + (polarity(body) != 0) + 0.5 * math.log1p(max(0, comment.get("score") or 0))
    score += 0.3 if comment.get("fan_team") else 0.0
    if not schema.quote_ok(body):
        score -= 3.0   # cannot be quoted
    if str(comment.get("parent_id") or "").startswith("t1_"):
        score -= 0.3   # a reply answers a comment, not the play
    return score


def window_candidates(facts: list[Fact], reactions: Reactions, audience: str | None = None,
                      max_candidates: int = MAX_CANDIDATES, max_shown: int = MAX_SHOWN,
                      audience_team: str | None = None, min_score: float = 0.0) -> list[Candidate]:
    """The window's candidate moments for one audience (None: all comments), the most telling first:
    at most `max_candidates`, each scoring `min_score` or more.

    How telling a play is does not depend on the audience: a moment is one for every fan base, so
    its reaction is counted over every thread of the game (`Reactions`); the comments, their
    count by team, the feeling and the quotes are the audience's own.
    """
    by_seq: dict[int, list[dict[str, Any]]] = defaultdict(list)
    wanted = {f.seq for f in facts}
    for c, o in zip(reactions.clock.comments, reactions.owner):
        if o in wanted and (audience is None or audience_of(c) == audience):
            by_seq[o].append(c)
    out = []
    for f in facts:
        mine = by_seq.get(f.seq, [])
        ratio = reactions.ratio.get(f.seq, 0.0)
        t, scale = reactions.clock.play_t[f.seq], reactions.clock.span_scale
        nearby = [r for r in reactions.clock.between(t - REACT_BEFORE_S * scale, t + REACT_AFTER_S * scale)
                  if audience is None or audience_of(r) == audience]
        c = Candidate(f, len(mine), ratio, dict(Counter(str(r.get("fan_team") or "?") for r in mine)), mine,
                      audience_team=audience_team, nearby=nearby)
        c.score = sport.importance(f) + REACTION_WEIGHT * math.log2(1.0 + ratio)
        seen: set[str] = set()
        for r in sorted(mine, key=lambda r: (-telling(r, f), r["created_utc"], r["comment_id"])):
            if len(c.shown) == max_shown:
                break
            if str(r["body"]) not in seen and says_something(r, f):   # bots and spam repeat themselves
                seen.add(str(r["body"]))
                c.shown.append(r)
        out.append(c)
    return sorted((c for c in out if c.score >= min_score), key=lambda c: (-c.score, c.fact.seq))[:max_candidates]

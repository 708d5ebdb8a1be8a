"""The plays a window's prompt shows: its candidate moments, each with how its fans reacted.

A moment is a play that changed the game and that fans reacted to, so each of a window's facts
(`facts.Fact`: scores, blocks, steals, period ends, late misses) gets, per audience (the comments
of one subreddit: the league's thread, or a team's own):

- `count`: the comments posted in the REACT_BEFORE_S..REACT_AFTER_S after the play (on the wall
  clock, less the game's reaction lag), and `ratio`: that against the audience's usual pace around
  the play (1 = an ordinary moment; a big play draws 5-20x);
- `by_team`: those comments by the team their author supports (flair, or the team's subreddit);
- `shown`: the few reactions that best say what the fans felt (never chatter that says nothing
  about the play), the only quotes the answer may use;
- `feeling`: how the audience's reacting fans voted (`fan_sentiment`): a fan whose team is known
  cheers their team's good play and groans at the other's; one whose team is not is read by a
  small lexicon. The answer's `fan_sentiment` for the play is that vote (the grammar fixes it).

The window shows its MAX_CANDIDATES facts with the highest `score` (what the play did to the game,
`sport.importance`, plus how much louder than usual its fans got), the highest first: a small
model picks the moments of a window far better from a list that leads with the likeliest ones
than from one in game order (where it learns to take the first line). Answers name their moments
in that order; a timeline puts them in game order. build_sft, the rule baseline, the evaluator and
the server all pick candidates here.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from fan_timeline import schema, sport
from fan_timeline.facts import Fact

REACT_BEFORE_S = 6.0       # after the lag, a reaction may land a little before its play (timing error)
REACT_AFTER_S = 24.0
PACE_SPAN_S = 1200.0       # the audience's usual pace: the median of the 20 minutes around the play
MAX_CANDIDATES = 4         # facts shown per window
MAX_SHOWN = 2              # reactions shown per fact
REACTION_WEIGHT = 1.5      # score = importance + REACTION_WEIGHT * log2(1 + ratio)
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
    """+1 (cheers), -1 (groans) or 0: by the author's team when it is known, else by lexicon."""
    if comment.get("fan_team") and for_team:
        return 1 if comment["fan_team"] == for_team else -1
    return polarity(str(comment["body"]))


def fan_sentiment(reactions: Iterable[dict[str, Any]], for_team: str | None) -> str:
    """How the fans who reacted to a play that was good for `for_team` felt: mixed with 30% on each
    side, else positive or negative with a majority and 40%, else neutral (also with no reaction)."""
    votes = [vote(c, for_team) for c in reactions]
    if not votes:
        return "neutral"
    pos, neg, total = sum(v > 0 for v in votes), sum(v < 0 for v in votes), len(votes)
    if pos / total >= 0.3 and neg / total >= 0.3:
        return "mixed"
    if pos > neg and pos / total >= 0.4:
        return "positive"
    if neg > pos and neg / total >= 0.4:
        return "negative"
    return "neutral"


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

    @property
    def feeling(self) -> str:
        """The audience's vote on this play (`fan_sentiment` over its reactions)."""
        return fan_sentiment(self.reactions, self.fact.for_team)

    @property
    def quotes(self) -> tuple[str, ...]:
        """The shown reactions the schema admits as a quote, verbatim."""
        return tuple(dict.fromkeys(str(c["body"]) for c in self.shown if schema.quote_ok(str(c["body"]))))


def _unix(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


class ReactionClock:
    """Comment reaction times of one audience on the same clock as the plays' times.

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
        self.times = [t for t, _ in pairs]
        self.comments = [comments[i] for _, i in pairs]
        # without wall times the clock stands still in dead balls: a game second holds more comments
        self.span_scale = 1.0 if self.on_wall else 0.45

    def between(self, lo: float, hi: float) -> list[dict[str, Any]]:
        return self.comments[bisect.bisect_left(self.times, lo):bisect.bisect_right(self.times, hi)]

    def pace(self, t: float, width: float) -> float:
        """Usual comments per `width` seconds around t: the median of the PACE_SPAN_S around it cut
        into `width`-long bins, so the bursts of nearby plays do not raise it (at least 0.5)."""
        bins = max(3, int(PACE_SPAN_S / width))
        lo = t - bins * width / 2
        edges = [bisect.bisect_left(self.times, lo + k * width) for k in range(bins + 1)]
        counts = sorted(b - a for a, b in zip(edges, edges[1:]))
        return max(0.5, float(counts[len(counts) // 2]))


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


def window_candidates(facts: list[Fact], clock: ReactionClock, max_candidates: int = MAX_CANDIDATES,
                      max_shown: int = MAX_SHOWN) -> list[Candidate]:
    """The window's candidate moments for one audience, the most telling first (see the module docstring)."""
    span = (REACT_BEFORE_S + REACT_AFTER_S) * clock.span_scale
    out = []
    for f in facts:
        t = clock.play_t[f.seq]
        reactions = clock.between(t - REACT_BEFORE_S * clock.span_scale, t + REACT_AFTER_S * clock.span_scale)
        ratio = len(reactions) / clock.pace(t, span)
        c = Candidate(f, len(reactions), ratio, dict(Counter(str(r.get("fan_team") or "?") for r in reactions)),
                      reactions)
        c.score = sport.importance(f) + REACTION_WEIGHT * math.log2(1.0 + ratio)
        seen: set[str] = set()
        for r in sorted(reactions, key=lambda r: (-telling(r, f), r["created_utc"], r["comment_id"])):
            if len(c.shown) == max_shown:
                break
            if str(r["body"]) not in seen and says_something(r, f):   # bots and spam repeat themselves
                seen.add(str(r["body"]))
                c.shown.append(r)
        out.append(c)
    return sorted(out, key=lambda c: (-c.score, c.fact.seq))[:max_candidates]

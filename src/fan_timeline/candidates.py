"""The plays a window's prompt shows: its candidate moments, each with what its fans said and how much.

Real game threads react weakly: a play that mattered lifts the thread's comment rate only 1.2-2x,
the loudest minutes follow stoppages (people write while they wait), and most comments are about
the game in general. What does stand out is what fans say: in the minute after a moment more of
them name its player ("OKAFOR"), say what happened ("BLOCK", "from three") and shout (caps, "!!!").
So every fact of a game (`facts.Fact`: scores, blocks, steals, period ends, late misses) gets its
`Evidence`, counted over every thread of the game (a moment is one for every fan base) in its
reaction span on the lag-corrected clock (SPAN_S), each against what the thread's own pace would
bring there anyway:

- `comments` against `usual`: how much (the volume; a stoppage inflates it as much as a moment);
- `named` against `usual_named`: comments naming its player, against that name's own pace in the
  minutes around (chatter names the players on the floor all the time);
- `said`: comments with the words of what happened ("block", "three", "dunk"), rare otherwise;
- `excited` against `usual_excited`: comments in capitals or with "!".

Its `score` (`evidence_score`: what the play did to the game, `sport.importance`, plus what the fans
said and how much, with weights fit on the train games' facts) orders the window's candidates,
the most telling first, and sets the `heat` the prompt shows. Every comment is also put to the play
it speaks of, or to none (`Reactions.owner`): by the names and words it uses, within a reach that
allows for a feed that logged the play late, else, for a shouted comment that names nothing, by
when it came; plain chatter belongs to no play, so a break after a play does not hand its talk to
that play. A candidate's `reactions` are its audience's comments of that play: its
quotes (`shown`) and its fans' vote (`feeling`).

build_sft, the rule baseline, the evaluator and the server all pick candidates here.
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
from fan_timeline.align import name_words
from fan_timeline.facts import Fact

SPAN_S = (-15.0, 45.0)     # a play's reaction span, from its (lag-corrected) time: typing, and the feed's logging
NAMED_REACH_S = (-60.0, 75.0)   # a comment naming a play's player is its own this far off (a feed logged late)
PACE_SPAN_S = 480.0        # the thread's usual pace: the median of the 8 minutes around the play ...
PACE_BIN_S = 30.0          # ... in bins this long
AROUND_S = (300.0, 420.0)  # a name's or a style's own pace: its comments in the minutes around the play
MAX_CANDIDATES = 3         # facts shown per window (build_sft.max_candidates)
MAX_SHOWN = 2              # reactions shown per fact
MIXED_SHARE = 0.3          # a play's vote is mixed when this share or more of it is on each side
NO_SUBREDDIT = "comments"  # the audience of comments whose file names no subreddit

# evidence_score = importance + sum of WEIGHTS[k] * feature k (`Evidence.features`): a logistic regression
# on the train games' facts (gold moment or not), scaled to importance's weight and rounded; a louder
# play never scores lower (volume's fit is negative: stoppages are loud), and a name adds nothing the
# words and the shouting do not (chatter names the players on the floor all the time).
# `python benchmarks/candidate_signal.py` refits them and scores every signal on val and stress.
WEIGHTS = {"volume": 0.0, "named": 0.0, "said": 0.45, "excited": 0.8}

# The words of what happened, by the kind of play (a fan says "block" after a block).
PLAY_WORDS = {
    "three": ("three", "3pt", "from deep", "downtown", "splash"), "dunk": ("dunk", "poster", "slam", "hammer"),
    "block": ("block", "swat", "rejected"), "steal": ("steal", "pick"), "two": ("and one", "and-one", "bucket"),
    "free_throw": ("free throw", "from the line", "ft"), "miss": ("miss", "brick", "off the rim"),
    "miss_three": ("miss", "brick", "airball"), "miss_free_throw": ("miss", "brick"),
    "turnover": ("turnover", "pass", "travel"), "period_end": ("quarter", "half"),
    "overtime": ("overtime", "ot"), "final": ("win", "game", "final"),
}

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def says_words(words: set[str], lower: str, phrases: Iterable[str]) -> bool:
    """Whether a comment (its word set and lower-case text) says one of `phrases`: a single word as
    a whole word ("ft" is not in "left"), a phrase of several as it is."""
    return any((p in lower) if " " in p else (p in words) for p in phrases)

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


def energy(body: str) -> float:
    """How loud a comment is: 1 in capitals, 0.5 more with an exclamation mark."""
    letters = [ch for ch in body if ch.isalpha()]
    caps = len(letters) >= 4 and sum(ch.isupper() for ch in letters) / len(letters) > 0.6
    return 1.0 * caps + 0.5 * ("!" in body)


def vote(comment: dict[str, Any], for_team: str | None) -> int:
    """+1 (cheers), -1 (groans) or 0 on a play that was good for `for_team`: by the author's team
    when it is known; else by the lexicon, and an excited reaction the lexicon cannot read ("WHAT
    A PLAY", "OH MY GOD") cheers (fans with no side are there for the show)."""
    if comment.get("fan_team") and for_team:
        return 1 if comment["fan_team"] == for_team else -1
    body = str(comment["body"])
    return polarity(body) or (1 if energy(body) > 0 else 0)


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
    if pos >= MIXED_SHARE and neg >= MIXED_SHARE:
        return "mixed"
    return "positive" if pos > neg else "negative"


def audience_of(comment: dict[str, Any]) -> str:
    """"r/nba", "r/clevelandcavs": the subreddit a comment was posted in (its audience)."""
    sub = comment.get("subreddit")
    return f"r/{sub}" if sub else NO_SUBREDDIT


@dataclass(frozen=True)
class Evidence:
    """What a play's fans said and how much, over every thread of the game (see the module docstring)."""

    comments: int = 0
    usual: float = 0.0
    named: int = 0
    usual_named: float = 0.0
    said: int = 0
    excited: int = 0
    usual_excited: float = 0.0

    @property
    def lift(self) -> float:
        """The comments in the reaction span against what the thread's usual pace brings there."""
        return self.comments / max(self.usual, 0.5)

    def features(self) -> dict[str, float]:
        """The fans' side of `evidence_score`, each a log2 lift (0 = as usual)."""
        return {"volume": math.log2(1.0 + max(0.0, self.lift - 1.0)),
                "named": math.log2((self.named + 1.0) / (self.usual_named + 1.0)),
                "said": math.log2(1.0 + self.said),
                "excited": math.log2((self.excited + 1.0) / (self.usual_excited + 1.0))}


def evidence_score(fact: Fact, ev: Evidence) -> float:
    """How telling a play is: what it did to the game plus what its fans said and how much (WEIGHTS)."""
    return sport.importance(fact) + sum(WEIGHTS[k] * v for k, v in ev.features().items())


@dataclass
class Candidate:
    fact: Fact
    evidence: Evidence = field(default_factory=Evidence)
    count: int = 0                       # the audience's comments of this play
    by_team: dict[str, int] = field(default_factory=dict)   # tricode (or "?") -> those comments
    reactions: list[dict[str, Any]] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)
    score: float = 0.0
    audience_team: str | None = None     # the team whose own subreddit the audience is (None: a league thread)

    @property
    def feeling(self) -> str:
        """The audience's vote on this play (`fan_sentiment`) over its reactions that name it or say
        what it was; neutral when none does (a shout that names nothing may be about anything, and
        an audience that never spoke of a play felt nothing in particular about it: on the val games
        this took the rule's sentiment macro-F1 from 0.82 to 0.90)."""
        specific = [c for c in self.reactions if speaks_of(c, self.fact)]
        return fan_sentiment(specific, self.fact.for_team, self.audience_team) if specific else "neutral"

    @property
    def quotes(self) -> tuple[str, ...]:
        """The shown reactions the schema admits as a quote, verbatim."""
        return tuple(dict.fromkeys(str(c["body"]) for c in self.shown if schema.quote_ok(str(c["body"]))))


def _unix(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


class ReactionClock:
    """Comment reaction times on the same clock as the plays' times, and what each comment says.

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
        self.words = [set(_WORD.findall(str(c["body"]).lower())) for c in self.comments]
        self.lower = [str(c["body"]).lower() for c in self.comments]
        self.excited = np.array([energy(str(c["body"])) > 0 for c in self.comments], dtype=bool)
        # without wall times the clock stands still in dead balls: a game second holds more comments
        self.span_scale = 1.0 if self.on_wall else 0.45

    def between(self, lo: float, hi: float) -> tuple[int, int]:
        return int(np.searchsorted(self.times, lo, "left")), int(np.searchsorted(self.times, hi, "right"))

    def pace(self, t: float) -> float:
        """Usual comments per PACE_BIN_S around t: the median bin of the PACE_SPAN_S around it, so the
        bursts of nearby plays do not raise it (at least 0.5)."""
        width = PACE_BIN_S * self.span_scale
        bins = max(3, int(PACE_SPAN_S * self.span_scale / width))
        edges = np.searchsorted(self.times, t - bins * width / 2 + width * np.arange(bins + 1))
        return max(0.5, float(np.median(np.diff(edges))))


def _kernel(d: float, scale: float) -> float:
    """How likely a reaction lands d seconds after its play (lag-corrected): rising over the 15 s
    before it (the feed's logging), peaking 8 s after (typing), trailing off by 45 s."""
    lo, peak, hi = SPAN_S[0] * scale, 8.0 * scale, SPAN_S[1] * scale
    if d <= lo or d >= hi:
        return 0.0
    return (d - lo) / (peak - lo) if d <= peak else (hi - d) / (hi - peak)


class Reactions:
    """Every fact's `Evidence`, and every comment put to the play it speaks of, or to none.

    A comment that names a player of a play (or says what it was: "block", "three") within
    NAMED_REACH_S belongs to that play, the nearest such by `_kernel` when several do. One that
    names nothing but shouts ("OH MY GOD", "LETS GOOO!!") belongs to the play within SPAN_S it most
    likely follows: `_kernel` times how much the play mattered (`sport.importance`: the dunk, not
    its and-one free throw). Anything else is chatter (`owner` None): "come on defense", "refs are
    awful" in a timeout are about the game, not the play before it.
    """

    def __init__(self, clock: ReactionClock, facts: dict[int, Fact]):
        self.clock = clock
        scale = clock.span_scale
        seqs = sorted(facts, key=lambda s: (clock.play_t[s], s))
        t = np.array([clock.play_t[s] for s in seqs], dtype=float)
        names = [set().union(*(name_words(n) for n in facts[s].names)) if facts[s].names else set() for s in seqs]
        words = [PLAY_WORDS.get(facts[s].kind, ()) for s in seqs]
        prior = [sport.importance(facts[s]) for s in seqs]
        self.owner: list[int | None] = [None] * len(clock.times)
        self.evidence: dict[int, Evidence] = {}
        by_name: dict[str, list[int]] = defaultdict(list)
        for j, ws in enumerate(clock.words):
            for w in ws:
                by_name[w].append(j)
        if len(t):
            self._attribute(t, names, words, prior, seqs)
        owned: dict[int, list[int]] = defaultdict(list)
        for j, o in enumerate(self.owner):
            if o is not None:
                owned[o].append(j)
        span = (SPAN_S[1] - SPAN_S[0]) * scale
        around = sum(AROUND_S) * scale
        for k, s in enumerate(seqs):
            a, b = clock.between(t[k] + SPAN_S[0] * scale, t[k] + SPAN_S[1] * scale)
            ra, rb = clock.between(t[k] - AROUND_S[0] * scale, t[k] + AROUND_S[1] * scale)
            usual = clock.pace(t[k]) * span / (PACE_BIN_S * scale)
            mine = owned.get(s, [])
            # a name's and a style's own pace: the minutes around the play, its reaction span left out
            outside = [j for j in range(ra, rb) if not a <= j < b]
            per_span = span / max(around - span, 1.0)
            near_named = sum(1 for j in outside if clock.words[j] & names[k]) if names[k] else 0
            excited_share = float(clock.excited[outside].mean()) if outside else 0.0
            self.evidence[s] = Evidence(
                b - a, usual, sum(1 for j in mine if clock.words[j] & names[k]), near_named * per_span,
                sum(1 for j in mine if says_words(clock.words[j], clock.lower[j], words[k])),
                sum(1 for j in mine if clock.excited[j]), excited_share * usual)

    def _attribute(self, t: np.ndarray, names: list[set[str]], words: list[tuple[str, ...]], prior: list[float],
                   seqs: list[int]) -> None:
        """`owner` of every comment (see the class docstring)."""
        clock, scale = self.clock, self.clock.span_scale
        for j, tj in enumerate(clock.times):
            lo = int(np.searchsorted(t, tj - NAMED_REACH_S[1] * scale, "left"))
            hi = int(np.searchsorted(t, tj - NAMED_REACH_S[0] * scale, "right"))
            best, best_w = None, 0.0
            for k in range(lo, hi):     # a comment that names the play, or says what it was
                if clock.words[j] & names[k] or says_words(clock.words[j], clock.lower[j], words[k]):
                    d = tj - t[k]
                    w = max(_kernel(d, scale), 0.05) / (1.0 + abs(d) / 60.0)
                    if w > best_w:
                        best, best_w = k, w
            if best is None and clock.excited[j]:
                for k in range(lo, hi):
                    w = _kernel(tj - t[k], scale) * prior[k]
                    if w > best_w:
                        best, best_w = k, w
            if best is not None:
                self.owner[j] = seqs[best]

    def of(self, seq: int, audience: str | None = None) -> list[dict[str, Any]]:
        """The comments that react to play `seq` (of one audience, or all), in clock order."""
        return [c for c, o in zip(self.clock.comments, self.owner)
                if o == seq and (audience is None or audience_of(c) == audience)]


def _names_a_player(body: str, fact: Fact) -> bool:
    words = {w.lower() for w in _WORD.findall(body.lower())}
    return bool(words & {n.lower() for name in fact.names for n in name.replace("-", " ").split()})


def speaks_of(comment: dict[str, Any], fact: Fact) -> bool:
    """Whether a comment names one of the play's players or says what it was ("block", "three")."""
    low = str(comment["body"]).lower()
    return _names_a_player(low, fact) or says_words(set(_WORD.findall(low)), low, PLAY_WORDS.get(fact.kind, ()))


# A typed score "101-99" (not "3-pt", a time, a date, a run, a series or a record): the numbers and
# what follows them.
_SCORE_CLAIM = re.compile(r"(?<![\d.:/$#-])(\d{1,3}) ?[-–] ?(\d{1,3})(?![\d.:/%-])(?! ?(?:run|in the series|series))",
                          re.IGNORECASE)
_TRICODE = re.compile(r"\b([A-Z]{3})\b")
_TEAM_CLAIM = re.compile(r"\b([A-Z]{3}) (?:leads?|(?:is |are )?up|wins?|won|beats?|ahead)\b")


def contradicts(body: str, fact: Fact, game_teams: Iterable[str]) -> bool:
    """Whether a comment states a score or a team that the game says is false, at this play: a
    score (20 points or more in all: series talk and early scores are not read) more than
    `sport.SCORE_SLACK` points off the score after the play on either side, either way round, or a
    league team that is not playing said to lead or win ("CLE leads 200-0" under a MIL dunk).
    Such a comment is never shown under the play nor quoted: a quote sits under a true event."""
    teams = set(game_teams)
    for a, b in ((int(x), int(y)) for x, y in _SCORE_CLAIM.findall(body)):
        if a + b >= 20 and min(max(abs(a - fact.score_home), abs(b - fact.score_away)),
                               max(abs(a - fact.score_away), abs(b - fact.score_home))) > sport.SCORE_SLACK:
            return True
    claimed = set(_TEAM_CLAIM.findall(body))
    if _SCORE_CLAIM.search(body):
        claimed |= set(_TRICODE.findall(body))
    return any(t in sport.LEAGUE_TEAMS and t not in teams for t in claimed)


def says_something(comment: dict[str, Any], fact: Fact) -> bool:
    """Whether a reaction says anything about a play: it names one of its players, is excited, or
    cheers or groans. Chatter ("anyone got a stream?", "real") is never shown or quoted."""
    body = str(comment["body"])
    return _names_a_player(body, fact) or energy(body) > 0 or polarity(body) != 0


def telling(comment: dict[str, Any], fact: Fact) -> float:
    """How well a reaction says what its fans felt about the play: it names a player of the play or
    says what happened, it is excited, cheers or groans, is upvoted, short enough to quote, and its
    author's team is known."""
    body = str(comment["body"])
    low = body.lower()
    score = 2.0 if _names_a_player(body, fact) else 0.0
    score += 1.0 if says_words(set(_WORD.findall(low)), low, PLAY_WORDS.get(fact.kind, ())) else 0.0
    score += energy(body) + (polarity(body) != 0) + 0.5 * math.log1p(max(0, comment.get("score") or 0))
    score += 0.3 if comment.get("fan_team") else 0.0
    if not schema.quote_ok(body):
        score -= 3.0   # cannot be quoted
    if str(comment.get("parent_id") or "").startswith("t1_"):
        score -= 0.3   # a reply answers a comment, not the play
    return score


def window_candidates(facts: list[Fact], reactions: Reactions, audience: str | None = None,
                      max_candidates: int = MAX_CANDIDATES, max_shown: int = MAX_SHOWN,
                      audience_team: str | None = None, min_score: float = 0.0,
                      game_teams: tuple[str, ...] = ()) -> list[Candidate]:
    """The window's candidate moments for one audience (None: all comments), the most telling first:
    at most `max_candidates`, each scoring `min_score` or more. A reaction that `contradicts` the
    game (`game_teams`: its two tricodes) is never shown.

    How telling a play is does not depend on the audience: a moment is one for every fan base, so
    its evidence is counted over every thread of the game; the comments, their count by team, the
    feeling and the quotes are the audience's own.
    """
    by_seq: dict[int, list[dict[str, Any]]] = defaultdict(list)
    wanted = {f.seq for f in facts}
    for c, o in zip(reactions.clock.comments, reactions.owner):
        if o in wanted and (audience is None or audience_of(c) == audience):
            by_seq[o].append(c)
    out = []
    for f in facts:
        mine = by_seq.get(f.seq, [])
        ev = reactions.evidence.get(f.seq, Evidence())
        c = Candidate(f, ev, len(mine), dict(Counter(str(r.get("fan_team") or "?") for r in mine)), mine,
                      score=evidence_score(f, ev), audience_team=audience_team)
        seen: set[str] = set()
        for r in sorted(mine, key=lambda r: (-telling(r, f), r["created_utc"], r["comment_id"])):
            if len(c.shown) == max_shown:
                break
            body = str(r["body"])   # each body once: bots and spam repeat themselves
            if body not in seen and says_something(r, f) and not contradicts(body, f, game_teams):
                seen.add(body)
                c.shown.append(r)
        out.append(c)
    return sorted((c for c in out if c.score >= min_score), key=lambda c: (-c.score, c.fact.seq))[:max_candidates]

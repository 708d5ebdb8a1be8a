"""The generator's gold timeline: which plays mattered to the fans, and how each fan base felt.

How much a play excited its fans is latent (`draw_latent`): what it did to the game (`mattered`),
times how spectacular it looked and whether a star did it, plus the plays fans argue about (a
block that looked like a foul). The feed shows only the first part, and not in these terms; the
fans reveal the whole (`fans.ThreadWriter.react`: more comments, and words that name the play),
weakly and noisily, as real threads do. The gold moments are the most exciting plays, at most 3
in any 180 s of ordinary game clock and at most 3 in any 45 s of crunch time (the last three
minutes of the fourth quarter and of every overtime), where a close game's moments crowd.

Nothing in the pipeline reads these draws: it sees the feed and the comments, as it would for a
real game whose annotator remembered the moments.

Each gold entry carries, besides the schema's fields, the play it is about (`play`: the source's
event id) and, per audience (a subreddit: "r/nba", "r/HarborHerons"), that audience's feeling and a
quote of theirs, read off the stances of its reactions to the play.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from fan_timeline import schema, sport
from fan_timeline.facts import Fact
from fan_timeline.simulate.fans import STANCE_FEELING, Latent
from fan_timeline.simulate.threads import Comment

GOLD_SCORE = 3.0          # a play whose excitement reaches this is a moment (before the spacing rules)...
MIN_MOMENTS = 10          # ... but every game has at least this many, however dull (fans still pick its best)
MAX_MOMENTS = 24          # ... and at most this many, however wild
MAX_PER_SPAN = 3          # gold moments in any SPAN_S of ordinary game clock ...
SPAN_S = 180.0
CRUNCH_S = 180.0          # ... and in any CRUNCH_SPAN_S of the last CRUNCH_S of the 4th quarter and overtimes
CRUNCH_SPAN_S = 45.0
MIN_GAP_S = 3.0           # game seconds between two gold moments
ARGUED_P = {"block": 0.2, "steal": 0.06, "two": 0.04, "dunk": 0.06, "free_throw": 0.05}   # plays fans argue about
ARGUED_BONUS = 1.4
STAR_FACTOR = 1.35        # a play by one of a team's two top scorers of the game


def mattered(f: Fact) -> float:
    """What a play did to the game, for a fan: late, close, lead-changing plays matter most, and a
    lead change in the first minutes matters less than one in the fourth quarter."""
    base = {"three": 1.0, "dunk": 1.4, "two": 0.6, "free_throw": 0.35, "block": 1.2, "steal": 0.9,
            "turnover": 0.8, "miss_three": 1.3, "miss": 1.1, "miss_free_throw": 0.9, "period_end": 0.5,
            "overtime": 7.0, "final": 8.0}[f.kind]
    stage = {1: 0.75, 2: 0.85, 3: 0.95}.get(f.period, 1.1)     # the game's stakes rise as it goes
    mult = stage * (1.8 if f.late else 1.0) * (1.4 if f.margin <= 5 else 0.45 if f.margin >= 20 else 1.0)
    bonus = 0.0
    if f.lead_change:
        bonus += 2.5 if f.late else 0.5 + 0.35 * min(f.period, sport.REGULATION_PERIODS)
    if f.ties:
        bonus += 2.0 if f.late else 0.3 + 0.3 * min(f.period, sport.REGULATION_PERIODS)
    bonus += 0.15 * f.ended_run + (0.1 * f.run if f.run >= 10 else 0.0)
    if f.buzzer:
        bonus += 3.0 if f.period >= sport.REGULATION_PERIODS else 2.0
    return base * mult + bonus


def stars(plays: list[dict[str, Any]]) -> set[str]:
    """The two top scorers of each team over the game (the players fans came to see)."""
    points: dict[str, Counter] = {}
    for p in plays:
        if p.get("player") and p.get("team") and int(p.get("points") or 0):
            points.setdefault(str(p["team"]), Counter())[str(p["player"])] += int(p["points"])
    return {name for c in points.values() for name, _ in c.most_common(2)}


def draw_excitement(rng: random.Random, facts: dict[int, Fact], plays: list[dict[str, Any]]) -> tuple[
        dict[int, float], set[int]]:
    """(seq -> how much each play excited its fans, the seqs of the plays they argue about): what it
    did to the game, times its spectacle (lognormal around 1, wider for dunks and blocks) and the
    star factor, plus ARGUED_BONUS for an argued play."""
    star_names = {name for name in stars(plays)}
    actor_of = {int(p["seq"]): str(p.get("player") or "") for p in plays}
    score, argued = {}, set()
    for seq, f in sorted(facts.items()):
        spread = 0.6 if f.kind in ("dunk", "block") else 0.5
        value = mattered(f) * rng.lognormvariate(0.0, spread)
        if actor_of.get(seq) in star_names and f.kind in sport.SCORING_KINDS | {"block", "steal"}:
            value *= STAR_FACTOR
        if rng.random() < ARGUED_P.get(f.kind, 0.0):
            argued.add(seq)
            value += ARGUED_BONUS
        score[seq] = round(value, 3)
    return score, argued


def _crunch(f: Fact) -> bool:
    return f.period >= sport.REGULATION_PERIODS and f.game_s >= sport.game_seconds(f.period, CRUNCH_S)


def _fits(chosen: list[Fact], f: Fact) -> bool:
    """Whether one more moment f keeps every span of its kind (ordinary or crunch) within MAX_PER_SPAN."""
    crunch = _crunch(f)
    span = CRUNCH_SPAN_S if crunch else SPAN_S
    ts = sorted([c.game_s for c in chosen if _crunch(c) == crunch] + [f.game_s])
    return all(sum(1 for u in ts if lo <= u < lo + span) <= MAX_PER_SPAN for lo in ts)


def select_gold(facts: dict[int, Fact], scores: dict[int, float]) -> list[int]:
    """The seqs of the gold moments, in game order: the final, then the highest scores, each at
    least MIN_GAP_S from the others and within the span limits, as many as score GOLD_SCORE but
    MIN_MOMENTS..MAX_MOMENTS."""
    budget = min(MAX_MOMENTS, max(MIN_MOMENTS, sum(s >= GOLD_SCORE for s in scores.values())))
    chosen: list[Fact] = []
    for f in sorted(facts.values(), key=lambda f: (f.kind != "final", -scores[f.seq], f.seq)):
        if len(chosen) == budget:
            break
        if all(abs(f.game_s - c.game_s) >= MIN_GAP_S for c in chosen) and _fits(chosen, f):
            chosen.append(f)
    return sorted(f.seq for f in chosen)


def latent(scores: dict[int, float], gold: list[int], argued: set[int]) -> dict[int, Latent]:
    """seq -> what a play did to its fans against the game's least gold moment (1 = just a moment):
    fans react to how a play stands out in its own game, so a blowout's best dunk still draws some."""
    floor = min((scores[s] for s in gold if scores[s] > 0), default=1.0)
    return {seq: Latent(score / floor, seq in argued) for seq, score in scores.items()}


def feeling(reactions: list[Comment]) -> str:
    """The feeling of an audience's reactions to a play, from their stances: positive or negative
    when half of them and more than the other side are, mixed when both sides are 30%+."""
    if not reactions:
        return "neutral"
    pos = sum(STANCE_FEELING[c.stance] == "positive" for c in reactions) / len(reactions)
    neg = sum(STANCE_FEELING[c.stance] == "negative" for c in reactions) / len(reactions)
    if pos >= 0.3 and neg >= 0.3:
        return "mixed"
    if pos > neg and pos >= 0.5:
        return "positive"
    if neg > pos and neg >= 0.5:
        return "negative"
    return "neutral"


def quote(rng: random.Random, reactions: list[Comment], sentiment: str, actor: str) -> str | None:
    """A reaction that says the feeling, preferring one naming the player, then upvoted ones."""
    wanted = {"positive": ("positive",), "negative": ("negative",), "mixed": ("positive", "negative"),
              "neutral": ("neutral", "positive", "negative")}[sentiment]
    cands = [c for c in reactions if STANCE_FEELING[c.stance] in wanted and schema.quote_ok(c.body)]
    if not cands:
        return None
    key = actor.lower()
    cands.sort(key=lambda c: (bool(key) and key in c.body.lower(), c.score, c.id), reverse=True)
    return rng.choice(cands[:3]).body


def audience(subreddit: str) -> str:
    return f"r/{subreddit}"


def gold_doc(rng: random.Random, game_id: str, facts: dict[int, Fact], gold: list[int],
             comments: list[Comment]) -> dict[str, Any]:
    """gold.json: the moments, each with the feeling and a quote of all the game's comments and of
    each audience."""
    visible = [c for c in comments if c.play is not None and not c.hidden and c.author != "[deleted]"]
    by_play: dict[int, list[Comment]] = {}
    for c in visible:
        by_play.setdefault(c.play, []).append(c)
    subs = sorted({c.subreddit for c in comments if c.kind != "bot"})
    items = []
    for seq in gold:
        f = facts[seq]
        reacts = by_play.get(seq, [])
        sentiment = feeling(reacts)
        item: dict[str, Any] = {"ts": f.clock, "event": f.text, "fan_sentiment": sentiment}
        q = quote(rng, reacts, sentiment, f.actor)
        if q:
            item["quote"] = q
        item["play"] = f.source_id
        per: dict[str, Any] = {}
        for sub in subs:
            mine = [c for c in reacts if c.subreddit == sub]
            s = feeling(mine)
            entry: dict[str, Any] = {"fan_sentiment": s}
            q = quote(rng, mine, s, f.actor)
            if q:
                entry["quote"] = q
            per[audience(sub)] = entry
        item["audiences"] = per
        items.append(item)
    return {"game_id": game_id, "annotator": "simulate", "timeline": items}

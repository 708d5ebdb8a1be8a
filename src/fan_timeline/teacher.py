"""The deterministic teacher labeller: timeline labels for games without a gold file.

Key moments come from rules over the play-by-play (lead changes, late ties, runs, clutch and
buzzer-beating scores, blocks, steals, dunks, period ends), weighted and boosted by how many fans
reacted; sentiment comes from the aligned reaction comments, team-aware (a fan's groan at the
other team's dunk is negative, a cheer for their own team's positive; `mixed` when both sides
react in comparable numbers); the quote is a reaction comment copied verbatim from the prompt.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema
from fan_timeline.prompt import surname
from fan_timeline.windows import Window

MIN_WEIGHT = 5.0          # a candidate below this (rules + reaction volume) is not a moment
REACTION_WEIGHT = 0.4     # weight per reaction comment, up to MAX_REACTIONS of them
MAX_REACTIONS = 12
REACTION_BEFORE_S = 8.0   # aligned reactions may land a little before the play (lag error)
REACTION_AFTER_S = 30.0
RUN_POINTS = 8            # unanswered points that make a run

POSITIVE = ("let's go", "lets go", "yes", "what a", "clutch", "beautiful", "huge", "wow", "nasty", "cold",
            "goat", "love", "insane", "hell yeah", "money", "cash", "swat", "get in", "mvp", "baby",
            "🔥", "🚀", "💪", "🙌", "😤", "🐐", "♥", "❤")
NEGATIVE = ("ugh", "trash", "terrible", "awful", "refs", "ref ", "rigged", "choke", "brick", "come on",
            "wtf", "fml", "kill me", "of course", "again", "pathetic", "embarrassing", "soft", "horrible",
            "garbage", "can't", "cant ", "no way", "bs", "💀", "🤡", "😭", "🤦", "😡", "🙄")


def polarity(body: str) -> int:
    """+1, -1 or 0 from a small lexicon (sarcasm markers like "great defense as always" are negative)."""
    low = body.lower()
    if "as always" in low or "/s" in low:
        return -1
    pos = sum(w in low for w in POSITIVE)
    neg = sum(w in low for w in NEGATIVE)
    return (pos > neg) - (neg > pos)


def _excited(body: str) -> bool:
    letters = [ch for ch in body if ch.isalpha()]
    caps = len(letters) >= 4 and sum(ch.isupper() for ch in letters) / len(letters) > 0.6
    return caps or "!!" in body


def fan_sentiment(reactions: list[dict[str, Any]], acting_team: str | None) -> str:
    """How the fans reacted to a play by `acting_team`: team-aware votes.

    A fan with team flair votes by side: their own team's play is +1, the other team's -1 (a
    home fan does not enjoy the visitors' dunk, whatever words they use). A comment without team
    flair votes by lexicon polarity (sarcasm such as "great defense as always" is negative).
    positive/negative need 40% of all reactions and a majority, mixed needs 30% on each side.
    """
    pos = neg = 0
    for c in reactions:
        if c.get("flair_team") and acting_team:
            p = 1 if c["flair_team"] == acting_team else -1
        else:
            p = polarity(str(c["body"]))
        pos += p > 0
        neg += p < 0
    total = len(reactions)
    if total == 0:
        return "neutral"
    if pos / total >= 0.3 and neg / total >= 0.3:
        return "mixed"
    if pos > neg and pos / total >= 0.4:
        return "positive"
    if neg > pos and neg / total >= 0.4:
        return "negative"
    return "neutral"


# Letters that Unicode decomposition does not reduce to ASCII.
_ASCII_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "ß": "ss",
                                "Æ": "AE", "æ": "ae", "Þ": "Th", "þ": "th", "ı": "i", "Œ": "OE", "œ": "oe"})


def ascii_text(text: str, limit: int) -> str:
    """Printable ASCII (the schema's event alphabet), at most `limit` characters."""
    flat = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS)).encode("ascii", "ignore").decode()
    flat = re.sub(r"[^ -~]", "", flat)
    return flat[:limit].rstrip()


def score_phrase(play: dict[str, Any], home: str, away: str) -> str:
    """"tied 99-99" or "<leader> lead 101-99"; `home`/`away` are how the event names the teams."""
    h, a = play["score_home"], play["score_away"]
    if h == a:
        return f"tied {h}-{a}"
    return f"{home} lead {h}-{a}" if h > a else f"{away} lead {a}-{h}"


@dataclass
class Candidate:
    play: dict[str, Any]
    weight: float
    kinds: list[str]
    team: str | None = None     # the team whose moment it is (the blocker's team for a blocked miss)


def annotate_game(plays: list[dict[str, Any]]) -> dict[int, Candidate]:
    """Rule-based importance of every play of a game, keyed by seq (game context: runs span windows)."""
    out: dict[int, Candidate] = {}
    teams = sorted({p["team"] for p in plays if p.get("team")})
    leader = 0           # sign of home - away before the play
    run_team, run_pts = None, 0
    for p in sorted(plays, key=lambda p: p["seq"]):
        kinds, w = [], 0.0
        late = p["period"] >= 4 and p["clock_s"] <= 300
        margin = p["score_home"] - p["score_away"]
        if p["points"]:
            sign = (margin > 0) - (margin < 0)
            if sign and leader and sign != leader:
                kinds.append("lead_change")
                w += 3.0 if p["period"] >= 4 else 2.0
            if sign == 0 and late:
                kinds.append("late_tie")
                w += 2.5
            if p["team"] == run_team:
                run_pts += p["points"]
            else:
                run_team, run_pts = p["team"], p["points"]
            if run_pts >= RUN_POINTS and run_pts - p["points"] < RUN_POINTS:
                kinds.append("run")
                w += 2.5
            if p["event_type"] == "made_shot":
                if p["period"] >= 4 and p["clock_s"] <= 120 and abs(margin) <= 5:
                    kinds.append("clutch")
                    w += 3.0
                if p["clock_s"] <= 2:
                    kinds.append("buzzer")
                    w += 3.0
                if p["points"] == 3:
                    w += 0.5
                if "dunk" in str(p["text"]).lower():
                    kinds.append("dunk")
                    w += 1.2
            if sign:
                leader = sign
        if p["event_type"] in ("block", "steal"):
            kinds.append(p["event_type"])
            w += 1.0
        elif p.get("player2") and p["event_type"] in ("missed_shot", "turnover"):
            # V2 and ESPN carry a block or steal only as the second player of the miss/turnover
            kinds.append("block" if p["event_type"] == "missed_shot" else "steal")
            w += 1.0
        if p["event_type"] == "period_end":
            kinds.append("period_end")
            w += 1.5 + (1.0 if abs(margin) <= 3 else 0.0) + (1.0 if p["period"] >= 4 else 0.0)
        if kinds:
            team = p["team"]
            if p["event_type"] in ("missed_shot", "turnover") and p.get("player2"):
                team = next((t for t in teams if t != p["team"]), None)
            out[p["seq"]] = Candidate(p, w, kinds, team)
    return out


def reactions(comments: list[dict[str, Any]], game_s: float) -> list[dict[str, Any]]:
    return [c for c in comments if game_s - REACTION_BEFORE_S <= c["game_s"] <= game_s + REACTION_AFTER_S]


def et_second_player_acts(play: dict[str, Any]) -> bool:
    """A miss or turnover row whose second player is the blocker or stealer (V2, ESPN)."""
    return play["event_type"] in ("missed_shot", "turnover") and bool(play.get("player2"))


def event_text(c: Candidate, home: str, away: str) -> str:
    p = c.play
    who, other = surname(p.get("player")), surname(p.get("player2"))
    if et_second_player_acts(p):
        who, other = other, who
    score = score_phrase(p, home, away)
    et = p["event_type"]
    if et == "period_end":
        text = f"End of {p['clock'].split()[0]}, {score}"
    elif et == "block" or "block" in c.kinds and et == "missed_shot":
        text = f"{who} blocks {other}, {score}" if other else f"{who} with the block, {score}"
    elif et == "steal" or "steal" in c.kinds and et == "turnover":
        text = f"{who} steals it from {other}" if other else f"{who} with the steal"
    elif et == "made_shot":
        verb = "dunks" if "dunk" in c.kinds else ("hits a three" if p["points"] == 3 else "scores")
        if "buzzer" in c.kinds:
            verb += " at the buzzer"
        text = f"{who} {verb}, {score}"
        if "run" in c.kinds:
            text += ", capping a run"
    elif et == "free_throw_made":
        text = f"{who} makes a free throw, {score}"
    else:
        text = f"{who} {et.replace('_', ' ')}, {score}"
    text = ascii_text(text, 72)
    return text if len(text) >= 8 else ascii_text(f"{text} ({score})", 72)


def _quote(reacts: list[dict[str, Any]], sentiment: str, player: str | None) -> str | None:
    want = {"positive": 1, "negative": -1}.get(sentiment)
    best, best_key = None, None
    for c in reacts:
        body = str(c["body"])
        if not schema.quote_ok(body):
            continue
        key = (want is not None and polarity(body) == want, bool(player) and player.lower() in body.lower(),
               _excited(body), -abs(len(body) - 30))
        if best_key is None or key > best_key:
            best, best_key = body, key
    return best


def quote_for(window: Window, game_s: float, sentiment: str, event: str) -> str | None:
    """A shown reaction to the moment at `game_s` that fits `sentiment`, preferring one naming a
    player of `event` (its first capitalised word)."""
    names = [w for w in event.split() if w[:1].isupper()]
    return _quote(reactions(window.comments, game_s), sentiment, names[0] if names else None)


def label_window(window: Window, candidates: dict[int, Candidate], home: str, away: str) -> list[dict[str, Any]]:
    """The teacher's timeline for one window, from the comments shown in its prompt."""
    picked = []
    for p in window.plays:
        c = candidates.get(p["seq"])
        if c is None:
            continue
        # Fans vote with their comments: volume counts every comment aligned into the window,
        # not just the ones the prompt shows.
        reacts = reactions(window.all_comments or window.comments, p["game_s"])
        weight = c.weight + REACTION_WEIGHT * min(MAX_REACTIONS, len(reacts))
        if weight >= MIN_WEIGHT:
            picked.append((weight, c, reacts))
    picked.sort(key=lambda x: (-x[0], x[1].play["seq"]))
    entries, used_ts = [], set()
    for _, c, reacts in picked:
        if len(entries) == schema.max_items():
            break
        if c.play["clock"] in used_ts:
            continue
        used_ts.add(c.play["clock"])
        sentiment = fan_sentiment(reacts, c.team)
        entry = {"ts": c.play["clock"], "event": event_text(c, home, away), "fan_sentiment": sentiment,
                 "_seq": c.play["seq"]}
        actor = c.play.get("player2") if et_second_player_acts(c.play) else c.play.get("player")
        quote = _quote(reactions(window.comments, c.play["game_s"]), sentiment, surname(actor))
        if quote:
            entry["quote"] = quote
        entries.append(entry)
    entries.sort(key=lambda e: e.pop("_seq"))
    return entries

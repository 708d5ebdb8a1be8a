"""The facts of a game, rendered once: what each play was, in words, and what it did to the game.

Every `event` sentence the project writes comes from `game_facts` over a game's canonical play
rows (tables.PLAY_COLUMNS): the training targets, gold text, the rule baseline's entries, the
strings constrained decoding allows, the server's answers. A name, team or score that is not in
the rows cannot appear in one, whichever play-by-play format the rows came from.

    facts = game_facts(plays, home="CLE", away="CHI")     # {seq: Fact}, only plays worth a line
    facts[412].text   # "Mitchell hits a three to put CLE ahead 140-137"

The game context of a play (lead change, tie, runs, margin, time left, period end, final) is
computed here from points, teams and the running score, the same for any sport; the words and
the clock rules come from `sport`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from fan_timeline import sport

MAX_EVENT_CHARS = 72        # the schema's `event` bound (printable ASCII)
NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v"})
NAME_PARTICLES = frozenset({"van", "von", "de", "da", "das", "dos", "di", "del", "der", "den", "la", "le", "du", "st.",
                            "o", "al", "el", "ben", "bin", "mac"})

# Letters that Unicode decomposition does not reduce to ASCII.
_ASCII_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "ß": "ss",
                                "Æ": "AE", "æ": "ae", "Þ": "Th", "þ": "th", "ı": "i", "Œ": "OE", "œ": "oe"})


def ascii_text(text: str) -> str:
    """Printable ASCII (the schema's event alphabet): "Dončić" -> "Doncic"."""
    flat = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS)).encode("ascii", "ignore").decode()
    return re.sub(r"[^ -~]", "", flat)


def surname(name: str | None) -> str:
    """The name a play line uses: "Ismael Ivanov" and "I. Ivanov" (formats differ) are "Ivanov",
    "D. Jones Jr." is "Jones Jr.", "J. Van Dyke" is "Van Dyke", "T. Luwawu-Cabarrot" is
    "Luwawu-Cabarrot"; ASCII."""
    words = ascii_text(name or "").split()
    if not words:
        return ""
    end = len(words) - 1
    if end >= 1 and words[end].lower() in NAME_SUFFIXES:
        end -= 1
    start = end
    while start >= 1 and words[start - 1].lower() in NAME_PARTICLES:
        start -= 1
    return " ".join(words[start:])


@dataclass(frozen=True)
class Fact:
    """One play worth a timeline line, with its game context and its sentence."""

    seq: int
    source_id: str
    clock: str
    game_s: float
    period: int
    kind: str                  # one of sport.FACT_KINDS
    for_team: str | None       # the team the play was good for (the blocker's for a blocked shot)
    actor: str                 # surname of who did it ("" when no player is named)
    victim: str                # surname of who it was done to (blocked, stolen from), else ""
    points: int
    score_home: int
    score_away: int
    lead_change: bool          # put `for_team` ahead from level or behind
    ties: bool                 # left the score level
    run: int                   # for_team's unanswered points including this play (scoring plays)
    ended_run: int             # the other team's unanswered points this play ended (0 if under RUN_POINTS)
    buzzer: bool               # scored with the period's clock (nearly) out
    late: bool                 # sport.is_late: the last minutes of regulation or overtime
    margin: int                # |home - away| after the play
    text: str                  # the event sentence

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.actor, self.victim) if n)


def score_phrase(home: str, away: str, score_home: int, score_away: int) -> str:
    """"CLE lead 101-99" or "tied 99-99": the leader first, the larger number first."""
    if score_home == score_away:
        return f"tied {score_home}-{score_away}"
    leader = home if score_home > score_away else away
    return f"{leader} lead {max(score_home, score_away)}-{min(score_home, score_away)}"


def _fit(options: list[str]) -> str:
    """The first sentence that fits the schema's bound (the last, cut, if none does)."""
    for text in options:
        if len(text) <= MAX_EVENT_CHARS:
            return text
    return options[-1][:MAX_EVENT_CHARS].rstrip(" ,")


def _sentence(kind: str, actor: str, victim: str, team: str | None, other: str | None, home: str, away: str,
              p: dict[str, Any], ctx: dict[str, Any], actor_team: str | None) -> str:
    # "Scott (HAR)": a reader (and the model) must know whose player did it to know who cheers; with
    # no player named, the team that did it (a miss is its shooter's team's, not the team it helped)
    who = f"{actor} ({actor_team})" if actor and actor_team else actor or actor_team or "?"
    h, a = int(p["score_home"]), int(p["score_away"])
    score = score_phrase(home, away, h, a)
    hi, lo = max(h, a), min(h, a)
    if kind in sport.SCORING_KINDS:
        act = sport.action_words(kind, ctx.get("made", 1))
        if ctx["buzzer"]:
            return _fit([f"{who} {act} at the buzzer, {score}", f"{who} scores at the buzzer, {score}"])
        if ctx["lead_change"]:
            return _fit([f"{who} {act} to put {team} ahead {hi}-{lo}", f"{who} puts {team} ahead {hi}-{lo}"])
        if ctx["ties"]:
            return _fit([f"{who} {act} to tie it at {h}-{a}", f"{who} ties it at {h}-{a}"])
        if ctx["ended_run"]:
            return _fit([f"{who} {act} to end a {ctx['ended_run']}-0 {other} run, {score}",
                         f"{who} ends a {ctx['ended_run']}-0 run, {score}"])
        if ctx["run"] >= sport.RUN_POINTS:
            return _fit([f"{who} {act}, {ctx['run']}-0 {team} run, {score}", f"{who} {act}, {score}"])
        return _fit([f"{who} {act}, {score}", f"{who} scores, {score}"])
    if kind == "block":
        return _fit([f"{who} blocks {victim}, {score}" if victim else f"{who} with the block, {score}",
                     f"{who} block, {score}"])
    if kind == "steal":
        return _fit([f"{who} steals it from {victim}, {score}" if victim else f"{who} with the steal, {score}",
                     f"{who} steal, {score}"])
    if kind == "turnover":
        return _fit([f"{who} turns it over, {score}"])
    if kind in ("miss_three", "miss", "miss_free_throw"):
        return _fit([f"{who} {sport.action_words(kind)}, {score}"])
    period = sport.period_name(int(p["period"]))
    if kind == "final":
        winner, loser = (home, away) if h > a else (away, home)
        extra = " in overtime" if int(p["period"]) > sport.REGULATION_PERIODS else ""
        return _fit([f"Final: {winner} beat {loser} {hi}-{lo}{extra}", f"Final: {winner} win {hi}-{lo}"])
    if kind == "overtime":
        return _fit([f"End of {sport.period_label(int(p['period']))}, tied {h}-{a}, overtime next"])
    return _fit([f"End of {period}, {score}"])


def _partners(plays: list[dict[str, Any]]) -> dict[int, int]:
    """Block/steal rows (cdn liveData, V3) -> index of the miss/turnover row they belong to.

    Those formats give a block or steal its own row beside the miss or turnover it caused (same
    clock, the other team); V2 and ESPN keep one row with the blocker or stealer as `player2`.
    """
    out: dict[int, int] = {}
    for i, p in enumerate(plays):
        want = {"block": "missed_shot", "steal": "turnover"}.get(p["event_type"])
        if want is None:
            continue
        for j in (i - 1, i + 1, i - 2, i + 2):
            if 0 <= j < len(plays) and plays[j]["event_type"] == want and plays[j]["clock"] == p["clock"] \
                    and plays[j].get("team") != p.get("team"):
                out[i] = j
                break
    return out


_DEAD_BALL = frozenset({"substitution", "timeout", "foul", "other", "rebound"})


def _free_throw_trips(plays: list[dict[str, Any]]) -> dict[int, tuple[int, int | None, int]]:
    """Free-throw row -> (first row of its trip, last made row or None, made count): a trip is a
    team's free throws at one clock with only dead-ball rows (fouls, substitutions, timeouts)
    between them. A trip is one moment, on its last made free throw."""
    out: dict[int, tuple[int, int | None, int]] = {}
    i = 0
    while i < len(plays):
        p = plays[i]
        if p["event_type"] not in ("free_throw_made", "free_throw_missed"):
            i += 1
            continue
        rows, j = [i], i + 1
        while j < len(plays) and plays[j]["clock"] == p["clock"]:
            q = plays[j]
            if q["event_type"] in ("free_throw_made", "free_throw_missed") and q.get("team") == p.get("team"):
                rows.append(j)
            elif q["event_type"] not in _DEAD_BALL:
                break
            j += 1
        made = [r for r in rows if plays[r]["event_type"] == "free_throw_made"]
        for r in rows:
            out[r] = (rows[0], made[-1] if made else None, len(made))
        i = rows[-1] + 1
    return out


def game_facts(plays: list[dict[str, Any]], home: str, away: str) -> dict[int, Fact]:
    """The facts of one game's plays (rows in game order), keyed by seq: only plays that can be a
    moment (scores, blocks, steals, period ends, and late misses and turnovers in a close game).

    A block or steal that a format writes as two rows (the miss or turnover and the block or
    steal) is one fact, on the block/steal row.
    """
    plays = sorted(plays, key=lambda p: p["seq"])
    partners = _partners(plays)
    partnered = set(partners.values())
    trips = _free_throw_trips(plays)
    last_end = max((i for i, p in enumerate(plays) if p["event_type"] == "period_end"), default=None)
    out: dict[int, Fact] = {}
    prev_h = prev_a = 0
    trip_before = (0, 0)   # the score before the current free-throw trip
    run_team, run_pts = None, 0
    for i, p in enumerate(plays):
        h, a = int(p["score_home"]), int(p["score_away"])
        et, team = p["event_type"], p.get("team")
        other = away if team == home else home if team == away else None
        points = int(p.get("points") or 0)
        ctx = {"buzzer": False, "lead_change": False, "ties": False, "run": 0, "ended_run": 0}
        kind = None
        actor, victim, for_team = surname(p.get("player")), surname(p.get("player2")), team
        if i in trips and trips[i][0] == i:
            trip_before = (prev_h, prev_a)   # the first free throw of a trip
        if points and team in (home, away):
            # a trip of free throws is one moment: judged from the score before its first shot
            bh, ba = trip_before if et == "free_throw_made" else (prev_h, prev_a)
            before = (bh > ba) - (bh < ba)
            after = (h > a) - (h < a)
            mine = 1 if team == home else -1
            ctx["lead_change"] = after == mine and before != mine
            ctx["ties"] = after == 0 and before != 0
            if team == run_team:
                run_pts += points
            else:
                if run_pts >= sport.RUN_POINTS:
                    ctx["ended_run"] = run_pts
                run_team, run_pts = team, points
            ctx["run"] = run_pts
            ctx["buzzer"] = sport.is_buzzer(p) and et != "free_throw_made"
            kind = sport.scoring_kind(p) if trips.get(i, (i, i, 1))[1] == i else None
            ctx["made"] = trips.get(i, (i, i, 1))[2]
        elif et in ("block", "steal"):
            kind = et
            j = partners.get(i)
            victim = surname(plays[j].get("player")) if j is not None else ""
        elif et in ("missed_shot", "turnover") and p.get("player2") and i not in partnered:
            # V2/ESPN: the blocker or stealer is the second player of the miss or turnover
            kind = "block" if et == "missed_shot" else "steal"
            actor, victim, for_team = surname(p.get("player2")), surname(p.get("player")), other
        elif et == "turnover" and i not in partnered and sport.is_late(p) and abs(h - a) <= sport.CLOSE_MARGIN:
            kind, for_team = "turnover", other
        elif et in ("missed_shot", "free_throw_missed") and i not in partnered and sport.is_last_chance(p) \
                and abs(h - a) <= sport.LAST_CHANCE_MARGIN:
            kind, for_team = sport.miss_kind(p), other
        elif et == "period_end":
            final = i == last_end and h != a and int(p["period"]) >= sport.REGULATION_PERIODS
            kind = "final" if final else "overtime" if int(p["period"]) >= sport.REGULATION_PERIODS and h == a \
                else "period_end"
            for_team = home if h > a else away if a > h else None
            actor = victim = ""
        if points:
            prev_h, prev_a = h, a
        if kind is None:
            continue
        if kind in ("block", "steal") and for_team is None:
            continue   # a block/steal row without a team names nobody it was good for
        against = away if for_team == home else home if for_team == away else None
        actor_team = for_team if kind in ("block", "steal") or kind in sport.SCORING_KINDS else team
        text = ascii_text(_sentence(kind, actor, victim, for_team, against, home, away, p, ctx, actor_team))
        out[int(p["seq"])] = Fact(
            seq=int(p["seq"]), source_id=str(p.get("source_id") or p["seq"]), clock=p["clock"],
            game_s=float(p["game_s"]), period=int(p["period"]), kind=kind, for_team=for_team, actor=actor,
            victim=victim, points=points, score_home=h, score_away=a, lead_change=ctx["lead_change"],
            ties=ctx["ties"], run=ctx["run"], ended_run=ctx["ended_run"], buzzer=ctx["buzzer"],
            late=sport.is_late(p), margin=abs(h - a), text=text)
    return out

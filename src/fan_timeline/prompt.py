"""The window text: what the model reads about one window of a game, and what it may answer.

The user message (`user_message`) gives the game and the window, whose comments these are, and
each candidate play (`candidates`, the most telling first) on a line of its own: its clock, its
fact's sentence, and how its fans reacted, with the reactions shown for it under it. The answer copies `ts` and `event`
from a line and a quote from under it; constrained decoding holds it to exactly that
(`schema.grounded_grammar` over the prompt's `grounding`). build_sft, the evaluator and the
server all prompt here; the chat template around the text is `chat`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema
from fan_timeline.candidates import Candidate
from fan_timeline.chat import Messages, count_tokens

# --- window text ---------------------------------------------------------------------------------
SYSTEM = "List the plays that mattered, at most 3, in the order listed, as JSON. Empty list if none."


def _team_counts(c: Candidate) -> str:
    """"CLE 40, CHI 6, ? 12": a play's reacting comments by the team their author supports."""
    return ", ".join(f"{team} {n}" for team, n in sorted(c.by_team.items(),
                                                          key=lambda kv: (kv[0] == "?", -kv[1], kv[0])))


MOMENT_HEAT = 3   # a play of this heat or more is listed under "Likely moments" (about the rule's threshold)


def heat(score: float) -> int:
    """A candidate's score (`Candidate.score`: what the play did to the game plus what its fans said
    and how much) as one digit, 0..9: a moment is MOMENT_HEAT and more."""
    return max(0, min(9, int(score)))


def likely_moment(c: Candidate) -> bool:
    """Whether the prompt lists `c` under "Likely moments" (heat MOMENT_HEAT and more)."""
    return heat(c.score) >= MOMENT_HEAT


def fans_line(c: Candidate) -> str:
    """What the game's fans (every thread) said after the play and how much, against their own pace:
    "pace x1.4, Okafor +8, said 3, shouts +6": 1.4 times the comments the thread's pace brings, 8
    more naming Okafor than his usual, 3 saying what it was ("block", "three"), 6 more shouting."""
    ev = c.evidence
    if not ev.comments and not ev.usual_excited:
        return "no comments"      # a game read without comments: its plays alone
    parts = [f"pace x{ev.lift:.1f}"]
    if c.fact.actor:
        parts.append(f"{c.fact.actor} {ev.named - ev.usual_named:+.0f}")
    parts.append(f"said {ev.said}, shouts {ev.excited - ev.usual_excited:+.0f}")
    return ", ".join(parts)


def play_line(c: Candidate, team_audience: bool = False) -> str:
    """One candidate play: its clock, its fact's sentence, its heat (`heat`), what the game's fans said
    after it and how much (`fans_line`, every thread), and how many of this audience's comments
    react to it, by the team their authors support (a team's own subreddit is all one team's, so
    it does not say).

    "Q4 02:41 Mitchell (CLE) hits a three, CLE lead 131-126 | heat 8 | pace x1.6, Mitchell +10, said 5,
    shouts +12 | here 58: CLE 40, CHI 6, ? 12"
    """
    teams = f": {_team_counts(c)}" if c.count and not team_audience else ""
    return f"{c.fact.clock} {c.fact.text} | heat {heat(c.score)} | {fans_line(c)} | here {c.count}{teams}"


def comment_line(comment: dict[str, Any]) -> str:
    """`> CLE: MITCHELL IS HIM`: the fan's team (flair or subreddit, "?" if unknown) and the text."""
    team = comment.get("fan_team") or "?"
    body = " ".join(str(comment["body"]).split())
    return f"> {team}: {body}"


_CONTROL_TOKEN = re.compile(r"<\|([^|<>\s]{0,40})\|>")


def defang(text: str) -> str:
    """`<|im_end|>` -> `<im_end>`: input text (a comment, a team name) must never reach the chat
    template as a control token, or one comment could end the user turn and forge an answer."""
    return _CONTROL_TOKEN.sub(r"<\1>", text)


def audience_team(audience: str, teams: dict[str, str]) -> str | None:
    """The team whose own subreddit the audience is, else None (a league thread)."""
    return next((code for code, sub in teams.items() if sub == audience), None)


def audience_line(audience: str, teams: dict[str, str], n_comments: int) -> str:
    """Whose comments these are: a team's own subreddit says so, a league thread's flair does."""
    team = audience_team(audience, teams)
    who = f"all {team} fans" if team else "fan's team by flair"
    return f"{n_comments} comments in {audience} ({who})."


def user_message(game: dict[str, Any], window: dict[str, Any], audience: str, candidates: list[Candidate],
                 shown: dict[int, list[dict[str, Any]]], n_comments: int, team_audiences: dict[str, str]) -> str:
    """The window as text: the game and window, whose comments these are, then each candidate play
    with its reaction and, under it, the reactions shown for it (`shown`: seq -> comments); the
    plays of heat MOMENT_HEAT and more under "Likely moments:", the others under "Other plays:"
    (candidates come the most telling first, so the listed order stays theirs)."""
    home, away = game["home_team"], game["away_team"]
    lines = [f"{away} at {home}, {window['start']} to {window['end']}, {home} {window['score_home']}-"
             f"{window['score_away']} at the start.", audience_line(audience, team_audiences, n_comments)]
    own = audience_team(audience, team_audiences) is not None
    groups = (("Likely moments:", [c for c in candidates if likely_moment(c)]),
              ("Other plays:", [c for c in candidates if not likely_moment(c)]))
    for header, group in groups:
        lines += [header] if group else []
        for c in group:
            lines.append(play_line(c, own))
            lines += [comment_line(r) for r in shown.get(c.fact.seq, [])]
    if not candidates:
        lines.append("No play in this window did much to the game or drew a reaction.")
    return defang("\n".join(lines))


@dataclass(frozen=True)
class WindowPrompt:
    """One window's prompt for one audience, as build_sft, the evaluator and the server all make it."""

    messages: Messages
    candidates: list[Candidate]
    shown: dict[int, list[dict[str, Any]]]     # seq -> reactions shown under that play
    comments_trimmed: int                      # shown reactions left out to fit the token budget
    n_tokens: int
    grounding: schema.Grounding                # the plays (ts, event, quotes, ...) the answer may cite

    @property
    def shown_comments(self) -> list[dict[str, Any]]:
        return [r for c in self.candidates for r in self.shown.get(c.fact.seq, [])]


def window_prompt(tokenizer: Any, game: dict[str, Any], window: dict[str, Any], audience: str,
                  candidates: list[Candidate], n_comments: int, team_audiences: dict[str, str],
                  max_tokens: int) -> WindowPrompt:
    """The prompt of one window and audience within `max_tokens`, and its grounding.

    Reactions are dropped to fit, from the least important candidate's last one up; plays never
    are (the prompt may still exceed the budget when the plays alone do; callers count that).
    """
    shown = {c.fact.seq: list(c.shown) for c in candidates}

    def build() -> tuple[Messages, int]:
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": user_message(game, window, audience, candidates, shown, n_comments,
                                                             team_audiences)}]
        return messages, count_tokens(tokenizer, messages)

    messages, n = build()
    trimmed = 0
    order = sorted(candidates, key=lambda c: (c.score, -c.fact.seq))   # least important first
    while n > max_tokens and any(shown.values()):
        victim = next(c for c in order if shown[c.fact.seq])
        shown[victim.fact.seq].pop()
        trimmed += 1
        messages, n = build()
    grounding = schema.Grounding.of([
        (c.fact.clock, c.fact.text,
         [str(r["body"]) for r in shown[c.fact.seq] if defang(str(r["body"])) == str(r["body"])], c.feeling,
         likely_moment(c), round(c.score, 4))
        for c in candidates])   # quotable as shown: a defanged comment is not verbatim any more
    return WindowPrompt(messages, candidates, shown, trimmed, n, grounding)

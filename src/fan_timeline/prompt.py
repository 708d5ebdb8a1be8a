"""The prompt/completion format: the one module that decides what the model reads and writes.

A pair is conversational, in the prompt/completion layout TRL and HF `datasets` understand:

    prompt     = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": <window text>}]
    completion = [{"role": "assistant", "content": <timeline JSON, schema.dump_timeline form>}]

The text is rendered with the tokenizer's own chat template (so any chat model works as the base),
and the completion is trained up to and including the template's end-of-turn token.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema

Messages = list[dict[str, str]]


def render_prompt(tokenizer: Any, prompt: Messages) -> str:
    """Prompt text up to where the assistant starts writing."""
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


@functools.lru_cache(maxsize=8)
def _end_of_turn(tokenizer: Any) -> tuple[int, str]:
    probe = "\u2063probe\u2063"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": probe}], tokenize=False)
    tail = text[text.index(probe) + len(probe):]
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    if not ids:
        if tokenizer.eos_token_id is None:
            raise ValueError("the chat template ends an assistant turn with nothing and there is no EOS token")
        return tokenizer.eos_token_id, tokenizer.eos_token
    return ids[0], tokenizer.convert_ids_to_tokens(ids[0])


def end_of_turn_id(tokenizer: Any) -> int:
    """Token id the chat template closes an assistant turn with (e.g. <|im_end|>)."""
    return _end_of_turn(tokenizer)[0]


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Ids that end generation: the end-of-turn token and EOS."""
    ids = [end_of_turn_id(tokenizer)]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def encode_pair(tokenizer: Any, prompt: Messages, completion_text: str) -> tuple[list[int], int]:
    """Token ids of prompt + completion + end-of-turn, and how many leading ids are prompt.

    Only ids from the returned offset on are trained (the completion and its end-of-turn token).
    """
    prompt_ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    return prompt_ids + completion_ids + [end_of_turn_id(tokenizer)], len(prompt_ids)


# --- window text ---------------------------------------------------------------------------------
SYSTEM = (
    "List the moments that mattered as JSON, at most 3, in game order: ts (a play's clock), event "
    "(what happened, player and score), fan_sentiment (positive/negative/mixed/neutral), quote "
    "(a fan comment copied exactly). Empty list if nothing mattered."
)

# Plays the compact listing leaves out: they carry no story and cost tokens.
SILENT_EVENTS = frozenset({"substitution", "other", "rebound", "jump_ball", "period_start", "timeout", "violation",
                           "foul"})


def shown_in_prompt(play: dict[str, Any]) -> bool:
    """Whether the compact listing shows a play: scores, blocks, steals and period ends tell the
    story; plain misses, turnovers without a steal, rebounds, fouls, substitutions don't."""
    if play["event_type"] in SILENT_EVENTS:
        return False
    if play["event_type"] in ("missed_shot", "turnover"):
        return bool(play.get("player2"))
    return True

_SHOT_WORDS = ("dunk", "alley", "layup", "hook", "fadeaway", "tip", "putback", "floater", "bank")


def _shot_word(text: str) -> str:
    low = text.lower()
    return next((w for w in _SHOT_WORDS if w in low), "")


def surname(name: str | None) -> str:
    """"Ismael Ivanov" and "I. Ivanov" (formats differ) both become "Ivanov"."""
    words = name.split() if name else []
    return words[-1] if words else ""


def play_line(play: dict[str, Any]) -> str:
    """One play as a compact line, the same for every source format.

    "Q4 01:48 HAR Okafor 3pt make (ast Ito) 101-98" — surnames, the score (home-away) only on
    scoring plays.
    """
    et = play["event_type"]
    who = " ".join(x for x in (play.get("team"), surname(play.get("player"))) if x)
    p2 = surname(play.get("player2"))
    shot = _shot_word(str(play.get("text") or ""))
    if et == "made_shot":
        what = f"{play['points']}pt make" + (f" {shot}" if shot else "") + (f" (ast {p2})" if p2 else "")
    elif et == "missed_shot":
        what = "miss" + (f" {shot}" if shot else "") + (f" (blk {p2})" if p2 else "")
    elif et == "free_throw_made":
        what = "FT make"
    elif et == "free_throw_missed":
        what = "FT miss"
    elif et in ("steal", "block"):
        what = et + (f" on {p2}" if p2 else "")
    elif et == "turnover":
        what = "turnover" + (f" (stl {p2})" if p2 else "")
    elif et == "foul":
        what = "foul" + (f" on {p2}" if p2 else "")
    elif et == "period_end":
        what = f"end of {play['clock'].split()[0]}"
    else:
        what = et.replace("_", " ")
    line = f"{play['clock']} {who} {what}".replace("  ", " ")
    if play.get("points"):
        line += f" {play['score_home']}-{play['score_away']}"
    return line


def comment_line(comment: dict[str, Any]) -> str:
    """`> HAR fan: OKAFOR WITH THE SWAT` — the fan's team (from flair, "?" if none) and the text."""
    team = comment.get("flair_team") or "?"
    body = " ".join(str(comment["body"]).split())
    return f"> {team} fan: {body}"


_CONTROL_TOKEN = re.compile(r"<\|([^|<>\s]{0,40})\|>")


def defang(text: str) -> str:
    """`<|im_end|>` -> `<im_end>`: input text (a comment, a team name) must never reach the chat
    template as a control token, or one comment could end the user turn and forge an answer."""
    return _CONTROL_TOKEN.sub(r"<\1>", text)


def user_message(game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
                 comments: list[dict[str, Any]]) -> str:
    """The window as text: a header, then plays in game order with the fan comments that react
    to each play right under it (a comment sits after the last play at or before the game time it
    is aligned to, so its position is its time relative to the plays)."""
    home, away = game["home_team"], game["away_team"]
    names = "".join(f", {code} = {name}" for code, name in ((away, game.get("away_name")), (home, game.get("home_name")))
                    if name)
    lines = [f"{away} at {home}{names}. {window['start']} to {window['end']}, "
             f"score {home} {window['score_home']}-{window['score_away']} {away} at start"]
    shown = [p for p in plays if shown_in_prompt(p)]
    pending = sorted(comments, key=lambda c: (c["game_s"], c["created_utc"], c["comment_id"]))
    before = [c for c in pending if not shown or c["game_s"] < shown[0]["game_s"]]
    lines += [comment_line(c) for c in before]
    i = len(before)
    for k, p in enumerate(shown):
        lines.append(play_line(p))
        nxt = shown[k + 1]["game_s"] if k + 1 < len(shown) else float("inf")
        while i < len(pending) and pending[i]["game_s"] < nxt:
            lines.append(comment_line(pending[i]))
            i += 1
    return defang("\n".join(lines))


def prompt_messages(game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
                    comments: list[dict[str, Any]]) -> Messages:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": user_message(game, window, plays, comments)}]


def count_tokens(tokenizer: Any, prompt: Messages) -> int:
    return len(tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class WindowPrompt:
    """One window's prompt as build_sft, the evaluator and the server all make it."""

    messages: Messages
    shown_comments: list[dict[str, Any]]   # clock order
    comments_trimmed: int                  # ranked comments left out to fit the token budget
    n_tokens: int
    grounding: schema.Grounding            # the play clocks and comment bodies the answer may cite


def window_prompt(tokenizer: Any, game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
                  ranked_comments: list[dict[str, Any]], max_tokens: int) -> WindowPrompt:
    """`fit_prompt` plus the window's grounding (the clocks of the plays shown, the comments shown)."""
    messages, shown, trimmed, n = fit_prompt(tokenizer, game, window, plays, ranked_comments, max_tokens)
    bodies = [str(c["body"]) for c in shown]
    grounding = schema.Grounding.of([p["clock"] for p in plays if shown_in_prompt(p)],
                                    [b for b in bodies if defang(b) == b])   # quotable as shown
    return WindowPrompt(messages, shown, trimmed, n, grounding)


def fit_prompt(tokenizer: Any, game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
               ranked_comments: list[dict[str, Any]], max_tokens: int) -> tuple[Messages, list[dict[str, Any]], int, int]:
    """The prompt with as many of the ranked comments as fit in `max_tokens`.

    Comments are dropped from the least relevant end; plays are never dropped. Returns
    (messages, comments shown in clock order, comments trimmed, prompt tokens). The prompt may
    still exceed the budget when the plays alone do; callers count that.
    """
    def build(keep: int) -> tuple[Messages, list[dict[str, Any]], int]:
        shown = sorted(ranked_comments[:keep], key=lambda c: (c["game_s"], c["created_utc"], c["comment_id"]))
        messages = prompt_messages(game, window, plays, shown)
        return messages, shown, count_tokens(tokenizer, messages)

    full = build(len(ranked_comments))
    if full[2] <= max_tokens:
        return full[0], full[1], 0, full[2]
    lo, hi = 0, len(ranked_comments) - 1  # largest keep that fits lies in [lo, hi]; 0 always "fits"
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if build(mid)[2] <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    messages, shown, n = build(lo)
    return messages, shown, len(ranked_comments) - lo, n

"""The prompt/completion format: the one module that decides what the model reads and writes.

A pair is conversational, in the prompt/completion layout TRL and HF `datasets` understand:

    prompt     = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": <window text>}]
    completion = [{"role": "assistant", "content": <timeline JSON, schema.dump_timeline form>}]

The text is rendered with the tokenizer's own chat template (so any chat model works as the base),
and the completion is trained up to and including the template's end-of-turn token.
"""

from __future__ import annotations

import functools
from typing import Any

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
    "You write a timeline of the moments that mattered in one window of a basketball game. "
    "Use only the plays and fan comments given. Output JSON: {\"timeline\": [...]}, at most 3 entries "
    "in game order, each with ts (game clock as shown), event (short factual sentence naming players "
    "and score), fan_sentiment (positive, negative, mixed or neutral: how the fans reacted) and "
    "quote (one fan comment copied exactly). Output {\"timeline\": []} if nothing mattered."
)

# Plays the compact listing leaves out: they carry no story and cost tokens.
SILENT_EVENTS = frozenset({"substitution", "other"})

_SHOT_WORDS = ("dunk", "alley", "layup", "hook", "fadeaway", "tip", "putback", "floater", "bank")


def _shot_word(text: str) -> str:
    low = text.lower()
    return next((w for w in _SHOT_WORDS if w in low), "")


def play_line(play: dict[str, Any]) -> str:
    """One play as a compact line, the same for every source format.

    "Q4 01:48 HAR Okafor 3pt make (Ito) 101-98" — the score (home-away) only on scoring plays.
    """
    et = play["event_type"]
    who = " ".join(x for x in (play.get("team"), play.get("player")) if x)
    p2 = play.get("player2")
    if et == "made_shot":
        what = f"{play['points']}pt make" + (f" {_shot_word(play['text'])}" if _shot_word(play["text"]) else "")
        what += f" (ast {p2})" if p2 else ""
    elif et == "missed_shot":
        what = "miss" + (f" {_shot_word(play['text'])}" if _shot_word(play["text"]) else "")
        what += f" (blk {p2})" if p2 else ""
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
    elif et == "period_start":
        what = f"start of {play['clock'].split()[0]}"
    else:
        what = et.replace("_", " ")
    line = f"{play['clock']} {who} {what}".replace("  ", " ")
    if play.get("points"):
        line += f" {play['score_home']}-{play['score_away']}"
    return line


def comment_line(comment: dict[str, Any]) -> str:
    """`Q4 01:46 HAR fan: OKAFOR WITH THE SWAT` — aligned game clock, the fan's team, the text.

    The clock is the aligned game time the comment reacts to (wall time minus the reaction lag,
    mapped to the game clock), so a comment sits next to the play it is about.
    """
    team = comment.get("flair_team") or "?"
    body = " ".join(str(comment["body"]).split())
    return f"{comment['clock']} {team} fan: {body}"


def user_message(game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
                 comments: list[dict[str, Any]]) -> str:
    home, away = game["home_team"], game["away_team"]
    lines = [f"Game: {away} at {home} (scores are {home}-{away})",
             f"Window: {window['start']} to {window['end']}, score {window['score_home']}-{window['score_away']} at start",
             "Plays:"]
    lines += [play_line(p) for p in plays if p["event_type"] not in SILENT_EVENTS] or ["(none)"]
    lines.append("Fan comments:")
    lines += [comment_line(c) for c in comments] or ["(none)"]
    return "\n".join(lines)


def prompt_messages(game: dict[str, Any], window: dict[str, Any], plays: list[dict[str, Any]],
                    comments: list[dict[str, Any]]) -> Messages:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": user_message(game, window, plays, comments)}]


def count_tokens(tokenizer: Any, prompt: Messages) -> int:
    return len(tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])


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

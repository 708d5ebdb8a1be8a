"""The chat template: how a prompt/completion pair becomes token ids, whatever the base model.

A pair is conversational, in the prompt/completion layout TRL and HF `datasets` understand:

    prompt     = [{"role": "system", "content": ...}, {"role": "user", "content": <window text>}]
    completion = [{"role": "assistant", "content": <timeline JSON, schema.dump_timeline form>}]

The text is rendered with the tokenizer's own chat template (so any chat model works as the base),
and the completion is trained up to and including the template's end-of-turn token. The trainer
and the generator import this module; what the window text says is `prompt`'s.
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


def encode_pair(tokenizer: Any, prompt: Messages, completion_text: str) -> tuple[list[int], int, list[int]]:
    """Token ids of prompt + completion + end-of-turn, how many leading ids are prompt, and the
    positions of the completion's decision tokens.

    Only ids from the returned offset on are trained (the completion and its end-of-turn token).
    A timeline completion is tokenized piece by piece (`schema.decision_pieces`): the choice to
    report one more moment is a token of its own, as constrained decoding reads it. The decision
    tokens are where a constrained decoder still chooses: the first token of every piece after
    `{"timeline":[` (one more moment, or close) and the tokens up to the end of each entry's
    `ts` (which play). Everything else of an entry is fixed by its play under the grammar.
    """
    from fan_timeline.schema import decision_pieces, entry_choice_chars

    prompt_ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    completion_ids: list[int] = []
    decisions: list[int] = []
    for k, piece in enumerate(decision_pieces(completion_text)):
        enc = tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
        start = len(prompt_ids) + len(completion_ids)
        if k:
            choice_end = entry_choice_chars(piece)
            decisions += [start + j for j, (a, _) in enumerate(enc["offset_mapping"]) if j == 0 or a < choice_end]
        completion_ids += enc["input_ids"]
    return prompt_ids + completion_ids + [end_of_turn_id(tokenizer)], len(prompt_ids), decisions


def count_tokens(tokenizer: Any, prompt: Messages) -> int:
    return len(tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])

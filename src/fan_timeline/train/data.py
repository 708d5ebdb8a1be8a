"""The SFT pairs read, tokenized once and checked: what an example trains.

An example longer than `max_seq_len`, or one whose end-of-turn token would not be trained, is an
error naming the example: cutting windows to size is build_sft's job, and a silently truncated
example teaches the model never to stop.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """One tokenized pair. Ids from `prompt_len` on (completion + end-of-turn) are trained; the
    ids at `decisions` (where constrained decoding still chooses, `chat.encode_pair`) count
    `decision_weight` times in the loss."""

    id: str
    input_ids: tuple[int, ...]
    prompt_len: int
    decisions: tuple[int, ...] = ()
    decision_weight: float = 1.0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_trained(self) -> int:
        return len(self.input_ids) - self.prompt_len

    @property
    def labels(self) -> list[int]:
        """Per-position training target (unshifted, HF convention): the id, or -100 if not trained."""
        return [IGNORE_INDEX] * self.prompt_len + list(self.input_ids[self.prompt_len:])


def read_pairs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The pairs of an SFT JSONL file, with `file:line` errors for malformed rows."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from None
            for key in ("id", "prompt", "completion"):
                if key not in row:
                    raise ValueError(f"{where}: missing field {key!r}")
            completion = row["completion"]
            if (not isinstance(completion, list) or len(completion) != 1
                    or completion[0].get("role") != "assistant" or not isinstance(completion[0].get("content"), str)):
                raise ValueError(f"{where} (id {row['id']}): 'completion' must be one assistant message")
            if not isinstance(row["prompt"], list) or not row["prompt"]:
                raise ValueError(f"{where} (id {row['id']}): 'prompt' must be a non-empty list of messages")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no pairs")
    return rows


def tokenize_pairs(rows: list[dict[str, Any]], tokenizer: Any, max_seq_len: int,
                   source: str = "<pairs>", decision_weight: float = 1.0) -> list[Example]:
    """Tokenize every pair once and check that each one trains its completion and end-of-turn.

    decision_weight: the loss weight of the decision tokens (1 = a plain mean over the completion)."""
    from fan_timeline.chat import encode_pair, end_of_turn_id

    eot = end_of_turn_id(tokenizer)
    examples, problems = [], []
    for row in rows:
        text = row["completion"][0]["content"]
        ids, prompt_len, decisions = encode_pair(tokenizer, row["prompt"], text)
        ex_id = str(row["id"])
        if not text.strip() or len(ids) - prompt_len < 2:
            problems.append(f"{ex_id}: empty completion, nothing to train")
        elif eot in ids[prompt_len:-1]:
            problems.append(f"{ex_id}: the completion contains the end-of-turn token "
                            f"{tokenizer.convert_ids_to_tokens(eot)!r}; the model would learn to stop early")
        elif ids[-1] != eot:
            problems.append(f"{ex_id}: the last token is not the end-of-turn token, so stopping is not trained")
        elif len(ids) > max_seq_len:
            problems.append(f"{ex_id}: {len(ids)} tokens ({prompt_len} prompt + {len(ids) - prompt_len} "
                            f"completion) > max_seq_len {max_seq_len}; it would lose its end-of-turn token")
        else:
            examples.append(Example(ex_id, tuple(ids), prompt_len, tuple(decisions), decision_weight))
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError(f"{source}: {len(problems)} of {len(rows)} examples cannot be trained:\n  {shown}{more}\n"
                         "Shorten the windows in build_sft, or raise train_qlora.max_seq_len.")
    return examples


def load_examples(path: str | os.PathLike, tokenizer: Any, max_seq_len: int,
                  decision_weight: float = 1.0) -> list[Example]:
    return tokenize_pairs(read_pairs(path), tokenizer, max_seq_len, source=str(path),
                          decision_weight=decision_weight)

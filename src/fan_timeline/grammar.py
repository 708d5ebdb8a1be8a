"""The timeline grammar: llguidance keeps every decoded row inside the schema, or inside one window's
narrowing of it (`schema.Grounding`: its plays' own ts and fact sentences, the quotes shown under
them), and marks the one decision left to the model at each entry (close the list, or go on).

`GrammarMask` is what the decode loop (`generate`) calls each step; `new_matcher` is one row's
matcher alone (a whole-grammar walk, the export's GGUF grammar check).
"""

from __future__ import annotations

import functools
import time
from typing import Any

from fan_timeline import schema
from fan_timeline.calibration import StopBias
from fan_timeline.chat import stop_token_ids


@functools.cache
def timeline_grammar() -> str:
    """The llguidance grammar of the timeline schema file (its "x-guidance" options included)."""
    import llguidance

    return llguidance.LLMatcher.grammar_from_json_schema(schema.load_schema())


@functools.lru_cache(maxsize=256)
def grounded_grammar(grounding: schema.Grounding) -> str:
    """The llguidance grammar of one window's timelines (`schema.grounded_grammar`)."""
    import llguidance

    return llguidance.LLMatcher.grammar_from_lark(schema.grounded_grammar(grounding))


@functools.lru_cache(maxsize=4)
def ll_tokenizer(tokenizer: Any):
    """llguidance's view of an HF fast tokenizer (slow to build: cache it), with our stop ids as its EOS."""
    import llguidance
    import llguidance.hf

    ll_tok = llguidance.hf.from_tokenizer(tokenizer, eos_token=stop_token_ids(tokenizer))
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(timeline_grammar(), ll_tok)
    if is_error:
        raise ValueError(f"the timeline schema does not compile for llguidance: {messages[0]}")
    return ll_tok


@functools.lru_cache(maxsize=4)
def decision_tokens(tokenizer: Any) -> tuple[list[int], list[int], list[int]]:
    """(closing, going on, joining) token ids: text starting with "]", starting with "," or "{",
    and holding "}," or "}]" (an entry's end joined with what follows, never allowed)."""
    texts = [tokenizer.decode([i]) for i in range(len(tokenizer))]
    closing = [i for i, t in enumerate(texts) if t.startswith("]")]
    going_on = [i for i, t in enumerate(texts) if t.startswith((",", "{"))]
    joining = [i for i, t in enumerate(texts) if "}," in t or "}]" in t]
    return closing, going_on, joining


@functools.cache
def _executor():
    """llguidance's thread pool for computing a batch's masks in parallel (one per process)."""
    import llguidance

    return llguidance.LLExecutor()


def new_matcher(tokenizer: Any, grounding: schema.Grounding | None = None):
    """A fresh llguidance matcher for one output (cheap: the tokenizer view is cached),
    of the whole schema or, given a window's grounding, of the schema narrowed to that window."""
    import llguidance

    grammar = timeline_grammar() if grounding is None else grounded_grammar(grounding)
    matcher = llguidance.LLMatcher(ll_tokenizer(tokenizer), grammar, log_level=0)
    if matcher.is_error():
        raise ValueError(f"the timeline grammar does not compile: {matcher.get_error()}")
    return matcher


class GrammarMask:
    """Keeps each output row inside the timeline grammar: one llguidance matcher per row.

    `apply(scores, rows)` sets every token a row's grammar disallows to -inf, computing all the
    given rows' bitmasks in one parallel llguidance call; `advance(rows, tokens)` feeds each row
    the token it chose. A token the grammar rejects, or a matcher in an error state, means the
    masking was bypassed: that is raised, never ignored. `groundings`, one per row (None = the
    whole schema), narrow each row's grammar to what its window shows. `seconds` is what the
    masking cost.

    Tokens that would join an entry's end with what follows it (`"},`, `}]`) are never allowed:
    the model was trained with those pieces tokenized apart (`schema.decision_pieces`), so where
    a row's grammar allows both closing the list (a token starting with "]") and going on (one
    starting with "," or "{"), that is the model's one decision to report one more moment. Its
    margin (the best closing logit minus the best going-on one) is recorded in `margins[row]`,
    and the `stop_bias` before the play that choice would add (`StopBias`, by the kind of play its
    grounding lists: `Grounding.likely_at`) is taken off the closing logits there.
    """

    def __init__(self, tokenizer: Any, groundings: list[schema.Grounding | None],
                 stop_bias: StopBias | float = 0.0):
        import torch

        self.ll_tok = ll_tokenizer(tokenizer)
        self.groundings = groundings
        self.matchers = [new_matcher(tokenizer, g) for g in groundings]
        self.executor = _executor()
        self.bitmask = torch.zeros((len(groundings), (self.ll_tok.vocab_size + 31) // 32), dtype=torch.int32)
        self.seconds = 0.0
        self.stop_bias = StopBias.of(stop_bias)
        closers, going_on, joiners = decision_tokens(tokenizer)
        self.closers, self.going_on, self.joiners = (torch.tensor(ids, dtype=torch.long)
                                                     for ids in (closers, going_on, joiners))
        self.margins: list[list[float]] = [[] for _ in groundings]

    def apply(self, scores, rows: list[int]):
        """Mask `scores` in place: its k-th row belongs to output row `rows[k]`."""
        import numpy as np
        import torch

        start = time.perf_counter()
        bitmask = self.bitmask[:len(rows)]
        bitmask.zero_()
        self.executor.unsafe_compute_mask_ptr([(self.matchers[r], k) for k, r in enumerate(rows)],
                                              bitmask.data_ptr(), bitmask.shape[1] * 4, len(rows))
        for r in rows:
            if self.matchers[r].is_error():
                raise RuntimeError(f"constrained decoding failed in row {r}: {self.matchers[r].get_error()}")
        # Unpack the bitmask (bit j of word w allows token 32*w + j; x86 is little-endian) with numpy,
        # which is ~10x faster than the same with torch bit ops.
        bits = np.unpackbits(bitmask.numpy().view(np.uint8), axis=1, bitorder="little")
        disallowed = torch.from_numpy(bits).view(torch.bool).logical_not_()
        width = min(self.ll_tok.vocab_size, scores.shape[1])  # the model's head may be wider than the tokenizer
        scores[:, width:] = float("-inf")
        scores[:, :width].masked_fill_(disallowed[:, :width].to(scores.device), float("-inf"))
        scores[:, self.joiners.to(scores.device)] = float("-inf")
        closers = self.closers.to(scores.device)
        close = scores[:, closers].max(dim=1).values
        go_on = scores[:, self.going_on.to(scores.device)].max(dim=1).values
        decision = torch.isfinite(close) & torch.isfinite(go_on)
        for k in decision.nonzero().flatten().tolist():
            r = rows[k]
            scores[k, closers] -= self.stop_bias.before(self.groundings[r], len(self.margins[r]))
            self.margins[r].append(float(close[k] - go_on[k]))
        self.seconds += time.perf_counter() - start
        return scores

    def advance(self, rows: list[int], tokens: list[int]) -> None:
        start = time.perf_counter()
        for r, token in zip(rows, tokens):
            if not self.matchers[r].consume_token(token):
                raise RuntimeError(f"constrained decoding left the timeline grammar in row {r} "
                                   f"(token {token}): {self.matchers[r].get_error()}")
        self.seconds += time.perf_counter() - start

    def forced(self, rows: list[int], limits: list[int]) -> list[list[int]]:
        """Per row, the tokens its grammar allows alone from here (at most its limit), consumed:
        greedy decoding would pick each of them anyway, so they need no step of their own."""
        start = time.perf_counter()
        out = []
        for r, limit in zip(rows, limits):
            m = self.matchers[r]
            ff = [] if m.is_stopped() else m.compute_ff_tokens()[:limit]
            if ff and not m.consume_tokens(ff):
                raise RuntimeError(f"constrained decoding refused its own forced tokens in row {r}: {m.get_error()}")
            out.append(ff)
        self.seconds += time.perf_counter() - start
        return out

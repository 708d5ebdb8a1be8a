"""Generation: the one decode loop evaluate, the server and the CLI call to write timelines.

    model, tokenizer = model.load_model("embedded:SmolLM2-135M-Instruct", adapter="models/adapter")
    results = generate_timelines(model, tokenizer, prompts, constrained=True)

Loading lives in `model`, the grammar in `grammar`, the stop bias (how readily a row reports one
more moment, fit on val) in `calibration`; this module is the batched greedy decode over them.

Constrained decoding compiles `timeline.schema.json` with llguidance and masks every row's logits
each step, so the output is always schema-valid, in exactly the compact form `schema.dump_timeline`
writes, and the end-of-turn token is allowed only once the JSON is complete. The guarantee holds
only if the output can close: the default budget for constrained decoding is
`schema.max_output_bytes() + 1` new tokens (every token the grammar admits is at least one byte,
plus the end-of-turn token), so a constrained output is never cut (cut outputs break the guarantee:
at 200 new tokens every constrained output of the untrained base model was cut mid-JSON).

Free decoding (no grammar) defaults to `FREE_MAX_NEW_TOKENS` new tokens: it has no bound to
honour, and a model that rambles would otherwise run to the constrained budget.

Decoding is greedy and runs its own loop over the model's forward rather than `model.generate`,
for two CPU costs `generate` has: its KV cache concatenates the whole cache every step (here the
cache appends in place), and a finished row keeps computing until the batch's longest row ends
(here it leaves the batch).

Threads: torch's default (one per physical core) is right on a quiet machine. Entry points should
set OMP_WAIT_POLICY=PASSIVE before torch is imported: with spin-waiting OpenMP threads, another
busy process makes every small op (and the logits masking) several times slower.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema
from fan_timeline.calibration import StopBias
from fan_timeline.chat import Messages, render_prompt, stop_token_ids
from fan_timeline.grammar import GrammarMask, new_matcher

FREE_MAX_NEW_TOKENS = 256


def constrained_max_new_tokens() -> int:
    """New-token budget that always lets a constrained output close: the schema bound + end of turn."""
    return schema.max_output_bytes() + 1


# --------------------------------------------------------------------------------------------
# Batched generation


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's output.

    Rows of a batch are generated together, so their time is shared: `seconds` is this row's
    share of its batch's wall time (summing `seconds` over all results gives the total generation
    time, and sum(n_new_tokens) / sum(seconds) the throughput); `batch_seconds` is the batch's
    wall time, i.e. the latency this prompt saw.
    """

    text: str  # the new text, without the stop token
    n_new_tokens: int  # including the stop token when there is one
    finished: bool  # ended with a stop token (False: cut at max_new_tokens)
    seconds: float  # share of the batch's wall time (batch_seconds / rows in the batch)
    time_to_first_token: float  # of the batch: prefill of all its rows + the first step
    batch_seconds: float = 0.0
    constraint_seconds: float = 0.0  # share of the time the batch spent masking logits with the grammar
    stop_margins: tuple[float, ...] = ()  # at each choice to report one more moment: closing minus going on
    steps: int = 0  # forward passes of the batch's decode loop (forced tokens ride along: fewer than tokens)


class Cancelled(Exception):
    """Generation stopped between batches because its `should_stop` said so (a client that left)."""


def generate_timelines(model: Any, tokenizer: Any, prompts: list[Messages], *, constrained: bool,
                       groundings: list[schema.Grounding | None] | None = None, max_new_tokens: int | None = None,
                       batch_size: int = 8, progress: bool = False,
                       should_stop: Callable[[], bool] | None = None,
                       stop_bias: StopBias | float = 0.0) -> list[GenerationResult]:
    """Greedily generate one completion per chat prompt, in batches, in the order of `prompts`.

    With `constrained=True` and `groundings` (one per prompt, from `prompt.window_prompt`), each
    output may only be entries about its window's plays, with their own ts and event sentence and a
    quote shown under them.

    Prompts are sorted by token length so that a batch pads little (left-padded); a row that has
    finished leaves its batch. A constrained row whose window lists no play has one possible
    output (the empty timeline): it is written without running the model. `max_new_tokens`
    defaults to the grammar's bound for constrained decoding (`constrained_budget`; a smaller
    value may cut outputs, which breaks the guarantee: warned) and to `FREE_MAX_NEW_TOKENS` for
    free decoding. `should_stop` is asked before each
    batch; when it says yes, Cancelled is raised. `stop_bias`: see GrammarMask.
    """
    if groundings is not None and (not constrained or len(groundings) != len(prompts)):
        raise ValueError("groundings need constrained=True and one entry per prompt")
    rows = groundings or [None] * len(prompts)
    results: list[GenerationResult | None] = [None] * len(prompts)
    if constrained:
        for i, g in enumerate(rows):
            results[i] = _forced_whole(tokenizer, g) if g is not None and not g.plays else None
    todo = [i for i, r in enumerate(results) if r is None]
    for batch, enc in _batches(model, tokenizer, [prompts[i] for i in todo], batch_size, progress) if todo else ():
        batch = [todo[k] for k in batch]
        if should_stop is not None and should_stop():
            raise Cancelled(f"stopped with {sum(r is not None for r in results)} of {len(prompts)} prompts done")
        cache, prefill = _prefill(model, enc)
        grammar = GrammarMask(tokenizer, [rows[i] for i in batch], stop_bias) if constrained else None
        budget = _budget(constrained, max_new_tokens, [rows[i] for i in batch])
        for i, result in zip(batch, _decode(model, tokenizer, enc, cache, prefill, grammar=grammar,
                                            max_new_tokens=budget)):
            results[i] = result
    return results  # type: ignore[return-value]


def _forced_whole(tokenizer: Any, grounding: schema.Grounding) -> GenerationResult | None:
    """The output of a row whose grammar forces all of it (a window that lists no play: its timeline
    can only be empty), with no model call; None when the grammar leaves a choice."""
    matcher = new_matcher(tokenizer, grounding)
    forced = matcher.compute_ff_tokens()
    if not (matcher.consume_tokens(forced) and matcher.is_stopped()):
        return None
    text = tokenizer.decode(forced, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return GenerationResult(text=text, n_new_tokens=len(forced) + 1, finished=True, seconds=0.0,
                            time_to_first_token=0.0)


def generate_constrained_and_free(model: Any, tokenizer: Any, prompts: list[Messages],
                                  groundings: list[schema.Grounding | None], *, free_max_new_tokens: int | None = None,
                                  constrained_max_new_tokens: int | None = None, batch_size: int = 8,
                                  progress: bool = False, stop_bias: StopBias | float = 0.0,
                                  ) -> tuple[list[GenerationResult], list[GenerationResult]]:
    """Greedy constrained (grounded) and free outputs of the same prompts, each equal to what
    `generate_timelines` gives, with each batch's prompt prefill computed once for both.
    Each result's `seconds` carries half the prefill."""
    import copy

    if len(groundings) != len(prompts):
        raise ValueError("one grounding per prompt")
    results: dict[bool, list[GenerationResult | None]] = {True: [None] * len(prompts), False: [None] * len(prompts)}
    for batch, enc in _batches(model, tokenizer, prompts, batch_size, progress):
        cache, prefill = _prefill(model, enc)
        for constrained in (True, False):
            rows = [groundings[i] for i in batch]
            grammar = GrammarMask(tokenizer, rows, stop_bias) if constrained else None
            budget = _budget(constrained, constrained_max_new_tokens if constrained else free_max_new_tokens, rows)
            out = _decode(model, tokenizer, enc, copy.deepcopy(cache) if constrained else cache, prefill / 2,
                          grammar=grammar, max_new_tokens=budget)
            for i, result in zip(batch, out):
                results[constrained][i] = result
    return results[True], results[False]  # type: ignore[return-value]


def constrained_budget(groundings: list[schema.Grounding | None]) -> int:
    """New-token budget that lets every one of these constrained outputs close: its grammar's
    longest output in bytes (every token is at least one) plus the end-of-turn token."""
    return max((schema.grounded_max_bytes(g) if g is not None else schema.max_output_bytes()) + 1 for g in groundings)


def _budget(constrained: bool, max_new_tokens: int | None, groundings: list[schema.Grounding | None]) -> int:
    if not constrained:
        return FREE_MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
    bound = constrained_budget(groundings)
    if max_new_tokens is None:
        return bound
    if max_new_tokens < bound:
        warnings.warn(f"max_new_tokens={max_new_tokens} is below the grammar's bound ({bound}): constrained "
                      "outputs may be cut", stacklevel=3)
    return max_new_tokens


def _batches(model: Any, tokenizer: Any, prompts: list[Messages], batch_size: int, progress: bool):
    """(prompt indices, left-padded encoding) per batch, prompts sorted by token length."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    device = next(model.parameters()).device
    texts = [render_prompt(tokenizer, p) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    for k in tqdm(range(0, len(order), batch_size), desc="generate", unit="batch", disable=not progress):
        batch = order[k:k + batch_size]
        yield batch, tokenizer([texts[i] for i in batch], add_special_tokens=False, padding=True,
                               padding_side="left", return_tensors="pt").to(device)


@functools.cache
def _buffered_kv_layer() -> type:
    """The `_BufferedKVLayer` class (defined on first use: transformers is imported lazily)."""
    from transformers.cache_utils import DynamicLayer

    class _BufferedKVLayer(DynamicLayer):
        """A `DynamicLayer` that appends in place instead of concatenating.

        transformers' DynamicLayer builds a new tensor each step (torch.cat of the whole cache):
        at batch 12 and ~700 cached tokens that copy is most of a CPU decode step. Here the keys
        and values are views of buffers with room to grow (half again as many positions as they
        hold, at least 64), reallocated only when full. Anything that replaces `keys`/`values`
        (cropping, row selection) is noticed and the buffers are rebuilt from it.
        """

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.key_buffer = self.value_buffer = None

        def _views_of_buffers(self, n: int) -> bool:
            return (self.key_buffer is not None and self.keys.dim() == 4 and n <= self.key_buffer.shape[2]
                    and all(view.data_ptr() == buffer.data_ptr() and view.stride() == buffer.stride()
                            for view, buffer in ((self.keys, self.key_buffer), (self.values, self.value_buffer))))

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            old = self.keys.shape[2] if self.keys.dim() == 4 else 0
            n = old + key_states.shape[2]
            if not self._views_of_buffers(n):
                room = n + max(64, n // 2)
                keys = key_states.new_empty(*key_states.shape[:2], room, key_states.shape[3])
                values = value_states.new_empty(*value_states.shape[:2], room, value_states.shape[3])
                if old:
                    keys[:, :, :old] = self.keys
                    values[:, :, :old] = self.values
                self.key_buffer, self.value_buffer = keys, values
            self.key_buffer[:, :, old:n] = key_states
            self.value_buffer[:, :, old:n] = value_states
            self.keys, self.values = self.key_buffer[:, :, :n], self.value_buffer[:, :, :n]
            return self.keys, self.values

    return _BufferedKVLayer


def _kv_cache():
    """An empty `DynamicCache` whose layers append in place (`_buffered_kv_layer`)."""
    from transformers.cache_utils import Cache, DynamicCache

    cache = DynamicCache()
    Cache.__init__(cache, layer_class_to_replicate=_buffered_kv_layer())
    return cache


def _prefill(model: Any, enc: Any) -> tuple[Any, float]:
    """(KV cache of every prompt token but the last, seconds): `_decode` feeds the last one."""
    import torch

    start = time.perf_counter()
    cache = _kv_cache()
    mask = enc["attention_mask"][:, :-1]
    if mask.shape[1]:
        with torch.inference_mode():
            model(input_ids=enc["input_ids"][:, :-1], attention_mask=mask,
                  position_ids=(mask.cumsum(-1) - 1).clamp(min=0), cache=cache, use_cache=True, logits_to_keep=1)
    return cache, time.perf_counter() - start


def _decode(model: Any, tokenizer: Any, enc: Any, cache: Any, prefill_seconds: float, *,
            grammar: GrammarMask | None, max_new_tokens: int) -> list[GenerationResult]:
    """Greedy decoding of one left-padded batch whose `cache` holds each prompt but its last token
    (computed in `prefill_seconds`, counted into the batch's time). A row leaves the batch (and the
    cache) when it emits a stop token, so a long output does not make the finished ones compute on.

    Under a grammar, the tokens it forces (the rest of an event sentence once its play is chosen,
    the JSON keys) are fed in one forward with the chosen token instead of one step each: the same
    text, far fewer steps. A step feeds each row its chosen token plus its forced ones, the rows
    padded to the longest (the padding masked out of attention, for good).
    """
    import torch

    start = time.perf_counter() - prefill_seconds
    stop_ids = set(stop_token_ids(tokenizer))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    n_rows = enc["input_ids"].shape[0]
    tokens: list[list[int]] = [[] for _ in range(n_rows)]
    rows = list(range(n_rows))  # the output rows still decoding, in cache order
    step_ids = enc["input_ids"][:, -1:]
    mask = enc["attention_mask"]
    next_pos = mask.sum(-1) - 1                    # per row: the position of the next token it is fed
    positions = next_pos[:, None]
    last = torch.zeros(n_rows, dtype=torch.long)   # per row: the index of its last real token in the step
    first_token_at = None
    steps = 0
    with torch.inference_mode():
        while rows:
            steps += 1
            logits = model(input_ids=step_ids, attention_mask=mask, position_ids=positions, cache=cache,
                           use_cache=True).logits
            logits = logits[torch.arange(len(rows)), last.to(logits.device)].float()
            if grammar is not None:
                grammar.apply(logits, rows)
            picked = logits.argmax(-1).tolist()
            first_token_at = first_token_at or time.perf_counter()
            if grammar is not None:
                grammar.advance(rows, picked)
            feeds = [[token] for token in picked]
            for row, token in zip(rows, picked):
                tokens[row].append(token)
            if grammar is not None:
                going = [k for k, token in enumerate(picked) if token not in stop_ids]
                forced = grammar.forced([rows[k] for k in going],
                                        [max_new_tokens - len(tokens[rows[k]]) for k in going])
                for k, ff in zip(going, forced):
                    tokens[rows[k]] += ff
                    feeds[k] += ff
            keep = [k for k, row in enumerate(rows)
                    if not set(feeds[k]) & stop_ids and len(tokens[row]) < max_new_tokens]
            if not keep:
                break
            if len(keep) < len(rows):
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, next_pos = mask[index], next_pos[index]
                rows = [rows[k] for k in keep]
                feeds = [feeds[k] for k in keep]
            width = max(len(f) for f in feeds)
            next_pos = next_pos + 1    # past the token just fed
            step_ids = torch.tensor([f + [pad_id] * (width - len(f)) for f in feeds], device=mask.device)
            real = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f in feeds], device=mask.device,
                                dtype=mask.dtype)
            positions = next_pos[:, None] + torch.arange(width, device=mask.device)
            mask = torch.cat([mask, real], dim=1)
            last = torch.tensor([len(f) - 1 for f in feeds])
            next_pos = next_pos + torch.tensor([len(f) - 1 for f in feeds], device=mask.device)
    seconds = time.perf_counter() - start
    ttft = (first_token_at or time.perf_counter()) - start
    results = []
    for ids in tokens:
        finished = bool(ids) and ids[-1] in stop_ids
        body = ids[:-1] if finished else ids
        results.append(GenerationResult(
            text=tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            n_new_tokens=len(ids), finished=finished, seconds=seconds / n_rows, time_to_first_token=ttft,
            batch_seconds=seconds, constraint_seconds=(grammar.seconds if grammar is not None else 0.0) / n_rows,
            stop_margins=tuple(grammar.margins[len(results)]) if grammar is not None else (), steps=steps))
    return results

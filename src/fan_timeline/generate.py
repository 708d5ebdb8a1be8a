"""Generation: the one service evaluate, the server and the CLI call to write timelines.

    model, tokenizer = load_model("embedded:SmolLM2-135M-Instruct", adapter="models/adapter")
    results = generate_timelines(model, tokenizer, prompts, constrained=True)

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
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema
from fan_timeline.chat import Messages, render_prompt, stop_token_ids
from fan_timeline.model import load_causal_lm, resolve_base_model

FREE_MAX_NEW_TOKENS = 256


def constrained_max_new_tokens() -> int:
    """New-token budget that always lets a constrained output close: the schema bound + end of turn."""
    return schema.max_output_bytes() + 1


# --------------------------------------------------------------------------------------------
# Model loading


def _quantization_config(quantization: str, device: str):
    """BitsAndBytesConfig for NF4 on CUDA, None for full precision."""
    if quantization in ("none", "auto"):
        # Inference defaults to full precision (bf16 on CUDA); NF4 only when asked (memory, not speed).
        return None
    if quantization != "nf4":
        raise ValueError(f"quantization must be 'auto', 'none' or 'nf4', not {quantization!r}")
    if not device.startswith("cuda"):
        raise ValueError("quantization='nf4' needs CUDA (bitsandbytes 4-bit on CPU is unusably slow); "
                         "use quantization='none' on CPU")
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_model(name_or_path: str, *, adapter: str | None = None, device: str = "auto",
               quantization: str = "auto", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) ready for inference.

    `name_or_path` is anything `model.resolve_base_model` takes (`embedded:<name>`, a directory,
    a hub id). fp32 on CPU (bf16 has no fast kernels there), bf16 on CUDA; `quantization="nf4"`
    loads the base in 4-bit on CUDA. A PEFT `adapter` directory is applied on top and, on a
    full-precision base, merged into it (faster decoding, same outputs). The tokenizer comes from
    the adapter directory when it holds one (the trainer saves it there), else from the base;
    it pads on the left, as batched generation needs.
    """
    import torch
    from transformers import AutoTokenizer

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    quant = _quantization_config(quantization, device)
    path = resolve_base_model(name_or_path)
    model = load_causal_lm(
        path, dtype=dtype, use_safetensors=True, trust_remote_code=False,
        quantization_config=quant, device_map={"": device} if quant is not None else None)
    if quant is None:
        model.to(device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
        if quant is None:
            model = model.merge_and_unload()
    model.eval()

    has_tokenizer = adapter is not None and os.path.isfile(os.path.join(adapter, "tokenizer_config.json"))
    tokenizer_dir = adapter if has_tokenizer else path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# Constrained decoding (llguidance)


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


@dataclass(frozen=True)
class StopBias:
    """How readily constrained decoding reports a listed play: taken off the logits that close the
    list of moments at a choice whose next play is a likely moment (`moment`) or another play
    (`other`). A positive bias reports more. A play is a likely moment when its candidate score
    reaches `threshold` (the rule's, fit on train: then a large `moment` and a very negative
    `other` write exactly the rule's timeline, so a fit on val can always fall back on it), or,
    without a threshold or a score, when the prompt lists it under "Likely moments". The model's
    margins sit on different scales before the two kinds of play, so the trainer fits each on val
    (`evaluate.fit_stop_bias`); in between the extremes, the model's margin overrules the rule
    where it is sure enough. `unknown` is the bias where the next play's kind is not known (a
    whole-schema row, an unranked grounding): none is fit."""

    moment: float = 0.0
    other: float = 0.0
    unknown: float = 0.0
    threshold: float | None = None

    @classmethod
    def of(cls, value: StopBias | dict[str, Any] | float | None) -> StopBias:
        """From a bias, a {"moment", "other"[, "threshold"]} dict (train_config.json, provenance.json)
        or one number for every choice."""
        if isinstance(value, StopBias):
            return value
        if isinstance(value, dict):
            if not {"moment", "other"} <= set(value) <= {"moment", "other", "threshold"}:
                raise ValueError(f"stop bias {value!r}: expected {{'moment': ..., 'other': ..., 'threshold': ...}} "
                                 "(an adapter calibrated by an older train_qlora: rerun the stage, or `dvc repro`)")
            threshold = value.get("threshold")
            return cls(float(value["moment"]), float(value["other"]),
                       threshold=None if threshold is None else float(threshold))
        return cls(float(value or 0.0), float(value or 0.0), float(value or 0.0))

    def at(self, likely: bool | None) -> float:
        """The bias before a likely moment (True), another play (False), or one of unknown kind (None)."""
        return self.unknown if likely is None else self.moment if likely else self.other

    def before(self, grounding: schema.Grounding | None, choice: int) -> float:
        """The bias at a row's `choice`-th decision (0 = its first), by the kind of play its
        `grounding` (None: the whole schema) has there: its score against `threshold`, else the
        prompt's header (`Grounding.likely_at`)."""
        if grounding is None:
            return self.unknown
        score = grounding.score_at(choice)
        if self.threshold is not None and score is not None:
            return self.at(score >= self.threshold)
        return self.at(grounding.likely_at(choice))

    def as_dict(self) -> dict[str, float | None]:
        return {"moment": self.moment, "other": self.other, "threshold": self.threshold}


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


def timeline_from_text(text: str) -> tuple[Any | None, list[str]]:
    """(parsed timeline, []) for valid output, else (parsed JSON or None, its JSON/schema errors)."""
    parsed, error = schema.parse_timeline(text)
    if error is not None:
        return None, [error]
    return parsed, schema.validate_timeline(parsed)

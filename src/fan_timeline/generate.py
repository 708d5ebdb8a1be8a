"""Generation: the one service evaluate, the server and the CLI call to write timelines.

    model, tokenizer = load_model("embedded:SmolLM2-135M-Instruct", adapter="models/adapter")
    results = generate_timelines(model, tokenizer, prompts, constrained=True)

Constrained decoding compiles `timeline.schema.json` with llguidance and masks every row's logits
each step, so the output is always schema-valid, in exactly the compact form `schema.dump_timeline`
writes, and the end-of-turn token is allowed only once the JSON is complete. The guarantee holds
only if the output can close: the default budget for constrained decoding is
`schema.max_output_bytes() + 1` new tokens (every token the grammar admits is at least one byte,
plus the end-of-turn token), so a constrained output is never cut (DESIGN §7).

Free decoding (no grammar) defaults to `FREE_MAX_NEW_TOKENS` new tokens: it has no bound to
honour, and a model that rambles would otherwise run to the constrained budget.

Threads: torch's default (one per physical core) is right on a quiet machine. Entry points should
set OMP_WAIT_POLICY=PASSIVE before torch is imported: with spin-waiting OpenMP threads, another
busy process makes every small op (and the logits masking) several times slower (DESIGN §7).
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

from fan_timeline import schema
from fan_timeline.model import resolve_base_model
from fan_timeline.prompt import Messages, render_prompt, stop_token_ids

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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    quant = _quantization_config(quantization, device)
    path = resolve_base_model(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(
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
    """The grammar of the schema narrowed to one window (`schema.grounded_schema`)."""
    import llguidance

    return llguidance.LLMatcher.grammar_from_json_schema(schema.grounded_schema(grounding))


@functools.lru_cache(maxsize=4)
def ll_tokenizer(tokenizer: Any):
    """llguidance's view of an HF fast tokenizer (~0.6 s to build), with our stop ids as its EOS."""
    import llguidance
    import llguidance.hf

    ll_tok = llguidance.hf.from_tokenizer(tokenizer, eos_token=stop_token_ids(tokenizer))
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(timeline_grammar(), ll_tok)
    if is_error:
        raise ValueError(f"the timeline schema does not compile for llguidance: {messages[0]}")
    return ll_tok


@functools.cache
def _executor():
    """llguidance's thread pool for computing a batch's masks in parallel (one per process)."""
    import llguidance

    return llguidance.LLExecutor()


def new_matcher(tokenizer: Any, grounding: schema.Grounding | None = None):
    """A fresh llguidance matcher for one output (cheap: ~5 ms; the tokenizer view is cached),
    of the whole schema or, given a window's grounding, of the schema narrowed to that window."""
    import llguidance

    grammar = timeline_grammar() if grounding is None else grounded_grammar(grounding)
    matcher = llguidance.LLMatcher(ll_tokenizer(tokenizer), grammar, log_level=0)
    if matcher.is_error():
        raise ValueError(f"the timeline grammar does not compile: {matcher.get_error()}")
    return matcher


class TimelineLogitsProcessor:
    """HF logits processor that keeps every row of a batch inside the timeline grammar.

    One matcher per row. Each call first feeds every live row's previous token to its matcher
    (the first call sees only the prompt), then computes all rows' token bitmasks in one parallel
    llguidance call and sets every disallowed logit to -inf. A row that has emitted a stop token
    may only emit the pad token (what `generate` writes into finished rows anyway). A matcher in
    an error state means the masking was bypassed: that is raised, never ignored. Use one instance
    per `generate` call; `seconds` and `calls` say what the masking cost. Masks `scores` in place
    (`generate` hands each step's logits over as a fresh copy). `groundings`, one per row (None =
    the whole schema), narrow each row's grammar to what its window shows.
    """

    def __init__(self, tokenizer: Any, groundings: list[schema.Grounding | None] | None = None):
        import torch

        self.tokenizer = tokenizer
        self.ll_tok = ll_tokenizer(tokenizer)
        self.stop_ids = set(stop_token_ids(tokenizer))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.stop_ids)
        self.executor = _executor()
        self.groundings = groundings
        self.matchers: list[Any] | None = None
        self.done: list[bool] = []
        self.bitmask: torch.Tensor | None = None
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, input_ids, scores):
        import numpy as np
        import torch

        start = time.perf_counter()
        batch = scores.shape[0]
        n_vocab = self.ll_tok.vocab_size
        if self.matchers is None:
            groundings = self.groundings or [None] * batch
            if len(groundings) != batch:
                raise ValueError(f"{len(groundings)} groundings for a batch of {batch} rows")
            self.matchers = [new_matcher(self.tokenizer, g) for g in groundings]
            self.done = [False] * batch
            self.bitmask = torch.zeros((batch, (n_vocab + 31) // 32), dtype=torch.int32)
        else:
            for row, token in enumerate(input_ids[:, -1].tolist()):
                if self.done[row]:
                    continue
                matcher = self.matchers[row]
                if not matcher.consume_token(token):
                    raise RuntimeError(f"constrained decoding left the timeline grammar in row {row} "
                                       f"(token {token}): {matcher.get_error()}")
                self.done[row] = token in self.stop_ids
        live = [(m, row) for row, m in enumerate(self.matchers) if not self.done[row]]
        self.bitmask.zero_()
        if live:
            self.executor.unsafe_compute_mask_ptr(live, self.bitmask.data_ptr(), self.bitmask.shape[1] * 4, batch)
            for matcher, row in live:
                if matcher.is_error():
                    raise RuntimeError(f"constrained decoding failed in row {row}: {matcher.get_error()}")
        # Unpack the bitmask (bit j of word w allows token 32*w + j; x86 is little-endian) with numpy,
        # which is ~10x faster than the same with torch bit ops.
        bits = np.unpackbits(self.bitmask.numpy().view(np.uint8), axis=1, bitorder="little")
        disallowed = torch.from_numpy(bits).view(torch.bool).logical_not_()
        for row, is_done in enumerate(self.done):
            if is_done:
                disallowed[row] = True
                disallowed[row, self.pad_id] = False
        width = min(n_vocab, scores.shape[1])  # the model's head may be wider than the tokenizer
        scores[:, width:] = float("-inf")
        scores[:, :width].masked_fill_(disallowed[:, :width].to(scores.device), float("-inf"))
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return scores


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


class _FirstTokenTimer:
    """A `generate` streamer that only notes when the first new tokens arrive (its first put is the prompt)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.first_token_at: float | None = None
        self._puts = 0

    def put(self, value) -> None:
        self._puts += 1
        if self._puts == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


def generate_timelines(model: Any, tokenizer: Any, prompts: list[Messages], *, constrained: bool,
                       groundings: list[schema.Grounding | None] | None = None, max_new_tokens: int | None = None,
                       batch_size: int = 8, greedy: bool = True, progress: bool = False) -> list[GenerationResult]:
    """Generate one completion per chat prompt, in batches, returned in the order of `prompts`.

    With `constrained=True` and `groundings` (one per prompt, from `prompt.window_prompt`), each
    output may only use its window's play clocks as `ts` and its shown comments as `quote`.

    Prompts are sorted by token length so that a batch pads little, left-padded, and decoded
    greedily unless `greedy=False`. `max_new_tokens` defaults to `constrained_max_new_tokens()`
    for constrained decoding (a smaller value may cut outputs, which breaks the guarantee: warned)
    and to `FREE_MAX_NEW_TOKENS` for free decoding.
    """
    if groundings is not None and (not constrained or len(groundings) != len(prompts)):
        raise ValueError("groundings need constrained=True and one entry per prompt")
    max_new_tokens = _budget(constrained, max_new_tokens)
    results: list[GenerationResult | None] = [None] * len(prompts)
    for batch, enc in _batches(model, tokenizer, prompts, batch_size, progress):
        rows = _decode(model, tokenizer, enc, constrained=constrained, max_new_tokens=max_new_tokens, greedy=greedy,
                       groundings=None if groundings is None else [groundings[i] for i in batch])
        for i, result in zip(batch, rows):
            results[i] = result
    return results  # type: ignore[return-value]


def generate_constrained_and_free(model: Any, tokenizer: Any, prompts: list[Messages],
                                  groundings: list[schema.Grounding | None], *, free_max_new_tokens: int | None = None,
                                  constrained_max_new_tokens: int | None = None, batch_size: int = 8,
                                  progress: bool = False,
                                  ) -> tuple[list[GenerationResult], list[GenerationResult]]:
    """Greedy constrained (grounded) and free outputs of the same prompts, each equal to what
    `generate_timelines` gives, with each batch's prompt prefill computed once for both.

    Saves one prefill per batch; on the 2-core CPU decoding, not the prefill, is most of the
    cost, so the saving there is small. Each result's `seconds` carries half the prefill.
    """
    import copy

    import torch

    if len(groundings) != len(prompts):
        raise ValueError("one grounding per prompt")
    budgets = {True: _budget(True, constrained_max_new_tokens), False: _budget(False, free_max_new_tokens)}
    results: dict[bool, list[GenerationResult | None]] = {True: [None] * len(prompts), False: [None] * len(prompts)}
    for batch, enc in _batches(model, tokenizer, prompts, batch_size, progress):
        start = time.perf_counter()
        mask = enc["attention_mask"]
        with torch.inference_mode():   # all but the last prompt token; `generate` feeds that one
            cache = model(input_ids=enc["input_ids"][:, :-1], attention_mask=mask[:, :-1],
                          position_ids=(mask[:, :-1].cumsum(-1) - 1).clamp(min=0), use_cache=True).cache
        prefill = time.perf_counter() - start
        for constrained in (True, False):
            rows = _decode(model, tokenizer, enc, constrained=constrained, max_new_tokens=budgets[constrained],
                           greedy=True, groundings=[groundings[i] for i in batch] if constrained else None,
                           cache=copy.deepcopy(cache), prefill_seconds=prefill / 2)
            for i, result in zip(batch, rows):
                results[constrained][i] = result
    return results[True], results[False]  # type: ignore[return-value]


def _budget(constrained: bool, max_new_tokens: int | None) -> int:
    if max_new_tokens is None:
        return constrained_max_new_tokens() if constrained else FREE_MAX_NEW_TOKENS
    if constrained and max_new_tokens < constrained_max_new_tokens():
        warnings.warn(f"max_new_tokens={max_new_tokens} is below the schema bound "
                      f"({constrained_max_new_tokens()}): constrained outputs may be cut", stacklevel=3)
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


def _decode(model: Any, tokenizer: Any, enc: Any, *, constrained: bool, max_new_tokens: int, greedy: bool,
            groundings: list[schema.Grounding | None] | None, cache: Any = None,
            prefill_seconds: float = 0.0) -> list[GenerationResult]:
    """One batch through `model.generate`; `cache` holds the prompt but its last token, computed
    in `prefill_seconds` (counted into the batch's time)."""
    import torch
    from transformers import LogitsProcessorList

    stop_ids = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    processor = TimelineLogitsProcessor(tokenizer, groundings) if constrained else None
    timer = _FirstTokenTimer()
    extra = {} if cache is None else {"cache": cache}
    with torch.inference_mode():
        out = model.generate(
            **enc, logits_processor=LogitsProcessorList([processor] if processor is not None else []),
            max_new_tokens=max_new_tokens, do_sample=not greedy, eos_token_id=stop_ids, pad_token_id=pad_id,
            streamer=timer, **extra)
    seconds = time.perf_counter() - timer.start + prefill_seconds
    ttft = (timer.first_token_at or time.perf_counter()) - timer.start + prefill_seconds
    rows = []
    for ids in out[:, enc["input_ids"].shape[1]:].tolist():
        end = next((k for k, t in enumerate(ids) if t in stop_ids), None)
        body = ids if end is None else ids[:end]
        rows.append(GenerationResult(
            text=tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            n_new_tokens=len(ids) if end is None else end + 1, finished=end is not None,
            seconds=seconds / out.shape[0], time_to_first_token=ttft, batch_seconds=seconds,
            constraint_seconds=(processor.seconds if processor is not None else 0.0) / out.shape[0]))
    return rows


def timeline_from_text(text: str) -> tuple[Any | None, list[str]]:
    """(parsed timeline, []) for valid output, else (parsed JSON or None, its JSON/schema errors)."""
    parsed, error = schema.parse_timeline(text)
    if error is not None:
        return None, [error]
    return parsed, schema.validate_timeline(parsed)

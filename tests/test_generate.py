"""Generation service: the grammar's output bound, the grammar mask, the KV cache, and real decoding.

    pytest tests/test_generate.py      (~60 s on 2 CPU cores; no network)

The model tests run the real embedded SmolLM2-135M, untrained: constrained decoding must give
schema-valid JSON in the canonical form even from a model that knows nothing about timelines.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from fan_timeline import schema
from fan_timeline.chat import stop_token_ids
from fan_timeline.generate import (
    FREE_MAX_NEW_TOKENS,
    _kv_cache,
    constrained_max_new_tokens,
    generate_constrained_and_free,
    generate_timelines,
)
from fan_timeline.grammar import GrammarMask, ll_tokenizer, new_matcher
from fan_timeline.model import load_model
from fan_timeline.schema import timeline_from_text

SYSTEM = "Write the JSON timeline of the moments that mattered in this window of the game."
PROMPTS = [
    [{"role": "system", "content": SYSTEM},
     {"role": "user", "content": "Plays:\nQ4 02:10 LIN Reyes driving layup 99-101\n"
                                 "Q4 01:48 HAR Okafor block (Reyes) 101-101\n"
                                 "Q4 00:21 HAR Lindqvist 3PT jump shot 104-101\n"
                                 "Comments:\n[+12s] HAR fan: OKAFOR WITH THE SWAT\n"
                                 "[+30s] LIN fan: of course he hits that"}],
    [{"role": "system", "content": SYSTEM},
     {"role": "user", "content": "Plays:\nQ1 11:32 BOS Tatum 2PT pullup 2-0\n"
                                 "Comments:\n[+8s] BOS fan: tatum cooking already"}],
    [{"role": "system", "content": SYSTEM},
     {"role": "user", "content": "Plays:\nQ3 05:02 MIA Adebayo dunk (Butler assist) 70-68\n"
                                 "Q3 04:40 NYK Brunson turnover, bad pass\n"
                                 "Q3 04:31 MIA Herro 3PT 73-68\n"
                                 "Comments:\n[+5s] MIA fan: BAM!!!\n[+20s] NYK fan: brunson what was that\n"
                                 "[+26s] NYK fan: this is painful"}],
]


@pytest.fixture(scope="module")
def model_and_tokenizer(base_model):
    return base_model   # the untrained embedded model, loaded once per session (conftest.py)


# ---------------------------------------------------------------- the bound, against the grammar


def _accepts(tokenizer, text: str) -> bool:
    """Whether the grammar accepts `text` as a whole output (and then allows only a stop token)."""
    matcher = new_matcher(tokenizer)
    if not matcher.consume_tokens(ll_tokenizer(tokenizer).tokenize_str(text)):
        return False
    return matcher.is_accepting() and set(_allowed(matcher)) <= set(stop_token_ids(tokenizer))


def _allowed(matcher) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
    return np.flatnonzero(bits)


def _item(ts="OT9 12:59", event='"' * 72, quote="\U0001F600" * 60, sentiment="positive") -> dict:
    return {"ts": ts, "event": event, "fan_sentiment": sentiment, "quote": quote}


def test_longest_output_is_exactly_the_bound_and_accepted(tokenizer):
    # Each field at its longest encoding: `"` costs 2 bytes (\"), an emoji 4 (raw UTF-8).
    longest = schema.dump_timeline([_item()] * schema.max_items())
    assert len(longest.encode()) == schema.max_output_bytes()
    assert schema.validate_timeline(json.loads(longest)) == []
    assert _accepts(tokenizer, longest)


@pytest.mark.parametrize("entries", [
    [_item()] * (schema.max_items() + 1),
    [_item(event='"' * 73)],
    [_item(quote="\U0001F600" * 61)],
    [_item(ts="OT10 12:59")],
])
def test_nothing_longer_is_accepted(tokenizer, entries):
    assert not _accepts(tokenizer, schema.dump_timeline(entries))


@pytest.mark.parametrize("quote", ["\\u0041", "\\n", "\\t", "\\/", "\\ud83d\\ude00"])
def test_grammar_admits_no_escape_but_quote_and_backslash(tokenizer, quote):
    # These are valid JSON for the same (or a pattern-valid) string, but longer than its minimal form:
    # admitting them would break max_output_bytes.
    text = '{"timeline":[{"ts":"Q4 01:48","event":"Okafor block","fan_sentiment":"positive","quote":"%s"}]}' % quote
    assert not _accepts(tokenizer, text)
    assert _accepts(tokenizer, text.replace(quote, '\\"\\\\'))


def test_grammar_fixes_compact_separators_and_key_order(tokenizer):
    entry = {"ts": "Q4 01:48", "event": "Okafor blocks Reyes", "fan_sentiment": "positive"}
    assert _accepts(tokenizer, schema.dump_timeline([entry]))
    assert not _accepts(tokenizer, json.dumps({"timeline": [entry]}))  # ", " and ": "
    reordered = {"event": entry["event"], "ts": entry["ts"], "fan_sentiment": "positive"}
    assert not _accepts(tokenizer, json.dumps({"timeline": [reordered]}, separators=(",", ":")))


class Vocab:
    """Per-token facts the walks below need, as arrays (a string's mask allows ~49k tokens)."""

    def __init__(self, tokenizer):
        ll_tok = ll_tokenizer(tokenizer)
        self.bytes = [ll_tok.decode_bytes([t]) for t in range(ll_tok.vocab_size)]
        self.length = np.array([len(b) for b in self.bytes])
        # Would end a string, an object or the array: an unescaped `"`, `]` or `}`.
        unescaped = [b.replace(b"\\\\", b"").replace(b'\\"', b"") for b in self.bytes]
        self.closes = np.array([any(c in u for c in b'"]}') for u in unescaped])
        # Bytes per character: escapes are 2 bytes for 1 character, UTF-8 up to 4 (lead byte >= 0xF0).
        self.heavy = np.array([(b.count(b"\\") + sum(c >= 0x80 for c in b) + (b[:1] >= b"\xf0")) / max(len(b), 1)
                               for b in self.bytes])
        self.is_o = np.array([b == b"O" for b in self.bytes])  # the clock's longest form is OTn


@pytest.fixture(scope="module")
def vocab(tokenizer) -> Vocab:
    return Vocab(tokenizer)


def _walk(tokenizer, vocab: Vocab, choose) -> tuple[str, int]:
    """Drive the grammar with `choose(candidate ids) -> id` until only a stop token is left,
    closing a string, an object or the array only when nothing else is allowed."""
    stops = np.array(stop_token_ids(tokenizer))
    matcher = new_matcher(tokenizer)
    tokens: list[int] = []
    while True:
        allowed = _allowed(matcher)
        going_on = allowed[~np.isin(allowed, stops)]
        if going_on.size == 0:
            assert allowed.size and np.isin(allowed, stops).all()
            tokens.append(int(allowed[0]))
            assert matcher.consume_token(tokens[-1])
            break
        assert (vocab.length[going_on] > 0).all(), "a zero-byte token breaks the tokens <= bytes argument"
        open_ = going_on[~vocab.closes[going_on]]
        # When forced to close, close as little as possible (`"` rather than `"}]}`).
        token = int(choose(open_) if open_.size else going_on[np.argmin(vocab.length[going_on])])
        tokens.append(token)
        assert matcher.consume_token(token), matcher.get_error()
        assert len(tokens) <= constrained_max_new_tokens()
    return b"".join(vocab.bytes[t] for t in tokens[:-1]).decode(), len(tokens)


def test_greedy_longest_walk_reaches_exactly_the_bound(tokenizer, vocab):
    """Greedily taking the byte-heaviest token (\\" in `event`, 4-byte UTF-8 in `quote`; among
    equals the longest, and "O" for OTn) and never closing early walks the grammar's longest
    path: it ends exactly at max_output_bytes, and in at most constrained_max_new_tokens tokens."""
    def heaviest(c):
        return c[np.lexsort((vocab.is_o[c], vocab.length[c], vocab.heavy[c]))[-1]]

    text, n_tokens = _walk(tokenizer, vocab, heaviest)
    assert len(text.encode()) == schema.max_output_bytes()
    assert n_tokens <= constrained_max_new_tokens()
    parsed, errors = timeline_from_text(text)
    assert errors == [] and schema.dump_timeline(parsed["timeline"]) == text


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_stay_within_the_budget(tokenizer, vocab, seed):
    """Random open-ended walks; odd seeds use one-byte tokens only (the most tokens per output)."""
    rng = np.random.default_rng(seed)

    def choose(c):
        if seed % 2 and (vocab.length[c] == 1).any():
            c = c[vocab.length[c] == 1]
        return rng.choice(c)

    text, n_tokens = _walk(tokenizer, vocab, choose)
    assert len(text.encode()) <= schema.max_output_bytes()
    assert n_tokens <= constrained_max_new_tokens()
    parsed, errors = timeline_from_text(text)
    assert errors == [] and schema.dump_timeline(parsed["timeline"]) == text


# ---------------------------------------------------------------- the grammar mask


def _allowed_rows(mask: GrammarMask, rows: list[int], vocab: int) -> torch.Tensor:
    return torch.isfinite(mask.apply(torch.zeros((len(rows), vocab)), rows))


def test_grammar_mask_masks_each_row_by_its_own_matcher(tokenizer):
    mask = GrammarMask(tokenizer, [None, None])
    vocab = len(tokenizer)
    start = _allowed_rows(mask, [0, 1], vocab)
    first = [tokenizer.decode([t]) for t in start[0].nonzero().flatten().tolist()]
    assert first and all('{"'.startswith(s) or s.startswith('{"') for s in first)
    assert torch.equal(start[0], start[1])

    # Row 0 moves on; row 1, masked alone (as the only row left in a batch), is still at the start.
    mask.advance([0], [tokenizer.convert_tokens_to_ids('{"')])
    assert not torch.equal(_allowed_rows(mask, [0], vocab)[0], start[0])
    assert torch.equal(_allowed_rows(mask, [1], vocab)[0], start[1])
    both = _allowed_rows(mask, [1, 0], vocab)
    assert torch.equal(both[0], start[1]) and not torch.equal(both[1], start[0])


def test_grammar_mask_raises_when_a_forbidden_token_gets_through(tokenizer):
    mask = GrammarMask(tokenizer, [None])
    with pytest.raises(RuntimeError, match="left the timeline grammar"):
        mask.advance([0], [tokenizer.convert_tokens_to_ids("hello")])


def test_grammar_mask_allows_end_of_turn_only_when_the_json_is_complete(tokenizer):
    stops = set(stop_token_ids(tokenizer))
    ids = tokenizer('{"timeline":[]}', add_special_tokens=False)["input_ids"]
    mask = GrammarMask(tokenizer, [None])
    for k in range(len(ids) + 1):
        allowed = set(_allowed_rows(mask, [0], len(tokenizer))[0].nonzero().flatten().tolist())
        if k < len(ids):
            assert not (allowed & stops), f"stop allowed after {tokenizer.decode(ids[:k])!r}"
            mask.advance([0], [ids[k]])
        else:
            assert allowed == stops


# ---------------------------------------------------------------- text -> timeline


def test_timeline_from_text_reports_json_and_schema_errors():
    good = schema.dump_timeline([{"ts": "Q4 01:48", "event": "Okafor blocks Reyes", "fan_sentiment": "positive"}])
    assert timeline_from_text(good) == (json.loads(good), [])
    parsed, errors = timeline_from_text(good[:-3])
    assert parsed is None and errors[0].startswith("invalid JSON")
    parsed, errors = timeline_from_text(good.replace("positive", "ecstatic"))
    assert parsed is not None and any("fan_sentiment" in e for e in errors)


# ---------------------------------------------------------------- real decoding (embedded model)


def test_buffered_kv_cache_gives_the_default_caches_logits(model_and_tokenizer):
    # The in-place KV cache must be a pure speed change: same logits as transformers' DynamicCache
    # through a left-padded prefill, steps past its first buffer's room, a deep copy, and a row leaving.
    from transformers import DynamicCache

    model, tokenizer = model_and_tokenizer
    enc = tokenizer(["Q4 02:10 LIN Reyes driving layup 99-101 and then", "tatum cooking"], padding=True,
                    padding_side="left", return_tensors="pt")
    mask = enc["attention_mask"]
    prompt_len = mask.shape[1]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    caches = [DynamicCache(), _kv_cache()]
    steps = 72   # the first room is 64 past the prompt: it must grow (once, at step 64)
    with torch.inference_mode():
        outs = [model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=positions, cache=c).logits
                for c in caches]
        assert torch.equal(outs[0], outs[1])
        caches[1] = copy.deepcopy(caches[1])
        ids, pos = outs[0][:, -1].argmax(-1, keepdim=True), positions[:, -1:]
        rooms = []
        for step in range(steps):
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            pos = pos + 1
            outs = [model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=c).logits for c in caches]
            assert torch.equal(outs[0], outs[1]), f"step {step}"
            ids = outs[0][:, -1].argmax(-1, keepdim=True)
            rooms.append(caches[1].layers[0].key_buffer.shape[2])
            if step == 3:   # row 0 finishes: only row 1 goes on
                for c in caches:
                    c.batch_select_indices(torch.tensor([1]))
                ids, mask, pos = ids[1:], mask[1:], pos[1:]
    assert caches[1].get_seq_length() == prompt_len + steps
    assert any(b > a for a, b in zip(rooms[5:], rooms[6:])), rooms   # grew while decoding


@pytest.fixture(scope="module")
def constrained_batch1(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    return generate_timelines(model, tokenizer, PROMPTS, constrained=True, batch_size=1)


@pytest.mark.slow
def test_constrained_untrained_model_writes_valid_canonical_json(constrained_batch1):
    for result in constrained_batch1:
        assert result.finished, f"cut after {result.n_new_tokens} tokens: {result.text!r}"
        assert result.n_new_tokens <= constrained_max_new_tokens()
        parsed, errors = timeline_from_text(result.text)
        assert errors == [], (errors, result.text)
        assert schema.dump_timeline(parsed["timeline"]) == result.text
        assert 0 < result.time_to_first_token <= result.batch_seconds == result.seconds  # batches of 1


@pytest.mark.slow
def test_batched_constrained_decoding_equals_batch_of_one(model_and_tokenizer, constrained_batch1):
    model, tokenizer = model_and_tokenizer
    # The two shorter outputs (the longest would make the batch wait ~60 steps); their prompts differ
    # in length, so one row is left-padded.
    batched = generate_timelines(model, tokenizer, PROMPTS[1:], constrained=True, batch_size=2)
    assert [r.text for r in batched] == [r.text for r in constrained_batch1[1:]]
    assert [r.n_new_tokens for r in batched] == [r.n_new_tokens for r in constrained_batch1[1:]]
    assert all(r.finished for r in batched)
    assert len({r.batch_seconds for r in batched}) == 1
    assert sum(r.seconds for r in batched) == pytest.approx(batched[0].batch_seconds)


@pytest.mark.slow
def test_shared_prefill_gives_what_two_separate_runs_give(model_and_tokenizer, constrained_batch1):
    model, tokenizer = model_and_tokenizer
    prompts = PROMPTS[1:]   # of different lengths: one row is left-padded
    free = generate_timelines(model, tokenizer, prompts, constrained=False, max_new_tokens=12, batch_size=2)
    both_constrained, both_free = generate_constrained_and_free(model, tokenizer, prompts, [None] * len(prompts),
                                                                free_max_new_tokens=12, batch_size=2)
    assert [r.text for r in both_constrained] == [r.text for r in constrained_batch1[1:]]
    assert [r.n_new_tokens for r in both_constrained] == [r.n_new_tokens for r in constrained_batch1[1:]]
    assert [(r.text, r.n_new_tokens, r.finished) for r in both_free] == [(r.text, r.n_new_tokens, r.finished)
                                                                         for r in free]
    # each run's times include its half of the shared prefill
    assert all(0 < r.time_to_first_token <= r.batch_seconds for r in both_constrained + both_free)


@pytest.mark.slow
def test_free_decoding_returns_text_and_whether_it_finished(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    results = generate_timelines(model, tokenizer, PROMPTS[:2], constrained=False, max_new_tokens=12)
    assert FREE_MAX_NEW_TOKENS >= 12
    for result in results:
        assert isinstance(result.text, str) and result.text
        assert 1 <= result.n_new_tokens <= 12
        if not result.finished:  # cut by the budget, which it used up
            assert result.n_new_tokens == 12


GROUNDINGS = [
    schema.Grounding.of([("Q4 02:10", "Reyes scores, LIN lead 101-99", ["of course he hits that"]),
                         ("Q4 01:48", "Okafor blocks Reyes, LIN lead 101-99", ["OKAFOR WITH THE SWAT"], "positive"),
                         ("Q4 00:21", "Lindqvist hits a three to put HAR ahead 104-101", [])]),
    schema.Grounding.of([("Q1 11:32", "Tatum scores to put BOS ahead 2-0", [])]),
    schema.Grounding.of([]),   # no play shown: nothing to report
]
BLOCK = {"ts": "Q4 01:48", "event": "Okafor blocks Reyes, LIN lead 101-99", "fan_sentiment": "positive",
         "quote": "OKAFOR WITH THE SWAT"}   # a play with shown reactions always quotes one
THREE = {"ts": "Q4 00:21", "event": "Lindqvist hits a three to put HAR ahead 104-101", "fan_sentiment": "mixed"}


def _accepts_grounded(tokenizer, grounding, text: str) -> bool:
    matcher = new_matcher(tokenizer, grounding)
    return matcher.consume_tokens(ll_tokenizer(tokenizer).tokenize_str(text)) and matcher.is_accepting()


def test_grounding_keeps_only_plays_and_quotes_the_schema_admits():
    g = schema.Grounding.of([("Q2 10:00", "Okafor scores, HAR lead 2-0", ["ok", "ok", "line\nbreak", "x" * 61]),
                             ("Q2 10:00", "Okafor scores, HAR lead 2-0", ["again"]),     # the same play twice
                             ("2nd 10:00", "Okafor scores, HAR lead 2-0", []), ("Q2 09:00", "short", [])])
    assert g == schema.Grounding((schema.GroundedPlay("Q2 10:00", "Okafor scores, HAR lead 2-0", ("ok",)),))
    assert schema.Grounding.of(g.as_rows()) == g                       # what a pair stores reads back
    voted = schema.Grounding.of([("Q2 10:00", "Okafor scores, HAR lead 2-0", [], "positive"),
                                 ("Q2 09:00", "Reyes scores, tied 2-2", [], "elated")])   # not a feeling: any
    assert [p.feeling for p in voted.plays] == ["positive", None]


def test_grounded_grammar_writes_each_play_as_its_fact_and_nothing_else(tokenizer):
    g = dataclasses.replace(GROUNDINGS[0], ranked=False)   # any listed plays in order (ranked: the test below)
    ok = schema.dump_timeline([BLOCK, THREE])
    assert _accepts_grounded(tokenizer, g, ok)
    assert _accepts(tokenizer, ok)  # and the base schema accepts every grounded output
    refused = {
        "an invented score": ok.replace("LIN lead 101-99", "LIN lead 24-0"),
        "an invented team": ok.replace("HAR ahead", "Comets ahead"),
        "an event at another play's ts": ok.replace('"Q4 01:48"', '"Q4 02:10"'),
        "a clock no play has": ok.replace("Q4 01:48", "Q4 01:47"),
        "another play's quote": ok.replace("OKAFOR WITH THE SWAT", "of course he hits that"),
        "a cut quote": ok.replace("OKAFOR WITH THE SWAT", "OKAFOR WITH THE"),
        "plays out of the listed order": schema.dump_timeline([THREE, BLOCK]),
        "a feeling the fans did not vote": ok.replace('"positive"', '"negative"'),
        "one play twice": schema.dump_timeline([BLOCK, BLOCK]),
        "no quote of a play whose fans were shown": schema.dump_timeline([{**BLOCK, "quote": None}, THREE]),
    }
    for why, text in refused.items():
        assert not _accepts_grounded(tokenizer, g, text), why
    assert _accepts_grounded(tokenizer, GROUNDINGS[1], schema.dump_timeline([
        {"ts": "Q1 11:32", "event": "Tatum scores to put BOS ahead 2-0", "fan_sentiment": "neutral"}]))
    assert _accepts_grounded(tokenizer, GROUNDINGS[2], '{"timeline":[]}')


def test_ranked_grounding_admits_only_the_first_plays(tokenizer):
    g = GROUNDINGS[0]
    assert g.ranked      # the default: the plays come the most telling first, a timeline is their first N
    reyes = {"ts": "Q4 02:10", "event": "Reyes scores, LIN lead 101-99", "fan_sentiment": "negative",
             "quote": "of course he hits that"}
    for entries in ([], [reyes], [reyes, BLOCK], [reyes, BLOCK, THREE]):
        assert _accepts_grounded(tokenizer, g, schema.dump_timeline(entries)), entries
    for entries in ([BLOCK], [reyes, THREE], [BLOCK, THREE]):    # a play skipped
        assert not _accepts_grounded(tokenizer, g, schema.dump_timeline(entries)), entries
        assert _accepts_grounded(tokenizer, dataclasses.replace(g, ranked=False), schema.dump_timeline(entries))


def test_grounded_bound_is_the_longest_output_and_greedy_walks_stay_inside(tokenizer):
    g = GROUNDINGS[0]
    def longest(g):
        return schema.dump_timeline([
            {"ts": p.ts, "event": p.event, "fan_sentiment": p.feeling or "positive",   # or the longest of all
             **({"quote": max(p.quotes, key=len)} if p.quotes else {})}
            for p in g.plays])

    fixed_short = schema.Grounding.of([("Q1 11:32", "Tatum scores to put BOS ahead 2-0", ["BOS"], "mixed")])
    for grounding in (g, fixed_short):
        assert _accepts_grounded(tokenizer, grounding, longest(grounding))
        assert len(longest(grounding).encode()) == schema.grounded_max_bytes(grounding)


@pytest.fixture(scope="module")
def grounded_batch3(model_and_tokenizer):
    """The three prompts decoded under their groundings in one batch (forced tokens fed at once)."""
    model, tokenizer = model_and_tokenizer
    return generate_timelines(model, tokenizer, PROMPTS, constrained=True, groundings=GROUNDINGS, batch_size=3)


@pytest.mark.slow
def test_forced_tokens_fed_at_once_write_what_one_step_each_writes(model_and_tokenizer, grounded_batch3,
                                                                   monkeypatch):
    model, tokenizer = model_and_tokenizer
    fast = grounded_batch3
    monkeypatch.setattr(GrammarMask, "forced", lambda self, rows, limits: [[] for _ in rows])
    slow = generate_timelines(model, tokenizer, PROMPTS, constrained=True, groundings=GROUNDINGS, batch_size=3)
    assert [(r.text, r.n_new_tokens, r.finished) for r in fast] == [(r.text, r.n_new_tokens, r.finished) for r in slow]
    # one step per token without forcing (the batch runs as long as its longest row); far fewer with it
    assert slow[0].steps == max(r.n_new_tokens for r in slow)
    assert fast[0].steps < slow[0].steps / 2


@pytest.mark.slow
def test_grounded_decoding_cites_only_the_window(model_and_tokenizer, grounded_batch3):
    model, tokenizer = model_and_tokenizer
    results = grounded_batch3
    for result, g in zip(results, GROUNDINGS):
        assert result.finished
        parsed, errors = timeline_from_text(result.text)
        assert errors == [], (errors, result.text)
        plays = {(p.ts, p.event): p for p in g.plays}
        for e in parsed["timeline"]:
            assert (e["ts"], e["event"]) in plays
            play = plays[(e["ts"], e["event"])]
            assert e.get("quote") in play.quotes if play.quotes else "quote" not in e   # quoted when it can
            assert play.feeling is None or e["fan_sentiment"] == play.feeling
    assert timeline_from_text(results[0].text)[0]["timeline"], "the untrained model writes entries here"
    assert timeline_from_text(results[2].text)[0] == {"timeline": []}
    # a window that lists no play is written without running the model (it took no time), and as the
    # model writes it under its grammar (generate_constrained_and_free always runs the model)
    ran, _ = generate_constrained_and_free(model, tokenizer, PROMPTS[2:], GROUNDINGS[2:], free_max_new_tokens=4)
    assert results[2].seconds == 0.0 and ran[0].seconds > 0.0
    assert (results[2].text, results[2].finished) == (ran[0].text, ran[0].finished)
    with pytest.raises(ValueError, match="one entry per prompt"):
        generate_timelines(model, tokenizer, PROMPTS, constrained=True, groundings=GROUNDINGS[:2])


def test_short_constrained_budget_is_warned(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    with pytest.warns(UserWarning, match="below the grammar's bound"):
        (result,) = generate_timelines(model, tokenizer, PROMPTS[1:2], constrained=True, max_new_tokens=4)
    assert not result.finished and result.n_new_tokens == 4
    assert '{"timeline":['.startswith(result.text)


@pytest.mark.slow
def test_load_model_applies_and_merges_an_adapter(model_and_tokenizer, base_model_path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base, tokenizer = model_and_tokenizer
    assert tokenizer.padding_side == "left" and not base.training and base.dtype == torch.float32
    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_model_path),
                                LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path)
    ids = tokenizer("Q4 01:48 HAR Okafor block", return_tensors="pt")["input_ids"]
    tuned, _ = load_model(base_model_path, adapter=str(tmp_path))
    with torch.inference_mode():
        expected = peft_model.eval()(ids).logits
        got = tuned(ids).logits
        untouched = base(ids).logits
    assert not hasattr(tuned, "peft_config")  # merged: plain transformers model, no LoRA layers
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got, untouched, atol=1e-2)


def test_the_stop_bias_moves_only_the_choice_to_report_one_more_moment(model_and_tokenizer):
    from fan_timeline.calibration import STOP_BIAS_NEVER, StopBias

    model, tokenizer = model_and_tokenizer
    prompts = [PROMPTS[0], PROMPTS[2]]
    groundings = [GROUNDINGS[0], GROUNDINGS[2]]
    run = {b: generate_timelines(model, tokenizer, prompts, constrained=True, groundings=groundings, stop_bias=b)
           for b in (-STOP_BIAS_NEVER, 0.0, STOP_BIAS_NEVER)}
    for k, g in enumerate(groundings):
        never = json.loads(run[STOP_BIAS_NEVER][k].text)["timeline"]
        assert len(never) == min(schema.max_items(), len(g.plays))       # it goes on as long as the grammar lets it
        assert len(run[STOP_BIAS_NEVER][k].stop_margins) == len(never)   # one choice before each entry
        assert json.loads(run[-STOP_BIAS_NEVER][k].text)["timeline"] == []   # it closes at the first choice
        unbiased = json.loads(run[0.0][k].text)["timeline"]
        # with no bias it closes at its first choice whose margin is over 0; the entries before are the same
        margins = run[STOP_BIAS_NEVER][k].stop_margins
        stop = next((i for i, m in enumerate(margins) if m > 0), len(never))
        assert unbiased == never[:stop]
    # a bias of its own before a play listed as a likely moment and before another: going on before
    # every likely moment and closing before any other play writes exactly the likely moments listed
    # first (the rule's timeline); before a play of unknown kind neither applies
    def kinds(g, likely):
        return dataclasses.replace(g, plays=tuple(dataclasses.replace(p, likely=k) for p, k in zip(g.plays, likely)))

    rule_like = StopBias(moment=STOP_BIAS_NEVER, other=-STOP_BIAS_NEVER)
    one = generate_timelines(model, tokenizer, [PROMPTS[0], PROMPTS[1], PROMPTS[0]], constrained=True,
                             groundings=[kinds(GROUNDINGS[0], (True, False, True)), kinds(GROUNDINGS[1], (True,)),
                                         GROUNDINGS[0]], stop_bias=rule_like)
    timelines = [json.loads(r.text)["timeline"] for r in one]
    assert timelines[0] == json.loads(run[STOP_BIAS_NEVER][0].text)["timeline"][:1]
    assert [e["ts"] for e in timelines[1]] == ["Q1 11:32"]
    assert timelines[2] == json.loads(run[0.0][0].text)["timeline"]


def test_the_choice_to_report_one_more_moment_is_a_token_of_its_own(tokenizer):
    from fan_timeline.chat import encode_pair
    from fan_timeline.grammar import decision_tokens

    text = schema.dump_timeline([BLOCK, THREE])
    pieces = schema.decision_pieces(text)
    assert "".join(pieces) == text and pieces[0] == '{"timeline":[' and pieces[2] == "," and pieces[-1] == "]}"
    assert schema.decision_pieces('{"timeline": []}') == ['{"timeline": []}']      # not canonical: one piece
    ids, n_prompt, decisions = encode_pair(tokenizer, PROMPTS[0], text)
    completion = [tokenizer.decode([i]) for i in ids[n_prompt:-1]]
    assert "".join(completion) == text
    # The decision tokens: each entry from its "{" to the end of its ts (which play), "," (one
    # more) and "]}" (close); never the event, feeling or quote the grammar fixes.
    decided = "".join(tokenizer.decode([ids[i]]) for i in decisions)
    # This tokenizer ends a ts with the token '","', so each entry's choice reads '{"ts":"<ts>","'.
    assert decided == f'{{"ts":"{BLOCK["ts"]}","' + "," + f'{{"ts":"{THREE["ts"]}","' + "]}"
    closing, going_on, joining = map(set, decision_tokens(tokenizer))
    assert not set(ids[n_prompt:]) & joining                  # no token joins an entry's end with what follows
    per_piece = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in pieces]
    assert [i for ids_ in per_piece for i in ids_] == ids[n_prompt:-1]
    assert per_piece[2] == [tokenizer.convert_tokens_to_ids(",")] and len(per_piece[-1]) == 1   # "," and "]}"
    assert per_piece[2][0] in going_on and per_piece[-1][0] in closing

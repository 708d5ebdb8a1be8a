"""A window's grounded JSON Schema says what its grammar says, for runtimes that take only a schema.

    pytest tests/test_window_schema.py     (~20 s, no network; the real tokenizer, no model)

Proves, on the windows of the test session's sample games (every audience) and on hand-made
groundings at the edges (quotes with `"`, `\\` and non-ASCII, fixed and open feelings, no play, more
plays than maxItems, an unranked window):
- token for token, llguidance compiling `schema.grounded_json_schema` allows exactly the tokens the
  window's grammar allows, at every step of every output the grammar admits (up to 40 a window)
  and at its end: greedy decoding under either writes the same text;
- the schema is valid JSON Schema, every grammar output validates against it with plain
  `jsonschema`, and what the grammar refuses (skipping the first play, a quote not shown, a
  feeling not the audience's, one entry too many, an unlisted play) it refuses too: what a
  llama.cpp, Ollama or vLLM user gets from it is the grammar's facts, whatever JSON spacing they use.
"""

from __future__ import annotations

import itertools
import json

import jsonschema
import llguidance
import pytest
from _serving import SAMPLES

from fan_timeline import schema
from fan_timeline.grammar import ll_tokenizer, new_matcher
from fan_timeline.samples import find_samples
from fan_timeline.schema import Grounding
from fan_timeline.service import TimelineService

EDGES = [
    Grounding.of([]),
    Grounding.of([("Q1 11:38", "Okafor makes 3-pt jump shot (Reyes assists)",
                   ['he said "BANG"', "back\\slash", "Jokić!!"]),
                  ("Q1 11:02", "Reyes misses layup", [], "negative"),
                  ("Q1 10:40", "Brooks dunk", ["SWAT", "no way"], "mixed"),
                  ("Q1 10:10", "Okafor steal (Lind lost ball)", ["what a read"])]),
    Grounding.of([("Q4 00:02", "Lind makes free throw 2 of 2", ["ICE"], None, True, 7.5),
                  ("Q4 00:20", "Okafor misses 3-pt jump shot", ["nooo", "why him"], None, False, 2.5),
                  ("Q4 00:31", "Brooks turnover (bad pass)", [])], ranked=False),
]


@pytest.fixture(scope="module")
def groundings(base_model_path) -> list[Grounding]:
    """Every window's grounding of the sample games, for every audience, and the edge cases."""
    reader = TimelineService.reader(base_model_path)
    out = []
    for sample in find_samples(SAMPLES):
        pbp, files = sample.raw_files()
        game = reader.read_raw(pbp, files, sample.meta)
        for audience in game.audiences:
            out += [plan.prompt.grounding for plan in game.windows(audience)]
    assert sum(bool(g.plays) for g in out) > 20 and any(p.quotes for g in out for p in g.plays)
    return out + EDGES


def grammar_outputs(g: Grounding) -> list[str]:
    """Every timeline the window's grammar admits (its orders of plays, feelings and quotes)."""
    n = min(len(g.plays), schema.max_items())
    orders = [g.plays[:k] for k in range(n + 1)] if g.ranked else \
        [c for k in range(n + 1) for c in itertools.combinations(g.plays, k)]
    out = []
    for plays in orders:
        options = [[{"ts": p.ts, "event": p.event, "fan_sentiment": f, **({"quote": q} if q else {})}
                    for f in ([p.feeling] if p.feeling else schema.SENTIMENTS) for q in (p.quotes or [None])]
                   for p in plays]
        out += [schema.dump_timeline(list(entries)) for entries in itertools.product(*options)]
    return out


def test_the_schema_allows_exactly_the_grammars_tokens_at_every_step(tokenizer, groundings):
    ll_tok = ll_tokenizer(tokenizer)
    steps = 0
    for g in groundings:
        compiled = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema.grounded_json_schema(g)))
        for text in grammar_outputs(g)[:40]:
            by_grammar = new_matcher(tokenizer, g)
            by_schema = llguidance.LLMatcher(ll_tok, compiled, log_level=0)
            assert not by_schema.is_error(), by_schema.get_error()
            for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
                assert by_schema.compute_bitmask() == by_grammar.compute_bitmask(), (text, tokenizer.decode([token]))
                assert by_grammar.consume_token(token) and by_schema.consume_token(token), text
                steps += 1
            assert by_schema.compute_bitmask() == by_grammar.compute_bitmask(), text   # the end: only the stop
            assert by_schema.is_accepting() and by_grammar.is_accepting()
    assert steps > 5_000


def test_the_schema_is_plain_json_schema_with_the_grammars_facts(groundings):
    for g in groundings:
        s = schema.grounded_json_schema(g)
        jsonschema.Draft202012Validator.check_schema(s)
        valid = jsonschema.Draft202012Validator(s)
        outputs = grammar_outputs(g)
        for text in outputs:
            assert valid.is_valid(json.loads(text)), text
            assert not schema.validate_timeline(json.loads(text))   # the project's own schema too
        if not g.plays:
            assert [json.loads(t) for t in outputs] == [{"timeline": []}]
            any_play = {"ts": "Q1 11:00", "event": "Any play at all", "fan_sentiment": "neutral"}
            assert not valid.is_valid({"timeline": [any_play]})
            continue
        first = json.loads(outputs[-1])["timeline"]   # the most entries the window admits
        wrong = [
            {"timeline": first[1:]} if g.ranked and len(first) > 1 else None,             # skips the first play
            {"timeline": [{**first[0], "quote": "a comment nobody was shown"}]},
            {"timeline": [{**first[0], "ts": "Q2 01:00"}]},
            {"timeline": [{**first[0], "event": "Somebody else scores"}]},
            {"timeline": first + [first[0]]},                                              # one entry too many / twice
            {"timeline": [{k: v for k, v in first[0].items() if k != "quote"}]} if "quote" in first[0] else None,
        ]
        fixed = g.plays[0].feeling
        if fixed:
            other = next(f for f in schema.SENTIMENTS if f != fixed)
            wrong.append({"timeline": [{**first[0], "fan_sentiment": other}]})
        for obj in filter(None, wrong):
            assert not valid.is_valid(obj), obj


def test_the_schema_of_a_window_is_deterministic_and_small(groundings):
    """The same window gives the same bytes (a cache key for runtimes that compile schemas), and a
    window's schema stays small next to its prompt."""
    for g in groundings:
        text = json.dumps(schema.grounded_json_schema(g))
        assert text == json.dumps(schema.grounded_json_schema(Grounding.of(g.as_rows(), ranked=g.ranked)))
        assert len(text) < (4_000 if g.ranked else 16_000)


def test_the_api_and_the_cli_give_every_window_its_messages_and_schema(base_model_path, tmp_path):
    """/v1/windows (a real server on loopback) carries each window's chat messages and grounded
    schema; `fan-timeline generate --emit-prompts` (the real console script) writes the same files
    without loading the weights; both are what the server's own decoding is grounded by."""
    import subprocess
    import sys
    from pathlib import Path

    import httpx
    from _serving import LiveServer, sample_body

    from fan_timeline.server import create_app

    game_id = "S0002"
    service = TimelineService.reader(base_model_path)
    with LiveServer(create_app(service)) as url:
        body = httpx.post(f"{url}/v1/windows", json=sample_body(game_id), timeout=120).json()
    sample = next(s for s in find_samples(SAMPLES) if s.id == game_id)
    game = service.read_raw(*sample.raw_files(), sample.meta)
    plans = game.windows(body["audience"])
    assert len(body["windows"]) == len(plans)
    for w, plan in zip(body["windows"], plans):
        assert w["messages"] == plan.prompt.messages
        assert w["json_schema"] == schema.grounded_json_schema(plan.prompt.grounding)
    assert sum(bool(w["json_schema"]["properties"]["timeline"].get("prefixItems")) for w in body["windows"]) > 5

    out = tmp_path / "prompts"
    cli = Path(sys.executable).with_name("fan-timeline")
    done = subprocess.run([str(cli), "generate", "--model", base_model_path, "--game-dir", str(sample.path),
                           "--audience", body["audience"], "--windows", "2,5", "--emit-prompts", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "loading" not in done.stderr                      # the weights never loaded
    listed = json.loads((out / "windows.json").read_text())
    assert [w["index"] for w in listed["windows"]] == [2, 5] and listed["audience"] == body["audience"]
    for i in (2, 5):
        assert json.loads((out / f"{i:03d}.messages.json").read_text()) == body["windows"][i]["messages"]
        assert json.loads((out / f"{i:03d}.schema.json").read_text()) == body["windows"][i]["json_schema"]

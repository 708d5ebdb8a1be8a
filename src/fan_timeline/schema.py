"""The timeline JSON Schema (v1): the one place that loads, validates and serialises timelines.

`timeline.schema.json` beside this module is the single source of the grammar: the trainer's
completions are serialised with `dump_timeline` (the same compact form and key order the
constrained decoder produces), the evaluator and the server validate with `validate_timeline`, and
the constrained decoder compiles the file itself.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("timeline.schema.json")
SCHEMA_VERSION = "v1"
SENTIMENTS = ("positive", "negative", "mixed", "neutral")
ITEM_KEYS = ("ts", "event", "fan_sentiment", "quote")  # the order the grammar fixes


@functools.cache
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


def item_schema() -> dict[str, Any]:
    return load_schema()["properties"]["timeline"]["items"]


def max_items() -> int:
    return int(load_schema()["properties"]["timeline"]["maxItems"])


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


@functools.cache
def _item_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(item_schema())


def validate_timeline(obj: Any) -> list[str]:
    """Schema errors of a parsed timeline, as readable strings ("" path means the root)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(_validator().iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]


def validate_item(item: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<item>'}: {e.message}"
            for e in _item_validator().iter_errors(item)]


def parse_timeline(text: str) -> tuple[Any | None, str | None]:
    """(parsed, None) for valid JSON text, else (None, the JSON error). Schema is checked separately."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at char {exc.pos}"


def normalise_item(item: dict[str, Any]) -> dict[str, Any]:
    """Key order of the grammar; drops an empty quote."""
    out = {k: item[k] for k in ITEM_KEYS if k in item and item[k] not in (None, "")}
    return out


def dump_timeline(entries: list[dict[str, Any]]) -> str:
    """The canonical text of a timeline: compact, grammar key order, UTF-8 (no \\u escapes)."""
    obj = {"timeline": [normalise_item(e) for e in entries]}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


LIST_OPEN, LIST_CLOSE, ENTRY_SEPARATOR = '{"timeline":[', "]}", ","


def decision_pieces(text: str) -> list[str]:
    """A canonical timeline text cut where its writer decides whether to report one more moment:
    `{"timeline":[`, each entry, each `,` between them, and `]}` (any other text: one piece).

    The trainer tokenizes each piece alone and decoding never joins two of them in one token, so
    that choice is always a token of its own (`,` or `{` to go on, `]` to close) whose margin can
    be read and moved (`grammar.GrammarMask`)."""
    try:
        entries = json.loads(text)["timeline"]
        canonical = dump_timeline(entries) == text
    except (ValueError, KeyError, TypeError):
        return [text]
    if not canonical:
        return [text]
    pieces = [LIST_OPEN]
    for i, e in enumerate(entries):
        pieces += [ENTRY_SEPARATOR] if i else []
        pieces.append(dump_timeline([e])[len(LIST_OPEN):-len(LIST_CLOSE)])
    return pieces + [LIST_CLOSE]


def entry_choice_chars(piece: str) -> int:
    """How many leading characters of a `decision_pieces` piece say which play it reports: an
    entry up to the end of its `ts` value; 0 for any other piece."""
    if not piece.startswith("{"):
        return 0
    try:
        ts = json.loads(piece)["ts"]
    except (ValueError, KeyError, TypeError):
        return 0
    head = '{"ts":' + json.dumps(ts, ensure_ascii=False)
    return len(head) if piece.startswith(head) else 0


_QUANT_RE = re.compile(r"\{(\d+),(\d+)\}\$$")


def _string_max_bytes(spec: dict[str, Any]) -> int:
    """Upper bound on the bytes of a JSON string value (with its quotes) that `spec` admits.

    The grammar writes each character as itself, except `"` and `\\`, which take the two-byte
    escapes `\\"` and `\\\\` (the schema's x-guidance `json_allowed_escapes` admits no others: no
    `\\uXXXX`, no `\\n`; raw control characters are never valid JSON). So a character costs at
    most 2 bytes where the pattern admits only printable ASCII, else at most 4 (UTF-8).
    Checked against the grammar in tests/test_generate.py.
    """
    if "enum" in spec:
        return max(len(json.dumps(v, ensure_ascii=False).encode()) for v in spec["enum"])
    pattern = spec.get("pattern", "")
    if pattern.startswith("^(Q[1-4]|OT[1-9])"):
        return 2 + len("OT9 12:59")  # letters, digits, space and colon: one byte each
    n = spec.get("maxLength")
    m = _QUANT_RE.search(pattern)
    if m:
        n = int(m.group(2)) if n is None else min(n, int(m.group(2)))
    if n is None:
        raise ValueError(f"unbounded string in the timeline schema: {spec}")
    ascii_only = pattern.startswith("^[ -~]{")
    return 2 + n * (2 if ascii_only else 4)


def _allowed_escapes() -> str:
    return load_schema().get("x-guidance", {}).get("json_allowed_escapes", "")


def max_output_bytes() -> int:
    """Bytes of the longest output the schema admits in the compact form the grammar fixes.

    Every token is at least one byte, so a generation budget of this many new tokens (plus the
    end-of-turn token) always lets a constrained output close. Checked by tests against the
    grammar itself.
    """
    if set(_allowed_escapes()) - {'"', "\\"}:
        raise ValueError("max_output_bytes assumes the grammar admits only the escapes \\\" and \\\\ "
                         "(x-guidance json_allowed_escapes in the schema file)")
    items = item_schema()
    per_item = 2  # braces
    for i, key in enumerate(ITEM_KEYS):
        per_item += len(json.dumps(key)) + 1 + _string_max_bytes(items["properties"][key])
        per_item += 1 if i else 0  # comma between members
    wrapper = len('{"timeline":[]}')
    n = max_items()
    return wrapper + n * per_item + (n - 1)


@functools.cache
def _item_pattern(key: str) -> re.Pattern[str]:
    return re.compile(item_schema()["properties"][key]["pattern"])


@dataclass(frozen=True)
class GroundedPlay:
    """One play a window shows: the `ts` and the `event` an entry about it must have (its fact's
    sentence), the comments it may quote (the reactions shown under it), its `feeling` when
    that is fixed (the audience's vote; None: any of SENTIMENTS), whether the prompt lists it
    among the likely moments (`likely`; None: not known) and its candidate score (`score`; None:
    not known), which set the stop bias before it (`calibration.StopBias`)."""

    ts: str
    event: str
    quotes: tuple[str, ...] = ()
    feeling: str | None = None
    likely: bool | None = None
    score: float | None = None


@dataclass(frozen=True)
class Grounding:
    """What one window's timeline may say: its plays, in the order the prompt lists them (the
    most telling first). Constrained decoding with `grounded_grammar` writes entries about these
    plays only, each with its own `ts` and `event` and a quote from its own reactions, in that
    order, each play at most once. `ranked` (the default): a timeline is the first N plays, and
    the decoder chooses only how many; else any of them in order (a model that skips listed plays
    picked worse on val: docs/log/2026-12-06-ranked-choice.md)."""

    plays: tuple[GroundedPlay, ...]
    ranked: bool = True

    @classmethod
    def of(cls, plays: Sequence[Sequence[Any]], ranked: bool = True) -> Grounding:
        """From (ts, event, quotes[, feeling[, likely[, score]]]) per play, keeping what the schema
        admits as it is (a ts of the pattern, an event of the alphabet and length, quotable comments,
        a feeling of SENTIMENTS), each play once."""
        ts_re, event_re = _item_pattern("ts"), _item_pattern("event")
        out, seen = [], set()
        for ts, event, quotes, *rest in plays:
            if (ts, event) in seen or not ts_re.search(ts) or not event_re.search(event):
                continue
            seen.add((ts, event))
            feeling, likely, score = (list(rest) + [None, None, None])[:3]
            out.append(GroundedPlay(ts, event, tuple(dict.fromkeys(q for q in quotes if quote_ok(q))),
                                    feeling if feeling in SENTIMENTS else None,
                                    None if likely is None else bool(likely),
                                    None if score is None else float(score)))
        return cls(tuple(out), ranked)

    def likely_at(self, choice: int) -> bool | None:
        """Whether the play a ranked timeline's `choice`-th decision (0 = its first) would add is
        listed among the likely moments; None when that is not known (not ranked, no such play,
        or no `likely`)."""
        return self.plays[choice].likely if self.ranked and choice < len(self.plays) else None

    def score_at(self, choice: int) -> float | None:
        """The candidate score of the play a ranked timeline's `choice`-th decision would add; None
        when not known."""
        return self.plays[choice].score if self.ranked and choice < len(self.plays) else None

    def as_rows(self) -> list[list[Any]]:
        """The plays as JSON rows (ts, event, quotes, feeling, likely, score): what `of` reads back."""
        return [[g.ts, g.event, list(g.quotes), g.feeling, g.likely, g.score] for g in self.plays]


def _lark_literal(text: str) -> str:
    """A lark string literal matching exactly `text` (lark literals take JSON's escapes)."""
    return json.dumps(text, ensure_ascii=False)


def _entry_prefix(play: GroundedPlay) -> str:
    return ('{"ts":' + json.dumps(play.ts, ensure_ascii=False)
            + ',"event":' + json.dumps(play.event, ensure_ascii=False)
            + ',"fan_sentiment":')


def grounded_grammar(grounding: Grounding) -> str:
    """The llguidance (lark) grammar of one window's timelines: the compact JSON `dump_timeline`
    writes, with up to `max_items()` entries about distinct plays of `grounding`, in its order (the
    prompt's: the most telling first; with `grounding.ranked` the first N of them),
    each `{"ts":<its ts>,"event":<its event>,"fan_sentiment":<its feeling, or one of SENTIMENTS>}`
    with, when the play has shown reactions, `"quote":<one of them>` before the closing brace: an
    entry whose play drew reactions always quotes its fans.

    Every output is valid against the schema file (each value satisfies its pattern) and
    `grounded_max_bytes` bounds it.
    """
    n, k = len(grounding.plays), max_items()
    lines = ["start: " + _lark_literal('{"timeline":[') + (" entries?" if n else "") + " " + _lark_literal("]}")]
    if n:
        starts = range(1 if grounding.ranked else n)
        lines.append("entries: " + " | ".join(f"e{i} r{i}_{k - 1}" for i in starts))
        if any(p.feeling is None for p in grounding.plays):
            lines.append("sentiment: " + " | ".join(_lark_literal(json.dumps(s)) for s in SENTIMENTS))
        quote_key, close, comma = _lark_literal(',"quote":'), _lark_literal("}"), _lark_literal(",")
        for i, play in enumerate(grounding.plays):
            quote = ""
            if play.quotes:
                options = " | ".join(_lark_literal(json.dumps(q, ensure_ascii=False)) for q in play.quotes)
                lines.append(f"q{i}: {quote_key} ({options})")
                quote = f" q{i}"
            feeling = _lark_literal(json.dumps(play.feeling)) if play.feeling else "sentiment"
            lines.append(f"e{i}: {_lark_literal(_entry_prefix(play))} {feeling}{quote} {close}")
            for left in range(k):
                nexts = range(i + 1, min(i + 2, n) if grounding.ranked else n)
                later = [f"{comma} e{j} r{j}_{left - 1}" for j in nexts] if left else []
                lines.append(f"r{i}_{left}: " + ("(" + " | ".join(later) + ")?" if later else '""'))
    return "\n".join(lines) + "\n"


def grounded_max_bytes(grounding: Grounding) -> int:
    """Bytes of the longest output `grounded_grammar(grounding)` admits (so a budget of this many
    new tokens plus the end-of-turn token always lets it close: every token is at least a byte)."""
    longest_sentiment = max(len(json.dumps(s)) for s in SENTIMENTS)
    entries = sorted((len(_entry_prefix(p).encode()) + 1
                      + (len(json.dumps(p.feeling)) if p.feeling else longest_sentiment)
                      + (max(len((',"quote":' + json.dumps(q, ensure_ascii=False)).encode()) for q in p.quotes)
                         if p.quotes else 0)
                      for p in grounding.plays), reverse=True)[:max_items()]
    return len('{"timeline":[]}') + sum(entries) + max(0, len(entries) - 1)


def quote_ok(text: str) -> bool:
    """Whether `text` can be a quote as it is (length and alphabet of the schema)."""
    return bool(_item_pattern("quote").search(text))


def timeline_from_text(text: str) -> tuple[Any | None, list[str]]:
    """(parsed timeline, []) for valid output, else (parsed JSON or None, its JSON/schema errors)."""
    parsed, error = parse_timeline(text)
    if error is not None:
        return None, [error]
    return parsed, validate_timeline(parsed)


def grounded_json_schema(grounding: Grounding) -> dict[str, Any]:
    """One window's timelines as plain JSON Schema (draft 2020-12), for runtimes that take a schema
    rather than a grammar (llama.cpp's `json_schema`, Ollama's `format`, LM Studio, vLLM's guided
    JSON): the same outputs as `grounded_grammar(grounding)`. Each entry is one listed play with its
    `ts`, `event` and (when fixed) `fan_sentiment` as constants and `quote` one of the comments
    shown under it (required when there are some); ranked, a timeline is the first N plays
    (`prefixItems`); else any of them in order (one `anyOf` branch per ordered choice). The
    "x-guidance" options (compact JSON, the two escapes) keep llguidance byte-exact with the
    grammar; other runtimes ignore them and may space the JSON differently, never its content."""
    base = load_schema()

    def entry(play: GroundedPlay) -> dict[str, Any]:
        props: dict[str, Any] = {"ts": {"const": play.ts}, "event": {"const": play.event},
                                 "fan_sentiment": {"const": play.feeling} if play.feeling
                                 else {"enum": list(SENTIMENTS)}}
        if play.quotes:
            props["quote"] = {"enum": list(play.quotes)}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    entries = [entry(p) for p in grounding.plays]
    k = min(len(entries), max_items())
    def array(items: Sequence[dict[str, Any]], exact: bool) -> dict[str, Any]:
        # maxItems, not `items: false`, ends the list (fewer runtimes' converters know the latter);
        # a window with no play admits the empty list only (prefixItems may not be empty)
        out: dict[str, Any] = {"type": "array", **({"prefixItems": list(items)} if items else {}),
                               "maxItems": len(items)}
        return out | ({"minItems": len(items)} if exact else {})

    if grounding.ranked or k == 0:
        timeline = array(entries[:k], exact=False)
    else:
        timeline = {"anyOf": [array(c, exact=True) for n in range(k + 1) for c in itertools.combinations(entries, n)]}
    return {"$schema": base["$schema"], "title": "fan-timeline timeline of one window",
            "x-guidance": base["x-guidance"], "type": "object", "properties": {"timeline": timeline},
            "required": ["timeline"], "additionalProperties": False}

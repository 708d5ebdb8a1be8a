"""The timeline JSON Schema (v1): the one place that loads, validates and serialises timelines.

`timeline.schema.json` beside this module is the single source of the grammar: the trainer's
completions are serialised with `dump_timeline` (the same compact form and key order the
constrained decoder produces), the evaluator and the server validate with `validate_timeline`, and
the constrained decoder compiles the file itself.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
class Grounding:
    """What one window's timeline may cite: the clocks of the plays its prompt shows and the
    comments it shows. Constrained decoding with `grounded_schema` keeps every `ts` on a shown
    play and every `quote` verbatim from a shown comment."""

    clocks: tuple[str, ...]
    quotes: tuple[str, ...]

    @classmethod
    def of(cls, clocks: list[str] | tuple[str, ...], quotes: list[str] | tuple[str, ...]) -> Grounding:
        """Distinct values in first-seen order, keeping only those the schema admits as they are."""
        ts = _item_pattern("ts")
        return cls(tuple(dict.fromkeys(c for c in clocks if ts.search(c))),
                   tuple(dict.fromkeys(q for q in quotes if quote_ok(q))))


def grounded_schema(grounding: Grounding) -> dict[str, Any]:
    """The timeline schema narrowed to one window: `ts` an enum of its play clocks, `quote` an enum
    of its comments (no quote property when it shows none, no entries when it shows no play).

    Every enum value satisfies the base schema's pattern, so an output of the narrowed schema is
    valid against the base schema and `max_output_bytes` still bounds it.
    """
    narrowed = copy.deepcopy(load_schema())
    timeline = narrowed["properties"]["timeline"]
    props = timeline["items"]["properties"]
    if grounding.clocks:
        props["ts"] = {"description": props["ts"]["description"], "enum": list(grounding.clocks)}
    else:
        timeline["maxItems"] = 0
    if grounding.quotes:
        props["quote"] = {"description": props["quote"]["description"], "enum": list(grounding.quotes)}
    else:
        del props["quote"]
    return narrowed


def quote_ok(text: str) -> bool:
    """Whether `text` can be a quote as it is (length and alphabet of the schema)."""
    return bool(_item_pattern("quote").search(text))

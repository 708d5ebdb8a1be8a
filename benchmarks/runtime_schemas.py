"""The exported GGUF under llama.cpp, with each window's grounded JSON Schema: are its facts true?

    pip install llama-cpp-python      # builds llama.cpp from the registry's source (~10 min on 2 cores)
    python benchmarks/runtime_schemas.py --out benchmarks/results/runtime_schemas.json   (~5 min on 2 CPU cores)

What a llama.cpp, Ollama or LM Studio user runs: the export's `gguf/model-f16.gguf` under
llama.cpp (llama-cpp-python's `Llama`, greedy, the GGUF's own chat template), on a spread of test
windows (data/sft/test.jsonl), three ways:

- `free`: no schema (what the model writes on its own);
- `schema_file`: `timeline.schema.json`, the whole schema (the model README's old advice: valid JSON);
- `grounded`: the window's own `schema.grounded_json_schema` (what `--emit-prompts` and `/v1/windows` give).

Per run: valid JSON against the timeline schema, entries, facts true (an entry's ts and event are
one of the window's listed plays), quotes verbatim (one of the comments shown under that play),
feelings as the audience voted (where the window fixes one), and agreement with fan-timeline's own
constrained decoding of the same windows with the stop bias at 0: the whole timeline, and the
entries both wrote (a ranked window's timeline is its first N plays, so the runtimes can differ
only in N and in the quotes). llama.cpp decides N under other tokens than the model was trained
on (it may join an entry's end with what follows, "},", which fan-timeline's mask never allows)
and spaces the JSON its own way. Without llama-cpp-python it writes the reason instead of numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from train_throughput import git_commit, machine  # same folder

from fan_timeline import atomic, schema
from fan_timeline.calibration import pair_grounding

REPO = Path(__file__).resolve().parents[1]


def entry_checks(entries: list[dict[str, Any]], grounding: schema.Grounding) -> dict[str, int]:
    """Counts of what a fan checks in one window's entries, against what the window showed."""
    plays = {(p.ts, p.event): p for p in grounding.plays}
    out = {"entries": len(entries), "facts_true": 0, "quotes": 0, "quotes_verbatim": 0, "feelings_fixed": 0,
           "feelings_as_voted": 0}
    for e in entries:
        play = plays.get((e.get("ts"), e.get("event")))
        out["facts_true"] += play is not None
        if e.get("quote") is not None:
            out["quotes"] += 1
            out["quotes_verbatim"] += play is not None and e["quote"] in play.quotes
        if play is not None and play.feeling is not None:
            out["feelings_fixed"] += 1
            out["feelings_as_voted"] += e.get("fan_sentiment") == play.feeling
    return out


def parsed_entries(text: str) -> tuple[list[dict[str, Any]] | None, bool]:
    """(entries, valid against the timeline schema); entries None when the text is not JSON at all.
    Whitespace is the runtime's own business: the text is parsed, not compared."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None, False
    entries = obj.get("timeline") if isinstance(obj, dict) and isinstance(obj.get("timeline"), list) else None
    return ([e for e in entries if isinstance(e, dict)] if entries is not None else None,
            not schema.validate_timeline(obj))


def own_decode(pairs: list[dict[str, Any]], model_dir: Path) -> list[str]:
    """fan-timeline's constrained decoding of the pairs (the export's weights), stop bias 0."""
    from fan_timeline.generate import generate_timelines
    from fan_timeline.model import load_model

    model, tokenizer = load_model(str(model_dir))
    results = generate_timelines(model, tokenizer, [p["prompt"] for p in pairs], constrained=True,
                                 groundings=[pair_grounding(p) for p in pairs], batch_size=8)
    return [r.text for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=REPO / "models" / "export")
    parser.add_argument("--test", type=Path, default=REPO / "data" / "sft" / "test.jsonl")
    parser.add_argument("--windows", type=int, default=32, help="test windows, a fixed spread (those listing a play)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    record: dict[str, Any] = {"benchmark": "runtime_schemas", "commit": git_commit(), "machine": machine("cpu"),
                              "python": platform.python_version(), "command": " ".join([sys.executable, *sys.argv])}
    try:
        import llama_cpp
    except ImportError as exc:
        record |= {"ran": False, "reason": f"llama-cpp-python is not installed ({exc}): `pip install "
                                           "llama-cpp-python` builds llama.cpp from source (~10 min on 2 cores)"}
        atomic.write_json(args.out, record)
        print(record["reason"], file=sys.stderr)
        return 1
    gguf = args.export / "gguf" / "model-f16.gguf"
    pairs = [p for p in atomic.read_jsonl(args.test) if p["grounding"]["plays"]]
    pairs = atomic.spread_subset(pairs, args.windows)
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=2048, n_threads=args.threads, seed=0, verbose=False)
    whole = json.loads(schema.schema_text())
    runs: dict[str, dict[str, Any]] = {}
    own = own_decode(pairs, args.export)
    for name in ("free", "schema_file", "grounded"):
        counts: dict[str, int] = {"windows": 0, "json": 0, "valid": 0, "agree_with_own": 0,
                                  "same_entries_where_both_wrote": 0, "more_entries_than_own": 0,
                                  "fewer_entries_than_own": 0}
        t0, texts = time.perf_counter(), []
        for pair, own_text in zip(pairs, own):
            grounding = pair_grounding(pair)
            fmt = None if name == "free" else {
                "type": "json_object",
                "schema": whole if name == "schema_file" else schema.grounded_json_schema(grounding)}
            out = llm.create_chat_completion(messages=pair["prompt"], response_format=fmt, temperature=0.0,
                                             max_tokens=schema.grounded_max_bytes(grounding) + 64 if fmt else 256)
            text = out["choices"][0]["message"]["content"] or ""
            texts.append({"id": pair["id"], "text": text})
            entries, valid = parsed_entries(text)
            counts["windows"] += 1
            counts["json"] += entries is not None
            counts["valid"] += valid
            own_entries, _ = parsed_entries(own_text)
            own_entries = own_entries or []
            if entries is not None:
                both = min(len(entries), len(own_entries))
                counts["agree_with_own"] += entries == own_entries
                counts["same_entries_where_both_wrote"] += entries[:both] == own_entries[:both]
                counts["more_entries_than_own"] += len(entries) > len(own_entries)
                counts["fewer_entries_than_own"] += len(entries) < len(own_entries)
            for k, v in entry_checks(entries or [], grounding).items():
                counts[k] = counts.get(k, 0) + v
        counts["seconds"] = round(time.perf_counter() - t0, 1)
        runs[name] = counts
        print(f"{name}: {json.dumps(counts)}", file=sys.stderr)
        record.setdefault("texts", {})[name] = texts
    record |= {"ran": True, "llama_cpp_python": llama_cpp.__version__, "gguf": str(gguf.relative_to(REPO))
               if gguf.is_relative_to(REPO) else str(gguf), "windows": len(pairs), "runs": runs}
    atomic.write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

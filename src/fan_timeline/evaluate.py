"""evaluate: generate timelines for the test windows and score them (DESIGN.md §4).

Four runs: the fine-tuned model and the untrained base model, each with free and with
grammar-constrained decoding. Each run is scored against the pair's label (gold where the test
game has gold, else the teacher), with gold- and teacher-labelled windows also reported apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from fan_timeline import schema, scoring
from fan_timeline.generate import GenerationResult, generate_constrained_and_free, timeline_from_text


def base_subset(pairs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """A fixed, spread-out subset of `n` windows (0 = all), e.g. for the slow, rambling base model."""
    if n <= 0 or n >= len(pairs):
        return list(pairs)
    step = len(pairs) / n
    return [pairs[int(i * step)] for i in range(n)]


def reference(pair: dict[str, Any]) -> list[dict[str, Any]]:
    parsed, errors = timeline_from_text(pair["completion"][0]["content"])
    if parsed is None or errors:
        raise ValueError(f"{pair['id']}: its label is not a valid timeline: {errors}")
    return parsed["timeline"]


@dataclass
class RunScore:
    """Scores of one run over its windows."""

    tol_s: float

    def __post_init__(self) -> None:
        self.windows = 0
        self.valid_json = 0
        self.schema_ok = 0
        self.finished = 0
        self.tally = {"all": scoring.EventTally(self.tol_s), "gold": scoring.EventTally(self.tol_s),
                      "teacher": scoring.EventTally(self.tol_s)}
        self.quotes = self.quotes_grounded = 0
        self.entries = self.entries_with_hallucinated_names = 0
        self.ts_outside_window = 0
        self.new_tokens = 0
        self.seconds = 0.0
        self.per_game: dict[str, scoring.EventTally] = defaultdict(lambda: scoring.EventTally(self.tol_s))
        self.per_window: list[tuple[int, int, int]] = []   # (matched, predicted, reference)

    def add(self, pair: dict[str, Any], result: GenerationResult) -> dict[str, Any]:
        """Score one window; returns the prediction record for predictions.jsonl."""
        self.windows += 1
        self.finished += result.finished
        self.new_tokens += result.n_new_tokens
        parsed, errors = timeline_from_text(result.text)
        valid_json = parsed is not None
        self.valid_json += valid_json
        ok = valid_json and not errors
        self.schema_ok += ok
        entries = parsed.get("timeline", []) if ok else []
        ref = reference(pair)
        matched, _, _ = self.tally["all"].add(entries, ref)
        self.per_window.append((matched, len(entries), len(ref)))
        self.tally[pair["label_source"]].add(entries, ref)
        self.per_game[pair["game_id"]].add(entries, ref)
        grounding = pair["grounding"]
        hallucinated = []
        for e in entries:
            self.entries += 1
            g = scoring.quote_grounded(e, grounding["comments"])
            if g is not None:
                self.quotes += 1
                self.quotes_grounded += g
            names = scoring.hallucinated_names(e["event"], grounding["names"])
            self.entries_with_hallucinated_names += bool(names)
            hallucinated += names
            self.ts_outside_window += not scoring.ts_in_window(e, pair["window"]["start_s"], pair["window"]["end_s"])
        return {"id": pair["id"], "game_id": pair["game_id"], "label_source": pair["label_source"],
                "text": result.text, "valid_json": valid_json, "schema_errors": errors[:5], "finished": result.finished,
                "n_new_tokens": result.n_new_tokens, "matched": matched, "predicted": len(entries), "reference": len(ref),
                "hallucinated_names": hallucinated}

    def summary(self) -> dict[str, Any]:
        n = max(1, self.windows)
        events = self.tally["all"].summary()
        return {
            "windows": self.windows,
            "json_validity": self.valid_json / n,
            "schema_compliance": self.schema_ok / n,
            "finished": self.finished / n,
            **{k: events[k] for k in ("event_precision", "event_recall", "event_f1", "sentiment_accuracy",
                                      "sentiment_macro_f1")},
            "event_f1_ci95": list(scoring.bootstrap_f1_ci(self.per_window)),
            "quote_grounding": self.quotes_grounded / self.quotes if self.quotes else 0.0,
            "quotes": self.quotes,
            "hallucinated_name_rate": self.entries_with_hallucinated_names / self.entries if self.entries else 0.0,
            "ts_outside_window_rate": self.ts_outside_window / self.entries if self.entries else 0.0,
            "tokens_per_s": self.new_tokens / self.seconds if self.seconds else 0.0,
            "by_label_source": {src: {k: v for k, v in self.tally[src].summary().items()
                                      if k in ("event_f1", "sentiment_macro_f1", "reference")}
                                for src in ("gold", "teacher") if self.tally[src].n_ref or self.tally[src].n_pred},
        }


def pair_grounding(pair: dict[str, Any]) -> schema.Grounding:
    """What the pair's window lets a timeline cite (build_sft stores the shown clocks and comments)."""
    return schema.Grounding.of(pair["grounding"]["clocks"], pair["grounding"]["comments"])


def evaluate_model(prefix: str, model: Any, tokenizer: Any, pairs: list[dict[str, Any]], *, tol_s: float,
                   batch_size: int, free_max_new_tokens: int | None, constrained_max_new_tokens: int | None = None,
                   progress: Callable[[str], None] = print) -> dict[str, tuple[RunScore, list[dict[str, Any]]]]:
    """Generate and score the runs `<prefix>_constrained` and `<prefix>_free` of one model (each
    prompt's prefill shared by both). Constrained runs are grounded: each window's grammar admits
    only its shown play clocks as `ts` and its shown comments as `quote`, as the server's are."""
    constrained, free = generate_constrained_and_free(
        model, tokenizer, [p["prompt"] for p in pairs], [pair_grounding(p) for p in pairs],
        free_max_new_tokens=free_max_new_tokens, constrained_max_new_tokens=constrained_max_new_tokens,
        batch_size=batch_size, progress=True)
    runs = {}
    for name, results in ((f"{prefix}_constrained", constrained), (f"{prefix}_free", free)):
        score = RunScore(tol_s)
        score.seconds = sum(r.seconds for r in results)   # each carries its share of its batch's time
        predictions = [{"run": name, **score.add(p, r)} for p, r in zip(pairs, results)]
        s = score.summary()
        progress(f"{name}: {s['windows']} windows, valid {s['json_validity']:.0%}, "
                 f"schema {s['schema_compliance']:.0%}, event F1 {s['event_f1']:.2f}, "
                 f"sentiment macro-F1 {s['sentiment_macro_f1']:.2f}, quotes grounded {s['quote_grounding']:.0%}, "
                 f"{s['tokens_per_s']:.1f} tok/s")
        runs[name] = (score, predictions)
    return runs

"""evaluate: write timelines for the test (and stress) windows and score them against the gold.

Runs, all on the same windows:

- `finetuned_constrained`: the fine-tune, decoding with each window's grammar (its plays' own ts and
  fact sentences, its shown reactions as quotes); `finetuned_free`: the same model, no grammar
  (its own skill: whether it copies facts or invents them);
- `base_constrained` / `base_free`: the untrained base model (free on a fixed subset: it rambles);
- `rule`: no LM (`rule.timeline`, its threshold fit on the train split by build_sft);
- `state` and `volume`: no LM, no words: of every fact of the window, those that did the most to the
  game (no comments at all), or that the most comments followed against the thread's pace, each by
  a threshold fit on train (`baseline_entries`);
- `grid`: content-free, three entries per window at +20/+60/+100 s with one feeling: what any
  timestamp-only metric gives away for nothing.

Scores (`scoring`): play-matched event P/R/F1 with a game-resampling interval, the ts-only F1
beside it, fact precision, hallucinated names, sentiment accuracy and macro-F1 over the matched
pairs (with their count and an interval), JSON validity and schema compliance, quote grounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from fan_timeline import rule, scoring, sport
from fan_timeline.calibration import StopBias, pair_grounding
from fan_timeline.generate import GenerationResult, generate_constrained_and_free, generate_timelines
from fan_timeline.schema import timeline_from_text

GRID_OFFSETS_S = (20.0, 60.0, 100.0)
GRID_SENTIMENT = "positive"
GRID_EVENT = "A moment of the game"


def rule_entries(pair: dict[str, Any], threshold: float) -> list[dict[str, Any]]:
    """The rule's timeline of a window, from the candidates build_sft scored (`rule.timeline`)."""
    picked = rule.pick([(c["seq"], c["score"]) for c in pair["candidates"]], threshold)
    out = []
    for c in (c for c in pair["candidates"] if c["seq"] in picked):
        entry = {"ts": c["ts"], "event": c["event"], "fan_sentiment": c["sentiment"]}
        if c["quote"]:
            entry["quote"] = c["quote"]
        out.append(entry)
    return out


def baseline_entries(pair: dict[str, Any], name: str, threshold: float) -> list[dict[str, Any]]:
    """The `state` or `volume` baseline's timeline of a window: of all its facts, those whose value
    (what the play did to the game; how many comments followed it against the thread's pace) reaches
    `threshold`, at most the schema's maxItems, the highest first. Reading no comment, it cannot know
    how the fans felt: it guesses the audience cheers its own team's play and groans at the other's
    (a league thread cheers; a play good for nobody is neutral), and it quotes nobody."""
    picked = rule.pick([(f["seq"], f[name]) for f in pair["baseline_facts"]], threshold)
    team, out = pair.get("audience_team"), []
    for f in sorted((f for f in pair["baseline_facts"] if f["seq"] in picked), key=lambda f: f["seq"]):
        feel = "neutral" if f["for_team"] is None else "positive" if team in (None, f["for_team"]) else "negative"
        out.append({"ts": f["ts"], "event": f["event"], "fan_sentiment": feel})
    return out


def grid_entries(pair: dict[str, Any]) -> list[dict[str, Any]]:
    """Three content-free entries at fixed offsets into the window."""
    w = pair["window"]
    out = []
    for off in GRID_OFFSETS_S:
        t = w["start_s"] + off
        if t <= w["end_s"]:
            period, clock_s = sport.from_game_seconds(t)
            out.append({"ts": sport.clock_label(period, clock_s), "event": GRID_EVENT, "fan_sentiment": GRID_SENTIMENT})
    return out


@dataclass
class RunScore:
    """Scores of one run over its windows."""

    tol_s: float
    windows: list[scoring.WindowCounts] = field(default_factory=list)
    valid_json: int = 0
    schema_ok: int = 0
    finished: int = 0
    entries: int = 0
    facts_true: int = 0
    with_hallucinated_names: int = 0
    ts_outside_window: int = 0
    quotes: int = 0
    quotes_grounded: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    timelines: set[tuple[str, str]] = field(default_factory=set)   # (game, audience): one timeline each

    def add(self, pair: dict[str, Any], text: str, result: GenerationResult | None = None) -> dict[str, Any]:
        """Score one window's output text; returns its record for predictions.jsonl."""
        parsed, errors = timeline_from_text(text)
        self.timelines.add((pair["game_id"], pair["audience"]))
        self.valid_json += parsed is not None
        ok = parsed is not None and not errors
        self.schema_ok += ok
        if result is not None:
            self.finished += result.finished
            self.new_tokens += result.n_new_tokens
            self.seconds += result.seconds
        else:
            self.finished += 1
        entries = [dict(e) for e in parsed.get("timeline", [])] if ok else []
        facts = scoring.window_facts(pair)
        names = sorted({n for f in pair["facts"] for n in f["names"]})
        hallucinated: list[str] = []
        for e in entries:
            f = scoring.resolve_entry(e, facts, self.tol_s)
            e["seq"] = f.seq if f is not None else None
            self.entries += 1
            self.facts_true += scoring.facts_true(e, pair["facts"], self.tol_s)
            bad = scoring.hallucinated_names(e["event"], names)
            self.with_hallucinated_names += bool(bad)
            hallucinated += bad
            self.ts_outside_window += not scoring.ts_in_window(e, pair["window"]["start_s"], pair["window"]["end_s"])
            g = scoring.quote_grounded(e, pair["grounding"]["comments"])
            if g is not None:
                self.quotes += 1
                self.quotes_grounded += g
        counts = scoring.score_window(pair["game_id"], entries, pair["reference"], self.tol_s)
        self.windows.append(counts)
        return {"id": pair["id"], "game_id": pair["game_id"], "audience": pair["audience"], "text": text,
                "valid_json": parsed is not None, "schema_errors": errors[:5],
                "finished": result.finished if result else True, "n_new_tokens": result.n_new_tokens if result else 0,
                "matched": counts.matched, "predicted": counts.predicted, "reference": counts.reference,
                "hallucinated_names": hallucinated}

    def summary(self) -> dict[str, Any]:
        n = max(1, len(self.windows))
        pairs = [p for w in self.windows for p in w.sentiment]
        return {
            "windows": len(self.windows),
            "games": len({w.game for w in self.windows}),
            "json_validity": self.valid_json / n,
            "schema_compliance": self.schema_ok / n,
            "finished": self.finished / n,
            **scoring.summary(self.windows),
            "event_f1_ci95": scoring.bootstrap_ci(self.windows, scoring.event_f1),
            "fact_precision": self.facts_true / self.entries if self.entries else 1.0,
            "hallucinated_name_rate": self.with_hallucinated_names / self.entries if self.entries else 0.0,
            "sentiment_macro_f1_ci95": scoring.bootstrap_ci(
                self.windows, lambda ws: scoring.macro_f1(p for w in ws for p in w.sentiment)) if pairs else [0.0, 0.0],
            "quote_grounding": self.quotes_grounded / self.quotes if self.quotes else 0.0,
            "quote_rate": self.quotes / self.entries if self.entries else 0.0,
            "entries_per_game": self.entries / max(1, len(self.timelines)),
            "quotes": self.quotes,
            "entries": self.entries,
            "ts_outside_window_rate": self.ts_outside_window / self.entries if self.entries else 0.0,
            "tokens_per_s": self.new_tokens / self.seconds if self.seconds else 0.0,
        }


def score_texts(name: str, pairs: list[dict[str, Any]], texts: list[str], tol_s: float,
                results: list[GenerationResult] | None = None) -> tuple[RunScore, list[dict[str, Any]]]:
    score = RunScore(tol_s)
    preds = [{"run": name, **score.add(p, t, r)} for p, t, r in zip(pairs, texts, results or [None] * len(pairs))]
    return score, preds


def progress_line(name: str, s: dict[str, Any]) -> str:
    return (f"{name}: {s['windows']} windows, event F1 {s['event_f1']:.2f} (ts-only {s['event_f1_ts_only']:.2f}), "
            f"facts {s['fact_precision']:.0%}, sentiment macro-F1 {s['sentiment_macro_f1']:.2f} "
            f"({s['sentiment_pairs']} pairs), valid {s['json_validity']:.0%}, {s['tokens_per_s']:.1f} tok/s")


def evaluate_model(prefix: str, model: Any, tokenizer: Any, pairs: list[dict[str, Any]], *, tol_s: float,
                   batch_size: int, free_max_new_tokens: int | None, free_pairs: list[dict[str, Any]] | None = None,
                   progress: Callable[[str], None] = print,
                   stop_bias: StopBias | float = 0.0) -> dict[str, tuple[RunScore, list[dict[str, Any]]]]:
    """Generate and score `<prefix>_constrained` on `pairs` and `<prefix>_free` on `free_pairs`
    (default: the same; those windows share their prompt prefill between the two). `stop_bias`
    is the constrained decoding's (`calibration.fit_stop_bias`)."""
    free_pairs = pairs if free_pairs is None else free_pairs
    free_ids = {p["id"] for p in free_pairs}
    both = [p for p in pairs if p["id"] in free_ids]
    only = [p for p in pairs if p["id"] not in free_ids]
    con_b, free_b = generate_constrained_and_free(
        model, tokenizer, [p["prompt"] for p in both], [pair_grounding(p) for p in both],
        free_max_new_tokens=free_max_new_tokens, batch_size=batch_size, progress=True,
        stop_bias=stop_bias) if both else ([], [])
    con_o = generate_timelines(model, tokenizer, [p["prompt"] for p in only], constrained=True,
                               groundings=[pair_grounding(p) for p in only], batch_size=batch_size,
                               progress=True, stop_bias=stop_bias) if only else []
    by_id = dict(zip([p["id"] for p in both] + [p["id"] for p in only], list(con_b) + list(con_o)))
    constrained = [by_id[p["id"]] for p in pairs]
    free_by_id = dict(zip([p["id"] for p in both], free_b))
    runs = {}
    for name, run_pairs, results in ((f"{prefix}_constrained", pairs, constrained),
                                     (f"{prefix}_free", both, [free_by_id[p["id"]] for p in both])):
        score, preds = score_texts(name, run_pairs, [r.text for r in results], tol_s, results)
        progress(progress_line(name, score.summary()))
        runs[name] = (score, preds)
    return runs

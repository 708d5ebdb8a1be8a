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

from fan_timeline import rule, schema, scoring, sport
from fan_timeline.generate import (
    GenerationResult,
    StopBias,
    generate_constrained_and_free,
    generate_timelines,
    timeline_from_text,
)

GRID_OFFSETS_S = (20.0, 60.0, 100.0)
GRID_SENTIMENT = "positive"
GRID_EVENT = "A moment of the game"


def spread_subset(pairs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """A fixed, spread-out subset of `n` windows (0 = all), e.g. for the slow, rambling base model."""
    if n <= 0 or n >= len(pairs):
        return list(pairs)
    step = len(pairs) / n
    return [pairs[int(i * step)] for i in range(n)]


@dataclass(frozen=True)
class PlayRef:
    """A fact of a window as build_sft stores it (what `scoring.resolve_entry` needs)."""

    seq: int
    clock: str
    text: str
    game_s: float
    names: tuple[str, ...]


def window_facts(pair: dict[str, Any]) -> list[PlayRef]:
    return [PlayRef(f["seq"], f["ts"], f["event"], float(f["t"]), tuple(f["names"])) for f in pair["window_facts"]]


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
        facts = window_facts(pair)
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


def pair_grounding(pair: dict[str, Any]) -> schema.Grounding:
    """What the pair's window lets a timeline cite (build_sft stores its plays and shown quotes)."""
    return schema.Grounding.of(pair["grounding"]["plays"])


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
    is the constrained decoding's (`fit_stop_bias`)."""
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


# --------------------------------------------------------------------------------------------
# The stop bias: how readily the model reports a moment, fit on val

STOP_BIAS_NEVER = 1e4                                   # no margin reaches it: never close the list by choice
# The biases `fit_stop_bias` tries: -4 .. 8 by quarters, and "always close" / "never close" (an
# untrained model's margins run far past 8: without these it could not reach the rule's timeline).
STOP_BIASES = (-STOP_BIAS_NEVER, *(x / 4 for x in range(-16, 33)), STOP_BIAS_NEVER)


def _entries(result: GenerationResult) -> list[dict[str, Any]]:
    parsed, errors = timeline_from_text(result.text)
    return parsed["timeline"] if parsed is not None and not errors else []


def _closes_at(margins: tuple[float, ...], grounding: schema.Grounding, bias: StopBias, n_entries: int) -> int:
    """How many entries a row keeps under `bias`: it closes at its first choice whose margin exceeds
    the bias before the play that choice would add (`StopBias.before`)."""
    return next((i for i, m in enumerate(margins) if m > bias.before(grounding, i)), n_entries)


def texts_at_bias(results: list[GenerationResult], groundings: list[schema.Grounding],
                  bias: StopBias | float) -> list[str]:
    """The timelines a constrained decode with stop bias `bias` would have written, from one
    decode with `STOP_BIAS_NEVER` of the same groundings (see `fit_stop_bias`)."""
    bias = StopBias.of(bias)
    texts = []
    for r, g in zip(results, groundings):
        entries = _entries(r)
        texts.append(schema.dump_timeline(entries[:_closes_at(r.stop_margins, g, bias, len(entries))]))
    return texts


class StopBiasScores:
    """Play-matched event F1 of one never-closing decode under any stop bias, fast: each window's
    counts are scored once per length its timeline can be cut to, then summed per bias.
    `groundings`: what the decode was constrained to (default: each pair's, `pair_grounding`)."""

    def __init__(self, pairs: list[dict[str, Any]], results: list[GenerationResult], tol_s: float,
                 groundings: list[schema.Grounding] | None = None):
        self.rows = []
        for pair, r, g in zip(pairs, results, groundings or [pair_grounding(p) for p in pairs]):
            entries, cuts = _entries(r), RunScore(tol_s)
            for k in range(len(entries) + 1):
                cuts.add(pair, schema.dump_timeline(entries[:k]))
            self.rows.append((r.stop_margins, g, len(entries), cuts.windows))

    def f1(self, bias: StopBias) -> float:
        cut = [counts[_closes_at(margins, g, bias, n)] for margins, g, n, counts in self.rows]
        return scoring.event_f1(cut)


def f1_by_stop_bias(pairs: list[dict[str, Any]], results: list[GenerationResult], tol_s: float,
                    ) -> dict[float, float]:
    """Play-matched event F1 on `pairs` at each bias of `STOP_BIASES`, the same at every choice,
    from one decode with `STOP_BIAS_NEVER` (see `fit_stop_bias`)."""
    scores = StopBiasScores(pairs, results, tol_s)
    return {b: scores.f1(StopBias.of(b)) for b in STOP_BIASES}


def fit_stop_bias(pairs: list[dict[str, Any]], results: list[GenerationResult], tol_s: float,
                  threshold: float | None = None) -> tuple[StopBias, dict[str, float]]:
    """(bias, {"event_f1_at_0", "event_f1", "event_f1_rule"}): the stop bias (`StopBias`: before a
    likely moment and before another play, each of `STOP_BIASES`; a play is likely when its score
    reaches `threshold`, the rule's, else when the prompt lists it so) of the best play-matched event
    F1 on `pairs` (val windows), ties to the biases nearest 0. "always go on before a likely moment,
    never before another" is in the grid: the rule's own timeline (`event_f1_rule`), which a fit can
    always fall back on.

    A small model trained on few windows reports a moment less (or more) readily than its own
    ranking of the plays deserves, as any classifier's threshold needs setting; and its margins
    before a play the prompt calls a likely moment and before another sit on different scales.
    `results` come from one constrained decode with `stop_bias=STOP_BIAS_NEVER`: every row went on
    to the grammar's last possible entry, recording at each choice the margin of closing the list
    over going on. Under a bias a row closes at its first choice whose margin exceeds the bias
    before that choice's play, so its output is the entries before that choice; the rest of the
    text (the plays it picked, in order, and their quotes) is the same. One decode scores every bias.
    """
    scores = StopBiasScores(pairs, results, tol_s)
    grid = [StopBias(a, b, threshold=threshold) for a in STOP_BIASES for b in STOP_BIASES]
    best = max(grid, key=lambda s: (scores.f1(s), -abs(s.moment) - abs(s.other)))
    rule = StopBias(STOP_BIAS_NEVER, -STOP_BIAS_NEVER, threshold=threshold)
    return best, {"event_f1_at_0": scores.f1(StopBias()), "event_f1": scores.f1(best),
                  "event_f1_rule": scores.f1(rule)}

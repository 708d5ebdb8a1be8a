"""The stop bias: how readily constrained decoding reports one more moment, fit on val.

A small model trained on few windows reports a moment less (or more) readily than its own ranking
of the plays deserves, as any classifier's threshold needs setting. `StopBias` is what decoding
applies (`grammar.GrammarMask` takes it off the logits that close the list of moments);
`fit_stop_bias` fits it on val windows from one decode that never closes by choice
(`STOP_BIAS_NEVER`). train_qlora fits it and writes it into the adapter's train_config.json;
evaluate, export and the server decode with it; benchmarks/stop_bias_curve.py draws its curve.

    results = generate_timelines(model, tokenizer, prompts, constrained=True, groundings=groundings,
                                 stop_bias=STOP_BIAS_NEVER)
    bias, scores = fit_stop_bias(val_pairs, results, tol_s, threshold=rule_threshold)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fan_timeline import schema, scoring

if TYPE_CHECKING:
    from fan_timeline.generate import GenerationResult


@dataclass(frozen=True)
class StopBias:
    """How readily constrained decoding reports a listed play: taken off the logits that close the
    list of moments at a choice whose next play is a likely moment (`moment`) or another play
    (`other`). A positive bias reports more. A play is a likely moment when its candidate score
    reaches `threshold` (the rule's, fit on train: then a large `moment` and a very negative
    `other` write exactly the rule's timeline, so a fit on val can always fall back on it), or,
    without a threshold or a score, when the prompt lists it under "Likely moments". The model's
    margins sit on different scales before the two kinds of play, so the trainer fits each on val
    (`fit_stop_bias`); in between the extremes, the model's margin overrules the rule
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


def pair_grounding(pair: dict[str, Any]) -> schema.Grounding:
    """What the pair's window lets a timeline cite (build_sft stores its plays and shown quotes)."""
    return schema.Grounding.of(pair["grounding"]["plays"])


STOP_BIAS_NEVER = 1e4                                   # no margin reaches it: never close the list by choice
# The biases `fit_stop_bias` tries: -4 .. 8 by quarters, and "always close" / "never close" (an
# untrained model's margins run far past 8: without these it could not reach the rule's timeline).
STOP_BIASES = (-STOP_BIAS_NEVER, *(x / 4 for x in range(-16, 33)), STOP_BIAS_NEVER)


def _entries(result: GenerationResult) -> list[dict[str, Any]]:
    parsed, errors = schema.timeline_from_text(result.text)
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
            entries = _entries(r)
            cuts = [scoring.pair_counts(pair, entries[:k], tol_s) for k in range(len(entries) + 1)]
            self.rows.append((r.stop_margins, g, len(entries), cuts))

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

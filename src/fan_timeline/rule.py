"""The rule: a timeline with no language model, the baseline every evaluate run scores, and the
labeller of games that have no gold file.

- moments: the window's candidate plays (`candidates.window_candidates`) whose score (what the
  play did to the game, plus how far its fans' comments rose above their usual pace) reaches a
  threshold, at most the schema's maxItems, the highest first;
- feeling: the audience's vote on the play (`Candidate.feeling`, the one the grammar gives the
  model too);
- quote: the most upvoted reaction shown under the play.

The threshold is the one value the rule learns: build_sft picks it on the train split
(`fit_threshold`, the best play-matched event F1 there) and evaluate uses it; so do the two
baselines that read less (evaluate: `state`, the game state alone; `volume`, how many comments
alone), each with its own threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fan_timeline import schema

if TYPE_CHECKING:   # evaluate (and train_qlora's calibration) pick with this module, never candidates
    from fan_timeline.candidates import Candidate

DEFAULT_THRESHOLD = 5.0   # without train gold to fit on (teacher labels): a moment's score in most games


def quote(shown: list[dict[str, Any]]) -> str | None:
    """The most upvoted shown reaction that can be quoted as it is."""
    ok = [c for c in shown if schema.quote_ok(str(c["body"]))]
    if not ok:
        return None
    return str(max(ok, key=lambda c: (c.get("score") or 0, -len(str(c["body"])), str(c["comment_id"])))["body"])


def pick(values: list[tuple[int, float]], threshold: float) -> set[int]:
    """The plays a threshold picker reports of one window: of (seq, value) those of `threshold` or
    more, the highest first, at most the schema's maxItems (the rule over its candidates' scores,
    the state and volume baselines over every play's value, and the fit of each threshold)."""
    return {seq for seq, _ in sorted((v for v in values if v[1] >= threshold), key=lambda v: (-v[1], v[0]))
            [:schema.max_items()]}


def timeline(candidates: list[Candidate], shown: dict[int, list[dict[str, Any]]],
             threshold: float) -> list[dict[str, Any]]:
    """The rule's entries for one window and audience, in the candidates' order (the prompt's)."""
    picked = pick([(c.fact.seq, c.score) for c in candidates], threshold)
    entries = []
    for c in (c for c in candidates if c.fact.seq in picked):
        entry = {"ts": c.fact.clock, "event": c.fact.text, "fan_sentiment": c.feeling}
        q = quote(shown.get(c.fact.seq, []))
        if q:
            entry["quote"] = q
        entries.append(entry)
    return entries


def fit_threshold(windows: list[tuple[list[tuple[int, float]], set[int]]]) -> float:
    """The threshold of the best play-matched event F1 over `windows`, each (the plays a picker may
    pick as (seq, value), the seqs of its reference moments): a window reports its plays of that
    value or more, at most the schema's maxItems, the highest first. Every value seen is tried;
    ties go to the lower threshold."""
    best, best_f1 = DEFAULT_THRESHOLD, -1.0
    for t in sorted({round(v, 2) for cands, _ in windows for _, v in cands}):
        tp = n_pred = n_ref = 0
        for cands, ref in windows:
            picked = pick(cands, t)
            tp += len(picked & ref)
            n_pred += len(picked)
            n_ref += len(ref)
        f1 = 2 * tp / (n_pred + n_ref) if n_pred + n_ref else 1.0
        if f1 > best_f1:
            best, best_f1 = t, f1
    return best

"""Timeline quality metrics, on plain Python values so they are easy to test.

What a reader checks, in this order:

- **the moments**: play-matched event precision/recall/F1. A predicted entry matches a reference
  moment only when it is about the same play (`resolve_entry`: the fact at its clock whose sentence
  it is, or whose player it names) and its `ts` is within `tol_s` game seconds; each side used once,
  closest first. A near timestamp on the wrong play is no match. The ts-only F1 (the old, lenient
  matching, which a fixed grid of timestamps scores well on) is kept beside it, named so.
- **the facts**: an entry's facts are true when every name and score its event states appears in
  the plays within `tol_s` of its `ts` (`facts_true`); `hallucinated_names` lists the others.
- **the feeling**: sentiment accuracy and macro-F1 over the play-matched pairs, with their count.

Intervals resample games, not windows (a game's windows share teams, threads and a reaction lag):
`bootstrap_ci` for one run, `paired_bootstrap_difference` for two runs over the same windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from fan_timeline import sport
from fan_timeline.facts import Fact, ascii_text
from fan_timeline.schema import SENTIMENTS


def entry_seconds(entry: dict[str, Any]) -> float | None:
    try:
        return sport.label_to_game_seconds(str(entry.get("ts", "")))
    except ValueError:
        return None


_CAP_WORD = re.compile(r"\b[A-Z][a-zA-Z'\-.]{1,}\b")
_SCORE = re.compile(r"\b\d+-\d+\b")
# Capitalised words that are ordinary English in event sentences, not names.
COMMON_WORDS = frozenset("""End Start Tied Tie The And With From After Before Lead Leads Game Run
Free Throw Throws Three Dunk Dunks Block Blocks Steal Steals Layup Jumper Foul Timeout Overtime
Quarter Half Buzzer Score Scores Points Makes Misses Hits Ties Takes Clutch Answer Answers Big
Huge Late Early First Second Third Fourth And-one Alley-oop Fast Break Final OT Q1 Q2 Q3 Q4 OT1 OT2
OT3 OT4 Jr. Sr. II III IV""".split())


def names_in(text: str) -> list[str]:
    """The name-like words of an event: capitalised words that are not ordinary English."""
    return [w for w in _CAP_WORD.findall(text) if w not in COMMON_WORDS]


def resolve_entry(entry: dict[str, Any], facts: Sequence[Fact], tol_s: float = 0.0) -> Fact | None:
    """The play an entry is about: the fact at its clock with its very sentence; else, among the
    facts within `tol_s` of its clock, the closest one whose player it names; else None."""
    t = entry_seconds(entry)
    if t is None:
        return None
    event = str(entry.get("event", ""))
    for f in facts:
        if f.clock == entry.get("ts") and f.text == event:
            return f
    words = {ascii_text(w).lower() for w in re.split(r"[\s,]+", event) if w}
    near = sorted((abs(f.game_s - t), f.seq, f) for f in facts if abs(f.game_s - t) <= tol_s)
    for _, _, f in near:
        if f.names and all(part.lower() in words for part in f.names[0].split()):
            return f
    return None


def match_events(pred: list[dict[str, Any]], ref: list[dict[str, Any]], tol_s: float,
                 same_play: bool = True) -> list[tuple[int, int]]:
    """Pairs (pred index, ref index), closest first, each side used at most once. With `same_play`
    both entries must carry the same `seq` (the play they are about); without, time alone decides."""
    cands = []
    for i, p in enumerate(pred):
        tp = entry_seconds(p)
        if tp is None or (same_play and p.get("seq") is None):
            continue
        for j, r in enumerate(ref):
            tr = entry_seconds(r)
            if tr is not None and abs(tp - tr) <= tol_s and (not same_play or p.get("seq") == r.get("seq")):
                cands.append((abs(tp - tr), i, j))
    used_p, used_r, pairs = set(), set(), []
    for _, i, j in sorted(cands):
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def prf(tp: int, n_pred: int, n_ref: int) -> dict[str, float]:
    """Precision, recall and F1; an empty prediction of an empty reference is perfect."""
    precision = tp / n_pred if n_pred else (1.0 if n_ref == 0 else 0.0)
    recall = tp / n_ref if n_ref else (1.0 if n_pred == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def facts_true(entry: dict[str, Any], words: Iterable[dict[str, Any]], tol_s: float) -> bool:
    """Whether every name and score the entry's event states appears in the plays within `tol_s`
    of its ts (`words`: per play its game second `t`, its `names` and `scores`, as build_sft
    stores them)."""
    t = entry_seconds(entry)
    if t is None:
        return False
    near = [w for w in words if abs(w["t"] - t) <= tol_s]
    names = {ascii_text(n).lower().rstrip(".") for w in near for n in w["names"]}
    scores = {s for w in near for s in w["scores"]}
    event = str(entry.get("event", ""))
    return all(ascii_text(n).lower().rstrip(".") in names for n in names_in(event)) and \
        all(s in scores for s in _SCORE.findall(event))


def hallucinated_names(event: str, allowed: Iterable[str]) -> list[str]:
    """Name-like words in `event` that are none of the `allowed` names (players, teams of the input)."""
    ok = {ascii_text(w).lower().rstrip(".") for name in allowed for w in re.split(r"[\s\-.]+", str(name)) if w}
    return [w for w in names_in(event)
            if not all(part.lower().rstrip(".") in ok for part in re.split(r"[\-]", ascii_text(w)) if part)]


def macro_f1(pairs: Iterable[tuple[str, str]], labels: Iterable[str] = SENTIMENTS) -> float:
    """Macro-F1 over the labels that occur in either the predictions or the references."""
    pairs = list(pairs)
    present = [lab for lab in labels if any(lab in pr for pr in pairs)]
    if not present:
        return 0.0
    scores = []
    for lab in present:
        tp = sum(1 for p, r in pairs if p == lab and r == lab)
        fp = sum(1 for p, r in pairs if p == lab and r != lab)
        fn = sum(1 for p, r in pairs if p != lab and r == lab)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def sentiment_confusion(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{reference: {predicted: count}} over the four sentiments."""
    table = {r: {p: 0 for p in SENTIMENTS} for r in SENTIMENTS}
    for p, r in pairs:
        if r in table and p in table[r]:
            table[r][p] += 1
    return table


@dataclass
class WindowCounts:
    """One window's tallies, what the game-resampling intervals need."""

    game: str
    matched: int              # play-matched
    predicted: int
    reference: int
    ts_matched: int           # ts-only
    sentiment: list[tuple[str, str]] = field(default_factory=list)   # (pred, ref) on play-matched pairs


def score_window(game: str, pred: list[dict[str, Any]], ref: list[dict[str, Any]], tol_s: float) -> WindowCounts:
    """`pred` entries carry the `seq` of the play they are about (None if none), `ref` entries too."""
    pairs = match_events(pred, ref, tol_s)
    return WindowCounts(game, len(pairs), len(pred), len(ref), len(match_events(pred, ref, tol_s, same_play=False)),
                        [(str(pred[i].get("fan_sentiment")), str(ref[j].get("fan_sentiment"))) for i, j in pairs])


def event_f1(windows: Sequence[WindowCounts], ts_only: bool = False) -> float:
    m = sum(w.ts_matched if ts_only else w.matched for w in windows)
    return prf(m, sum(w.predicted for w in windows), sum(w.reference for w in windows))["f1"]


def summary(windows: Sequence[WindowCounts]) -> dict[str, Any]:
    """Event P/R/F1 (play-matched and ts-only), sentiment over the play-matched pairs."""
    m, n_pred, n_ref = (sum(getattr(w, k) for w in windows) for k in ("matched", "predicted", "reference"))
    pairs = [p for w in windows for p in w.sentiment]
    return {**{f"event_{k}": v for k, v in prf(m, n_pred, n_ref).items()},
            "event_f1_ts_only": event_f1(windows, ts_only=True),
            "matched": m, "predicted": n_pred, "reference": n_ref,
            "sentiment_pairs": len(pairs),
            "sentiment_accuracy": sum(p == r for p, r in pairs) / len(pairs) if pairs else 0.0,
            "sentiment_macro_f1": macro_f1(pairs)}


def _game_resamples(windows: Sequence[WindowCounts], n: int, seed: int) -> list[list[int]]:
    """`n` resamples of the games (with replacement), each as the list of its windows' indexes."""
    games = sorted({w.game for w in windows})
    by_game = {g: [i for i, w in enumerate(windows) if w.game == g] for g in games}
    rng = np.random.default_rng(seed)
    return [[i for k in rng.integers(0, len(games), size=len(games)) for i in by_game[games[k]]] for _ in range(n)]


def bootstrap_ci(windows: Sequence[WindowCounts], stat: Callable[[list[WindowCounts]], float], *, n: int = 2000,
                 seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile interval of `stat` over resamples of the games: how far a figure could move on
    other games like these. Seeded, so a rerun reports the same interval."""
    if not windows:
        return [0.0, 0.0]
    values = [stat([windows[i] for i in pick]) for pick in _game_resamples(windows, n, seed)]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def paired_bootstrap_difference(a: Sequence[WindowCounts], b: Sequence[WindowCounts],
                                stat: Callable[[list[WindowCounts]], float], *, n: int = 2000, seed: int = 0,
                                level: float = 0.95) -> list[float]:
    """Interval of stat(a) - stat(b) for two runs over the same windows (a[i] and b[i] are one
    window), both resampled with the same games. Above 0: a beats b beyond the luck of the games."""
    if len(a) != len(b) or any(x.game != y.game for x, y in zip(a, b)):
        raise ValueError(f"paired runs need the same windows: {len(a)} vs {len(b)}")
    if not a:
        return [0.0, 0.0]
    diffs = [stat([a[i] for i in pick]) - stat([b[i] for i in pick]) for pick in _game_resamples(a, n, seed)]
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def quote_grounded(entry: dict[str, Any], comments: Iterable[str]) -> bool | None:
    """True if the entry's quote occurs verbatim in one of the input comments; None if no quote."""
    quote = entry.get("quote")
    if not quote:
        return None
    return any(quote in body for body in comments)


def ts_in_window(entry: dict[str, Any], start_s: float, end_s: float) -> bool:
    t = entry_seconds(entry)
    return t is not None and start_s <= t <= end_s


# --------------------------------------------------------------------------------------------
# A window as build_sft stores it (one pair of data/sft/*.jsonl)


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


def pair_counts(pair: dict[str, Any], entries: list[dict[str, Any]], tol_s: float) -> WindowCounts:
    """Counts of a window's timeline `entries` against its reference, each entry matched to the
    fact of the window it is about (`resolve_entry`)."""
    facts = window_facts(pair)
    about = [resolve_entry(e, facts, tol_s) for e in entries]
    resolved = [{**e, "seq": f.seq if f is not None else None} for e, f in zip(entries, about)]
    return score_window(pair["game_id"], resolved, pair["reference"], tol_s)

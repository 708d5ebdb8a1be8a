"""Timeline quality metrics (DESIGN.md §4), on plain Python values so they are easy to test.

Events match by game time: a predicted entry matches a reference entry whose `ts` lies within
`tol_s` seconds of game clock, each reference matched at most once (greedy by closest time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from fan_timeline import sport
from fan_timeline.schema import SENTIMENTS


def _game_s(entry: dict[str, Any]) -> float | None:
    try:
        return sport.label_to_game_seconds(str(entry.get("ts", "")))
    except ValueError:
        return None


def match_events(pred: list[dict[str, Any]], ref: list[dict[str, Any]], tol_s: float) -> list[tuple[int, int]]:
    """Pairs (pred index, ref index), closest first, each side used at most once."""
    cands = []
    for i, p in enumerate(pred):
        tp = _game_s(p)
        if tp is None:
            continue
        for j, r in enumerate(ref):
            tr = _game_s(r)
            if tr is not None and abs(tp - tr) <= tol_s:
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


def _resampled_f1(windows: list[tuple[int, int, int]], picks: Any) -> Any:
    """Event F1 of each resample (a row of window indices) from per-window (matched, predicted, reference)."""
    import numpy as np

    counts = np.asarray(windows, dtype=np.int64)
    matched, pred, ref = (counts[:, k][picks].sum(axis=1) for k in range(3))
    total = pred + ref
    return np.where(total > 0, 2 * matched / np.maximum(total, 1), 1.0)   # empty vs empty: perfect


def bootstrap_f1_ci(windows: list[tuple[int, int, int]], *, n: int = 2000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of event F1 from per-window (matched, predicted, reference)
    counts, windows resampled with replacement: how far the F1 of a few dozen windows could move
    on other windows like them. Seeded, so a rerun reports the same interval."""
    import numpy as np

    if not windows:
        return 0.0, 0.0
    picks = np.random.default_rng(seed).integers(0, len(windows), size=(n, len(windows)))
    lo, hi = np.quantile(_resampled_f1(windows, picks), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_bootstrap_f1_difference(a: list[tuple[int, int, int]], b: list[tuple[int, int, int]], *, n: int = 2000,
                                   seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Interval of F1(a) - F1(b) for two runs over the same windows (a[i] and b[i] are one window),
    both resampled with the same window indices. An interval above 0 says a beats b beyond what
    the choice of windows explains."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired runs need the same windows: {len(a)} vs {len(b)}")
    if not a:
        return 0.0, 0.0
    picks = np.random.default_rng(seed).integers(0, len(a), size=(n, len(a)))
    diff = _resampled_f1(a, picks) - _resampled_f1(b, picks)
    lo, hi = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


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


@dataclass
class EventTally:
    """Accumulates event matching and sentiment agreement over many windows."""

    tol_s: float
    tp: int = 0
    n_pred: int = 0
    n_ref: int = 0
    sentiment_pairs: list[tuple[str, str]] = field(default_factory=list)   # (pred, ref) on matches

    def add(self, pred: list[dict[str, Any]], ref: list[dict[str, Any]]) -> tuple[int, int, int]:
        pairs = match_events(pred, ref, self.tol_s)
        self.tp += len(pairs)
        self.n_pred += len(pred)
        self.n_ref += len(ref)
        self.sentiment_pairs += [(str(pred[i].get("fan_sentiment")), str(ref[j].get("fan_sentiment"))) for i, j in pairs]
        return len(pairs), len(pred), len(ref)

    def merge(self, other: EventTally) -> None:
        self.tp += other.tp
        self.n_pred += other.n_pred
        self.n_ref += other.n_ref
        self.sentiment_pairs += other.sentiment_pairs

    def summary(self) -> dict[str, Any]:
        acc = (sum(p == r for p, r in self.sentiment_pairs) / len(self.sentiment_pairs)) if self.sentiment_pairs else 0.0
        return {**{f"event_{k}": v for k, v in prf(self.tp, self.n_pred, self.n_ref).items()},
                "matched": self.tp, "predicted": self.n_pred, "reference": self.n_ref,
                "sentiment_accuracy": acc, "sentiment_macro_f1": macro_f1(self.sentiment_pairs)}


def sentiment_confusion(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{reference: {predicted: count}} over the four sentiments."""
    table = {r: {p: 0 for p in SENTIMENTS} for r in SENTIMENTS}
    for p, r in pairs:
        if r in table and p in table[r]:
            table[r][p] += 1
    return table


def quote_grounded(entry: dict[str, Any], comments: Iterable[str]) -> bool | None:
    """True if the entry's quote occurs verbatim in one of the input comments; None if no quote."""
    quote = entry.get("quote")
    if not quote:
        return None
    return any(quote in body for body in comments)


_CAP_WORD = re.compile(r"\b[A-Z][a-zA-Z'\-]{2,}\b")
# Capitalised words that are ordinary English in event sentences, not names.
COMMON_WORDS = frozenset("""End Start Tied Tie The And With From After Before Lead Leads Game Run
Free Throw Throws Three Dunk Dunks Block Blocks Steal Steals Layup Jumper Foul Timeout Overtime
Quarter Half Buzzer Score Scores Points Makes Misses Hits Ties Takes Clutch Answer Answers Big
Huge Late Early First Second Third Fourth And-one Alley-oop Fast Break OT Q1 Q2 Q3 Q4""".split())


def hallucinated_names(event: str, allowed: Iterable[str]) -> list[str]:
    """Capitalised words in `event` that are neither in the input's names nor common words.

    `allowed` holds the player names, team codes and team names of the window's plays.
    """
    ok = {w.lower() for name in allowed for w in re.split(r"[\s\-]+", str(name)) if w}
    return [w for w in _CAP_WORD.findall(event) if w.lower() not in ok and w not in COMMON_WORDS]


def ts_in_window(entry: dict[str, Any], start_s: float, end_s: float) -> bool:
    t = _game_s(entry)
    return t is not None and start_s <= t <= end_s

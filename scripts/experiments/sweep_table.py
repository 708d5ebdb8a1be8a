"""Markdown table of a recipe sweep: configs named RECIPE_sN (seed N) are pooled per recipe, sorted
by val event F1 at the stop bias fit as train_qlora fits it (val is the split recipes are chosen on).
"unranked" columns: the same adapter decoding with the grammar that admits any listed plays in
order, not only the first N (sweep.py's "unranked_too"), its stop bias fit the same way.

    python scripts/experiments/sweep_table.py SWEEP_OUT_DIR [SWEEP_OUT_DIR ...]
"""
import collections
import json
import re
import statistics as st
import sys
from pathlib import Path

COLLAPSE = 0.75   # a run that predicts the empty list on this share of val windows (of those with a reference)


def mean_sd(xs: list[float]) -> str:
    return f"{st.mean(xs):.2f} ± {st.stdev(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


def main() -> None:
    by_recipe = collections.defaultdict(list)
    for d in sys.argv[1:]:
        for f in sorted(Path(d).glob("*/result.json")):
            by_recipe[re.sub(r"_s\d+$", "", f.parent.name)].append(json.loads(f.read_text()))
    rows = []
    for recipe, rs in by_recipe.items():
        def col(run: str, key: str) -> str:
            vals = [r[run][key] for r in rs if run in r]
            if vals and isinstance(vals[0], dict):   # a stop bias fit apart by the kind of play (likely moment, other)
                return " / ".join(mean_sd([v[k] for v in vals]) for k in vals[0])
            return mean_sd(vals) if vals else "-"
        collapsed = sum(v["empty_on_moments"] >= COLLAPSE * v["windows_with_moments"]
                        for v in (r.get("val_constrained", {}) for r in rs) if "empty_on_moments" in v)
        rows.append((st.mean(r["val_constrained"]["event_f1"] for r in rs), [
            recipe, len(rs), rs[0].get("train_windows", "-"), col("val_constrained", "event_f1"),
            col("val_stop_bias", "fit"), col("val_stop_bias", "f1_best"), col("val_rule", "event_f1"),
            col("val_constrained", "sentiment_macro_f1"), col("val_free", "json_validity"),
            col("val_free", "fact_precision"), col("val_free", "event_f1"), col("test_constrained", "event_f1"),
            col("test_rule", "event_f1"), col("stress_constrained", "event_f1"), col("stress_rule", "event_f1"),
            col("unranked_val_constrained", "event_f1"), col("unranked_test_constrained", "event_f1"),
            col("unranked_stress_constrained", "event_f1"), collapsed, round(st.mean(r["train_s"] for r in rs))]))
    header = ["recipe", "seeds", "train windows", "val F1", "stop bias", "val F1 at its best bias", "val rule F1",
              "val sentiment", "val free valid", "val free facts", "val free F1", "test F1", "test rule F1",
              "stress F1", "stress rule F1", "unranked val F1", "unranked test F1", "unranked stress F1", "collapsed",
              "train s (GPU)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for _, row in sorted(rows, key=lambda x: -x[0]):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()

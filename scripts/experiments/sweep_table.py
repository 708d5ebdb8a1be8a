"""Markdown table of a recipe sweep: configs named RECIPE_sN (seed N) are pooled per recipe.

    python scripts/experiments/sweep_table.py SWEEP_OUT_DIR [SWEEP_OUT_DIR ...]
"""
import collections
import json
import re
import statistics as st
import sys
from pathlib import Path

COLLAPSE = 0.75   # a run that predicts the empty list on at least this share of test windows


def mean_sd(xs: list[float]) -> str:
    return f"{st.mean(xs):.2f} ± {st.stdev(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


def main() -> None:
    by_recipe = collections.defaultdict(list)
    for d in sys.argv[1:]:
        for f in sorted(Path(d).glob("*/result.json")):
            r = json.loads(f.read_text())
            preds = (f.parent / "predictions.jsonl").read_text().splitlines()
            r["test_windows"] = sum('"run": "test_constrained"' in line for line in preds)
            by_recipe[re.sub(r"_s\d+$", "", f.parent.name)].append(r)
    rows = []
    for recipe, rs in by_recipe.items():
        def col(run: str, key: str) -> str:
            return mean_sd([r[run][key] for r in rs])
        collapsed = sum(r["test_constrained"]["empty_predicted"] >= COLLAPSE * r["test_windows"] for r in rs)
        rows.append((st.mean(r["val_constrained"]["event_f1"] for r in rs), [
            recipe, len(rs), rs[0].get("train_windows", "-"), col("val_constrained", "event_f1"),
            col("test_constrained", "event_f1"), col("test_constrained", "sentiment_macro_f1"),
            col("test_free", "json_validity"), col("test_free", "event_f1"), collapsed,
            round(st.mean(r["train_s"] for r in rs))]))
    print("| recipe | seeds | train windows | val event F1 | test event F1 | test sentiment macro-F1 "
          "| test free valid | test free event F1 | collapsed | train s (GPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _, row in sorted(rows, key=lambda x: -x[0]):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()

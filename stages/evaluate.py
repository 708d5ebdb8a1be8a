"""DVC stage `evaluate`: generate and score timelines for the test windows, four runs.

    python stages/evaluate.py data/sft/test.jsonl models/adapter metrics/eval.json plots/eval data/eval/predictions.jsonl

Reads params.yaml section `evaluate`. The fine-tuned model runs on every test window; the base
model on `evaluate.base_windows` of them (a fixed subset, recorded in the metrics); the metrics'
`on_base_subset` scores the fine-tuned runs' outputs on those same windows, like for like, and
`finetuned_minus_base_event_f1_ci95` is the paired bootstrap interval of the event F1 difference
there (above 0: the fine-tune beats the base beyond the luck of the windows). Each run's
`event_f1_ci95` is its own bootstrap interval over its windows.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (DESIGN.md §7)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from fan_timeline import atomic, scoring  # noqa: E402
from fan_timeline.config import ConfigError, EvaluateConfig, load_section  # noqa: E402
from fan_timeline.evaluate import RunScore, base_subset, evaluate_model  # noqa: E402
from fan_timeline.generate import GenerationResult, load_model  # noqa: E402


def rescore(pairs: list[dict], predictions: list[dict], tol_s: float) -> RunScore:
    """A run's predictions scored on a subset of its windows (no generation time: no tokens/s)."""
    by_id = {p["id"]: p for p in predictions}
    score = RunScore(tol_s)
    for pair in pairs:
        pred = by_id[pair["id"]]
        score.add(pair, GenerationResult(text=pred["text"], n_new_tokens=pred["n_new_tokens"],
                                         finished=pred["finished"], seconds=0.0, time_to_first_token=0.0))
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("test", type=Path)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("plots", type=Path)
    parser.add_argument("predictions", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        cfg = load_section(EvaluateConfig, args.params)
    except ConfigError as exc:
        print(f"evaluate failed: {exc}", file=sys.stderr)
        return 1
    pairs = base_subset(atomic.read_jsonl(args.test), cfg.max_windows)
    base_model = json.loads((args.adapter / "train_config.json").read_text())["base_model"]
    subset = base_subset(pairs, cfg.base_windows)   # the base model rambles: a fixed subset
    metrics, predictions, scores = {"runs": {}, "on_base_subset": {}}, [], {}
    for prefix in ("finetuned", "base"):
        finetuned = prefix == "finetuned"
        model, tokenizer = load_model(base_model, adapter=str(args.adapter) if finetuned else None)
        runs = evaluate_model(prefix, model, tokenizer, pairs if finetuned else subset, tol_s=cfg.ts_tolerance_s,
                              batch_size=cfg.batch_size, free_max_new_tokens=cfg.free_max_new_tokens)
        for name, (score, preds) in runs.items():
            scores[name] = score
            metrics["runs"][name] = score.summary()
            predictions += preds
            if finetuned:  # the same windows the base model ran on, scored from the same outputs
                scores[f"{name}_on_base_subset"] = rescore(subset, preds, cfg.ts_tolerance_s)
                metrics["on_base_subset"][name] = scores[f"{name}_on_base_subset"].summary()
                del metrics["on_base_subset"][name]["tokens_per_s"]
    # Fine-tuned minus base event F1 on the base's windows, paired by window: above 0 = beats it
    # beyond what the choice of these few windows explains.
    metrics["finetuned_minus_base_event_f1_ci95"] = {
        mode: list(scoring.paired_bootstrap_f1_difference(scores[f"finetuned_{mode}_on_base_subset"].per_window,
                                                          scores[f"base_{mode}"].per_window))
        for mode in ("constrained", "free")}
    metrics["test_windows"] = len(pairs)
    metrics["base_subset_windows"] = [p["id"] for p in subset]
    metrics["ts_tolerance_s"] = cfg.ts_tolerance_s
    atomic.write_jsonl(args.predictions, predictions)
    args.plots.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.plots / "validity.json", [
        {"run": name, "json_validity": m["json_validity"], "schema_compliance": m["schema_compliance"]}
        for name, m in metrics["runs"].items()])
    atomic.write_json(args.plots / "per_game_f1.json", [
        {"game_id": game, "run": name, "event_f1": tally.summary()["event_f1"]}
        for name in ("finetuned_constrained", "base_constrained") for game, tally in sorted(scores[name].per_game.items())])
    atomic.write_json(args.plots / "sentiment_confusion.json", [
        {"actual": ref, "predicted": pred}
        for pred, ref in scores["finetuned_constrained"].tally["all"].sentiment_pairs])
    atomic.write_json(args.metrics, metrics)   # last: export reads it, so it only exists once all is written
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("evaluate", main))

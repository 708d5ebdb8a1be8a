"""DVC stage `evaluate`: write and score timelines for the test and stress windows.

    python stages/evaluate.py data/sft models/adapter metrics/eval.json plots/eval data/eval/predictions.jsonl

Reads params.yaml section `evaluate`, data/sft/{test,stress}.jsonl and data/sft/rule.json (the
thresholds of the rule and the state and volume baselines, fit on train by build_sft). On the test
windows: the fine-tune constrained and free (on `evaluate.free_windows` of them), the base model
constrained on `base_windows` of them (free on `base_free_windows`), the rule, the state and volume
baselines and the content-free grid; on the stress windows the fine-tune constrained and the same
runs with no model. Each
gain of the fine-tune (constrained) over a baseline comes with a paired bootstrap interval that
resamples games: `finetuned_minus_<baseline>_event_f1_ci95` (above 0: it beats the baseline beyond
the luck of the games).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see fan_timeline.generate)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from fan_timeline import atomic, schema, scoring  # noqa: E402
from fan_timeline.calibration import StopBias  # noqa: E402
from fan_timeline.config import ConfigError, EvaluateConfig, load_section  # noqa: E402
from fan_timeline.evaluate import (  # noqa: E402
    RunScore,
    baseline_entries,
    evaluate_model,
    grid_entries,
    progress_line,
    rule_entries,
    score_texts,
)
from fan_timeline.model import load_model  # noqa: E402
from fan_timeline.plots import write_table  # noqa: E402


def text_runs(pairs: list[dict], thresholds: dict[str, float], tol_s: float) -> dict:
    """The runs with no model (the rule, the state and volume baselines, the grid): their entries are
    computed, then scored alike."""
    makers = {"rule": lambda p: rule_entries(p, thresholds["rule"]),
              **{b: (lambda p, b=b: baseline_entries(p, b, thresholds[b])) for b in ("state", "volume")},
              "grid": grid_entries}
    return {name: score_texts(name, pairs, [schema.dump_timeline(make(p)) for p in pairs], tol_s)
            for name, make in makers.items()}


NO_MODEL = ("rule", "state", "volume", "grid")


def gains(finetuned, baselines: dict, names: tuple[str, ...]) -> dict:
    return {f"finetuned_minus_{b}_event_f1_ci95": scoring.paired_bootstrap_difference(
        finetuned.windows, baselines[b].windows, scoring.event_f1) for b in names if b in baselines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sft", type=Path)
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
    test = atomic.spread_subset(atomic.read_jsonl(args.sft / "test.jsonl"), cfg.max_windows)
    stress = atomic.spread_subset(atomic.read_jsonl(args.sft / "stress.jsonl"), cfg.stress_windows)
    thresholds = json.loads((args.sft / "rule.json").read_text())["thresholds"]
    train_config = json.loads((args.adapter / "train_config.json").read_text())
    base_model, stop_bias = train_config["base_model"], StopBias.of(train_config.get("stop_bias"))
    tol = cfg.ts_tolerance_s
    runs, stress_runs, predictions = {}, {}, []

    model, tokenizer = load_model(base_model, adapter=str(args.adapter))
    free = atomic.spread_subset(test, cfg.free_windows)
    runs |= evaluate_model("finetuned", model, tokenizer, test, tol_s=tol, batch_size=cfg.batch_size,
                           free_max_new_tokens=cfg.free_max_new_tokens, free_pairs=free, stop_bias=stop_bias)
    if stress:
        ft = evaluate_model("finetuned", model, tokenizer, stress, tol_s=tol, batch_size=cfg.batch_size,
                            free_max_new_tokens=cfg.free_max_new_tokens, free_pairs=[], stop_bias=stop_bias)
        stress_runs["finetuned_constrained"] = ft["finetuned_constrained"]
    del model
    model, tokenizer = load_model(base_model)
    base = atomic.spread_subset(test, cfg.base_windows)
    runs |= evaluate_model("base", model, tokenizer, base, tol_s=tol, batch_size=cfg.batch_size,
                           free_max_new_tokens=cfg.free_max_new_tokens,
                           free_pairs=atomic.spread_subset(base, cfg.base_free_windows))
    runs |= text_runs(test, thresholds, tol)
    stress_runs |= text_runs(stress, thresholds, tol) if stress else {}
    for name in NO_MODEL:
        print(progress_line(name, runs[name][0].summary()))

    ft = runs["finetuned_constrained"][0]
    on_base = RunScore(tol, windows=[w for p, w in zip(test, ft.windows) if p["id"] in {b["id"] for b in base}])
    metrics = {
        "runs": {name: score.summary() for name, (score, _) in runs.items()},
        "stress": {name: score.summary() for name, (score, _) in stress_runs.items()},
        **gains(ft, {b: runs[b][0] for b in NO_MODEL}, NO_MODEL),
        **gains(on_base, {"base": runs["base_constrained"][0]}, ("base",)),
        "on_base_subset": {"finetuned_constrained": scoring.summary(on_base.windows)},   # like for like
        "test_windows": len(test), "free_windows": len(free), "stress_windows": len(stress),
        "base_windows": len(base),
        "base_free_windows": [p["id"] for p in atomic.spread_subset(base, cfg.base_free_windows)],
        "ts_tolerance_s": tol, "thresholds": thresholds, "stop_bias": stop_bias.as_dict(),
    }
    if stress:
        metrics["stress"] |= gains(stress_runs["finetuned_constrained"][0], {b: stress_runs[b][0] for b in NO_MODEL},
                                   NO_MODEL)
    for name, (_, preds) in list(runs.items()) + [(f"stress_{k}", v) for k, v in stress_runs.items()]:
        predictions += [{**p, "run": name} for p in preds]
    atomic.write_jsonl(args.predictions, predictions)
    args.plots.mkdir(parents=True, exist_ok=True)
    write_table(args.plots / "event_f1.json", [
        {"run": name + suffix, "event_f1": m["event_f1"], "event_f1_ts_only": m["event_f1_ts_only"]}
        for suffix, block in (("", metrics["runs"]), (" (stress)", metrics["stress"]))
        for name, m in block.items() if isinstance(m, dict) and "event_f1" in m])
    per_game = {}
    for w in runs["finetuned_constrained"][0].windows:
        per_game.setdefault(w.game, []).append(w)
    write_table(args.plots / "per_game_f1.json", [
        {"game_id": g, "event_f1": scoring.event_f1(ws)} for g, ws in sorted(per_game.items())])
    write_table(args.plots / "sentiment_confusion.json", [
        {"actual": ref, "predicted": pred}
        for w in runs["finetuned_constrained"][0].windows for pred, ref in w.sentiment])
    atomic.write_json(args.metrics, metrics)   # last: export reads it, so it only exists once all is written
    return 0


if __name__ == "__main__":
    sys.exit(atomic.run_stage("evaluate", main))

"""What a pipeline run measured, for a person: a one-screen summary and the README's tables.

    python -m fan_timeline.report             # the summary `bash scripts/repro.sh` ends with
    python -m fan_timeline.report --tables    # the README's results tables, from metrics/eval.json
    python -m fan_timeline.report --realism   # the README's real-vs-simulated table, from metrics/realism.json

All read the committed metrics/*.json only, so the README's tables are generated from what the
pipeline wrote (a test checks that they match), never copied by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RUN_NAMES = {
    "finetuned_constrained": "**fine-tuned, constrained (the product)**",
    "rule": "rule: heat threshold (no LM)",
    "state": "game state only (no comments)",
    "volume": "comment volume only",
    "finetuned_free": "fine-tuned, free",
    "base_constrained": "base, constrained",
    "base_free": "base, free",
    "grid": "grid (no content)",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%" if x in (0, 1) else f"{100 * x:.1f}%"


def _f1(run: dict[str, Any]) -> str:
    ci = run.get("event_f1_ci95")
    interval = f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci and ci != [run["event_f1"], run["event_f1"]] else ""
    return f"{run['event_f1']:.2f}{interval}"


def _sentiment(run: dict[str, Any]) -> str:
    return f"{run['sentiment_macro_f1']:.2f} ({run['sentiment_pairs']})" if run.get("sentiment_pairs") else "–"


def _pr(run: dict[str, Any]) -> str:
    if not run.get("predicted"):
        return "0 entries"
    return f"{run['event_precision']:.2f} / {run['event_recall']:.2f}"


def results_tables(m: dict[str, Any]) -> str:
    """The README's results tables (test games, stress games, the paired differences) from metrics/eval.json."""
    test = m["runs"]
    rows = ["| run (test games) | windows | event F1 (95% interval) | precision / recall | entries a timeline "
            "| with a quote | facts true (entries) | names not in the game | sentiment macro-F1 (pairs) "
            "| valid JSON | tok/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in RUN_NAMES:
        if name not in test:
            continue
        r = test[name]
        facts = "–" if not r.get("entries") else f"{_pct(r['fact_precision'])} ({r['entries']})"
        names = "–" if not r.get("entries") else _pct(r["hallucinated_name_rate"])
        quotes = "–" if not r.get("entries") else _pct(r["quote_rate"])
        tok = f"{r['tokens_per_s']:.1f}" if r.get("tokens_per_s") else "–"
        rows.append(f"| {RUN_NAMES[name]} | {r['windows']} | {_f1(r)} | {_pr(r)} | {r['entries_per_game']:.1f} | "
                    f"{quotes} | {facts} | {names} | {_sentiment(r)} | {_pct(r['json_validity'])} | {tok} |")
    stress = m.get("stress") or {}
    out = "\n".join(rows)
    if stress:
        rows = ["| run (stress games, never trained on) | windows | event F1 (95% interval) | precision / recall "
                "| entries a timeline | with a quote | sentiment macro-F1 (pairs) |", "|---|---|---|---|---|---|---|"]
        for name in RUN_NAMES:
            if name in stress and isinstance(stress[name], dict):
                r = stress[name]
                quotes = "–" if not r.get("entries") else _pct(r["quote_rate"])
                rows.append(f"| {RUN_NAMES[name]} | {r['windows']} | {_f1(r)} | {_pr(r)} | "
                            f"{r['entries_per_game']:.1f} | {quotes} | {_sentiment(r)} |")
        out += "\n\n" + "\n".join(rows)
    gains = [(k, v) for k, v in sorted(m.items()) if k.startswith("finetuned_minus_")]
    gains += [(f"stress: {k}", v) for k, v in sorted(stress.items()) if k.startswith("finetuned_minus_")]
    if gains:
        out += ("\n\n| paired difference of event F1, resampling games (95% interval) | interval | beats it? |"
                "\n|---|---|---|")
        for k, (lo, hi) in gains:
            verdict = "yes" if lo > 0 else "no: worse" if hi < 0 else "not shown"
            out += f"\n| `{k}` | {lo:+.2f} to {hi:+.2f} | {verdict} |"
    return out


def realism_table(report: dict[str, Any]) -> str:
    """The README's side-by-side of a real game's threads and the simulated sample's (metrics/realism.json)."""
    rows = [f"| how the threads behave (`fan_timeline.realism`) | real playoff game | simulated sample "
            f"({report['games']} games) | band | in band |", "|---|---|---|---|---|"]
    for key, st in report["statistics"].items():
        value = "–" if st["value"] is None else f"{st['value']:.3g}"
        rows.append(f"| `{key}` | {st['real']} | {value} | {st['band'][0]:g}–{st['band'][1]:g} | "
                    f"{'yes' if st['in_band'] else '**no**'} |")
    return "\n".join(rows)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def summary(metrics_dir: Path) -> str:
    """A few lines per stage: what it read, made, learned and scored; where the rest is."""
    lines = []
    if ingest := _read(metrics_dir / "ingest.json"):
        lines.append(f"ingest:      {ingest['games']} games, {ingest['plays']:,} plays, {ingest['comments']:,} "
                     f"comments kept, {ingest['rejected']:,} rows rejected (data/interim/rejected.jsonl says why)")
    if realism := _read(metrics_dir / "realism.json"):
        out = [k for k, st in realism["statistics"].items() if not st["in_band"]]
        verdict = "every figure in its band" if not out else "OUT OF BAND: " + ", ".join(out)
        lines.append(f"             threads against a real game's: {verdict} (metrics/realism.json)")
    if sft := _read(metrics_dir / "sft.json"):
        pairs = ", ".join(f"{k} {v}" for k, v in sft["pairs"].items())
        lines.append(f"build_sft:   pairs {pairs}; gold moments among the candidates "
                     f"{sft['gold']['candidate_recall']:.0%}; rule threshold {sft['rule']['thresholds']['rule']}")
    if train := _read(metrics_dir / "train.json"):
        lines.append(f"train_qlora: {train['steps']} steps, val loss {train['val_loss_initial']:.2f} -> "
                     f"{train['val_loss']:.2f}, {train['tokens_per_s']:.0f} tok/s, {train['wall_s']:.0f} s")
    if ev := _read(metrics_dir / "eval.json"):
        for block, runs in (("test", ev["runs"]), ("stress", ev.get("stress") or {})):
            parts = [f"{name} {r['event_f1']:.2f}" for name, r in runs.items()
                     if isinstance(r, dict) and "event_f1" in r and r.get("windows")]
            lines.append(f"evaluate:    event F1 on {block}: " + ", ".join(parts))
        ft = ev["runs"]["finetuned_constrained"]
        lines.append(f"             the product: facts true {_pct(ft['fact_precision'])}, sentiment macro-F1 "
                     f"{ft['sentiment_macro_f1']:.2f} ({ft['sentiment_pairs']} pairs), valid JSON "
                     f"{_pct(ft['json_validity'])}")
        for k, (lo, hi) in sorted((k, v) for k, v in ev.items() if k.startswith("finetuned_minus_")):
            lines.append(f"             {k}: {lo:+.2f} to {hi:+.2f}")
    if export := _read(metrics_dir / "export.json"):
        lines.append(f"export:      models/export, parity {export.get('parity_equal', '?')}/"
                     f"{export.get('parity_prompts', '?')} ({'ok' if export.get('parity_ok') else 'FAILED'})")
    lines.append("all metrics: dvc metrics show; plots: dvc plots show (offline: docs/reliability.md); "
                 "README 'Results' explains them")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=Path, default=Path("metrics"))
    parser.add_argument("--tables", action="store_true", help="print the README's results tables instead")
    parser.add_argument("--realism", action="store_true", help="print the README's real-vs-simulated table instead")
    args = parser.parse_args(argv)
    if args.tables:
        print(results_tables(json.loads((args.metrics / "eval.json").read_text())))
    elif args.realism:
        print(realism_table(json.loads((args.metrics / "realism.json").read_text())))
    else:
        print(summary(args.metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())

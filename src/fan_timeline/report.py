"""What a pipeline run measured, for a person: a one-screen summary, docs/results.md, the README's table.

    python -m fan_timeline.report            # the summary `bash scripts/repro.sh` ends with
    python -m fan_timeline.report --write    # regenerate docs/results.md and the README's generated blocks
    python -m fan_timeline.report --check    # exit 1 if either is stale (tests/test_report.py checks the same)
    python -m fan_timeline.report --tables   # every run's results tables alone (the model card's too)

Everything here reads files the repo writes and commits: metrics/*.json (the pipeline),
plots/eval/sentiment_confusion.json (evaluate) and benchmarks/results/*.json (the benchmarks). The
prose of docs/results.md and of the README's generated blocks is templates around those numbers,
so no number in them is copied by hand, and a test fails when a committed file moved and they did not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
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
HEADLINE_RUNS = ("finetuned_constrained", "rule", "state", "volume")   # the README's one table
SIGNALS = {   # benchmarks/results/candidate_signal.json's AUC keys
    "importance": "game state (`sport.importance`)",
    "volume": "comment volume against the thread's pace",
    "named": "comments naming the play's player",
    "said": "comments saying what it was",
    "excited": "comments shouting",
    "score": "**the rule's score** (state + what was said + shouting)",
    "refit": "the same five, logistic regression refit on train",
    "boosted_ceiling": "boosted trees over all five (a per-play ceiling)",
}
FAN_EXCERPT = ("0022200552", "r/clefans")   # read_as_a_fan.json: the game file and audience the README shows
README_EXCERPT_ENTRIES = 8
RESULTS_DOC = Path("docs/results.md")
README = Path("README.md")
COMMAND = "python -m fan_timeline.report --write"


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


def _interval(ci: list[float]) -> str:
    return f"{ci[0]:+.2f} to {ci[1]:+.2f}"


def _beats(ci: list[float]) -> str:
    """What a paired interval of (the product minus a baseline) says, as a verb phrase."""
    return "beats" if ci[0] > 0 else "does worse than" if ci[1] < 0 else "is not shown to beat"


def _wrap(text: str, width: int = 100) -> str:
    """Markdown prose wrapped like the hand-written docs; tables, code, headings and comments as they are."""
    out, code = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            code = not code
        if code or line.startswith(("```", "|", "#", "<!--")) or len(line) <= width:
            out.append(line)
        else:
            indent = "  " if line.startswith("- ") else ""
            out.append(textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False,
                                     break_on_hyphens=False))
    return "\n".join(out)


def results_tables(m: dict[str, Any]) -> str:
    """Every run's results (test games, stress games, the paired differences) from metrics/eval.json."""
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
    """The side-by-side of a real game's threads and the simulated sample's (metrics/realism.json)."""
    rows = [f"| how the threads behave (`fan_timeline.realism`) | real playoff game | simulated sample "
            f"({report['games']} games) | band | in band |", "|---|---|---|---|---|"]
    for key, st in report["statistics"].items():
        value = "–" if st["value"] is None else f"{st['value']:.3g}"
        rows.append(f"| `{key}` | {st['real']} | {value} | {st['band'][0]:g}–{st['band'][1]:g} | "
                    f"{'yes' if st['in_band'] else '**no**'} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# The headline: the README's one table and what it says, also the top of docs/results.md


def _difference(block: dict[str, Any], name: str) -> str:
    ci = block.get(f"finetuned_minus_{name}_event_f1_ci95")
    if name == "finetuned_constrained" or not ci:
        return "–"
    verdict = "the product better" if ci[0] > 0 else "the product worse" if ci[1] < 0 else "no difference shown"
    return f"{_interval(ci)} ({verdict})"


def headline_table(ev: dict[str, Any]) -> str:
    """The product beside the rule and the two baselines a sceptic tries first, best event F1 first."""
    test, stress = ev["runs"], ev.get("stress") or {}
    rows = ["| run, best test event F1 first | event F1, test (95% interval) | event F1, stress "
            "| the product minus it, test | the product minus it, stress | facts true | entries quoting a fan "
            "| feeling macro-F1, test (pairs) |",
            "|---|---|---|---|---|---|---|---|"]
    for name in sorted((n for n in HEADLINE_RUNS if n in test), key=lambda n: -test[n]["event_f1"]):
        r, s = test[name], stress.get(name)
        rows.append(f"| {RUN_NAMES[name]} | {_f1(r)} | {_f1(s) if s else '–'} | {_difference(ev, name)} | "
                    f"{_difference(stress, name)} | {_pct(r['fact_precision'])} | {_pct(r['quote_rate'])} | "
                    f"{_sentiment(r)} |")
    return "\n".join(rows)


def _class_f1(confusion: list[dict[str, str]]) -> dict[str, tuple[int, int, float]]:
    """{feeling: (gold count, right, F1)} over the matched pairs, for the feelings that occur."""
    labels = sorted({c["actual"] for c in confusion} | {c["predicted"] for c in confusion})
    out = {}
    for lab in labels:
        tp = sum(c["actual"] == lab and c["predicted"] == lab for c in confusion)
        fp = sum(c["actual"] != lab and c["predicted"] == lab for c in confusion)
        fn = sum(c["actual"] == lab and c["predicted"] != lab for c in confusion)
        out[lab] = (tp + fn, tp, 2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return out


def headline(ev: dict[str, Any], sft: dict[str, Any], train: dict[str, Any],
             confusion: list[dict[str, str]] | None) -> str:
    """What the table says, the unflattering first, as bullets."""
    test, stress = ev["runs"], ev.get("stress") or {}
    ft, rule = test["finetuned_constrained"], test["rule"]
    bullets = []
    d, ds = ev["finetuned_minus_rule_event_f1_ci95"], stress.get("finetuned_minus_rule_event_f1_ci95")
    text = (f"**The fine-tuned model {_beats(d)} the rule it is calibrated against** (no LM: a threshold on "
            f"each listed play's score): event F1 {ft['event_f1']:.2f} against {rule['event_f1']:.2f} on test "
            f"(paired interval of the difference {_interval(d)})")
    if ds and "finetuned_constrained" in stress and "rule" in stress:
        text += (f", {stress['finetuned_constrained']['event_f1']:.2f} against {stress['rule']['event_f1']:.2f} "
                 f"on stress ({_interval(ds)})")
    at0, fit, rule_val = (train.get(k) for k in ("calibration_val_event_f1_at_0", "calibration_val_event_f1",
                                                  "calibration_val_event_f1_rule"))
    if None not in (at0, fit, rule_val):
        text += (f". On val its own margins pick {'worse than' if at0 < rule_val else 'as well as'} the rule "
                 f"(event F1 {at0:.2f} with no stop bias, the rule {rule_val:.2f}); the stop bias fit there "
                 f"reaches {fit:.3f} against the rule's {rule_val:.3f}")
        if abs(fit - rule_val) < 1e-9:
            text += (": the fit falls back on the rule, so the model writes the timeline (which shown comment to "
                     "quote, the JSON) and the rule's score decides which plays")
    bullets.append(text + ".")
    missed = 1 - sft["gold"]["candidate_recall"]
    bullets.append(
        f"**Event F1 {ft['event_f1']:.2f} on test**"
        + (f", {stress['finetuned_constrained']['event_f1']:.2f} on stress games never trained on"
           if "finetuned_constrained" in stress else "")
        + f". A timeline reports {ft['entries_per_game']:.1f} moments per game and audience; "
        f"{ft['event_precision']:.0%} of them are gold moments and {ft['event_recall']:.0%} of the gold moments "
        f"are found. Over the whole sample, {missed:.0%} of the gold moments are never among their window's "
        f"listed plays, so no picker reports them.")
    text = (f"**The fans' feeling: macro-F1 {ft['sentiment_macro_f1']:.2f} over {ft['sentiment_pairs']} matched "
            f"pairs on test**")
    if stress.get("finetuned_constrained", {}).get("sentiment_pairs"):
        s = stress["finetuned_constrained"]
        text += f" ({s['sentiment_macro_f1']:.2f} over {s['sentiment_pairs']} on stress)"
    text += f", though {ft['sentiment_accuracy']:.0%} of the matched feelings are right"
    if confusion and len(confusion) == ft["sentiment_pairs"]:
        per = _class_f1(confusion)
        worst = min(per, key=lambda lab: (per[lab][2], per[lab][0]))
        gold, right, _ = per[worst]
        verdict = f"right {right} times" if right else "never right"
        text += (f": the macro average weighs each of the {len(per)} feelings that occur alike, and {worst} "
                 f"({gold} of {len(confusion)} gold feelings) is {verdict}")
    bullets.append(text + ".")
    facts = ("**every fact is true**" if ft["fact_precision"] == 1
             else f"**{_pct(ft['fact_precision'])} of the facts are true**")
    text = (f"What holds: {facts} ({_pct(ft['fact_precision'])} of {ft['entries']} entries: the event is the "
            f"play-by-play's own play), **{_pct(ft['quote_rate'])} of the entries quote a fan** verbatim")
    beaten = []
    for name, what in (("state", "the game state alone"), ("volume", "the comment volume alone")):
        ci = ev.get(f"finetuned_minus_{name}_event_f1_ci95")
        if ci and name in test:
            cs = stress.get(f"finetuned_minus_{name}_event_f1_ci95")
            beaten.append(f"{_beats(ci)} {what} ({test[name]['event_f1']:.2f}; the difference {_interval(ci)} on "
                          f"test" + (f", {_interval(cs)} on stress" if cs else "") + ")")
    if beaten:
        text += "; reading what the fans say " + " and ".join(beaten)
    bullets.append(text + ".")
    return "\n".join(_wrap("- " + b) for b in bullets)


# --------------------------------------------------------------------------------------------
# Read as a fan (benchmarks/results/read_as_a_fan.json)


def _entry_line(e: dict[str, str]) -> str:
    return f"{e['ts']} {e['event']} | {e['fan_sentiment']} | {e['quote']}"


def _excerpt(fan: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The game, audience and timeline the README shows."""
    file, audience = FAN_EXCERPT
    for game in fan["games"]:
        if game["file"] == file and audience in game["audiences"]:
            return game, audience, game["audiences"][audience]
    game = fan["games"][0]
    audience = next(iter(game["audiences"]))
    return game, audience, game["audiences"][audience]


def readme_excerpt(fan: dict[str, Any]) -> str:
    """The last entries of one real game's timeline, as the product writes them."""
    game, audience, t = _excerpt(fan)
    entries = t["timeline"][-README_EXCERPT_ENTRIES:]
    timelines = sum(len(g["audiences"]) for g in fan["games"])
    body = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries)
    return _wrap(f"The last {len(entries)} entries of the timeline the exported model wrote of {game['game']} for "
            f"{audience} (a real play-by-play from `tests/data/real/`, simulated fans): every event is the feed's "
            f"own play, every quote a shown comment, word for word. The whole game and the other "
            f"{timelines - 1} timelines: [docs/results.md](docs/results.md#read-as-a-fan).\n\n"
            f"```json\n{{\"timeline\": [\n{body}\n]}}\n```")


def _fan_section(fan: dict[str, Any]) -> str:
    tot = fan["totals"]
    timelines = [(g, a, t) for g in fan["games"] for a, t in g["audiences"].items()]
    out = [f"The {len(fan['games'])} real play-by-play files of `tests/data/real/` (real games, players and "
           f"scores), each with simulated realistic threads (the league thread and both teams' subreddits), read "
           f"by the exported model for every audience, the whole game (`{fan['command']}`; {fan['machine']}, "
           f"commit {fan['commit'][:7]}). The simulator's gold says which plays its fans made the moments.",
           "",
           f"Over the {len(timelines)} timelines: {tot['entries']} entries, {tot['facts_true']} of them true facts "
           f"and {tot['with_quote']} quoting a fan; of the {tot['late_gold']} gold moments of the last two minutes "
           f"of regulation and of overtime, {tot['late_found']} found and {tot['late_felt']} with the audience's "
           "feeling right.",
           "",
           "| game | audience | entries | quoting a fan | facts true | last-minutes gold moments | found "
           "| feeling right |",
           "|---|---|---|---|---|---|---|---|"]
    for g, a, t in timelines:
        out.append(f"| {g['game']} | {a} | {t['entries']} | {t['with_quote']} | {t['facts_true']} | "
                   f"{t['late_gold']} | {t['late_found']} | {t['late_felt']} |")
    game, audience, t = _excerpt(fan)
    early = [e for e in t["timeline"] if not e["ts"].startswith(("Q4", "OT"))]
    out += ["", f"The whole of {game['game']} for {audience} (as `clock event | feeling | quote`):", "", "```",
            *(_entry_line(e) for e in t["timeline"]), "```", "",
            f"Of its {len(t['timeline'])} entries, {len(early)} are from the first three quarters, the rest from "
            "the fourth quarter and overtime" + ("; a fan would ask for more of the early game first"
                                                 if 4 * len(early) < len(t["timeline"]) else "")
            + ". `python benchmarks/read_as_a_fan.py` prints every timeline in full."]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# docs/results.md


def _signal_section(signal: dict[str, Any] | None, ceiling: dict[str, Any] | None) -> str:
    out = []
    if signal:
        splits = list(signal["auc"])
        out += ["How well one number per play tells a gold moment from the other plays (ROC AUC over every play of "
                f"each split; `{signal['command']}`, commit {signal['commit'][:7]}):", "",
                "| signal | " + " | ".join(f"{s} ({signal['auc'][s]['gold']} of {signal['auc'][s]['facts']})"
                                         for s in splits) + " |",
                "|---|" + "---|" * len(splits)]
        for key, name in SIGNALS.items():
            if all(key in signal["auc"][s] for s in splits):
                out.append(f"| {name} | " + " | ".join(f"{signal['auc'][s][key]:.2f}" for s in splits) + " |")
        shipped, refit = signal["weights_shipped"], signal.get("weights_refit", {})
        left_out = [k for k, v in shipped.items() if v == 0]
        out += ["", "The score is the game state plus weighted evidence, weights from a logistic regression on "
                "train: shipped " + ", ".join(f"{k} {v:g}" for k, v in shipped.items())
                + ("; refit on this data " + ", ".join(f"{k} {v:g}" for k, v in refit.items()) if refit else "")
                + (f". The shipped score leaves out {' and '.join(left_out)}, so a louder play never scores lower"
                   if "volume" in left_out else "") + "."]
    if ceiling:
        splits = list(ceiling["splits"])
        runs = list(next(iter(ceiling["splits"].values()))["runs"])
        out += ["", "Classifiers fit on train over every number the prompt shows, picking the plays of each window "
                f"(event F1; `{ceiling['command']}`, commit {ceiling['commit'][:7]}):", "",
                "| picker | " + " | ".join(f"{s} ({ceiling['splits'][s]['windows']} windows)" for s in splits) + " |",
                "|---|" + "---|" * len(splits)]
        for run in runs:
            out.append(f"| {run} | " + " | ".join(f"{ceiling['splits'][s]['runs'][run]['event_f1']:.2f}"
                                                   for s in splits) + " |")
        better = [s for s in splits if max(r["event_f1"] for n, r in ceiling["splits"][s]["runs"].items()
                                           if n != "rule") > ceiling["splits"][s]["runs"]["rule"]["event_f1"]]
        out += ["", ("None of them picks better than the rule on any split"
                     if not better else "Some pick better than the rule on " + ", ".join(better))
                + ": what limits every picker is how little a play's reaction says against its thread, not how "
                "the picking is done. How each choice was made, on val: docs/log/2026-12-07-realistic-threads.md."]
    return "\n".join(out)


def _feeling_section(ev: dict[str, Any], confusion: list[dict[str, str]] | None) -> str:
    ft = ev["runs"]["finetuned_constrained"]
    out = [f"Over the product's {ft['sentiment_pairs']} matched pairs on test, {ft['sentiment_accuracy']:.0%} of "
           f"the feelings are right; macro-F1 {ft['sentiment_macro_f1']:.2f} (95% interval "
           f"{ft['sentiment_macro_f1_ci95'][0]:.2f}–{ft['sentiment_macro_f1_ci95'][1]:.2f}) averages the "
           "feelings that occur alike, however rare."]
    if confusion:
        per = _class_f1(confusion)
        labels = list(per)
        out += ["", "Gold feeling (rows) against the product's (columns), from plots/eval/sentiment_confusion.json:",
                "", "| gold \\ written | " + " | ".join(labels) + " | gold count | F1 |",
                "|---|" + "---|" * (len(labels) + 2)]
        for a in labels:
            counts = [sum(c["actual"] == a and c["predicted"] == p for c in confusion) for p in labels]
            out.append(f"| {a} | " + " | ".join(map(str, counts)) + f" | {per[a][0]} | {per[a][2]:.2f} |")
    return "\n".join(out)


def _data_section(sft: dict[str, Any], train: dict[str, Any]) -> str:
    splits = list(sft["pairs"])
    out = ["| split | games | pairs (window × audience) | prompt tokens, median / max | completion tokens, "
           "median / max |", "|---|---|---|---|---|"]
    for s in splits:
        p, c = sft["prompt_tokens"][s], sft["completion_tokens"][s]
        out.append(f"| {s} | {sft['games'][s]} | {sft['pairs'][s]} | {p['p50']:.0f} / {p['max']} | "
                   f"{c['p50']:.0f} / {c['max']} |")
    g = sft["gold"]
    out += ["", f"Of the {g['moments']} gold moments, {g['candidate_recall']:.0%} are among their window's listed "
            f"plays. The rule's threshold, fit on {sft['rule']['fitted_on']}: {sft['rule']['thresholds']['rule']:g} "
            f"(metrics/sft.json)."]
    if train:
        sb = train.get("stop_bias", {})
        out += ["", f"Training (metrics/train.json): {train['steps']} steps, {train['epochs']:g} epochs on "
                f"{train['device']} ({train['nproc']} processes, quantization {train['quantization']}), val loss "
                f"{train['val_loss_initial']:.2f} before and {train['val_loss']:.2f} after, "
                f"{train['tokens_per_s']:.0f} trained tokens/s, {train['train_s']:.0f} s of training steps. "
                f"Stop bias fit on "
                f"{train['calibration_windows']} val windows: {sb.get('moment', 0):+g} before a likely moment, "
                f"{sb.get('other', 0):+g} before another play."]
    return "\n".join(out)


def _inputs(root: Path) -> dict[str, Any]:
    """The committed files docs/results.md and the README's blocks are rendered from, by name."""
    results = root / "benchmarks" / "results"
    eval_path = root / "metrics" / "eval.json"
    if not eval_path.is_file():
        raise SystemExit(f"{eval_path} is missing: run the pipeline (dvc repro) first")
    return {"eval": _read(eval_path),
            "sft": _read(root / "metrics" / "sft.json") or {},
            "train": _read(root / "metrics" / "train.json") or {},
            "realism": _read(root / "metrics" / "realism.json"),
            "confusion": _read(root / "plots" / "eval" / "sentiment_confusion.json"),
            "fan": _read(results / "read_as_a_fan.json"),
            "signal": _read(results / "candidate_signal.json"),
            "ceiling": _read(results / "choice_ceiling.json")}


def results_doc(root: Path) -> str:
    """The whole of docs/results.md, from the committed files under `root`."""
    i = _inputs(root)
    ev, sft, train, realism, confusion, fan = (i[k] for k in ("eval", "sft", "train", "realism", "confusion", "fan"))
    signal, ceiling = i["signal"], i["ceiling"]
    ft, free = ev["runs"]["finetuned_constrained"], ev["runs"].get("finetuned_free")
    parts = [
        "# Results of the default pipeline",
        "",
        f"<!-- Generated by `{COMMAND}` from metrics/*.json, plots/eval/sentiment_confusion.json and "
        "benchmarks/results/*.json; edit the templates in src/fan_timeline/report.py, not this file. -->",
        "",
        f"Timelines for every window of the {ft['games']} test games (for every audience: {ev['test_windows']} "
        f"windows) and {ev.get('stress_windows', 0)} windows spread over the stress games (another seed, bigger "
        "threads, never trained on), scored against the simulated sample's gold. A predicted entry matches a gold "
        f"moment only when it is about the same play (within {ev['ts_tolerance_s']:g} s); feelings are scored on "
        "the matched pairs; every interval resamples games. What each metric means: "
        "[docs/pipeline.md](pipeline.md#evaluation).",
        "",
        "## Where it stands",
        "",
        headline_table(ev),
        "",
        headline(ev, sft, train, confusion),
        "",
        "## Every run",
        "",
        results_tables(ev),
        "",
        "What the runs are: the **rule** reports every listed play whose score (what the play did to the game plus "
        "what its fans said: the comments saying what it was and those shouting, against the thread's usual) "
        "reaches a threshold fit on train, with the feeling its fans voted and the most upvoted shown comment; "
        "**game state only** reads no comment (of every play of the window, those that did the most to the game, "
        "by a threshold fit on train); **comment volume only** reads no word (the plays after which the threads "
        "ran furthest above their own pace); the **grid** writes evenly spaced entries with no content. The "
        "fine-tune's **free** decoding (no grammar) is what it learned on its own"
        + (f": {_pct(free['hallucinated_name_rate'])} of its entries name someone not in the game and "
           f"{_pct(1 - free['json_validity'])} of its outputs are not valid JSON" if free else "")
        + "; the product never decodes free. Free and base decoding run on a fixed subset of the test windows "
        f"({ev.get('free_windows', '–')} and {ev.get('base_windows', '–')}).",
        "",
        "## The fans' feeling",
        "",
        _feeling_section(ev, confusion),
    ]
    if signal or ceiling:
        parts += ["", "## What limits every picker", "", _signal_section(signal, ceiling)]
    parts += ["", "## Data and training", "", _data_section(sft, train)]
    if realism:
        in_band = sum(bool(st["in_band"]) for st in realism["statistics"].values())
        parts += ["", "## The sample against a real game's threads", "",
                  "The sample games are synthetic (Reddit text is not ours to redistribute), written by the "
                  "pipeline's first stage in the real formats, byte-identical for a seed. Their fans behave like a "
                  "real NBA playoff game's, measured per play as that game's threads were: the comment rate after a "
                  "play's logged time against the rate before it, where bursts peak, how often a comment names the "
                  "play's player, what comments look like. A moment lifts the rate a little, an ordinary play "
                  "barely; the loudest minutes follow stoppages, not baskets; most comments are about the game in "
                  "general. Which plays were moments is a latent excitement per play that the pipeline never sees, "
                  "only its fans' noisy reaction. ingest measures these figures on any games it reads "
                  f"(metrics/realism.json, over the {realism['games']} games whose feed logs each play's time, "
                  f"{realism['plays_measured']:,} plays); {in_band} of {len(realism['statistics'])} are inside their "
                  "band, and a test holds the sample inside every band.",
                  "", realism_table(realism)]
    if fan:
        parts += ["", "## Read as a fan", "", _fan_section(fan)]
    parts += ["", "## Caveats", "",
              f"- The scores are agreement with the simulator's gold on synthetic games, not with real fans; "
              f"{ft['games']} test games make wide intervals, which is why every comparison above is a paired "
              "interval over games and not two point estimates.",
              "- Where the stop bias falls back on the rule, the product's plays are the rule's: the fine-tune's "
              "own contribution is the quote and the JSON, not the choice.",
              "- tokens/s is measured where evaluate ran, at its batch size (a `runtime:` knob: it changes speed, "
              "not results); speed on other machines and batch sizes: [docs/performance.md](performance.md).",
              "- Read as a fan runs real play-by-play files with simulated threads: the plays are real, the fans "
              "are not."]
    return "\n".join(_wrap(p) for p in parts) + "\n"


# --------------------------------------------------------------------------------------------
# The README's generated blocks


def readme_blocks(root: Path) -> dict[str, str]:
    """{block name: text} for the README's generated blocks."""
    i = _inputs(root)
    blocks = {"results": headline_table(i["eval"]) + "\n\n" + headline(i["eval"], i["sft"], i["train"], i["confusion"])}
    if i["fan"]:
        blocks["excerpt"] = readme_excerpt(i["fan"])
    return blocks


def markers(name: str) -> tuple[str, str]:
    return f"<!-- generated: {name} (`{COMMAND}`) -->", f"<!-- end of generated: {name} -->"


def with_blocks(doc: str, blocks: dict[str, str]) -> str:
    """`doc` with each generated block between its markers replaced; a missing marker is an error."""
    for name, text in blocks.items():
        begin, end = markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
        if not pattern.search(doc):
            raise ValueError(f"README.md lacks the markers of its generated block {name!r}: {begin} ... {end}")
        doc = pattern.sub(lambda _: f"{begin}\n{text}\n{end}", doc, count=1)
    return doc


def generated_docs(root: Path) -> dict[Path, str]:
    """{path under root: what it should hold now}: docs/results.md and the README."""
    readme = (root / README).read_text(encoding="utf-8")
    return {RESULTS_DOC: results_doc(root), README: with_blocks(readme, readme_blocks(root))}


# --------------------------------------------------------------------------------------------


def _read(path: Path) -> Any:
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
                     f"{train['val_loss']:.2f}, {train['tokens_per_s']:.0f} tok/s, {train['train_s']:.0f} s of steps")
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
                 "what they mean: docs/results.md")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", type=Path, default=Path("metrics"), help="for the summary and --tables")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repo, for --write and --check")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate docs/results.md and the README's blocks")
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/results.md or the README is stale")
    mode.add_argument("--tables", action="store_true", help="print every run's results tables")
    args = parser.parse_args(argv)
    if args.tables:
        print(results_tables(json.loads((args.metrics / "eval.json").read_text())))
    elif args.write or args.check:
        stale = []
        for rel, text in generated_docs(args.root).items():
            path = args.root / rel
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            stale.append(str(rel))
            if args.write:
                path.write_text(text, encoding="utf-8")
        if args.check and stale:
            print(f"stale: {', '.join(stale)}; run `{COMMAND}`", file=sys.stderr)
            return 1
        print(("wrote " + ", ".join(stale)) if args.write and stale else "up to date")
    else:
        print(summary(args.metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())

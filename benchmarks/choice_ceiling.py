"""How well can anything pick a window's moments from what its prompt shows? A learned classifier
beside the rule, on the same candidates, scored by the evaluator.

    pip install scikit-learn   # (the `bench` extra)
    python benchmarks/choice_ceiling.py --out benchmarks/results/choice_ceiling.json   (~10 s)

Under the grounded grammar the fine-tune makes one choice per window: which of the listed
candidate plays to report. This fits classifiers on the train split's candidates (is this play a
gold moment?) and picks, per window, the candidates they rate 0.5 or more (at most the schema's
3, the most likely first), as the rule picks those whose score reaches its threshold. Features:

- `prompt`: what the model's prompt shows of a play (its line: heat digit, the volume against the
  thread's pace, the comments naming its player beyond his usual, those saying what it was, those
  shouting beyond the usual, the audience's comments and their side, the play's own words, the
  period and clock; its place in the list: rank, "Likely moments" or not, how many candidates);
- `prompt+score`: the same and the candidate's exact score (what the rule thresholds).

If a gradient-boosted classifier over every feature the prompt shows cannot beat the rule on
val, test and stress, the model's choice cannot be expected to from these prompts either: the
headroom is in the candidates' signal (what `candidates.py` measures), not in the picking.
Nothing here is chosen on test: the classifiers are fit on train with fixed settings.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

from train_throughput import git_commit, machine  # same folder

from fan_timeline import atomic, schema
from fan_timeline.evaluate import rule_entries, score_texts
from fan_timeline.prompt import MOMENT_HEAT

LINE = re.compile(r" \| heat (?P<heat>\d) \| (?:no comments|pace x(?P<lift>[\d.]+)(?:, .+? (?P<named>[+-]\d+))?, "
                  r"said (?P<said>\d+), shouts (?P<shout>[+-]\d+)) \| here (?P<n>\d+)(?:: (?P<teams>.*))?$")
WORDS = ("ties", "ahead", "lead", "final", "buzzer", "run", "three", "dunk", "free throw", "miss", "block",
         "steal", "turnover", "end of")


def play_lines(pair: dict[str, Any]) -> dict[int, re.Match]:
    """seq -> the reaction part of each candidate's line in the pair's user message (a line is
    the play's ts and event, then `LINE`)."""
    text = pair["prompt"][-1]["content"].split("\n")
    lines = {}
    for c in pair["candidates"]:
        head = f"{c['ts']} {c['event']} | "
        line = next(t for t in text if t.startswith(head))
        lines[c["seq"]] = LINE.search(line, len(head) - 3)
    return lines


def features(pair: dict[str, Any], with_score: bool) -> list[list[float]]:
    """One row per candidate of the pair, in the listed order."""
    lines = play_lines(pair)
    user = pair["prompt"][-1]["content"]
    team_audience = "(all " in user.split("\n")[1]
    rows = []
    for rank, c in enumerate(pair["candidates"]):
        m = lines[c["seq"]]
        counts = [int(x.rsplit(" ", 1)[1]) for x in (m["teams"] or "").split(", ") if x]
        period, clock = c["ts"].rsplit(" ", 1)
        minutes, seconds = clock.split(":")
        text = c["event"].lower()
        row = [int(m["heat"]), float(m["lift"] or 0), int(m["named"] or 0), int(m["said"] or 0), int(m["shout"] or 0),
               int(m["n"]), max(counts, default=0), rank,
               len(pair["candidates"]), int(m["heat"]) >= MOMENT_HEAT, team_audience,
               int(re.sub(r"\D", "", period) or 0),
               period.upper().startswith("OT"), int(minutes) * 60 + int(seconds)]
        row += [w in text for w in WORDS]
        if with_score:
            row.append(c["score"])
        rows.append([float(x) for x in row])
    return rows


def gold_seqs(pair: dict[str, Any]) -> set[int]:
    return {r["seq"] for r in pair["reference"]}


def picked_entries(pair: dict[str, Any], probs: list[float]) -> list[dict[str, Any]]:
    """The candidates rated 0.5+, at most maxItems, the likeliest first, in the listed order, as
    the rule writes them (its threshold replaced by the picks)."""
    top = sorted((i for i, p in enumerate(probs) if p >= 0.5), key=lambda i: -probs[i])[:schema.max_items()]
    picked = {pair["candidates"][i]["seq"] for i in top}
    chosen = {**pair, "candidates": [{**c, "score": 1.0 if c["seq"] in picked else 0.0} for c in pair["candidates"]]}
    return rule_entries(chosen, 1.0)


def run(sft: Path, tol_s: float) -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    splits = {s: atomic.read_jsonl(sft / f"{s}.jsonl") for s in ("train", "val", "test", "stress")}
    threshold = json.loads((sft / "rule.json").read_text())["thresholds"]["rule"]
    out: dict[str, Any] = {"rule_threshold": threshold, "train_candidates": 0, "splits": {}}
    models = {"logistic": lambda: LogisticRegression(max_iter=5000),
              "boosted_trees": lambda: GradientBoostingClassifier(n_estimators=150, max_depth=3, random_state=0)}
    ys = [c["seq"] in gold_seqs(p) for p in splits["train"] for c in p["candidates"]]
    out["train_candidates"] = len(ys)
    fitted = {}
    for with_score in (False, True):
        xs = [row for p in splits["train"] for row in features(p, with_score)]
        for name, make in models.items():
            fitted[f"{name}/{'prompt+score' if with_score else 'prompt'}"] = (make().fit(xs, ys), with_score)
    for split in ("val", "test", "stress"):
        pairs = splits[split]
        runs = {"rule": [rule_entries(p, threshold) for p in pairs]}
        for key, (model, with_score) in fitted.items():
            runs[key] = [picked_entries(p, list(model.predict_proba(features(p, with_score))[:, 1]))
                         if p["candidates"] else [] for p in pairs]
        out["splits"][split] = {"windows": len(pairs), "runs": {}}
        for key, entries in runs.items():
            score, _ = score_texts(key, pairs, [json.dumps({"timeline": e}) for e in entries], tol_s)
            s = score.summary()
            out["splits"][split]["runs"][key] = {k: s[k] for k in ("event_f1", "event_precision", "event_recall")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", type=Path, default=Path("data/sft"))
    parser.add_argument("--tol", type=float, default=20.0, help="evaluate.ts_tolerance_s")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args.sft, args.tol)
    for split, s in result["splits"].items():
        print(f"{split} ({s['windows']} windows): " + ", ".join(
            f"{k} {v['event_f1']:.3f}" for k, v in s["runs"].items()))
    if args.out:
        import sklearn
        atomic.write_json(args.out, {
            "command": "python " + " ".join(sys.argv), "commit": git_commit(), "machine": machine("cpu"),
            "python": platform.python_version(), "versions": {"scikit-learn": sklearn.__version__}, **result})


if __name__ == "__main__":
    main()

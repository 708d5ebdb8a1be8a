"""How well does each signal the candidates read tell a gold moment from another play? And the weights
of `candidates.evidence_score`, refit.

    pip install scikit-learn   # (the `bench` extra)
    python benchmarks/candidate_signal.py --out benchmarks/results/candidate_signal.json   (~1 min, after
                                                                                       `dvc repro build_sft`)

Every fact of every game (`facts.game_facts`: the plays a timeline can name) is one row: what it did
to the game (`sport.importance`) and what its fans said and how much (`candidates.Evidence.features`:
volume, named, said, excited, each a log2 lift over the thread's own pace), labelled by whether it is
one of the game's gold moments. For each split (build_sft's, data/sft/split.json) it reports the
ROC AUC of each signal alone, of the shipped `evidence_score` and of a logistic regression fit on the
train games' facts (its weights, scaled to importance's, are what WEIGHTS ships: refit here when the
data or the features change, and check them on val; test is reported, never chosen on). A
gradient-boosted classifier over the same five signals is the ceiling of any per-play picker.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
from train_throughput import git_commit, machine  # same folder

from fan_timeline import atomic, sport
from fan_timeline.candidates import WEIGHTS, ReactionClock, Reactions, evidence_score
from fan_timeline.facts import game_facts

SIGNALS = ("importance", "volume", "named", "said", "excited")


def records(path: Path) -> list[dict[str, Any]]:
    return json.loads(pd.read_parquet(path).to_json(orient="records"))


def fact_rows(interim: Path) -> list[dict[str, Any]]:
    """One row per fact of every game: its signals, its evidence score and whether it is gold."""
    plays, comments, gold = defaultdict(list), defaultdict(list), defaultdict(set)
    for p in records(interim / "plays.parquet"):
        plays[p["game_id"]].append(p)
    for c in records(interim / "comments.parquet"):
        comments[c["game_id"]].append(c)
    for g in atomic.read_jsonl(interim / "gold.jsonl"):
        gold[g["game_id"]].add(str(g.get("play")))
    rows = []
    for game in records(interim / "games.parquet"):
        gid = game["game_id"]
        facts = game_facts(plays[gid], game["home_team"], game["away_team"])
        reactions = Reactions(ReactionClock(plays[gid], comments[gid], game["reaction_lag_s"]), facts)
        for seq, f in facts.items():
            ev = reactions.evidence[seq]
            rows.append({"game_id": gid, "gold": f.source_id in gold[gid], "importance": sport.importance(f),
                         **ev.features(), "score": evidence_score(f, ev)})
    return rows


def main(argv: list[str] | None = None) -> int:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interim", type=Path, default=Path("data/interim"))
    parser.add_argument("--split", type=Path, default=Path("data/sft/split.json"))
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    rows = pd.DataFrame(fact_rows(args.interim))
    split_of = {g: s for s, games in json.loads(args.split.read_text())["games"].items() for g in games}
    rows["split"] = rows.game_id.map(split_of)
    train = rows[rows.split == "train"]
    x = list(SIGNALS)
    lr = LogisticRegression(max_iter=5000).fit(train[x], train.gold)
    weights = {k: round(float(w / lr.coef_[0][0]), 2) for k, w in zip(x, lr.coef_[0])}
    gbm = GradientBoostingClassifier(random_state=0, max_depth=3, n_estimators=200).fit(train[x], train.gold)
    result: dict[str, Any] = {"weights_shipped": WEIGHTS, "weights_refit": {k: v for k, v in weights.items()
                                                                          if k != "importance"}, "auc": {}}
    for split in ("train", "val", "test", "stress"):
        part = rows[rows.split == split]
        if part.empty or part.gold.nunique() < 2:
            continue
        auc = {k: roc_auc_score(part.gold, part[k]) for k in (*x, "score")}
        auc["refit"] = roc_auc_score(part.gold, lr.decision_function(part[x]))
        auc["boosted_ceiling"] = roc_auc_score(part.gold, gbm.predict_proba(part[x])[:, 1])
        result["auc"][split] = {"facts": len(part), "gold": int(part.gold.sum()), **{k: round(float(v), 4)
                                                                                    for k, v in auc.items()}}
    print(f"weights shipped {WEIGHTS}; refit on train {result['weights_refit']} (importance = 1)")
    print(f"{'split':8s} " + " ".join(f"{k:>10s}" for k in (*x, "score", "refit", "boosted_ceiling")))
    for split, a in result["auc"].items():
        print(f"{split:8s} " + " ".join(f"{a[k]:10.3f}" for k in (*x, "score", "refit", "boosted_ceiling")))
    if args.out:
        import sklearn
        atomic.write_json(args.out, {"commit": git_commit(), "machine": machine("cpu"),
                                     "python": platform.python_version(),
                                     "versions": {"scikit-learn": sklearn.__version__},
                                     "command": "python " + " ".join(sys.argv), **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

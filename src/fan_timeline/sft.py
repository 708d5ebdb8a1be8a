"""build_sft: canonical tables -> prompt/completion pairs, split by game.

One pair per window of game time and audience (`windows.plan_game`). The completion is the
window's gold moments where the game has gold (each written with its play's fact sentence, the
audience's feeling and a quote shown under it), else the rule's (`rule.timeline`). Splits are by
game: a salted hash puts each main game in train, val or test; the stress set's games are the
`stress` split. Each pair also carries what scoring needs: the reference moments (every gold moment
of the window, the ones the prompt does not show included), the candidates the rule picks from, and
the words a fact in the window may use.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fan_timeline import candidates, rule, schema, scoring, sport
from fan_timeline.candidates import Candidate, Evidence
from fan_timeline.config import BuildSftConfig
from fan_timeline.facts import Fact, game_facts
from fan_timeline.prompt import defang
from fan_timeline.windows import WindowPlan, plan_game

SPLITS = ("train", "val", "test", "stress")
FACT_MARGIN_S = 20.0   # an entry's facts may come from the plays up to this far outside its window


def split_games(game_ids: list[str], cfg: BuildSftConfig) -> dict[str, str]:
    """game id -> split. Games are ranked by a salted hash; the first ones go to test, then val.

    Every split gets at least one game when there are three or more games.
    """
    ranked = sorted(game_ids, key=lambda g: hashlib.sha256(f"{cfg.split_salt}:{g}".encode()).hexdigest())
    n = len(ranked)
    n_test = max(1, round(n * cfg.test_fraction)) if n >= 3 else 0
    n_val = max(1, round(n * cfg.val_fraction)) if n >= 3 else 0
    out = {}
    for i, g in enumerate(ranked):
        out[g] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def gold_fact(entry: dict[str, Any], facts: dict[int, Fact], by_source: dict[str, Fact]) -> Fact | None:
    """The fact a gold entry is about: its `play` id when it has one, else the fact at its clock
    whose sentence it is, or that names its first name-like word."""
    if entry.get("play") is not None and str(entry["play"]) in by_source:
        return by_source[str(entry["play"])]
    return scoring.resolve_entry(entry, list(facts.values()))


def label_quote(c: Candidate, shown: list[dict[str, Any]], sentiment: str, wanted: str | None) -> str | None:
    """The quote a label gives a moment: the annotator's when the prompt shows it under the play, else
    a shown reaction that votes the labelled feeling (the model can only copy what it sees), else the
    first shown one (an entry whose play drew reactions always quotes its fans), else none."""
    bodies = [str(r["body"]) for r in shown if schema.quote_ok(str(r["body"]))]
    if wanted in bodies:
        return wanted
    want = {"positive": 1, "negative": -1}.get(sentiment)
    for r in shown:
        body = str(r["body"])
        if schema.quote_ok(body) and (want is None or candidates.vote(r, c.fact.for_team) == want):
            return body
    return bodies[0] if bodies else None


_SCORE_RE = re.compile(r"\b\d+-\d+\b")


def fact_words(w_plays: list[dict[str, Any]], facts: dict[int, Fact], game: dict[str, Any]) -> list[dict[str, Any]]:
    """What an entry about a play in the window may say: per play its game second, the names
    (players, teams) and scores (the running score either way round, and those its fact's sentence
    states, e.g. a run's "10-0")."""
    teams = [game["home_team"], game["away_team"], *(game.get(k) for k in ("home_name", "away_name"))]
    team_words = sorted({w for t in teams if t for w in str(t).split()})
    out = []
    for p in w_plays:
        f = facts.get(p["seq"])
        names = {w for n in (p.get("player"), p.get("player2")) if n for w in re.split(r"[\s.]+", str(n)) if w}
        if f is not None:
            names |= {w for n in f.names for w in n.split()}
        scores = {f"{p['score_home']}-{p['score_away']}", f"{p['score_away']}-{p['score_home']}"}
        if f is not None:
            scores |= set(_SCORE_RE.findall(f.text))
        out.append({"t": float(p["game_s"]), "names": sorted(names | set(team_words)), "scores": sorted(scores)})
    return out


# The pickers with no language model, each a threshold fit on the train windows: `rule` over the listed
# candidates' score (what the play did to the game plus what its fans said and how much); `state`
# over every fact of the window by what it did to the game alone (no comments); `volume` over every
# fact by how many comments followed it against the thread's pace alone.
BASELINES = ("rule", "state", "volume")


def baseline_values(plan: WindowPlan) -> dict[str, list[tuple[int, float]]]:
    """Per baseline, the plays of the window it may pick and the value it picks them by."""
    w = plan.window
    return {"rule": [(c.fact.seq, c.score) for c in plan.prompt.candidates],
            "state": [(f.seq, sport.importance(f)) for f in w.facts],
            "volume": [(f.seq, w.evidence.get(f.seq, Evidence()).lift) for f in w.facts]}


def keep_quiet(key: str, share: float) -> bool:
    """Whether a train window that lists no candidate play is kept: a salted hash of it below
    `share`, so the same windows are kept every run."""
    return int(hashlib.sha256(f"empty:{key}".encode()).hexdigest()[:8], 16) / 2**32 < share


def rotate_audiences(plans: list[WindowPlan], per_window: int) -> list[WindowPlan]:
    """`per_window` audiences of each window, taking turns from window to window so that every
    audience of the game is trained on."""
    auds = sorted({p.audience for p in plans})
    out = []
    for p in plans:
        k = auds.index(p.audience)
        if (k - p.window.index) % len(auds) < per_window:
            out.append(p)
    return out


@dataclass
class GameResult:
    """One game's pairs and tallies; `build` merges them in game order."""

    pairs: list[dict[str, Any]]
    notes: Counter
    prompt_tokens: list[int]
    completion_tokens: list[int]
    # per baseline (`BASELINES`), its train windows: (the plays it may pick as (seq, value), gold seqs)
    fit_windows: dict[str, list[tuple[list[tuple[int, float]], set[int]]]] = field(default_factory=dict)


def _pair(plan: WindowPlan, gid: str, split: str, source: str, completion: list[dict[str, Any]],
          reference: list[dict[str, Any]], words: list[dict[str, Any]], n_completion: int) -> dict[str, Any]:
    p = plan.prompt
    slug = re.sub(r"[^a-z0-9]+", "", plan.audience.lower())
    return {
        "id": f"{gid}-w{plan.window.index:02d}-{slug}", "game_id": gid, "split": split,
        "window": plan.window.info(), "audience": plan.audience, "audience_team": plan.audience_team,
        "prompt": p.messages, "completion": [{"role": "assistant", "content": schema.dump_timeline(completion)}],
        "label_source": source, "n_entries": len(completion),
        "reference": reference,
        "candidates": [{"seq": c.fact.seq, "ts": c.fact.clock, "event": c.fact.text, "score": round(c.score, 4),
                        "sentiment": c.feeling,
                        "quote": rule.quote(p.shown[c.fact.seq])} for c in p.candidates],
        # every fact of the window, with what the no-comment and volume-only baselines pick by
        "baseline_facts": [{"seq": f.seq, "ts": f.clock, "event": f.text, "for_team": f.for_team,
                            "state": round(sport.importance(f), 4),
                            "volume": round(plan.window.evidence.get(f.seq, Evidence()).lift, 4)}
                           for f in plan.window.facts],
        "grounding": {"plays": p.grounding.as_rows(),
                      "comments": [str(r["body"]) for r in p.shown_comments]},
        "facts": words,
        "window_facts": [{"seq": f.seq, "ts": f.clock, "event": f.text, "t": f.game_s, "names": list(f.names)}
                         for f in plan.window.facts],
        "comments_trimmed": p.comments_trimmed, "prompt_tokens": p.n_tokens, "completion_tokens": n_completion,
    }


def build_game(game: dict[str, Any], plays: list[dict[str, Any]], comments: list[dict[str, Any]],
               gold: list[dict[str, Any]], split: str, cfg: BuildSftConfig, tokenizer: Any) -> GameResult:
    """The pairs of one game, one per window and audience (independent of every other game)."""
    gid = game["game_id"]
    facts = game_facts(plays, game["home_team"], game["away_team"])
    by_source = {f.source_id: f for f in facts.values()}
    out = GameResult([], Counter(), [], [])
    resolved = []
    for g in gold:
        f = gold_fact(g, facts, by_source)
        if f is None:
            out.notes["gold_not_a_play"] += 1
        else:
            resolved.append((f, g))
    plans = plan_game(game, plays, comments, tokenizer, cfg)
    per_window = {"train": cfg.train_audiences, "stress": cfg.stress_audiences}.get(split, 0)
    if per_window:
        plans = rotate_audiences(plans, per_window)
    for plan in plans:
        w, p = plan.window, plan.prompt
        out.notes["comments_trimmed"] += p.comments_trimmed
        out.notes["prompts_over_budget"] += p.n_tokens > cfg.max_prompt_tokens
        shown_seqs = {c.fact.seq: c for c in p.candidates}
        words = fact_words([q for q in plays if w.start_s - FACT_MARGIN_S <= q["game_s"] <= w.end_s + FACT_MARGIN_S],
                           facts, game)
        if gold:
            inside = [(f, g) for f, g in resolved if w.contains(f.game_s, f.period)][:schema.max_items()]
            reference, labelled = [], []
            for f, g in inside:
                feel = (g.get("audiences") or {}).get(plan.audience) or g
                reference.append({"ts": f.clock, "event": f.text, "fan_sentiment": feel["fan_sentiment"], "seq": f.seq})
                c = shown_seqs.get(f.seq)
                if c is None:
                    out.notes["gold_not_in_candidates"] += 1
                    continue
                label = {"ts": f.clock, "event": f.text, "fan_sentiment": feel["fan_sentiment"]}
                quotable = [r for r in p.shown[f.seq] if defang(str(r["body"])) == str(r["body"])]   # as grounded
                q = label_quote(c, quotable, feel["fan_sentiment"], feel.get("quote"))
                if feel.get("quote"):
                    out.notes["gold_quotes_shown" if q == feel["quote"] else
                              "gold_quotes_replaced" if q else "gold_quotes_dropped"] += 1
                if q:
                    label["quote"] = q
                labelled.append((f.seq, label))
            order = [c.fact.seq for c in p.candidates]
            # the prompt's order
            completion = [label for _, label in sorted(labelled, key=lambda x: order.index(x[0]))]
            source = "gold"
            if split == "train":
                gold_seqs = {e["seq"] for e in reference}
                for name, values in baseline_values(plan).items():
                    out.fit_windows.setdefault(name, []).append((values, gold_seqs))
        else:
            completion = rule.timeline(p.candidates, p.shown, rule.DEFAULT_THRESHOLD)
            by_clock = {(c.fact.clock, c.fact.text): c.fact.seq for c in p.candidates}
            reference = [{**e, "seq": by_clock[(e["ts"], e["event"])]} for e in completion]
            source = "teacher"
        errors = schema.validate_timeline({"timeline": [schema.normalise_item(e) for e in completion]})
        if errors:  # a labeller bug or a gold entry the schema rejects: never train on it
            raise ValueError(f"{gid} window {w.index} {plan.audience}: label does not fit the schema: {errors}")
        if split == "train" and not p.candidates and not keep_quiet(f"{gid}-{w.index}-{plan.audience}",
                                                                    cfg.quiet_train_keep):
            out.notes["quiet_train_windows_dropped"] += 1
            continue
        n_completion = len(tokenizer(schema.dump_timeline(completion), add_special_tokens=False)["input_ids"]) + 1
        out.prompt_tokens.append(p.n_tokens)
        out.completion_tokens.append(n_completion)
        out.pairs.append(_pair(plan, gid, split, source, completion, reference, words, n_completion))
    return out


_POOL_ARGS: tuple = ()   # (cfg, tokenizer) for the forked workers, set before the pool starts


def _build_game_in_worker(job: tuple) -> GameResult:
    return build_game(*job, *_POOL_ARGS)


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 90, 99)} | {"max": int(arr.max())}


@dataclass
class BuildResult:
    pairs: dict[str, list[dict[str, Any]]]
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    rule: dict[str, Any]


def build(games: list[dict[str, Any]], plays: list[dict[str, Any]], comments: list[dict[str, Any]],
          gold: list[dict[str, Any]], cfg: BuildSftConfig, tokenizer: Any, workers: int = 1) -> BuildResult:
    """Every game's pairs, split by game. `workers` > 1 builds games in forked processes (a full-scale
    run has hundreds of games); the result is the same for any number of workers."""
    global _POOL_ARGS
    plays_by, comments_by, gold_by = defaultdict(list), defaultdict(list), defaultdict(list)
    for p in plays:
        plays_by[p["game_id"]].append(p)
    for c in comments:
        comments_by[c["game_id"]].append(c)
    for g in gold:
        gold_by[g["game_id"]].append(g)
    split_of = split_games([g["game_id"] for g in games if not g.get("stress")], cfg)
    split_of |= {g["game_id"]: "stress" for g in games if g.get("stress")}
    jobs = [(game, plays_by[game["game_id"]], comments_by[game["game_id"]], gold_by.get(game["game_id"], []),
             split_of[game["game_id"]]) for game in sorted(games, key=lambda g: g["game_id"])]
    workers = max(1, min(workers, len(jobs)))
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        results = [build_game(*job, cfg, tokenizer) for job in jobs]
    else:
        _POOL_ARGS = (cfg, tokenizer)   # inherited by fork: the tokenizer is never pickled
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.map(_build_game_in_worker, jobs, chunksize=1)
        finally:
            _POOL_ARGS = ()
    pairs: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    notes: Counter = Counter()
    fit_windows: dict[str, list] = {name: [] for name in BASELINES}
    prompt_tokens, completion_tokens = defaultdict(list), defaultdict(list)
    for (*_, split), r in zip(jobs, results, strict=True):
        pairs[split] += r.pairs
        notes.update(r.notes)
        for name, ws in r.fit_windows.items():
            fit_windows[name] += ws
        prompt_tokens[split] += r.prompt_tokens
        completion_tokens[split] += r.completion_tokens
    fitted = bool(fit_windows["rule"])
    rule_doc = {"thresholds": {name: rule.fit_threshold(ws) if fitted else rule.DEFAULT_THRESHOLD
                               for name, ws in fit_windows.items()},
                "fitted_on": "train" if fitted else "default", "train_windows": len(fit_windows["rule"])}
    manifest = {"salt": cfg.split_salt,
                "games": {s: sorted(g for g, sp in split_of.items() if sp == s) for s in SPLITS}}
    n_ref = sum(len(p["reference"]) for s in SPLITS for p in pairs[s])
    metrics = {
        "pairs": {s: len(pairs[s]) for s in SPLITS},
        "games": {s: len(manifest["games"][s]) for s in SPLITS},
        "audiences": {s: dict(Counter("league" if p["audience"] == "r/nba" else "team" if p["audience"] != "comments"
                                      else "unknown" for p in pairs[s])) for s in SPLITS},
        "label_sources": {s: dict(Counter(p["label_source"] for p in pairs[s])) for s in SPLITS},
        "empty_timelines": {s: sum(p["n_entries"] == 0 for p in pairs[s]) for s in SPLITS},
        "prompt_tokens": {s: _percentiles(prompt_tokens[s]) for s in SPLITS},
        "completion_tokens": {s: _percentiles(completion_tokens[s]) for s in SPLITS},
        "trimming": {k: notes[k] for k in ("comments_trimmed", "prompts_over_budget")},
        "quiet_train_windows_dropped": notes["quiet_train_windows_dropped"],
        "gold": {"moments": n_ref, **{k: notes[k] for k in ("gold_not_a_play", "gold_not_in_candidates",
                                                             "gold_quotes_shown", "gold_quotes_replaced",
                                                             "gold_quotes_dropped")},
                 "candidate_recall": 1 - notes["gold_not_in_candidates"] / n_ref if n_ref else None},
        "rule": rule_doc,
    }
    return BuildResult(pairs, manifest, metrics, rule_doc)

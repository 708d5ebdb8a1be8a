"""build_sft: canonical tables -> prompt/completion pairs, split by game.

One pair per window of game time (windows.py). The prompt is rendered and budgeted by prompt.py;
the completion is the window's slice of the gold timeline where the game has one, else the
teacher's labels (teacher.py). Splits are by game, decided by a salted hash of the game id.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fan_timeline import prompt, schema, teacher
from fan_timeline.config import BuildSftConfig
from fan_timeline.scoring import EventTally
from fan_timeline.windows import Window, make_windows

SPLITS = ("train", "val", "test")
TEACHER_TOL_S = 20.0   # ts tolerance of the teacher-vs-gold agreement in metrics/sft.json


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


def gold_for_window(gold: list[dict[str, Any]], window: Window) -> tuple[list[dict[str, Any]], int]:
    """Gold entries inside the window, at most the schema's maxItems (earliest kept); (entries, dropped)."""
    inside = [g for g in gold if window.contains(g["game_s"])]
    cap = schema.max_items()
    return inside[:cap], max(0, len(inside) - cap)


@dataclass
class BuildResult:
    pairs: dict[str, list[dict[str, Any]]]
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    notes: Counter = field(default_factory=Counter)


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 90, 99)} | {"max": int(arr.max())}


@dataclass
class GameResult:
    """One game's pairs and tallies; `build` merges them in game order."""

    pairs: list[dict[str, Any]]
    notes: Counter
    teacher_vs_gold: EventTally
    prompt_tokens: list[int]
    completion_tokens: list[int]


def build_game(game: dict[str, Any], plays: list[dict[str, Any]], comments: list[dict[str, Any]],
               gold: list[dict[str, Any]], split: str, cfg: BuildSftConfig, tokenizer: Any) -> GameResult:
    """The pairs of one game, one per window (independent of every other game)."""
    gid = game["game_id"]
    home, away = game["home_team"], game["away_team"]
    # events name teams the way fans do: "Herons lead 101-99" (nickname), else the code
    home_label, away_label = ((game.get(f"{side}_name") or game[f"{side}_team"]).split()[-1] for side in ("home", "away"))
    candidates = teacher.annotate_game(plays)
    game_gold = sorted(gold, key=lambda g: g["game_s"])
    out = GameResult([], Counter(), EventTally(TEACHER_TOL_S), [], [])
    notes = out.notes
    for w in make_windows(plays, comments, window_s=cfg.window_s, overlap_s=cfg.overlap_s,
                          max_comments=cfg.max_comments):
        wp = prompt.window_prompt(tokenizer, game, w.info(), w.plays, w.comments, cfg.max_prompt_tokens)
        messages, shown, trimmed, n_prompt = wp.messages, wp.shown_comments, wp.comments_trimmed, wp.n_tokens
        notes["comments_trimmed"] += trimmed
        notes["windows_trimmed"] += trimmed > 0
        notes["prompts_over_budget"] += n_prompt > cfg.max_prompt_tokens
        w.comments = shown
        teacher_entries = teacher.label_window(w, candidates, home_label, away_label)
        shown_bodies = [str(c["body"]) for c in shown]
        if game_gold:
            entries, over = gold_for_window(game_gold, w)
            notes["gold_entries_over_max_items"] += over
            labelled = []
            for g in entries:
                e = schema.normalise_item(g)
                if "quote" in e and e["quote"] not in shown_bodies:
                    # The model can only copy what it sees: take a shown reaction to this moment
                    # that fits the gold sentiment instead (the teacher's choice), or none.
                    notes["gold_quotes_not_in_prompt"] += 1
                    quote = teacher.quote_for(w, g["game_s"], e["fan_sentiment"], e["event"])
                    e.pop("quote")
                    if quote:
                        e["quote"] = quote
                        notes["gold_quotes_replaced_by_shown_reaction"] += 1
                labelled.append(e)
            out.teacher_vs_gold.add(teacher_entries, labelled)
            source = "gold"
        else:
            labelled, source = teacher_entries, "teacher"
        completion = schema.dump_timeline(labelled)
        errors = schema.validate_timeline({"timeline": [schema.normalise_item(e) for e in labelled]})
        if errors:  # a labeller bug or a gold entry the schema rejects: never train on it
            raise ValueError(f"{gid} window {w.index}: label does not fit the schema: {errors}")
        n_completion = len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1
        out.prompt_tokens.append(n_prompt)
        out.completion_tokens.append(n_completion)
        names = sorted({x for p in w.plays for x in (p.get("player"), p.get("player2"), p.get("team")) if x}
                       | {home, away} | {n for n in (game.get("home_name"), game.get("away_name")) if n})
        out.pairs.append({
            "id": f"{gid}-w{w.index:02d}", "game_id": gid, "split": split, "window": w.info(),
            "prompt": messages, "completion": [{"role": "assistant", "content": completion}],
            "label_source": source, "n_entries": len(labelled),
            "comments_trimmed": trimmed, "prompt_tokens": n_prompt, "completion_tokens": n_completion,
            "grounding": {"names": names, "comments": shown_bodies, "clocks": list(wp.grounding.clocks)},
        })
    return out


_POOL_ARGS: tuple = ()   # (cfg, tokenizer) for the forked workers, set before the pool starts


def _build_game_in_worker(job: tuple) -> GameResult:
    return build_game(*job, *_POOL_ARGS)


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
    split_of = split_games([g["game_id"] for g in games], cfg)
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
    teacher_vs_gold = EventTally(TEACHER_TOL_S)
    prompt_tokens, completion_tokens = defaultdict(list), defaultdict(list)
    for (*_, split), r in zip(jobs, results, strict=True):
        pairs[split] += r.pairs
        notes.update(r.notes)
        teacher_vs_gold.merge(r.teacher_vs_gold)
        prompt_tokens[split] += r.prompt_tokens
        completion_tokens[split] += r.completion_tokens
    manifest = {"salt": cfg.split_salt, "games": {s: sorted(g for g, sp in split_of.items() if sp == s) for s in SPLITS}}
    metrics = {
        "pairs": {s: len(pairs[s]) for s in SPLITS},
        "games": {s: len(manifest["games"][s]) for s in SPLITS},
        "label_sources": {s: dict(Counter(p["label_source"] for p in pairs[s])) for s in SPLITS},
        "empty_timelines": {s: sum(p["n_entries"] == 0 for p in pairs[s]) for s in SPLITS},
        "prompt_tokens": {s: _percentiles(prompt_tokens[s]) for s in SPLITS},
        "completion_tokens": {s: _percentiles(completion_tokens[s]) for s in SPLITS},
        "trimming": {k: notes[k] for k in ("comments_trimmed", "windows_trimmed", "prompts_over_budget")},
        "gold": {k: notes[k] for k in ("gold_entries_over_max_items", "gold_quotes_not_in_prompt",
                                        "gold_quotes_replaced_by_shown_reaction")},
        "teacher_vs_gold": {"ts_tolerance_s": TEACHER_TOL_S, **teacher_vs_gold.summary()},
    }
    return BuildResult(pairs, manifest, metrics, notes)

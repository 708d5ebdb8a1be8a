"""ingest: raw game directories -> canonical tables, with every input row accounted for.

A raw game is one directory:

    <raw>/<game>/game.json        teams, local date and time zone (see GAME_JSON_KEYS)
    <raw>/<game>/pbp.json         play-by-play in any format readers.pbp detects
    <raw>/<game>/comments/*       comment files in any format readers.comments detects
    <raw>/<game>/gold.json        optional human (or generator) timeline for the whole game

Outputs (written by stages/ingest.py): games/plays/comments parquet, gold.jsonl, rejected.jsonl
and the metrics dict. Raw files are only read, never modified.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fan_timeline import realism, schema, sport
from fan_timeline.config import IngestConfig
from fan_timeline.game import GAME_JSON_KEYS, TEAM_KEYS, InputError, RawFile, read_game
from fan_timeline.tables import Rejections


class IngestError(ValueError):
    """A problem that stops the stage: the message names the file and what to do."""


@dataclass
class GameDir:
    path: Path
    meta: dict[str, Any]
    pbp_file: Path
    comment_files: list[Path]
    gold_file: Path | None


@dataclass
class FormatCounts:
    files: int = 0
    read: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)

    def add(self, read: int, kept: int, rejections: Rejections) -> None:
        self.files += 1
        self.read += read
        self.kept += kept
        self.rejected.update(r["reason"] for r in rejections.items)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "read": self.read, "kept": self.kept,
                "rejected": sum(self.rejected.values()), "rejected_by_reason": dict(sorted(self.rejected.items()))}


def _load_game_json(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"{path}: not valid UTF-8 JSON ({exc}); fix or remove the file") from None
    if not isinstance(meta, dict):
        raise IngestError(f"{path}: expected a JSON object with keys like {sorted(GAME_JSON_KEYS)}")
    unknown = set(meta) - GAME_JSON_KEYS
    if unknown:
        raise IngestError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(GAME_JSON_KEYS)}")
    for side in ("home", "away"):
        team = meta.get(side)
        if team is None:
            continue
        if not isinstance(team, dict) or not isinstance(team.get("team"), str):
            raise IngestError(f"{path}: {side!r} must be an object with a string 'team' tricode")
        if set(team) - TEAM_KEYS:
            raise IngestError(f"{path}: {side}: unknown key(s) {sorted(set(team) - TEAM_KEYS)}")
    return meta


def discover(raw_dir: str | Path) -> list[GameDir]:
    """Game directories under `raw_dir` (any depth), sorted by path."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise IngestError(f"raw data directory {raw_dir} does not exist")
    games = []
    for pbp_candidates in sorted({p.parent for p in raw_dir.rglob("pbp.*")}):
        d = pbp_candidates
        pbps = sorted(p for p in d.glob("pbp.*") if p.is_file())
        if len(pbps) != 1:
            raise IngestError(f"{d}: expected exactly one pbp.* file, found {[p.name for p in pbps]}")
        meta = _load_game_json(d / "game.json") if (d / "game.json").is_file() else {}
        comments_dir = d / "comments"
        comment_files = sorted(p for p in comments_dir.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if comments_dir.is_dir() else []
        gold = d / "gold.json"
        games.append(GameDir(d, meta, pbps[0], comment_files, gold if gold.is_file() else None))
    if not games:
        raise IngestError(f"no games under {raw_dir}: each game needs a directory with a pbp.* file")
    return games


GOLD_EXTRA_KEYS = ("play", "audiences")   # besides schema v1's: the play's source id, per-audience feelings


def _gold_errors(item: Any) -> list[str]:
    """Why a gold entry cannot be used ([] if it can): schema v1 for its own fields, a string
    `play`, and `audiences` mapping "r/<subreddit>" to a sentiment and an optional quote."""
    if not isinstance(item, dict):
        return [f"expected an object, got {type(item).__name__}"]
    errors = schema.validate_item({k: v for k, v in item.items() if k not in GOLD_EXTRA_KEYS})
    if "play" in item and not isinstance(item["play"], (str, int)):
        errors.append("play: expected the play's source id (a string)")
    audiences = item.get("audiences", {})
    if not isinstance(audiences, dict):
        return errors + ["audiences: expected an object of r/<subreddit>: {fan_sentiment, quote}"]
    for name, feel in audiences.items():
        if not isinstance(feel, dict):
            errors.append(f"audiences/{name}: expected an object with fan_sentiment (and quote)")
            continue
        errors += [f"audiences/{name}/{e}" for e in
                   schema.validate_item({"ts": item.get("ts"), "event": item.get("event"), **feel})
                   if e.split(":")[0] in ("fan_sentiment", "quote", "<item>")]
    return errors


def _read_gold(path: Path, game_id: str, periods: int, rejections: Rejections) -> tuple[list[dict], int]:
    """Gold entries of one game file, validated item by item; returns (rows, entries read)."""
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"{path}: gold file is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("timeline"), list):
        raise IngestError(f"{path}: gold file must be an object with a 'timeline' list")
    rows = []
    for i, item in enumerate(obj["timeline"]):
        errors = _gold_errors(item)
        if errors:
            rejections.record(path, i, None, "gold_schema", "; ".join(errors), item)
            continue
        period, clock_s = sport.parse_clock_label(item["ts"])
        if period > periods:
            rejections.record(path, i, "ts", "gold_ts_outside_game", f"period {period} > {periods}", item)
            continue
        rows.append({"game_id": game_id, "game_s": sport.game_seconds(period, clock_s),
                     **schema.normalise_item(item), "annotator": str(obj.get("annotator", "")),
                     "play": str(item["play"]) if item.get("play") is not None else None,
                     "audiences": {k: schema.normalise_item(v) for k, v in item.get("audiences", {}).items()}})
    rows.sort(key=lambda r: r["game_s"])
    return rows, len(obj["timeline"])


@dataclass
class IngestResult:
    games: list[dict[str, Any]]
    plays: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    gold: list[dict[str, Any]]
    rejections: Rejections
    metrics: dict[str, Any]
    realism: dict[str, Any]      # `realism.realism_report` of the games whose feed logs each play's time


def ingest(raw_dir: str | Path, cfg: IngestConfig, stress_dir: str | Path | None = None) -> IngestResult:
    """Every game under `raw_dir`, and under `stress_dir` the stress set's (marked `stress`: build_sft
    puts them in their own split, never in training)."""
    games, plays, comments, gold = [], [], [], []
    rejections = Rejections()
    pbp_counts: dict[str, FormatCounts] = {}
    comment_counts: dict[str, FormatCounts] = {}
    gold_counts = FormatCounts()
    seen_ids: dict[str, Path] = {}
    quotes_not_in_comments = 0
    thread_stats = []
    dirs = ([(gd, False) for gd in discover(raw_dir)]
            + [(gd, True) for gd in (discover(stress_dir) if stress_dir else [])])
    for gd, stress in dirs:
        try:
            g = read_game(RawFile(str(gd.pbp_file), gd.pbp_file.read_bytes()),
                          [RawFile(str(f), f.read_bytes()) for f in gd.comment_files], gd.meta, cfg,
                          fallback_id=gd.path.name)
        except InputError as exc:
            raise IngestError(f"{gd.path}: {exc.message}") from None
        game_id = g.row["game_id"]
        if game_id in seen_ids:
            raise IngestError(f"{gd.path}: game id {game_id!r} already used by {seen_ids[game_id]}")
        seen_ids[game_id] = gd.path
        pbp_counts.setdefault(g.pbp.format, FormatCounts()).add(g.pbp.read, len(g.plays), g.pbp.rejections)
        rejections.extend(g.rejections)
        # per-format comment accounting: reader rejections + alignment rejections of that format's rows
        kept_by_format = Counter(r["source_format"] for r in g.comments)
        for res in g.comment_files:
            comment_counts.setdefault(res.format, FormatCounts()).add(res.read, 0, res.rejections)
        for fmt in {r.format for r in g.comment_files}:
            counts = comment_counts[fmt]
            counts.kept += kept_by_format[fmt]
            counts.rejected.update(r["reason"] for r in (g.aligned.rejections.items if g.aligned else [])
                                   if r.get("source_format") == fmt)
        comments.extend(g.comments)
        plays.extend(g.plays)
        if gd.gold_file is not None:
            game_gold, n_read = _read_gold(gd.gold_file, game_id, g.row["periods"], rejections)
            gold_counts.files += 1
            gold_counts.read += n_read
            gold_counts.kept += len(game_gold)
            gold.extend(game_gold)
            bodies = {c["body"] for c in g.comments}
            quotes_not_in_comments += sum(1 for e in game_gold if e.get("quote") and e["quote"] not in bodies)
        games.append({**g.row, "stress": stress})
        if g.row["align_method"] == "per_play_utc":   # the real figures were measured against such a clock
            teams = [a for a, team in json.loads(g.row["audiences"]).items() if team]
            deleted = sum(1 for r in g.rejections.items if r["reason"] == "deleted")
            thread_stats.append(realism.game_statistics(g.plays, g.comments, teams, deleted=deleted,
                                                        read=sum(r.read for r in g.comment_files)))
    gold_counts.rejected.update(r["reason"] for r in rejections.items if r["reason"].startswith("gold_"))
    metrics = {
        "games": len(games),
        "plays": len(plays),
        "comments": len(comments),
        "rejected": len(rejections),
        "pbp": {k: v.as_dict() for k, v in sorted(pbp_counts.items())},
        "comment_files": {k: v.as_dict() for k, v in sorted(comment_counts.items())},
        "gold": {**gold_counts.as_dict(), "quotes_not_in_comments": quotes_not_in_comments},
        "alignment": {g["game_id"]: {"method": g["align_method"], "expected_error_s": g["align_error_s"],
                                     "reaction_lag_s": g["reaction_lag_s"], "lag_source": g["lag_source"]}
                      for g in games},
    }
    return IngestResult(games, plays, comments, gold, rejections, metrics, realism.realism_report(thread_stats))

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

from fan_timeline import schema, sport, tables
from fan_timeline.align import align_game
from fan_timeline.config import IngestConfig
from fan_timeline.readers.comments import read_comments
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.tables import Rejections, UnreadableFileError

GAME_JSON_KEYS = {"game_id", "date", "tz", "home", "away", "tipoff_utc", "source", "league"}
TEAM_KEYS = {"team", "name", "aliases"}


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


def _check_accounting(source: str, read: int, kept: int, rejected: int) -> None:
    if read != kept + rejected:  # a reader bug, not bad input: stop loudly
        raise AssertionError(f"{source}: read {read} != kept {kept} + rejected {rejected}")


def team_info(meta: dict[str, Any], pbp: tables.PbpResult, side: str) -> dict[str, Any] | None:
    """A side's team (code, name, aliases): game.json's `home`/`away` entry over what the
    play-by-play names; a blank name counts as none. None when neither names the team's code
    (ingest and the server each say so in their own error)."""
    team = dict(meta.get(side) or {})
    code = team.get("team") or getattr(pbp, f"{side}_team")
    if not code:
        return None
    name = str(team["name"]).strip() if team.get("name") is not None else ""
    return {"team": code, "name": name or getattr(pbp, f"{side}_name"), "aliases": list(team.get("aliases") or [])}


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
        errors = schema.validate_item(item)
        if errors:
            rejections.record(path, i, None, "gold_schema", "; ".join(errors), item)
            continue
        period, clock_s = sport.parse_clock_label(item["ts"])
        if period > periods:
            rejections.record(path, i, "ts", "gold_ts_outside_game", f"period {period} > {periods}", item)
            continue
        rows.append({"game_id": game_id, "game_s": sport.game_seconds(period, clock_s),
                     **schema.normalise_item(item), "annotator": str(obj.get("annotator", ""))})
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


def ingest(raw_dir: str | Path, cfg: IngestConfig) -> IngestResult:
    games, plays, comments, gold = [], [], [], []
    rejections = Rejections()
    pbp_counts: dict[str, FormatCounts] = {}
    comment_counts: dict[str, FormatCounts] = {}
    gold_counts = FormatCounts()
    seen_ids: dict[str, Path] = {}
    for gd in discover(raw_dir):
        try:
            pbp = read_pbp(gd.pbp_file.read_bytes(), str(gd.pbp_file))
        except UnreadableFileError as exc:
            raise IngestError(str(exc)) from None
        game_id = str(gd.meta.get("game_id") or pbp.game_id or gd.path.name)
        if game_id in seen_ids:
            raise IngestError(f"{gd.path}: game id {game_id!r} already used by {seen_ids[game_id]}")
        seen_ids[game_id] = gd.path
        _check_accounting(str(gd.pbp_file), pbp.read, len(pbp.plays), len(pbp.rejections))
        pbp_counts.setdefault(pbp.format, FormatCounts()).add(pbp.read, len(pbp.plays), pbp.rejections)
        rejections.extend(pbp.rejections)
        if not pbp.plays:
            raise IngestError(f"{gd.pbp_file}: no usable plays (all {pbp.read} rows rejected; see rejected.jsonl reasons "
                              f"{pbp.rejections.by_reason()})")
        for p in pbp.plays:
            p["game_id"] = game_id
        teams = {side: team_info(gd.meta, pbp, side) for side in ("home", "away")}
        for side, team in teams.items():
            if team is None:
                raise IngestError(f"{pbp.game_id}: the {side} team is unknown; add game.json "
                                  f"{{\"{side}\": {{\"team\": ...}}}}")

        raw_comments, formats, per_file = [], [], []
        for f in gd.comment_files:
            try:
                res = read_comments(f.read_bytes(), str(f))
            except UnreadableFileError as exc:
                raise IngestError(str(exc)) from None
            _check_accounting(str(f), res.read, len(res.comments), len(res.rejections))
            rejections.extend(res.rejections)
            for c in res.comments:
                c["_source_format"] = res.format
                c["_source_file"] = str(f)
            raw_comments.extend(res.comments)
            formats.append(res.format)
            per_file.append((res, f))
        aligned = align_game(pbp, raw_comments, date=gd.meta.get("date") or pbp.date, tz=gd.meta.get("tz"),
                             tipoff_utc=gd.meta.get("tipoff_utc"), reaction_lag_s=cfg.reaction_lag_s,
                             postgame_grace_s=cfg.postgame_grace_s, author_salt=cfg.author_salt, teams=teams)
        rejections.extend(aligned.rejections)
        # per-format comment accounting: reader rejections + alignment rejections of that format's rows
        align_rejected = Counter(r.get("source_format") for r in aligned.rejections.items)
        kept_by_format = Counter(r["source_format"] for r in aligned.rows)
        for res, f in per_file:
            comment_counts.setdefault(res.format, FormatCounts()).add(res.read, 0, res.rejections)
        for fmt in set(formats):
            counts = comment_counts[fmt]
            counts.kept += kept_by_format[fmt]
            counts.rejected.update(r["reason"] for r in aligned.rejections.items if r.get("source_format") == fmt)
        _check_accounting(f"{gd.path} comments", sum(r.read for r, _ in per_file), len(aligned.rows),
                          sum(len(r.rejections) for r, _ in per_file) + sum(align_rejected.values()))
        for c in aligned.rows:
            c["game_id"] = game_id
        comments.extend(aligned.rows)
        plays.extend(pbp.plays)

        last = pbp.plays[-1]
        game_gold = []
        if gd.gold_file is not None:
            game_gold, n_read = _read_gold(gd.gold_file, game_id, last["period"], rejections)
            gold_counts.files += 1
            gold_counts.read += n_read
            gold_counts.kept += len(game_gold)
            gold.extend(game_gold)
        bodies = {c["body"] for c in aligned.rows}
        games.append({
            "game_id": game_id, "date": gd.meta.get("date") or pbp.date,
            "home_team": teams["home"]["team"], "away_team": teams["away"]["team"],
            "home_name": teams["home"]["name"], "away_name": teams["away"]["name"],
            "pbp_format": pbp.format, "comment_formats": ",".join(sorted(set(formats))),
            "tipoff_utc": aligned.alignment.wall_start_utc, "periods": int(last["period"]),
            "final_home": int(last["score_home"]), "final_away": int(last["score_away"]),
            "n_plays": len(pbp.plays), "n_comments": len(aligned.rows),
            "align_method": aligned.alignment.method, "align_error_s": float(aligned.alignment.expected_error_s),
            "_gold_quotes_ungrounded": sum(1 for g in game_gold if g.get("quote") and g["quote"] not in bodies),
        })
    gold_counts.rejected.update(r["reason"] for r in rejections.items if r["reason"].startswith("gold_"))
    metrics = {
        "games": len(games),
        "plays": len(plays),
        "comments": len(comments),
        "rejected": len(rejections),
        "pbp": {k: v.as_dict() for k, v in sorted(pbp_counts.items())},
        "comment_files": {k: v.as_dict() for k, v in sorted(comment_counts.items())},
        "gold": {**gold_counts.as_dict(), "quotes_not_in_comments": sum(g.pop("_gold_quotes_ungrounded") for g in games)},
        "alignment": {g["game_id"]: {"method": g["align_method"], "expected_error_s": g["align_error_s"]} for g in games},
    }
    return IngestResult(games, plays, comments, gold, rejections, metrics)

"""The timeline service: one game in, one timeline out. The server, `fan-timeline generate` and
`fan-timeline demo` all call this module; none of them reads, aligns, windows or prompts itself.

    service = TimelineService.load("models/export")
    game = service.read_raw(RawFile("pbp.json", pbp_bytes), [RawFile("thread.ndjson", data)],
                            meta={"date": "2025-10-21", "tz": "America/New_York"})
    result = service.timeline(game)                  # every window; service.timeline(game, [3]) one
    print(json.dumps(result.as_dict()))

A game takes the path the training games took: the readers (`readers/`, format detected or
named), `align.align_game` with the `ingest` params, `windows.make_windows` and
`prompt.window_prompt` with the `build_sft` params, then grounded constrained decoding
(`generate.generate_timelines`: every `ts` a shown play's clock, every `quote` a shown comment).
Each window's output is schema-valid; the game's timeline is the windows' entries in game order,
an entry whose `ts` an earlier window already reported dropped (neighbouring windows share their
boundary plays).

Which params were used, and where they came from, is part of every answer (`pipeline_params`):
an explicit params file, else the ones the export recorded in provenance.json (those its
training data was built with), else the config defaults.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from fan_timeline import __version__, config, prompt, schema, sport, tables
from fan_timeline.align import align_game
from fan_timeline.ingest import team_info
from fan_timeline.config import BuildSftConfig, ConfigError, IngestConfig
from fan_timeline.model import file_sha256
from fan_timeline.readers.comments import read_comments
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.tables import UnreadableFileError
from fan_timeline.windows import Window, make_windows

log = logging.getLogger("fan_timeline.service")

_GAME_KEY_RE = re.compile(r'game\.json "(\w+)"')
MAX_REJECTIONS_REPORTED = 50   # rejected rows listed in a report (all are counted)
VOLUME_BIN_S = 60.0            # game seconds per bar of the comment-volume series


class InputError(ValueError):
    """Bad input a user can fix: `loc` says where (("pbp",), ("comment_files", 1), ("plays", 3, "clock"))."""

    def __init__(self, loc: Sequence[str | int], message: str):
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message

    def where(self) -> str:
        """`comment_files[1]`, `plays[3].clock`: the location as a user reads it."""
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "input"


# --------------------------------------------------------------------------------------------
# Pipeline params and model provenance


@dataclass(frozen=True)
class PipelineParams:
    """The ingest and build_sft params a served game is read and windowed with, and their source."""

    ingest: IngestConfig
    build_sft: BuildSftConfig
    source: str
    warning: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "warning": self.warning or None,
                "ingest": config.as_dict(self.ingest), "build_sft": config.as_dict(self.build_sft)}


def read_provenance(model_dir: Path) -> dict[str, Any]:
    """The export's provenance.json (export.provenance), or {} for a model that has none."""
    path = model_dir / "provenance.json"
    if not path.is_file():
        return {}
    try:
        prov = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return prov if isinstance(prov, dict) else {}


def pipeline_params(prov: dict[str, Any], params_file: str | Path | None = None) -> PipelineParams:
    """The params to read and window games with: an explicit params file, else the ones the
    export recorded (`prov` = read_provenance(model dir)), else the config defaults (warned)."""
    if params_file is not None:
        return PipelineParams(config.load_section(IngestConfig, params_file),
                              config.load_section(BuildSftConfig, params_file), f"params file {params_file}")
    recorded = prov.get("params") or {}
    if isinstance(recorded.get("ingest"), dict) and isinstance(recorded.get("build_sft"), dict):
        try:
            return PipelineParams(config.from_dict(IngestConfig, recorded["ingest"]),
                                  config.from_dict(BuildSftConfig, recorded["build_sft"]),
                                  "the export's provenance.json (the params its training data was built with)")
        except ConfigError as exc:
            log.warning("ignoring the params in provenance.json: %s", exc)
    return PipelineParams(IngestConfig(), BuildSftConfig(), "defaults of fan_timeline.config (no params file, "
                          "no provenance.json)", "windows may differ from the ones the model was trained on")


def model_info(name: str, path: str, prov: dict[str, Any]) -> dict[str, Any]:
    """What /version reports: the model, its adapter, the schema and where it was built from."""
    model_dir = Path(path)
    train_cfg_file = model_dir / "adapter" / "train_config.json"
    train_cfg = json.loads(train_cfg_file.read_text()) if train_cfg_file.is_file() else {}
    adapter_file = model_dir / "adapter" / "adapter_model.safetensors"
    export_schema = model_dir / schema.SCHEMA_PATH.name
    return {
        "model": name,
        "model_path": str(model_dir),
        "base_model": train_cfg.get("base_model", name),
        "adapter_sha256": file_sha256(adapter_file) if adapter_file.is_file() else None,
        "train_fingerprint": train_cfg.get("train_fingerprint"),
        "schema_version": schema.SCHEMA_VERSION,
        "schema_sha256": hashlib.sha256(schema.schema_text().encode()).hexdigest(),
        "export_schema_matches": (export_schema.read_text(encoding="utf-8") == schema.schema_text()
                                  if export_schema.is_file() else None),
        "git_commit": prov.get("git_commit"),
        "dvc_lock": prov.get("dvc_lock", {}),
        "package_version": __version__,
    }


# --------------------------------------------------------------------------------------------
# A game, read and windowed


@dataclass(frozen=True)
class RawFile:
    """One raw input file: its name (shown in messages), its bytes, and its format if named."""

    name: str
    data: bytes
    format: str | None = None


def raw_file_from_text(name: str, content: str, encoding: str = "text", fmt: str | None = None) -> RawFile:
    """A RawFile from JSON-transported content: UTF-8 text, or base64 for binary (.zst) files."""
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: content is not valid base64 ({exc})") from None
    else:
        data = content.encode("utf-8")
    return RawFile(name, data, fmt)


@dataclass
class WindowPlan:
    """One window of a game and the prompt the model gets for it."""

    window: Window
    prompt: prompt.WindowPrompt
    budget: int                       # build_sft.max_prompt_tokens

    def info(self) -> dict[str, Any]:
        w = self.window
        return {**w.info(), "plays": len(w.plays), "plays_shown": sum(map(prompt.shown_in_prompt, w.plays)),
                "comments": len(w.all_comments), "comments_ranked": len(w.comments),
                "comments_shown": len(self.prompt.shown_comments), "comments_trimmed": self.prompt.comments_trimmed,
                "prompt_tokens": self.prompt.n_tokens, "over_budget": self.prompt.n_tokens > self.budget}


@dataclass
class GameInput:
    """A game read from raw files or canonical rows, cut into windows with their prompts."""

    game: dict[str, Any]              # game_id, teams, date, periods, final score, counts
    plays: list[dict[str, Any]]       # tables.PLAY_COLUMNS rows
    comments: list[dict[str, Any]]    # tables.COMMENT_COLUMNS rows (aligned)
    report: dict[str, Any]            # how the input was read and aligned (see read_raw)
    windows: list[WindowPlan] = field(default_factory=list)

    def series(self) -> dict[str, Any]:
        """What a picture of the game needs: the score after each scoring play, comments per minute."""
        end_s = sport.game_seconds(self.game["periods"], 0)   # aligned comments never lie past the final play
        score = [{"game_s": 0.0, "home": 0, "away": 0}]
        for p in self.plays:
            if p.get("points"):
                score.append({"game_s": float(p["game_s"]), "home": int(p["score_home"]), "away": int(p["score_away"])})
        n_bins = max(1, math.ceil(end_s / VOLUME_BIN_S))
        counts = Counter(min(n_bins - 1, int(c["game_s"] // VOLUME_BIN_S)) for c in self.comments)
        volume = [{"start_s": i * VOLUME_BIN_S, "end_s": min(end_s, (i + 1) * VOLUME_BIN_S), "count": counts.get(i, 0)}
                  for i in range(n_bins)]
        periods = [{"period": p, "label": sport.period_name(p),
                    "start_s": sport.game_seconds(p, sport.period_length_s(p))} for p in range(1, self.game["periods"] + 1)]
        return {"end_s": float(end_s), "score": score, "volume": volume, "periods": periods}

    def trimmed(self, indexes: Sequence[int] | None = None) -> dict[str, int]:
        """What the prompts of these windows (default all) left out."""
        plans = self.windows if indexes is None else [self.windows[i] for i in indexes]
        return {"comments_trimmed": sum(p.prompt.comments_trimmed for p in plans),
                "windows_trimmed": sum(p.prompt.comments_trimmed > 0 for p in plans),
                "comments_not_ranked": sum(len(p.window.all_comments) - len(p.window.comments) for p in plans),
                "prompts_over_budget": sum(p.prompt.n_tokens > p.budget for p in plans)}

    def as_dict(self, params: PipelineParams) -> dict[str, Any]:
        """The game as the API's /v1/windows answers it."""
        return {"game": self.game, "input": self.report, "params": params_summary(params),
                "windows": [p.info() for p in self.windows], "trimmed": self.trimmed(), "series": self.series()}


def params_summary(params: PipelineParams) -> dict[str, Any]:
    return {"source": params.source, "warning": params.warning or None,
            "window_s": params.build_sft.window_s, "overlap_s": params.build_sft.overlap_s,
            "max_comments": params.build_sft.max_comments, "max_prompt_tokens": params.build_sft.max_prompt_tokens,
            "reaction_lag_s": params.ingest.reaction_lag_s}


def _rows_report(read: int, kept: int, reasons: Counter) -> dict[str, Any]:
    return {"read": read, "kept": kept, "rejected": sum(reasons.values()), "rejected_by_reason": dict(sorted(reasons.items()))}


def _text_or_none(value: Any) -> str | None:
    """A name as the readers keep it: stripped, and None when blank (a blank player name would
    otherwise reach code that takes a name's last word)."""
    return (str(value).strip() or None) if value is not None else None


def _team(meta: dict[str, Any], pbp: tables.PbpResult, side: str, pbp_name: str) -> dict[str, Any]:
    team = team_info(meta, pbp, side)
    if team is None:
        raise InputError(("game", side), f"the {side} team is unknown: {pbp_name} does not name it; "
                                         f"give game.{side}.team (a tricode like \"HAR\")")
    return team


def _game_row(game_id: str, teams: dict[str, dict[str, Any]], date: str | None, plays: list[dict[str, Any]],
              n_comments: int) -> dict[str, Any]:
    last = plays[-1]
    return {"game_id": game_id, "date": date,
            "home_team": teams["home"]["team"], "away_team": teams["away"]["team"],
            "home_name": teams["home"].get("name"), "away_name": teams["away"].get("name"),
            "periods": int(max(p["period"] for p in plays)), "final_home": int(last["score_home"]),
            "final_away": int(last["score_away"]), "n_plays": len(plays), "n_comments": n_comments}


# --------------------------------------------------------------------------------------------
# Generation results


@dataclass
class WindowResult:
    plan: WindowPlan
    text: str
    entries: list[dict[str, Any]]
    errors: list[str]          # schema errors: empty unless constrained decoding failed its guarantee
    n_new_tokens: int
    finished: bool
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.info(), "timeline": self.entries,
                "text": self.text, "valid": not self.errors, "errors": self.errors, "new_tokens": self.n_new_tokens,
                "finished": self.finished, "seconds": round(self.seconds, 3)}


def merge_windows(results: Sequence[WindowResult]) -> tuple[list[dict[str, Any]], int]:
    """One game timeline from the windows' outputs, in game order. Dropped: an entry whose `ts` an
    earlier window already reported (windows share their boundary plays, overlapping windows
    more), and an exact repeat of an entry of the same window (small models loop). Returns
    (entries, entries dropped)."""
    merged: list[tuple[float, int, int, dict[str, Any]]] = []
    seen_ts: set[str] = set()
    dropped = 0
    for r in sorted(results, key=lambda r: r.plan.window.index):
        own_ts: set[str] = set()
        own: list[dict[str, Any]] = []
        for k, e in enumerate(r.entries):
            if e["ts"] in seen_ts or e in own:
                dropped += 1
                continue
            own.append(e)
            own_ts.add(e["ts"])
            merged.append((sport.label_to_game_seconds(e["ts"]), r.plan.window.index, k, e))
        seen_ts |= own_ts
    merged.sort(key=lambda m: m[:3])
    return [m[3] for m in merged], dropped


@dataclass
class TimelineResult:
    game: GameInput
    windows: list[WindowResult]
    params: PipelineParams
    model: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        entries, dropped = merge_windows(self.windows)
        new_tokens = sum(r.n_new_tokens for r in self.windows)
        return {
            "timeline": entries,
            "game": self.game.game,
            "input": self.game.report,
            "params": params_summary(self.params),
            "windows": [r.as_dict() for r in self.windows],
            "windows_total": len(self.game.windows),
            "merge": {"entries_from_windows": sum(len(r.entries) for r in self.windows), "duplicates_dropped": dropped},
            "trimmed": self.game.trimmed([r.plan.window.index for r in self.windows]),
            "series": self.game.series(),
            "generation": {"model": self.model.get("model"), "schema_version": schema.SCHEMA_VERSION,
                           "constrained": True, "grounded": True, "seconds": round(self.seconds, 3),
                           "new_tokens": new_tokens,
                           "tokens_per_s": round(new_tokens / self.seconds, 2) if self.seconds else 0.0},
        }


# --------------------------------------------------------------------------------------------
# The service


class TimelineService:
    """A model loaded once, plus the params games are windowed with. Generation is serialised by a
    lock (one model, one generation at a time); reading and windowing are not."""

    def __init__(self, model: Any, tokenizer: Any, params: PipelineParams, info: dict[str, Any], *,
                 batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.params = params
        self.info = {**info, "pipeline_params": params.as_dict()}
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str, *, params_file: str | Path | None = None, batch_size: int = 8,
             device: str = "auto") -> TimelineService:
        """Load `model` (an export directory, any checkpoint directory, or `embedded:<name>`) once.

        The export is a plain merged model, so no adapter is applied on top.
        """
        from fan_timeline.generate import load_model
        from fan_timeline.model import resolve_base_model

        path = resolve_base_model(model)
        prov = read_provenance(Path(path))
        params = pipeline_params(prov, params_file)   # a warning travels in .params and .info
        t0 = time.perf_counter()
        loaded, tokenizer = load_model(path, adapter=None, device=device)
        info = model_info(model, path, prov)
        info["load_seconds"] = round(time.perf_counter() - t0, 2)
        info["device"] = str(next(loaded.parameters()).device)
        return cls(loaded, tokenizer, params, info, batch_size=batch_size)

    # ---- reading ------------------------------------------------------------------------------

    def read_raw(self, pbp: RawFile, comment_files: Sequence[RawFile] = (), meta: dict[str, Any] | None = None) -> GameInput:
        """A game from raw files in any format ingest reads; `meta` has game.json's keys.

        Raises InputError naming the file (and row/field where a reader says) when the input
        cannot be used. Rows that cannot be kept are counted and listed in the report, as ingest
        writes them to rejected.jsonl.
        """
        meta = dict(meta or {})
        cfg = self.params.ingest
        try:
            pbp_res = read_pbp(pbp.data, pbp.name, pbp.format)
        except UnreadableFileError as exc:
            raise InputError(("pbp",), str(exc)) from None
        except ValueError as exc:     # an unknown format name
            raise InputError(("pbp", "format"), str(exc)) from None
        except Exception as exc:      # a reader that trips over odd input: still the input's problem
            log.exception("reading %s", pbp.name)
            raise InputError(("pbp",), f"{pbp.name}: could not be read ({type(exc).__name__}: {exc})") from None
        if not pbp_res.plays:
            raise InputError(("pbp",), f"{pbp.name}: no usable plays (all {pbp_res.read} rows rejected: "
                                       f"{pbp_res.rejections.by_reason()})")
        game_id = str(meta.get("game_id") or pbp_res.game_id or Path(pbp.name).stem)
        for p in pbp_res.plays:
            p["game_id"] = game_id
        teams = {side: _team(meta, pbp_res, side, pbp.name) for side in ("home", "away")}

        raw_comments: list[dict[str, Any]] = []
        formats: list[str] = []
        read_counts = 0
        reader_rejections = tables.Rejections()
        for i, f in enumerate(comment_files):
            try:
                res = read_comments(f.data, f.name, f.format)
            except UnreadableFileError as exc:
                raise InputError(("comment_files", i), str(exc)) from None
            except ValueError as exc:
                raise InputError(("comment_files", i, "format"), str(exc)) from None
            except Exception as exc:
                log.exception("reading %s", f.name)
                raise InputError(("comment_files", i), f"{f.name}: could not be read ({type(exc).__name__}: {exc})") from None
            for c in res.comments:
                c["_source_format"] = res.format
                c["_source_file"] = f.name
            raw_comments.extend(res.comments)
            formats.append(res.format)
            read_counts += res.read
            reader_rejections.extend(res.rejections)

        date = meta.get("date") or pbp_res.date
        alignment: dict[str, Any] = {"method": None, "expected_error_s": None, "reaction_lag_s": cfg.reaction_lag_s,
                                     "tipoff_utc": None, "note": "no comments to align"}
        rows: list[dict[str, Any]] = []
        align_rejections = tables.Rejections()
        if raw_comments:
            try:
                aligned = align_game(pbp_res, raw_comments, date=date, tz=meta.get("tz"),
                                     tipoff_utc=meta.get("tipoff_utc"), reaction_lag_s=cfg.reaction_lag_s,
                                     postgame_grace_s=cfg.postgame_grace_s, author_salt=cfg.author_salt, teams=teams)
            except ValueError as exc:   # align names the game.json key it needs ("tz", "date", "tipoff_utc")
                key = _GAME_KEY_RE.search(str(exc))
                raise InputError(("game", key.group(1)) if key else ("game",),
                                 f"the comments cannot be aligned to the game clock: {exc}") from None
            rows, align_rejections = aligned.rows, aligned.rejections
            for c in rows:
                c["game_id"] = game_id
            alignment = {"method": aligned.alignment.method, "expected_error_s": aligned.alignment.expected_error_s,
                         "reaction_lag_s": cfg.reaction_lag_s, "tipoff_utc": aligned.alignment.wall_start_utc,
                         "note": None}
        rejected = pbp_res.rejections.items + reader_rejections.items + align_rejections.items
        report = {
            "kind": "raw",
            "pbp_format": pbp_res.format,
            "comment_formats": formats,
            "alignment": alignment,
            "plays": _rows_report(pbp_res.read, len(pbp_res.plays), Counter(r["reason"] for r in pbp_res.rejections.items)),
            "comments": _rows_report(read_counts, len(rows),
                                     Counter(r["reason"] for r in reader_rejections.items + align_rejections.items)),
            "rejected": [{k: r.get(k) for k in ("file", "row", "field", "reason", "detail")}
                         for r in rejected[:MAX_REJECTIONS_REPORTED]],
        }
        game = _game_row(game_id, teams, date, pbp_res.plays, len(rows))
        return self._windowed(GameInput(game, pbp_res.plays, rows, report))

    def read_canonical(self, meta: dict[str, Any], plays: Sequence[dict[str, Any]],
                       comments: Sequence[dict[str, Any]] = ()) -> GameInput:
        """A game from canonical rows: plays in game order with a `clock` label ("Q4 01:50") each,
        and comments already on the game clock (`clock`: the moment they react to).

        Play keys: clock, event_type, team, player, player2, points, score_home, score_away, text.
        Comment keys: body, clock, flair_team (home/away tricode or none), score, comment_id,
        created_utc, parent_id. `meta` needs home.team and away.team.
        """
        meta = dict(meta or {})
        teams = {}
        for side in ("home", "away"):
            info = meta.get(side) or {}
            if not info.get("team"):
                raise InputError(("game", side), f"canonical input needs game.{side}.team (a tricode like \"HAR\")")
            teams[side] = {"team": info["team"], "name": _text_or_none(info.get("name")),
                           "aliases": list(info.get("aliases") or [])}
        if not plays:
            raise InputError(("plays",), "at least one play is needed")
        game_id = str(meta.get("game_id") or "game")
        rows = []
        last_s = -1.0
        for i, p in enumerate(plays):
            try:
                period, clock_s = sport.parse_clock_label(str(p["clock"]))
            except ValueError as exc:
                raise InputError(("plays", i, "clock"), str(exc)) from None
            game_s = sport.game_seconds(period, clock_s)
            if game_s < last_s:
                raise InputError(("plays", i, "clock"), f"plays must be in game order: {p['clock']} comes after "
                                                        f"{rows[-1]['clock']} (plays[{i - 1}])")
            last_s = game_s
            row = {"game_id": game_id, "seq": i, "source_id": str(i), "period": period, "clock_s": clock_s,
                   "clock": sport.clock_label(period, clock_s), "game_s": game_s, "wall_utc": None,
                   "team": _text_or_none(p.get("team")), "player": _text_or_none(p.get("player")),
                   "player2": _text_or_none(p.get("player2")),
                   "event_type": p["event_type"], "points": int(p.get("points") or 0),
                   "score_home": int(p["score_home"]), "score_away": int(p["score_away"]), "text": p.get("text") or ""}
            assert tuple(row) == tables.PLAY_COLUMNS
            rows.append(row)
        crows = []
        for i, c in enumerate(comments):
            try:
                period, clock_s = sport.parse_clock_label(str(c["clock"]))
            except ValueError as exc:
                raise InputError(("comments", i, "clock"), str(exc)) from None
            crows.append({
                "game_id": game_id, "comment_id": str(c.get("comment_id") or f"c{i}"), "thread_id": None,
                "parent_id": c.get("parent_id"), "author": "", "flair": None, "flair_team": _text_or_none(c.get("flair_team")),
                "body": str(c["body"]), "created_utc": str(c.get("created_utc") or ""), "score": c.get("score"),
                "edited": False, "game_s": sport.game_seconds(period, clock_s), "period": period,
                "clock": sport.clock_label(period, clock_s), "source_format": "canonical"})
        report = {
            "kind": "canonical", "pbp_format": None, "comment_formats": [],
            "alignment": {"method": "given", "expected_error_s": None, "reaction_lag_s": None, "tipoff_utc": None,
                          "note": "canonical comments carry the game clock they react to"},
            "plays": _rows_report(len(rows), len(rows), Counter()),
            "comments": _rows_report(len(crows), len(crows), Counter()),
            "rejected": [],
        }
        return self._windowed(GameInput(_game_row(game_id, teams, meta.get("date"), rows, len(crows)),
                                        rows, crows, report))

    def _windowed(self, game: GameInput) -> GameInput:
        """Cut the game into windows and prompt each, exactly as build_sft does."""
        cfg = self.params.build_sft
        for w in make_windows(game.plays, game.comments, window_s=cfg.window_s, overlap_s=cfg.overlap_s,
                              max_comments=cfg.max_comments):
            wp = prompt.window_prompt(self.tokenizer, game.game, w.info(), w.plays, w.comments, cfg.max_prompt_tokens)
            game.windows.append(WindowPlan(w, wp, cfg.max_prompt_tokens))
        return game

    # ---- generation ---------------------------------------------------------------------------

    def select(self, game: GameInput, windows: Sequence[int] | None) -> list[int]:
        """Window indexes to generate (default all), checked; InputError names a bad one."""
        n = len(game.windows)
        if windows is None:
            return list(range(n))
        if not windows:
            raise InputError(("windows",), f"no window chosen; leave `windows` out for all {n}, or give indexes 0..{n - 1}")
        for k, i in enumerate(windows):
            if not 0 <= i < n:
                raise InputError(("windows", k), f"window {i} does not exist: this game has {n} windows (0..{n - 1})")
        return sorted(set(windows))

    def timeline(self, game: GameInput, windows: Sequence[int] | None = None, *, progress: bool = False) -> TimelineResult:
        """Generate the chosen windows (default all) in batches and merge them into one timeline."""
        from fan_timeline.generate import generate_timelines, timeline_from_text

        plans = [game.windows[i] for i in self.select(game, windows)]
        with self._lock:
            t0 = time.perf_counter()
            results = generate_timelines(
                self.model, self.tokenizer, [p.prompt.messages for p in plans], constrained=True,
                groundings=[p.prompt.grounding for p in plans], batch_size=self.batch_size, progress=progress)
            seconds = time.perf_counter() - t0
        out = []
        for plan, r in zip(plans, results):
            parsed, errors = timeline_from_text(r.text)
            if not r.finished:
                errors = errors + ["output was cut at the token budget"]
            if errors:   # constrained decoding guarantees validity: this is a bug, reported, never served as valid
                log.error("window %d: invalid constrained output %r: %s", plan.window.index, r.text, errors)
            entries = [schema.normalise_item(e) for e in parsed["timeline"]] if parsed is not None and not errors else []
            out.append(WindowResult(plan, r.text, entries, errors, r.n_new_tokens, r.finished, r.seconds))
        return TimelineResult(game, out, self.params, self.info, seconds)


# --------------------------------------------------------------------------------------------
# A bounded job queue: generation off the event loop, one job at a time


class QueueFull(Exception):
    def __init__(self, retry_after_s: int, waiting: int):
        super().__init__(f"the generation queue is full ({waiting} waiting); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.waiting = waiting


class GenerationQueue:
    """One worker thread runs submitted jobs one at a time, in arrival order; at most `max_waiting`
    jobs wait behind the running one, and `submit` refuses more with QueueFull.

    Jobs are not batched across requests: a request's windows are batched together, and the same
    request gets the same answer however busy the server is (padding next to other requests'
    prompts would change the numerics, and greedy decoding can follow).
    """

    def __init__(self, max_waiting: int):
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, not {max_waiting}")
        self.max_waiting = max_waiting
        self._jobs: deque[tuple[Callable[[], Any], Future]] = deque()
        self._cv = threading.Condition()
        self._running = False
        self._stopping = False
        self._done = 0
        self._mean_s: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fan-timeline-generation", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        with self._cv:
            self._stopping = True
            while self._jobs:
                self._jobs.popleft()[1].cancel()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._cv:
            if self._stopping:
                raise RuntimeError("the generation queue is stopped")
            busy = self._running or bool(self._jobs)
            if busy and len(self._jobs) >= self.max_waiting:
                raise QueueFull(self._retry_after_locked(), len(self._jobs))
            self._jobs.append((job, future))
            self._cv.notify()
        return future

    def _retry_after_locked(self) -> int:
        mean = self._mean_s if self._mean_s is not None else 30.0
        return max(1, math.ceil(mean * (len(self._jobs) + self._running)))

    def stats(self) -> dict[str, Any]:
        with self._cv:
            return {"running": int(self._running), "waiting": len(self._jobs), "max_waiting": self.max_waiting,
                    "done": self._done, "mean_job_seconds": round(self._mean_s, 2) if self._mean_s is not None else None}

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                job, future = self._jobs.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                self._running = True
            t0 = time.perf_counter()
            result: Any = None
            error: BaseException | None = None
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 -- handed to the waiting request, which reports it
                error = exc
            seconds = time.perf_counter() - t0
            with self._cv:
                self._running = False
                self._done += 1
                self._mean_s = seconds if self._mean_s is None else 0.7 * self._mean_s + 0.3 * seconds
            # Only now does the waiting request learn the result: a client that sends its next request
            # as soon as it has its answer finds this job's slot free, and /health counts it done.
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


# --------------------------------------------------------------------------------------------
# Sample games (the page's and the demo's picker)


@dataclass(frozen=True)
class SampleGame:
    id: str
    path: Path
    meta: dict[str, Any]
    pbp_file: Path
    comment_files: tuple[Path, ...]

    def summary(self) -> dict[str, Any]:
        def team(side: str) -> str | None:
            return (self.meta.get(side) or {}).get("team")
        return {"id": self.id, "home": team("home"), "away": team("away"), "date": self.meta.get("date"),
                "pbp": self.pbp_file.name, "comment_files": [f.name for f in self.comment_files]}

    def raw_files(self) -> tuple[RawFile, list[RawFile]]:
        return (RawFile(self.pbp_file.name, self.pbp_file.read_bytes()),
                [RawFile(f.name, f.read_bytes()) for f in self.comment_files])


def find_samples(root: str | Path | None) -> list[SampleGame]:
    """Game directories under `root` (ingest's layout: pbp.*, comments/*, game.json); [] if none."""
    from fan_timeline.ingest import IngestError, discover

    if root is None or not Path(root).is_dir():
        return []
    try:
        found = discover(root)
    except IngestError as exc:
        log.warning("no sample games: %s", exc)
        return []
    return [SampleGame(str(g.meta.get("game_id") or g.path.name), g.path, g.meta, g.pbp_file, tuple(g.comment_files))
            for g in found]


def encode_for_json(f: RawFile) -> dict[str, Any]:
    """A raw file as the API carries it: UTF-8 text as is, anything else (zstd) as base64."""
    try:
        text = f.data.decode("utf-8")
        if "\x00" not in text:
            return {"name": f.name, "content": text, "encoding": "text"}
    except UnicodeDecodeError:
        pass
    return {"name": f.name, "content": base64.b64encode(f.data).decode("ascii"), "encoding": "base64"}

"""The timeline service: one game in, one timeline out. The server, `fan-timeline generate` and
`fan-timeline demo` all call this module; none of them reads, aligns, windows or prompts itself.

    service = TimelineService.load("models/export")
    game = service.read_raw(RawFile("pbp.json", pbp_bytes), [RawFile("thread.ndjson", data)],
                            meta={"date": "2025-10-21", "tz": "America/New_York"})
    result = service.timeline(game)                  # every window; service.timeline(game, [3]) one
    print(json.dumps(result.as_dict()))

A game takes the path the training games took: `game.read_game` (the readers, alignment and the
reaction lag, with the `ingest` params), `windows.plan_game` (windows, audiences, candidate plays
and prompts, with the `build_sft` params), then grounded constrained decoding
(`generate.generate_timelines`: every entry about a play the window shows, with that play's own
ts and fact sentence and a quote shown under it). A timeline is one audience's (a subreddit's
comments: the league thread's by default, the largest; or a team's own, whose feeling is that
team's fans'); its entries are the windows' in game order, an entry about a play an earlier window
already reported dropped.

Which params were used, and where they came from, is part of every answer (`pipeline_params`):
an explicit params file, else the ones the export recorded in provenance.json (those its
training data was built with), else the config defaults.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fan_timeline import __version__, config, schema, sport, tables
from fan_timeline.calibration import StopBias
from fan_timeline.candidates import NO_SUBREDDIT, audience_of
from fan_timeline.config import BuildSftConfig, ConfigError, IngestConfig
from fan_timeline.game import GameRead, InputError, RawFile, raw_file_from_text, read_game
from fan_timeline.model import file_sha256
from fan_timeline.windows import WindowPlan, plan_game

__all__ = ["InputError", "RawFile", "raw_file_from_text", "TimelineService", "GameInput"]

log = logging.getLogger("fan_timeline.service")

MAX_REJECTIONS_REPORTED = 50   # rejected rows listed in a report (all are counted)
VOLUME_BIN_S = 60.0            # game seconds per bar of the comment-volume series


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
        "stop_bias": StopBias.of(prov.get("stop_bias")).as_dict(),
        "package_version": __version__,
    }


# --------------------------------------------------------------------------------------------
# A game, read and windowed


@dataclass
class GameInput:
    """A game read from raw files or canonical rows, cut into windows with their prompts, for
    every audience."""

    game: dict[str, Any]              # game_id, teams, date, periods, final score, counts
    plays: list[dict[str, Any]]       # tables.PLAY_COLUMNS rows
    comments: list[dict[str, Any]]    # tables.COMMENT_COLUMNS rows (aligned)
    report: dict[str, Any]            # how the input was read and aligned (see read_raw)
    plans: list[WindowPlan] = field(default_factory=list)   # window, then audience

    @property
    def audiences(self) -> list[str]:
        """The game's audiences, largest first (the default one first)."""
        return list(dict.fromkeys(p.audience for p in self.plans))

    def audience_info(self) -> list[dict[str, Any]]:
        teams = {aud: team for aud, team in json.loads(self.game.get("audiences") or "{}").items()}
        counts = Counter(p.audience for p in self.plans for _ in range(p.comments))
        return [{"audience": a, "team": teams.get(a), "comments": counts.get(a, 0)} for a in self.audiences]

    def windows(self, audience: str | None = None) -> list[WindowPlan]:
        """One audience's plans in window order (default: the largest audience's)."""
        aud = self.audience(audience)
        return [p for p in self.plans if p.audience == aud]

    def audience(self, audience: str | None) -> str:
        """`audience` checked (InputError names the ones there are), or the default."""
        if audience is None:
            return self.audiences[0] if self.plans else NO_SUBREDDIT
        if audience not in self.audiences:
            raise InputError(("audience",), f"no audience {audience!r} in this game; there are "
                                            f"{', '.join(self.audiences) or 'none'}")
        return audience

    def series(self, audience: str | None = None) -> dict[str, Any]:
        """What a picture of the game needs: the score after each scoring play, the audience's
        comments per minute."""
        aud = self.audience(audience)
        end_s = sport.game_seconds(self.game["periods"], 0)   # aligned comments never lie past the final play
        score = [{"game_s": 0.0, "home": 0, "away": 0}]
        for p in self.plays:
            if p.get("points"):
                score.append({"game_s": float(p["game_s"]), "home": int(p["score_home"]), "away": int(p["score_away"])})
        n_bins = max(1, math.ceil(end_s / VOLUME_BIN_S))
        counts = Counter(min(n_bins - 1, int(c["game_s"] // VOLUME_BIN_S)) for c in self.comments
                         if audience_of(c) == aud)
        volume = [{"start_s": i * VOLUME_BIN_S, "end_s": min(end_s, (i + 1) * VOLUME_BIN_S), "count": counts.get(i, 0)}
                  for i in range(n_bins)]
        periods = [{"period": p, "label": sport.period_name(p),
                    "start_s": sport.game_seconds(p, sport.period_length_s(p))}
                   for p in range(1, self.game["periods"] + 1)]
        return {"end_s": float(end_s), "score": score, "volume": volume, "periods": periods}

    @staticmethod
    def trimmed(plans: Sequence[WindowPlan]) -> dict[str, int]:
        """What the prompts of these plans left out."""
        return {"comments_trimmed": sum(p.prompt.comments_trimmed for p in plans),
                "windows_trimmed": sum(p.prompt.comments_trimmed > 0 for p in plans),
                "prompts_over_budget": sum(p.prompt.n_tokens > p.budget for p in plans)}

    def as_dict(self, params: PipelineParams, audience: str | None = None) -> dict[str, Any]:
        """The game as the API's /v1/windows answers it."""
        plans = self.windows(audience)
        return {"game": self.game, "input": self.report, "params": params_summary(params),
                "audience": self.audience(audience), "audiences": self.audience_info(),
                "windows": [{**p.info(), **runtime_request(p)} for p in plans], "trimmed": self.trimmed(plans),
                "series": self.series(audience)}


def runtime_request(plan: WindowPlan) -> dict[str, Any]:
    """What any runtime needs to write a window's timeline with its facts true: the chat messages
    and the window's grounded JSON Schema (`schema.grounded_json_schema`: its listed plays, their
    own clocks and sentences, the comments shown under them), for llama.cpp's `json_schema`,
    Ollama's `format`, LM Studio's and vLLM's structured output."""
    return {"messages": plan.prompt.messages, "json_schema": schema.grounded_json_schema(plan.prompt.grounding)}


def params_summary(params: PipelineParams) -> dict[str, Any]:
    b = params.build_sft
    return {"source": params.source, "warning": params.warning or None, "window_s": b.window_s,
            "overlap_s": b.overlap_s, "max_candidates": b.max_candidates, "max_shown": b.max_shown,
            "max_prompt_tokens": b.max_prompt_tokens, "reaction_lag_s": params.ingest.reaction_lag_s}


def _rows_report(read: int, kept: int, reasons: Counter) -> dict[str, Any]:
    return {"read": read, "kept": kept, "rejected": sum(reasons.values()),
            "rejected_by_reason": dict(sorted(reasons.items()))}


def _text_or_none(value: Any) -> str | None:
    """A name as the readers keep it: stripped, and None when blank (a blank player name would
    otherwise reach code that takes a name's last word)."""
    return (str(value).strip() or None) if value is not None else None


def _raw_report(g: GameRead, cfg: IngestConfig) -> dict[str, Any]:
    """How a raw game was read and aligned, and the first rows that were not kept."""
    row = g.row
    if g.aligned is None:
        alignment = {"method": None, "expected_error_s": None, "reaction_lag_s": None, "lag_source": None,
                     "tipoff_utc": None, "note": "no comments to align"}
    else:
        alignment = {"method": row["align_method"], "expected_error_s": row["align_error_s"],
                     "reaction_lag_s": row["reaction_lag_s"], "lag_source": row["lag_source"],
                     "tipoff_utc": row["tipoff_utc"], "note": None}
    comment_rejections = [r for res in g.comment_files for r in res.rejections.items] + \
        (g.aligned.rejections.items if g.aligned else [])
    return {
        "kind": "raw", "pbp_format": g.pbp.format, "comment_formats": [r.format for r in g.comment_files],
        "alignment": alignment,
        "plays": _rows_report(g.pbp.read, len(g.plays), Counter(r["reason"] for r in g.pbp.rejections.items)),
        "comments": _rows_report(sum(r.read for r in g.comment_files), len(g.comments),
                                 Counter(r["reason"] for r in comment_rejections)),
        "rejected": [{k: r.get(k) for k in ("file", "row", "field", "reason", "detail")}
                     for r in g.rejections.items[:MAX_REJECTIONS_REPORTED]],
    }


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
    """One game timeline from the windows' outputs, in game order. Dropped: an entry about a play
    (its ts and event) an earlier window already reported (overlapping windows share plays).
    Returns (entries, entries dropped)."""
    merged: list[tuple[float, int, int, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    dropped = 0
    for r in sorted(results, key=lambda r: r.plan.window.index):
        for k, e in enumerate(r.entries):
            if (e["ts"], e["event"]) in seen:
                dropped += 1
                continue
            seen.add((e["ts"], e["event"]))
            merged.append((sport.label_to_game_seconds(e["ts"]), r.plan.window.index, k, e))
    merged.sort(key=lambda m: m[:3])
    return [m[3] for m in merged], dropped


@dataclass
class TimelineResult:
    game: GameInput
    audience: str
    windows: list[WindowResult]
    params: PipelineParams
    model: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        entries, dropped = merge_windows(self.windows)
        new_tokens = sum(r.n_new_tokens for r in self.windows)
        return {
            "timeline": entries,
            "audience": self.audience,
            "audiences": self.game.audience_info(),
            "game": self.game.game,
            "input": self.game.report,
            "params": params_summary(self.params),
            "windows": [r.as_dict() for r in self.windows],
            "windows_total": len(self.game.windows(self.audience)),
            "merge": {"entries_from_windows": sum(len(r.entries) for r in self.windows), "duplicates_dropped": dropped},
            "trimmed": self.game.trimmed([r.plan for r in self.windows]),
            "series": self.game.series(self.audience),
            "generation": {"model": self.model.get("model"), "schema_version": schema.SCHEMA_VERSION,
                           "constrained": True, "grounded": True, "seconds": round(self.seconds, 3),
                           "new_tokens": new_tokens,
                           "tokens_per_s": round(new_tokens / self.seconds, 2) if self.seconds else 0.0},
        }


# --------------------------------------------------------------------------------------------
# The service


# How much of one comment file the service reads (a request's file, or one a user names): a real
# game thread is tens of MB; these stop a decompression bomb or a million-column CSV early.
SERVICE_READ_LIMITS = tables.ReadLimits(max_bytes=256 * 2**20, max_rows=1_000_000, max_columns=200)


class TimelineService:
    """A model loaded once, plus the params games are windowed with. Generation is serialised by a
    lock (one model, one generation at a time); reading and windowing are not."""

    read_limits: tables.ReadLimits = SERVICE_READ_LIMITS
    stop_bias: StopBias = StopBias()          # how readily the model reports a moment (provenance.json)

    def __init__(self, model: Any, tokenizer: Any, params: PipelineParams, info: dict[str, Any], *,
                 batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.params = params
        self.info = {**info, "pipeline_params": params.as_dict()}
        self.batch_size = batch_size
        self.windows_generated = 0              # /health: how many windows the model has written
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str, *, params_file: str | Path | None = None, batch_size: int = 8,
             device: str = "auto") -> TimelineService:
        """Load `model` (an export directory, any checkpoint directory, or `embedded:<name>`) once.

        The export is a plain merged model, so no adapter is applied on top.
        """
        from fan_timeline.model import load_model, resolve_base_model

        path = resolve_base_model(model)
        prov = read_provenance(Path(path))
        params = pipeline_params(prov, params_file)   # a warning travels in .params and .info
        t0 = time.perf_counter()
        loaded, tokenizer = load_model(path, adapter=None, device=device)
        info = model_info(model, path, prov)
        info["load_seconds"] = round(time.perf_counter() - t0, 2)
        info["device"] = str(next(loaded.parameters()).device)
        service = cls(loaded, tokenizer, params, info, batch_size=batch_size)
        service.stop_bias = StopBias.of(prov.get("stop_bias"))   # fit on val by train_qlora
        return service

    @classmethod
    def reader(cls, model: str, *, params_file: str | Path | None = None) -> TimelineService:
        """`model`'s service without its weights: it reads and windows a game as `load`'s does
        (the model's tokenizer, the same params) but cannot generate. The CLI checks a game, and
        the audience and windows asked of it, with it before paying for the weights."""
        from fan_timeline.model import load_tokenizer, resolve_base_model

        path = resolve_base_model(model)
        params = pipeline_params(read_provenance(Path(path)), params_file)
        return cls(None, load_tokenizer(path), params, {"model": model})

    # ---- reading ------------------------------------------------------------------------------

    def read_raw(self, pbp: RawFile, comment_files: Sequence[RawFile] = (),
                 meta: dict[str, Any] | None = None) -> GameInput:
        """A game from raw files in any format ingest reads, read by the code ingest runs
        (`game.read_game`); `meta` has game.json's keys.

        Raises InputError naming the file (and row/field where a reader says) when the input
        cannot be used. Rows that cannot be kept are counted and listed in the report, as ingest
        writes them to rejected.jsonl.
        """
        g = read_game(pbp, comment_files, dict(meta or {}), self.params.ingest, fallback_id=Path(pbp.name).stem,
                      limits=self.read_limits)
        return self._windowed(GameInput(g.row, g.plays, g.comments, _raw_report(g, self.params.ingest)))

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
                   "score_home": int(p["score_home"]), "score_away": int(p["score_away"]), "text": p.get("text") or "",
                   "wall_s": None}
            assert tuple(row) == tables.PLAY_COLUMNS
            rows.append(row)
        crows = []
        last_period = rows[-1]["period"]
        for i, c in enumerate(comments):
            try:
                period, clock_s = sport.parse_clock_label(str(c["clock"]))
            except ValueError as exc:
                raise InputError(("comments", i, "clock"), str(exc)) from None
            if period > last_period:   # a comment can react to no moment the game did not have
                raise InputError(("comments", i, "clock"), f"{c['clock']} is after the game: its plays end in "
                                                           f"{sport.period_name(last_period)}")
            team = _text_or_none(c.get("flair_team"))
            crows.append({
                "game_id": game_id, "comment_id": str(c.get("comment_id") or f"c{i}"), "thread_id": None,
                "parent_id": c.get("parent_id"), "author": "", "flair": None, "flair_team": team,
                "body": str(c["body"]), "created_utc": str(c.get("created_utc") or ""), "score": c.get("score"),
                "edited": False, "game_s": sport.game_seconds(period, clock_s), "period": period,
                "clock": sport.clock_label(period, clock_s), "source_format": "canonical", "subreddit": None,
                "fan_team": team})
            assert tuple(crows[-1]) == tables.COMMENT_COLUMNS
        report = {
            "kind": "canonical", "pbp_format": None, "comment_formats": [],
            "alignment": {"method": "given", "expected_error_s": None, "reaction_lag_s": None, "lag_source": None,
                          "tipoff_utc": None, "note": "canonical comments carry the game clock they react to"},
            "plays": _rows_report(len(rows), len(rows), Counter()),
            "comments": _rows_report(len(crows), len(crows), Counter()),
            "rejected": [],
        }
        last = rows[-1]
        game = {"game_id": game_id, "date": meta.get("date"), "home_team": teams["home"]["team"],
                "away_team": teams["away"]["team"], "home_name": teams["home"]["name"],
                "away_name": teams["away"]["name"], "periods": int(max(p["period"] for p in rows)),
                "final_home": int(last["score_home"]), "final_away": int(last["score_away"]), "n_plays": len(rows),
                "n_comments": len(crows), "reaction_lag_s": None, "audiences": "{}"}
        return self._windowed(GameInput(game, rows, crows, report))

    def _windowed(self, game: GameInput) -> GameInput:
        """Cut the game into windows and prompt each for each audience, exactly as build_sft does."""
        game.plans = plan_game(game.game, game.plays, game.comments, self.tokenizer, self.params.build_sft)
        return game

    # ---- generation ---------------------------------------------------------------------------

    def select(self, game: GameInput, windows: Sequence[int] | None, audience: str | None = None) -> list[int]:
        """Window indexes to generate (default all), checked; InputError names a bad one."""
        n = len(game.windows(audience))
        if windows is None:
            return list(range(n))
        if not windows:
            raise InputError(("windows",), f"no window chosen; leave `windows` out for all {n}, "
                                           f"or give indexes 0..{n - 1}")
        for k, i in enumerate(windows):
            if not 0 <= i < n:
                raise InputError(("windows", k), f"window {i} does not exist: this game has {n} windows (0..{n - 1})")
        return sorted(set(windows))

    def timeline(self, game: GameInput, windows: Sequence[int] | None = None, audience: str | None = None, *,
                 progress: bool = False, should_stop: Callable[[], bool] | None = None) -> TimelineResult:
        """Generate the chosen windows (default all) of one audience (default the largest) in
        batches and merge them into one timeline. `should_stop` is asked between batches
        (generate.Cancelled when it says yes: the server's client has gone)."""
        from fan_timeline.generate import generate_timelines
        from fan_timeline.schema import timeline_from_text

        aud = game.audience(audience)
        plans = [game.windows(aud)[i] for i in self.select(game, windows, aud)]
        with self._lock:
            t0 = time.perf_counter()
            results = generate_timelines(
                self.model, self.tokenizer, [p.prompt.messages for p in plans], constrained=True,
                groundings=[p.prompt.grounding for p in plans], batch_size=self.batch_size, progress=progress,
                should_stop=should_stop, stop_bias=self.stop_bias)
            seconds = time.perf_counter() - t0
            self.windows_generated += len(plans)
        out = []
        for plan, r in zip(plans, results):
            parsed, errors = timeline_from_text(r.text)
            if not r.finished:
                errors = errors + ["output was cut at the token budget"]
            if errors:   # constrained decoding guarantees validity: this is a bug, reported, never served as valid
                log.error("window %d: invalid constrained output %r: %s", plan.window.index, r.text, errors)
            entries = ([schema.normalise_item(e) for e in parsed["timeline"]]
                       if parsed is not None and not errors else [])
            out.append(WindowResult(plan, r.text, entries, errors, r.n_new_tokens, r.finished, r.seconds))
        return TimelineResult(game, aud, out, self.params, self.info, seconds)

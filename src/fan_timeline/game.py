"""One game's raw files -> canonical rows: the one reader that ingest and the server both call.

    game = read_game(RawFile("pbp.json", data), [RawFile("thread.ndjson", c)], meta, cfg)
    game.plays, game.comments, game.row     # tables.PLAY_COLUMNS, COMMENT_COLUMNS, GAME_COLUMNS

The steps, in order: read the play-by-play (format detected or named), name the teams (game.json
over the play-by-play), read each comment file, build the game's wall-clock alignment, estimate
the reaction lag from the game's own comments (`ingest.reaction_lag_s: auto`), align the comments
to the game clock, and give every play its wall time. Every input row is kept or rejected with a
reason, and `read == kept + rejected` is checked per file.

A problem with the input as a whole raises `InputError`, whose `loc` says where (("pbp",),
("comment_files", 1), ("game", "tz")) and whose message names the file; ingest turns it into the
stage's error, the server into a 422.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fan_timeline.align import (
    DEFAULT_REACTION_LAG_S,
    MAX_LAG_ALIGN_ERROR_S,
    AlignedComments,
    Alignment,
    align_game,
    build_alignment,
    estimate_reaction_lag,
    name_words,
    refine_alignment,
)
from fan_timeline.authors import subreddit_team
from fan_timeline.config import IngestConfig
from fan_timeline.facts import NAME_PARTICLES, NAME_SUFFIXES, game_facts
from fan_timeline.readers.comments import read_comments
from fan_timeline.readers.pbp import read_pbp
from fan_timeline.tables import (
    CommentResult,
    InputTooLargeError,
    PbpResult,
    ReadLimits,
    Rejections,
    UnreadableFileError,
)

log = logging.getLogger("fan_timeline.game")

GAME_JSON_KEYS = {"game_id", "date", "tz", "home", "away", "tipoff_utc", "source", "league"}
TEAM_KEYS = {"team", "name", "aliases", "subreddit"}


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


class InputTooLarge(InputError):
    """A file over a read limit (`tables.ReadLimits`): the server answers 413."""


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


def team_info(meta: dict[str, Any], pbp: PbpResult, side: str) -> dict[str, Any] | None:
    """A side's team (code, name, aliases, subreddit): game.json's `home`/`away` entry over what
    the play-by-play names; a blank name counts as none. None when neither names the team's code."""
    team = dict(meta.get(side) or {})
    code = team.get("team") or getattr(pbp, f"{side}_team")
    if not code:
        return None
    name = str(team["name"]).strip() if team.get("name") is not None else ""
    return {"team": code, "name": name or getattr(pbp, f"{side}_name"), "aliases": list(team.get("aliases") or []),
            "subreddit": team.get("subreddit")}


def check_accounting(source: str, read: int, kept: int, rejected: int) -> None:
    if read != kept + rejected:  # a reader bug, not bad input: stop loudly
        raise AssertionError(f"{source}: read {read} != kept {kept} + rejected {rejected}")


@dataclass
class GameRead:
    """A game read from its raw files: canonical rows, every rejection, and how it was aligned."""

    row: dict[str, Any]                   # tables.GAME_COLUMNS
    plays: list[dict[str, Any]]           # tables.PLAY_COLUMNS, wall_s filled where the game has comments
    comments: list[dict[str, Any]]        # tables.COMMENT_COLUMNS
    pbp: PbpResult
    comment_files: list[CommentResult]    # one per comment file, in order
    aligned: AlignedComments | None       # None without comments
    lag_contrast: float = 0.0             # how clearly the comments peaked after the plays
    rejections: Rejections = field(default_factory=Rejections)   # pbp + comment files + alignment

    @property
    def teams(self) -> dict[str, str]:
        return {"home": self.row["home_team"], "away": self.row["away_team"]}


def _read_pbp(f: RawFile) -> PbpResult:
    try:
        pbp = read_pbp(f.data, f.name, f.format)
    except UnreadableFileError as exc:
        raise InputError(("pbp",), str(exc)) from None
    except ValueError as exc:     # an unknown format name
        raise InputError(("pbp", "format"), str(exc)) from None
    except Exception as exc:      # a reader that trips over odd input: still the input's problem
        log.exception("reading %s", f.name)
        raise InputError(("pbp",), f"{f.name}: could not be read ({type(exc).__name__}: {exc})") from None
    if not pbp.plays:
        raise InputError(("pbp",), f"{f.name}: no usable plays (all {pbp.read} rows rejected: "
                                   f"{pbp.rejections.by_reason()})")
    check_accounting(f.name, pbp.read, len(pbp.plays), len(pbp.rejections))
    return pbp


def _read_comment_file(i: int, f: RawFile, limits: ReadLimits) -> CommentResult:
    try:
        res = read_comments(f.data, f.name, f.format, limits)
    except InputTooLargeError as exc:
        raise InputTooLarge(("comment_files", i), str(exc)) from None
    except UnreadableFileError as exc:
        raise InputError(("comment_files", i), str(exc)) from None
    except ValueError as exc:
        raise InputError(("comment_files", i, "format"), str(exc)) from None
    except Exception as exc:
        log.exception("reading %s", f.name)
        raise InputError(("comment_files", i), f"{f.name}: could not be read ({type(exc).__name__}: {exc})") from None
    check_accounting(f.name, res.read, len(res.comments), len(res.rejections))
    for c in res.comments:
        c["_source_format"] = res.format
        c["_source_file"] = f.name
    return res


def _alignment(pbp: PbpResult, meta: dict[str, Any], date: str | None) -> Alignment:
    try:
        return build_alignment(pbp, date=date, tz=meta.get("tz"), tipoff_utc=meta.get("tipoff_utc"))
    except ValueError as exc:   # align names the game.json key it needs ("tz", "date", "tipoff_utc")
        key = next((k for k in ("tipoff_utc", "date", "tz") if f'"{k}"' in str(exc)), None)
        raise InputError(("game", key) if key else ("game",),
                         f"the comments cannot be aligned to the game clock: {exc}") from None


def reaction_lag(pbp: PbpResult, alignment: Alignment, comments: list[dict[str, Any]],
                 setting: float | str) -> tuple[float, str, float]:
    """(lag_s, source, contrast): the param's lag, or with `auto` the one at which the game's comments
    naming a play's player peak after it (`align.estimate_reaction_lag`); the default when they do
    not say, or when the feed's clock is too coarse to tell (V3's period anchors, tip-off only)."""
    if setting != "auto":
        return float(setting), "param", 0.0
    if alignment.expected_error_s > MAX_LAG_ALIGN_ERROR_S:
        return DEFAULT_REACTION_LAG_S, "default", 0.0
    names = [name_words(p.get("player")) | name_words(p.get("player2")) for p in pbp.plays]
    lag, contrast = estimate_reaction_lag(alignment.play_wall_s, names,
                                          [(float(c["created_utc"]), str(c["body"])) for c in comments])
    if lag is None:
        return DEFAULT_REACTION_LAG_S, "default", contrast
    return lag, "estimated", contrast


def named_plays(pbp: PbpResult, teams: dict[str, str]) -> list[tuple[int, tuple[str, ...]]]:
    """(play index, surnames) of the plays that can be a moment and name a player: what fans shout."""
    facts = game_facts(pbp.plays, teams["home"], teams["away"])
    def shouted(surname: str) -> tuple[str, ...]:   # "Jones Jr." -> ("Jones",), "Van Dyke" -> ("Dyke",)
        return tuple(w for w in surname.split() if w.lower() not in NAME_SUFFIXES | NAME_PARTICLES)

    return [(i, shouted(facts[p["seq"]].actor)) for i, p in enumerate(pbp.plays)
            if p["seq"] in facts and facts[p["seq"]].actor]


def read_game(pbp_file: RawFile, comment_files: Sequence[RawFile], meta: dict[str, Any], cfg: IngestConfig,
              fallback_id: str = "game", limits: ReadLimits | None = None) -> GameRead:
    """Read one game (see the module docstring). Raises InputError for input that cannot be used
    (InputTooLarge for a comment file over `limits`, default the ingest params')."""
    pbp = _read_pbp(pbp_file)
    game_id = str(meta.get("game_id") or pbp.game_id or fallback_id)
    for p in pbp.plays:
        p["game_id"] = game_id
    teams = {}
    for side in ("home", "away"):
        team = team_info(meta, pbp, side)
        if team is None:
            raise InputError(("game", side), f"the {side} team is unknown: {pbp_file.name} does not name it; "
                                             f"give game.json {{\"{side}\": {{\"team\": ...}}}} "
                                             "(a tricode like \"HAR\")")
        teams[side] = team
    limits = cfg.read_limits() if limits is None else limits
    results = [_read_comment_file(i, f, limits) for i, f in enumerate(comment_files)]
    raw_comments = [c for r in results for c in r.comments]
    rejections = Rejections()
    rejections.extend(pbp.rejections)
    for r in results:
        rejections.extend(r.rejections)
    date = meta.get("date") or pbp.date
    aligned, lag, lag_source, contrast, method, error = None, None, None, 0.0, None, None
    if raw_comments:
        alignment = _alignment(pbp, meta, date)
        codes = {s: t["team"] for s, t in teams.items()}
        lag, lag_source, contrast = reaction_lag(pbp, alignment, raw_comments, cfg.reaction_lag_s)
        alignment = refine_alignment(alignment, pbp.plays, named_plays(pbp, codes),
                                     [(float(c["created_utc"]), str(c["body"])) for c in raw_comments], lag)
        aligned = align_game(pbp, raw_comments, alignment, reaction_lag_s=lag, postgame_grace_s=cfg.postgame_grace_s,
                             author_salt=cfg.author_salt, teams=teams)
        check_accounting(f"{game_id} comments", sum(r.read for r in results), len(aligned.rows),
                         sum(len(r.rejections) for r in results) + len(aligned.rejections))
        rejections.extend(aligned.rejections)
        for c in aligned.rows:
            c["game_id"] = game_id
        for p, wall in zip(pbp.plays, alignment.play_wall_s):
            p["wall_s"] = float(wall)
        method, error = alignment.method, float(alignment.expected_error_s)
    last = pbp.plays[-1]
    comments = aligned.rows if aligned else []
    audiences = {f"r/{sub}": subreddit_team(sub, teams)
                 for sub in sorted({c["subreddit"] for c in comments if c.get("subreddit")})}
    row = {
        "game_id": game_id, "date": date,
        "home_team": teams["home"]["team"], "away_team": teams["away"]["team"],
        "home_name": teams["home"]["name"], "away_name": teams["away"]["name"],
        "pbp_format": pbp.format, "comment_formats": ",".join(sorted({r.format for r in results})),
        "tipoff_utc": aligned.alignment.wall_start_utc if aligned else meta.get("tipoff_utc"),
        "periods": int(max(p["period"] for p in pbp.plays)),
        "final_home": int(last["score_home"]), "final_away": int(last["score_away"]),
        "n_plays": len(pbp.plays), "n_comments": len(comments),
        "align_method": method, "align_error_s": error, "reaction_lag_s": lag, "lag_source": lag_source,
        "stress": False, "audiences": json.dumps(audiences),
    }
    return GameRead(row, pbp.plays, comments, pbp, results, aligned, contrast, rejections)

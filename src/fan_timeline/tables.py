"""Canonical tables and row accounting shared by every reader.

Every raw reader turns one file into rows of the canonical tables below (plain dicts whose keys
are exactly the listed columns) plus a `Rejections` record of what it could not keep. Nothing
else in the project knows about raw formats.

The game clock (periods, `clock_s`, `game_s`, the "Q4 01:50" labels) and the canonical event
types are the sport's and live in `sport.py`.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- canonical table columns -------------------------------------------------------------------
# games.parquet: one row per game.
GAME_COLUMNS = (
    "game_id",          # str, the source's game id (e.g. "0021900001") or the sample's id
    "date",             # str YYYY-MM-DD, local game date (None if unknown)
    "home_team",        # str, tricode/abbreviation, e.g. "HAR"
    "away_team",        # str
    "home_name",        # str | None, e.g. "Harbor Herons"
    "away_name",        # str | None
    "pbp_format",       # str, one of PBP_FORMATS
    "comment_formats",  # str, comma-joined formats of the comment files read
    "tipoff_utc",       # str ISO-8601 UTC | None
    "periods",          # int, number of periods played
    "final_home",       # int
    "final_away",       # int
    "n_plays",          # int
    "n_comments",       # int, comments kept after alignment
    "align_method",     # str, see align.ALIGN_METHODS
    "align_error_s",    # float, expected absolute alignment error in seconds
    "reaction_lag_s",   # float, wall seconds from a play to its fans' reaction peak (see align.estimate_reaction_lag)
    "lag_source",       # str, "estimated" (from this game's comments), "default" (too few to tell) or "param"
    "stress",           # bool, from the stress set (ingest's stress_dir): evaluated apart, never trained on
    "audiences",        # str, JSON {"r/<subreddit>": team tricode of a team's own subreddit, or null}
)

# plays.parquet: one row per play-by-play event, in game order.
PLAY_COLUMNS = (
    "game_id",      # str
    "seq",          # int, 0-based order within the game
    "source_id",    # str, the event's id in the source (EVENTNUM, actionNumber, ESPN id)
    "period",       # int
    "clock_s",      # float, seconds remaining in the period
    "clock",        # str, "Q4 01:50"
    "game_s",       # float, game seconds elapsed since tip-off
    "wall_utc",     # str ISO-8601 UTC with "Z" | None (None when the source has no wall clock)
    "team",         # str | None, tricode of the acting team
    "player",       # str | None, primary player's display name
    "player2",      # str | None, secondary player (assister, blocker, fouled, ...)
    "event_type",   # str, one of EVENT_TYPES
    "points",       # int, points scored by this event (0..3)
    "score_home",   # int, running score after the event
    "score_away",   # int
    "text",         # str, human-readable description
    "wall_s",       # float | None, Unix seconds of the play: the source's stamp or the alignment's estimate
)

# comments.parquet: one row per kept comment, with its aligned game time.
COMMENT_COLUMNS = (
    "game_id",       # str
    "comment_id",    # str, source id (Reddit base36 id without "t1_")
    "thread_id",     # str | None, link id without "t3_"
    "parent_id",     # str | None, parent's id with its t1_/t3_ prefix
    "author",        # str, pseudonym: stable hash of the raw author name (see pseudonymise)
    "flair",         # str | None, raw flair text
    "flair_team",    # str | None, tricode of the team the flair supports (home/away), else None
    "body",          # str
    "created_utc",   # str ISO-8601 UTC with "Z"
    "score",         # int | None
    "edited",        # bool
    "game_s",        # float, aligned game seconds the comment reacts to (created - lag -> game clock)
    "period",        # int
    "clock",         # str, label of the aligned game time
    "source_format", # str, one of COMMENT_FORMATS
    "subreddit",     # str | None, the thread's subreddit without "r/" (its audience: league or a team's own)
    "fan_team",      # str | None, tricode of the team the commenter supports: the subreddit's team, else the flair's
)

PBP_FORMATS = ("stats_v2", "stats_v3", "cdn_live", "espn")
COMMENT_FORMATS = ("reddit_ndjson", "reddit_listing", "scraper_csv")


# --- row accounting -----------------------------------------------------------------------------
MAX_DETAIL_CHARS = 300  # rejected.jsonl keeps the start of a bad row's detail and value, never megabytes
MAX_VALUE_CHARS = 200


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:MAX_VALUE_CHARS]
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (RecursionError, ValueError):  # nesting deeper than the encoder's stack; unprintable ints
        return reprlib.repr(value)


def _printable(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with lone surrogates (from bad escapes) replaced by "?"."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


@dataclass
class Rejections:
    """Rows a reader could not keep, each with where it came from and why.

    `record` is the only way a row leaves a reader other than being kept, so that for every file
    `read == kept + rejected` holds and is checked by ingest.
    """

    items: list[dict[str, Any]] = field(default_factory=list)

    def record(self, file: str | Path, row: int | str | None, field_: str | None, reason: str,
               detail: str = "", value: Any = None) -> None:
        item = {"file": str(file), "row": row, "field": field_, "reason": reason,
                "detail": _printable(detail, MAX_DETAIL_CHARS)}
        if value is not None:
            item["value"] = _printable(_value_text(value), MAX_VALUE_CHARS)
        self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item["reason"]] = out.get(item["reason"], 0) + 1
        return dict(sorted(out.items()))

    def extend(self, other: "Rejections") -> None:
        self.items.extend(other.items)


class UnreadableFileError(ValueError):
    """A whole input file cannot be read (not JSON, wrong structure, empty, bad compression).

    The message names the file and what to do; ingest fails the stage with it.
    """

    def __init__(self, file: str | Path, problem: str, hint: str = ""):
        self.file = str(file)
        self.problem = problem
        msg = f"{file}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class InputTooLargeError(UnreadableFileError):
    """A file over one of the `ReadLimits`: reading stopped there, before it could exhaust memory."""


@dataclass(frozen=True)
class ReadLimits:
    """How much of one comment file a reader takes before it stops with InputTooLargeError.

    A real game thread is tens of MB (25,000 comments of a big playoff game's league thread); the
    limits stop a decompression bomb (a few KB of zstd that expand to GBs) or a pathological CSV
    (a million columns) long before memory or a core runs out. The pipeline takes them from
    params.yaml `ingest`; the server has smaller ones (docs/reliability.md).
    """

    max_bytes: int = 2 * 2**30      # bytes of one file, after decompression
    max_rows: int = 5_000_000       # rows (lines, records, comments) of one file
    max_columns: int = 1_000        # columns of a CSV header


@dataclass
class PbpResult:
    """What a play-by-play reader returns for one file."""

    format: str                      # one of PBP_FORMATS
    game_id: str
    plays: list[dict[str, Any]]      # PLAY_COLUMNS dicts (game_id/seq filled by the reader)
    home_team: str | None = None
    away_team: str | None = None
    home_name: str | None = None
    away_name: str | None = None
    date: str | None = None          # local date YYYY-MM-DD if the file says
    read: int = 0                    # raw event rows seen
    rejections: Rejections = field(default_factory=Rejections)
    # Wall-clock anchors the format offers besides per-play UTC (e.g. V2 minute stamps, V3
    # "Start of 1st Period (7:11 PM EST)"): list of (seq, local "h:mm AM/PM" text, precision_s).
    wall_hints: list[tuple[int, str, float]] = field(default_factory=list)


@dataclass
class CommentResult:
    """What a comment reader returns for one file (alignment happens later, in align.py)."""

    format: str                      # one of COMMENT_FORMATS
    comments: list[dict[str, Any]]   # dicts with: comment_id, thread_id, parent_id, author (raw),
                                     # flair, body, created_utc (float Unix seconds), score, edited,
                                     # subreddit
    read: int = 0
    rejections: Rejections = field(default_factory=Rejections)

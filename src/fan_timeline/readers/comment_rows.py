"""Field parsing and keep/reject rules shared by the three comment readers.

Every comment format ends up as the same comment dict (see `tables.CommentResult`):

    comment_id  str, without "t1_"          thread_id  str | None, without "t3_"
    parent_id   str | None, with its prefix author     str, raw name (pseudonymised in align)
    flair       str | None                  body       str
    created_utc float Unix seconds          score      int | None
    edited      bool                        subreddit  str | None, without "r/"

Text fields are bounded: a body longer than Reddit allows (MAX_BODY_CHARS) or an id, name, flair
or subreddit longer than MAX_FIELD_CHARS rejects its row (too_long).

`CommentSink` owns the rules that do not depend on the format, so the three readers apply them
identically and in the same order: structural checks (raised by the per-format parser as
`RowError`) → duplicate_id → deleted → bot. Every row offered to the sink is either kept or
recorded as a rejection, which keeps `read == len(comments) + len(rejections)` true by
construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fan_timeline.readers.common import RowError, is_blank, parse_utc, to_int
from fan_timeline.tables import CommentResult, InputTooLargeError, ReadLimits

# Accounts whose comments are not fan reactions. Matched case-insensitively on the whole name.
BOT_AUTHORS = frozenset({"automoderator"})
# Any name ending in "bot" (covers "-bot" and "_bot" too: "RemindMeBot", "nba_stats_bot").
# Deliberately broad: bots post box scores and reminders in every game thread, while humans whose
# name ends in "bot" ("Talbot") are rare; losing one of them costs far less than a bot's stat dump
# being quoted as a fan reaction.
BOT_SUFFIX = "bot"

# Bodies Reddit shows for comments removed by their author or by moderators.
DELETED_BODIES = frozenset({"[deleted]", "[removed]"})

# Plausible comment times: Reddit started in 2005; anything past 2100 is a corrupt value.
MIN_UTC = 1104537600.0   # 2005-01-01T00:00:00Z
MAX_UTC = 4102444800.0   # 2100-01-01T00:00:00Z
# A number this large is milliseconds (seconds would be after the year 5000).
MILLIS_THRESHOLD = 1e11

# Reddit refuses a comment of more than 10,000 characters. Dumps and the API write a body's "&", "<"
# and ">" as "&amp;", "&lt;" and "&gt;": each counts as the one character its author typed.
MAX_BODY_CHARS = 10_000
# Every other text field: Reddit's ids, user names (20), subreddit names (21) and flair texts (64)
# are far shorter; longer text there is not a Reddit value.
MAX_FIELD_CHARS = 256


def is_bot(author: str) -> bool:
    """True for AutoModerator and names ending in "bot" (case-insensitive); see BOT_SUFFIX."""
    name = author.strip().lower()
    return name in BOT_AUTHORS or name.endswith(BOT_SUFFIX)


def strip_prefix(value: str, prefix: str) -> str:
    """"t3_abc" -> "abc" for the given Reddit type prefix; other text unchanged."""
    return value[len(prefix):] if value.startswith(prefix) else value


def parse_created(value: Any, field: str) -> float:
    """Unix seconds from an int, a float, a numeric string or an ISO-8601 string.

    Millisecond epochs (some exports) are converted; naive ISO times are taken as UTC, which is
    what every format that writes them documents. Anything else raises RowError(bad_timestamp).
    """
    if is_blank(value):
        raise RowError(field, "missing_field", "no creation time", value)
    if isinstance(value, bool):
        raise RowError(field, "bad_timestamp", "boolean where a time was expected", value)
    seconds: float | None = None
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) < 1e300 else math.inf  # float(10**400) overflows
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                seconds = parse_utc(text, field).timestamp()
            except RowError:
                raise RowError(field, "bad_timestamp",
                               "expected Unix seconds or an ISO-8601 UTC time", value) from None
    else:
        raise RowError(field, "bad_timestamp", f"expected a time, got {type(value).__name__}", value)
    if math.isfinite(seconds) and seconds > MILLIS_THRESHOLD:
        seconds /= 1000.0
    if not (math.isfinite(seconds) and MIN_UTC <= seconds < MAX_UTC):
        raise RowError(field, "bad_timestamp", "time outside 2005..2100", value)
    return seconds


def parse_score(value: Any, field: str) -> int | None:
    """Score as int; None when absent. Non-numeric values raise RowError(bad_type)."""
    if is_blank(value):
        return None
    return to_int(value, field)


def parse_edited(value: Any) -> bool:
    """Reddit writes `edited` as false or the edit's Unix time (older dumps: true)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "none", "null")
    return bool(value)


def _too_long(field: str, value: str, length: int, limit: int) -> RowError:
    return RowError(field, "too_long", f"{length:,} characters (at most {limit:,})", value)


def require_text(value: Any, field: str, *, allow_empty: bool = False,
                 max_chars: int | None = MAX_FIELD_CHARS) -> str:
    """A string field: missing_field when absent/empty, bad_type when not a string, too_long
    past `max_chars` (None: no limit)."""
    if value is None or (not allow_empty and isinstance(value, str) and not value.strip()):
        raise RowError(field, "missing_field", "no value", value)
    if not isinstance(value, str):
        raise RowError(field, "bad_type", f"expected text, got {type(value).__name__}", value)
    if max_chars is not None and len(value) > max_chars:
        raise _too_long(field, value, len(value), max_chars)
    return value


def optional_text(value: Any, field: str) -> str | None:
    """A string field that may be absent: stripped text or None; non-strings raise bad_type,
    text over MAX_FIELD_CHARS too_long."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(field, "bad_type", f"expected text or null, got {type(value).__name__}", value)
    if len(value) > MAX_FIELD_CHARS:
        raise _too_long(field, value, len(value), MAX_FIELD_CHARS)
    return value.strip() or None


def comment_body(value: Any, field: str) -> str:
    """A comment's body: required text of at most MAX_BODY_CHARS as Reddit counts them."""
    body = require_text(value, field, max_chars=None)
    if len(body) > MAX_BODY_CHARS:
        typed = len(body) - 4 * body.count("&amp;") - 3 * (body.count("&lt;") + body.count("&gt;"))
        if typed > MAX_BODY_CHARS:
            raise _too_long(field, body, typed, MAX_BODY_CHARS)
    return body


def subreddit_name(text: str | None) -> str | None:
    """"r/nba", "/r/nba" and "nba" are the subreddit "nba"."""
    if not text:
        return None
    name = text.strip().removeprefix("/").removeprefix("r/").strip("/ ")
    return name or None


def reddit_comment(obj: Any) -> dict[str, Any]:
    """Comment dict from a Reddit comment object (Pushshift/Arctic Shift dump line or the `data`
    of a `t1` listing child). Raises RowError naming the first unusable field."""
    if not isinstance(obj, dict):
        raise RowError(None, "bad_type", f"expected a JSON object, got {type(obj).__name__}", obj)
    raw_id = obj.get("id")
    if is_blank(raw_id) and isinstance(obj.get("name"), str):
        raw_id = obj["name"]  # "t1_<id>" is the same id with its type prefix
    comment_id = strip_prefix(require_text(raw_id, "id").strip(), "t1_")
    link = optional_text(obj.get("link_id"), "link_id")
    parent = optional_text(obj.get("parent_id"), "parent_id")
    return {
        "comment_id": comment_id,
        "thread_id": strip_prefix(link, "t3_") if link else None,
        "parent_id": parent,
        "author": require_text(obj.get("author"), "author").strip(),
        "flair": optional_text(obj.get("author_flair_text"), "author_flair_text"),
        "body": comment_body(obj.get("body"), "body"),
        "created_utc": parse_created(obj.get("created_utc"), "created_utc"),
        "score": parse_score(obj.get("score"), "score"),
        "edited": parse_edited(obj.get("edited")),
        "subreddit": subreddit_name(optional_text(obj.get("subreddit"), "subreddit")),
    }


class CommentSink:
    """Collects one file's comments: keeps or rejects every row it is given, counting each once."""

    def __init__(self, source: str | Path, fmt: str, max_rows: int = ReadLimits.max_rows) -> None:
        self.source = str(source)
        self.result = CommentResult(format=fmt, comments=[])
        self._seen: dict[str, int | str] = {}
        self.max_rows = max_rows

    def count(self) -> None:
        """One more row read; InputTooLargeError past `max_rows`."""
        if self.result.read >= self.max_rows:
            raise InputTooLargeError(self.source, f"more than {self.max_rows:,} rows",
                                     "split the file, or raise the row limit")
        self.result.read += 1

    def reject(self, row: int | str, field: str | None, reason: str, detail: str = "",
               value: Any = None) -> None:
        self.count()
        self.result.rejections.record(self.source, row, field, reason, detail, value)

    def offer(self, row: int | str, parse: Callable[[], dict[str, Any]]) -> None:
        """Run `parse` for one raw row and keep its comment unless a rule rejects it."""
        try:
            comment = parse()
        except RowError as e:
            self.reject(row, e.field, e.reason, e.detail, e.value)
            return
        cid = comment["comment_id"]
        if cid in self._seen:
            # Dumps re-crawl threads; the first copy is kept so the result does not depend on
            # which later crawl a line came from.
            self.reject(row, "id", "duplicate_id", f"same id as row {self._seen[cid]}", cid)
            return
        self._seen[cid] = row
        if comment["body"].strip() in DELETED_BODIES:
            self.reject(row, "body", "deleted", "comment was deleted or removed", comment["body"])
        elif is_bot(comment["author"]):
            self.reject(row, "author", "bot", "automated account (see comment_rows.is_bot)",
                        comment["author"])
        else:
            self.count()
            self.result.comments.append(comment)

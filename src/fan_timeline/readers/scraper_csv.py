"""Reader for CSV exports of third-party Reddit scrapers.

Shape: a header row then one comment per row, columns `id, parentId, postId, body, createdAt,
upVotes, username, communityName, numberOfreplies, url` (any order; extra columns ignored).

Quirks handled here:
- Often starts with a UTF-8 byte-order mark (Excel-friendly exports): stripped.
- Header names are matched case-insensitively (`numberOfreplies` vs `numberOfReplies`).
- `createdAt` is ISO-8601 UTC ("2024-01-05T01:02:03.000Z"); epoch numbers are accepted too.
- Ids may or may not carry their type prefix: `id` "t1_abc" -> "abc"; a `parentId` without one
  gets "t3_" when it equals the post id and "t1_" otherwise.
- No flair column in this format: `flair` is always None, `edited` False unless an `edited`
  column exists.
- Bodies span several lines inside quotes; rows are reported by their first file line.
- Invalid UTF-8 inside a row rejects that row (bad_encoding); in the header it fails the file.
- Some exports mix posts and comments with a `dataType` column: non-"comment" rows are
  rejected (not_a_comment).
- Only the columns read here are looked at per row, and a header of more than
  `ReadLimits.max_columns` columns is refused: a short row under a million-column header costs
  what any row costs.
- A file line longer than MAX_LINE_BYTES stops the read with InputTooLargeError naming the file
  and the line, before the line is copied; a quoted field longer than MAX_FIELD_CHARS (over
  several lines) rejects its row (bad_csv_row). Lines are cut from the bytes and decoded one at a
  time, so reading costs a line on top of the file, not a decoded copy of it.
"""

from __future__ import annotations

import csv
import re
import reprlib
from collections.abc import Iterator
from typing import Any

from fan_timeline.readers.comment_rows import (
    CommentSink,
    comment_body,
    optional_text,
    parse_created,
    parse_edited,
    parse_score,
    require_text,
    strip_prefix,
    subreddit_name,
)
from fan_timeline.readers.common import RowError, is_blank
from fan_timeline.tables import CommentResult, InputTooLargeError, ReadLimits, UnreadableFileError

FORMAT = "scraper_csv"
REQUIRED_COLUMNS = ("id", "body", "createdat", "username")
USED_COLUMNS = (*REQUIRED_COLUMNS, "parentid", "postid", "upvotes", "edited", "communityname", "datatype")
# A row is ~10 fields, of which only the body is long: at most 10,000 characters as typed, which
# HTML entities ("&amp;" for "&") and CSV quote doubling can make ~100,000. A longer field is no
# comment. A line may be longer than a field so that a header of too many columns (a million short
# names: ~7 MB) is still reported by its column count (`ReadLimits.max_columns`).
MAX_FIELD_CHARS = 1 << 20
MAX_LINE_BYTES = 16 << 20
csv.field_size_limit(MAX_FIELD_CHARS)   # process-wide; the default (128 KiB) is close to a real body
_SURROGATE = re.compile("[\udc80-\udcff]")
BOM = b"\xef\xbb\xbf"
# Line ends as the csv module expects them split (io's newline=""): "\r\n", "\r" or "\n". UTF-8
# never has these bytes inside a character, so lines can be cut before decoding.
_LINE_END = re.compile(rb"\r\n?|\n")
_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c\x1c-\x1f]*")   # the ASCII that str.strip() removes


def _with_prefix(value: str | None, post_id: str | None) -> str | None:
    if value is None or value[:3] in ("t1_", "t3_"):
        return value
    return ("t3_" if value == post_id else "t1_") + value


def _lines(data: bytes, pos: int, source: str) -> Iterator[str]:
    """The lines of `data` from `pos`, decoded, with their line ends; each at most MAX_LINE_BYTES
    long (a longer one raises InputTooLargeError naming it, neither scanned past the limit nor copied).

    surrogateescape keeps undecodable bytes visible per field, so one bad row costs one row.
    """
    lineno = 1
    while pos < len(data):
        m = _LINE_END.search(data, pos, pos + MAX_LINE_BYTES + 2)
        end = m.start() if m else len(data)
        if end - pos > MAX_LINE_BYTES:
            raise InputTooLargeError(source, f"line {lineno:,} is longer than {MAX_LINE_BYTES:,} bytes",
                                     "a comment export's row is at most ~100 KB; is this a comment CSV?")
        stop = m.end() if m else len(data)
        yield data[pos:stop].decode("utf-8", "surrogateescape")
        pos, lineno = stop, lineno + 1


def _parse_row(row: dict[str, Any]) -> dict[str, Any]:
    """Comment dict from one CSV record keyed by lower-cased header names."""
    if None in row:
        raise RowError(None, "bad_csv_row", f"{len(row[None])} more field(s) than header columns", row[None])
    missing = [k for k in REQUIRED_COLUMNS if row.get(k) is None]
    if missing:
        raise RowError(missing[0], "missing_field", "row has fewer fields than the header")
    bad = next((k for k, v in row.items() if isinstance(v, str) and _SURROGATE.search(v)), None)
    if bad is not None:
        raise RowError(bad, "bad_encoding", "invalid UTF-8 bytes in this field",
                       row[bad].encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    data_type = (row.get("datatype") or "comment").strip().lower()
    if data_type != "comment":
        raise RowError("dataType", "not_a_comment", f"row is a {data_type!r}, not a comment", data_type)
    post = optional_text(row.get("postid"), "postId")
    post = strip_prefix(post, "t3_") if post else None
    return {
        "comment_id": strip_prefix(require_text(row["id"], "id").strip(), "t1_"),
        "thread_id": post,
        "parent_id": _with_prefix(optional_text(row.get("parentid"), "parentId"), post),
        "author": require_text(row["username"], "username").strip(),
        "flair": None,
        "body": comment_body(row["body"], "body"),
        "created_utc": parse_created(row["createdat"], "createdAt"),
        "score": parse_score(row.get("upvotes"), "upVotes"),
        "edited": False if is_blank(row.get("edited")) else parse_edited(row["edited"]),
        "subreddit": subreddit_name(optional_text(row.get("communityname"), "communityName")),
    }


def read(data: bytes, source: str, limits: ReadLimits = ReadLimits()) -> CommentResult:
    """Comments of one scraper CSV file; rows are 1-based file line numbers."""
    if not data or not data.strip():
        raise UnreadableFileError(source, "file is empty", "re-export or re-download it")
    start = len(BOM) if data.startswith(BOM) else 0
    if _BLANK.fullmatch(data, start):  # a byte-order mark and nothing else
        raise UnreadableFileError(source, "file is empty", "re-export or re-download it")
    reader = csv.reader(_lines(data, start, source))
    try:
        header = next(reader)
    except csv.Error as e:
        raise UnreadableFileError(source, f"unreadable CSV header ({e})",
                                  "expected a comma-separated header row") from None
    if any(_SURROGATE.search(h) for h in header):
        raise UnreadableFileError(source, "header row is not valid UTF-8", "re-save the file as UTF-8")
    if len(header) > limits.max_columns:
        raise InputTooLargeError(source, f"CSV header has {len(header):,} columns (at most {limits.max_columns:,})",
                                 "a comment export has a few dozen columns; check the file")
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise UnreadableFileError(
            source, f"CSV header lacks column(s) {missing} (has {reprlib.repr(header)})",
            "expected a scraper export with id, parentId, postId, body, createdAt, upVotes, username, ...")
    used = {name: i for i, name in enumerate(names) if name in USED_COLUMNS}   # a repeated name: its last column
    sink = CommentSink(source, FORMAT, limits.max_rows)
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            sink.reject(line, None, "bad_csv_row", str(e))
            if reader.line_num < line:  # the reader could not advance: stop rather than spin
                break
            continue
        if not any(v.strip() for v in values):
            continue  # blank line, e.g. a trailing newline
        row: dict[Any, Any] = {name: values[i] if i < len(values) else None for name, i in used.items()}
        if len(values) > len(names):
            row[None] = values[len(names):]
        sink.offer(line, lambda row=row: _parse_row(row))
    return sink.result

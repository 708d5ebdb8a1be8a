"""Comment files in any supported format: detect the format from the bytes and read it.

Detection looks at content, not file names (exports get renamed):
- zstd magic, or a first non-blank line that is a JSON object -> reddit_ndjson
- a JSON array (the API's `[post_listing, comment_listing]`) -> reddit_listing
- anything else whose first line is a CSV header naming `id` and `body` -> scraper_csv
"""

from __future__ import annotations

from fan_timeline.readers import reddit_listing, reddit_ndjson, scraper_csv
from fan_timeline.tables import COMMENT_FORMATS, CommentResult, InputTooLargeError, ReadLimits, UnreadableFileError

READERS = {
    "reddit_ndjson": reddit_ndjson.read,
    "reddit_listing": reddit_listing.read,
    "scraper_csv": scraper_csv.read,
}
assert tuple(READERS) == COMMENT_FORMATS


def detect_comment_format(data: bytes, source: str) -> str:
    """One of COMMENT_FORMATS for these bytes; UnreadableFileError when none fits."""
    if data.startswith(reddit_ndjson.ZSTD_MAGIC):
        return "reddit_ndjson"
    head = data[:65536].removeprefix(b"\xef\xbb\xbf").lstrip()
    if not head:
        raise UnreadableFileError(source, "file is empty", "re-export or re-download it")
    if head.startswith(b"{"):
        return "reddit_ndjson"
    if head.startswith(b"["):
        return "reddit_listing"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    columns = {c.strip().strip('"') for c in first.split(",")}
    if {"id", "body"} <= columns:
        return "scraper_csv"
    raise UnreadableFileError(
        source, "unknown comment format",
        f"expected Reddit NDJSON (optionally .zst), a Reddit API thread listing, or a scraper CSV "
        f"with id,body,createdAt,username columns; the file starts with {head[:40]!r}")


def read_comments(data: bytes, source: str, fmt: str | None = None,
                  limits: ReadLimits = ReadLimits()) -> CommentResult:
    """Read one comment file; `fmt` forces a format (one of COMMENT_FORMATS) instead of detecting.
    Past `limits` (bytes, after decompression; rows; CSV columns) it stops with InputTooLargeError."""
    if len(data) > limits.max_bytes:
        raise InputTooLargeError(source, f"{len(data):,} bytes (at most {limits.max_bytes:,})",
                                 "a comment thread is tens of MB; split the file, or raise the limit")
    if fmt is None:
        fmt = detect_comment_format(data, source)
    elif fmt not in READERS:
        raise ValueError(f"unknown comment format {fmt!r}; expected one of {COMMENT_FORMATS}")
    return READERS[fmt](data, source, limits)

"""Reader for Reddit comment dumps: one JSON comment object per line (Pushshift / Arctic Shift).

Shape: each non-blank line is `{"id", "name": "t1_<id>", "link_id": "t3_<thread>", "parent_id",
"body", "author", "author_flair_text", "created_utc", "score", "edited", ...}`.

Quirks handled here:
- Monthly dumps are zstd-compressed with a long window (up to 2 GiB): bytes starting with the zstd
  magic are decompressed as a stream, across concatenated frames, with a large `max_window_size`,
  a bounded piece at a time: a few KB that expand to GBs (a decompression bomb) stop at
  `ReadLimits.max_bytes` with InputTooLargeError, never in memory. A truncated or corrupt
  stream is a whole-file error (the dump was cut off: fetch it again).
- A line longer than MAX_LINE_BYTES stops the read at once with InputTooLargeError naming the
  file and the line, as soon as that much of it has come and before the rest is decompressed:
  a few KB of zstd that expand to one endless line cost a piece and a line, not the whole line
  and not a re-scan of it per piece.
- Lines are decoded one by one, so one line with invalid UTF-8 or a lone-surrogate escape
  (bad_encoding), or cut-off, too deeply nested JSON (bad_json) costs only that row.
- `created_utc` is an int in old dumps, a float or a numeric string in newer ones.
- `edited` is false or the edit's Unix time.
- `id` may be missing where `name` ("t1_<id>") is present.
- Re-crawled dumps repeat comments: the first copy of an id is kept (duplicate_id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import zstandard

from fan_timeline.readers.comment_rows import CommentSink, reddit_comment
from fan_timeline.readers.common import JsonTextError, parse_json_text
from fan_timeline.tables import CommentResult, InputTooLargeError, ReadLimits, UnreadableFileError

FORMAT = "reddit_ndjson"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Pushshift/Arctic Shift dumps are written with --long=31: a 2 GiB window.
ZSTD_MAX_WINDOW = 2**31
_IN_CHUNK = 1 << 10
_OUT_PIECE = 1 << 20
# One JSON comment record is at most ~250 KB: a body of at most 10,000 characters (Reddit's limit)
# is at most 120 KB even when every character is written as a \uXXXX surrogate pair, and the
# metadata (all_awardings lists an award's every icon) adds up to ~100 KB. A longer line is not a
# comment; 1 MiB leaves four times the room and still stops an endless line after a megabyte.
MAX_LINE_BYTES = 1 << 20


def _zstd_chunks(data: bytes, source: str, max_bytes: int) -> Iterator[bytes]:
    """Decompressed bytes of every concatenated zstd frame, at most `max_bytes` in all;
    UnreadableFileError on bad input, InputTooLargeError past the limit.

    The input goes in _IN_CHUNK bytes at a time: zstd expands a byte to at most ~32 KB (an RLE
    block), so one call returns at most ~32 MB however the file was made.
    """
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    pos = total = 0
    while pos < len(data):
        obj = dctx.decompressobj()
        while not obj.eof:
            if pos >= len(data):
                raise UnreadableFileError(source, "zstd stream ends mid-frame: the file is truncated",
                                          "the download or copy was cut off; fetch the file again")
            chunk = data[pos:pos + _IN_CHUNK]
            pos += len(chunk)
            try:
                out = obj.decompress(chunk)
            except zstandard.ZstdError as e:
                raise UnreadableFileError(source, f"corrupt zstd data ({e})",
                                          "check the file with `zstd -t`; fetch it again") from None
            total += len(out)
            if total > max_bytes:
                raise InputTooLargeError(source, f"decompresses to more than {max_bytes:,} bytes",
                                         "a comment thread is tens of MB; split the dump, or raise the limit")
            for i in range(0, len(out), _OUT_PIECE):   # lines are split a bounded piece at a time
                yield out[i:i + _OUT_PIECE]
        # What the finished frame did not use belongs to the next frame.
        pos -= len(obj.unused_data)


def _line_too_long(source: str, lineno: int) -> InputTooLargeError:
    return InputTooLargeError(source, f"line {lineno:,} is longer than {MAX_LINE_BYTES:,} bytes",
                              "one comment is one line of at most ~250 KB; is this NDJSON?")


def _lines(data: bytes, source: str, max_bytes: int) -> Iterator[bytes]:
    """Raw lines (without the newline) of plain or zstd-compressed NDJSON, each at most
    MAX_LINE_BYTES long: InputTooLargeError at the first longer one, before reading past its cap."""
    lineno = 1
    if not data.startswith(ZSTD_MAGIC):
        pos = 0
        while pos <= len(data):
            end = data.find(b"\n", pos, pos + MAX_LINE_BYTES + 1)   # never scans past the cap
            if end < 0:
                if len(data) - pos > MAX_LINE_BYTES:
                    raise _line_too_long(source, lineno)
                end = len(data)
            yield data[pos:end]
            pos, lineno = end + 1, lineno + 1
        return
    # The unfinished line is kept as the list of its pieces: each byte is scanned for a newline once
    # and copied once more when its line is complete.
    pending: list[bytes] = []
    pending_len = 0
    for chunk in _zstd_chunks(data, source, max_bytes):
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            if pending_len + len(part) > MAX_LINE_BYTES:
                raise _line_too_long(source, lineno)
            if pending:
                pending.append(part)
                part = b"".join(pending)
                pending, pending_len = [], 0
            yield part
            lineno += 1
        pending.append(parts[-1])
        pending_len += len(parts[-1])
        if pending_len > MAX_LINE_BYTES:
            raise _line_too_long(source, lineno)
    yield b"".join(pending)


def read(data: bytes, source: str, limits: ReadLimits = ReadLimits()) -> CommentResult:
    """Comments of one NDJSON (optionally zstd) file; rows are 1-based line numbers."""
    if not data or not data.strip():
        raise UnreadableFileError(source, "file is empty", "re-export or re-download it")
    sink = CommentSink(source, FORMAT, limits.max_rows)
    parsed_any = False
    for lineno, raw in enumerate(_lines(data, source, limits.max_bytes), start=1):
        if lineno > limits.max_rows:   # blank lines count too: a file of newlines is no thread
            raise InputTooLargeError(source, f"more than {limits.max_rows:,} lines",
                                     "split the file, or raise the row limit")
        raw = raw.strip()
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            sink.reject(lineno, None, "bad_encoding",
                        f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                        raw.decode("utf-8", "replace"))
            continue
        try:
            obj = parse_json_text(text)
        except json.JSONDecodeError as e:
            sink.reject(lineno, None, "bad_json", f"{e.msg} at column {e.colno}", text)
            continue
        except JsonTextError as e:  # too deep, a huge number, a lone surrogate escape
            sink.reject(lineno, None, e.reason, e.problem, text)
            continue
        parsed_any = True
        sink.offer(lineno, lambda obj=obj: reddit_comment(obj))
    if sink.result.read == 0:
        raise UnreadableFileError(source, "no comment lines in the file", "re-export or re-download it")
    if not parsed_any:
        raise UnreadableFileError(source, "no line is valid JSON",
                                  "expected one JSON comment object per line (NDJSON)")
    return sink.result


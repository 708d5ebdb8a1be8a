"""Comment readers on lines and fields too long to be a comment.

Proves: an NDJSON line (plain or zstd) longer than MAX_LINE_BYTES refuses the file with
InputTooLargeError naming the file and the line, before the rest of the line is read (it stops
below a byte limit the whole line would cross), while a line of exactly the cap is read; a body
longer than Reddit's 10,000 characters (HTML entities counting as the one character typed) or an
over-long short field rejects its row as too_long, counted (read == kept + rejected) in every
format; a CSV line over MAX_LINE_BYTES refuses the file naming the line, a field over the csv
field limit costs its row, and CR-only line ends still split rows. How fast and how little memory
the refusals take is measured in benchmarks/reader_bombs.py, not here.
Run: pytest tests/readers/test_comment_limits.py  (no network, a few seconds)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from fan_timeline.readers import reddit_listing, reddit_ndjson, scraper_csv
from fan_timeline.readers.comment_rows import MAX_BODY_CHARS, MAX_FIELD_CHARS
from fan_timeline.readers.comments import read_comments
from fan_timeline.tables import CommentResult, InputTooLargeError, ReadLimits

DATA = Path(__file__).resolve().parents[1] / "data" / "comments"
CAP = reddit_ndjson.MAX_LINE_BYTES


def line(cid: str, body: str = "hi", **extra: object) -> bytes:
    obj = {"id": cid, "author": "fan", "body": body, "created_utc": 1700000000, **extra}
    return json.dumps(obj).encode()


def padded(cid: str, size: int) -> bytes:
    """A valid comment line of exactly `size` bytes (spaces before the closing brace)."""
    head = line(cid)[:-1]
    return head + b" " * (size - len(head) - 1) + b"}"


def zst(*pieces: bytes) -> bytes:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(cobj.compress(p) for p in pieces) + cobj.flush()


def accounted(res: CommentResult) -> dict:
    assert res.read == len(res.comments) + len(res.rejections)
    return {r["row"]: (r["field"], r["reason"]) for r in res.rejections.items}


# --- NDJSON lines ---
def test_an_endless_zstd_line_is_refused_at_the_cap_naming_file_and_line() -> None:
    good = line("a") + b"\n" + line("b") + b"\n"
    endless = (b"x" * (1 << 20) for _ in range(64))           # 64 MiB, no newline
    bomb = zst(good, b'{"id": "c", "body": "', *endless)
    assert len(bomb) < 64 << 10
    with pytest.raises(InputTooLargeError) as err:
        # Reading the whole line would cross the 48 MiB byte limit (one decompression call gives
        # at most ~32 MB): refused by its length, so the reader stopped near the cap, not at the end.
        read_comments(bomb, "dumps/RC_2024-01.zst", limits=ReadLimits(max_bytes=48 << 20))
    assert str(err.value).startswith("dumps/RC_2024-01.zst: line 3 is longer than 1,048,576 bytes")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zstd"])
def test_a_line_of_exactly_the_cap_is_read_one_byte_more_is_refused(compress: bool) -> None:
    def data(size: int) -> bytes:
        raw = line("a") + b"\n" + padded("b", size) + b"\n" + line("c") + b"\n"
        return zst(raw) if compress else raw

    res = reddit_ndjson.read(data(CAP), "at_cap.ndjson")
    assert [c["comment_id"] for c in res.comments] == ["a", "b", "c"]
    with pytest.raises(InputTooLargeError, match=r"^over_cap.ndjson: line 2 is longer than"):
        reddit_ndjson.read(data(CAP + 1), "over_cap.ndjson")


def test_the_last_line_without_a_newline_is_checked_too() -> None:
    with pytest.raises(InputTooLargeError, match="line 2 is longer"):
        reddit_ndjson.read(line("a") + b"\n" + padded("b", CAP + 1), "f.ndjson")
    res = reddit_ndjson.read(line("a") + b"\n" + padded("b", CAP), "f.ndjson")
    assert [c["comment_id"] for c in res.comments] == ["a", "b"]


def test_lines_split_across_zstd_pieces_and_frames_read_as_before() -> None:
    lines = [line(f"c{i}", "y" * (1 + i * 997 % 9000)) for i in range(600)]   # ~2.7 MB: several 1 MiB pieces
    raw = b"\n".join(lines) + b"\n"
    framed = zst(raw[:1_500_001]) + zst(raw[1_500_001:])                   # a frame ends mid-line
    plain = reddit_ndjson.read(raw, "f.ndjson")
    assert len(plain.comments) == 600 and plain.rejections.items == []
    assert reddit_ndjson.read(framed, "f.ndjson.zst").comments == plain.comments


# --- long fields ---
def test_a_body_longer_than_reddit_allows_rejects_its_row() -> None:
    entities = "x" * (MAX_BODY_CHARS - 9) + "&gt;&amp;&lt;"    # 10,004 characters written, 9,994 typed
    rows = [line("ok", "x" * MAX_BODY_CHARS), line("long", "x" * (MAX_BODY_CHARS + 1)),
            line("quoted", entities), line("after")]
    res = reddit_ndjson.read(b"\n".join(rows), "thread.ndjson")
    assert accounted(res) == {2: ("body", "too_long")}
    assert [c["comment_id"] for c in res.comments] == ["ok", "quoted", "after"]
    assert res.rejections.items[0]["detail"] == "10,001 characters (at most 10,000)"
    assert len(res.rejections.items[0]["value"]) <= 200       # rejected.jsonl keeps only the start


def test_an_overlong_short_field_rejects_its_row() -> None:
    rows = [line("a", author="x" * (MAX_FIELD_CHARS + 1)), line("b", author_flair_text="f" * 5000),
            line("c", author="x" * MAX_FIELD_CHARS)]
    res = reddit_ndjson.read(b"\n".join(rows), "thread.ndjson")
    assert accounted(res) == {1: ("author", "too_long"), 2: ("author_flair_text", "too_long")}
    assert [c["comment_id"] for c in res.comments] == ["c"]


def test_long_bodies_in_a_listing_and_a_csv_are_rejected_the_same_way() -> None:
    doc = json.loads((DATA / "thread_listing.json").read_bytes())
    first = doc[1]["data"]["children"][0]["data"]
    first["body"] = "b" * (MAX_BODY_CHARS + 1)
    clean = reddit_listing.read((DATA / "thread_listing.json").read_bytes(), "t.json")
    res = reddit_listing.read(json.dumps(doc).encode(), "t.json")
    assert accounted(res)["0"] == ("body", "too_long")
    assert len(res.comments) == len(clean.comments) - 1

    csv_rows = ("id,body,createdAt,username\n"
                f"a,{'b' * MAX_BODY_CHARS},2024-01-05T01:02:03Z,u\n"
                f"b,{'b' * (MAX_BODY_CHARS + 1)},2024-01-05T01:02:03Z,u\n"
                "c,fine,2024-01-05T01:02:03Z,u\n").encode()
    res = scraper_csv.read(csv_rows, "t.csv")
    assert accounted(res) == {3: ("body", "too_long")}
    assert [c["comment_id"] for c in res.comments] == ["a", "c"]


# --- CSV lines and fields ---
HEADER = "id,body,createdAt,username\n"


def test_an_endless_csv_line_is_refused_naming_file_and_line() -> None:
    data = (HEADER + "a,hi,2024-01-05T01:02:03Z,u\n" + "b," + "x" * (scraper_csv.MAX_LINE_BYTES + 1)).encode()
    with pytest.raises(InputTooLargeError, match=r"^exports/t.csv: line 3 is longer than 16,777,216 bytes"):
        scraper_csv.read(data, "exports/t.csv")


def test_a_csv_field_over_the_field_limit_costs_its_row() -> None:
    data = (HEADER + f"a,{'x' * (scraper_csv.MAX_FIELD_CHARS + 1)},2024-01-05T01:02:03Z,u\n"
            "b,fine,2024-01-05T01:02:03Z,u\n").encode()
    res = scraper_csv.read(data, "t.csv")
    assert accounted(res) == {2: (None, "bad_csv_row")}
    assert "field limit" in res.rejections.items[0]["detail"]
    assert [c["comment_id"] for c in res.comments] == ["b"]


def test_csv_line_ends_of_every_kind_give_the_same_rows() -> None:
    rows = [HEADER, 'a,"two\nlines",2024-01-05T01:02:03Z,u\n', "b,hi,2024-01-05T01:02:03Z,u\n"]
    unix = "".join(rows)
    results = [scraper_csv.read(unix.replace("\n", end).encode(), "t.csv") for end in ("\n", "\r\n", "\r")]
    assert [c["comment_id"] for c in results[0].comments] == ["a", "b"]
    assert results[0].comments[0]["body"] == "two\nlines"
    assert results[1].comments[0]["body"] == "two\r\nlines" and results[2].comments[0]["body"] == "two\rlines"
    assert [[c["comment_id"] for c in r.comments] for r in results] == [["a", "b"]] * 3
    assert [accounted(r) for r in results] == [{}] * 3

"""Comment readers on tiny hand-made files in the three real formats, and on broken inputs.

Proves: concrete fields come out normalised (ids without t1_/t3_, parent with its prefix, float
Unix created_utc from int/float/string/ISO, flair, edited); every row is kept or rejected with
the documented reason (bad_json, bad_encoding, missing_field, bad_type, bad_timestamp, deleted,
bot, duplicate_id, collapsed_more_stub), so read == kept + rejected; long-window and
multi-frame zstd dumps are read; whole-file problems raise UnreadableFileError; random bytes
never raise anything else.
Run: pytest tests/readers/test_comment_readers.py  (no network, ~2 s)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fan_timeline.readers import reddit_listing, reddit_ndjson, scraper_csv
from fan_timeline.readers.comment_rows import is_bot
from fan_timeline.readers.comments import detect_comment_format, read_comments
from fan_timeline.tables import CommentResult, InputTooLargeError, ReadLimits, UnreadableFileError

DATA = Path(__file__).resolve().parents[1] / "data" / "comments"
NDJSON = (DATA / "thread.ndjson").read_bytes()
LISTING = (DATA / "thread_listing.json").read_bytes()
CSV = (DATA / "scraper.csv").read_bytes()
T = 1700000000.0  # 2023-11-14T22:13:20Z, the fixtures' reference time
KEYS = {"comment_id", "thread_id", "parent_id", "author", "flair", "body", "created_utc", "score", "edited",
        "subreddit"}


def check_accounting(res: CommentResult) -> None:
    assert res.read == len(res.comments) + len(res.rejections)
    for c in res.comments:
        assert set(c) == KEYS
        assert isinstance(c["created_utc"], float)


def by_id(res: CommentResult) -> dict[str, dict]:
    return {c["comment_id"]: c for c in res.comments}


def reasons_by_row(res: CommentResult) -> dict:
    return {r["row"]: r["reason"] for r in res.rejections.items}


# --- NDJSON ----------------------------------------------------------------------------------------
def test_ndjson_fields_and_rejections():
    res = reddit_ndjson.read(NDJSON, "thread.ndjson")
    check_accounting(res)
    assert res.format == "reddit_ndjson"
    assert res.read == 13  # 14 lines, one blank
    assert [c["comment_id"] for c in res.comments] == ["c1", "c2", "c3", "c11"]
    c = by_id(res)
    assert c["c1"] == {"comment_id": "c1", "thread_id": "th1", "parent_id": "t3_th1", "author": "HeronsFan",
                       "flair": "Harbor Herons", "body": "LETS GO HERONS", "created_utc": T + 445,
                       "score": 12, "edited": False, "subreddit": "nba"}
    # string created_utc and score, edited given as a timestamp
    assert (c["c2"]["created_utc"], c["c2"]["score"], c["c2"]["edited"], c["c2"]["parent_id"]) == \
        (T + 460, 3, True, "t1_c1")
    assert c["c3"]["created_utc"] == T + 470.5 and c["c3"]["score"] is None
    assert c["c11"]["created_utc"] == 1700000400.0  # "2023-11-14T22:20:00Z"
    assert reasons_by_row(res) == {4: "bad_json", 5: "deleted", 6: "bot", 7: "bot", 8: "duplicate_id",
                                   9: "missing_field", 10: "bad_type", 11: "bad_timestamp", 14: "bad_type"}
    fields = {r["row"]: r["field"] for r in res.rejections.items}
    assert fields[9] == "body" and fields[10] == "score" and fields[11] == "created_utc"
    assert all(r["file"] == "thread.ndjson" for r in res.rejections.items)


def test_ndjson_bad_utf8_line_costs_one_row():
    data = NDJSON + b'{"id": "c12", "author": "x", "body": "caf\xe9", "created_utc": 1700000000}\n' + \
        b'{"id": "c13", "author": "x", "body": "fine", "created_utc": 1700000000}\n'
    res = reddit_ndjson.read(data, "f.ndjson")
    check_accounting(res)
    assert reasons_by_row(res)[15] == "bad_encoding"
    assert "c13" in by_id(res) and "c12" not in by_id(res)


def test_ndjson_zstd_long_window_and_multiple_frames():
    # A 256 MiB window, as `zstd --long=28` writes; zstd's default decoder limit is 128 MiB.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=28, enable_ldm=True)
    cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()
    frame1 = cobj.compress(NDJSON) + cobj.flush()
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().decompress(frame1, max_output_size=1 << 20)
    frame2 = zstandard.ZstdCompressor().compress(
        b'{"id": "z1", "author": "late", "body": "second frame", "created_utc": 1700000999}\n')
    res = read_comments(frame1 + frame2, "dump.ndjson.zst")
    check_accounting(res)
    plain = reddit_ndjson.read(NDJSON, "x")
    assert [c["comment_id"] for c in res.comments] == [c["comment_id"] for c in plain.comments] + ["z1"]
    assert res.rejections.by_reason() == plain.rejections.by_reason()


def test_ndjson_zstd_truncated_or_corrupt_is_unreadable():
    z = zstandard.ZstdCompressor().compress(NDJSON * 20)
    with pytest.raises(UnreadableFileError, match="truncated"):
        reddit_ndjson.read(z[: len(z) // 2], "cut.zst")
    with pytest.raises(UnreadableFileError, match="zstd"):
        reddit_ndjson.read(reddit_ndjson.ZSTD_MAGIC + b"\x00" * 40, "bad.zst")


def test_a_decompression_bomb_stops_at_the_byte_limit_not_in_memory():
    import resource
    import time

    line = NDJSON.split(b"\n")[0] + b"\n"
    cobj = zstandard.ZstdCompressor(level=19).compressobj()
    bomb = b"".join(cobj.compress(b"\n" * (16 << 20)) for _ in range(40)) + cobj.compress(line) + cobj.flush()
    assert len(bomb) < 64 << 10                   # 640 MiB of newlines and one comment, in under 64 KB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="more than 8,388,608 bytes"):
        read_comments(bomb, "bomb.ndjson.zst", limits=ReadLimits(max_bytes=8 << 20, max_rows=10**9))
    with pytest.raises(InputTooLargeError, match="more than 1,000 lines"):
        read_comments(bomb, "bomb.ndjson.zst", limits=ReadLimits(max_rows=1000))
    assert time.perf_counter() - t0 < 30         # the work is bounded by the limits, not by the file
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, grown_mb              # the old reader held the whole frame: ~11 GB per GB
    # a file within the limits reads as before
    assert read_comments(zstandard.ZstdCompressor().compress(NDJSON), "ok.zst", limits=ReadLimits(max_bytes=1 << 20)
                         ).comments == reddit_ndjson.read(NDJSON, "ok").comments


def test_a_million_column_csv_is_refused_and_short_rows_stay_cheap():
    import time

    wide = ("id,body,createdAt,username," + ",".join(f"c{i}" for i in range(10**6)) + "\n").encode()
    with pytest.raises(InputTooLargeError, match="1,000,004 columns"):
        read_comments(wide + b"a,b,2024-01-05T01:02:03Z,u\n", "wide.csv")
    # under the column limit, a short row costs what any row costs (not one step per header column)
    header = ("id,body,createdAt,username," + ",".join(f"c{i}" for i in range(990)) + "\n").encode()
    rows = b"".join(f"r{k},hi,2024-01-05T01:02:03Z,u\n".encode() for k in range(20_000))
    t0 = time.perf_counter()
    res = read_comments(header + rows, "ok.csv")
    assert len(res.comments) == 20_000 and time.perf_counter() - t0 < 5
    with pytest.raises(InputTooLargeError, match="more than 100 rows"):
        read_comments(header + rows, "ok.csv", limits=ReadLimits(max_rows=100))
    with pytest.raises(InputTooLargeError, match="bytes"):
        read_comments(header + rows, "ok.csv", limits=ReadLimits(max_bytes=1000))


@pytest.mark.parametrize("data", [b"", b"  \n\n", b"not json at all\n{broken"])
def test_ndjson_whole_file_problems(data):
    with pytest.raises(UnreadableFileError):
        reddit_ndjson.read(data, "f.ndjson")


# --- listing ---------------------------------------------------------------------------------------
def test_listing_walks_replies_and_accounts_more_stubs():
    res = reddit_listing.read(LISTING, "thread.json")
    check_accounting(res)
    assert res.read == 7
    assert [c["comment_id"] for c in res.comments] == ["l1", "l2", "l4"]
    c = by_id(res)
    assert c["l1"]["flair"] == "HAR" and c["l1"]["created_utc"] == T + 480
    assert c["l2"]["parent_id"] == "t1_l1"
    assert c["l4"]["parent_id"] == "t1_l3"          # reply to a deleted comment is kept
    assert c["l4"]["thread_id"] == "th1"            # link_id missing: taken from the post
    assert reasons_by_row(res) == {"0/1": "collapsed_more_stub", "1": "deleted", "2": "missing_field",
                                   "3": "collapsed_more_stub"}
    stubs = [r for r in res.rejections.items if r["reason"] == "collapsed_more_stub"]
    assert stubs[0]["detail"].startswith("5 comment(s)") and stubs[1]["detail"].startswith("12 comment(s)")


def test_listing_deep_nesting_keeps_parent_chain():
    node: object = ""
    for i in reversed(range(150)):  # Reddit stops at ~10 levels; json itself limits depth
        node = {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": {
            "id": f"d{i}", "parent_id": f"t1_d{i - 1}" if i else "t3_th", "author": "a", "body": "b",
            "created_utc": T, "replies": node}}]}}
    doc = [{"kind": "Listing", "data": {"children": []}}, node]
    res = reddit_listing.read(json.dumps(doc).encode(), "deep.json")
    assert [c["comment_id"] for c in res.comments] == [f"d{i}" for i in range(150)]
    assert res.comments[-1]["parent_id"] == "t1_d148"


@pytest.mark.parametrize("data", [b"", b"{}", b"[1, 2]", b'[{"kind": "Listing"}, {}]', b"[{", b"\xff\xfe["])
def test_listing_whole_file_problems(data):
    with pytest.raises(UnreadableFileError):
        reddit_listing.read(data, "thread.json")


def test_listing_bad_replies_and_kinds_are_rows():
    doc = json.loads(LISTING)
    top = doc[1]["data"]["children"]
    top[0]["data"]["replies"] = 42
    top.append({"kind": "t3", "data": {}})
    res = reddit_listing.read(json.dumps(doc).encode(), "t.json")
    check_accounting(res)
    assert reasons_by_row(res)["0/replies"] == "bad_type"
    assert reasons_by_row(res)["4"] == "bad_type"


# --- CSV -------------------------------------------------------------------------------------------
def test_csv_bom_column_order_and_multiline_body():
    assert CSV.startswith(b"\xef\xbb\xbf")
    res = scraper_csv.read(CSV, "export.csv")
    check_accounting(res)
    assert res.read == 5
    c = by_id(res)
    assert c["s1"] == {"comment_id": "s1", "thread_id": "th1", "parent_id": "t3_th1", "author": "HeronsFan",
                       "flair": None, "body": 'first! "quoted"\nsecond line', "created_utc": T + 445,
                       "score": 7, "edited": False, "subreddit": "nba"}   # communityName "r/nba"
    assert c["s2"]["parent_id"] == "t1_s1" and c["s2"]["score"] is None  # prefix added, empty upVotes
    assert reasons_by_row(res) == {5: "bad_timestamp", 6: "bot", 7: "bad_type"}  # 1-based file lines


def test_csv_row_problems_are_rejections():
    data = CSV + "bad bytes,s6,2023-11-14T22:21:00Z,z\r\n".encode().replace(b"bad", b"b\xffd") + \
        b"short,s7\r\n" + b"x,s8,2023-11-14T22:21:00Z,w,,th1,1,r/nba,0,,EXTRA\r\n"
    res = scraper_csv.read(data, "e.csv")
    check_accounting(res)
    assert reasons_by_row(res)[8] == "bad_encoding"
    assert reasons_by_row(res)[9] == "missing_field"
    assert reasons_by_row(res)[10] == "bad_csv_row"


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"\xef\xbb\xbfid,b\xffody,createdAt,username\n1,2,3,4\n", "UTF-8"),
    (b"id,text,createdAt\n1,2,3\n", "lacks column"),
])
def test_csv_whole_file_problems(data, match):
    with pytest.raises(UnreadableFileError, match=match):
        scraper_csv.read(data, "e.csv")


# --- detection and fuzzing -------------------------------------------------------------------------
def test_detect_and_dispatch():
    assert detect_comment_format(NDJSON, "a") == "reddit_ndjson"
    assert detect_comment_format(zstandard.ZstdCompressor().compress(NDJSON), "a") == "reddit_ndjson"
    assert detect_comment_format(LISTING, "a") == "reddit_listing"
    assert detect_comment_format(CSV, "a") == "scraper_csv"
    assert read_comments(CSV, "a").format == "scraper_csv"
    with pytest.raises(UnreadableFileError, match="unknown comment format"):
        detect_comment_format(b"hello world\n", "a")
    with pytest.raises(ValueError, match="unknown comment format"):
        read_comments(CSV, "a", fmt="xml")


def test_bot_rule():
    assert is_bot("AutoModerator") and is_bot("RemindMeBot") and is_bot("nba-bot") and is_bot("stats_BOT")
    assert not is_bot("HeronsFan") and not is_bot("bottle_fan")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([NDJSON, LISTING, CSV]), st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=3)),
                                                          max_size=4))
def test_corrupted_files_fail_cleanly(base, edits):
    data = bytearray(base)
    for pos, blob in edits:
        pos %= len(data) + 1
        data[pos:pos + len(blob)] = blob
    try:
        res = read_comments(bytes(data), "fuzz")
    except UnreadableFileError:
        return
    check_accounting(res)

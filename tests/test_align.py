"""Comment alignment: wall clock -> game clock for every wall-clock source a format offers.

Proves: per-play UTC anchors interpolate the game clock (and hold it during dead balls); V2
minute stamps become UTC with the game's date and zone, DST and midnight included, spread evenly
inside each minute; V3 period anchors fill missing period ends with the typical break; a bare
tip-off drives the interpolated model; comments outside the game window, duplicate ids across
files and double posts are rejected with reasons; rows have exactly COMMENT_COLUMNS with
pseudonymous authors and resolved flair; missing game.json fields give errors that name them.
Run: pytest tests/test_align.py  (no network, < 2 s)
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest

from fan_timeline import align
from fan_timeline.align import align_game, build_alignment, estimated_play_walls
from fan_timeline.authors import flair_team, pseudonymise, subreddit_team
from fan_timeline.sport import game_seconds
from fan_timeline.tables import COMMENT_COLUMNS, PbpResult

TEAMS = {"home": {"team": "HAR", "name": "Harbor Herons", "aliases": ["Birds"]},
         "away": {"team": "BAY", "name": "Bay Gulls", "aliases": []}}


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def play(seq: int, period: int, clock_s: float, wall: str | None = None) -> dict:
    return {"game_id": "G", "seq": seq, "period": period, "clock_s": clock_s,
            "game_s": game_seconds(period, clock_s), "wall_utc": wall}


def comment(cid: str, at: str, body: str = "wow", author: str = "fan", flair: str | None = None,
            fmt: str = "reddit_ndjson") -> dict:
    return {"comment_id": cid, "thread_id": "th", "parent_id": "t3_th", "author": author, "flair": flair,
            "body": body, "created_utc": ts(at), "score": 1, "edited": False,
            "_source_format": fmt, "_source_file": f"comments/{fmt}"}


PER_PLAY = PbpResult("cdn_live", "G", [
    play(0, 1, 720.0, "2024-01-05T00:58:30Z"),    # tip-off
    play(1, 1, 660.0, "2024-01-05T01:00:00Z"),    # Q1 11:00
    play(2, 1, 630.0, "2024-01-05T01:01:00Z"),    # Q1 10:30, then a timeout: clock stopped
    play(3, 1, 630.0, "2024-01-05T01:02:00Z"),
    play(4, 1, 600.0, "2024-01-05T01:03:00Z"),    # last play
])


def run(pbp: PbpResult, comments: list[dict], date: str | None = None, tz: str | None = None,
        **kw) -> align.AlignedComments:
    args = dict(reaction_lag_s=15.0, postgame_grace_s=300.0, author_salt="s", teams=TEAMS)
    args.update(kw)
    return align_game(pbp, comments, build_alignment(pbp, date=date, tz=tz, tipoff_utc=None), **args)


def test_per_play_interpolation_lag_and_dead_ball():
    out = run(PER_PLAY, [comment("a", "2024-01-05T01:00:45Z", body="a"),   # reacts to 01:00:30 -> 75 s
                         comment("b", "2024-01-05T01:01:45Z", body="b"),   # during the timeout
                         comment("c", "2024-01-05T01:02:45Z", body="c")])  # reacts to 01:02:30 -> 105 s
    assert out.alignment.method == "per_play_utc" and out.alignment.expected_error_s == 2.0
    assert out.alignment.wall_start_utc == "2024-01-05T00:58:30.000Z"
    assert out.alignment.wall_end_utc == "2024-01-05T01:03:00.000Z"
    got = {r["comment_id"]: (r["game_s"], r["period"], r["clock"]) for r in out.rows}
    assert got == {"a": (75.0, 1, "Q1 10:45"), "b": (90.0, 1, "Q1 10:30"), "c": (105.0, 1, "Q1 10:15")}
    assert estimated_play_walls(out.alignment) == {}


def test_rows_have_the_canonical_columns():
    out = run(PER_PLAY, [comment("a", "2024-01-05T01:00:45Z", author="HeronsFan", flair=":har: Harbor")])
    (row,) = out.rows
    assert tuple(row) == COMMENT_COLUMNS
    assert row["created_utc"] == "2024-01-05T01:00:45.000Z"
    assert row["author"] == pseudonymise("HeronsFan", "s") != "HeronsFan"
    assert row["flair_team"] == "HAR" and row["source_format"] == "reddit_ndjson"


def test_outside_window_and_grace():
    out = run(PER_PLAY, [comment("early", "2024-01-05T00:58:29Z", body="1"),  # before tip-off
                         comment("tip", "2024-01-05T00:58:40Z", body="2"),    # reacts to pre-tip: at 0
                         comment("post", "2024-01-05T01:08:15Z", body="3"),   # lag + grace exactly
                         comment("late", "2024-01-05T01:08:16Z", body="4")])
    assert {r["comment_id"]: r["clock"] for r in out.rows} == {"tip": "Q1 12:00", "post": "Q1 10:00"}
    rej = {r["row"]: r for r in out.rejections.items}
    assert set(rej) == {"early", "late"}
    assert all(r["reason"] == "outside_game_window" and r["source_format"] == "reddit_ndjson"
               for r in rej.values())
    assert rej["early"]["file"] == "comments/reddit_ndjson"


def test_duplicates_across_files_and_double_posts():
    out = run(PER_PLAY, [comment("a", "2024-01-05T01:00:00Z", body="SWAT", author="x"),
                         comment("a", "2024-01-05T01:00:00Z", body="SWAT", author="x", fmt="reddit_listing"),
                         comment("b", "2024-01-05T01:00:30Z", body="SWAT ", author="x"),   # double post
                         comment("c", "2024-01-05T01:00:30Z", body="SWAT", author="y"),    # other fan
                         comment("d", "2024-01-05T01:01:40Z", body="SWAT", author="x"),    # 100 s later
                         comment("e", "2024-01-05T01:00:31Z", body="SWAT", author="[deleted]"),
                         comment("f", "2024-01-05T01:00:32Z", body="SWAT", author="[deleted]")])
    assert [r["comment_id"] for r in out.rows] == ["a", "c", "e", "f", "d"]
    assert {r["row"]: r["reason"] for r in out.rejections.items} == {"a": "duplicate_id", "b": "duplicate_body_author"}
    assert len(out.rows) + len(out.rejections) == 7


def test_fan_team_is_the_subreddit_team_else_the_flair_team():
    teams = {"home": {**TEAMS["home"], "subreddit": "GoHerons"}, "away": TEAMS["away"]}
    out = run(PER_PLAY, [{**comment("a", "2024-01-05T01:00:45Z", body="a", flair="Bay Gulls"), "subreddit": "goherons"},
                         {**comment("b", "2024-01-05T01:00:46Z", body="b", flair="Bay Gulls"), "subreddit": "nba"},
                         {**comment("c", "2024-01-05T01:00:47Z", body="c"), "subreddit": "baygulls"}], teams=teams)
    got = {r["comment_id"]: (r["subreddit"], r["fan_team"], r["flair_team"]) for r in out.rows}
    assert got == {"a": ("goherons", "HAR", "BAY"),       # a team's own subreddit: its fans, whatever the flair
                   "b": ("nba", "BAY", "BAY"),            # the league's: the flair says
                   "c": ("baygulls", "BAY", None)}        # no subreddit given: matched on the team's name
    assert subreddit_team("clevelandcavs", {"home": {"team": "CLE", "name": "Cleveland Cavaliers"},
                                                  "away": {"team": "CHI", "name": "Chicago Bulls"}}) == "CLE"
    assert subreddit_team("GoNets", {"home": {"team": "BKN", "name": "Brooklyn Nets"},
                                           "away": {"team": "GSW", "name": "Golden State Warriors"}}) == "BKN"
    assert subreddit_team("nba", TEAMS) is None


def test_reaction_lag_is_where_the_comments_naming_a_play_peak_after_it():
    """A real thread barely gets louder after a play, but more of it names the play's player: the lag
    is found from the names, with the volume left flat."""
    import random

    rng = random.Random(0)
    players = ["okafor", "reyes", "ito", "mensah", "haddad", "strand", "lindqvist", "moreau"]
    walls = [1_700_000_000.0 + 25.0 * i for i in range(300)]
    names = [{players[i % len(players)]} for i in range(300)]
    chatter = ["what a game", "come on", "need a stop", "refs are blind"]
    comments = []
    for k in range(0, 7500, 3):              # 20 a minute, a tenth naming a random player
        body = f"{rng.choice(players)} is playing well" if rng.random() < 0.1 else rng.choice(chatter)
        comments.append((walls[0] + k + rng.uniform(0, 3), body))
    for i in range(300):                     # after every play, 2 comments name its player 40 s (+-6) later
        comments += [(walls[i] + 40 + rng.gauss(0, 6), f"{players[i % len(players)].upper()}!!") for _ in range(2)]
    lag, contrast = align.estimate_reaction_lag(walls, names, comments)
    assert lag is not None and abs(lag - 40) <= 6 and contrast > align.MIN_LAG_CONTRAST
    flat = [(t, b) for t, b in comments if "!!" not in b]
    assert align.estimate_reaction_lag(walls, names, flat)[0] is None    # names that follow no play: say so
    assert align.estimate_reaction_lag(walls, names, comments[:50]) == (None, 0.0)   # too few to tell


def test_pseudonym_and_flair_rules():
    assert pseudonymise("Fan", "s") == pseudonymise("fan", "s") != pseudonymise("fan", "t")
    assert pseudonymise("Fan", "s").startswith("u_") and len(pseudonymise("Fan", "s")) == 14
    assert pseudonymise("[deleted]", "s") == "[deleted]"
    assert flair_team("Harbor Herons", TEAMS) == "HAR"
    assert flair_team("herons", TEAMS) == "HAR"            # nickname from the name
    assert flair_team("Go Birds", TEAMS) == "HAR"          # alias
    assert flair_team("[BAY] Someone", TEAMS) == "BAY"     # tricode
    assert flair_team("Herons > Gulls", TEAMS) is None     # both teams
    assert flair_team("Knicks", TEAMS) is None and flair_team(None, TEAMS) is None
    assert flair_team("Bayou", TEAMS) is None              # whole words only


def v2_game(stamps: list[str]) -> PbpResult:
    plays = [play(i, 1, 720.0 - 20 * i) for i in range(len(stamps))]
    return PbpResult("stats_v2", "G", plays, wall_hints=[(i, s, 60.0) for i, s in enumerate(stamps)])


def test_minute_stamps_spread_in_minute_and_dst():
    pbp = v2_game(["8:05 PM", "8:05 PM", "8:06 PM"])
    est = build_alignment(pbp, date="2023-11-14", tz="America/New_York", tipoff_utc=None)  # EST, UTC-5
    assert est.method == "minute_stamps" and est.expected_error_s == 20.0
    assert estimated_play_walls(est) == {0: "2023-11-15T01:05:15.000Z", 1: "2023-11-15T01:05:45.000Z",
                                         2: "2023-11-15T01:06:30.000Z"}
    summer = build_alignment(pbp, date="2023-10-14", tz="America/New_York", tipoff_utc=None)  # EDT, UTC-4
    assert estimated_play_walls(summer)[0] == "2023-10-15T00:05:15.000Z"
    # the plays themselves keep wall_utc None: estimates are returned separately
    assert all(p["wall_utc"] is None for p in pbp.plays)
    out = run(pbp, [comment("a", "2023-11-15T01:05:45Z")], date="2023-11-14", tz="America/New_York")
    assert out.rows[0]["clock"] == "Q1 11:50"   # reacts to 01:05:30, halfway from play 0 to play 1


def test_minute_stamps_roll_past_midnight():
    pbp = v2_game(["11:59 PM", "12:01 AM"])
    est = estimated_play_walls(build_alignment(pbp, date="2023-11-14", tz="America/New_York", tipoff_utc=None))
    assert est == {0: "2023-11-15T04:59:30.000Z", 1: "2023-11-15T05:01:30.000Z"}


def test_period_anchors_fill_ends_with_typical_break():
    plays = [play(0, 1, 720.0), play(1, 1, 360.0), play(2, 1, 0.0), play(3, 2, 720.0), play(4, 2, 0.0)]
    pbp = PbpResult("stats_v3", "G", plays, wall_hints=[(0, "7:00 PM", 60.0), (3, "7:30 PM", 60.0)])
    al = build_alignment(pbp, date="2023-01-02", tz="America/New_York", tipoff_utc=None)
    assert al.method == "period_anchors" and al.expected_error_s == 90.0
    s1, s2 = ts("2023-01-03T00:00:30Z"), ts("2023-01-03T00:30:30Z")   # minute midpoints, EST
    e1 = s2 - align.BREAK_S
    e2 = s2 + 720 * align.WALL_PER_GAME_S[2]
    assert al.play_wall_s == pytest.approx((s1, (s1 + e1) / 2, e1, s2, e2))
    assert al.game_s_at(e1 + 60) == 720.0                # between quarters the clock stands
    assert al.game_s_at((s1 + e1) / 2) == pytest.approx(360.0)


def test_interpolated_from_tipoff_only():
    plays = [play(0, 1, 720.0), play(1, 1, 0.0), play(2, 2, 720.0), play(3, 2, 0.0), play(4, 3, 700.0)]
    al = build_alignment(PbpResult("espn", "G", plays), date=None, tz=None, tipoff_utc="2024-01-05T00:40:00Z")
    tip = ts("2024-01-05T00:40:00Z")
    e1 = tip + 720 * align.WALL_PER_GAME_S[1]
    s2 = e1 + align.BREAK_S
    s3 = s2 + 720 * align.WALL_PER_GAME_S[2] + align.HALFTIME_S
    assert al.method == "interpolated"
    assert al.play_wall_s == pytest.approx((tip, e1, s2, s2 + 720 * align.WALL_PER_GAME_S[2],
                                            s3 + 20 * align.WALL_PER_GAME_S[3]))


def test_out_of_order_stamp_is_ignored():
    plays = [dict(p) for p in PER_PLAY.plays]
    plays[2]["wall_utc"] = "2024-01-05T03:00:00Z"   # a late correction's stamp
    al = build_alignment(PbpResult("cdn_live", "G", plays), date=None, tz=None, tipoff_utc=None)
    assert al.game_s_at(ts("2024-01-05T01:01:30Z")) == pytest.approx(60.0 + 90 * 30 / 120)  # play 2 dropped
    assert al.wall_end_utc == "2024-01-05T01:03:00.000Z"


def test_missing_game_json_fields_are_named():
    with pytest.raises(ValueError, match='"tz"'):
        build_alignment(v2_game(["8:05 PM"]), date="2023-11-14", tz=None, tipoff_utc=None)
    with pytest.raises(ValueError, match='"date"'):
        build_alignment(v2_game(["8:05 PM"]), date=None, tz="America/New_York", tipoff_utc=None)
    with pytest.raises(ValueError, match="IANA"):
        build_alignment(v2_game(["8:05 PM"]), date="2023-11-14", tz="Mars/Olympus", tipoff_utc=None)
    bare = PbpResult("espn", "G", [play(0, 1, 720.0), play(1, 1, 600.0)])
    with pytest.raises(ValueError, match='"tipoff_utc"'):
        build_alignment(bare, date=None, tz=None, tipoff_utc=None)


def test_real_v3_sample_period_anchors():
    from fan_timeline.readers.pbp import read_pbp

    path = Path(__file__).resolve().parent / "data" / "real" / "stats_playbyplayv3_0022200552.json"
    pbp = read_pbp(path.read_bytes(), str(path))
    al = build_alignment(pbp, date="2023-01-02", tz="America/New_York", tipoff_utc=None)
    assert al.method == "period_anchors"
    assert al.wall_start_utc == "2023-01-03T00:11:30.000Z"    # "Start of 1st Period (7:11 PM EST)"
    assert al.wall_end_utc == "2023-01-03T03:02:30.000Z"      # "End of 1st OT (10:02 PM EST)"
    assert al.game_s_at(ts("2023-01-03T01:15:00Z")) == 1440.0  # 8:15 PM EST: halftime


def test_named_reactions_refine_a_period_precise_alignment():
    import random

    rng = random.Random(1)
    # a quarter of 40 plays whose true wall times drift from the even spread a period-precise
    # source gives: the middle of the quarter ran 80 s later than the model says
    n, t0 = 40, 1_700_000_000.0
    model = [t0 + 40.0 * i for i in range(n)]
    truth = [w + 80.0 * math.sin(math.pi * i / (n - 1)) for i, w in enumerate(model)]
    plays = [{"seq": i, "game_s": 18.0 * i} for i in range(n)]
    al = align.Alignment("period_anchors", 90.0, "", "", align._anchors(model, [p["game_s"] for p in plays]),
                         play_wall_s=tuple(model), play_wall_estimated=(True,) * n)
    names = [("Okafor", "Reyes", "Ito", "Barnes", "Schultz", "Nguyen", "Allen")[i % 7] for i in range(n)]
    lag = 30.0
    comments = [(truth[i] + lag + rng.uniform(0, 12), f"{names[i].upper()}!!!") for i in range(0, n, 2)
                for _ in range(4)]                                           # every other play draws its name
    comments += [(t0 + rng.uniform(0, 1700), "what a game") for _ in range(300)]   # and chatter names nobody
    refined = align.refine_alignment(al, plays, [(i, (names[i],)) for i in range(n)], comments, lag)
    before = max(abs(a - b) for a, b in zip(model, truth))
    after = max(abs(a - b) for a, b in zip(refined.play_wall_s, truth))
    assert before > 75 and after < 15
    assert list(refined.play_wall_s) == sorted(refined.play_wall_s)         # still in game order
    assert refined.game_s_at(truth[20]) == pytest.approx(plays[20]["game_s"], abs=4.0)
    # per-play UTC is left as it is
    exact = align.Alignment("per_play_utc", 2.0, "", "", al.anchors, play_wall_s=tuple(model),
                            play_wall_estimated=(False,) * n)
    assert align.refine_alignment(exact, plays, [(i, (names[i],)) for i in range(n)], comments, lag) is exact

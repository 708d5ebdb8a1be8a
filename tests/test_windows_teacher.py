"""Windowing, comment ranking, prompt text and the teacher labeller on a tiny hand-made game."""

import pytest

from fan_timeline import prompt, schema, sport, teacher
from fan_timeline.windows import make_windows, start_label, window_bounds


def play(seq, period, clock_s, event_type, team=None, player=None, player2=None, points=0, home=0, away=0, text=""):
    return {"game_id": "G", "seq": seq, "source_id": str(seq), "period": period, "clock_s": clock_s,
            "clock": sport.clock_label(period, clock_s), "game_s": sport.game_seconds(period, clock_s),
            "wall_utc": None, "team": team, "player": player, "player2": player2, "event_type": event_type,
            "points": points, "score_home": home, "score_away": away, "text": text}


def comment(cid, game_s, body, team=None, score=1):
    period, clock_s = sport.from_game_seconds(game_s)
    return {"game_id": "G", "comment_id": cid, "thread_id": "t", "parent_id": "t3_t", "author": "u_x",
            "flair": None, "flair_team": team, "body": body, "created_utc": "2026-01-01T00:00:00Z",
            "score": score, "edited": False, "game_s": game_s, "period": period, "clock": sport.clock_label(period, clock_s),
            "source_format": "reddit_ndjson"}


GAME = {"game_id": "G", "home_team": "HAR", "away_team": "MSA", "home_name": "Harbor Herons", "away_name": "Mesa Coyotes"}
# Q4, last two minutes: MSA lead 98-100, Okafor (HAR) hits a three to take the lead, Reyes is blocked.
PLAYS = [
    play(0, 4, 720, "period_start", home=95, away=97),
    play(1, 4, 130, "made_shot", "MSA", "Luis Reyes", points=3, home=98, away=100, text="Reyes 25' 3PT"),
    play(2, 4, 110, "made_shot", "HAR", "Tomas Okafor", "Ken Ito", points=3, home=101, away=100, text="Okafor 3PT Jump Shot"),
    play(3, 4, 90, "substitution", "MSA", "Luis Reyes"),
    play(4, 4, 80, "block", "HAR", "Tomas Okafor", "Luis Reyes", home=101, away=100),
    play(5, 4, 0, "period_end", home=101, away=100),
]
T3 = sport.game_seconds(4, 110)
COMMENTS = [
    comment("c1", T3 + 5, "OKAFOR FROM DOWNTOWN LETS GO", "HAR", 40),
    comment("c2", T3 + 8, "Okafor is so clutch!!", "HAR", 12),
    comment("c3", T3 + 9, "of course he hits that, our defense is trash", "MSA", 20),
    comment("c4", T3 + 12, "YES YES YES", "HAR", 3),
    comment("c5", sport.game_seconds(4, 600), "anyone know a good pizza place", None, 0),
]


def test_window_bounds_tile_each_period_and_never_cross():
    b = window_bounds(5, 180, 30)
    q1 = [w for w in b if w[1] <= 720]
    assert q1[0] == (0, 180) and q1[-1][1] == 720 and len(q1) == 5
    assert all(e - s == 180 for s, e in b if s < 4 * 720)
    ot = [w for w in b if w[0] >= 2880]
    assert ot == [(2880, 3060), (3000, 3180)]
    for (s1, e1), (s2, _) in zip(b, b[1:]):
        assert s2 >= e1 or e1 - s2 >= 30   # overlap at least overlap_s inside a period


def test_start_label_names_the_new_period():
    assert start_label(720) == "Q2 12:00"
    assert start_label(0) == "Q1 12:00"
    assert start_label(2880) == "OT1 05:00"


def test_windows_hold_their_plays_and_ranked_comments():
    windows = make_windows(PLAYS, COMMENTS, window_s=180, overlap_s=30, max_comments=3)
    last = windows[-1]
    assert (last.start, last.end) == ("Q4 03:00", "Q4 00:00")
    assert [p["seq"] for p in last.plays] == [1, 2, 3, 4, 5]
    assert (last.score_home, last.score_away) == (95, 97)
    ids = [c["comment_id"] for c in last.comments]
    assert len(ids) == 3 and "c5" not in ids and ids[0] == "c1"   # the named, upvoted, all-caps reaction first


def test_prompt_interleaves_reactions_under_their_play():
    w = make_windows(PLAYS, COMMENTS, window_s=180, overlap_s=30, max_comments=4)[-1]
    lines = prompt.user_message(GAME, w.info(), w.plays, w.comments).splitlines()
    assert lines[0] == "MSA at HAR, MSA = Mesa Coyotes, HAR = Harbor Herons. Q4 03:00 to Q4 00:00, score HAR 95-97 MSA at start"
    i = lines.index("Q4 01:50 HAR Okafor 3pt make (ast Ito) 101-100")
    assert lines[i + 1] == "> HAR fan: OKAFOR FROM DOWNTOWN LETS GO"        # surnames, reaction right below
    assert lines[i + 1:i + 5] == [prompt.comment_line(c) for c in sorted(w.comments, key=lambda c: c["game_s"])]
    assert "Q4 01:20 HAR Okafor block on Reyes" in lines and lines[-1] == "Q4 00:00 end of Q4"
    assert not any("substitution" in line for line in lines)


def test_compact_listing_shows_blocked_misses_and_steals_only():
    assert prompt.shown_in_prompt(play(1, 1, 700, "missed_shot", "HAR", "A B", "C Dee"))
    assert not prompt.shown_in_prompt(play(1, 1, 700, "missed_shot", "HAR", "A B"))
    assert prompt.shown_in_prompt(play(1, 1, 700, "turnover", "HAR", "A B", "C Dee"))
    assert not prompt.shown_in_prompt(play(1, 1, 700, "rebound", "HAR", "A B"))
    assert prompt.play_line(play(1, 1, 700, "missed_shot", "HAR", "A. Bee", "C. Dee", text="layup")) == \
        "Q1 11:40 HAR Bee miss layup (blk Dee)"


def test_fit_prompt_trims_least_relevant_comments_never_plays(tokenizer):
    w = make_windows(PLAYS, COMMENTS, window_s=180, overlap_s=30, max_comments=4)[-1]
    full = prompt.count_tokens(tokenizer, prompt.prompt_messages(GAME, w.info(), w.plays, w.comments))
    messages, shown, trimmed, n = prompt.fit_prompt(tokenizer, GAME, w.info(), w.plays, w.comments, full - 5)
    assert trimmed == 1 and n <= full - 5
    assert w.comments[-1] not in shown and w.comments[0] in shown      # the least relevant went first
    # an impossible budget drops every comment but keeps every play
    messages, shown, trimmed, n = prompt.fit_prompt(tokenizer, GAME, w.info(), w.plays, w.comments, 10)
    assert shown == [] and trimmed == len(w.comments)
    assert all(prompt.play_line(p) in messages[1]["content"] for p in w.plays if prompt.shown_in_prompt(p))


@pytest.mark.parametrize("bodies_teams, acting, expected", [
    ([("LETS GO", "HAR"), ("what a shot", "HAR"), ("YES", "HAR")], "HAR", "positive"),
    ([("refs are rigged", "MSA"), ("trash defense", "MSA")], "HAR", "negative"),
    ([("LETS GO", "HAR"), ("what a shot", "HAR"), ("ugh of course", "MSA"), ("trash", "MSA")], "HAR", "mixed"),
    ([("anyone watching the other game", None)], "HAR", "neutral"),
    ([("NOOOOO", "MSA"), ("WHAT WAS THAT", "MSA")], "HAR", "negative"),   # excited other-team fans: team-aware
    ([("great defense as always", "HAR"), ("great defense as always guys", "HAR")], "MSA", "negative"),  # sarcasm
])
def test_fan_sentiment_team_aware(bodies_teams, acting, expected):
    reactions = [comment(f"x{i}", 0, b, t) for i, (b, t) in enumerate(bodies_teams)]
    assert teacher.fan_sentiment(reactions, acting) == expected


def test_teacher_labels_the_clutch_lead_change_with_a_verbatim_quote():
    windows = make_windows(PLAYS, COMMENTS, window_s=180, overlap_s=30, max_comments=10)
    w = windows[-1]
    entries = teacher.label_window(w, teacher.annotate_game(PLAYS), "HAR", "MSA")
    assert 1 <= len(entries) <= schema.max_items()
    first = next(e for e in entries if e["ts"] == "Q4 01:50")
    assert first["event"] == "Okafor hits a three, HAR lead 101-100"
    assert first["fan_sentiment"] == "positive"
    assert first["quote"] in {c["body"] for c in w.comments}
    assert [sport.label_to_game_seconds(e["ts"]) for e in entries] == sorted(sport.label_to_game_seconds(e["ts"]) for e in entries)
    assert schema.validate_timeline({"timeline": entries}) == []


def test_teacher_event_text_is_schema_ascii():
    p = play(9, 2, 100, "made_shot", "HAR", "Nikola Đorđević", points=2, home=40, away=38, text="Đorđević dunk")
    c = teacher.Candidate(p, 3.0, ["dunk"])
    text = teacher.event_text(c, "HAR", "MSA")
    assert text == "Dordevic dunks, HAR lead 40-38"

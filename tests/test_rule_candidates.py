"""Candidate plays, their fans' reactions, and the rule baseline, on a hand-made game.

    pytest tests/test_rule_candidates.py     (no network, < 1 s)

Proves: a play's reaction is the burst of comments in the seconds after it (on the wall clock, less
the lag) over the usual pace, with each comment put to one play, so a quiet play just after a big
one does not take its burst; the burst is counted over every thread, the comments by fan base per
audience; the window shows its most telling plays, the most telling first; the rule picks the play
fans exploded after, and the same play comes out positive in the scoring team's own subreddit and
negative in the other team's.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fan_timeline import rule
from fan_timeline.candidates import (
    ReactionClock,
    Reactions,
    audience_of,
    fan_sentiment,
    polarity,
    vote,
    window_candidates,
)
from fan_timeline.facts import game_facts

T0 = 1_760_000_000.0     # tip-off, Unix seconds
LAG = 30.0


def play(seq, clock, event_type, team=None, player=None, points=0, home=0, away=0, player2=None, wall=None):
    period, rest = clock.split()
    mm, ss = rest.split(":")
    clock_s = int(mm) * 60 + int(ss)
    game_s = (int(period[1:]) - 1) * 720 + 720 - clock_s
    return {"game_id": "g", "seq": seq, "source_id": str(seq), "period": int(period[1:]), "clock_s": float(clock_s),
            "clock": clock, "game_s": float(game_s), "wall_utc": None, "team": team, "player": player,
            "player2": player2, "event_type": event_type, "points": points, "score_home": home, "score_away": away,
            "text": "", "wall_s": wall if wall is not None else T0 + game_s * 2.2}


PLAYS = [
    play(0, "Q4 03:00", "made_shot", "HAR", "Chidi Okafor", 2, 98, 100),
    play(1, "Q4 02:30", "made_shot", "MSA", "Marcus Reyes", 2, 98, 102),
    play(2, "Q4 01:50", "made_shot", "HAR", "Chidi Okafor", 3, 101, 102),
    play(3, "Q4 01:20", "made_shot", "HAR", "Tobias Ito", 3, 104, 102),   # the go-ahead three: fans explode
    play(4, "Q4 00:40", "free_throw_made", "MSA", "Marcus Reyes", 1, 104, 103),
]


def comment(i, wall, body, sub, fan_team, score=1):
    return {"game_id": "g", "comment_id": f"c{i}", "thread_id": "t", "parent_id": "t3_t", "author": f"u{i}",
            "flair": None, "flair_team": None, "body": body,
            "created_utc": datetime.fromtimestamp(wall + LAG, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
            "score": score, "edited": False, "game_s": 0.0, "period": 4, "clock": "Q4 01:00",
            "source_format": "reddit_ndjson", "subreddit": sub, "fan_team": fan_team}


def threads() -> list[dict]:
    """Both teams' own subreddits: a steady murmur, and a burst after the go-ahead three."""
    out, i = [], 0
    for sub, team in (("HarborHerons", "HAR"), ("MesaStorm", "MSA")):
        for k in range(60):                 # one comment every 20 s over the stretch: the usual pace
            out.append(comment(i, PLAYS[0]["wall_s"] - 300 + 20 * k, "ok then", sub, team))
            i += 1
        happy = team == "HAR"
        for k in range(12):                 # the burst, in the 24 s after play 3 (less the lag)
            body = "ITO FOR THE LEAD" if happy else "how do you leave ito open"
            out.append(comment(i, PLAYS[3]["wall_s"] + 2 * k, body, sub, team, score=40 - k))
            i += 1
    return out


SUB_TEAM = {"HarborHerons": "HAR", "MesaStorm": "MSA"}


def candidates_for(sub: str, k: int = 5, plays: list[dict] = PLAYS, comments: list[dict] | None = None):
    facts = game_facts(plays, "HAR", "MSA")
    reactions = Reactions(ReactionClock(plays, threads() if comments is None else comments, LAG), facts)
    return window_candidates([facts[p["seq"]] for p in plays if p["seq"] in facts], reactions, f"r/{sub}", k,
                             audience_team=SUB_TEAM[sub])


def test_reaction_is_the_burst_after_the_play_against_the_usual_pace():
    cands = {c.fact.seq: c for c in candidates_for("HarborHerons")}
    burst, quiet = cands[3], cands[1]
    assert burst.count >= 12 and burst.by_team == {"HAR": burst.count}
    assert burst.ratio > 5 > 0.5 > quiet.ratio
    assert burst.fact.text == "Ito (HAR) hits a three to put HAR ahead 104-102"
    shown = [r["body"] for r in burst.shown]
    # each text once (repeats are spam), and the murmur around it ("ok then") says nothing: never shown
    assert shown == ["ITO FOR THE LEAD"]


def test_the_window_shows_its_most_telling_plays_first():
    cands = candidates_for("HarborHerons", k=3)
    assert len(cands) == 3 and cands[0].fact.seq == 3          # the go-ahead three fans exploded after
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    everything = candidates_for("HarborHerons", k=10)
    assert {c.fact.seq for c in cands} == {c.fact.seq for c in everything[:3]}


def test_the_rule_picks_the_burst_and_each_fan_base_feels_its_own_way():
    timelines = {}
    for sub in ("HarborHerons", "MesaStorm"):
        cands = candidates_for(sub)
        timelines[sub] = rule.timeline(cands, {c.fact.seq: c.shown for c in cands}, threshold=5.0)
    for sub, entries in timelines.items():
        assert [e["event"] for e in entries] == ["Ito (HAR) hits a three to put HAR ahead 104-102"], sub
    assert timelines["HarborHerons"][0]["fan_sentiment"] == "positive"
    assert timelines["MesaStorm"][0]["fan_sentiment"] == "negative"
    assert timelines["HarborHerons"][0]["quote"] == "ITO FOR THE LEAD"     # the most upvoted reaction shown


def test_lexicon_votes_when_the_fan_base_is_unknown():
    assert polarity("LETS GO what a shot") == 1
    assert polarity("great defense as always") == -1
    assert fan_sentiment([{"body": "wow", "fan_team": None}, {"body": "trash refs", "fan_team": None}], "HAR") \
        == "mixed"
    # a known fan base votes by side, whatever the words: a HAR fan's "trash" about a HAR play still cheers
    assert fan_sentiment([{"body": "wow", "fan_team": "HAR"}, {"body": "ugh", "fan_team": "HAR"}], "HAR") == "positive"
    assert fan_sentiment([], "HAR") == "neutral"
    # a tied period end is nobody's play: a fan base's side says nothing, its words do
    blew_it = [{"body": "ugh we choked that lead", "fan_team": "HAR"}, {"body": "pathetic", "fan_team": "HAR"},
               {"body": "overtime lets go", "fan_team": "HAR"}, {"body": "ugh", "fan_team": "HAR"}]
    assert fan_sentiment(blew_it, None, audience_team="HAR") == "negative"
    assert fan_sentiment(blew_it[2:3], None, audience_team="HAR") == "positive"
    assert fan_sentiment([{"body": "OT", "fan_team": "HAR"}], None, audience_team="HAR") == "neutral"
    assert audience_of({"subreddit": "nba"}) == "r/nba" and audience_of({"subreddit": None}) == "comments"


def test_fit_threshold_takes_the_best_f1_on_train():
    windows = [([(1, 9.0), (2, 4.0)], {1}), ([(3, 3.0)], set()), ([(4, 7.5), (5, 6.0)], {4})]
    assert rule.fit_threshold(windows) == 6.25      # above 6.0 (a false alarm), at most 7.5 (a hit)


def test_a_quiet_play_right_after_a_big_one_does_not_take_its_burst():
    # an and-one: the dunk, and 10 s later its free throw; fans react to the dunk, and a 30 s window
    # after the free throw would still hold most of that burst
    plays = [play(0, "Q4 03:00", "made_shot", "HAR", "Chidi Okafor", 2, 98, 100),
             play(1, "Q4 02:30", "made_shot", "HAR", "Tobias Ito", 2, 100, 100, wall=T0 + 2700 + 70),
             play(2, "Q4 02:30", "free_throw_made", "HAR", "Tobias Ito", 1, 101, 100, wall=T0 + 2700 + 80),
             play(3, "Q4 01:50", "made_shot", "MSA", "Marcus Reyes", 2, 101, 102)]
    comments = [comment(k, plays[0]["wall_s"] - 300 + 20 * k, "ok then", "HarborHerons", "HAR") for k in range(60)]
    comments += [comment(100 + k, plays[1]["wall_s"] + 1 + k, "ITO WITH THE HAMMER", "HarborHerons", "HAR")
                 for k in range(16)]
    cands = {c.fact.seq: c for c in candidates_for("HarborHerons", 4, plays, comments)}
    dunk, free_throw = cands[1], cands[2]
    assert dunk.count >= 12 and free_throw.count <= 3
    assert dunk.ratio > 2 * free_throw.ratio          # its share of the burst stays small
    assert candidates_for("HarborHerons", 1, plays, comments)[0].fact.seq == 1


def test_the_feeling_is_the_audiences_vote_and_its_side_when_the_words_say_nothing():
    hype = {"body": "WHAT A PLAY", "fan_team": None}
    assert vote(hype, "HAR") == 1                      # an excited fan with no side is there for the show
    assert vote({"body": "ok", "fan_team": None}, "HAR") == 0
    chatter = [{"body": "ok", "fan_team": None}]
    assert fan_sentiment(chatter, "HAR", audience_team="HAR") == "positive"    # their team's play
    assert fan_sentiment(chatter, "HAR", audience_team="MSA") == "negative"    # the other team's
    assert fan_sentiment(chatter, "HAR") == "positive"                         # a league thread
    assert fan_sentiment([], "HAR", audience_team="HAR") == "neutral"          # nobody reacted
    # a tied period end is nobody's play: its words vote, and words that say nothing are neutral, whatever the side
    assert fan_sentiment([hype, hype], None) == "positive"
    assert fan_sentiment(chatter, None, audience_team="HAR") == "neutral"

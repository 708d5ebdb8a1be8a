"""Candidate plays, what their fans said and how much, and the rule baseline, on hand-made games.

    pytest tests/test_rule_candidates.py     (no network, ~2 s)

Proves: in a thread as weak and noisy as a real one (reactions 1.5x the background, chatter that
names the players on the floor, plays logged half a minute late), the two plays whose reactions
name them and shout are the window's most telling and the rule's timeline, each quoting its fans;
a break after a play does not hand its chatter to that play; each comment goes to the play it
names, so a quiet free throw right after a dunk does not take the dunk's reactions; the same play
is positive in the scoring team's own subreddit and negative in the other's; the rule's threshold
is the best F1 on train.
"""

from __future__ import annotations

import random
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
LAG = 30.0               # the stream's lag: comments come this long after what they react to
SUB_TEAM = {"HarborHerons": "HAR", "MesaStorm": "MSA"}


def play(seq, clock, event_type, team=None, player=None, points=0, home=0, away=0, player2=None, wall=None):
    period, rest = clock.split()
    mm, ss = rest.split(":")
    clock_s = int(mm) * 60 + int(ss)
    game_s = (int(period[1:]) - 1) * 720 + 720 - clock_s
    return {"game_id": "g", "seq": seq, "source_id": str(seq), "period": int(period[1:]), "clock_s": float(clock_s),
            "clock": clock, "game_s": float(game_s), "wall_utc": None, "team": team, "player": player,
            "player2": player2, "event_type": event_type, "points": points, "score_home": home, "score_away": away,
            "text": "", "wall_s": wall if wall is not None else T0 + game_s * 2.2}


def comment(i, wall, body, sub, fan_team, score=1):
    """A comment posted LAG after wall time `wall` (what it reacts to happened at `wall`)."""
    return {"game_id": "g", "comment_id": f"c{i}", "thread_id": "t", "parent_id": "t3_t", "author": f"u{i}",
            "flair": None, "flair_team": None, "body": body,
            "created_utc": datetime.fromtimestamp(wall + LAG, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
            "score": score, "edited": False, "game_s": 0.0, "period": 4, "clock": "Q4 01:00",
            "source_format": "reddit_ndjson", "subreddit": sub, "fan_team": fan_team}


def candidates_for(plays, comments, sub="HarborHerons", k=3):
    facts = game_facts(plays, "HAR", "MSA")
    reactions = Reactions(ReactionClock(plays, comments, LAG), facts)
    return window_candidates([facts[p["seq"]] for p in plays if p["seq"] in facts], reactions, f"r/{sub}", k,
                             audience_team=SUB_TEAM[sub])


ROSTER = [("HAR", "Chidi Okafor"), ("HAR", "Tobias Ito"), ("HAR", "Kofi Mensah"), ("MSA", "Marcus Reyes"),
          ("MSA", "Dario Haddad"), ("MSA", "Lars Strand")]
CHATTER = ("what a game this is", "come on defense", "need a stop here", "refs are letting them play",
           "this pace is weird", "I can't watch this", "box out please", "good ball movement")


def weak_thread(seed: int = 0):
    """Q2 of a game: a basket every ~30 s of game clock by a rotating cast, two of them the moments
    fans remember (Ito's three, Reyes' block), each logged 30 s after it happened. The thread writes
    ~12 comments a minute about the game in general, a fifth of them naming a player who just played;
    after each moment come six comments naming it and shouting, 1.5x the background in its minute."""
    rng = random.Random(seed)
    plays, home, away, walls = [], 20, 20, {}
    for i in range(24):
        team, name = ROSTER[i % len(ROSTER)]
        kind = "made_shot"
        if i == 11:
            team, name = "HAR", "Tobias Ito"            # the three fans remember
        if i == 17:
            team, name, kind = "MSA", "Marcus Reyes", "block"
        if kind == "made_shot":
            home, away = (home + 2, away) if team == "HAR" else (home, away + 2)
        clock_s = 700 - 28 * i
        happened = T0 + 900 + 60 * i
        walls[i] = happened
        clock = f"Q2 {clock_s // 60:02d}:{clock_s % 60:02d}"
        logged = happened + (30.0 if i in (11, 17) else 2.0)      # the scorer logs the moments late
        p = play(i, clock, kind, team, name, 2 if kind == "made_shot" else 0, home, away, wall=logged)
        if i == 11:                                     # a three: one more point than the rows said
            home += 1
            p["points"], p["text"], p["score_home"] = 3, "Ito 3pt Shot: Made", home
        plays.append(p)
    comments, n = [], 0
    for k in range(int(24 * 60 / 5)):                              # the background: 12 a minute
        t = T0 + 840 + 5 * k + rng.uniform(0, 5)
        recent = [name for i, (_, name) in enumerate(ROSTER * 4) if abs(T0 + 900 + 60 * i - t) < 120]
        body = (f"{rng.choice(recent).split()[-1]} has been good tonight" if recent and rng.random() < 0.2
                else rng.choice(CHATTER))
        comments.append(comment(n, t, body, "HarborHerons", "HAR"))
        n += 1
    for i, bodies in ((11, ("ITO FROM DOWNTOWN", "ITO!!!", "what a three by Ito", "ITO ICE COLD", "ito!!",
                            "THREEEEE ITO")),
                      (17, ("REYES WITH THE BLOCK", "what a block", "REYES!!", "blocked lmao", "REYES SWAT",
                            "that block though"))):
        for j, body in enumerate(bodies):
            comments.append(comment(n, walls[i] + 6 + 5 * j, body, "HarborHerons", "HAR", score=20 - j))
            n += 1
    return plays, comments


def test_named_reactions_find_the_moments_in_a_weak_late_logged_thread():
    plays, comments = weak_thread()
    cands = candidates_for(plays, comments)
    assert {c.fact.seq for c in cands[:2]} == {11, 17}, [(c.fact.text, round(c.score, 2)) for c in cands]
    three = next(c for c in cands if c.fact.seq == 11)
    assert three.fact.text.startswith("Ito (HAR) hits a three")
    assert three.evidence.said >= 2 and three.evidence.excited >= 4       # what fans said, not how much
    assert 1.2 < three.evidence.lift < 2.5                               # how much: barely above the pace
    picked = rule.timeline(cands, {c.fact.seq: c.shown for c in cands}, threshold=3.0)
    assert {e["event"] for e in picked} == {c.fact.text for c in cands if c.fact.seq in (11, 17)}
    assert all(e.get("quote") for e in picked)                           # each quotes its fans
    block = next(e for e in picked if "Reyes" in e["event"])
    assert block["fan_sentiment"] == "negative"                          # HAR's fans, MSA's block


def test_a_break_after_a_play_does_not_hand_its_chatter_to_it():
    plays, comments = weak_thread()
    # a long timeout right after play 5: the thread fills with talk about nothing in particular
    rng = random.Random(1)
    start = plays[5]["wall_s"] + 10
    comments += [comment(900 + k, start + rng.uniform(0, 60), rng.choice(CHATTER), "HarborHerons", "HAR")
                 for k in range(40)]
    facts = game_facts(plays, "HAR", "MSA")
    reactions = Reactions(ReactionClock(plays, comments, LAG), facts)
    assert reactions.evidence[5].lift > 2                 # louder: volume alone would call it a moment ...
    assert len(reactions.of(5)) <= 2                      # ... but the break's talk is nobody's reaction
    assert {c.fact.seq for c in candidates_for(plays, comments)[:2]} == {11, 17}


def test_each_comment_goes_to_the_play_it_names():
    # an and-one: the dunk, then 10 s later its free throw; fans shout about the dunk
    plays = [play(0, "Q4 03:00", "made_shot", "HAR", "Chidi Okafor", 2, 98, 100),
             play(1, "Q4 02:30", "made_shot", "HAR", "Tobias Ito", 2, 100, 100, wall=T0 + 2700 + 70),
             play(2, "Q4 02:30", "free_throw_made", "MSA", "Marcus Reyes", 1, 100, 101, wall=T0 + 2700 + 80),
             play(3, "Q4 01:50", "made_shot", "MSA", "Marcus Reyes", 2, 100, 103)]
    plays[1]["text"] = "Ito Driving Dunk"
    comments = [comment(k, plays[0]["wall_s"] - 300 + 20 * k, "ok then", "HarborHerons", "HAR") for k in range(60)]
    comments += [comment(100 + k, plays[1]["wall_s"] + 4 + k, "ITO WITH THE HAMMER", "HarborHerons", "HAR")
                 for k in range(16)]
    cands = {c.fact.seq: c for c in candidates_for(plays, comments, k=4)}
    dunk, free_throw = cands[1], cands[2]
    assert dunk.count == 16 and free_throw.count == 0
    assert dunk.evidence.named == 16 and free_throw.evidence.named == 0
    assert [r["body"] for r in dunk.shown] == ["ITO WITH THE HAMMER"]    # each text once (repeats are spam)
    assert candidates_for(plays, comments, k=1)[0].fact.seq == 1


def test_each_fan_base_feels_its_own_way():
    plays, comments = weak_thread()
    comments = [c for c in comments if c["body"] != "ok"]
    rival = [{**c, "comment_id": "m" + c["comment_id"], "subreddit": "MesaStorm", "fan_team": "MSA"} for c in comments]
    feel = {}
    for sub, cs in (("HarborHerons", comments), ("MesaStorm", rival)):
        cands = {c.fact.seq: c for c in candidates_for(plays, comments + rival, sub)}
        feel[sub] = (cands[11].feeling, cands[17].feeling)
    assert feel == {"HarborHerons": ("positive", "negative"), "MesaStorm": ("negative", "positive")}


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
    assert rule.fit_threshold(windows) == 7.5       # above 6.0 (a false alarm), at most 7.5 (a hit): every value tried
    assert rule.fit_threshold([([(1, 2.0)], {1})]) == 2.0


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

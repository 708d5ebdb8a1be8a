"""A quote never states a score or a team that the game says is false.

    pytest tests/test_quotes_true.py     (no network, ~2 s)

Proves: `candidates.contradicts` reads typed scores and "<team> leads" claims and lets through what
fans really type (a score a basket late, either way round, runs, series, times, "3-pt"); in a weak,
real-like thread, the most upvoted, loudest reaction to Ito's three, "ITO FROM DOWNTOWN!!! CLE
leads 200-0" in a HAR-MSA game, is never shown under the play (so never quoted, and the rule's
entry quotes a true one), while the same shout with the game's own score is.
"""

from __future__ import annotations

import pytest
from test_rule_candidates import LAG, comment, weak_thread

from fan_timeline import rule
from fan_timeline.candidates import ReactionClock, Reactions, contradicts, window_candidates
from fan_timeline.facts import Fact, game_facts


def dunk(home: int, away: int) -> Fact:
    return Fact(1, "1", "Q4 01:00", 2820.0, 4, "dunk", "MIL", "Brooks", "", 2, home, away, False, False, 2, 0,
                False, True, abs(home - away), "Brooks (MIL) dunks")


@pytest.mark.parametrize("body, home, away, false", [
    ("BROOKS DUNK!!! CLE leads 200-0", 50, 48, True),
    ("80-40 BLOWOUT", 50, 48, True),                       # a score far from the game's
    ("prediction: Forge win 114-106", 10, 8, True),         # a pregame guess under a first-quarter play
    ("CLE up 101-99", 101, 99, True),                       # the right score, a team not playing
    ("CLE leads", 101, 99, True),
    ("101-99 lets go", 101, 99, False),
    ("99-101 now", 101, 99, False),                         # either way round
    ("97-99 lol", 101, 99, False),                          # a basket late
    ("MIL up 101-99", 101, 99, False),
    ("CLE fans would love this", 101, 99, False),           # another team named, nothing claimed
    ("up 2-0 in the series", 50, 48, False),
    ("a 15-6 run!!", 30, 20, False),
    ("that's a 20-4 RUN", 30, 20, False),
    ("3-pt king", 10, 8, False),
    ("at 7:30 pm", 30, 20, False),
])
def test_what_a_comment_claims_against_the_game(body, home, away, false):
    assert contradicts(body, dunk(home, away), ("MIL", "BOS")) is false


def test_a_loud_upvoted_false_comment_is_never_shown_nor_quoted():
    plays, comments = weak_thread()
    three = next(p for p in plays if p["seq"] == 11)
    walls = three["wall_s"] - 30.0   # it happened 30 s before it was logged (weak_thread)
    false = "ITO FROM DOWNTOWN!!! CLE leads 200-0"
    true = f"ITO FROM DOWNTOWN!!! HAR up {three['score_home']}-{three['score_away']}"
    comments += [comment(5000, walls + 4, false, "HarborHerons", "HAR", score=900),
                 comment(5001, walls + 5, true, "HarborHerons", "HAR", score=800)]
    facts = game_facts(plays, "HAR", "MSA")
    reactions = Reactions(ReactionClock(plays, comments, LAG), facts)
    cands = window_candidates([facts[p["seq"]] for p in plays if p["seq"] in facts], reactions, "r/HarborHerons",
                              3, audience_team="HAR", game_teams=("HAR", "MSA"))
    ito = next(c for c in cands if c.fact.seq == 11)
    assert false in {str(r["body"]) for r in ito.reactions}        # it is the play's reaction (it votes) ...
    assert false not in ito.quotes and false not in {str(r["body"]) for r in ito.shown}   # ... never shown
    assert true in ito.quotes                                      # the same shout, with the game's score
    picked = rule.timeline(cands, {c.fact.seq: c.shown for c in cands}, threshold=3.0)
    assert all(e.get("quote") != false for e in picked) and any(e.get("quote") for e in picked)

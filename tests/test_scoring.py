"""Timeline metrics on hand-made predictions whose answers are worked out by hand.

    pytest tests/test_scoring.py     (no network, < 1 s)

Proves: a moment matches only the same play (a near timestamp on the wrong play does not), the
ts-only F1 beside it is the lenient one; entries resolve to their play by sentence or by the player
they name; facts are true only when every name and score is in the plays around the entry;
intervals resample games, not windows.
"""

import pytest

from fan_timeline import scoring
from fan_timeline.scoring import PlayRef


def e(ts, sentiment="positive", event="Okafor scores, HAR lead 10-8", seq=None, quote=None):
    d = {"ts": ts, "event": event, "fan_sentiment": sentiment, "seq": seq}
    if quote:
        d["quote"] = quote
    return d


def test_a_near_timestamp_on_the_wrong_play_is_no_match():
    ref = [e("Q4 01:48", seq=7)]
    wrong_play = [e("Q4 01:50", seq=6)]      # 2 s away, another play
    assert scoring.match_events(wrong_play, ref, tol_s=20) == []
    assert scoring.match_events(wrong_play, ref, tol_s=20, same_play=False) == [(0, 0)]   # ts-only would count it
    assert scoring.match_events([e("Q4 01:50", seq=7)], ref, tol_s=20) == [(0, 0)]
    assert scoring.match_events([e("Q4 01:50", seq=7)], ref, tol_s=1) == []               # same play, clock too far
    assert scoring.match_events([e("Q4 01:48", seq=None)], ref, tol_s=20) == []           # about no play at all


def test_matching_is_one_to_one_closest_first():
    pred = [e("Q4 01:50", seq=7), e("Q4 01:47", seq=7), e("Q4 00:10", seq=9)]
    ref = [e("Q4 01:48", seq=7), e("Q3 05:00", seq=3)]
    assert scoring.match_events(pred, ref, tol_s=5) == [(1, 0)]      # 1 s beats 2 s; each side used once


def test_window_counts_and_summary():
    w1 = scoring.score_window("g1", [e("Q1 10:00", "positive", seq=1), e("Q1 09:00", "negative", seq=2)],
                              [e("Q1 10:01", "positive", seq=1), e("Q1 09:00", "mixed", seq=3)], tol_s=5)
    w2 = scoring.score_window("g2", [e("Q2 05:00", "mixed", seq=4)], [e("Q2 05:00", "mixed", seq=4),
                                                                      e("Q2 01:00", "neutral", seq=5)], tol_s=5)
    assert (w1.matched, w1.predicted, w1.reference, w1.ts_matched) == (1, 2, 2, 2)
    s = scoring.summary([w1, w2])
    assert (s["matched"], s["predicted"], s["reference"]) == (2, 3, 4)
    assert s["event_f1"] == pytest.approx(2 * 2 / 7)
    assert s["event_f1_ts_only"] == pytest.approx(2 * 3 / 7)
    assert s["sentiment_pairs"] == 2 and s["sentiment_accuracy"] == 1.0


def test_resolve_entry_by_sentence_then_by_named_player():
    facts = [PlayRef(1, "Q4 01:48", "Okafor hits a three to put HAR ahead 101-99", 2772.0, ("Okafor",)),
             PlayRef(2, "Q4 01:40", "Reyes steals it from Okafor, HAR lead 101-99", 2780.0, ("Reyes", "Okafor"))]
    assert scoring.resolve_entry({"ts": "Q4 01:48", "event": facts[0].text}, facts).seq == 1
    free = {"ts": "Q4 01:46", "event": "Okafor drains a three, HAR up 101-99"}
    assert scoring.resolve_entry(free, facts, tol_s=20).seq == 1     # names Okafor, the closest Okafor play
    assert scoring.resolve_entry({"ts": "Q4 01:46", "event": "Someone scores"}, facts, tol_s=20) is None
    assert scoring.resolve_entry({"ts": "Q1 05:00", "event": facts[0].text}, facts, tol_s=20) is None


def test_facts_true_needs_every_name_and_score_in_the_plays_around():
    words = [{"t": 2772.0, "names": ["Chidi", "Okafor", "HAR", "MSA", "Harbor", "Herons"],
              "scores": ["101-99", "99-101", "10-0"]}]
    ok = {"ts": "Q4 01:48", "event": "Okafor hits a three, 10-0 HAR run, HAR lead 101-99"}
    assert scoring.facts_true(ok, words, tol_s=20)
    assert not scoring.facts_true({**ok, "event": "Okafor hits a three, HAR lead 24-0"}, words, 20)   # no such score
    # another league's team
    assert not scoring.facts_true({**ok, "event": "Comets lead 101-99 after Okafor"}, words, 20)
    assert not scoring.facts_true({**ok, "ts": "Q1 11:00"}, words, 20)                              # not around its ts
    assert scoring.hallucinated_names("Comets lead after Okafor hits", ["Chidi Okafor", "HAR"]) == ["Comets"]


def test_intervals_resample_games_not_windows():
    """Nine windows of one game and one of another: resampling games gives two units, so the
    interval of a run that is perfect on one game and empty on the other spans 0..1."""
    good = [scoring.score_window("g1", [e("Q1 10:00", seq=1)], [e("Q1 10:00", seq=1)], 5) for _ in range(9)]
    bad = [scoring.score_window("g2", [], [e("Q1 10:00", seq=1)], 5)]
    lo, hi = scoring.bootstrap_ci(good + bad, scoring.event_f1, n=400)
    assert lo == 0.0 and hi == 1.0
    assert scoring.bootstrap_ci(good + bad, scoring.event_f1, n=400) == [lo, hi]      # seeded: the same again
    same = scoring.paired_bootstrap_difference(good + bad, good + bad, scoring.event_f1, n=200)
    assert same == [0.0, 0.0]
    perfect = [scoring.score_window(w.game, [e("Q1 10:00", seq=1)], [e("Q1 10:00", seq=1)], 5) for w in good + bad]
    nothing = [scoring.score_window(w.game, [], [e("Q1 10:00", seq=1)], 5) for w in good + bad]
    assert scoring.paired_bootstrap_difference(perfect, nothing, scoring.event_f1, n=200) == [1.0, 1.0]
    with pytest.raises(ValueError):
        scoring.paired_bootstrap_difference(good, bad, scoring.event_f1)


def test_macro_f1_and_confusion():
    pairs = [("positive", "positive"), ("negative", "mixed"), ("mixed", "mixed"), ("mixed", "mixed")]
    # present: positive (1.0), negative (0: one false positive), mixed (tp 2, fn 1 -> 0.8)
    assert scoring.macro_f1(pairs) == pytest.approx((1 + 0 + 0.8) / 3)
    table = scoring.sentiment_confusion(pairs)
    assert table["mixed"] == {"positive": 0, "negative": 1, "mixed": 2, "neutral": 0}


def test_quote_grounding_and_window_bounds():
    comments = ["OKAFOR WITH THE SWAT 🔥", "refs are blind"]
    assert scoring.quote_grounded(e("Q1 01:00", quote="OKAFOR WITH THE SWAT"), comments) is True
    assert scoring.quote_grounded(e("Q1 01:00", quote="okafor with the swat"), comments) is False
    assert scoring.quote_grounded(e("Q1 01:00"), comments) is None
    assert scoring.ts_in_window(e("Q1 10:00"), 0, 180) and not scoring.ts_in_window(e("Q1 08:59"), 0, 180)


def test_stop_biases_before_likely_moments_and_other_plays_are_read_off_one_decode_that_never_stops():
    from fan_timeline import schema
    from fan_timeline.calibration import (
        STOP_BIAS_NEVER,
        StopBias,
        f1_by_stop_bias,
        fit_stop_bias,
        pair_grounding,
        texts_at_bias,
    )
    from fan_timeline.generate import GenerationResult

    def pair(i, plays, gold):
        return {"id": f"w{i}", "game_id": f"g{i}", "audience": "r/nba", "window": {"start_s": 0.0, "end_s": 180.0},
                "reference": [{"ts": p[1], "event": p[2], "fan_sentiment": "positive", "seq": p[0]} for p in gold],
                "window_facts": [{"seq": p[0], "ts": p[1], "event": p[2], "t": p[3], "names": ["Okafor"]}
                                 for p in plays],
                "facts": [{"t": p[3], "names": ["Okafor", "HAR"], "scores": ["10-8"]} for p in plays],
                "grounding": {"plays": [[p[1], p[2], [], None, p[4]] for p in plays], "comments": []}}

    a = (1, "Q1 11:00", "Okafor (HAR) scores, HAR lead 10-8", 60.0, True)     # listed as a likely moment
    b = (2, "Q1 10:00", "Okafor (HAR) dunks, HAR lead 12-8", 120.0, False)    # listed as another play
    c = (3, "Q1 11:00", "Reyes (LIN) scores, HAR lead 10-10", 60.0, True)
    d = (4, "Q1 10:00", "Reyes (LIN) dunks to tie it at 12-12", 120.0, True)
    # window 0: a is the moment; the model closes before b by a margin of 0.6 (a bias under it keeps b out)
    # window 1: c and d both are; the model closes before d by 0.8 (a bias of 0.8 or more adds d)
    pairs = [pair(0, [a, b], [a]), pair(1, [c, d], [c, d])]

    def out(entries, margins):
        text = schema.dump_timeline([{"ts": p[1], "event": p[2], "fan_sentiment": "positive"} for p in entries])
        return GenerationResult(text, 10, True, 0.0, 0.0, stop_margins=tuple(margins))

    results = [out([a, b], [-2.0, 0.6]), out([c, d], [-2.0, 0.8])]
    bias, scores = fit_stop_bias(pairs, results, tol_s=20)
    assert scores["event_f1_at_0"] == pytest.approx(0.8)        # d missed: 2 of 3 moments, nothing wrong
    assert bias == StopBias(moment=1.0, other=0.0) and scores["event_f1"] == 1.0
    # one bias for every choice cannot have both (nor one for a window's first choice and one for the
    # later ones: b and d are both second): adding d adds b
    assert max(f1_by_stop_bias(pairs, results, tol_s=20).values()) < 1.0
    # a model whose margins run past the grid's numbers (an untrained one) still gets "never close"
    # before a likely moment: the rule's timeline (the likely moments) is always among the fits
    loud = [out([a, b], [20.0, 30.0]), out([c, d], [20.0, 30.0])]
    fit, loud_scores = fit_stop_bias(pairs, loud, tol_s=20)
    assert fit.moment == STOP_BIAS_NEVER and loud_scores["event_f1"] == 1.0
    assert texts_at_bias(loud, [pair_grounding(p) for p in pairs], fit) == [
        schema.dump_timeline([{"ts": p[1], "event": p[2], "fan_sentiment": "positive"} for p in likely])
        for likely in ([a], [c, d])]
    assert texts_at_bias(results, [pair_grounding(p) for p in pairs], bias) == [
        schema.dump_timeline([{"ts": a[1], "event": a[2], "fan_sentiment": "positive"}]), results[1].text]


def test_a_play_is_likely_when_its_score_reaches_the_rules_threshold():
    """With the rule's threshold, the kind of play before a choice is its candidate score against it
    (what the rule reports), not the prompt's header: "always go on before a likely moment, never
    before another" then writes exactly the rule's timeline."""
    from fan_timeline import schema
    from fan_timeline.calibration import StopBias

    g = schema.Grounding.of([("Q1 11:00", "Okafor (HAR) scores, HAR lead 10-8", [], None, True, 3.9),
                             ("Q1 10:00", "Okafor (HAR) dunks, HAR lead 12-8", [], None, True, 3.2)])
    bias = StopBias(moment=5.0, other=-5.0, threshold=3.5)
    assert [bias.before(g, i) for i in (0, 1)] == [5.0, -5.0]         # 3.2 is under the rule's 3.5
    assert [StopBias(5.0, -5.0).before(g, i) for i in (0, 1)] == [5.0, 5.0]   # no threshold: the header
    assert StopBias.of(bias.as_dict()) == bias and StopBias.of({"moment": 1, "other": 2}).threshold is None
    with pytest.raises(ValueError, match="rerun the stage"):
        StopBias.of({"first": 1.0, "more": 0.0})

"""Timeline metrics on hand-made predictions whose answers are worked out by hand."""

import pytest

from fan_timeline import scoring


def e(ts, sentiment="positive", event="Okafor scores, HAR lead 10-8", quote=None):
    d = {"ts": ts, "event": event, "fan_sentiment": sentiment}
    if quote:
        d["quote"] = quote
    return d


def test_match_by_time_tolerance_closest_first_one_to_one():
    pred = [e("Q4 01:50"), e("Q4 01:45"), e("Q4 00:10")]
    ref = [e("Q4 01:48"), e("Q3 05:00")]
    # 01:50 is 2 s from 01:48, 01:45 is 3 s: the closest wins, the other stays unmatched.
    assert scoring.match_events(pred, ref, tol_s=5) == [(0, 0)]
    assert scoring.match_events(pred, ref, tol_s=1) == []


def test_match_crosses_period_boundary_by_game_time():
    # Q1 00:02 and Q2 11:58 are 4 game seconds apart.
    assert scoring.match_events([e("Q1 00:02")], [e("Q2 11:58")], tol_s=5) == [(0, 0)]


def test_prf_and_empty_cases():
    assert scoring.prf(1, 2, 4) == {"precision": 0.5, "recall": 0.25, "f1": pytest.approx(1 / 3)}
    assert scoring.prf(0, 0, 0)["f1"] == 1.0      # nothing to find, nothing claimed
    assert scoring.prf(0, 0, 3)["f1"] == 0.0
    assert scoring.prf(0, 2, 0)["precision"] == 0.0


def test_tally_sentiment_accuracy_and_macro_f1():
    t = scoring.EventTally(tol_s=5)
    t.add([e("Q1 10:00", "positive"), e("Q1 09:00", "negative")], [e("Q1 10:01", "positive"), e("Q1 09:00", "mixed")])
    t.add([e("Q2 05:00", "mixed")], [e("Q2 05:00", "mixed"), e("Q2 01:00", "neutral")])
    s = t.summary()
    assert (s["matched"], s["predicted"], s["reference"]) == (3, 3, 4)
    assert s["event_precision"] == 1.0 and s["event_recall"] == 0.75
    assert s["sentiment_accuracy"] == pytest.approx(2 / 3)
    # labels present: positive (F1 1), negative (F1 0: one false positive), mixed (tp 1, fn 1 -> 2/3)
    assert s["sentiment_macro_f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_confusion_counts_reference_rows():
    table = scoring.sentiment_confusion([("positive", "positive"), ("mixed", "positive"), ("neutral", "negative")])
    assert table["positive"] == {"positive": 1, "negative": 0, "mixed": 1, "neutral": 0}
    assert table["negative"]["neutral"] == 1


def test_quote_grounding_is_verbatim_substring():
    comments = ["OKAFOR WITH THE SWAT 🔥", "refs are blind"]
    assert scoring.quote_grounded(e("Q1 01:00", quote="OKAFOR WITH THE SWAT"), comments) is True
    assert scoring.quote_grounded(e("Q1 01:00", quote="okafor with the swat"), comments) is False
    assert scoring.quote_grounded(e("Q1 01:00"), comments) is None


def test_hallucinated_names():
    allowed = ["Tomas Okafor", "Luis Reyes", "HAR", "MSA", "Harbor Herons"]
    assert scoring.hallucinated_names("Okafor blocks Reyes, HAR lead 10-8", allowed) == []
    assert scoring.hallucinated_names("End of Q3, Herons lead 80-75", allowed) == []
    assert scoring.hallucinated_names("Jordan dunks on Okafor, BOS lead 10-8", allowed) == ["Jordan", "BOS"]


def test_ts_in_window():
    assert scoring.ts_in_window(e("Q2 11:00"), 720, 900)
    assert not scoring.ts_in_window(e("Q2 08:00"), 720, 900)
    assert not scoring.ts_in_window({"ts": "garbage"}, 0, 10_000)


def test_bootstrap_f1_interval():
    # Identical windows: every resample has the same F1, so the interval is the point.
    assert scoring.bootstrap_f1_ci([(1, 2, 2)] * 10) == pytest.approx((0.5, 0.5))
    # Half the windows perfect (1 of 1), half missed (0 of 1 predicted, 1 reference): F1 0.5 overall.
    windows = [(1, 1, 1)] * 10 + [(0, 1, 1)] * 10
    lo, hi = scoring.bootstrap_f1_ci(windows)
    assert 0.25 < lo < 0.5 < hi < 0.75
    assert scoring.bootstrap_f1_ci(windows) == (lo, hi)   # seeded
    wider = scoring.bootstrap_f1_ci(windows[::5])          # fewer windows: a wider interval
    assert wider[0] < lo and wider[1] > hi
    assert scoring.bootstrap_f1_ci([(0, 0, 0)] * 3) == (1.0, 1.0) and scoring.bootstrap_f1_ci([]) == (0.0, 0.0)

"""Game-clock helpers: labels, elapsed seconds and their inverses, including overtime."""

import re

import pytest

from fan_timeline import sport, tables


@pytest.mark.parametrize("period, clock_s, label, game_s", [
    (1, 720.0, "Q1 12:00", 0.0),
    (4, 110.4, "Q4 01:50", 3 * 720 + 720 - 110.4),
    (4, 0.4, "Q4 00:00", 4 * 720 - 0.4),
    (5, 299.0, "OT1 04:59", 4 * 720 + 1.0),
    (6, 0.0, "OT2 00:00", 4 * 720 + 600.0),
])
def test_labels_and_game_seconds(period, clock_s, label, game_s):
    assert sport.clock_label(period, clock_s) == label
    assert re.match(sport.CLOCK_LABEL_PATTERN, label)   # what the API's models accept
    assert sport.game_seconds(period, clock_s) == pytest.approx(game_s)
    p, c = sport.from_game_seconds(game_s)
    assert (p, c) == (period, pytest.approx(clock_s))


def test_parse_label_roundtrip_and_errors():
    assert sport.parse_clock_label("OT1 04:59") == (5, 299.0)
    assert sport.label_to_game_seconds("Q2 12:00") == 720.0
    for bad in ("Q5 01:00", "Q4 1:5", "OT1 06:00", "", "Q4 13:00"):
        with pytest.raises(ValueError):
            sport.parse_clock_label(bad)
    assert not any(re.match(sport.CLOCK_LABEL_PATTERN, bad) for bad in ("Q5 01:00", "Q4 1:5", "", "Q4 01:60"))


def test_period_end_belongs_to_that_period():
    assert sport.from_game_seconds(720.0) == (1, 0.0)
    assert sport.from_game_seconds(720.5)[0] == 2


def test_rejections_count_by_reason():
    r = tables.Rejections()
    r.record("f.json", 3, "period", "bad_type", "expected int", "x")
    r.record("f.json", 4, None, "missing_field")
    r.record("f.json", 5, None, "missing_field")
    assert len(r) == 3 and r.by_reason() == {"bad_type": 1, "missing_field": 2}
    assert r.items[0] == {"file": "f.json", "row": 3, "field": "period", "reason": "bad_type",
                          "detail": "expected int", "value": "x"}

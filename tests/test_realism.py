"""The simulator's fans against a real game's threads (fan_timeline.realism), and the measurement itself.

    pytest tests/test_realism.py      (no network, ~35 s)

Proves: the measurement counts what it says (a hand-made thread whose comment rate doubles after a
play has ratio 2, its burst peaks where it was put, its names lift as written); the realistic
simulator's games land inside every band around the real figures, and the loud, on-cue world of
earlier samples does not (the check fails if the simulator drifts back to toy bursts); the shipped
sample, as the default pipeline measured it (metrics/realism.json), is inside every band.
"""

from __future__ import annotations

import json
from pathlib import Path

from fan_timeline import realism
from fan_timeline.config import SimulateConfig, load_section
from fan_timeline.simulate.cli import simulate
from fan_timeline.simulate.fans import CLEAN, REALISTIC

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0


def _play(seq: int, event_type: str, player: str) -> dict:
    return {"seq": seq, "event_type": event_type, "player": player, "player2": None, "text": "",
            "wall_utc": None, "points": 2 if event_type == "made_shot" else 0}


def test_the_measurement_counts_rates_peaks_and_names_as_written() -> None:
    plays = [_play(0, "rebound", "Reyes"), _play(1, "made_shot", "Okafor")]
    walls = {0: T0 + 300, 1: T0 + 600}
    comments = []
    for k in range(0, 1200, 6):                      # a steady 10 comments a minute ...
        comments.append({"created_utc": T0 + k, "subreddit": "HarborHerons", "body": "what a game this is"})
    for k in range(10):                             # ... and 10 more in the 30-45 s after play 1, naming him
        comments.append({"created_utc": T0 + 630 + 1.5 * k, "subreddit": "HarborHerons", "body": "OKAFOR!!"})
    stats = realism.game_statistics(plays, comments, ["r/HarborHerons"], walls=walls)
    assert [round(r, 6) for r in stats["team.ratio"]] == [1.0, 2.0]   # play 1: 20 in a minute against 10
    assert [round(r, 6) for r in stats["ratio_scoring"] + stats["ratio_other"]] == [2.0, 1.0]
    assert 30.0 in stats["peak_delay_s"]                            # the burst's 15 s bin
    assert stats["name_before"][-1] == 0.0 and stats["name_after"][-1] == 10 / 25   # 10 of the 25 in its 90 s


def test_realistic_fans_are_inside_every_band_and_toy_bursts_are_not(tmp_path: Path) -> None:
    """The pipeline's sample (its seed and size: a dozen games leave the thinnest figures, the lift of
    "block" after a block and the stoppages' edge over baskets, to a handful of plays) against the
    bands; six games of the old, loud world against them too."""
    cfg = load_section(SimulateConfig, ROOT / "params.yaml")
    _, real = simulate(tmp_path / "realistic", cfg.games, cfg.seed, world=REALISTIC)
    bad = {k: s for k, s in real["statistics"].items() if not s["in_band"]}
    assert real["all_in_band"], bad
    _, toy = simulate(tmp_path / "clean", 6, 11, world=CLEAN)
    assert not toy["all_in_band"]
    stats = toy["statistics"]
    assert stats["league.ratio_p90"]["value"] > realism.BANDS["league.ratio_p90"][1]   # bursts far louder than real


def test_the_shipped_sample_is_as_weak_and_noisy_as_a_real_game() -> None:
    report = json.loads((ROOT / "metrics" / "realism.json").read_text())
    assert report["games"] >= 10 and report["all_in_band"], report
    for key, stat in report["statistics"].items():
        assert stat["band"] == list(realism.BANDS[key]), key          # measured against today's bands

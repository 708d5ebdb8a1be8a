"""The timeline service without HTTP or a model: a served game is read (by ingest's own reader) and
planned exactly as ingest + build_sft treat a training game, window by window and audience by
audience; bad input says where it is bad; windows merge into one timeline in game order; the job
queue bounds what waits; the params' source is stated.

    pytest tests/test_service.py      (~15 s on 2 CPU cores; the real tokenizer, no model, no network)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from _serving import REAL, ROOT, SAMPLES

from fan_timeline import atomic, export, ingest, sft
from fan_timeline.jobs import JobQueue, QueueFull
from fan_timeline.samples import find_samples
from fan_timeline.service import (
    InputError,
    RawFile,
    TimelineService,
    merge_windows,
    pipeline_params,
    read_provenance,
)


@pytest.fixture(scope="module")
def params():
    return pipeline_params({}, ROOT / "params.yaml")


@pytest.fixture(scope="module")
def service(tokenizer, params):
    """The service's reading and windowing need only the tokenizer."""
    return TimelineService(None, tokenizer, params, {})


def _records(rows):
    """What stages/build_sft.py reads: the rows through parquet's pandas frame and JSON records."""
    return json.loads(pd.DataFrame(rows).to_json(orient="records"))


# the four play-by-play formats, and NDJSON, zstd NDJSON, CSV and listing comments between them
@pytest.mark.parametrize("game_id", ["S0001", "S0002", "S0003", "S0004"])
def test_a_served_game_gets_the_windows_and_prompts_build_sft_made(tmp_path, tokenizer, params, service, game_id):
    shutil.copytree(SAMPLES / game_id, tmp_path / "raw" / game_id)
    ingested = ingest.ingest(tmp_path / "raw", params.ingest)
    every_audience = dataclasses.replace(params.build_sft, train_audiences=0, quiet_train_keep=1.0)   # as served
    built = sft.build(_records(ingested.games), _records(ingested.plays), _records(ingested.comments),
                      ingested.gold, every_audience, tokenizer)
    pairs = [p for split in built.pairs.values() for p in split]

    (sample,) = [s for s in find_samples(SAMPLES) if s.id == game_id]
    pbp, files = sample.raw_files()
    game = service.read_raw(pbp, files, sample.meta)

    plans = sorted(game.plans, key=lambda p: (p.window.index, p.audience))
    pairs = sorted(pairs, key=lambda p: (p["window"]["index"], p["audience"]))
    assert len(plans) == len(pairs) >= 16
    for plan, pair in zip(plans, pairs):
        assert plan.window.info() == pair["window"] and plan.audience == pair["audience"]
        assert plan.prompt.messages == pair["prompt"]
        assert plan.prompt.comments_trimmed == pair["comments_trimmed"]
        assert plan.prompt.n_tokens == pair["prompt_tokens"]
        assert [c["body"] for c in plan.prompt.shown_comments] == pair["grounding"]["comments"]
        assert plan.prompt.grounding.as_rows() == pair["grounding"]["plays"]
    row = ingested.games[0]
    report = game.report
    assert ((report["pbp_format"], ",".join(sorted(set(report["comment_formats"]))))
            == (row["pbp_format"], row["comment_formats"]))
    assert ((report["alignment"]["method"], report["alignment"]["expected_error_s"])
            == (row["align_method"], row["align_error_s"]))
    assert report["comments"]["kept"] == row["n_comments"] == len(game.comments)
    assert report["comments"]["read"] == report["comments"]["kept"] + report["comments"]["rejected"]
    assert report["comments"]["rejected"] == sum(1 for r in ingested.rejections.items
                                                 if r["file"].endswith(tuple(f.name for f in files)))


def test_real_play_by_play_without_comments_is_windowed_without_alignment(service):
    data = (REAL / "stats_playbyplayv2_0021900001.json").read_bytes()
    game = service.read_raw(RawFile("v2.json", data))
    assert game.report["pbp_format"] == "stats_v2"
    assert game.report["alignment"]["method"] is None and game.comments == []
    assert (game.game["home_team"], game.game["away_team"], game.game["periods"]) == ("TOR", "NOP", 5)
    # 180 s windows; the last 3 minutes of Q4 and of the overtime in 45 s ones: 12 + (3 + 4) + (1 + 4)
    assert len(game.windows()) == 24
    assert game.audiences == ["comments"]   # no comments: one audience of none, the plays still listed
    final = game.windows()[-1].prompt.messages[1]["content"]
    assert "Final: TOR beat NOP 130-122 in overtime | heat 4 | no comments | here 0" in final   # the play alone


def test_bad_raw_input_says_which_file_and_what(service):
    pbp = (SAMPLES / "S0001" / "pbp.json").read_bytes()
    with pytest.raises(InputError) as err:
        service.read_raw(RawFile("box.json", b'{"boxscore": {}}'))
    assert (err.value.loc == ("pbp",) and "box.json" in err.value.message
            and "not a known play-by-play format" in err.value.message)
    with pytest.raises(InputError) as err:
        service.read_raw(RawFile("pbp.json", pbp),
                         [RawFile("ok.csv", b"id,body,createdAt,username\n"), RawFile("thread.txt", b"hello")])
    assert err.value.loc == ("comment_files", 1) and "thread.txt" in err.value.message
    assert err.value.where() == "comment_files[1]"
    # V2 stamps are local minutes: aligning comments needs the time zone, and the error says so
    thread = sorted((SAMPLES / "S0001" / "comments").iterdir())[0]
    with pytest.raises(InputError) as err:
        service.read_raw(RawFile("pbp.json", pbp), [RawFile(thread.name, thread.read_bytes())], {"date": "2025-10-21"})
    assert err.value.loc == ("game", "tz") and "time zone" in err.value.message
    with pytest.raises(InputError) as err:
        service.read_raw(RawFile("pbp.json", pbp, "espn"))
    assert err.value.loc == ("pbp",) and "pbp.json" in err.value.message


def test_canonical_rows_make_a_game_and_bad_rows_are_located(service):
    plays = [
        {"clock": "Q1 11:40", "event_type": "made_shot", "team": "HAR", "player": "Ada Okafor", "points": 3,
         "score_home": 3, "score_away": 0},
        {"clock": "Q1 11:10", "event_type": "block", "team": "MSA", "player": "Reyes", "player2": "Okafor",
         "score_home": 3, "score_away": 0},
    ]
    comments = [{"body": "OKAFOR FROM DEEP", "clock": "Q1 11:38", "flair_team": "HAR", "score": 5}]
    meta = {"home": {"team": "HAR", "name": "Harbor Herons"}, "away": {"team": "MSA"}}
    game = service.read_canonical(meta, plays, comments)
    assert len(game.windows()) == 4 and game.game["periods"] == 1
    first = game.windows()[0]
    assert [p["clock"] for p in first.window.plays] == ["Q1 11:40", "Q1 11:10"]
    assert "> HAR: OKAFOR FROM DEEP" in first.prompt.messages[1]["content"]
    three = next(g for g in first.prompt.grounding.plays if g.ts == "Q1 11:40")
    assert three.event == "Okafor (HAR) hits a three to put HAR ahead 3-0" and three.quotes == ("OKAFOR FROM DEEP",)

    with pytest.raises(InputError) as err:
        service.read_canonical(meta, list(reversed(plays)))
    assert err.value.loc == ("plays", 1, "clock") and "game order" in err.value.message
    with pytest.raises(InputError) as err:
        service.read_canonical({"home": {"team": "HAR"}}, plays)
    assert err.value.loc == ("game", "away")
    with pytest.raises(InputError) as err:
        service.read_canonical(meta, plays, [{"body": "x", "clock": "Q9 01:00"}])
    assert err.value.loc == ("comments", 0, "clock")
    with pytest.raises(InputError) as err:     # a real clock, but after the game's last period
        service.read_canonical(meta, plays, [*comments, {"body": "x", "clock": "OT9 01:00"}])
    assert err.value.loc == ("comments", 1, "clock") and "after the game" in err.value.message


def test_windows_are_checked_before_generating(service):
    game = service.read_raw(RawFile("v2.json", (REAL / "stats_playbyplayv2_0021900001.json").read_bytes()))
    assert service.select(game, [3, 1, 3]) == [1, 3]
    with pytest.raises(InputError) as err:
        service.select(game, [0, 24])
    assert err.value.loc == ("windows", 1) and "24 windows (0..23)" in err.value.message
    with pytest.raises(InputError) as err:
        game.audience("r/raptors")
    assert err.value.loc == ("audience",) and "comments" in err.value.message   # names the ones there are


def _result(index: int, entries: list[dict]):
    return SimpleNamespace(plan=SimpleNamespace(window=SimpleNamespace(index=index)), entries=entries)


def _e(ts: str, event: str = "something happened") -> dict:
    return {"ts": ts, "event": event, "fan_sentiment": "neutral"}


def test_merge_puts_entries_in_game_order_and_drops_a_play_told_twice():
    merged, dropped = merge_windows([
        _result(1, [_e("Q1 08:00"), _e("Q1 09:00", "the boundary play")]),      # overlapping windows share it
        _result(0, [_e("Q1 09:00", "the boundary play"), _e("Q1 10:00")]),      # most telling first, as listed
    ])
    assert [(m["ts"], m["event"]) for m in merged] == [
        ("Q1 10:00", "something happened"), ("Q1 09:00", "the boundary play"), ("Q1 08:00", "something happened")]
    assert dropped == 1


def test_queue_runs_one_job_at_a_time_and_refuses_beyond_its_bound():
    queue = JobQueue(max_waiting=1)
    queue.start()
    release = threading.Event()
    order: list[str] = []

    def job(name: str):
        def run():
            release.wait(10)
            order.append(name)
            return name
        return run

    first = queue.submit(job("a"))
    deadline = time.monotonic() + 5
    while queue.stats()["running"] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = queue.submit(job("b"))
    assert queue.stats() == {**queue.stats(), "running": 1, "waiting": 1}
    with pytest.raises(QueueFull) as full:
        queue.submit(job("c"))
    assert full.value.retry_after_s >= 1 and full.value.waiting == 1
    release.set()
    assert (first.result(5), second.result(5)) == ("a", "b") and order == ["a", "b"]
    assert queue.submit(job("d")).result(5) == "d"    # room again once the queue drained
    queue.stop()


def test_params_come_from_the_file_given_else_the_exports_provenance(tmp_path):
    recorded = {"ingest": {"reaction_lag_s": 9}, "build_sft": {"window_s": 240, "overlap_s": 0}}
    prov = export.provenance(tmp_path / "missing.lock", recorded)   # what the export stage writes
    atomic.write_json(tmp_path / "provenance.json", prov)
    read = read_provenance(tmp_path)
    assert read["params"] == recorded and read["dvc_lock"] == {} and read["git_commit"]
    from_export = pipeline_params(read)
    assert (from_export.build_sft.window_s, from_export.ingest.reaction_lag_s, from_export.warning) == (240, 9, "")
    assert "provenance.json" in from_export.source

    explicit = pipeline_params(read, ROOT / "params.yaml")
    assert explicit.source.startswith("params file") and explicit.build_sft.window_s == 180

    defaults = pipeline_params(read_provenance(tmp_path / "no-such-model"))
    assert defaults.source.startswith("defaults") and defaults.warning
    (tmp_path / "provenance.json").write_text("{not json")
    assert read_provenance(tmp_path) == {}


def test_model_card_shows_the_provenance_hashes(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(yaml.safe_dump({"stages": {"build_sft": {"outs": [{"path": "data/sft", "md5": "feed.dir"}]},
                                               "ingest": {"deps": [{"path": "data/raw/sample", "md5": "beef.dir"}]}}}))
    prov = export.provenance(lock, {"ingest": {}, "build_sft": {}})
    assert prov["dvc_lock"] == {"build_sft": {"data/sft": "feed.dir"}, "ingest": {"data/raw/sample": "beef.dir"}}
    card = export.model_card({"base_model": "embedded:SmolLM2-135M-Instruct"}, {"runs": {}},
                             {"equal": 1, "prompts": 1}, prov)
    assert "`data/sft`: feed.dir" in card and "`data/raw/sample`: beef.dir" in card
    assert f"git commit `{prov['git_commit']}`" in card

"""ingest and build_sft as libraries on freshly simulated games: accounting, failures, splits."""

import json
import shutil

import pytest

from fan_timeline import schema
from fan_timeline.config import BuildSftConfig, IngestConfig
from fan_timeline.ingest import IngestError, ingest
from fan_timeline.sft import SPLITS, build, split_games
from fan_timeline.simulate import simulate
from fan_timeline.sport import label_to_game_seconds


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    simulate(out, 4, 3)          # one game per play-by-play format
    return out


@pytest.fixture(scope="module")
def ingested(raw):
    return ingest(raw, IngestConfig())


def test_every_row_is_kept_or_rejected_with_a_reason(ingested):
    m = ingested.metrics
    assert m["games"] == 4 and set(m["pbp"]) == {"stats_v2", "stats_v3", "cdn_live", "espn"}
    for fmt, counts in {**m["pbp"], **m["comment_files"]}.items():
        assert counts["read"] == counts["kept"] + counts["rejected"], fmt
        assert counts["rejected"] == sum(counts["rejected_by_reason"].values()), fmt
    assert m["comments"] == sum(c["kept"] for c in m["comment_files"].values())
    assert len(ingested.rejections) == m["rejected"]
    reasons = {r["reason"] for r in ingested.rejections.items}
    assert {"bot", "deleted", "outside_game_window"} <= reasons
    assert all(r["file"] and r["reason"] for r in ingested.rejections.items)


def test_authors_are_pseudonymised_and_raw_files_untouched(raw, ingested):
    raw_text = "".join(p.read_text(errors="ignore") for p in raw.rglob("*.ndjson"))
    authors = {c["author"] for c in ingested.comments}
    assert all(a.startswith("u_") or a == "[deleted]" for a in authors)
    assert not any(f'"author": "{a}"' in raw_text for a in authors if a != "[deleted]")


def test_alignment_method_follows_the_format(ingested):
    methods = {g["pbp_format"]: g["align_method"] for g in ingested.games}
    assert methods == {"stats_v2": "minute_stamps", "cdn_live": "per_play_utc", "stats_v3": "period_anchors",
                       "espn": "per_play_utc"}
    assert all(g["align_error_s"] > 0 for g in ingested.games)


def test_unreadable_file_stops_ingest_naming_the_file(raw, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(raw, bad)
    target = sorted(bad.glob("*/comments/*"))[0]
    target.write_bytes(b"\x28\xb5\x2f\xfd garbage that is not zstd")
    with pytest.raises(IngestError, match=target.name):
        ingest(bad, IngestConfig())


def test_bad_game_json_is_a_clear_error(raw, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(raw, bad)
    game_json = sorted(bad.glob("*/game.json"))[0]
    meta = json.loads(game_json.read_text())
    meta["hometeam"] = "X"
    game_json.write_text(json.dumps(meta))
    with pytest.raises(IngestError, match=r"unknown key\(s\) \['hometeam'\]"):
        ingest(bad, IngestConfig())


def test_split_is_by_game_deterministic_and_covers_every_split():
    ids = [f"G{i:03d}" for i in range(12)]
    cfg = BuildSftConfig()
    split = split_games(ids, cfg)
    assert split == split_games(list(reversed(ids)), cfg)
    assert {s: sum(v == s for v in split.values()) for s in SPLITS} == {"train": 8, "val": 2, "test": 2}
    assert split_games(ids, BuildSftConfig(split_salt="other")) != split


def test_build_pairs_are_valid_and_never_share_a_game(ingested, tokenizer):
    cfg = BuildSftConfig(max_prompt_tokens=600)
    result = build(ingested.games, ingested.plays, ingested.comments, ingested.gold, cfg, tokenizer)
    games_by_split = {s: {p["game_id"] for p in result.pairs[s]} for s in SPLITS}
    assert all(games_by_split[s] for s in SPLITS)
    assert not (games_by_split["train"] & games_by_split["test"]) and not (games_by_split["val"] & games_by_split["test"])
    for s in SPLITS:
        for p in result.pairs[s]:
            parsed = json.loads(p["completion"][0]["content"])
            assert schema.validate_timeline(parsed) == []
            assert p["completion"][0]["content"] == schema.dump_timeline(parsed["timeline"])
            for e in parsed["timeline"]:
                assert p["window"]["start_s"] <= schema_ts(e) <= p["window"]["end_s"]
                assert "quote" not in e or e["quote"] in p["grounding"]["comments"]
    m = result.metrics
    assert m["label_sources"]["train"] == {"gold": m["pairs"]["train"]}
    assert 0 < m["teacher_vs_gold"]["event_f1"] <= 1
    assert m["prompt_tokens"]["train"]["max"] <= 600 or m["trimming"]["prompts_over_budget"] > 0


def test_build_in_parallel_processes_equals_one_process(ingested, tokenizer):
    cfg = BuildSftConfig(max_prompt_tokens=600)
    one = build(ingested.games, ingested.plays, ingested.comments, ingested.gold, cfg, tokenizer)
    three = build(ingested.games, ingested.plays, ingested.comments, ingested.gold, cfg, tokenizer, workers=3)
    assert three.pairs == one.pairs and three.metrics == one.metrics and three.manifest == one.manifest
    assert sum(len(v) for v in one.pairs.values()) > 0 and one.metrics["teacher_vs_gold"]["matched"] > 0


def schema_ts(entry):
    return label_to_game_seconds(entry["ts"])


def test_outputs_load_with_hf_datasets(tmp_path, ingested, tokenizer):
    import datasets

    from fan_timeline import atomic
    result = build(ingested.games, ingested.plays, ingested.comments, ingested.gold, BuildSftConfig(), tokenizer)
    files = {}
    for s in SPLITS:
        files[s] = str(tmp_path / f"{s}.jsonl")
        atomic.write_jsonl(files[s], result.pairs[s])
    ds = datasets.load_dataset("json", data_files=files)
    assert ds["train"].num_rows == len(result.pairs["train"])
    row = ds["train"][0]
    assert row["prompt"][0]["role"] == "system" and row["completion"][0]["role"] == "assistant"

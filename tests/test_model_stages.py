"""evaluate and export on a briefly (3 steps) fine-tuned adapter of the embedded model.

Pairs come from freshly simulated games through ingest and build_sft; the adapter from 3 real
training steps, which teach it little: what is checked of its timelines is what the grounded
grammar guarantees whatever the model picks (each entry one of the window's listed plays, written as
its fact, quoted only from the comments shown under it), not what a fan would pick. Proves:
evaluate scores exactly what it generated; an empty run's summary has every field, with nothing
found and nothing claimed; export's merged model writes what the adapter model writes, in
fan_timeline and in a user's plain transformers script. Generation budgets are cut short where the
test is not about the budget.

Run: pytest tests/test_model_stages.py   (no network)
"""

import json
import os
import subprocess
import sys

import pytest

from fan_timeline import schema
from fan_timeline.config import BuildSftConfig, IngestConfig, TrainConfig
from fan_timeline.evaluate import RunScore, evaluate_model
from fan_timeline.export import export
from fan_timeline.ingest import ingest
from fan_timeline.model import load_model
from fan_timeline.schema import timeline_from_text
from fan_timeline.sft import build
from fan_timeline.simulate.cli import simulate
from fan_timeline.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, tokenizer):
    raw = tmp_path_factory.mktemp("raw")
    simulate(raw, 3, 5)
    res = ingest(raw, IngestConfig())
    built = build(res.games, res.plays, res.comments, res.gold, BuildSftConfig(max_prompt_tokens=400), tokenizer)
    everything = [p for split in ("train", "val", "test") for p in built.pairs[split]]
    with_moments = [p for p in everything if p["n_entries"]]
    return sorted(with_moments, key=lambda p: p["prompt_tokens"])[:6]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, pairs):
    d = tmp_path_factory.mktemp("train")
    data = d / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    cfg = TrainConfig(max_steps=3, grad_accum=1, learning_rate=1e-3, lora_layers=4, max_seq_len=1024,
                      micro_batch_tokens=1024, checkpoint_every=0, eval_every=0, val_examples=2, nproc=1,
                      decision_weight=1.0)
    metrics = train(cfg, train_path=data, val_path=data, out_dir=d / "adapter", checkpoint_dir=d / "ckpt",
                    curves_dir=d / "curves", metrics_path=d / "train.json", progress=False)
    assert metrics["steps"] == 3
    return d / "adapter"


@pytest.fixture(scope="module")
def tuned(adapter):
    """(model, tokenizer): the adapter on its base, merged, as evaluate loads it."""
    return load_model(json.loads((adapter / "train_config.json").read_text())["base_model"], adapter=str(adapter))


@pytest.fixture(scope="module")
def evaluated(tuned, pairs):
    model, tokenizer = tuned
    return evaluate_model("finetuned", model, tokenizer, pairs[:2], tol_s=20, batch_size=2, free_max_new_tokens=40,
                          progress=lambda _: None)


def test_evaluate_model_scores_what_it_generated(evaluated):
    assert sorted(evaluated) == ["finetuned_constrained", "finetuned_free"]
    for name, (score, predictions) in evaluated.items():
        s = score.summary()
        assert s["windows"] == 2 and len(predictions) == 2
        valid = [timeline_from_text(p["text"])[0] is not None for p in predictions]
        assert s["json_validity"] == sum(valid) / 2
        assert all(p["run"] == name and p["reference"] >= 1 for p in predictions)
        assert s["tokens_per_s"] > 0
    assert all(p["n_new_tokens"] <= 40 for p in evaluated["finetuned_free"][1])


def test_constrained_timelines_have_the_grammars_guarantees(evaluated, pairs):
    """Whatever the 3-step adapter picks: valid and complete, every entry one of the window's listed
    plays at its clock, in its fact's words, with the play's feeling where the window fixes one and
    quoted from the comments shown under it (never quoted where none were shown)."""
    score, predictions = evaluated["finetuned_constrained"]
    s = score.summary()
    assert s["json_validity"] == s["schema_compliance"] == s["finished"] == 1.0
    assert s["fact_precision"] == 1.0 and s["hallucinated_name_rate"] == 0.0 and s["ts_outside_window_rate"] == 0.0
    entries = 0
    for pair, prediction in zip(pairs[:2], predictions, strict=True):
        assert prediction["id"] == pair["id"]
        plays = {(p.ts, p.event): p for p in schema.Grounding.of(pair["grounding"]["plays"]).plays}
        parsed, errors = timeline_from_text(prediction["text"])
        assert errors == [] and prediction["text"] == schema.dump_timeline(parsed["timeline"])
        for e in parsed["timeline"]:
            entries += 1
            play = plays[(e["ts"], e["event"])]                          # KeyError: not a listed play
            assert e.get("quote") in play.quotes if play.quotes else "quote" not in e, e
            assert play.feeling is None or e["fan_sentiment"] == play.feeling, e
    assert entries, "the adapter writes entries in these windows: the checks above ran"
    assert s["entries"] == entries and s["quote_grounding"] == (1.0 if s["quotes"] else 0.0)


def test_an_empty_run_has_every_field_nothing_found_and_nothing_claimed(evaluated):
    """A run of no windows (e.g. no stress windows) summarises with the fields of a scored run, all
    finite: no window was read or written, and with nothing to find and nothing claimed, no moment
    is missed, no fact is false, no name invented."""
    s = RunScore(20).summary()
    assert set(s) == set(evaluated["finetuned_constrained"][0].summary())
    json.dumps(s, allow_nan=False)    # every value finite: metrics/eval.json and the report read it
    assert {k: s[k] for k in ("windows", "games", "entries", "quotes", "matched", "predicted", "reference",
                              "sentiment_pairs")} == dict.fromkeys(
        ("windows", "games", "entries", "quotes", "matched", "predicted", "reference", "sentiment_pairs"), 0)
    assert s["json_validity"] == s["schema_compliance"] == s["finished"] == s["tokens_per_s"] == 0.0
    assert s["event_precision"] == s["event_recall"] == s["event_f1"] == s["event_f1_ts_only"] == 1.0
    assert s["fact_precision"] == 1.0 and s["hallucinated_name_rate"] == s["ts_outside_window_rate"] == 0.0
    assert s["quote_rate"] == s["quote_grounding"] == s["entries_per_game"] == 0.0


def test_export_passes_parity_and_loads_with_plain_transformers(tmp_path, adapter, pairs, tuned):
    out = tmp_path / "export"
    recorded = {"ingest": {"reaction_lag_s": 15}, "build_sft": {"window_s": 180}}
    metrics = export(adapter, out, pairs, parity_prompts=2, eval_metrics={"runs": {}},
                     lock_path=tmp_path / "missing.lock", pipeline_params=recorded, max_new_tokens=40,
                     gguf=("f16",))
    assert metrics["parity_ok"] and metrics["parity_equal"] == 2
    # the GGUF (the embedded base's own tokenizer metadata) says what the merged model says
    assert metrics["gguf"]["formats"]["f16"]["parity_equal"] == 2 and (out / "gguf" / "model-f16.gguf").is_file()
    modelfile = (out / "gguf" / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model-f16.gguf") and pairs[0]["prompt"][0]["content"] in modelfile
    for name in ("model.safetensors", "config.json", "tokenizer_config.json", "timeline.schema.json", "README.md",
                 "provenance.json", "adapter/adapter_model.safetensors", "adapter/adapter_config.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "provenance.json").read_text())["params"] == recorded
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert "Parity of this merged model with the adapter model: 2/2" in (out / "README.md").read_text()
    # A user's script: transformers only, no fan_timeline import, no network. Its greedy tokens are
    # exactly those of the fine-tuned model as fan_timeline loads it.
    messages = [{"role": "user", "content": "MSA at HAR"}]
    script = (
        "import json, sys, transformers as t\n"
        "tok = t.AutoTokenizer.from_pretrained(sys.argv[1]); m = t.AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        f"ids = tok.apply_chat_template({messages!r}, add_generation_prompt=True,"
        " return_tensors='pt', return_dict=True)['input_ids']\n"
        "out = m.generate(ids, max_new_tokens=5, do_sample=False)\n"
        "assert 'fan_timeline' not in sys.modules\n"
        "print('NEW', json.dumps(out[0, ids.shape[1]:].tolist()))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    written = json.loads(res.stdout.split("NEW", 1)[1])

    import torch

    model, tokenizer = tuned
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.inference_mode():
        expected = model.generate(ids, max_new_tokens=5, do_sample=False)[0, ids.shape[1]:].tolist()
    assert written == expected and 1 <= len(written) <= 5, (written, expected)

"""evaluate and export on a real (briefly) fine-tuned adapter of the embedded model.

Pairs come from freshly simulated games through ingest and build_sft; the adapter from 3 real
training steps. Generation budgets are cut short where the test is not about the budget.
"""

import json
import os
import subprocess
import sys

import pytest

from fan_timeline.config import BuildSftConfig, IngestConfig, TrainConfig
from fan_timeline.evaluate import RunScore, evaluate_model
from fan_timeline.export import export
from fan_timeline.generate import load_model, timeline_from_text
from fan_timeline.ingest import ingest
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
                      micro_batch_tokens=1024, checkpoint_every=0, eval_every=0, val_examples=2)
    metrics = train(cfg, train_path=data, val_path=data, out_dir=d / "adapter", checkpoint_dir=d / "ckpt",
                    curves_dir=d / "curves", metrics_path=d / "train.json", progress=False)
    assert metrics["steps"] == 3
    return d / "adapter"


def test_evaluate_model_scores_what_it_generated(adapter, pairs):
    model, tokenizer = load_model(json.loads((adapter / "train_config.json").read_text())["base_model"],
                                  adapter=str(adapter))
    runs = evaluate_model("finetuned", model, tokenizer, pairs[:2], tol_s=20, batch_size=2, free_max_new_tokens=40,
                          progress=lambda _: None)
    assert sorted(runs) == ["finetuned_constrained", "finetuned_free"]
    for name, (score, predictions) in runs.items():
        s = score.summary()
        assert s["windows"] == 2 and len(predictions) == 2
        valid = [timeline_from_text(p["text"])[0] is not None for p in predictions]
        assert s["json_validity"] == sum(valid) / 2
        assert all(p["run"] == name and p["reference"] >= 1 for p in predictions)
        assert s["tokens_per_s"] > 0 and isinstance(RunScore(20).summary()["event_f1"], float)
    assert all(p["n_new_tokens"] <= 40 for p in runs["finetuned_free"][1])
    # The grounded grammar's budget always lets the output close: every constrained one is valid.
    # and its facts are the window's own, by construction, whatever the 3-step adapter picks.
    con = runs["finetuned_constrained"][0].summary()
    assert con["json_validity"] == 1.0 and con["fact_precision"] == 1.0 and con["hallucinated_name_rate"] == 0.0
    assert con["ts_outside_window_rate"] == 0.0


def test_export_passes_parity_and_loads_with_plain_transformers(tmp_path, adapter, pairs):
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
    # A user's script: transformers only, no fan_timeline import, no network.
    script = (
        "import sys, transformers as t\n"
        "tok = t.AutoTokenizer.from_pretrained(sys.argv[1]); m = t.AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "ids = tok.apply_chat_template([{'role': 'user', 'content': 'MSA at HAR'}], add_generation_prompt=True,"
        " return_tensors='pt', return_dict=True)['input_ids']\n"
        "out = m.generate(ids, max_new_tokens=5, do_sample=False)\n"
        "assert 'fan_timeline' not in sys.modules\n"
        "print('NEW', out.shape[1] - ids.shape[1])\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "NEW 5" in res.stdout or "NEW" in res.stdout and int(res.stdout.split("NEW")[1]) >= 1

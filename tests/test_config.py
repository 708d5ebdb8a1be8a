"""params.yaml loading: typed, frozen, and loud about typos (no network, no model)."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fan_timeline.config import (
    SECTIONS,
    BuildSftConfig,
    ConfigError,
    EvaluateConfig,
    ExportConfig,
    IngestConfig,
    TrainConfig,
    load_section,
    set_values,
    tracked_keys,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def test_repo_params_load(tmp_path):
    ingest = load_section(IngestConfig, "params.yaml")
    sft = load_section(BuildSftConfig, "params.yaml")
    assert ingest.reaction_lag_s == "auto"
    assert load_section(IngestConfig, write(tmp_path, "ingest: {reaction_lag_s: 15}\n")).reaction_lag_s == 15.0
    assert sft.window_s > sft.overlap_s
    train = load_section(TrainConfig, "params.yaml")
    assert isinstance(train.target_modules, tuple) and train.lora_alpha == 32.0
    assert load_section(EvaluateConfig, "params.yaml").ts_tolerance_s > 0
    assert load_section(ExportConfig, "params.yaml").parity_prompts >= 1


def test_configs_made_in_code_are_checked_too():
    with pytest.raises(ConfigError, match=r"train_qlora.packing: 'yes': Input should be a valid boolean"):
        TrainConfig(packing="yes")
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


def test_config_is_frozen(tmp_path):
    cfg = load_section(IngestConfig, write(tmp_path, "ingest: {reaction_lag_s: 20}\n"))
    assert cfg.reaction_lag_s == 20.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.reaction_lag_s = 1.0


def test_misspelled_key_names_key_section_and_suggestion(tmp_path):
    with pytest.raises(ConfigError,
                       match=r"section 'ingest': unknown key 'reaction_lag'.*did you mean 'reaction_lag_s'"):
        load_section(IngestConfig, write(tmp_path, "ingest: {reaction_lag: 20}\n"))


@pytest.mark.parametrize("text, match", [
    ("ingest: {reaction_lag_s: fast}\n",
     r"ingest.reaction_lag_s: 'fast': Input should be a valid number; or Input should be 'auto'"),
    ("ingest: {reaction_lag_s: true}\n", r"reaction_lag_s: True: Input should be a valid number"),
    ("ingest: {reaction_lag_s: 999}\n", r"within 0..300"),
    ("build_sft: {window_s: 100, overlap_s: 100}\n", r"overlap_s must be"),
    ("build_sft: {max_shown: 2.5}\n", r"build_sft.max_shown: 2.5: Input should be a valid integer"),
    ("train_qlora: {target_modules: [q_proj, 7]}\n",
     r"target_modules: \('q_proj', 7\): item \[1\]: Input should be a valid string"),
    ("train_qlora: {lora_r: '8'}\n", r"lora_r: '8': Input should be a valid integer"),
    ("other: {}\n", r"missing section"),
    ("ingest: [\n", r"not valid YAML"),
])
def test_bad_values_are_clear(tmp_path, text, match):
    cls = {"build_sft": BuildSftConfig, "train_qlora": TrainConfig}.get(text.split(":")[0], IngestConfig)
    with pytest.raises(ConfigError, match=match):
        load_section(cls, write(tmp_path, text))


def shipped_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_defaults_are_the_shipped_params_every_key_spelled_out():
    """One source of truth: the dataclass defaults are what params.yaml ships, key for key, so a
    config built in code (tests, benchmarks, a served game with no recorded params) runs the
    pipeline's recipe, and the pipeline never falls back on a default params.yaml does not show."""
    shipped = shipped_params()
    for cls in SECTIONS:
        assert load_section(cls, REPO / "params.yaml") == cls(), cls.SECTION
        runtime = shipped["runtime"].get(cls.SECTION, {})
        assert set(runtime) == set(cls.RUNTIME), cls.SECTION
        assert set(shipped[cls.SECTION]) | set(runtime) == {f.name for f in dataclasses.fields(cls)}, cls.SECTION


def test_dvc_yaml_tracks_every_key_that_changes_results_and_no_runtime_key():
    """Per-key params: a stage reruns for the keys of its own section(s) that can change what it
    writes, never for a runtime key (threads, logging, checkpoints, inference batch, read limits)."""
    by_section = {cls.SECTION: cls for cls in SECTIONS}
    reads = {"build_sft": ["train_qlora.base_model"], "train_qlora": ["evaluate.ts_tolerance_s"],
             "export": tracked_keys(IngestConfig) + tracked_keys(BuildSftConfig)}   # read from other sections
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["params"] == tracked_keys(by_section[name]) + reads.get(name, []), name
    runtime = {f"{s}.{k}" for s, keys in shipped_params()["runtime"].items() for k in keys}
    assert runtime and not runtime & {k for stage in stages.values() for k in stage["params"]}


def dvc_params_status(repo: Path) -> dict[str, dict[str, str]]:
    """Stage -> {tracked key: change} of `dvc status` (real DVC) for params.yaml alone."""
    out = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    changes = {}
    for stage, items in json.loads(out).items():
        for item in items:
            params = item.get("changed deps", {}).get("params.yaml") if isinstance(item, dict) else None
            if params:
                changes[stage] = params
    return changes


def test_a_runtime_key_reruns_nothing_a_result_key_reruns_its_stages(tmp_path):
    """Real DVC over the committed dvc.yaml, params.yaml and dvc.lock: the lock holds every tracked
    value as shipped; changing `runtime.train_qlora.logging_every` changes no stage's params,
    changing `train_qlora.lora_r` changes train_qlora's alone."""
    for name in ("dvc.yaml", "params.yaml", "dvc.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    assert dvc_params_status(tmp_path) == {}   # dvc.lock is current with params.yaml
    params = shipped_params()
    params["runtime"]["train_qlora"]["logging_every"] += 3
    params["runtime"]["evaluate"]["batch_size"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert dvc_params_status(tmp_path) == {}
    params["train_qlora"]["lora_r"] *= 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert dvc_params_status(tmp_path) == {"train_qlora": {"train_qlora.lora_r": "modified"}}


def test_a_runtime_key_in_its_tracked_section_is_refused_naming_where_it_goes(tmp_path):
    with pytest.raises(ConfigError, match=r"train_qlora.threads changes speed or logs, not results: set it under "
                                          r"runtime.train_qlora"):
        load_section(TrainConfig, write(tmp_path, "train_qlora: {threads: 2}\n"))
    with pytest.raises(ConfigError, match=r"runtime.train_qlora.lora_r is not a runtime key of 'train_qlora' "
                                          r"\(its runtime keys: threads, logging_every, compile, checkpoint_every\)"):
        load_section(TrainConfig, write(tmp_path, "train_qlora: {}\nruntime: {train_qlora: {lora_r: 8}}\n"))
    with pytest.raises(ConfigError, match=r"runtime.build_sft: no such section with runtime keys"):
        load_section(TrainConfig, write(tmp_path, "train_qlora: {}\nruntime: {build_sft: {}}\n"))
    cfg = load_section(TrainConfig, write(tmp_path, "train_qlora: {}\nruntime: {train_qlora: {threads: 2}}\n"))
    assert cfg.threads == 2 and cfg.lora_r == TrainConfig().lora_r


def test_set_values_writes_each_key_where_load_section_reads_it(tmp_path):
    params = shipped_params()
    set_values(params, "train_qlora", {"lora_r": 4, "checkpoint_every": 1})
    set_values(params, "evaluate", {"batch_size": 2, "max_windows": 3})
    path = write(tmp_path, yaml.safe_dump(params))
    train, evaluate = load_section(TrainConfig, path), load_section(EvaluateConfig, path)
    assert (train.lora_r, train.checkpoint_every, evaluate.batch_size, evaluate.max_windows) == (4, 1, 2, 3)
    assert params["runtime"]["train_qlora"]["checkpoint_every"] == 1 and "checkpoint_every" not in params["train_qlora"]


def test_self_describing_values():
    assert TrainConfig(eval_every="epoch").eval_every == "epoch" and TrainConfig(eval_every=7).eval_every == 7
    assert TrainConfig(calibration_windows="none").calibration_windows == "none"
    with pytest.raises(ConfigError, match="eval_every"):
        TrainConfig(eval_every="weekly")
    with pytest.raises(ConfigError, match="calibration_windows must be >= 0"):
        TrainConfig(calibration_windows=-1)

"""params.yaml loading: typed, frozen, and loud about typos (no network, no model)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from fan_timeline.config import (
    BuildSftConfig,
    ConfigError,
    EvaluateConfig,
    ExportConfig,
    IngestConfig,
    TrainConfig,
    as_dict,
    load_section,
)


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


def test_data_section_defaults_are_the_shipped_params():
    """A served game with no recorded params is read and windowed with the defaults: they must be
    the default pipeline's."""
    shipped = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    for cls in (IngestConfig, BuildSftConfig):
        assert as_dict(cls()) == shipped[cls.SECTION]


def test_shipped_params_spell_out_every_key():
    """The pipeline never falls back on a dataclass default: what it runs is all in params.yaml."""
    shipped = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    for cls in (IngestConfig, BuildSftConfig, TrainConfig, EvaluateConfig, ExportConfig):
        assert set(shipped[cls.SECTION]) == {f.name for f in dataclasses.fields(cls)}, cls.SECTION

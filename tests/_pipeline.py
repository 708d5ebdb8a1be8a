"""Helpers of the tests that run real DVC (not collected): a scratch repository with this checkout's
pipeline code, commands run in it, and the one run of all five stages that the tests share
(conftest.py's `pipeline_run`; a test that changes a repository works on a copy of it). No network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# The shared run's model stages, as small as they go: 2 training steps of a tiny model, 1 test window
# per run, 1 parity prompt, no GGUF.
TINY_PARAMS = {
    "train_qlora": {"max_steps": 2, "grad_accum": 1, "lora_layers": 2, "lora_r": 4, "val_examples": 2,
                    "checkpoint_every": 1, "calibration_windows": 2},
    "evaluate": {"max_windows": 1, "free_windows": 1, "stress_windows": 1, "base_windows": 1,
                 "base_free_windows": 1, "batch_size": 1, "free_max_new_tokens": 16},
    "export": {"parity_prompts": 1, "gguf": []},
}


def run(cmd: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> str:
    """Run `cmd` in `cwd` with this venv's executables first on PATH; its stdout + stderr. Fails the
    test, with both, if it exits non-zero."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def stages_ran(output: str) -> set[str]:
    """The stages a `dvc repro` or `dvc exp run` output says it ran."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


def set_params(repo: Path, **sections) -> None:
    """Set params.yaml keys of `repo`, each where the stages read it (a runtime key under `runtime`)."""
    from fan_timeline.config import set_values

    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        set_values(params, section, values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def lock_out(repo: Path, stage: str, path: str) -> str:
    """The md5 dvc.lock records for one output of a stage."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path)


def make_scratch_repo(repo: Path, games: int = 3, seed: int = 11) -> Path:
    """A git + DVC repository at `repo` with this checkout's pipeline code, whose `simulate` stage has
    written `games` sample games and one stress game (its run in dvc.lock, not yet committed)."""
    repo.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO / name, repo / name)
    shutil.copytree(REPO / "stages", repo / "stages")
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    set_params(repo, simulate={"games": games, "seed": seed, "stress_games": 1, "stress_seed": seed + 1})
    assert stages_ran(run(["dvc", "repro", "simulate"], repo)) == {"simulate"}
    assert len(list((repo / "data" / "raw" / "sample").iterdir())) == games
    return repo


def tiny_model(out: Path, base_model_path: str) -> Path:
    """A 2-layer, 64-wide Llama with the SmolLM2 tokenizer and random weights (~3.4 M parameters):
    `train_qlora.base_model` may be any local checkpoint directory, and with this one the stages'
    time goes to DVC and the stage code, not to the model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(base_model_path)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base_model_path).save_pretrained(out)
    return out


@dataclass(frozen=True)
class PipelineRun:
    """A committed repository holding one finished run of all five stages (`five_stage_run`), and
    what its `dvc repro` commands printed, in order."""

    repo: Path
    data_stages: str    # `dvc repro build_sft` after simulate
    data_again: str     # the same command once more
    model_stages: str   # then `dvc repro`

    def copy(self, dest: Path) -> Path:
        """The repository with its git history and DVC cache at `dest`, for a test that changes it."""
        shutil.copytree(self.repo, dest, symlinks=True)
        return dest


def five_stage_run(root: Path, base_model_path: str) -> PipelineRun:
    """Under `root`: a tiny model and a scratch repository (3 sample games, 1 stress game) that runs the
    data stages, then the model stages on the tiny model with `TINY_PARAMS`; committed after each."""
    model = tiny_model(root / "tiny-model", base_model_path)
    repo = make_scratch_repo(root / "repo")
    set_params(repo, **{**TINY_PARAMS, "train_qlora": {**TINY_PARAMS["train_qlora"], "base_model": str(model)}})
    commit(repo, "code and raw data")
    data_stages = run(["dvc", "repro", "build_sft"], repo)
    data_again = run(["dvc", "repro", "build_sft"], repo)
    model_stages = run(["dvc", "repro"], repo)
    commit(repo, "tiny run")
    return PipelineRun(repo, data_stages, data_again, model_stages)

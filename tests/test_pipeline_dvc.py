"""The data stages through real DVC: repro, no-op repro, and a param change that reruns only its stage.
And dvc.yaml declares, for every stage, each project module its script can run.

Runs `dvc` in a scratch copy of the repository with 3 freshly simulated games and 1 stress game
(no network).
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fan_timeline.simulate.cli import simulate

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env_extra: dict[str, str] | None = None) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def make_scratch_repo(repo: Path, games: int = 3, seed: int = 11) -> Path:
    """A git + DVC repository at `repo` with this checkout's pipeline code, whose `simulate` stage has
    written `games` sample games and one stress game (its run in dvc.lock, not yet committed).

    Shared with the other tests that run real DVC (test_remote, test_faults).
    """
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


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], repo)


def project_modules(script: Path) -> set[str]:
    """Repository paths of the fan_timeline modules `script` imports, directly or through each other
    (imports inside functions too: a stage may run any of them; not those under `if TYPE_CHECKING:`)."""
    found: set[str] = set()
    todo = [script]
    while todo:
        tree = ast.parse(todo.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):   # imports only a type checker runs are not run by the stage
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                node.body = []
        names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if not name.startswith("fan_timeline."):
                continue
            path = REPO / "src" / (name.replace(".", "/") + ".py")
            path = path if path.exists() else path.with_suffix("") / "__init__.py"
            rel = path.relative_to(REPO).as_posix()
            if path.exists() and rel not in found:
                found.add(rel)
                todo.append(path)
    return found


def test_every_stage_depends_on_the_code_it_runs():
    """A module a stage imports but dvc.yaml does not list would change outputs without a rerun."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
        script = next(d for d in deps if d.startswith("stages/"))
        assert script in stage["cmd"]
        modules = project_modules(REPO / script)
        library = {"build_sft": "sft.py", "train_qlora": "train/recipe.py", "simulate": "simulate/cli.py"}.get(
            name, f"{name}.py")
        assert f"src/fan_timeline/{library}" in modules  # the walk finds at least the stage's own library
        missing = {m for m in modules if m not in deps and not any(m.startswith(d + "/") for d in deps)}
        assert not missing, f"dvc.yaml stage {name} runs {sorted(missing)} but does not list them in deps"


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> Path:
    return make_scratch_repo(tmp_path_factory.mktemp("pipeline") / "repo")


def stages_ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.mark.slow
def test_repro_then_noop_then_param_change_reruns_only_its_stage(scratch_repo):
    first = run(["dvc", "repro", "build_sft"], scratch_repo)
    assert stages_ran(first) == {"ingest", "build_sft"}
    assert (scratch_repo / "data" / "sft" / "train.jsonl").stat().st_size > 0
    assert (scratch_repo / "dvc.lock").is_file()

    again = run(["dvc", "repro", "build_sft"], scratch_repo)
    assert stages_ran(again) == set()
    run(["git", "add", "-A"], scratch_repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first run"], scratch_repo)

    params = yaml.safe_load((scratch_repo / "params.yaml").read_text())
    params["build_sft"]["max_shown"] = 1
    (scratch_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = run(["dvc", "repro", "build_sft"], scratch_repo)
    assert stages_ran(changed) == {"build_sft"}
    shown = run(["dvc", "params", "diff"], scratch_repo)
    assert "build_sft.max_shown" in shown and "2" in shown and "1" in shown
    assert "pairs" in run(["dvc", "metrics", "show"], scratch_repo)


def lock_out(repo: Path, stage: str, path: str) -> str:
    """The md5 dvc.lock records for one output of a stage."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path)


def set_params(repo: Path, **sections) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_all_five_stages_then_an_evaluate_param_reruns_what_reads_it(scratch_repo):
    """The model stages with tiny settings (2 training steps, 1 test window, 1 parity prompt)."""
    set_params(scratch_repo,
               train_qlora={"max_steps": 2, "grad_accum": 1, "lora_layers": 2, "val_examples": 2,
                            "checkpoint_every": 1, "calibration_windows": 2},
               evaluate={"max_windows": 1, "free_windows": 1, "stress_windows": 1, "base_windows": 1,
                         "base_free_windows": 1, "batch_size": 1, "free_max_new_tokens": 16},
               export={"parity_prompts": 1, "gguf": []})
    first = run(["dvc", "repro"], scratch_repo)
    assert stages_ran(first) == {"train_qlora", "evaluate", "export"}   # data stages are up to date
    for path in ("models/adapter/adapter_model.safetensors", "models/export/model.safetensors",
                 "metrics/train.json", "metrics/eval.json", "metrics/export.json", "data/eval/predictions.jsonl"):
        assert (scratch_repo / path).is_file(), path
    assert json.loads((scratch_repo / "metrics/export.json").read_text())["parity_ok"] is True
    evaluated = json.loads((scratch_repo / "metrics/eval.json").read_text())
    runs = evaluated["runs"]
    assert (runs["finetuned_constrained"]["schema_compliance"] == 1.0
            and runs["base_constrained"]["schema_compliance"] == 1.0)
    like_for_like = evaluated["on_base_subset"]["finetuned_constrained"]   # 1 window: the same as the full run
    assert like_for_like == {k: runs["finetuned_constrained"][k] for k in like_for_like}
    assert {"rule", "grid", "base_constrained", "base_free", "finetuned_free"} <= set(runs)
    assert evaluated["stress"]["finetuned_constrained"]["windows"] == 1   # the stress set, scored apart
    assert stages_ran(run(["dvc", "repro"], scratch_repo)) == set()
    # a second training of the same params (no checkpoint to resume) gives the same adapter hash
    adapter_hash = lock_out(scratch_repo, "train_qlora", "models/adapter")
    shutil.rmtree(scratch_repo / "models" / "checkpoints")
    assert stages_ran(run(["dvc", "repro", "-f", "-s", "train_qlora"], scratch_repo)) == {"train_qlora"}
    assert lock_out(scratch_repo, "train_qlora", "models/adapter") == adapter_hash
    assert stages_ran(run(["dvc", "repro"], scratch_repo)) == set()    # evaluate and export stay up to date
    run(["git", "add", "-A"], scratch_repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "model run"], scratch_repo)

    set_params(scratch_repo, evaluate={"ts_tolerance_s": 45})
    changed = run(["dvc", "repro"], scratch_repo)
    # train_qlora scores its stop-bias calibration with the tolerance: it refits the bias and
    # retrains nothing (a rerun of a finished run reuses its adapter); export reads metrics/eval.json
    # for its model card
    assert stages_ran(changed) == {"train_qlora", "evaluate", "export"} and "nothing is retrained" in changed
    assert lock_out(scratch_repo, "train_qlora", "models/adapter") == adapter_hash
    run(["git", "add", "-A"], scratch_repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "wider tolerance"], scratch_repo)
    diff = run(["dvc", "metrics", "diff", "HEAD~1", "HEAD"], scratch_repo)
    assert "ts_tolerance_s" in diff and "45" in diff
    plots = run(["dvc", "plots", "show", "--json"], scratch_repo)
    assert "plots/eval/event_f1.json" in plots and "Training and val loss" in plots   # titled in dvc.yaml


@pytest.mark.slow
def test_exp_run_switches_the_raw_data_by_a_param_alone(scratch_repo):
    """`dvc exp run -S ingest.raw_dir=...` reads other games with no edit to dvc.yaml (the `full`
    configuration is driven this way)."""
    run(["git", "add", "-A"], scratch_repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline", "--allow-empty"],
        scratch_repo)
    simulate(scratch_repo / "data" / "raw" / "other", 2, 23)
    out = run(["dvc", "exp", "run", "build_sft", "-n", "other-games", "-S", "ingest.raw_dir=data/raw/other"],
              scratch_repo)
    assert stages_ran(out) == {"ingest", "build_sft"}
    ingested = json.loads((scratch_repo / "metrics" / "ingest.json").read_text())
    assert ingested["games"] == 2 + 1   # and the stress game, from the unchanged stress_dir
    lock = yaml.safe_load((scratch_repo / "dvc.lock").read_text())
    assert lock["stages"]["ingest"]["cmd"].split()[2] == "data/raw/other"
    assert "data/raw/other" in {d["path"] for d in lock["stages"]["ingest"]["deps"]}
    shown = run(["dvc", "exp", "show", "--csv"], scratch_repo)
    assert any(line.startswith("other-games,") and "data/raw/other" in line for line in shown.splitlines())

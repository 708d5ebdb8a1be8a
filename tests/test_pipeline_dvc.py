"""The pipeline through real DVC: each stage runs once, a no-op repro runs nothing, a param change
reruns only what reads it, a forced retrain gives the same adapter, `dvc exp run` switches the raw
data by a param alone. And dvc.yaml declares, for every stage, each project module its script can run.

The runs are conftest.py's shared `pipeline_run` (3 freshly simulated games, 1 stress game, the
model stages on a tiny model; `_pipeline.five_stage_run`), each check that changes the repository
on its own copy. No network.

Run: pytest tests/test_pipeline_dvc.py
"""

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml
from _pipeline import REPO, commit, lock_out, run, set_params, stages_ran

from fan_timeline.simulate.cli import simulate


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
    """A module a stage imports but dvc.yaml does not list would change outputs without a rerun; one
    it lists but never imports reruns it for nothing."""
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
        unused = [d for d in deps if d.startswith("src/") and d.endswith(".py") or "." not in d.rsplit("/", 1)[-1]]
        unused = [d for d in unused if d.startswith("src/") and d not in modules
                  and not any(m.startswith(d + "/") for m in modules)]
        assert not unused, f"dvc.yaml stage {name} lists {unused} in deps but never runs them (a rerun for nothing)"


@pytest.mark.slow
def test_repro_then_noop_then_param_change_reruns_only_its_stage(pipeline_run, tmp_path):
    assert stages_ran(pipeline_run.data_stages) == {"ingest", "build_sft"}
    assert stages_ran(pipeline_run.data_again) == set()
    assert (pipeline_run.repo / "data" / "sft" / "train.jsonl").stat().st_size > 0
    assert (pipeline_run.repo / "dvc.lock").is_file()

    repo = pipeline_run.copy(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["build_sft"]["max_shown"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = run(["dvc", "repro", "build_sft"], repo)
    assert stages_ran(changed) == {"build_sft"}
    shown = run(["dvc", "params", "diff"], repo)
    assert "build_sft.max_shown" in shown and "2" in shown and "1" in shown
    assert "pairs" in run(["dvc", "metrics", "show"], repo)


@pytest.mark.slow
def test_all_five_stages_then_an_evaluate_param_reruns_what_reads_it(pipeline_run, tmp_path):
    """The model stages with tiny settings (2 training steps, 1 test window, 1 parity prompt)."""
    first = pipeline_run.model_stages
    assert stages_ran(first) == {"train_qlora", "evaluate", "export"}   # data stages are up to date
    for path in ("models/adapter/adapter_model.safetensors", "models/export/model.safetensors",
                 "metrics/train.json", "metrics/eval.json", "metrics/export.json", "data/eval/predictions.jsonl"):
        assert (pipeline_run.repo / path).is_file(), path
    assert json.loads((pipeline_run.repo / "metrics/export.json").read_text())["parity_ok"] is True
    evaluated = json.loads((pipeline_run.repo / "metrics/eval.json").read_text())
    runs = evaluated["runs"]
    assert (runs["finetuned_constrained"]["schema_compliance"] == 1.0
            and runs["base_constrained"]["schema_compliance"] == 1.0)
    like_for_like = evaluated["on_base_subset"]["finetuned_constrained"]   # 1 window: the same as the full run
    assert like_for_like == {k: runs["finetuned_constrained"][k] for k in like_for_like}
    assert {"rule", "grid", "base_constrained", "base_free", "finetuned_free"} <= set(runs)
    assert evaluated["stress"]["finetuned_constrained"]["windows"] == 1   # the stress set, scored apart

    repo = pipeline_run.copy(tmp_path / "repo")
    assert stages_ran(run(["dvc", "repro"], repo)) == set()
    # a second training of the same params (no checkpoint to resume) gives the same adapter hash
    adapter_hash = lock_out(repo, "train_qlora", "models/adapter")
    shutil.rmtree(repo / "models" / "checkpoints")
    assert stages_ran(run(["dvc", "repro", "-f", "-s", "train_qlora"], repo)) == {"train_qlora"}
    assert lock_out(repo, "train_qlora", "models/adapter") == adapter_hash
    assert stages_ran(run(["dvc", "repro"], repo)) == set()    # evaluate and export stay up to date
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "model run", "--allow-empty"], repo)

    set_params(repo, evaluate={"ts_tolerance_s": 45})
    changed = run(["dvc", "repro"], repo)
    # train_qlora scores its stop-bias calibration with the tolerance: it refits the bias and
    # retrains nothing (a rerun of a finished run reuses its adapter); export reads metrics/eval.json
    # for its model card
    assert stages_ran(changed) == {"train_qlora", "evaluate", "export"} and "nothing is retrained" in changed
    assert lock_out(repo, "train_qlora", "models/adapter") == adapter_hash
    commit(repo, "wider tolerance")
    diff = run(["dvc", "metrics", "diff", "HEAD~1", "HEAD"], repo)
    assert "ts_tolerance_s" in diff and "45" in diff
    plots = run(["dvc", "plots", "show", "--json"], repo)
    assert "plots/eval/event_f1.json" in plots and "Training and val loss" in plots   # titled in dvc.yaml


@pytest.mark.slow
def test_exp_run_switches_the_raw_data_by_a_param_alone(pipeline_run, tmp_path):
    """`dvc exp run -S ingest.raw_dir=...` reads other games with no edit to dvc.yaml (the `full`
    configuration is driven this way)."""
    repo = pipeline_run.copy(tmp_path / "repo")
    simulate(repo / "data" / "raw" / "other", 2, 23)
    out = run(["dvc", "exp", "run", "build_sft", "-n", "other-games", "-S", "ingest.raw_dir=data/raw/other"], repo)
    assert stages_ran(out) == {"ingest", "build_sft"}
    ingested = json.loads((repo / "metrics" / "ingest.json").read_text())
    assert ingested["games"] == 2 + 1   # and the stress game, from the unchanged stress_dir
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["ingest"]["cmd"].split()[2] == "data/raw/other"
    assert "data/raw/other" in {d["path"] for d in lock["stages"]["ingest"]["deps"]}
    shown = run(["dvc", "exp", "show", "--csv"], repo)
    assert any(line.startswith("other-games,") and "data/raw/other" in line for line in shown.splitlines())

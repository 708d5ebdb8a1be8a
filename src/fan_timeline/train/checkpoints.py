"""Checkpoints a rerun resumes from, and the adapter the stage writes: each written to a temp dir,
then renamed into place, so a killed run never leaves a partial one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from fan_timeline import atomic
from fan_timeline.config import TrainConfig, as_dict
from fan_timeline.plots import Curves
from fan_timeline.train.data import Example
from fan_timeline.train.parallel import DataParallel

# Knobs that do not change the trained weights: a checkpoint made with other values still resumes.
# The runtime keys, the val-loss schedule and the calibration after training.
OPERATIONAL_FIELDS = (*TrainConfig.RUNTIME, "eval_every", "calibration_windows")


def trainable_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone().cpu() for name, p in model.named_parameters() if p.requires_grad}


def run_fingerprint(cfg: TrainConfig, base_path: str, examples: list[Example]) -> str:
    """What a checkpoint must match to be resumed: config (minus operational knobs), base, data."""
    h = hashlib.sha256()
    semantic = {k: v for k, v in as_dict(cfg).items() if k not in OPERATIONAL_FIELDS}
    h.update(json.dumps({"config": semantic, "base": base_path}, sort_keys=True).encode())
    for ex in examples:
        h.update(ex.id.encode() + b"\0" + str(ex.prompt_len).encode() + b"\0")
        h.update(b",".join(str(t).encode() for t in ex.input_ids) + b"\n")
    return h.hexdigest()


CURVES = "curves"   # the training curves' folder in a checkpoint


def save_checkpoint(checkpoint_dir: Path, model: Any, optimizer: Any, state: dict[str, Any],
                    curves: Curves | None = None, rank_rng: list[dict[str, Any]] | None = None) -> Path:
    """Adapter weights, optimizer, RNG, loop state and the training curves so far, in `CURVES`
    (DVC deletes a stage's outputs before rerunning it, so the curves must travel with the checkpoint).

    rank_rng: with data parallelism, the RNG states of every process (each has its own dropout stream).
    """
    import torch
    from safetensors.torch import save_file

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    target = checkpoint_dir / f"step-{state['step']:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=checkpoint_dir))
    try:
        save_file(trainable_state(model), str(tmp / "adapter.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        if rank_rng is not None:
            rng["ranks"] = rank_rng
        torch.save(rng, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        if curves is not None:
            curves.save(tmp / CURVES)
        atomic.replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for other in checkpoint_dir.glob("step-*"):  # keep only the newest
        if other != target:
            shutil.rmtree(other, ignore_errors=True)
    return target


def find_checkpoint(checkpoint_dir: Path, fingerprint: str) -> Path | None:
    """The newest complete checkpoint of this run; checkpoints of other runs are removed."""
    if not checkpoint_dir.is_dir():
        return None
    for stale in checkpoint_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    found = None
    for path in sorted(checkpoint_dir.glob("step-*"), reverse=True):
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            state = None
        if found is None and state and state.get("fingerprint") == fingerprint:
            found = path
            continue
        why = "is incomplete" if state is None else "was made with a different config, base model or data"
        if found is None:
            warnings.warn(f"checkpoint {path} {why}; ignoring and removing it", stacklevel=2)
        shutil.rmtree(path, ignore_errors=True)
    return found


def load_checkpoint(path: Path, model: Any, optimizer: Any, dist: DataParallel | None = None,
                    device: Any = None) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / "adapter.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    rng = torch.load(path / "rng.pt", weights_only=True)
    if dist is not None and dist.world > 1:  # nproc is in the fingerprint: the saved world is this one
        mine = rng["ranks"][dist.rank]
        torch.set_rng_state(mine["torch"])
        if "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], device)
        return json.loads((path / "state.json").read_text(encoding="utf-8"))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


def save_adapter(model: Any, tokenizer: Any, cfg: TrainConfig, out_dir: str | os.PathLike, *,
                 base_model_path: str, extra: dict[str, Any] | None = None) -> Path:
    """Write the PEFT adapter (safetensors), the tokenizer and train_config.json, atomically.

    train_config.json holds the params as configured plus the resolved base model, so evaluate and
    export can rebuild the same base (`base_model` may be `embedded:...`, resolved per machine).
    """
    import peft
    import torch
    import transformers

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        _canonical_json(tmp / "adapter_config.json")
        tokenizer.save_pretrained(tmp)
        info = {**as_dict(cfg), "resolved_base_model": base_model_path,
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "peft": peft.__version__}, **(extra or {})}
        (tmp / "train_config.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        atomic.replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _canonical_json(path: Path) -> None:
    """Rewrite a config JSON with sorted keys and sorted lists: PEFT writes `target_modules` from a
    set, in another order on every run, which gave bit-identical weights a new DVC hash (and reran
    evaluate and export)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc = {k: sorted(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v for k, v in doc.items()}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
